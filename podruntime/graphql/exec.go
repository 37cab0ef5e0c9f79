package graphql

import (
	"context"
	"errors"
	"log/slog"
	"slices"
	"strconv"
	"strings"
	"time"

	gql "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/byoda-go/byoda/internal/contract"
)

// Observation describes one root field of a request after it ran, for
// metrics and logs.
type Observation struct {
	// Class is the contract class of the field; empty for __typename and
	// introspection.
	Class string
	// Field is the root field, such as "addresses_connection".
	Field string
	// Operation is "query", "mutation" or "subscription".
	Operation string
	// Outcome is OutcomeOK, or the extensions.code of the first error the
	// field reported (possibly about one field of one record).
	Outcome string
	// Duration is how long the field took; for a subscription, how long
	// it took to start.
	Duration time.Duration
}

// OutcomeOK is the Outcome of a root field without errors.
const OutcomeOK = "ok"

// Limits of connection queries.
const (
	// MaxFirst is the largest page a connection query may ask for.
	MaxFirst = 500
	// DefaultFirst is the page size of a connection query that does not
	// say.
	DefaultFirst = 20
)

// executableSchema is gqlgen's graphql.ExecutableSchema over a contract,
// written once for every contract: it walks the operation's selections and
// answers them from Data, checking the contract's access rules on every
// class and field.
type executableSchema struct {
	c         *contract.Contract
	schema    *ast.Schema
	roots     map[string]*root
	data      Data
	network   Network
	origin    string
	log       *slog.Logger
	onObserve func(context.Context, Observation)
	onLimit   func(context.Context, Limit)
	maxOut    int // Options.MaxResponseBytes
	collected collectCache
	// introTypes and introDirectives are the schema's types and
	// directives in the order introspection lists them, for costing.
	introTypes      []*ast.Definition
	introDirectives []*ast.DirectiveDefinition
}

var _ gql.ExecutableSchema = (*executableSchema)(nil)

// NewExecutableSchema returns the gqlgen executable schema of a contract
// over data, for a server that assembles its own gqlgen handler; most use
// NewHandler. Only MemberID, Logger, Observe, OnLimit and MaxResponseBytes
// of opts matter here.
func NewExecutableSchema(c *contract.Contract, data Data, opts Options) (gql.ExecutableSchema, error) {
	return newExecutableSchema(c, data, opts.withDefaults())
}

func newExecutableSchema(c *contract.Contract, data Data, opts Options) (*executableSchema, error) {
	if data == nil {
		return nil, errors.New("executable schema: no data")
	}
	m, err := buildModel(c)
	if err != nil {
		return nil, err
	}
	s, err := m.load(c)
	if err != nil {
		return nil, err
	}
	es := &executableSchema{c: c, schema: s, roots: m.roots, data: data, network: opts.Network, origin: opts.MemberID, log: opts.Logger,
		onObserve: opts.Observe, onLimit: opts.OnLimit, maxOut: opts.MaxResponseBytes}
	for _, t := range s.Types {
		es.introTypes = append(es.introTypes, t)
	}
	slices.SortFunc(es.introTypes, func(a, b *ast.Definition) int { return strings.Compare(a.Name, b.Name) })
	for _, d := range s.Directives {
		es.introDirectives = append(es.introDirectives, d)
	}
	slices.SortFunc(es.introDirectives, func(a, b *ast.DirectiveDefinition) int { return strings.Compare(a.Name, b.Name) })
	return es, nil
}

// observe reports a root field to Options.Observe.
func (es *executableSchema) observe(ctx context.Context, op *gql.OperationContext, field string, start time.Time, code *string) {
	if es.onObserve == nil {
		return
	}
	o := Observation{Field: field, Operation: string(op.Operation.Operation), Outcome: *code, Duration: time.Since(start)}
	if r := es.roots[field]; r != nil {
		o.Class = r.class.Name
	}
	if o.Outcome == "" {
		o.Outcome = OutcomeOK
	}
	es.onObserve(ctx, o)
}

// Schema returns the schema built from the contract.
func (es *executableSchema) Schema() *ast.Schema { return es.schema }

// Complexity prices a connection at its page size times what each item
// costs; every other field costs gqlgen's default, one plus its children.
// The handler does not call it (see costWalk); it is there for gqlgen's
// own complexity extensions.
func (es *executableSchema) Complexity(_ context.Context, typeName, field string, child int, args map[string]any) (int, bool) {
	if typeName != typeQuery {
		return 0, false
	}
	if r := es.roots[field]; r == nil || r.kind != rootConnection {
		return 0, false
	}
	return connectionCost(args[argFirst], child), true
}

// Exec runs the operation in ctx. Queries and mutations make one response;
// a subscription makes one per event until its context ends.
func (es *executableSchema) Exec(ctx context.Context) gql.ResponseHandler {
	op := gql.GetOperationContext(ctx)
	if op.Operation.Operation == ast.Subscription {
		return es.subscribe(ctx, op)
	}
	done := false
	return func(ctx context.Context) *gql.Response {
		if done {
			return nil
		}
		done = true
		x := es.newExecution(ctx, op)
		typeName := typeQuery
		if op.Operation.Operation == ast.Mutation {
			typeName = typeMutation
		}
		x.run(func() { x.rootObject(typeName, x.collect(op.Operation.SelectionSet, typeName)) })
		return x.response()
	}
}

// execution is the state of one response: where in the result it is, and
// the JSON written so far.
type execution struct {
	es     *executableSchema
	ctx    context.Context
	op     *gql.OperationContext
	caller contract.Caller
	out    []byte
	// path is where the execution is, kept without ast.Path's interface
	// values (one allocation per element) and converted only for an error.
	path []pathElem
	// firstCode is the code of the first error since the root field
	// started, for Options.Observe.
	firstCode string
	// errs are the errors of the response so far, and errBytes about how
	// many bytes of JSON they make.
	errs     []*gqlerror.Error
	errBytes int
	// ext are the response's extensions so far.
	ext map[string]any
}

func (es *executableSchema) newExecution(ctx context.Context, op *gql.OperationContext) *execution {
	return &execution{es: es, ctx: ctx, op: op, caller: CallerFrom(ctx), out: getBuffer(), path: make([]pathElem, 0, 8)}
}

// responseTooLarge is what an execution panics with when its answer grows
// past Options.MaxResponseBytes; run recovers it.
type responseTooLarge struct{}

// grown stops the execution when what it has written passes
// Options.MaxResponseBytes. The executor calls it as the answer grows: after
// each field of a record and each item of a list, so the answer never passes
// the limit by more than one value.
func (x *execution) grown() {
	if len(x.out)+x.errBytes > x.es.maxOut {
		panic(responseTooLarge{})
	}
}

// run calls write, which writes the answer to x.out. When the answer grows
// past the limit, what was written and the errors so far are replaced by
// null and one RESPONSE_TOO_LARGE error.
func (x *execution) run(write func()) {
	defer func() {
		r := recover()
		if r == nil {
			return
		}
		if _, ok := r.(responseTooLarge); !ok {
			panic(r)
		}
		x.es.onLimit(x.ctx, LimitResponseSize)
		x.out = append(x.out[:0], "null"...)
		x.errs, x.errBytes = nil, 0
		x.addError(newError(nil, CodeResponseTooLarge, "the response is larger than the limit of %d bytes: ask for less in one request (fewer fields or aliases, a smaller first) and page through the rest with after", x.es.maxOut))
	}()
	write()
}

// response is the answer written, with its errors and extensions.
func (x *execution) response() *gql.Response {
	x.flushErrors()
	for k, v := range x.ext {
		gql.RegisterExtension(x.ctx, k, v)
	}
	return &gql.Response{Data: x.out}
}

// extend adds to the response's extensions: lists under one key (from
// several fields of the query) are joined.
func (x *execution) extend(ext map[string]any) {
	for k, v := range ext {
		if x.ext == nil {
			x.ext = map[string]any{}
		}
		if old, ok := x.ext[k].([]any); ok {
			if more, ok := v.([]any); ok {
				x.ext[k] = append(old, more...)
				continue
			}
		}
		x.ext[k] = v
	}
}

// flushErrors hands the errors so far to gqlgen, which sends them with the
// response.
func (x *execution) flushErrors() {
	for _, err := range x.errs {
		gql.AddError(x.ctx, err)
	}
	x.errs, x.errBytes = nil, 0
}

// pathElem is a field name, or a list index when name is empty.
type pathElem struct {
	name  string
	index int
}

// pathCopy returns where the execution is as the path of an error.
func (x *execution) pathCopy() ast.Path {
	p := make(ast.Path, len(x.path))
	for i, e := range x.path {
		if e.name != "" {
			p[i] = ast.PathName(e.name)
		} else {
			p[i] = ast.PathIndex(e.index)
		}
	}
	return p
}

func (x *execution) push(key string) { x.path = append(x.path, pathElem{name: key}) }
func (x *execution) pushIndex(i int) { x.path = append(x.path, pathElem{index: i}) }
func (x *execution) pop()            { x.path = x.path[:len(x.path)-1] }

// addError reports an error in the response.
func (x *execution) addError(errs ...*gqlerror.Error) {
	for _, err := range errs {
		if x.firstCode == "" {
			x.firstCode, _ = err.Extensions["code"].(string)
		}
		x.errs = append(x.errs, err)
		// The message, the path and the code, with JSON's punctuation.
		x.errBytes += len(err.Message) + 16*len(err.Path) + 64
	}
}

func (x *execution) null() { x.out = append(x.out, "null"...) }

func (x *execution) key(i int, k string) {
	if i > 0 {
		x.out = append(x.out, ',')
	}
	x.out = append(x.out, '"')
	x.out = append(x.out, k...)
	x.out = append(x.out, '"', ':')
}

func (x *execution) allowed(action contract.Action, cls *contract.Class, field string) bool {
	return contract.Authorize(x.es.c, x.caller, action, cls.Name, field).Allowed
}

// rootObject writes the root fields of a query or mutation, one after the
// other: the mutations of one request run in order.
func (x *execution) rootObject(typeName string, fields []collected) {
	x.out = append(x.out, '{')
	for i := range fields {
		f := &fields[i]
		x.key(i, f.key)
		x.push(f.key)
		x.rootField(typeName, f)
		x.pop()
		x.grown()
	}
	x.out = append(x.out, '}')
}

// rootField writes one root field. An error, or a panic, makes the whole
// field null.
func (x *execution) rootField(typeName string, f *collected) {
	mark := len(x.out)
	depth := len(x.path)
	x.firstCode = ""
	start := time.Now()
	defer x.es.observe(x.ctx, x.op, f.name, start, &x.firstCode)
	defer func() {
		if r := recover(); r != nil {
			if _, ok := r.(responseTooLarge); ok {
				x.firstCode = CodeResponseTooLarge
				panic(r) // for run: the whole response ends
			}
			x.path = x.path[:depth]
			x.out = append(x.out[:mark], "null"...)
			err := gql.Recover(x.ctx, r)
			ge, ok := err.(*gqlerror.Error)
			if !ok {
				ge = internalError(x.ctx, nil, "")
			}
			ge.Path = x.pathCopy()
			x.addError(ge)
		}
	}()
	if errs := x.resolveRoot(typeName, f); len(errs) > 0 {
		x.out = append(x.out[:mark], "null"...)
		x.addError(errs...)
	}
}

func (x *execution) resolveRoot(typeName string, f *collected) []*gqlerror.Error {
	switch f.name {
	case "__typename":
		x.out = appendString(x.out, typeName)
		return nil
	case "__schema", "__type":
		return x.introspect(f)
	}
	r := x.es.roots[f.name]
	if r == nil {
		return []*gqlerror.Error{x.errorf(CodeBadUserInput, "unknown field %q", f.name)}
	}
	args, err := x.args(f.field)
	if err != nil {
		return []*gqlerror.Error{err}
	}
	switch r.kind {
	case rootObject:
		return x.queryObject(r, f)
	case rootConnection:
		return x.queryConnection(r, f, args)
	case rootMutate:
		return x.mutate(r, args)
	case rootAppend:
		return x.appendItem(r, args)
	case rootUpdate:
		return x.update(r, args)
	case rootDelete:
		return x.delete(r, args)
	}
	return []*gqlerror.Error{x.errorf(CodeBadUserInput, "%s is a subscription; subscribe over a websocket", f.name)}
}

func (x *execution) queryObject(r *root, f *collected) []*gqlerror.Error {
	cls := r.class
	if !x.allowed(contract.ActionRead, cls, "") {
		return []*gqlerror.Error{x.forbidden(contract.ActionRead, cls, "")}
	}
	rec, err := x.es.data.Get(x.ctx, cls.Name)
	if err != nil {
		return []*gqlerror.Error{x.dataError("read "+cls.Name, err)}
	}
	if rec == nil {
		x.null()
		return nil
	}
	x.record(cls, cls, mapObject(rec), x.plan(cls, cls, x.collect(f.sel, cls.Name), true))
	return nil
}

func (x *execution) queryConnection(r *root, f *collected, args map[string]any) []*gqlerror.Error {
	cls := r.class
	first, err := x.first(args)
	if err != nil {
		return []*gqlerror.Error{err}
	}
	after, _ := args[argAfter].(string)
	pageType := cls.Name + "_page"
	fields := x.collect(f.sel, pageType)
	q := Query{First: first, After: after, Fields: x.nodeFields(r, fields), SkipCount: !selects(fields, "total_count")}

	rq, gerr := x.remoteQuery(r, args, q)
	if gerr != nil {
		return []*gqlerror.Error{gerr}
	}
	if rq != nil {
		// Who the caller is depends on the query: admit it first.
		caller, err := x.es.network.Admit(x.ctx, rq)
		if err != nil {
			return []*gqlerror.Error{x.networkError(err)}
		}
		x.caller = caller
	}
	if !x.allowed(contract.ActionRead, cls, "") {
		return []*gqlerror.Error{x.forbidden(contract.ActionRead, cls, "")}
	}
	filter, errs := x.filter(r, args[argFilter])
	if len(errs) > 0 {
		return errs
	}
	q.Filter = filter

	var (
		page Page
		derr error
	)
	if rq != nil {
		rq.Caller, rq.Query = x.caller, q
		page, derr = x.es.network.Query(x.ctx, rq)
		if derr != nil {
			return []*gqlerror.Error{x.networkError(derr)}
		}
	} else {
		page, derr = x.es.data.Query(x.ctx, cls.Name, q)
		if derr != nil {
			return []*gqlerror.Error{x.dataError("query "+cls.Name, derr)}
		}
	}
	if page.Release != nil {
		defer page.Release()
	}
	if len(page.Edges) > first {
		page.Edges = page.Edges[:first]
	}
	x.extend(page.Extensions)
	x.page(r, &page, fields, q.Fields)
	return nil
}

// remoteQuery returns the query for the Network when the connection's
// arguments (depth > 0, remote_member_id) or the request's extensions
// involve other pods, and nil when they do not.
func (x *execution) remoteQuery(r *root, args map[string]any, q Query) (*RemoteQuery, *gqlerror.Error) {
	depth, _ := args[argDepth].(int64)
	remote, _ := args[argRemoteMemberID].(string)
	if depth < 0 {
		return nil, x.errorf(CodeBadUserInput, "argument depth is %d; want 0 or more", depth)
	}
	forwarded := x.es.network != nil && len(x.op.Extensions) > 0 && x.es.network.Forwarded(x.op.Extensions)
	if depth == 0 && remote == "" && !forwarded {
		return nil, nil
	}
	if x.es.network == nil {
		return nil, x.errorf(CodeNotImplemented, "this pod does not query other pods: leave depth at 0 and remote_member_id out")
	}
	rq := &RemoteQuery{
		Caller:         x.caller,
		Class:          r.class,
		Query:          q,
		RawFilter:      args[argFilter],
		Depth:          int(depth),
		RemoteMemberID: remote,
		Extensions:     x.op.Extensions,
		Local: func(ctx context.Context, q Query) (Page, error) {
			return x.es.data.Query(ctx, r.class.Name, q)
		},
	}
	rq.QueryID, _ = args[argQueryID].(string)
	if rels, ok := args[argRelations].([]any); ok {
		for _, rel := range rels {
			if s, ok := rel.(string); ok {
				rq.Relations = append(rq.Relations, s)
			}
		}
	}
	return rq, nil
}

// networkError is the client's view of an error from the Network: its own
// GraphQL errors as they are, its refusals as BAD_USER_INPUT with their
// message, anything else as a data error.
func (x *execution) networkError(err error) *gqlerror.Error {
	var ge *gqlerror.Error
	if errors.As(err, &ge) {
		if ge.Path == nil {
			ge.Path = x.pathCopy()
		}
		return ge
	}
	return x.dataError("query other pods", err)
}

// first returns the page size a connection asks for.
func (x *execution) first(args map[string]any) (int, *gqlerror.Error) {
	n, ok := args[argFirst].(int64)
	if !ok {
		n = DefaultFirst // first: null
	}
	if n < 0 || n > MaxFirst {
		return 0, x.errorf(CodeBadUserInput, "argument first is %d; want 0 to %d", n, MaxFirst)
	}
	return int(n), nil
}

// nodeFields returns the record fields that the page's edges select, for
// Query.Fields.
func (x *execution) nodeFields(r *root, page []collected) []string {
	if r.class.RecordClass() == nil {
		return nil
	}
	var names []string
	for i := range page {
		if page[i].name != "edges" {
			continue
		}
		for _, e := range x.collect(page[i].sel, r.class.Name+"_edge") {
			if e.name != "node" {
				continue
			}
			for _, n := range x.collect(e.sel, r.node) {
				if n.name != "__typename" && !slices.Contains(names, n.name) {
					names = append(names, n.name)
				}
			}
		}
	}
	if names == nil {
		names = []string{}
	}
	return names
}

// page writes a C_page.
// page writes a C_page. queried are the record fields the query asked
// storage for (Query.Fields).
func (x *execution) page(r *root, p *Page, fields []collected, queried []string) {
	x.out = append(x.out, '{')
	for i := range fields {
		f := &fields[i]
		x.key(i, f.key)
		x.push(f.key)
		switch f.name {
		case "__typename":
			x.out = appendString(x.out, r.class.Name+"_page")
		case "edges":
			x.edges(r, p.Edges, x.collect(f.sel, r.class.Name+"_edge"), queried)
		case "page_info":
			x.pageInfo(&p.PageInfo, x.collect(f.sel, typePageInfo))
		case "total_count":
			x.out = appendInt(x.out, int64(p.TotalCount))
		default:
			x.null()
		}
		x.pop()
	}
	x.out = append(x.out, '}')
}

func (x *execution) edges(r *root, edges []Edge, fields []collected, queried []string) {
	// The node selections are the same for every edge: plan them once.
	nodePlans := make([][]recordField, len(fields))
	for i := range fields {
		if fields[i].name == "node" {
			nodePlans[i] = x.nodePlan(r, fields[i].sel, queried)
		}
	}
	x.out = append(x.out, '[')
	for ei := range edges {
		if ei > 0 {
			x.out = append(x.out, ',')
		}
		x.pushIndex(ei)
		e := &edges[ei]
		x.out = append(x.out, '{')
		for i := range fields {
			f := &fields[i]
			x.key(i, f.key)
			x.push(f.key)
			switch f.name {
			case "__typename":
				x.out = appendString(x.out, r.class.Name+"_edge")
			case "cursor":
				x.out = appendString(x.out, e.Cursor)
			case "origin":
				if e.Origin != "" {
					x.out = appendString(x.out, e.Origin)
				} else {
					x.origin()
				}
			case "node":
				x.node(r, e.Node, nodePlans[i])
			default:
				x.null()
			}
			x.pop()
		}
		x.out = append(x.out, '}')
		x.pop()
		x.grown()
	}
	x.out = append(x.out, ']')
}

func (x *execution) origin() {
	if x.es.origin == "" {
		x.null()
		return
	}
	x.out = appendString(x.out, x.es.origin)
}

// node writes an item of an array class: a record, checking read access to
// each field (plan is the class's plan for the node's selection), or a
// scalar.
func (x *execution) node(r *root, node any, plan []recordField) {
	item := r.class.RecordClass()
	if item == nil {
		x.out = appendScalar(x.out, r.node, node)
		return
	}
	switch rec := node.(type) {
	case Object:
		x.record(r.class, item, rec, plan)
	case map[string]any:
		x.record(r.class, item, mapObject(rec), plan)
	default:
		x.null()
	}
}

// nodePlan is the plan of node for a selection of the node of r, whose
// records storage returned for Query.Fields queried.
func (x *execution) nodePlan(r *root, sel ast.SelectionSet, queried []string) []recordField {
	item := r.class.RecordClass()
	if item == nil {
		return nil
	}
	p := x.plan(r.class, item, x.collect(sel, r.node), true)
	for i := range p {
		p[i].at = slices.Index(queried, p[i].name)
	}
	return p
}

func (x *execution) pageInfo(pi *PageInfo, fields []collected) {
	x.out = append(x.out, '{')
	for i := range fields {
		f := &fields[i]
		x.key(i, f.key)
		switch f.name {
		case "__typename":
			x.out = appendString(x.out, typePageInfo)
		case "end_cursor":
			if pi.EndCursor == "" {
				x.null()
			} else {
				x.out = appendString(x.out, pi.EndCursor)
			}
		case "has_next_page":
			x.out = strconv.AppendBool(x.out, pi.HasNextPage)
		default:
			x.null()
		}
	}
	x.out = append(x.out, '}')
}

// recordField is a field a query selects of a record, with what writing it
// needs, worked out once for all the records of a page.
type recordField struct {
	*collected
	fd     *contract.Field // nil when the class has no such field
	denied bool            // the caller may not read it
	at     int             // the field's place in Query.Fields, for an IndexedObject; -1 if none
	prefix []byte          // what comes before the value: a comma after the first field, and the key
	scalar string          // the GraphQL scalar of a field that is not an array
}

// plan works out the fields of records of rc that fields selects. With
// access set, the records are of the top-level class cls and each field is
// checked against the contract; the records inside a record's arrays have
// no rules of their own: the field that holds them was checked.
func (x *execution) plan(cls, rc *contract.Class, fields []collected, access bool) []recordField {
	p := make([]recordField, len(fields))
	size := 0
	for i := range fields {
		size += len(fields[i].key) + len(`,"":`)
	}
	prefixes := make([]byte, 0, size) // one allocation for all, never grown
	for i := range fields {
		f := &fields[i]
		start := len(prefixes)
		if i > 0 {
			prefixes = append(prefixes, ',')
		}
		prefixes = append(prefixes, '"')
		prefixes = append(prefixes, f.key...)
		prefixes = append(prefixes, '"', ':')
		p[i] = recordField{collected: f, fd: rc.Field(f.name), at: -1, prefix: prefixes[start:len(prefixes):len(prefixes)]}
		if fd := p[i].fd; fd != nil && fd.Type != contract.TypeArray {
			p[i].scalar = scalarType(fd.Type, fd.Format)
		}
		if access && p[i].fd != nil {
			p[i].denied = !x.allowed(contract.ActionRead, cls, f.name)
		}
	}
	return p
}

// record writes the planned fields of rec, a record of rc, which is cls or
// the class of the items of one of its arrays. A field the caller may not
// read is null, with a FORBIDDEN error at its path.
func (x *execution) record(cls, rc *contract.Class, rec Object, plan []recordField) {
	var vals []Value
	if indexed, ok := rec.(IndexedObject); ok {
		vals = indexed.Values()
	}
	x.out = append(x.out, '{')
	for i := range plan {
		f := &plan[i]
		x.out = append(x.out, f.prefix...)
		switch {
		case f.name == "__typename":
			x.out = appendString(x.out, rc.Name)
		case f.fd == nil:
			x.null()
		case f.denied:
			x.null()
			x.push(f.key)
			x.addError(x.forbidden(contract.ActionRead, cls, f.name))
			x.pop()
		default:
			var v *Value
			if f.at >= 0 && f.at < len(vals) {
				v = &vals[f.at]
			} else {
				fv := rec.Field(f.name)
				v = &fv
			}
			switch {
			case v.Kind == ValueNone:
				x.null()
			case v.Kind != ValueOther && f.scalar != "":
				// A scalar: nothing here can fail, so no path.
				x.out = appendValue(x.out, f.scalar, v)
			default:
				x.push(f.key)
				x.anyValue(cls, f.fd, v.Any(), f.collected)
				x.pop()
			}
		}
		x.grown()
	}
	x.out = append(x.out, '}')
}

// anyValue writes a field's value held as a Record holds it.
func (x *execution) anyValue(cls *contract.Class, fd *contract.Field, v any, f *collected) {
	if v == nil {
		x.null()
		return
	}
	if fd.Type != contract.TypeArray {
		x.out = appendScalar(x.out, scalarType(fd.Type, fd.Format), v)
		return
	}
	var sub []recordField
	if fd.Items.Class != nil {
		sub = x.plan(cls, fd.Items.Class, x.collect(f.sel, fd.Items.Class.Name), false)
	}
	item := func(i int, v any) {
		if i > 0 {
			x.out = append(x.out, ',')
		}
		if fd.Items.Class == nil {
			x.out = appendScalar(x.out, scalarType(fd.Items.Type, fd.Items.Format), v)
			x.grown()
			return
		}
		rec, ok := v.(map[string]any)
		if !ok {
			x.null()
			return
		}
		x.pushIndex(i)
		x.record(cls, fd.Items.Class, mapObject(rec), sub)
		x.pop()
		x.grown()
	}
	x.out = append(x.out, '[')
	switch list := v.(type) {
	case []any:
		for i, it := range list {
			item(i, it)
		}
	case []string:
		for i, it := range list {
			item(i, it)
		}
	case []map[string]any:
		for i, it := range list {
			item(i, it)
		}
	default:
		x.out = append(x.out[:len(x.out)-1], "null"...)
		return
	}
	x.out = append(x.out, ']')
}
