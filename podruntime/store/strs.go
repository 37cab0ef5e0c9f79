package store

import (
	"maps"
	"unsafe"
)

// strs holds the strings of a column, one per slot, in a single byte arena:
// a slot is an offset and a length. The garbage collector scans no pointer
// and marks no object per value, where a []string has one of each per
// record; with 10,000 records it was most of the marking of every cycle.
//
// Bytes in the arena are never overwritten: a new value is appended, and
// the bytes of the one it replaces are counted as waste until the arena is
// rebuilt. So the strings get hands out (which point into the arena) stay
// valid and unchanged for as long as anyone holds them, even after the
// arena has grown or been rebuilt: the old array lives on while referenced.
type strs struct {
	arena []byte
	spans []uint64 // per slot: offset<<lenBits | length
	// long holds, by slot, the rare value too long for a span's length
	// (or one past the offsets a span can hold); its span is spanLong.
	long  map[int]string
	waste int // bytes of arena that no slot refers to
}

const (
	lenBits  = 24
	maxLen   = 1<<lenBits - 2
	spanLong = 1<<lenBits - 1 // a span's length field for a value in long
	maxOff   = 1<<(64-lenBits) - 1
)

// minRebuild is the arena size below which waste is not worth a rebuild.
const minRebuild = 64 << 10

func (s *strs) appendSlot() { s.spans = append(s.spans, 0) }

func (s *strs) get(slot int) string {
	sp := s.spans[slot]
	n := int(sp & (1<<lenBits - 1))
	switch n {
	case 0:
		return ""
	case spanLong:
		return s.long[slot]
	}
	return unsafe.String(&s.arena[sp>>lenBits], n)
}

func (s *strs) put(slot int, v string) {
	s.drop(slot)
	switch {
	case v == "":
		s.spans[slot] = 0
	case len(v) > maxLen || len(s.arena) > maxOff:
		if s.long == nil {
			s.long = map[int]string{}
		}
		s.long[slot] = v
		s.spans[slot] = spanLong
	default:
		s.spans[slot] = uint64(len(s.arena))<<lenBits | uint64(len(v))
		s.arena = append(s.arena, v...)
	}
	if s.waste > minRebuild && s.waste > len(s.arena)/2 {
		s.rebuild()
	}
}

// drop forgets the value at slot.
func (s *strs) drop(slot int) {
	switch n := int(s.spans[slot] & (1<<lenBits - 1)); n {
	case 0:
	case spanLong:
		delete(s.long, slot)
	default:
		s.waste += n
	}
	s.spans[slot] = 0
}

// rebuild copies the values in use into a new arena, leaving the old one to
// whoever still holds strings from it.
func (s *strs) rebuild() {
	arena := make([]byte, 0, len(s.arena)-s.waste)
	for slot, sp := range s.spans {
		n := int(sp & (1<<lenBits - 1))
		if n == 0 || n == spanLong {
			continue
		}
		off := sp >> lenBits
		s.spans[slot] = uint64(len(arena))<<lenBits | uint64(n)
		arena = append(arena, s.arena[off:off+uint64(n)]...)
	}
	s.arena, s.waste = arena, 0
}

// insert makes room for an empty value at slot, moving the later ones up.
func (s *strs) insert(slot int) {
	s.spans = append(s.spans, 0)
	copy(s.spans[slot+1:], s.spans[slot:])
	s.spans[slot] = 0
	if len(s.long) == 0 {
		return
	}
	moved := make(map[int]string, len(s.long))
	for i, v := range maps.All(s.long) {
		if i >= slot {
			i++
		}
		moved[i] = v
	}
	s.long = moved
}

// withCap returns an empty strs with room for n slots.
func withCap(n int) strs { return strs{spans: make([]uint64, 0, n)} }
