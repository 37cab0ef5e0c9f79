package recursion

import (
	"context"
	"crypto/ecdsa"
	"crypto/x509"
	"fmt"
	"sync"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

// DefaultMaxKeys bounds how many member-data certificates Keys caches.
const DefaultMaxKeys = 10_000

// FetchFunc gets the member-data certificate chain (leaf first) of member
// mid of service sid, from wherever it is published: the member's pod, or
// the service directory.
type FetchFunc func(ctx context.Context, sid uint32, mid uuid.UUID) ([]*x509.Certificate, error)

// Keys finds the member-data keys that recursive queries are signed with:
// it fetches a member's chain, checks it up to the service's members CA
// (internal/pki) and its name against the member id, and caches the key
// until the certificate expires. Concurrent lookups of one member share one
// fetch. It is safe for concurrent use.
type Keys struct {
	verifier *pki.Verifier
	fetch    FetchFunc
	now      func() time.Time
	max      int

	mu      sync.Mutex
	entries map[keyID]keyEntry
	flights map[keyID]*keyFlight
}

type keyID struct {
	sid uint32
	mid uuid.UUID
}

type keyEntry struct {
	pub   *ecdsa.PublicKey
	until time.Time
}

type keyFlight struct {
	done chan struct{}
	pub  *ecdsa.PublicKey
	err  error
}

// NewKeys returns a cache that checks chains with v and fetches them with
// fetch, holding at most max keys (0: DefaultMaxKeys).
func NewKeys(v *pki.Verifier, fetch FetchFunc, max int) *Keys {
	if max <= 0 {
		max = DefaultMaxKeys
	}
	now := v.Now
	if now == nil {
		now = time.Now
	}
	return &Keys{verifier: v, fetch: fetch, now: now, max: max, entries: map[keyID]keyEntry{}, flights: map[keyID]*keyFlight{}}
}

// Get returns the member-data public key of member mid of service sid.
// Errors are Refusals with ReasonOrigin.
func (k *Keys) Get(ctx context.Context, sid uint32, mid uuid.UUID) (*ecdsa.PublicKey, error) {
	id := keyID{sid, mid}
	k.mu.Lock()
	if e, ok := k.entries[id]; ok && k.now().Before(e.until) {
		k.mu.Unlock()
		return e.pub, nil
	}
	f := k.flights[id]
	if f == nil {
		f = &keyFlight{done: make(chan struct{})}
		k.flights[id] = f
		k.mu.Unlock()
		// The fetch outlives a caller that gives up: others may wait on
		// it. The fetcher bounds its own time.
		go k.resolve(context.WithoutCancel(ctx), id, f)
	} else {
		k.mu.Unlock()
	}
	select {
	case <-f.done:
		return f.pub, f.err
	case <-ctx.Done():
		return nil, refuse(ReasonOrigin, "the member-data certificate of origin %s: %v", mid, context.Cause(ctx))
	}
}

// KeyFetchTimeout bounds one fetch of a member-data certificate.
const KeyFetchTimeout = 10 * time.Second

func (k *Keys) resolve(ctx context.Context, id keyID, f *keyFlight) {
	ctx, cancel := context.WithTimeout(ctx, KeyFetchTimeout)
	defer cancel()
	pub, until, err := k.load(ctx, id)
	f.pub, f.err = pub, err
	k.mu.Lock()
	delete(k.flights, id)
	if err == nil {
		if len(k.entries) >= k.max {
			clear(k.entries)
		}
		k.entries[id] = keyEntry{pub: pub, until: until}
	}
	k.mu.Unlock()
	close(f.done)
}

func (k *Keys) load(ctx context.Context, id keyID) (*ecdsa.PublicKey, time.Time, error) {
	chain, err := k.fetch(ctx, id.sid, id.mid)
	if err != nil {
		return nil, time.Time{}, refuse(ReasonOrigin, "could not get the member-data certificate of origin %s: %v", id.mid, err)
	}
	who, err := k.verifier.Verify(chain)
	if err != nil {
		return nil, time.Time{}, refuse(ReasonOrigin, "the member-data certificate of origin %s: %v", id.mid, err)
	}
	if who.Role != pki.RoleMember || !who.Data || who.ServiceID != id.sid || who.ID != id.mid.String() {
		return nil, time.Time{}, refuse(ReasonOrigin, "origin %s of service %d presented the certificate of %s", id.mid, id.sid, who.Name)
	}
	pub, ok := chain[0].PublicKey.(*ecdsa.PublicKey)
	if !ok {
		return nil, time.Time{}, refuse(ReasonOrigin, "origin %s: the member-data key is a %T", id.mid, chain[0].PublicKey)
	}
	return pub, chain[0].NotAfter, nil
}

// String describes the cache, for debugging.
func (k *Keys) String() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	return fmt.Sprintf("recursion.Keys{%d cached, %d fetching}", len(k.entries), len(k.flights))
}
