package graphql

import (
	"context"
	"encoding/json"
	"math"
	"strings"
	"sync"

	gql "github.com/99designs/gqlgen/graphql"
	"github.com/99designs/gqlgen/graphql/errcode"
	"github.com/vektah/gqlparser/v2/ast"
	"github.com/vektah/gqlparser/v2/gqlerror"
)

// codeComplexity is the extensions.code of an operation over
// Options.MaxComplexity; gqlgen's name for it.
const codeComplexity = "COMPLEXITY_LIMIT_EXCEEDED"

// The cost of an operation is the number of fields it asks for, counting
// each field once per time the query names it (an alias, a fragment spread
// twice: twice), where a connection costs its page size times the cost of
// an item, plus one, and a list of introspection objects costs the sum of
// its items: the introspection of a schema costs about as much as the
// fields of its answer. This is gqlgen's complexity.Calculate with the
// schema's Complexity, except that introspection counts too (gqlgen counts
// __schema as nothing, and __type as if its lists held one item each).
//
// costWalk computes it once for each fragment and object it applies to,
// stops as soon as the count passes the limit, and gives up when the
// request's context ends, so a query whose fragments spread each other
// twice, level after level, costs a walk over its text, not over the
// fields it would expand to.
type costWalk struct {
	ctx   context.Context
	es    *executableSchema
	doc   *ast.QueryDocument
	vars  map[string]any
	limit int
	steps int
	over  bool  // the count passed limit
	err   error // the context ended
	memo  map[costKey]int
}

// costKey is a fragment applied to an object of the introspection schema
// (zero outside introspection, where a fragment costs the same wherever it
// is spread).
type costKey struct {
	frag *ast.FragmentDefinition
	obj  introObj
}

// ctxCheckSteps is how many fields costWalk counts between two looks at
// the request's context.
const ctxCheckSteps = 256

// operationCost returns the cost of op, or, when it passes limit, a value
// above limit at which the count stopped. The error is the context's when
// it ended first.
func operationCost(ctx context.Context, es *executableSchema, doc *ast.QueryDocument, op *ast.OperationDefinition, vars map[string]any, limit int) (int, error) {
	w := &costWalk{ctx: ctx, es: es, doc: doc, vars: vars, limit: limit}
	if err := ctx.Err(); err != nil {
		return 0, err
	}
	cost := w.selections(op.SelectionSet, introObj{})
	if w.err != nil {
		return cost, w.err
	}
	return cost, nil
}

// stopped reports whether the walk is over.
func (w *costWalk) stopped() bool { return w.over || w.err != nil }

// selections returns the cost of a selection set applied to obj (zero
// outside introspection).
func (w *costWalk) selections(sel ast.SelectionSet, obj introObj) int {
	total := 0
	for _, s := range sel {
		if w.stopped() {
			return total
		}
		switch s := s.(type) {
		case *ast.Field:
			total = safeAdd(total, w.field(s, obj))
		case *ast.InlineFragment:
			total = safeAdd(total, w.selections(s.SelectionSet, obj))
		case *ast.FragmentSpread:
			total = safeAdd(total, w.spread(s, obj))
		}
		// Every cost grows with the costs it is made of, so once a part
		// is over the limit, so is the whole.
		if total > w.limit {
			w.over = true
		}
	}
	return total
}

// spread returns the cost of a fragment spread, computed once per
// fragment and object.
func (w *costWalk) spread(s *ast.FragmentSpread, obj introObj) int {
	def := s.Definition
	if def == nil {
		def = w.doc.Fragments.ForName(s.Name)
	}
	if def == nil {
		return 0
	}
	k := costKey{def, obj}
	if c, ok := w.memo[k]; ok {
		return max(c, 0) // -1: a cycle, which validation refuses
	}
	if w.memo == nil {
		w.memo = map[costKey]int{}
	}
	w.memo[k] = -1
	c := w.selections(def.SelectionSet, obj)
	if w.stopped() {
		delete(w.memo, k) // partial
		return c
	}
	w.memo[k] = c
	return c
}

// count counts one field, and looks at the request's context now and
// then.
func (w *costWalk) count() bool {
	w.steps++
	if w.steps%ctxCheckSteps == 0 {
		if err := w.ctx.Err(); err != nil {
			w.err = err
			return false
		}
	}
	return true
}

// field returns the cost of a field applied to obj.
func (w *costWalk) field(f *ast.Field, obj introObj) int {
	if !w.count() {
		return 0
	}
	if obj.kind != introNone {
		return w.introField(f, obj)
	}
	switch f.Name {
	case "__schema":
		return safeAdd(1, w.selections(f.SelectionSet, introObj{kind: introSchema}))
	case "__type":
		name, _ := w.argValue(f, "name").(string)
		def := w.es.schema.Types[name]
		if def == nil {
			return 1 // null
		}
		return safeAdd(1, w.selections(f.SelectionSet, introObj{kind: introType, def: def}))
	}
	child := 0
	if f.Definition != nil {
		if t := w.es.schema.Types[f.Definition.Type.Name()]; t != nil && (t.Kind == ast.Object || t.Kind == ast.Interface || t.Kind == ast.Union) {
			child = w.selections(f.SelectionSet, introObj{})
		}
	}
	if f.ObjectDefinition != nil && f.ObjectDefinition.Name == typeQuery {
		if r := w.es.roots[f.Name]; r != nil && r.kind == rootConnection {
			return connectionCost(w.argValue(f, argFirst), child)
		}
	}
	return safeAdd(1, child)
}

// argValue returns the value of an argument of f, or its default, as
// gqlparser's ArgumentMap has it; nil when it has neither.
func (w *costWalk) argValue(f *ast.Field, name string) any {
	if a := f.Arguments.ForName(name); a != nil {
		if a.Value.Kind == ast.Variable {
			if v, ok := w.vars[a.Value.Raw]; ok {
				return v
			}
		} else if v, err := a.Value.Value(w.vars); err == nil {
			return v
		}
	}
	if f.Definition != nil {
		if d := f.Definition.Arguments.ForName(name); d != nil && d.DefaultValue != nil {
			if v, err := d.DefaultValue.Value(nil); err == nil {
				return v
			}
		}
	}
	return nil
}

// connectionCost prices a connection at its page size times what each item
// costs, plus one.
func connectionCost(firstArg any, child int) int {
	first := int64(DefaultFirst)
	switch n := firstArg.(type) {
	case int64:
		first = n
	case int:
		first = int64(n)
	case float64:
		first = int64(max(min(n, MaxFirst), 0))
	case json.Number:
		if i, err := n.Int64(); err == nil {
			first = i
		}
	}
	// A page above MaxFirst is refused when it runs, with a clearer error
	// than the complexity limit's.
	first = min(max(first, 1), MaxFirst)
	c := 1 + first*int64(min(max(child, 1), math.MaxInt32))
	if c > math.MaxInt32 {
		c = math.MaxInt32
	}
	return int(c)
}

// safeAdd adds two costs without overflowing.
func safeAdd(a, b int) int {
	if c := a + b; c >= a {
		return c
	}
	return math.MaxInt
}

// introKind is the introspection type of an introObj.
type introKind uint8

const (
	introNone introKind = iota
	introSchema
	introType
	introField
	introInputValue
	introEnumValue
	introDirective
)

// introObj is an object of the introspection schema, for costing: the
// schema, a type (a named def, or typ, a type as a field holds it, without
// its outer non-null when stripped), a field, an input value (an argument
// or an input field), an enum value or a directive. It is comparable, to
// memoize the cost of fragments per object.
type introObj struct {
	kind     introKind
	def      *ast.Definition
	typ      *ast.Type
	stripped bool
	field    *ast.FieldDefinition
	arg      *ast.ArgumentDefinition
	dir      *ast.DirectiveDefinition
}

// typeObj is the introspection object of a type as a field or argument
// holds it.
func typeObj(t *ast.Type) introObj {
	if t == nil {
		return introObj{}
	}
	return introObj{kind: introType, typ: t}
}

// introField returns the cost of a field of an introspection object: one,
// plus what its object or list of objects costs.
func (w *costWalk) introField(f *ast.Field, obj introObj) int {
	s := w.es.schema
	sub := func(o introObj) int {
		if o.kind == introNone {
			return 1 // null
		}
		return safeAdd(1, w.selections(f.SelectionSet, o))
	}
	list := func(n int, item func(i int) introObj) int {
		total := 1
		for i := 0; i < n && !w.stopped(); i++ {
			total = safeAdd(total, w.selections(f.SelectionSet, item(i)))
			if total > w.limit {
				w.over = true
			}
		}
		return total
	}
	switch obj.kind {
	case introSchema:
		switch f.Name {
		case "types":
			types := w.es.introTypes
			return list(len(types), func(i int) introObj { return introObj{kind: introType, def: types[i]} })
		case "queryType":
			return sub(namedObj(s.Query))
		case "mutationType":
			return sub(namedObj(s.Mutation))
		case "subscriptionType":
			return sub(namedObj(s.Subscription))
		case "directives":
			dirs := w.es.introDirectives
			return list(len(dirs), func(i int) introObj { return introObj{kind: introDirective, dir: dirs[i]} })
		}
	case introType:
		def, wrapped := w.typeDef(obj)
		kind := ast.DefinitionKind("")
		if def != nil && wrapped.kind == introNone {
			kind = def.Kind
		}
		switch f.Name {
		case "ofType":
			return sub(wrapped)
		case "fields":
			if kind != ast.Object && kind != ast.Interface {
				return 1
			}
			fields := make([]*ast.FieldDefinition, 0, len(def.Fields))
			for _, fd := range def.Fields {
				if !strings.HasPrefix(fd.Name, "__") {
					fields = append(fields, fd)
				}
			}
			return list(len(fields), func(i int) introObj { return introObj{kind: introField, field: fields[i]} })
		case "inputFields":
			if kind != ast.InputObject {
				return 1
			}
			return list(len(def.Fields), func(i int) introObj { return introObj{kind: introInputValue, field: def.Fields[i]} })
		case "enumValues":
			if kind != ast.Enum {
				return 1
			}
			return list(len(def.EnumValues), func(int) introObj { return introObj{kind: introEnumValue} })
		case "interfaces":
			if kind != ast.Object && kind != ast.Interface {
				return 1
			}
			return list(len(def.Interfaces), func(i int) introObj { return namedObj(s.Types[def.Interfaces[i]]) })
		case "possibleTypes":
			if kind != ast.Interface && kind != ast.Union {
				return 1
			}
			possible := s.GetPossibleTypes(def)
			return list(len(possible), func(i int) introObj { return namedObj(possible[i]) })
		}
	case introField:
		switch f.Name {
		case "args":
			args := obj.field.Arguments
			return list(len(args), func(i int) introObj { return introObj{kind: introInputValue, arg: args[i]} })
		case "type":
			return sub(typeObj(obj.field.Type))
		}
	case introInputValue:
		if f.Name == "type" {
			if obj.arg != nil {
				return sub(typeObj(obj.arg.Type))
			}
			return sub(typeObj(obj.field.Type))
		}
	case introDirective:
		if f.Name == "args" {
			args := obj.dir.Arguments
			return list(len(args), func(i int) introObj { return introObj{kind: introInputValue, arg: args[i]} })
		}
	}
	return 1 // a scalar, a list of scalars, or null
}

// namedObj is the introspection object of a named type; none for nil.
func namedObj(def *ast.Definition) introObj {
	if def == nil {
		return introObj{}
	}
	return introObj{kind: introType, def: def}
}

// typeDef returns the definition of a named type object, or, for a
// wrapping type (non-null or list), the object it wraps.
func (w *costWalk) typeDef(obj introObj) (*ast.Definition, introObj) {
	t := obj.typ
	switch {
	case t == nil:
		return obj.def, introObj{}
	case t.NonNull && !obj.stripped:
		return nil, introObj{kind: introType, typ: t, stripped: true}
	case t.Elem != nil:
		return nil, typeObj(t.Elem)
	}
	return w.es.schema.Types[t.NamedType], introObj{}
}

// complexityLimit refuses operations that cost more than limit (see
// costWalk). The cost of an operation without variables depends on the
// query text only, and the handler's query cache hands out the same parsed
// operation for the same text, so it is counted once and remembered.
// Operations with variables are costed every time: their page sizes may
// differ.
type complexityLimit struct {
	limit   int
	es      *executableSchema
	onLimit func(context.Context, Limit)

	mu    sync.Mutex
	costs map[*ast.OperationDefinition]int
}

// maxCachedCosts bounds complexityLimit's memory: the query cache evicts
// operations this map would otherwise keep alive, so it starts over when
// full.
const maxCachedCosts = 4096

var _ interface {
	gql.OperationContextMutator
	gql.HandlerExtension
} = (*complexityLimit)(nil)

func (c *complexityLimit) ExtensionName() string { return "ComplexityLimit" }

func (c *complexityLimit) Validate(gql.ExecutableSchema) error { return nil }

func (c *complexityLimit) MutateOperationContext(ctx context.Context, opCtx *gql.OperationContext) *gqlerror.Error {
	op := opCtx.Doc.Operations.ForName(opCtx.OperationName)
	if op == nil {
		return nil // gqlgen reports the missing operation
	}
	cost, cached := 0, false
	if len(op.VariableDefinitions) == 0 {
		c.mu.Lock()
		cost, cached = c.costs[op]
		c.mu.Unlock()
	}
	if !cached {
		var err error
		cost, err = operationCost(ctx, c.es, opCtx.Doc, op, opCtx.Variables, c.limit)
		if err != nil {
			return newError(nil, CodeCancelled, "the request ended before its cost was counted: %v", err)
		}
		if len(op.VariableDefinitions) == 0 {
			c.mu.Lock()
			if c.costs == nil || len(c.costs) >= maxCachedCosts {
				c.costs = make(map[*ast.OperationDefinition]int)
			}
			c.costs[op] = cost
			c.mu.Unlock()
		}
	}
	if cost > c.limit {
		if c.onLimit != nil {
			c.onLimit(ctx, LimitComplexity)
		}
		err := gqlerror.Errorf("the operation costs at least %d, over the limit of %d (one per field, a connection its page size times each item, introspection the size of its answer): ask for fewer fields, aliases or introspection, or smaller pages (first)", cost, c.limit)
		errcode.Set(err, codeComplexity)
		return err
	}
	return nil
}
