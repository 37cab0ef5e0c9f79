package store

import (
	"fmt"
	"strings"
	"testing"
)

// TestStrs: values read back as written through overwrites, clears, inserts
// and rebuilds of the arena; a string handed out never changes; a value
// too long for a span is kept aside; waste is reclaimed.
func TestStrs(t *testing.T) {
	var s strs
	want := map[int]string{}
	check := func(when string) {
		t.Helper()
		for slot := range s.spans {
			if got := s.get(slot); got != want[slot] {
				t.Fatalf("%s: slot %d = %.20q, want %.20q", when, slot, got, want[slot])
			}
		}
	}
	const n = 1000
	for i := range n {
		s.appendSlot()
		v := fmt.Sprintf("value %d", i)
		if i%7 == 0 {
			v = ""
		}
		s.put(i, v)
		want[i] = v
	}
	check("filled")
	held := s.get(1) // a string a caller keeps

	// Overwrite every slot many times: the waste forces rebuilds.
	for round := range 200 {
		for i := range n {
			v := fmt.Sprintf("round %d value %d %s", round, i, strings.Repeat("x", i%50))
			s.put(i, v)
			want[i] = v
		}
	}
	check("overwritten")
	if held != "value 1" {
		t.Errorf("a string handed out changed to %q", held)
	}
	if live := len(s.arena) - s.waste; s.waste > minRebuild && s.waste > live {
		t.Errorf("waste %d of arena %d was not reclaimed", s.waste, len(s.arena))
	}

	long := strings.Repeat("L", maxLen+1)
	s.put(3, long)
	want[3] = long
	s.drop(4)
	want[4] = ""
	check("long value and a clear")

	s.insert(2)
	for i := len(s.spans) - 1; i > 2; i-- {
		want[i] = want[i-1]
	}
	want[2] = ""
	check("insert")
	if s.get(4) != long {
		t.Errorf("the long value did not move with its slot")
	}
	s.put(4, "short again")
	want[4] = "short again"
	check("long value replaced")
	if len(s.long) != 0 {
		t.Errorf("long keeps %d replaced values", len(s.long))
	}
}
