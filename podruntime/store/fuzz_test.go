package store

import (
	"context"
	"errors"
	"testing"
)

// FuzzFilter feeds arbitrary filter documents through ParseFilterJSON and a
// query. The seed corpus (testdata/fuzz/FuzzFilter) has every operator on
// every field type, good and bad values. Neither may panic, every problem
// must be an ErrInvalid, and an accepted filter's matches must be a subset
// of the records with a count that agrees with the page.
func FuzzFilter(f *testing.F) {
	s := openStore(f, testOptions(f, localObjects(f), kitchenContract(f)))
	mustAppend(f, s, "items", operatorItems()...)
	mustAppend(f, s, "tags", "red", "green")
	ctx := context.Background()
	f.Fuzz(func(t *testing.T, class string, data []byte) {
		if class != "items" && class != "tags" {
			class = "items"
		}
		if len(data) > 2048 {
			return // long inputs find nothing new and are slow to minimize
		}
		filter, err := ParseFilterJSON(data)
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("ParseFilterJSON error is not ErrInvalid: %v", err)
			}
			return
		}
		p, err := s.Query(ctx, class, Query{Filter: filter, First: MaxFirst})
		if err != nil {
			if !errors.Is(err, ErrInvalid) {
				t.Fatalf("Query error is not ErrInvalid: %v", err)
			}
			return
		}
		if len(p.Edges) != p.TotalCount || p.PageInfo.HasNextPage {
			t.Fatalf("%d edges, total_count %d, has_next %t", len(p.Edges), p.TotalCount, p.PageInfo.HasNextPage)
		}
		if n, err := s.Count(ctx, class, filter); err != nil || n != p.TotalCount {
			t.Fatalf("Count = %d, %v; Query found %d", n, err, p.TotalCount)
		}
	})
}

// FuzzCursor checks that the cursor parser never panics and accepts only
// the cursors encodeCursor makes.
func FuzzCursor(f *testing.F) {
	for _, id := range []uint64{1, 300, 1 << 40} {
		f.Add(encodeCursor(id))
	}
	f.Add("")
	f.Add("AQ")
	f.Fuzz(func(t *testing.T, s string) {
		id, err := decodeCursor(s)
		if err != nil {
			return
		}
		if id == 0 || encodeCursor(id) != s {
			t.Fatalf("decodeCursor(%q) = %d, which encodes as %q", s, id, encodeCursor(id))
		}
	})
}

// FuzzDecodeBody feeds arbitrary bytes to the decoder of segment and chunk
// bodies. Bodies are authenticated before they are decoded, so this guards
// against bugs, not attackers: it must never panic or allocate without
// bound.
func FuzzDecodeBody(f *testing.F) {
	s := openStore(f, testOptions(f, localObjects(f), kitchenContract(f)))
	var w bodyWriter
	r := &row{id: 7, vals: make([]value, len(s.tables["items"].fields))}
	r.vals[0] = value{k: kUUID, s: uid(1)}
	r.vals[1] = value{k: kString, s: "x"}
	r.extra = []rawField{{name: "gone", v: rawValue{tag: tagInt, i: 3}}}
	w.add(&op{kind: opPut, t: s.tables["items"], row: r})
	w.add(&op{kind: opDelete, t: s.tables["items"], id: 7})
	w.add(&op{kind: opClaim})
	w.add(&op{kind: opPut, class: "unknown", row: &row{id: 1, extra: []rawField{{name: "a", v: rawValue{tag: tagString, s: "b"}}}}})
	var e encoder
	w.finish(&e)
	f.Add(e.buf)
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, data []byte) {
		d := decoder{buf: data}
		ops, err := s.decodeBody(&d)
		if err == nil && d.err != nil {
			t.Fatalf("decoded %d ops despite %v", len(ops), d.err)
		}
	})
}
