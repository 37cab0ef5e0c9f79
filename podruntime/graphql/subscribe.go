package graphql

import (
	"context"
	"time"

	gql "github.com/99designs/gqlgen/graphql"
	"github.com/vektah/gqlparser/v2/gqlerror"

	"github.com/byoda-go/byoda/internal/contract"
)

// subscribe starts a subscription: it checks the request and starts
// watching the class now, in ctx, which ends with the subscription; the
// handler it returns then makes one response per event.
func (es *executableSchema) subscribe(ctx context.Context, op *gql.OperationContext) gql.ResponseHandler {
	x := es.newExecution(ctx, op)
	fields := x.collect(op.Operation.SelectionSet, typeSubscription)
	if len(fields) != 1 {
		x.addError(newError(nil, CodeBadUserInput, "a subscription selects exactly one field; this one selects %d", len(fields)))
		x.flushErrors()
		return gql.OneShot(&gql.Response{})
	}
	f := fields[0]
	defer es.observe(ctx, op, f.name, time.Now(), &x.firstCode)
	fail := func(errs ...*gqlerror.Error) gql.ResponseHandler {
		x.addError(errs...)
		x.flushErrors()
		return gql.OneShot(&gql.Response{})
	}
	x.push(f.key)
	r := es.roots[f.name]
	if r == nil || (r.kind != rootUpdates && r.kind != rootCounter) {
		return fail(x.errorf(CodeBadUserInput, "%s is not a subscription", f.name))
	}
	cls := r.class
	if !x.allowed(contract.ActionSubscribe, cls, "") {
		return fail(x.forbidden(contract.ActionSubscribe, cls, ""))
	}
	args, err := x.args(f.field)
	if err != nil {
		return fail(err)
	}
	filter, errs := x.filter(r, args[argFilter])
	if len(errs) > 0 {
		return fail(errs...)
	}
	if op.Headers.Get("Upgrade") == "" {
		return fail(x.errorf(CodeBadUserInput, "subscriptions run over a websocket (protocol graphql-transport-ws); this request came over plain HTTP"))
	}
	changes, werr := es.data.Watch(ctx, cls.Name, filter)
	if werr != nil {
		return fail(x.dataError("watch "+cls.Name, werr))
	}
	if ws := wsFrom(ctx); ws != nil {
		ws.subscribed(ctx)
	}
	s := &subscription{es: es, op: op, r: r, f: &f, filter: filter, changes: changes, count: -1}
	if r.kind == rootCounter {
		return s.nextCount
	}
	return s.nextUpdate
}

// subscription is one running subscription.
type subscription struct {
	es      *executableSchema
	op      *gql.OperationContext
	r       *root
	f       *collected
	filter  Filter
	changes <-chan Change
	count   int // the count last sent; -1 before the first
}

// next waits for the next change, or returns false when the subscription
// is over.
func (s *subscription) next(ctx context.Context) (Change, bool) {
	select {
	case <-ctx.Done():
		return Change{}, false
	case ch, ok := <-s.changes:
		return ch, ok
	}
}

// response starts a response, with the subscription's field as its only
// key, and calls write to write the field's value.
func (s *subscription) response(ctx context.Context, write func(x *execution)) *gql.Response {
	x := s.es.newExecution(ctx, s.op)
	x.run(func() {
		x.out = append(x.out, '{')
		x.key(0, s.f.key)
		x.push(s.f.key)
		write(x)
		x.pop()
		x.out = append(x.out, '}')
	})
	return x.response()
}

// nextUpdate sends the next change that matches the filter as a
// C_update_event: an append or update of an item that matches it after the
// change, a delete of one that matched it before. (An update that moves an
// item out of the filter is no event of C_updates; C_counter counts it.)
func (s *subscription) nextUpdate(ctx context.Context) *gql.Response {
	for {
		ch, ok := s.next(ctx)
		if !ok {
			return nil
		}
		if !ch.Matched && (ch.Action != ChangeDelete || !ch.WasMatched) {
			continue
		}
		return s.response(ctx, func(x *execution) {
			x.updateEvent(s.r, ch, x.collect(s.f.sel, s.r.class.Name+"_update_event"))
		})
	}
}

// nextCount sends the number of matching items: at once, and then each
// time a change may have changed it and it did.
func (s *subscription) nextCount(ctx context.Context) *gql.Response {
	for {
		if s.count >= 0 {
			ch, ok := s.next(ctx)
			if !ok {
				return nil
			}
			// Only a change that moves an item into or out of the
			// filter changes the count; the count is taken again rather
			// than added to, so that a change missed while the reader was
			// behind does not stay missed.
			if ch.WasMatched == ch.Matched {
				continue
			}
		}
		page, err := s.es.data.Query(ctx, s.r.class.Name, Query{Filter: s.filter})
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return s.response(ctx, func(x *execution) {
				x.null()
				x.addError(x.dataError("count "+s.r.class.Name, err))
			})
		}
		if page.Release != nil {
			page.Release()
		}
		if page.TotalCount == s.count {
			continue
		}
		s.count = page.TotalCount
		return s.response(ctx, func(x *execution) {
			x.out = appendInt(x.out, int64(s.count))
		})
	}
}

// updateEvent writes a C_update_event.
func (x *execution) updateEvent(r *root, ch Change, fields []collected) {
	x.out = append(x.out, '{')
	for i := range fields {
		f := &fields[i]
		x.key(i, f.key)
		x.push(f.key)
		switch f.name {
		case "__typename":
			x.out = appendString(x.out, r.class.Name+"_update_event")
		case "action":
			x.out = appendString(x.out, string(ch.Action))
		case "node":
			x.node(r, ch.Node, x.nodePlan(r, f.sel, nil))
		case "origin":
			x.origin()
		case "cursor":
			if ch.Cursor == "" {
				x.null()
			} else {
				x.out = appendString(x.out, ch.Cursor)
			}
		default:
			x.null()
		}
		x.pop()
	}
	x.out = append(x.out, '}')
}
