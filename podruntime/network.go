package podruntime

import (
	"context"
	"crypto/ecdsa"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/podruntime/recursion"
)

// Limits of the graph between pods.
const (
	// maxFanOut bounds the links one pod forwards a query to.
	maxFanOut = 1000
	// maxUnanswered bounds the peers an answer lists as unanswered.
	maxUnanswered = recursion.MaxCursorOrigins
	// maxReasonLen bounds the text of an unanswered peer's error.
	maxReasonLen = 512
)

// UnansweredExtension is the key, in a response's extensions, of the list
// of pods a recursive query reached that did not answer, and why.
const UnansweredExtension = "unanswered_peers"

// network serves one membership's queries that involve other pods
// (graphql.Network): it signs the queries its owner starts, checks the
// queries other pods forward, asks the pods it links to, and merges their
// answers with its own.
type network struct {
	m       *membership
	self    uuid.UUID
	client  *peer.Client
	keys    *recursion.Keys
	seen    *recursion.Seen
	dataKey *ecdsa.PrivateKey
	now     func() time.Time
	metrics *metrics
	sid     string // the service id, as a metrics label
	fanOut  int    // peers asked at once
}

var _ graphql.Network = (*network)(nil)

// admitted is what Admit learned about a query, for Query.
type admitted struct {
	env      *recursion.Envelope // nil for a query this pod starts
	caller   uuid.UUID           // the member that forwarded it
	distance int
}

func (n *network) Forwarded(ext map[string]any) bool {
	_, ok := ext[recursion.ExtensionKey]
	return ok
}

// Admit checks a query before the executor authorizes it. A query the
// owner starts is the owner's; a forwarded one is refused unless its
// envelope fits the request, the caller and this pod's clock and contract,
// and is then authorized for the immediate caller at its distance from the
// origin. The signature is checked in Query, once the filter is known.
func (n *network) Admit(ctx context.Context, q *graphql.RemoteQuery) (contract.Caller, error) {
	raw, forwarded := q.Extensions[recursion.ExtensionKey]
	if !forwarded {
		if q.Caller.Entity != contract.EntityMember {
			return q.Caller, n.refused(forbidden("only the pod's owner starts recursive and proxied queries: log in as the owner; other pods forward queries with their origin's signature"))
		}
		switch {
		case q.RemoteMemberID != "" && q.Depth > 0:
			return q.Caller, n.refused(badInput("remote_member_id asks one pod: want depth 0 with it"))
		case q.Depth > n.m.contract.MaxQueryDepth:
			return q.Caller, n.refusal(&recursion.Refusal{Reason: recursion.ReasonDepth,
				Msg: fmt.Sprintf("depth %d is beyond the service's max_query_depth of %d", q.Depth, n.m.contract.MaxQueryDepth)})
		}
		if err := recursion.CheckRelations(q.Relations); err != nil {
			return q.Caller, n.refusal(err)
		}
		if q.QueryID == "" {
			q.QueryID = uuid.NewString()
		}
		q.State = &admitted{}
		return q.Caller, nil
	}
	id := peerIdentityFrom(ctx)
	if id == nil || id.Role != pki.RoleMember {
		return q.Caller, n.refused(forbidden("a forwarded query comes from a member's pod over the peer port"))
	}
	data, err := json.Marshal(raw)
	if err != nil {
		return q.Caller, n.refusal(&recursion.Refusal{Reason: recursion.ReasonExtensions, Msg: err.Error()})
	}
	env, err := recursion.ParseEnvelope(data)
	if err != nil {
		return q.Caller, n.refusal(err)
	}
	rcv := recursion.Received{
		Request:  n.request(q, env.Origin, env.Timestamp, env.Depth),
		Envelope: env,
		Caller:   id.ID,
		Self:     n.self.String(),
		DepthArg: q.Depth,
	}
	distance, err := rcv.Check(n.now(), n.m.contract.MaxQueryDepth)
	if err != nil {
		return q.Caller, n.refusal(err)
	}
	caller := q.Caller
	if caller.Entity == contract.EntityNetwork {
		caller.Distance = distance
	}
	q.State = &admitted{env: &env, caller: uuid.MustParse(id.ID), distance: distance}
	return caller, nil
}

// request is the signed form of q, with the origin's part.
func (n *network) request(q *graphql.RemoteQuery, origin string, ts time.Time, depth int) *recursion.Request {
	r := &recursion.Request{
		ServiceID:      n.m.sid,
		Class:          q.Class.Name,
		Fields:         slices.Clone(q.Query.Fields),
		First:          q.Query.First,
		After:          q.Query.After,
		Depth:          depth,
		Relations:      slices.Clone(q.Relations),
		RemoteMemberID: q.RemoteMemberID,
		QueryID:        q.QueryID,
		Origin:         origin,
		Timestamp:      ts,
	}
	for _, c := range q.Query.Filter {
		r.Filter = append(r.Filter, recursion.Condition{Field: c.Field, Op: string(c.Op), Value: c.Value})
	}
	r.Normalize()
	return r
}

// Query answers an admitted query from this pod's store and the pods it
// links to.
func (n *network) Query(ctx context.Context, q *graphql.RemoteQuery) (graphql.Page, error) {
	st, _ := q.State.(*admitted)
	if st == nil {
		return graphql.Page{}, errors.New("network: query was not admitted")
	}
	start := time.Now()
	role := "origin"
	if st.env != nil {
		role = "forwarded"
	}
	defer func() { n.metrics.recursiveSeconds.WithLabelValues(n.sid, role).Observe(time.Since(start).Seconds()) }()

	var env recursion.Envelope
	own := true // answer from this pod's store too
	if st.env == nil {
		// This pod is the origin: it signs.
		req := n.request(q, n.self.String(), n.now(), q.Depth)
		sig, err := req.Sign(n.dataKey)
		if err != nil {
			return graphql.Page{}, err
		}
		env = recursion.Envelope{Origin: req.Origin, Timestamp: req.Timestamp, Depth: req.Depth, Signature: sig}
		if d, err := req.Digest(); err == nil {
			// A cycle back to the origin, which comes with less depth
			// left than the origin's, is answered empty.
			_, _ = n.seen.Arrive(d, req.Depth, req.Timestamp, n.now())
		}
	} else {
		env = *st.env
		req := n.request(q, env.Origin, env.Timestamp, env.Depth)
		origin, err := uuid.Parse(env.Origin)
		if err != nil {
			return graphql.Page{}, n.refusal(&recursion.Refusal{Reason: recursion.ReasonExtensions, Msg: err.Error()})
		}
		pub, err := n.keys.Get(ctx, n.m.sid, origin)
		if err != nil {
			return graphql.Page{}, n.refusal(err)
		}
		if err := req.Verify(pub, env.Signature); err != nil {
			return graphql.Page{}, n.refusal(err)
		}
		d, err := req.Digest()
		if err != nil {
			return graphql.Page{}, err
		}
		visit, err := n.seen.Arrive(d, q.Depth, req.Timestamp, n.now())
		if err != nil {
			return graphql.Page{}, n.refusal(err)
		}
		switch visit {
		case recursion.VisitRepeat:
			// A cycle or a diamond: this pod has answered already.
			n.metrics.recursiveQueries.WithLabelValues(n.sid, "repeat").Inc()
			return graphql.Page{}, nil
		case recursion.VisitDeeper:
			// It came the long way first, with less depth left: its
			// records went then; now it goes further.
			own = false
		}
	}
	n.metrics.recursiveQueries.WithLabelValues(n.sid, role).Inc()

	after, err := recursion.ParseCursor(q.Query.After)
	if err != nil {
		return graphql.Page{}, n.refusal(err)
	}
	if st.env == nil && q.RemoteMemberID != "" && q.RemoteMemberID != n.self.String() {
		return n.proxy(ctx, q, env)
	}

	// This pod's own records.
	var (
		parts   []recursion.Part
		ownPage graphql.Page
		total   int
	)
	if own {
		local := q.Query
		local.After = after[n.self]
		local.SkipCount = true
		ownPage, err = q.Local(ctx, local)
		if err != nil {
			return graphql.Page{}, err
		}
		part := recursion.Part{HasNext: ownPage.PageInfo.HasNextPage}
		for _, e := range ownPage.Edges {
			part.Items = append(part.Items, recursion.Item{Origin: n.self, Cursor: e.Cursor, Node: e.Node})
		}
		parts = append(parts, part)
		if !q.Query.SkipCount {
			count := q.Query
			count.First = 0
			cp, err := q.Local(ctx, count)
			if err != nil {
				releasePage(ownPage)
				return graphql.Page{}, err
			}
			total = cp.TotalCount
		}
	}

	// The pods it links to, one hop further.
	var unanswered []any
	if q.Depth > 0 {
		peers, err := n.m.linkedMembers(ctx, q.Relations)
		if err != nil {
			releasePage(ownPage)
			return graphql.Page{}, err
		}
		peers = slices.DeleteFunc(peers, func(id uuid.UUID) bool {
			return id == n.self || id == st.caller || id.String() == env.Origin
		})
		if len(peers) > maxFanOut {
			peers = peers[:maxFanOut]
		}
		fwd := n.forwarded(q, env)
		outcomes := recursion.FanOut(ctx, peers, n.fanOut, func(ctx context.Context, mid uuid.UUID) (*peerAnswer, error) {
			return n.ask(ctx, mid, q, fwd)
		})
		for _, o := range outcomes {
			if o.Err != nil {
				reason := n.failure(o.Err)
				unanswered = append(unanswered, map[string]any{"member_id": o.Peer.String(), "reason": reason, "error": clipText(o.Err.Error())})
				continue
			}
			parts = append(parts, o.Result.part)
			total += o.Result.total
			unanswered = append(unanswered, o.Result.unanswered...)
		}
		unanswered = dropAnswered(unanswered, outcomes, parts)
	}
	items, next, hasNext := recursion.Merge(n.self, after, q.Query.First, parts)
	page := graphql.Page{
		Edges:      make([]graphql.Edge, len(items)),
		PageInfo:   graphql.PageInfo{EndCursor: next.String(), HasNextPage: hasNext},
		TotalCount: total,
		Release:    ownPage.Release,
	}
	for i, it := range items {
		page.Edges[i] = graphql.Edge{Cursor: it.Cursor, Node: it.Node}
		if it.Origin != n.self {
			page.Edges[i].Origin = it.Origin.String()
		}
	}
	if len(unanswered) > maxUnanswered {
		unanswered = unanswered[:maxUnanswered]
	}
	if len(unanswered) > 0 {
		page.Extensions = map[string]any{UnansweredExtension: unanswered}
	}
	return page, nil
}

// dropAnswered removes from unanswered the pods that answered by another
// path: a pod this one asked that answered, or one whose records came. In a
// diamond, a pod reached first the long way may refuse (a distance rule)
// and then answer the short way: its records are in, and listing it would
// say they are not. A pod that answered with no records by another pod's
// path only is not known here, and stays listed.
func dropAnswered(unanswered []any, outcomes []recursion.Outcome[uuid.UUID, *peerAnswer], parts []recursion.Part) []any {
	if len(unanswered) == 0 {
		return unanswered
	}
	answered := map[string]bool{}
	for _, o := range outcomes {
		if o.Err == nil {
			answered[o.Peer.String()] = true
		}
	}
	for _, p := range parts {
		for _, it := range p.Items {
			answered[it.Origin.String()] = true
		}
	}
	return slices.DeleteFunc(unanswered, func(u any) bool {
		m, _ := u.(map[string]any)
		id, _ := m["member_id"].(string)
		return answered[id]
	})
}

// proxy sends a query the owner started to the one member it names, and
// answers with that pod's answer.
func (n *network) proxy(ctx context.Context, q *graphql.RemoteQuery, env recursion.Envelope) (graphql.Page, error) {
	remote, err := uuid.Parse(q.RemoteMemberID)
	if err != nil {
		return graphql.Page{}, badInput("remote_member_id %q: want a member id", q.RemoteMemberID)
	}
	if q.Depth == 0 {
		ctx2, cancel := context.WithTimeout(ctx, recursion.DefaultTimeout)
		defer cancel()
		ctx = ctx2
	}
	ans, err := n.ask(ctx, remote, q, n.forwarded(q, env))
	if err != nil {
		return graphql.Page{}, peerError(remote, n.failure(err), err)
	}
	after, _ := recursion.ParseCursor(q.Query.After)
	items, next, hasNext := recursion.Merge(n.self, after, q.Query.First, []recursion.Part{ans.part})
	page := graphql.Page{
		Edges:      make([]graphql.Edge, len(items)),
		PageInfo:   graphql.PageInfo{EndCursor: next.String(), HasNextPage: hasNext},
		TotalCount: ans.total,
	}
	for i, it := range items {
		page.Edges[i] = graphql.Edge{Cursor: it.Cursor, Node: it.Node, Origin: it.Origin.String()}
	}
	return page, nil
}

// Append sends an append to another member's pod, over the peer port with
// this membership's certificate; that pod authorizes it under its own
// contract.
func (n *network) Append(ctx context.Context, remoteMemberID, class string, item any) error {
	remote, err := uuid.Parse(remoteMemberID)
	if err != nil {
		return badInput("remote_member_id %q: want a member id", remoteMemberID)
	}
	ctx, cancel := context.WithTimeout(ctx, recursion.DefaultTimeout)
	defer cancel()
	var args strings.Builder
	if rec, ok := item.(graphql.Record); ok {
		keys := make([]string, 0, len(rec))
		for k := range rec {
			keys = append(keys, k)
		}
		slices.Sort(keys)
		for i, k := range keys {
			if i > 0 {
				args.WriteString(", ")
			}
			args.WriteString(k + ": ")
			writeLiteral(&args, rec[k])
		}
	} else {
		args.WriteString("value: ")
		writeLiteral(&args, item)
	}
	field := "append_" + class
	resp, err := n.client.GraphQL(ctx, remote, &peer.Request{Query: "mutation { " + field + "(" + args.String() + ") }"})
	if err != nil {
		n.metrics.peerCalls.WithLabelValues(n.sid, n.failure(err)).Inc()
		return peerError(remote, n.failure(err), err)
	}
	if len(resp.Errors) > 0 {
		n.metrics.peerCalls.WithLabelValues(n.sid, "refused").Inc()
		e := resp.Errors[0]
		return peerError(remote, "refused", fmt.Errorf("%s (%s)", e.Message, e.Code()))
	}
	n.metrics.peerCalls.WithLabelValues(n.sid, "ok").Inc()
	return nil
}

// forwarded is the envelope a query goes to the next hop with.
func (n *network) forwarded(q *graphql.RemoteQuery, env recursion.Envelope) map[string]any {
	env.Hops++
	return map[string]any{recursion.ExtensionKey: env}
}

// peerAnswer is what one peer contributed.
type peerAnswer struct {
	part       recursion.Part
	total      int
	unanswered []any
}

// ask sends q, one hop further, to member mid's pod, and reads its answer.
func (n *network) ask(ctx context.Context, mid uuid.UUID, q *graphql.RemoteQuery, ext map[string]any) (*peerAnswer, error) {
	depth := q.Depth - 1
	if q.RemoteMemberID != "" {
		depth = 0
	}
	query, vars := connectionQuery(q, depth)
	resp, err := n.client.GraphQL(ctx, mid, &peer.Request{Query: query, Variables: vars, Extensions: ext})
	if err != nil {
		n.metrics.peerCalls.WithLabelValues(n.sid, n.failure(err)).Inc()
		return nil, err
	}
	ans, err := parseAnswer(mid, q, depth, resp)
	if err != nil {
		n.metrics.peerCalls.WithLabelValues(n.sid, n.failure(err)).Inc()
		return nil, err
	}
	n.metrics.peerCalls.WithLabelValues(n.sid, "ok").Inc()
	return ans, nil
}

// connectionQuery writes q as the GraphQL request a pod forwards, with
// depth the depth left at the next hop: the filter and the node fields in
// the text, and the arguments that change from one query to the next
// (first, after, depth, relations, remote_member_id and query_id, which is
// new for every query) as variables. The queries of one shape are then one
// text, which a peer parses once and caches once, rather than a new
// document to parse and keep for every query.
func connectionQuery(q *graphql.RemoteQuery, depth int) (string, map[string]any) {
	var b strings.Builder
	b.WriteString("query($first: Int, $after: String, $depth: Int, $relations: [String!], $remote: UUID, $qid: UUID) { ")
	b.WriteString(q.Class.Name)
	b.WriteString("_connection(")
	if q.RawFilter != nil {
		b.WriteString("filter: ")
		writeLiteral(&b, q.RawFilter)
		b.WriteString(", ")
	}
	b.WriteString("first: $first, after: $after, depth: $depth, relations: $relations, remote_member_id: $remote, query_id: $qid)")
	b.WriteString(" { edges { cursor origin")
	switch {
	case q.Class.RecordClass() == nil:
		b.WriteString(" node")
	case len(q.Query.Fields) > 0:
		b.WriteString(" node {")
		fields := slices.Sorted(slices.Values(q.Query.Fields))
		for _, f := range slices.Compact(fields) {
			b.WriteString(" " + f)
		}
		b.WriteString(" }")
	}
	b.WriteString(" } page_info { has_next_page }")
	if !q.Query.SkipCount {
		b.WriteString(" total_count")
	}
	b.WriteString(" } }")
	vars := map[string]any{"first": q.Query.First, "depth": depth}
	if q.Query.After != "" {
		vars["after"] = q.Query.After
	}
	if q.Relations != nil {
		vars["relations"] = q.Relations
	}
	if q.RemoteMemberID != "" {
		vars["remote"] = q.RemoteMemberID
	}
	if q.QueryID != "" {
		vars["qid"] = q.QueryID
	}
	return b.String(), vars
}

// writeLiteral writes v, a value as gqlgen hands out arguments, as a
// GraphQL literal.
func writeLiteral(b *strings.Builder, v any) {
	switch v := v.(type) {
	case nil:
		b.WriteString("null")
	case string:
		s, _ := json.Marshal(v) // a JSON string is a GraphQL string
		b.Write(s)
	case bool:
		b.WriteString(strconv.FormatBool(v))
	case int64:
		b.WriteString(strconv.FormatInt(v, 10))
	case int:
		b.WriteString(strconv.Itoa(v))
	case float64:
		b.WriteString(strconv.FormatFloat(v, 'g', -1, 64))
	case json.Number:
		b.WriteString(v.String())
	case []any:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeLiteral(b, e)
		}
		b.WriteByte(']')
	case []string:
		b.WriteByte('[')
		for i, e := range v {
			if i > 0 {
				b.WriteString(", ")
			}
			writeLiteral(b, e)
		}
		b.WriteByte(']')
	case map[string]any:
		keys := slices.Sorted(func(yield func(string) bool) {
			for k := range v {
				if !yield(k) {
					return
				}
			}
		})
		b.WriteByte('{')
		for i, k := range keys {
			if i > 0 {
				b.WriteString(", ")
			}
			b.WriteString(k + ": ")
			writeLiteral(b, v[k])
		}
		b.WriteByte('}')
	default:
		s, _ := json.Marshal(fmt.Sprint(v))
		b.Write(s)
	}
}

// parseAnswer reads a peer's answer to a forwarded connection query, asked
// with depth left at the peer: its records with their origins, whether it
// has more, and the pods it could not reach. An answer that is not of that
// shape is refused whole: one with more edges than the page asked for, or,
// at depth 0, a record of another origin than the peer (a pod asked at
// depth 0 answers from its own store).
func parseAnswer(mid uuid.UUID, q *graphql.RemoteQuery, depth int, resp *peer.Response) (*peerAnswer, error) {
	field := q.Class.Name + "_connection"
	var data map[string]*struct {
		Edges []struct {
			Cursor string          `json:"cursor"`
			Origin string          `json:"origin"`
			Node   json.RawMessage `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNextPage bool `json:"has_next_page"`
		} `json:"page_info"`
		TotalCount int `json:"total_count"`
	}
	if len(resp.Data) > 0 && string(resp.Data) != "null" {
		if err := json.Unmarshal(resp.Data, &data); err != nil {
			return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("data: %w", err)}
		}
	}
	page := data[field]
	if page == nil {
		if len(resp.Errors) > 0 {
			e := resp.Errors[0]
			return nil, &peer.Error{Kind: peer.KindRefused, Member: mid, Err: fmt.Errorf("%s (%s)", e.Message, e.Code())}
		}
		return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("the answer has no %s", field)}
	}
	ans := &peerAnswer{part: recursion.Part{HasNext: page.PageInfo.HasNextPage}, total: page.TotalCount}
	// A peer merges what it has and what it was sent into one page of
	// at most first edges.
	if len(page.Edges) > q.Query.First {
		return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("%d edges for a page of %d", len(page.Edges), q.Query.First)}
	}
	for i, e := range page.Edges {
		origin, err := uuid.Parse(e.Origin)
		if err != nil || e.Cursor == "" || len(e.Cursor) > 64 {
			return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("edge %d: want an origin member id and a cursor", i)}
		}
		if depth == 0 && origin != mid {
			return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("edge %d: a record of %s in an answer at depth 0, which holds the pod's own records only", i, origin)}
		}
		var node any
		if len(e.Node) > 0 {
			dec := json.NewDecoder(strings.NewReader(string(e.Node)))
			dec.UseNumber()
			if err := dec.Decode(&node); err != nil {
				return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("edge %d: node: %w", i, err)}
			}
		}
		ans.part.Items = append(ans.part.Items, recursion.Item{Origin: origin, Cursor: e.Cursor, Node: node})
	}
	if raw, ok := resp.Extensions[UnansweredExtension]; ok {
		var list []struct {
			MemberID string `json:"member_id"`
			Reason   string `json:"reason"`
			Error    string `json:"error"`
		}
		if err := json.Unmarshal(raw, &list); err != nil {
			return nil, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("extensions.%s: %w", UnansweredExtension, err)}
		}
		for _, u := range list {
			if len(ans.unanswered) >= maxUnanswered {
				break
			}
			if _, err := uuid.Parse(u.MemberID); err != nil {
				continue
			}
			ans.unanswered = append(ans.unanswered, map[string]any{
				"member_id": u.MemberID, "reason": clipText(u.Reason), "error": clipText(u.Error), "via": mid.String(),
			})
		}
	}
	return ans, nil
}

// failure names why a call to a peer failed, for metrics and answers.
func (n *network) failure(err error) string {
	var pe *peer.Error
	if errors.As(err, &pe) {
		return string(pe.Kind)
	}
	if errors.Is(err, context.DeadlineExceeded) {
		return string(peer.KindTimeout)
	}
	if errors.Is(err, context.Canceled) {
		return string(peer.KindCanceled)
	}
	return "error"
}

// refusal counts a refused query and turns the refusal into the client's
// error.
func (n *network) refusal(err error) error {
	var ref *recursion.Refusal
	if errors.As(err, &ref) {
		n.metrics.recursiveRefusals.WithLabelValues(n.sid, string(ref.Reason)).Inc()
		e := gqlerror.Errorf("%s", ref.Error())
		e.Extensions = map[string]any{"code": graphql.CodeBadUserInput, "reason": string(ref.Reason)}
		if ref.Reason == recursion.ReasonBusy {
			e.Extensions["code"] = graphql.CodeUnavailable
		}
		return e
	}
	return err
}

// refused counts a refusal the network makes itself.
func (n *network) refused(e *gqlerror.Error) error {
	n.metrics.recursiveRefusals.WithLabelValues(n.sid, "caller").Inc()
	return e
}

func forbidden(msg string) *gqlerror.Error {
	e := gqlerror.Errorf("%s", msg)
	e.Extensions = map[string]any{"code": graphql.CodeForbidden}
	return e
}

func badInput(format string, args ...any) *gqlerror.Error {
	e := gqlerror.Errorf(format, args...)
	e.Extensions = map[string]any{"code": graphql.CodeBadUserInput}
	return e
}

// peerError is the error of a proxied query or append that member mid's
// pod did not answer.
func peerError(mid uuid.UUID, reason string, err error) *gqlerror.Error {
	e := gqlerror.Errorf("member %s: %s", mid, clipText(err.Error()))
	e.Extensions = map[string]any{"code": "PEER_" + strings.ToUpper(reason), "member_id": mid.String()}
	return e
}

func clipText(s string) string {
	if len(s) > maxReasonLen {
		return s[:maxReasonLen] + "..."
	}
	return s
}

// releasePage releases a page that will not be written.
func releasePage(p graphql.Page) {
	if p.Release != nil {
		p.Release()
	}
}

// peerIdentityKey marks a request context with the verified identity of a
// peer port caller.
type peerIdentityKey struct{}

func withPeerIdentity(ctx context.Context, id *pki.Identity) context.Context {
	return context.WithValue(ctx, peerIdentityKey{}, id)
}

func peerIdentityFrom(ctx context.Context) *pki.Identity {
	id, _ := ctx.Value(peerIdentityKey{}).(*pki.Identity)
	return id
}

// serveDataCert serves the chain of the membership's member-data
// certificate, with which its recursive queries are signed.
func (m *membership) serveDataCert(pem []byte) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		if r.Method != http.MethodGet && r.Method != http.MethodHead {
			return errorf(http.StatusMethodNotAllowed, codeBadRequest, "%s %s: want GET", r.Method, r.URL.Path)
		}
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Header().Set("Cache-Control", "max-age=3600")
		_, err := w.Write(pem)
		return err
	}
}
