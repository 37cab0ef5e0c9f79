package podruntime

import (
	"context"
	"errors"
	"sync"
	"time"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/store"
)

// storeData serves the GraphQL executor (graphql.Data) from a membership's
// store, translating filters, pages, changes and errors between the two,
// and records each operation in the metrics.
type storeData struct {
	st      *store.Store
	c       *contract.Contract
	sid     string // the service id, as a metrics label
	metrics *metrics
}

var _ graphql.Data = (*storeData)(nil)

// MaxResponseBytes is the largest GraphQL answer the pod writes; a larger
// one is refused with RESPONSE_TOO_LARGE (graphql.Options.MaxResponseBytes).
const MaxResponseBytes = graphql.DefaultMaxResponseBytes

// watchBuffer is how many changes a subscription may fall behind before it
// misses some (graphql.Data.Watch allows that, rather than holding up
// writers).
const watchBuffer = 64

func (d *storeData) Get(ctx context.Context, class string) (rec graphql.Record, err error) {
	defer d.observe(class, "get", time.Now(), &err)
	rec, err = d.st.Get(ctx, class)
	return rec, mapStoreError(err)
}

func (d *storeData) Mutate(ctx context.Context, class string, patch graphql.Record) (err error) {
	defer d.observe(class, "mutate", time.Now(), &err)
	_, err = d.st.Mutate(ctx, class, patch)
	return mapStoreError(err)
}

func (d *storeData) Append(ctx context.Context, class string, items ...any) (err error) {
	defer d.observe(class, "append", time.Now(), &err)
	_, err = d.st.Append(ctx, class, items...)
	return mapStoreError(err)
}

func (d *storeData) Query(ctx context.Context, class string, q graphql.Query) (page graphql.Page, err error) {
	filter := d.filter(q.Filter)
	if q.First == 0 {
		// graphql asks for the count only; the store's zero is its
		// default page size.
		defer d.observe(class, "count", time.Now(), &err)
		n, err := d.st.Count(ctx, class, filter)
		return graphql.Page{TotalCount: n}, mapStoreError(err)
	}
	defer d.observe(class, "query", time.Now(), &err)
	p, err := d.st.Query(ctx, class, store.Query{Filter: filter, First: q.First, After: q.After, Fields: q.Fields, SkipCount: q.SkipCount, Rows: true})
	if err != nil {
		return graphql.Page{}, mapStoreError(err)
	}
	b := pageBufs.Get().(*pageBuf)
	b.store = p
	for _, e := range p.Edges {
		node := e.Node
		if r, ok := node.(*store.Row); ok {
			node = rowObject{r}
		}
		b.edges = append(b.edges, graphql.Edge{Cursor: e.Cursor, Node: node})
	}
	return graphql.Page{
		Edges:      b.edges,
		PageInfo:   graphql.PageInfo{EndCursor: p.PageInfo.EndCursor, HasNextPage: p.PageInfo.HasNextPage},
		TotalCount: p.TotalCount,
		Release:    b.release,
	}, nil
}

// pageBuf holds the executor's edges of a page of store rows, reused with
// the store's page once the executor has written it.
type pageBuf struct {
	store *store.Page
	edges []graphql.Edge
}

var pageBufs = sync.Pool{New: func() any { return new(pageBuf) }}

func (b *pageBuf) release() {
	b.store.Release()
	clear(b.edges)
	*b = pageBuf{edges: b.edges[:0]}
	pageBufs.Put(b)
}

// rowObject serves a store row to the executor as a graphql.Object. It is
// one pointer, so it goes into an interface without an allocation.
type rowObject struct{ r *store.Row }

func (o rowObject) Field(name string) graphql.Value { return o.r.Field(name) }

func (o rowObject) Values() []graphql.Value { return o.r.Values() }

func (d *storeData) Update(ctx context.Context, class string, filter graphql.Filter, patch graphql.Record) (n int, err error) {
	defer d.observe(class, "update", time.Now(), &err)
	n, err = d.st.Update(ctx, class, d.filter(filter), patch)
	return n, mapStoreError(err)
}

func (d *storeData) Delete(ctx context.Context, class string, filter graphql.Filter) (n int, err error) {
	defer d.observe(class, "delete", time.Now(), &err)
	n, err = d.st.Delete(ctx, class, d.filter(filter))
	return n, mapStoreError(err)
}

// Watch reports the store's changes to the items of class that match
// filter, as the store's WatchClass evaluates it, until ctx ends. A change
// the subscriber has no room for is dropped.
func (d *storeData) Watch(ctx context.Context, class string, filter graphql.Filter) (<-chan graphql.Change, error) {
	var err error
	defer d.observe(class, "watch", time.Now(), &err)
	ch := make(chan graphql.Change, watchBuffer)
	var mu sync.Mutex
	closed := false
	stop, err := d.st.WatchClass(class, d.filter(filter), func(c store.Change) {
		gc := graphql.Change{Node: c.Record, Cursor: c.Cursor, WasMatched: c.WasMatched, Matched: c.Matched}
		switch c.Op {
		case store.ChangeAppend:
			gc.Action = graphql.ChangeAppend
		case store.ChangeUpdate:
			gc.Action = graphql.ChangeUpdate
		case store.ChangeDelete:
			gc.Action = graphql.ChangeDelete
		default:
			return
		}
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- gc:
		default:
		}
	})
	if err != nil {
		err = mapStoreError(err)
		return nil, err
	}
	go func() {
		<-ctx.Done()
		stop()
		// The store may still be calling with changes it collected before
		// stop: close under the lock that guards sending.
		mu.Lock()
		closed = true
		close(ch)
		mu.Unlock()
	}()
	return ch, nil
}

// onLimit counts a request refused (or a websocket closed) for a limit of
// the GraphQL handler (graphql.Options.OnLimit).
func (d *storeData) onLimit(_ context.Context, l graphql.Limit) {
	d.metrics.limits.WithLabelValues(d.sid, string(l)).Inc()
}

func (d *storeData) observe(class, op string, start time.Time, err *error) {
	d.metrics.observeData(d.sid, class, op, start, *err)
}

// filter translates the executor's filter into the store's, which names
// its operators as the schema does. The executor has checked the fields,
// operators and values against the contract.
func (d *storeData) filter(f graphql.Filter) store.Filter {
	if len(f) == 0 {
		return nil
	}
	out := make(store.Filter, len(f))
	for i, c := range f {
		out[i] = store.Condition{Field: c.Field, Op: store.Op(c.Op), Value: c.Value}
	}
	return out
}

// storeError keeps a store error's message and makes it match the
// graphql error the executor knows how to report.
type storeError struct {
	kind error // graphql.ErrInvalid or graphql.ErrUnavailable
	err  error
}

func (e *storeError) Error() string        { return e.err.Error() }
func (e *storeError) Unwrap() []error      { return []error{e.kind, e.err} }
func (e *storeError) Is(target error) bool { return target == e.kind }

// mapStoreError classifies a store error for the executor: the caller's
// mistakes are ErrInvalid, an object store that is down (or a store fenced
// by another writer, or closed by shutdown) is ErrUnavailable; anything else
// (a corrupt object) stays as it is and is logged by the executor.
func mapStoreError(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalid):
		return &storeError{kind: graphql.ErrInvalid, err: err}
	case errors.Is(err, store.ErrUnavailable), errors.Is(err, store.ErrFenced), errors.Is(err, store.ErrClosed):
		return &storeError{kind: graphql.ErrUnavailable, err: err}
	}
	return err
}
