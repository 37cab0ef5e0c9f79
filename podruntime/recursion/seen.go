package recursion

import (
	"sync"
	"time"
)

// DefaultMaxSeen bounds how many queries a Seen remembers.
const DefaultMaxSeen = 100_000

// Seen remembers the queries a pod has answered, by digest, for as long as
// their timestamps are acceptable (twice MaxAge from signing), so that a
// query that comes back (a cycle, a diamond, a replay) is answered with no
// records. It is safe for concurrent use.
type Seen struct {
	mu   sync.Mutex
	max  int
	byID map[[32]byte]time.Time // digest -> when it may be forgotten
	// order holds digests oldest first, for pruning.
	order []seenEntry
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
	return &Seen{max: max, byID: map[[32]byte]time.Time{}}
}

// First records the query with digest d, signed at signed, and reports
// whether this is the first time it came. When the memory is full of
// queries still acceptable, it refuses with ReasonBusy rather than forget
// one that could then be replayed.
func (s *Seen) First(d [32]byte, signed, now time.Time) (bool, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	for len(s.order) > 0 && !s.order[0].until.After(now) {
		delete(s.byID, s.order[0].digest)
		s.order[0] = seenEntry{}
		s.order = s.order[1:]
	}
	if _, ok := s.byID[d]; ok {
		return false, nil
	}
	if len(s.byID) >= s.max {
		return false, refuse(ReasonBusy, "this pod is answering %d other recursive queries; try again in a minute", len(s.byID))
	}
	// A query is refused once its timestamp is MaxAge away from the
	// clock, so it need not be remembered longer.
	until := signed.Add(MaxAge)
	if until.Before(now) {
		until = now
	}
	until = until.Add(MaxAge)
	s.byID[d] = until
	// Timestamps differ: keep the order by expiry with an insertion
	// from the back.
	i := len(s.order)
	for i > 0 && s.order[i-1].until.After(until) {
		i--
	}
	s.order = append(s.order, seenEntry{})
	copy(s.order[i+1:], s.order[i:])
	s.order[i] = seenEntry{digest: d, until: until}
	return true, nil
}

// Len is how many queries s remembers.
func (s *Seen) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byID)
}
