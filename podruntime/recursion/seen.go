package recursion

import (
	"sync"
	"time"
)

// DefaultMaxSeen bounds how many queries a Seen remembers.
const DefaultMaxSeen = 100_000

// Visit is what a pod makes of a query that arrives, by what it did with
// the same query before.
type Visit int

// The visits.
const (
	// VisitNew is a query that has not come before: the pod answers it
	// from its store and forwards it.
	VisitNew Visit = iota
	// VisitDeeper is a query that came before with less depth left (it
	// went the long way round a cycle or a diamond first): its records
	// went with that answer, so the pod only forwards it, further than
	// it did then.
	VisitDeeper
	// VisitRepeat is a query that came before with as much depth left or
	// more (a cycle, a diamond, a replay): the pod answers with no
	// records.
	VisitRepeat
)

// Seen remembers the queries a pod has answered, by digest, with the most
// depth any of them had left, for as long as their timestamps are
// acceptable (twice MaxAge from signing), so that a query that comes back
// is answered with no records, and one that comes back with more depth
// left goes further. It is safe for concurrent use.
type Seen struct {
	mu   sync.Mutex
	max  int
	byID map[[32]byte]seenMark
	// order holds digests oldest first, for pruning.
	order []seenEntry
}

// seenMark is what Seen keeps of a query: until when, and the most depth
// it had left.
type seenMark struct {
	until time.Time
	left  int
}

type seenEntry struct {
	digest [32]byte
	until  time.Time
}

// NewSeen returns a Seen that remembers at most max queries (0:
// DefaultMaxSeen).
func NewSeen(max int) *Seen {
	if max <= 0 {
		max = DefaultMaxSeen
	}
	return &Seen{max: max, byID: map[[32]byte]seenMark{}}
}

// Arrive records the query with digest d, signed at signed, arriving with
// left hops still to go (its depth argument at this pod), and says what to
// make of it. The depth a query has left at a pod is at most its origin's
// depth less one (the origin calls at hop 1, the others from hop 2), so a
// query comes back deeper at most a few times. When the memory is full of
// queries still acceptable, Arrive refuses with ReasonBusy rather than
// forget one that could then be replayed.
func (s *Seen) Arrive(d [32]byte, left int, signed, now time.Time) (Visit, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) > 0 && !s.order[0].until.After(now) {
		delete(s.byID, s.order[0].digest)
		s.order[0] = seenEntry{}
		s.order = s.order[1:]
	}
	if m, ok := s.byID[d]; ok {
		if left <= m.left {
			return VisitRepeat, nil
		}
		m.left = left
		s.byID[d] = m
		return VisitDeeper, nil
	}
	if len(s.byID) >= s.max {
		return VisitRepeat, refuse(ReasonBusy, "this pod is answering %d other recursive queries; try again in a minute", len(s.byID))
	}
	// A query is refused once its timestamp is MaxAge away from the
	// clock, so it need not be remembered longer.
	until := signed.Add(MaxAge)
	if until.Before(now) {
		until = now
	}
	until = until.Add(MaxAge)
	s.byID[d] = seenMark{until: until, left: left}
	// Timestamps differ: keep the order by expiry with an insertion
	// from the back.
	i := len(s.order)
	for i > 0 && s.order[i-1].until.After(until) {
		i--
	}
	s.order = append(s.order, seenEntry{})
	copy(s.order[i+1:], s.order[i:])
	s.order[i] = seenEntry{digest: d, until: until}
	return VisitNew, nil
}

// Len is how many queries s remembers.
func (s *Seen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
