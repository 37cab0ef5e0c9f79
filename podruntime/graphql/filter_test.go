package graphql

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

func TestFilterMatch(t *testing.T) {
	rec := Record{
		"city":  "Amsterdam",
		"n":     int64(5),
		"f":     2.5,
		"j":     json.Number("7"),
		"ok":    true,
		"at":    "2025-03-01T12:00:00+01:00",
		"empty": nil,
	}
	noon := time.Date(2025, 3, 1, 11, 0, 0, 0, time.UTC)
	for _, tc := range []struct {
		name string
		c    Condition
		want bool
	}{
		{"eq", Condition{Field: "city", Op: OpEq, Value: "Amsterdam"}, true},
		{"eq is case sensitive", Condition{Field: "city", Op: OpEq, Value: "amsterdam"}, false},
		{"ne", Condition{Field: "city", Op: OpNe, Value: "Utrecht"}, true},
		{"vin", Condition{Field: "city", Op: OpIn, Value: []string{"Utrecht", "Amsterdam"}}, true},
		{"nin", Condition{Field: "city", Op: OpNotIn, Value: []string{"Utrecht", "Amsterdam"}}, false},
		{"regex anywhere", Condition{Field: "city", Op: OpRegex, Value: "ster"}, true},
		{"bad regex matches nothing", Condition{Field: "city", Op: OpRegex, Value: "("}, false},
		{"glob whole value", Condition{Field: "city", Op: OpGlob, Value: "Am*m"}, true},
		{"glob not a prefix", Condition{Field: "city", Op: OpGlob, Value: "Am"}, false},
		{"glob ?", Condition{Field: "city", Op: OpGlob, Value: "?msterda?"}, true},
		{"glob backtracks", Condition{Field: "city", Op: OpGlob, Value: "*a*a*"}, false},
		{"glob many stars", Condition{Field: "city", Op: OpGlob, Value: "***d*"}, true},
		{"int gt", Condition{Field: "n", Op: OpGt, Value: int64(4)}, true},
		{"int elt", Condition{Field: "n", Op: OpLe, Value: int64(4)}, false},
		{"float egt", Condition{Field: "f", Op: OpGe, Value: 2.5}, true},
		{"json number lt", Condition{Field: "j", Op: OpLt, Value: int64(8)}, true},
		{"int against float", Condition{Field: "n", Op: OpEq, Value: 5.0}, true},
		{"bool eq", Condition{Field: "ok", Op: OpEq, Value: true}, true},
		{"bool ne", Condition{Field: "ok", Op: OpNe, Value: true}, false},
		{"time at across zones", Condition{Field: "at", Op: OpEq, Value: noon}, true},
		{"time after", Condition{Field: "at", Op: OpGt, Value: noon.Add(-time.Second)}, true},
		{"time before", Condition{Field: "at", Op: OpLt, Value: noon}, false},
		{"missing eq", Condition{Field: "nope", Op: OpEq, Value: "x"}, false},
		{"missing ne", Condition{Field: "nope", Op: OpNe, Value: "x"}, true},
		{"null nin", Condition{Field: "empty", Op: OpNotIn, Value: []string{"x"}}, true},
		{"type mismatch gt", Condition{Field: "city", Op: OpGt, Value: int64(1)}, false},
		{"type mismatch ne", Condition{Field: "city", Op: OpNe, Value: int64(1)}, true},
	} {
		if got := tc.c.Match(rec); got != tc.want {
			t.Errorf("%s: Match = %t; want %t", tc.name, got, tc.want)
		}
	}
	// A scalar item is compared itself.
	if !(Filter{{Op: OpGe, Value: int64(3)}, {Op: OpLt, Value: int64(4)}}).Match(int64(3)) {
		t.Errorf("scalar filter")
	}
	if (Filter{{Field: "city", Op: OpEq, Value: "x"}}).Match("x") {
		t.Errorf("a field condition matched a scalar")
	}
	if !(Filter{}).Match(rec) {
		t.Errorf("an empty filter must match everything")
	}
}

// TestAppendStringEveryPlace puts each character that needs care at every
// place of strings long enough to cross the word-at-a-time fast path, and
// checks that the JSON is valid, decodes to the input, and escapes what it
// must.
func TestAppendStringEveryPlace(t *testing.T) {
	for _, special := range []string{`"`, `\`, "\n", "\x00", "\x1f", " ", "~", "\x7f", "é", "\u2028", "🎉"} {
		for n := range 20 {
			for at := 0; at <= n; at++ {
				in := strings.Repeat("a", at) + special + strings.Repeat("b", n-at)
				got := appendString(nil, in)
				var back string
				if err := json.Unmarshal(got, &back); err != nil || back != in {
					t.Fatalf("appendString(%q) = %s; decodes to %q, %v", in, got, back, err)
				}
				if bytes.ContainsAny(got[1:len(got)-1], "\x00\x1f\n\u2028") || bytes.Count(got, []byte(`"`)) != 2+strings.Count(in, `"`) {
					t.Fatalf("appendString(%q) = %s does not escape what it must", in, got)
				}
			}
		}
	}
}

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          `"plain"`,
		"q\"b\\":         `"q\"b\\"`,
		"\n\t\r\x01":     `"\n\t\r\u0001"`,
		"bad \xff utf8":  `"bad \ufffd utf8"`,
		"line\u2028sep":  `"line\u2028sep"`,
		"émoji 🎉 <&>":    `"émoji 🎉 <&>"`,
		"\x7f delete ok": "\"\x7f delete ok\"",
	} {
		got := string(appendString(nil, in))
		if got != want {
			t.Errorf("appendString(%q) = %s; want %s", in, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendString(%q) = %s is not JSON", in, got)
		}
	}
}
