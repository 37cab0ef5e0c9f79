package graphql

import (
	"context"
	"encoding/json"
	"fmt"
	"maps"
	"sort"
	"strconv"
	"sync"
)

// memData is an in-memory Data for tests and benchmarks. It follows the
// semantics Data documents, filters with Filter.Match, and uses the item's
// sequence number as its cursor.
type memData struct {
	mu       sync.Mutex
	objects  map[string]Record
	arrays   map[string][]memItem
	seq      int
	watchers map[string]map[chan Change]struct{}
	// fail, when set, is returned by every call, to test error reporting.
	fail error
	// lastQuery is the Query of the latest call, to test what the executor
	// asks of storage.
	lastQuery Query
}

type memItem struct {
	seq  int
	node any
}

var _ Data = (*memData)(nil)

func newMemData() *memData {
	return &memData{
		objects:  map[string]Record{},
		arrays:   map[string][]memItem{},
		watchers: map[string]map[chan Change]struct{}{},
	}
}

// reset forgets all data; watchers stay.
func (m *memData) reset() {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.objects = map[string]Record{}
	m.arrays = map[string][]memItem{}
}

func cloneNode(n any) any {
	if r, ok := n.(map[string]any); ok {
		return maps.Clone(r)
	}
	return n
}

// pageNode hands out a record of a page as an IndexedObject over the
// queried fields, as the pod's store does, so that the tests cover the
// executor's Object path (Get and subscriptions cover its Record path).
func pageNode(n any, fields []string) any {
	if r, ok := n.(map[string]any); ok {
		return indexedObject{typedObject(maps.Clone(r)), fields}
	}
	return n
}

// indexedObject hands out the values of fields as Values.
type indexedObject struct {
	typedObject
	fields []string
}

func (o indexedObject) Values() []Value {
	vals := make([]Value, len(o.fields))
	for i, f := range o.fields {
		vals[i] = o.Field(f)
	}
	return vals
}

// typedObject is a Record read as an Object with typed scalars.
type typedObject map[string]any

func (o typedObject) Field(name string) Value {
	switch v := o[name].(type) {
	case nil:
		return Value{}
	case string:
		return Value{Kind: ValueString, Str: v}
	case int64:
		return Value{Kind: ValueInt, Int: v}
	case float64:
		return Value{Kind: ValueFloat, Float: v}
	case bool:
		if v {
			return Value{Kind: ValueBool, Int: 1}
		}
		return Value{Kind: ValueBool}
	default:
		return Value{Kind: ValueOther, Other: v}
	}
}

func (m *memData) Get(_ context.Context, class string) (Record, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	return maps.Clone(m.objects[class]), nil
}

func (m *memData) Mutate(_ context.Context, class string, patch Record) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	rec := m.objects[class]
	if rec == nil {
		rec = Record{}
		m.objects[class] = rec
	}
	merge(rec, patch)
	return nil
}

func merge(rec, patch Record) {
	for k, v := range patch {
		if v == nil {
			delete(rec, k)
		} else {
			rec[k] = v
		}
	}
}

func (m *memData) Append(_ context.Context, class string, items ...any) error {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return m.fail
	}
	for _, it := range items {
		m.seq++
		m.arrays[class] = append(m.arrays[class], memItem{seq: m.seq, node: cloneNode(it)})
		m.notify(class, Change{Action: ChangeAppend, Node: cloneNode(it)})
	}
	return nil
}

func (m *memData) Query(_ context.Context, class string, q Query) (Page, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.lastQuery = q
	if m.fail != nil {
		return Page{}, m.fail
	}
	items := m.arrays[class]
	start := 0
	if q.After != "" {
		after, err := strconv.Atoi(q.After)
		if err != nil {
			return Page{}, fmt.Errorf("%w: cursor %q is not one of %s", ErrInvalid, q.After, class)
		}
		start = sort.Search(len(items), func(i int) bool { return items[i].seq > after })
	}
	var p Page
	released := false
	p.Release = func() {
		if released {
			panic("page released twice")
		}
		released = true
	}
	for i, it := range items {
		if len(q.Filter) > 0 && !q.Filter.Match(it.node) {
			continue
		}
		p.TotalCount++
		if i < start {
			continue
		}
		if len(p.Edges) < q.First {
			p.Edges = append(p.Edges, Edge{Cursor: strconv.Itoa(it.seq), Node: pageNode(it.node, q.Fields)})
		} else if len(p.Edges) == q.First && q.First > 0 {
			p.PageInfo.HasNextPage = true
		}
	}
	if n := len(p.Edges); n > 0 {
		p.PageInfo.EndCursor = p.Edges[n-1].Cursor
	}
	return p, nil
}

func (m *memData) Update(_ context.Context, class string, filter Filter, patch Record) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	n := 0
	for _, it := range m.arrays[class] {
		rec, ok := it.node.(map[string]any)
		if !ok || !filter.Match(rec) {
			continue
		}
		merge(rec, patch)
		n++
		m.notify(class, Change{Action: ChangeUpdate, Node: maps.Clone(rec)})
	}
	return n, nil
}

func (m *memData) Delete(_ context.Context, class string, filter Filter) (int, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return 0, m.fail
	}
	kept := m.arrays[class][:0]
	n := 0
	for _, it := range m.arrays[class] {
		if filter.Match(it.node) {
			n++
			m.notify(class, Change{Action: ChangeDelete, Node: it.node})
			continue
		}
		kept = append(kept, it)
	}
	m.arrays[class] = kept
	return n, nil
}

func (m *memData) Watch(ctx context.Context, class string) (<-chan Change, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	if m.fail != nil {
		return nil, m.fail
	}
	ch := make(chan Change, 64)
	if m.watchers[class] == nil {
		m.watchers[class] = map[chan Change]struct{}{}
	}
	m.watchers[class][ch] = struct{}{}
	go func() {
		<-ctx.Done()
		m.mu.Lock()
		defer m.mu.Unlock()
		delete(m.watchers[class], ch)
		close(ch)
	}()
	return ch, nil
}

// watching returns how many watchers class has, for tests to wait on.
func (m *memData) watching(class string) int {
	m.mu.Lock()
	defer m.mu.Unlock()
	return len(m.watchers[class])
}

// notify sends a change to the watchers of class; a full channel misses
// it, as Data allows. m.mu is held.
func (m *memData) notify(class string, c Change) {
	for ch := range m.watchers[class] {
		select {
		case ch <- c:
		default:
		}
	}
}

// snapshot returns the whole state as JSON, to check that a refused
// request changed nothing.
func (m *memData) snapshot() string {
	m.mu.Lock()
	defer m.mu.Unlock()
	b, err := json.Marshal(map[string]any{"objects": m.objects, "arrays": m.arraysJSON(), "seq": m.seq})
	if err != nil {
		panic(err)
	}
	return string(b)
}

func (m *memData) arraysJSON() map[string][]any {
	out := map[string][]any{}
	for k, items := range m.arrays {
		for _, it := range items {
			out[k] = append(out[k], it.node)
		}
	}
	return out
}
