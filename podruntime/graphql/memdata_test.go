package graphql

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"slices"
	"strings"
	"sync"
	"testing"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/objstore/objstoretest"
	"github.com/byoda-go/byoda/podruntime/store"
)

// memData is the Data of the tests and benchmarks: the pod's store
// (podruntime/store) on objects held in memory, so that the executor is
// tested against the store's filter engine, the only one there is. It
// translates as the pod's adapter does, and adds what tests need: an
// injected failure, the last Query, and a count of watches.
type memData struct {
	t testing.TB
	c *contract.Contract

	mu sync.Mutex
	st *store.Store
	// fail, when set, is returned by every call, to test error reporting.
	fail error
	// lastQuery is the Query of the latest call, to test what the executor
	// asks of storage.
	lastQuery Query
	watchers  map[string]int
}

var _ Data = (*memData)(nil)

// testKEK is the key-encryption key of the tests' stores.
const testKEK = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="

func newMemData(t testing.TB, c *contract.Contract) *memData {
	t.Helper()
	m := &memData{t: t, c: c, watchers: map[string]int{}}
	m.st = openMemStore(t, c)
	return m
}

// openMemStore opens a store of c on an empty memObjects.
func openMemStore(t testing.TB, c *contract.Contract) *store.Store {
	t.Helper()
	kek, err := store.NewFernetKEK(testKEK)
	if err != nil {
		t.Fatal(err)
	}
	st, err := store.Open(context.Background(), store.Options{Objects: &memObjects{}, MemberID: uuid.New(), Contract: c, KEK: kek})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { st.Close() })
	return st
}

// reset forgets all data, with a new store; watches do not carry over.
func (m *memData) reset() {
	st := openMemStore(m.t, m.c)
	m.mu.Lock()
	defer m.mu.Unlock()
	m.st = st
}

// store returns the store, or the injected failure.
func (m *memData) store() (*store.Store, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.st, m.fail
}

// dataErr makes a store error one the executor reports, with the store's
// message, as the pod's adapter does.
func dataErr(err error) error {
	switch {
	case err == nil:
		return nil
	case errors.Is(err, store.ErrInvalid):
		return &kindError{ErrInvalid, err}
	case errors.Is(err, store.ErrUnavailable):
		return &kindError{ErrUnavailable, err}
	}
	return err
}

// kindError is a store error that matches a Data error too.
type kindError struct{ kind, err error }

func (e *kindError) Error() string   { return e.err.Error() }
func (e *kindError) Unwrap() []error { return []error{e.kind, e.err} }

func storeFilter(f Filter) store.Filter {
	out := make(store.Filter, len(f))
	for i, c := range f {
		out[i] = store.Condition{Field: c.Field, Op: store.Op(c.Op), Value: c.Value}
	}
	return out
}

func (m *memData) Get(ctx context.Context, class string) (Record, error) {
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	rec, err := st.Get(ctx, class)
	return rec, dataErr(err)
}

func (m *memData) Mutate(ctx context.Context, class string, patch Record) error {
	st, err := m.store()
	if err != nil {
		return err
	}
	_, err = st.Mutate(ctx, class, patch)
	return dataErr(err)
}

func (m *memData) Append(ctx context.Context, class string, items ...any) error {
	_, err := m.appendCursors(ctx, class, items...)
	return err
}

// appendCursors appends items and returns their cursors.
func (m *memData) appendCursors(ctx context.Context, class string, items ...any) ([]string, error) {
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	cursors, err := st.Append(ctx, class, items...)
	return cursors, dataErr(err)
}

func (m *memData) Query(ctx context.Context, class string, q Query) (Page, error) {
	m.mu.Lock()
	m.lastQuery = q
	m.mu.Unlock()
	st, err := m.store()
	if err != nil {
		return Page{}, err
	}
	if q.First == 0 {
		n, err := st.Count(ctx, class, storeFilter(q.Filter))
		return Page{TotalCount: n}, dataErr(err)
	}
	p, err := st.Query(ctx, class, store.Query{Filter: storeFilter(q.Filter), First: q.First, After: q.After, Fields: q.Fields, SkipCount: q.SkipCount, Rows: true})
	if err != nil {
		return Page{}, dataErr(err)
	}
	page := Page{
		Edges:      make([]Edge, len(p.Edges)),
		PageInfo:   PageInfo{EndCursor: p.PageInfo.EndCursor, HasNextPage: p.PageInfo.HasNextPage},
		TotalCount: p.TotalCount,
	}
	for i, e := range p.Edges {
		node := e.Node
		if r, ok := node.(*store.Row); ok {
			node = rowObject{r}
		}
		page.Edges[i] = Edge{Cursor: e.Cursor, Node: node}
	}
	released := false
	page.Release = func() {
		if released {
			panic("page released twice")
		}
		released = true
		p.Release()
	}
	return page, nil
}

// rowObject serves a store row as an IndexedObject, as the pod does.
type rowObject struct{ r *store.Row }

func (o rowObject) Field(name string) Value { return o.r.Field(name) }
func (o rowObject) Values() []Value         { return o.r.Values() }

func (m *memData) Update(ctx context.Context, class string, filter Filter, patch Record) (int, error) {
	st, err := m.store()
	if err != nil {
		return 0, err
	}
	n, err := st.Update(ctx, class, storeFilter(filter), patch)
	return n, dataErr(err)
}

func (m *memData) Delete(ctx context.Context, class string, filter Filter) (int, error) {
	st, err := m.store()
	if err != nil {
		return 0, err
	}
	n, err := st.Delete(ctx, class, storeFilter(filter))
	return n, dataErr(err)
}

func (m *memData) Watch(ctx context.Context, class string, filter Filter) (<-chan Change, error) {
	st, err := m.store()
	if err != nil {
		return nil, err
	}
	ch := make(chan Change, 64)
	var mu sync.Mutex
	closed := false
	stop, err := st.WatchClass(class, storeFilter(filter), func(c store.Change) {
		action := map[store.ChangeOp]ChangeAction{store.ChangeAppend: ChangeAppend, store.ChangeUpdate: ChangeUpdate, store.ChangeDelete: ChangeDelete}[c.Op]
		mu.Lock()
		defer mu.Unlock()
		if closed {
			return
		}
		select {
		case ch <- Change{Action: action, Node: c.Record, WasMatched: c.WasMatched, Matched: c.Matched}:
		default:
		}
	})
	if err != nil {
		return nil, dataErr(err)
	}
	m.mu.Lock()
	m.watchers[class]++
	m.mu.Unlock()
	go func() {
		<-ctx.Done()
		stop()
		mu.Lock()
		closed = true
		close(ch)
		mu.Unlock()
		m.mu.Lock()
		m.watchers[class]--
		m.mu.Unlock()
	}()
	return ch, nil
}

// watching returns how many watches class has, for tests to wait on.
func (m *memData) watching(class string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return m.watchers[class]
}

// snapshot returns all the data as JSON, to check that a refused request
// changed nothing.
func (m *memData) snapshot() string {
	st, _ := m.store()
	ctx := context.Background()
	all := map[string]any{}
	for _, cls := range m.c.Classes {
		if cls.Kind == contract.KindObject {
			rec, err := st.Get(ctx, cls.Name)
			if err != nil {
				panic(err)
			}
			all[cls.Name] = rec
			continue
		}
		var items []any
		for after := ""; ; {
			p, err := st.Query(ctx, cls.Name, store.Query{First: store.MaxFirst, After: after})
			if err != nil {
				panic(err)
			}
			for _, e := range p.Edges {
				items = append(items, []any{e.Cursor, e.Node})
			}
			if !p.PageInfo.HasNextPage {
				break
			}
			after = p.PageInfo.EndCursor
		}
		all[cls.Name] = items
	}
	b, err := json.Marshal(all)
	if err != nil {
		panic(err)
	}
	return string(b)
}

// memObjects is an objstore.Store in memory, so that the tests' stores
// write nothing to disk. It passes objstore's conformance suite
// (TestMemObjects).
type memObjects struct {
	mu      sync.Mutex
	objects map[string][]byte
}

var _ objstore.Store = (*memObjects)(nil)

func (s *memObjects) check(ctx context.Context, key string) error {
	if err := ctx.Err(); err != nil {
		return err
	}
	return objstore.ValidateKey(key)
}

// conflicts reports whether key is a prefix directory of an object, or has
// one as its own: a filesystem holds no such pair, and neither does this.
func (s *memObjects) conflicts(key string) bool {
	for k := range s.objects {
		if strings.HasPrefix(k, key+"/") || strings.HasPrefix(key, k+"/") {
			return true
		}
	}
	return false
}

func (s *memObjects) Put(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.conflicts(key) {
		return fmt.Errorf("put %s: a key is both an object and a directory", key)
	}
	if s.objects == nil {
		s.objects = map[string][]byte{}
	}
	s.objects[key] = slices.Clone(data)
	return nil
}

func (s *memObjects) Create(ctx context.Context, key string, data []byte) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if _, ok := s.objects[key]; ok {
		return fmt.Errorf("create %s: %w", key, objstore.ErrExist)
	}
	if s.conflicts(key) {
		return fmt.Errorf("create %s: a key is both an object and a directory", key)
	}
	if s.objects == nil {
		s.objects = map[string][]byte{}
	}
	s.objects[key] = slices.Clone(data)
	return nil
}

func (s *memObjects) Get(ctx context.Context, key string) ([]byte, error) {
	if err := s.check(ctx, key); err != nil {
		return nil, err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	b, ok := s.objects[key]
	if !ok {
		return nil, fmt.Errorf("get %s: %w", key, objstore.ErrNotExist)
	}
	return slices.Clone(b), nil
}

func (s *memObjects) Delete(ctx context.Context, key string) error {
	if err := s.check(ctx, key); err != nil {
		return err
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	delete(s.objects, key)
	return nil
}

func (s *memObjects) List(ctx context.Context, prefix string) ([]string, error) {
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	if prefix != "" {
		if err := objstore.ValidateKey(strings.TrimSuffix(prefix, "/")); err != nil {
			return nil, err
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	keys := []string{}
	for k := range s.objects {
		if strings.HasPrefix(k, prefix) {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	return keys, nil
}

func TestMemObjects(t *testing.T) {
	objstoretest.Run(t, func(*testing.T) objstore.Store { return &memObjects{} })
	if _, err := (&memObjects{}).Get(context.Background(), "x"); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("Get of a missing key: %v", err)
	}
}
