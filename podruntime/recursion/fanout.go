package recursion

import (
	"context"
	"sync"
	"time"
)

// Fan-out defaults.
const (
	// DefaultMaxPeers is how many peers a pod asks at once.
	DefaultMaxPeers = 32
	// HopMargin is what each hop keeps of its caller's deadline to merge
	// and answer: a peer gets the time left less the margin.
	HopMargin = 250 * time.Millisecond
	// DefaultTimeout is a query's deadline when its caller set none.
	DefaultTimeout = 10 * time.Second
)

// Outcome is the answer of one peer, or why there is none.
type Outcome[P, R any] struct {
	Peer   P
	Result R
	Err    error
}

// FanOut calls ask for every peer, at most limit at a time, and returns an
// outcome per peer in the order of peers. Each call gets ctx with its
// deadline less HopMargin (or DefaultTimeout when ctx has none), and ends
// when ctx does: FanOut returns by the deadline even if a peer does not.
func FanOut[P, R any](ctx context.Context, peers []P, limit int, ask func(context.Context, P) (R, error)) []Outcome[P, R] {
	out := make([]Outcome[P, R], len(peers))
	if len(peers) == 0 {
		return out
	}
	if limit <= 0 {
		limit = DefaultMaxPeers
	}
	deadline, ok := ctx.Deadline()
	if !ok {
		deadline = time.Now().Add(DefaultTimeout)
	}
	ctx, cancel := context.WithDeadline(ctx, deadline.Add(-HopMargin))
	defer cancel()

	sem := make(chan struct{}, limit)
	var wg sync.WaitGroup
	for i, p := range peers {
		out[i].Peer = p
		select {
		case sem <- struct{}{}:
		case <-ctx.Done():
			out[i].Err = context.Cause(ctx)
			continue
		}
		wg.Go(func() {
			defer func() { <-sem }()
			done := make(chan struct{})
			var (
				r   R
				err error
			)
			go func() {
				defer close(done)
				r, err = ask(ctx, p)
			}()
			select {
			case <-done:
				out[i].Result, out[i].Err = r, err
			case <-ctx.Done():
				// A call that ignores its context is left behind; its
				// answer is not waited for.
				out[i].Err = context.Cause(ctx)
			}
		})
	}
	wg.Wait()
	return out
}
