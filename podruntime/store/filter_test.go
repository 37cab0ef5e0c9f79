package store

import (
	"context"
	"encoding/json"
	"errors"
	"reflect"
	"strings"
	"testing"
	"time"
)

var opBase = time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)

func ts(hours int) string { return opBase.Add(time.Duration(hours) * time.Hour).Format(time.RFC3339) }

// operatorItems are five records that differ in every field type; the
// fifth lacks most fields, to show how absent values filter.
func operatorItems() []any {
	return []any{
		map[string]any{"item_id": uid(1), "name": "apple", "kind": "fruit", "size": 1, "weight": 0.5, "flag": true, "created": ts(1), "owner": uid(101), "note": "red apple"},
		map[string]any{"item_id": uid(2), "name": "banana", "kind": "fruit", "size": 2, "weight": 1.5, "flag": false, "created": ts(2), "owner": uid(102)},
		map[string]any{"item_id": uid(3), "name": "carrot", "kind": "veg", "size": 3, "weight": 2.5, "flag": true, "created": ts(3)},
		map[string]any{"item_id": uid(4), "name": "Date", "kind": "fruit", "size": 4, "weight": 3.5, "created": ts(4), "note": "sweet\nbrown"},
		map[string]any{"item_id": uid(5), "name": "eggplant", "created": ts(5)},
	}
}

// TestFilterOperators checks every operator of every field type, on
// indexed (kind, created, item_id) and unindexed fields.
func TestFilterOperators(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	mustAppend(t, s, "items", operatorItems()...)

	c := func(field string, op Op, v any) Condition { return Condition{Field: field, Op: op, Value: v} }
	tests := []struct {
		name   string
		filter Filter
		want   string
	}{
		{"no filter", nil, "apple,banana,carrot,Date,eggplant"},

		{"string eq", Filter{c("name", OpEq, "apple")}, "apple"},
		{"string eq is case-sensitive", Filter{c("name", OpEq, "date")}, ""},
		{"string ne matches absent", Filter{c("note", OpNe, "red apple")}, "banana,carrot,Date,eggplant"},
		{"string vin", Filter{c("name", OpVin, []any{"apple", "carrot", "zzz"})}, "apple,carrot"},
		{"string vin []string", Filter{c("name", OpVin, []string{"banana"})}, "banana"},
		{"string vin empty", Filter{c("name", OpVin, []any{})}, ""},
		{"string nin", Filter{c("name", OpNin, []any{"apple", "carrot"})}, "banana,Date,eggplant"},
		{"string nin matches absent", Filter{c("note", OpNin, []any{"red apple"})}, "banana,carrot,Date,eggplant"},
		{"string regex unanchored", Filter{c("name", OpRegex, "an")}, "banana,eggplant"},
		{"string regex anchored", Filter{c("name", OpRegex, "^[A-Z]")}, "Date"},
		{"string regex case-insensitive flag", Filter{c("name", OpRegex, "(?i)^d")}, "Date"},
		{"string regex absent never matches", Filter{c("note", OpRegex, ".*")}, "apple,Date"},
		{"string glob star", Filter{c("name", OpGlob, "*a*")}, "apple,banana,carrot,Date,eggplant"},
		{"string glob whole value", Filter{c("name", OpGlob, "a*")}, "apple"},
		{"string glob question", Filter{c("name", OpGlob, "?a*")}, "banana,carrot,Date"},
		{"string glob class", Filter{c("name", OpGlob, "[ab]*")}, "apple,banana"},
		{"string glob negated class", Filter{c("name", OpGlob, "[!ab]*")}, "carrot,Date,eggplant"},
		{"string glob range", Filter{c("name", OpGlob, "[c-e]*")}, "carrot,eggplant"},
		{"string glob escape", Filter{c("name", OpGlob, `\a*`)}, "apple"},
		{"string glob star crosses newline", Filter{c("note", OpGlob, "sweet*")}, "Date"},
		{"string glob regexp chars are literal", Filter{c("name", OpGlob, "app.e")}, ""},

		{"indexed string eq", Filter{c("kind", OpEq, "fruit")}, "apple,banana,Date"},
		{"indexed string ne", Filter{c("kind", OpNe, "fruit")}, "carrot,eggplant"},
		{"indexed string vin", Filter{c("kind", OpVin, []any{"veg", "fruit"})}, "apple,banana,carrot,Date"},
		{"indexed string eq none", Filter{c("kind", OpEq, "meat")}, ""},

		{"integer eq", Filter{c("size", OpEq, 2)}, "banana"},
		{"integer eq float64", Filter{c("size", OpEq, 2.0)}, "banana"},
		{"integer eq json.Number", Filter{c("size", OpEq, json.Number("3"))}, "carrot"},
		{"integer eq fraction", Filter{c("size", OpEq, 2.5)}, ""},
		{"integer ne", Filter{c("size", OpNe, 2)}, "apple,carrot,Date,eggplant"},
		{"integer gt", Filter{c("size", OpGt, 2)}, "carrot,Date"},
		{"integer gt fraction", Filter{c("size", OpGt, 2.5)}, "carrot,Date"},
		{"integer lt", Filter{c("size", OpLt, 2)}, "apple"},
		{"integer egt", Filter{c("size", OpEgt, 2)}, "banana,carrot,Date"},
		{"integer elt", Filter{c("size", OpElt, 2)}, "apple,banana"},
		{"integer elt fraction", Filter{c("size", OpElt, 2.5)}, "apple,banana"},

		{"number eq", Filter{c("weight", OpEq, 1.5)}, "banana"},
		{"number ne", Filter{c("weight", OpNe, 1.5)}, "apple,carrot,Date,eggplant"},
		{"number gt", Filter{c("weight", OpGt, 1)}, "banana,carrot,Date"},
		{"number lt", Filter{c("weight", OpLt, 1)}, "apple"},
		{"number egt", Filter{c("weight", OpEgt, 1.5)}, "banana,carrot,Date"},
		{"number elt", Filter{c("weight", OpElt, 1.5)}, "apple,banana"},
		{"number gt integer operand", Filter{c("weight", OpGt, 3)}, "Date"},

		{"uuid eq", Filter{c("owner", OpEq, uid(102))}, "banana"},
		{"uuid eq upper case", Filter{c("owner", OpEq, strings.ToUpper(uid(101)))}, "apple"},
		{"uuid ne", Filter{c("owner", OpNe, uid(102))}, "apple,carrot,Date,eggplant"},
		{"indexed uuid eq", Filter{c("item_id", OpEq, uid(3))}, "carrot"},
		{"indexed uuid eq upper case", Filter{c("item_id", OpEq, strings.ToUpper(uid(3)))}, "carrot"},
		{"indexed uuid ne", Filter{c("item_id", OpNe, uid(3))}, "apple,banana,Date,eggplant"},

		{"date-time at", Filter{c("created", OpAt, ts(2))}, "banana"},
		{"date-time at other offset", Filter{c("created", OpAt, "2025-01-01T04:00:00+02:00")}, "banana"},
		{"date-time at fractional seconds", Filter{c("created", OpAt, "2025-01-01T02:00:00.000Z")}, "banana"},
		{"date-time at epoch seconds", Filter{c("created", OpAt, opBase.Add(2*time.Hour).Unix())}, "banana"},
		{"date-time at epoch float", Filter{c("created", OpAt, float64(opBase.Add(2*time.Hour).Unix()))}, "banana"},
		{"date-time at epoch json.Number", Filter{c("created", OpAt, json.Number("1735696800"))}, "banana"},
		{"date-time at epoch string", Filter{c("created", OpAt, "1735696800")}, "banana"},
		{"date-time at time.Time", Filter{c("created", OpAt, opBase.Add(2*time.Hour))}, "banana"},
		{"date-time nat", Filter{c("created", OpNat, ts(2))}, "apple,carrot,Date,eggplant"},
		{"date-time after", Filter{c("created", OpAfter, ts(2))}, "carrot,Date,eggplant"},
		{"date-time before", Filter{c("created", OpBefore, ts(2))}, "apple"},
		{"date-time atafter", Filter{c("created", OpAtAfter, ts(2))}, "banana,carrot,Date,eggplant"},
		{"date-time atbefore", Filter{c("created", OpAtBefore, ts(2))}, "apple,banana"},
		{"date-time between", Filter{c("created", OpAfter, ts(1)), c("created", OpBefore, ts(4))}, "banana,carrot"},
		{"date-time unindexed absent", Filter{c("seen", OpNat, ts(1))}, "apple,banana,carrot,Date,eggplant"},
		{"date-time unindexed absent positive", Filter{c("seen", OpAtBefore, ts(9))}, ""},

		{"boolean eq true", Filter{c("flag", OpEq, true)}, "apple,carrot"},
		{"boolean eq false", Filter{c("flag", OpEq, false)}, "banana"},
		{"boolean ne true matches absent", Filter{c("flag", OpNe, true)}, "banana,Date,eggplant"},

		{"and", Filter{c("kind", OpEq, "fruit"), c("size", OpGt, 1)}, "banana,Date"},
		{"and indexed both", Filter{c("kind", OpEq, "fruit"), c("item_id", OpEq, uid(4))}, "Date"},
		{"and contradiction", Filter{c("kind", OpEq, "fruit"), c("kind", OpEq, "veg")}, ""},
	}
	ctx := context.Background()
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			p, err := s.Query(ctx, "items", Query{Filter: tc.filter, First: MaxFirst})
			if err != nil {
				t.Fatalf("Query: %v", err)
			}
			if got := names(p); got != tc.want {
				t.Errorf("matched %q, want %q", got, tc.want)
			}
			wantN := 0
			if tc.want != "" {
				wantN = strings.Count(tc.want, ",") + 1
			}
			if p.TotalCount != wantN {
				t.Errorf("total_count %d, want %d", p.TotalCount, wantN)
			}
			if n, err := s.Count(ctx, "items", tc.filter); err != nil || n != wantN {
				t.Errorf("Count = %d, %v; want %d", n, err, wantN)
			}
		})
	}
}

// TestReferenceDateTime is the reference's own expectation: 5 records with
// distinct timestamps, filtered against the 2nd timestamp.
func TestReferenceDateTime(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		opts := testOptions(t, b.new(t), demoContract(t))
		s := openStore(t, opts)
		for i := range 5 {
			mustAppend(t, s, "network_links", map[string]any{
				"created_timestamp": ts(i), "member_id": uid(i), "relation": "friend",
			})
		}
		want := map[Op]int{OpAt: 1, OpNat: 4, OpBefore: 1, OpAfter: 3, OpAtBefore: 2, OpAtAfter: 4}
		check := func(s *Store) {
			for op, n := range want {
				p := mustQuery(t, s, "network_links", Query{Filter: Filter{{Field: "created_timestamp", Op: op, Value: ts(1)}}})
				if len(p.Edges) != n || p.TotalCount != n {
					t.Errorf("%s: %d edges, total_count %d; want %d", op, len(p.Edges), p.TotalCount, n)
				}
			}
		}
		check(s)
		check(reopen(t, s, opts))
	})
}

// TestReferencePagination is the reference's own expectation: 50 records in
// pages of 20.
func TestReferencePagination(t *testing.T) {
	forBackends(t, func(t *testing.T, b backend) {
		opts := testOptions(t, b.new(t), demoContract(t))
		s := openStore(t, opts)
		recs := make([]any, 50)
		for i := range recs {
			recs[i] = map[string]any{"created_timestamp": ts(i), "member_id": uid(i), "relation": "friend"}
		}
		mustAppend(t, s, "network_links", recs...)

		var cursors []string
		read := func(s *Store) {
			cursors = cursors[:0]
			after := ""
			for i, want := range []struct {
				n    int
				next bool
			}{{20, true}, {20, true}, {10, false}} {
				p := mustQuery(t, s, "network_links", Query{First: 20, After: after})
				if len(p.Edges) != want.n || p.PageInfo.HasNextPage != want.next {
					t.Fatalf("page %d: %d edges, has_next_page %t; want %d, %t", i, len(p.Edges), p.PageInfo.HasNextPage, want.n, want.next)
				}
				if p.PageInfo.EndCursor != p.Edges[len(p.Edges)-1].Cursor {
					t.Fatalf("page %d: end_cursor %q is not the last edge's cursor %q", i, p.PageInfo.EndCursor, p.Edges[len(p.Edges)-1].Cursor)
				}
				if p.TotalCount != 50 {
					t.Fatalf("page %d: total_count %d, want 50", i, p.TotalCount)
				}
				for j, e := range p.Edges {
					if got := e.Node.(map[string]any)["member_id"]; got != uid(i*20+j) {
						t.Fatalf("page %d edge %d is %v, want %s", i, j, got, uid(i*20+j))
					}
					cursors = append(cursors, e.Cursor)
				}
				after = p.PageInfo.EndCursor
			}
		}
		read(s)
		before := append([]string(nil), cursors...)

		// Without total_count the pages and has_next_page are the same.
		after := ""
		for i, want := range []struct {
			n    int
			next bool
		}{{20, true}, {20, true}, {10, false}} {
			p := mustQuery(t, s, "network_links", Query{First: 20, After: after, SkipCount: true})
			if len(p.Edges) != want.n || p.PageInfo.HasNextPage != want.next || p.Edges[0].Cursor != before[i*20] {
				t.Fatalf("SkipCount page %d: %d edges from %q, has_next_page %t; want %d from %q, %t",
					i, len(p.Edges), p.Edges[0].Cursor, p.PageInfo.HasNextPage, want.n, before[i*20], want.next)
			}
			after = p.PageInfo.EndCursor
		}

		s = reopen(t, s, opts)
		read(s)
		if !reflect.DeepEqual(cursors, before) {
			t.Fatalf("cursors changed across a restore")
		}
	})
}

// TestCursorStable shows that a cursor keeps its place while records are
// appended and deleted around it.
func TestCursorStable(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	ctx := context.Background()
	for i := range 10 {
		mustAppend(t, s, "items", map[string]any{"item_id": uid(i), "name": string(rune('a' + i))})
	}
	p := mustQuery(t, s, "items", Query{First: 4})
	if names(p) != "a,b,c,d" {
		t.Fatalf("first page %s", names(p))
	}
	// Delete the cursor's own record and one after it, append more.
	if n, err := s.Delete(ctx, "items", Filter{{Field: "name", Op: OpVin, Value: []any{"d", "f"}}}); err != nil || n != 2 {
		t.Fatalf("Delete = %d, %v", n, err)
	}
	mustAppend(t, s, "items", map[string]any{"item_id": uid(20), "name": "z"})
	p = mustQuery(t, s, "items", Query{First: 4, After: p.PageInfo.EndCursor})
	if names(p) != "e,g,h,i" || !p.PageInfo.HasNextPage {
		t.Fatalf("next page %s (has_next %t), want e,g,h,i and more", names(p), p.PageInfo.HasNextPage)
	}
	p = mustQuery(t, s, "items", Query{First: 4, After: p.PageInfo.EndCursor})
	if names(p) != "j,z" || p.PageInfo.HasNextPage {
		t.Fatalf("last page %s (has_next %t), want j,z and no more", names(p), p.PageInfo.HasNextPage)
	}
	// A page after the last record is empty.
	p = mustQuery(t, s, "items", Query{After: p.PageInfo.EndCursor})
	if len(p.Edges) != 0 || p.PageInfo.HasNextPage || p.PageInfo.EndCursor != "" || p.TotalCount != 9 {
		t.Fatalf("page past the end: %+v", p)
	}
}

func TestFilterErrors(t *testing.T) {
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	mustAppend(t, s, "items", operatorItems()...)
	mustAppend(t, s, "tags", "x")
	c := func(field string, op Op, v any) Filter { return Filter{{Field: field, Op: op, Value: v}} }
	tests := []struct {
		class  string
		filter Filter
		want   []string
	}{
		{"items", c("nope", OpEq, "x"), []string{`unknown field "nope"`, `"item_id"`}},
		{"items", c("name", "like", "x"), []string{`"name"`, `unknown operator "like"`, "eq, ne, vin, nin, regex, glob"}},
		{"items", c("name", OpGt, "x"), []string{`"name" (string)`, `operator "gt" does not apply`}},
		{"items", c("size", OpRegex, "x"), []string{`"size" (integer)`, `operator "regex"`, "eq, ne, gt, lt, egt, elt"}},
		{"items", c("item_id", OpVin, []any{uid(1)}), []string{`"item_id" (uuid)`, `operator "vin"`, "want one of eq, ne"}},
		{"items", c("created", OpEq, ts(1)), []string{`"created" (date-time)`, `operator "eq"`, "at, nat, after"}},
		{"items", c("flag", OpGt, true), []string{`"flag" (boolean)`, `operator "gt"`}},
		{"items", c("name", OpEq, 5), []string{`"name"`, `operator "eq"`, "want a string, got 5"}},
		{"items", c("item_id", OpEq, "nope"), []string{`"item_id"`, "want a UUID", `got "nope"`}},
		{"items", c("created", OpAt, "yesterday"), []string{`"created"`, `operator "at"`, "RFC 3339"}},
		{"items", c("labels", OpEq, "x"), []string{`"labels" is an array`}},
		{"items", c("name", OpRegex, "("), []string{`"name"`, `operator "regex"`, "invalid pattern"}},
		{"items", c("name", OpGlob, 3), []string{`"name"`, `operator "glob"`, "want a pattern string"}},
		{"items", c("name", OpVin, "x"), []string{`"name"`, `operator "vin"`, "want a list of strings"}},
		{"items", c("name", OpVin, []any{"x", 3}), []string{"want a list of strings"}},
		{"items", c("size", OpGt, "3"), []string{`"size"`, "want a number"}},
		{"items", c("flag", OpEq, "true"), []string{`"flag"`, "want true or false"}},
		{"items", c("name", OpRegex, strings.Repeat("a", maxPattern+1)), []string{"at most 1024"}},
		{"tags", c("name", OpEq, "x"), []string{`"tags" holds single values`, `field ""`}},
	}
	for _, tc := range tests {
		_, err := s.Query(context.Background(), tc.class, Query{Filter: tc.filter})
		if !errors.Is(err, ErrInvalid) {
			t.Errorf("%v: error %v, want ErrInvalid", tc.filter, err)
			continue
		}
		for _, w := range tc.want {
			if !strings.Contains(err.Error(), w) {
				t.Errorf("%v: error %q does not contain %q", tc.filter, err, w)
			}
		}
		// Update and Delete check filters the same way.
		if _, err := s.Delete(context.Background(), tc.class, tc.filter); !errors.Is(err, ErrInvalid) {
			t.Errorf("Delete %v: error %v, want ErrInvalid", tc.filter, err)
		}
	}
	if _, err := s.Query(context.Background(), "nope", Query{}); !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `unknown class "nope"`) {
		t.Errorf("unknown class: %v", err)
	}
}

func TestParseFilter(t *testing.T) {
	f, err := ParseFilterJSON([]byte(`{"size": {"gt": 2, "elt": 4.5}, "name": {"vin": ["a", "b"]}}`))
	if err != nil {
		t.Fatal(err)
	}
	want := Filter{
		{Field: "name", Op: OpVin, Value: []any{"a", "b"}},
		{Field: "size", Op: OpElt, Value: json.Number("4.5")},
		{Field: "size", Op: OpGt, Value: json.Number("2")},
	}
	if !reflect.DeepEqual(f, want) {
		t.Fatalf("ParseFilterJSON = %#v, want %#v", f, want)
	}
	for in, msg := range map[string]string{
		`{"name": "apple"}`:         `field "name": want an object of operators`,
		`{"name": {}}`:              `field "name": no operator`,
		`{"name": {"like": "a%"}}`:  `unknown operator "like"`,
		`{"name": {"eq": "a"}} {}`:  "unexpected data",
		`[{"name": {"eq": "a"}}]`:   "invalid JSON",
		`{"name": {"eq": "a"}`:      "invalid JSON",
		`{"a": {"eq": 1}, "b": 2}`:  `field "b"`,
		`{"name": {"regex": null}}`: "", // shape is fine; the store rejects the value
	} {
		_, err := ParseFilterJSON([]byte(in))
		switch {
		case msg == "" && err != nil:
			t.Errorf("%s: %v", in, err)
		case msg != "" && (!errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), msg)):
			t.Errorf("%s: error %v, want ErrInvalid containing %q", in, err, msg)
		}
	}
}

func TestCursorParsing(t *testing.T) {
	for _, id := range []uint64{1, 127, 128, 1 << 40, 1<<64 - 1} {
		got, err := decodeCursor(encodeCursor(id))
		if err != nil || got != id {
			t.Errorf("round trip of %d: %d, %v", id, got, err)
		}
	}
	for _, bad := range []string{"x", "AQ", "AgE", "AYAA", "AQE=", "AQEB", "!!!!", encodeCursor(5) + "A"} {
		if _, err := decodeCursor(bad); err == nil {
			t.Errorf("decodeCursor(%q) accepted", bad)
		}
	}
	s := openStore(t, testOptions(t, localObjects(t), kitchenContract(t)))
	_, err := s.Query(context.Background(), "items", Query{After: "garbage"})
	if !errors.Is(err, ErrInvalid) || !strings.Contains(err.Error(), `invalid cursor "garbage"`) {
		t.Errorf("Query with a bad cursor: %v", err)
	}
}
