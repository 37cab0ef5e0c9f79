package recursion

import (
	"bytes"
	"slices"

	"github.com/google/uuid"
)

// Item is one record of a recursive answer: its origin pod, its cursor in
// that pod's store, and the record.
type Item struct {
	Origin uuid.UUID
	Cursor string
	Node   any
}

// Part is what one source contributed to an answer: the pod's own page,
// or a peer's answer, which holds the records of every pod the peer
// reached. HasNext says the source has more records after these.
type Part struct {
	Items   []Item
	HasNext bool
}

// Merge builds a page of at most first items from the parts of an answer
// to the query whose page started after the cursor after. It takes one
// record from each origin in turn (self first, then by member id), so that
// every origin contributes a prefix of its records in its own order; it
// drops a record seen twice (the same origin and cursor) and the records of
// an origin beyond first. It returns the page, the cursor of the next page,
// and whether there may be more.
func Merge(self uuid.UUID, after Cursor, first int, parts []Part) (page []Item, next Cursor, hasNext bool) {
	byOrigin := map[uuid.UUID][]Item{}
	seen := map[Item]bool{}
	for _, p := range parts {
		hasNext = hasNext || p.HasNext
		for _, it := range p.Items {
			key := Item{Origin: it.Origin, Cursor: it.Cursor}
			if seen[key] || len(byOrigin[it.Origin]) >= first {
				continue
			}
			seen[key] = true
			byOrigin[it.Origin] = append(byOrigin[it.Origin], it)
		}
	}
	origins := make([]uuid.UUID, 0, len(byOrigin))
	for id := range byOrigin {
		origins = append(origins, id)
	}
	slices.SortFunc(origins, func(a, b uuid.UUID) int {
		switch {
		case a == b:
			return 0
		case a == self:
			return -1
		case b == self:
			return 1
		}
		return bytes.Compare(a[:], b[:])
	})
	next = make(Cursor, len(after)+len(origins))
	for id, c := range after {
		next[id] = c
	}
	taken := make([]int, len(origins))
	for len(page) < first {
		progress := false
		for i, id := range origins {
			if len(page) == first {
				break
			}
			if taken[i] < len(byOrigin[id]) {
				it := byOrigin[id][taken[i]]
				page = append(page, it)
				next[id] = it.Cursor
				taken[i]++
				progress = true
			}
		}
		if !progress {
			break
		}
	}
	for i, id := range origins {
		if taken[i] < len(byOrigin[id]) {
			hasNext = true
		}
	}
	return page, next, hasNext
}
