package store

import (
	"context"
	"encoding/base64"
	"encoding/binary"
	"fmt"
	"slices"
	"sync"

	"github.com/byoda-go/byoda/podruntime/field"
)

// Query asks for one page of the records of a class.
type Query struct {
	// Filter selects records; empty selects all.
	Filter Filter
	// First is the page size: DefaultFirst when 0, at most MaxFirst.
	First int
	// After is the cursor of the record the page starts after (an
	// EndCursor of an earlier page); empty starts at the beginning.
	After string
	// Fields, when set, are the only fields each record carries.
	Fields []string
	// SkipCount stops the scan at the first match past the page, for
	// callers that do not need Page.TotalCount (it is then zero).
	SkipCount bool
	// Rows makes each Edge.Node of a class of objects a *Row instead of a
	// map. Such a page should be given back with Page.Release once read.
	Rows bool
}

// Page is one page of a query's result, in the order records were
// appended.
type Page struct {
	Edges    []Edge
	PageInfo PageInfo
	// TotalCount is how many records match the filter, on all pages.
	TotalCount int

	buf *pageBuf // the memory of a page of Rows, for Release
}

// pageBuf is the memory of a page of Rows: the page itself, its edges and
// the rows' values, reused by later queries once the page is released. A
// 20-record page is several kilobytes that would otherwise be garbage after
// every request.
type pageBuf struct {
	page    Page
	edges   []Edge
	slots   []int
	ids     []uint64
	cursors []byte
	vals    []field.Value
	rows    []Row
}

var pageBufs = sync.Pool{New: func() any { return new(pageBuf) }}

// maxPooledValues keeps the odd huge page from pinning its memory.
const maxPooledValues = 1 << 14

// Release gives the memory of a page of Rows (Query.Rows) back for later
// queries. Neither the page nor its edges, rows and values may be used
// after. A page that is not released is left to the garbage collector;
// releasing a page without Rows does nothing.
func (p *Page) Release() {
	b := p.buf
	if b == nil {
		return
	}
	clear(b.edges)
	clear(b.vals)
	clear(b.rows)
	b.page = Page{}
	if cap(b.vals) <= maxPooledValues {
		pageBufs.Put(b)
	}
}

// Edge is one record of a page with its cursor.
type Edge struct {
	// Cursor identifies the record's place; it stays valid while records
	// are appended, updated or deleted.
	Cursor string
	// Node is the record: a map of field names to values (string, int64,
	// float64, bool, or []any for arrays), or a *Row with Query.Rows, or,
	// for an array of scalars, the value itself.
	Node any
}

// PageInfo tells how to get the next page.
type PageInfo struct {
	// EndCursor is the cursor of the page's last edge ("" if it has none).
	EndCursor string
	// HasNextPage is true when records after the page match the filter.
	HasNextPage bool
}

// Query returns a page of the records of class that match q.Filter.
func (s *Store) Query(ctx context.Context, class string, q Query) (*Page, error) {
	first := q.First
	switch {
	case first == 0:
		first = DefaultFirst
	case first < 0 || first > MaxFirst:
		return nil, fmt.Errorf("%w: query %q: first is %d; want 1 to %d", ErrInvalid, class, q.First, MaxFirst)
	}
	return s.query(ctx, class, q, first)
}

// Count returns how many records of class match filter (all records for an
// empty filter).
func (s *Store) Count(ctx context.Context, class string, filter Filter) (int, error) {
	p, err := s.query(ctx, class, Query{Filter: filter}, 0)
	if err != nil {
		return 0, err
	}
	return p.TotalCount, nil
}

func (s *Store) query(ctx context.Context, class string, q Query, first int) (*Page, error) {
	t, err := s.table(class)
	if err != nil {
		return nil, err
	}
	var after uint64
	if q.After != "" {
		if after, err = decodeCursor(q.After); err != nil {
			return nil, fmt.Errorf("%w: query %q: %w", ErrInvalid, class, err)
		}
	}
	conds, err := compileFilter(t, q.Filter)
	if err != nil {
		return nil, err
	}
	proj, err := t.projection(q.Fields)
	if err != nil {
		return nil, fmt.Errorf("%w: query %q: %w", ErrInvalid, class, err)
	}
	if err := ctx.Err(); err != nil {
		return nil, err
	}
	now := s.expire()
	s.mu.RLock()
	defer s.mu.RUnlock()
	return t.query(conds, after, first, now, proj, q.SkipCount, q.Rows && !t.scalar), nil
}

// projection returns the positions of fields, in their order (repeats
// included, so that Row.Values()[i] is the value of fields[i]).
func (t *table) projection(fields []string) ([]int, error) {
	if fields == nil || t.scalar {
		return nil, nil
	}
	proj := make([]int, len(fields))
	for i, f := range fields {
		pos, ok := t.pos[f]
		if !ok {
			return nil, fmt.Errorf("fields: unknown field %q; want one of %s", f, quoteAll(t.fields))
		}
		proj[i] = pos
	}
	return proj, nil
}

func (t *table) query(conds []cond, after uint64, first int, now int64, proj []int, skipCount, rows bool) *Page {
	var page *Page
	var buf *pageBuf
	var slots []int
	var ids []uint64
	var scratch []byte
	if rows {
		buf = pageBufs.Get().(*pageBuf)
		page = &buf.page
		page.buf = buf
		page.Edges, slots, ids, scratch = buf.edges[:0], buf.slots[:0], buf.ids[:0], buf.cursors
	} else {
		page = &Page{Edges: make([]Edge, 0, min(first, 64))}
		ids = make([]uint64, 0, min(first, 64))
	}
	// Without a filter or expiry every live record matches: the count is
	// known without visiting them.
	known := len(conds) == 0 && t.exp == nil && !skipCount
	if known {
		skipCount = true
	}
	t.scan(conds, now, func(slot int) bool {
		page.TotalCount++
		id := t.ids[slot]
		switch {
		case id <= after:
		case len(page.Edges) < first:
			var e Edge // its cursor comes after the scan: setCursors
			ids = append(ids, id)
			if rows {
				slots = append(slots, slot)
			} else {
				e.Node = t.record(slot, proj)
			}
			page.Edges = append(page.Edges, e)
		default:
			page.PageInfo.HasNextPage = true
			return !skipCount
		}
		return true
	})
	switch {
	case known:
		page.TotalCount = t.live()
	case skipCount:
		page.TotalCount = 0
	}
	scratch = setCursors(page.Edges, ids, scratch)
	if n := len(page.Edges); n > 0 {
		page.PageInfo.EndCursor = page.Edges[n-1].Cursor
	}
	if rows {
		buf.edges, buf.slots, buf.ids, buf.cursors = page.Edges, slots, ids, scratch
		t.rows(buf, proj)
		for i := range buf.rows {
			page.Edges[i].Node = &buf.rows[i]
		}
	}
	return page
}

// setCursors gives each edge the cursor of its record's id, all of them
// substrings of one string: one allocation for a page instead of one per
// edge. scratch is reused to build it, and returned.
func setCursors(edges []Edge, ids []uint64, scratch []byte) []byte {
	scratch = scratch[:0]
	for _, id := range ids {
		scratch = appendCursor(scratch, id)
	}
	all := string(scratch)
	for i, id := range ids {
		n := cursorLen(id)
		edges[i].Cursor, all = all[:n], all[n:]
	}
	return scratch
}

// scan calls visit with the slot of every live record that matches conds,
// in id order, until visit returns false. When a condition can use an index, only the records the
// index names are looked at.
func (t *table) scan(conds []cond, now int64, visit func(slot int) bool) {
	if ids, ok := t.candidates(conds); ok {
		for _, id := range ids {
			if slot, ok := t.slotOf(id); ok && t.isLive(slot, now) && t.matches(conds, slot) && !visit(slot) {
				return
			}
		}
		return
	}
	for slot := range t.ids {
		if t.isLive(slot, now) && t.matches(conds, slot) && !visit(slot) {
			return
		}
	}
}

// candidates returns, in id order, the ids an index gives for the most
// selective indexed condition, or false when no condition has an index.
func (t *table) candidates(conds []cond) ([]uint64, bool) {
	best, bestSize := -1, 0
	for i := range conds {
		c := &conds[i]
		idx := t.indexes[c.pos]
		if !c.usable || idx == nil {
			continue
		}
		size := 0
		for _, k := range c.keys {
			size += len(idx[k])
		}
		if best < 0 || size < bestSize {
			best, bestSize = i, size
		}
	}
	if best < 0 {
		return nil, false
	}
	c := &conds[best]
	idx := t.indexes[c.pos]
	if len(c.keys) == 1 {
		return idx[c.keys[0]], true
	}
	ids := make([]uint64, 0, bestSize)
	for _, k := range c.keys {
		ids = append(ids, idx[k]...)
	}
	slices.Sort(ids)
	return slices.Compact(ids), true
}

// Cursors are the base64url encoding of a version byte and the record's id
// as a varint. Ids grow with every append and are never reused, so a
// cursor keeps its place while records come and go.
const cursorVersion = 1

func encodeCursor(id uint64) string { return string(appendCursor(nil, id)) }

// appendCursor appends the cursor of id to dst.
func appendCursor(dst []byte, id uint64) []byte {
	var b [1 + binary.MaxVarintLen64]byte
	b[0] = cursorVersion
	n := binary.PutUvarint(b[1:], id)
	return base64.RawURLEncoding.AppendEncode(dst, b[:1+n])
}

// cursorLen is len(encodeCursor(id)).
func cursorLen(id uint64) int {
	n := 1
	for ; id >= 0x80; id >>= 7 {
		n++
	}
	return base64.RawURLEncoding.EncodedLen(1 + n)
}

func decodeCursor(s string) (uint64, error) {
	b, err := base64.RawURLEncoding.DecodeString(s)
	if err != nil || len(b) < 2 || b[0] != cursorVersion {
		return 0, fmt.Errorf("invalid cursor %q; want an end_cursor or edge cursor of an earlier page", truncate(s))
	}
	id, n := binary.Uvarint(b[1:])
	if n <= 0 || 1+n != len(b) || id == 0 || encodeCursor(id) != s {
		return 0, fmt.Errorf("invalid cursor %q; want an end_cursor or edge cursor of an earlier page", truncate(s))
	}
	return id, nil
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
