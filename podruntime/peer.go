package podruntime

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/store"
)

// The class, and the fields of its records, that hold a pod's network
// links, as the reference's contracts name them.
const (
	linksClass        = "network_links"
	linkMemberField   = "member_id"
	linkRelationField = "relation"
)

// peerCaller returns the contract's caller for a verified peer identity
// calling the API of m:
//
//   - a member of m's service is "network" at distance 1 with the
//     relations of the pod's network_links to its member id, or
//     "any_member" when there are none;
//   - m's service itself is "service";
//   - an app of m's service is "anonymous" for now: apps get their own
//     rights when the pod supports them;
//   - anything of another service is refused with 403.
func (p *Pod) peerCaller(ctx context.Context, id *pki.Identity, m *membership) (contract.Caller, error) {
	if id.ServiceID != m.sid || (id.Role != pki.RoleMember && id.Role != pki.RoleService && id.Role != pki.RoleApp) {
		return contract.Caller{}, errorf(http.StatusForbidden, codeForbidden,
			"%s may not call the API of service %d: only members, apps and the service of service %d may", id.Name, m.sid, m.sid)
	}
	switch id.Role {
	case pki.RoleService:
		return contract.Caller{Entity: contract.EntityService}, nil
	case pki.RoleApp:
		return contract.Caller{Entity: contract.EntityAnonymous}, nil
	}
	rels, err := m.relations(ctx, id.ID)
	if err != nil {
		return contract.Caller{}, err
	}
	if len(rels) > 0 {
		return contract.Caller{Entity: contract.EntityNetwork, Relations: rels, Distance: 1}, nil
	}
	return contract.Caller{Entity: contract.EntityAnyMember}, nil
}

// maxLinksPerMember bounds how many links to one member are read to learn
// its relations.
const maxLinksPerMember = store.MaxFirst

// relations returns the relations of the pod's network links to member
// id, in lower case, without duplicates. The slice may be shared: callers
// must not change it.
func (m *membership) relations(ctx context.Context, memberID string) ([]string, error) {
	if !m.links {
		return nil, nil
	}
	if m.linkCache == nil {
		return m.lookupRelations(ctx, memberID)
	}
	return m.linkCache.get(memberID, func() ([]string, error) { return m.lookupRelations(ctx, memberID) })
}

// lookupRelations reads the relations of member id from network_links.
func (m *membership) lookupRelations(ctx context.Context, memberID string) ([]string, error) {
	page, err := m.store.Query(ctx, linksClass, store.Query{
		Filter: store.Filter{{Field: linkMemberField, Op: store.OpEq, Value: memberID}},
		First:  maxLinksPerMember,
		Fields: []string{linkRelationField},
		Rows:   true,
	})
	if err != nil {
		if errors.Is(err, store.ErrInvalid) {
			// The contract's network_links has a member_id the store
			// cannot filter on with eq: no links can match.
			return nil, nil
		}
		return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "look up network links: %v", err)
	}
	var rels []string
	for _, e := range page.Edges {
		v := e.Node.(*store.Row).Field(linkRelationField)
		if r := v.Str; v.Kind == store.ValueString && r != "" {
			r = strings.ToLower(r)
			if !slices.Contains(rels, r) {
				rels = append(rels, r)
			}
		}
	}
	return rels, nil
}

// linkCache remembers the relations of the members that called until
// network_links changes: a peer's requests, one after the other, would
// otherwise each query the class. The store reports every change once it is
// visible to queries; a change bumps the generation, which retires every
// entry, so an answer never outlives the links it was read from (a lookup
// that raced with a change is stored under the generation it started in,
// already retired).
type linkCache struct {
	gen      atomic.Uint64
	mu       sync.Mutex
	byMember map[string]linkEntry
	// all are every link, read under generation allGen (valid when
	// allSet).
	all    []link
	allGen uint64
	allSet bool
}

// link is one network link: the member linked to and how.
type link struct {
	member   uuid.UUID
	relation string // lower case
}

// maxLinks bounds the links a pod reads to fan a query out.
const maxLinks = 10_000

// linkedMembers returns the member ids of the pod's network links whose
// relation is one of rels (compared in lower case), or of every link when
// rels is empty, each once, in the order they were linked.
func (m *membership) linkedMembers(ctx context.Context, rels []string) ([]uuid.UUID, error) {
	links, err := m.allLinks(ctx)
	if err != nil {
		return nil, err
	}
	want := make([]string, len(rels))
	for i, r := range rels {
		want[i] = strings.ToLower(r)
	}
	var out []uuid.UUID
	for _, l := range links {
		if (len(want) == 0 || slices.Contains(want, l.relation)) && !slices.Contains(out, l.member) {
			out = append(out, l.member)
		}
	}
	return out, nil
}

// allLinks returns every network link, from the cache while network_links
// has not changed.
func (m *membership) allLinks(ctx context.Context) ([]link, error) {
	if !m.links {
		return nil, nil
	}
	c := m.linkCache
	var gen uint64
	if c != nil {
		gen = c.gen.Load()
		c.mu.Lock()
		all, ok := c.all, c.allSet && c.allGen == gen
		c.mu.Unlock()
		if ok {
			return all, nil
		}
	}
	var (
		links []link
		after string
	)
	for len(links) < maxLinks {
		page, err := m.store.Query(ctx, linksClass, store.Query{
			First: store.MaxFirst, After: after,
			Fields: []string{linkMemberField, linkRelationField}, Rows: true, SkipCount: true,
		})
		if err != nil {
			return nil, errorf(http.StatusServiceUnavailable, codeUnavailable, "read network links: %v", err)
		}
		for _, e := range page.Edges {
			row := e.Node.(*store.Row)
			mv, rv := row.Field(linkMemberField), row.Field(linkRelationField)
			id, err := uuid.Parse(mv.Str)
			if mv.Kind == store.ValueString && err == nil && rv.Kind == store.ValueString {
				links = append(links, link{member: id, relation: strings.ToLower(rv.Str)})
			}
		}
		after = page.PageInfo.EndCursor
		more := page.PageInfo.HasNextPage
		page.Release()
		if !more {
			break
		}
	}
	if c != nil {
		c.mu.Lock()
		c.all, c.allGen, c.allSet = links, gen, true
		c.mu.Unlock()
	}
	return links, nil
}

type linkEntry struct {
	gen  uint64
	rels []string
}

// maxCachedMembers bounds the cache; when it is full it starts over.
const maxCachedMembers = 4096

func newLinkCache(st *store.Store) *linkCache {
	c := &linkCache{byMember: map[string]linkEntry{}}
	st.Watch(func(ch store.Change) {
		if ch.Class == linksClass {
			c.gen.Add(1)
		}
	})
	return c
}

// get returns the cached relations of memberID, or looks them up.
func (c *linkCache) get(memberID string, lookup func() ([]string, error)) ([]string, error) {
	gen := c.gen.Load()
	c.mu.Lock()
	e, ok := c.byMember[memberID]
	c.mu.Unlock()
	if ok && e.gen == gen {
		return e.rels, nil
	}
	rels, err := lookup()
	if err != nil {
		return nil, err
	}
	c.mu.Lock()
	if len(c.byMember) >= maxCachedMembers {
		clear(c.byMember)
	}
	c.byMember[memberID] = linkEntry{gen: gen, rels: rels}
	c.mu.Unlock()
	return rels, nil
}
