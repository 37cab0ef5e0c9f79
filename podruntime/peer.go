package podruntime

import (
	"context"
	"errors"
	"net/http"
	"slices"
	"strings"

	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/contract"
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
// id, in lower case, without duplicates.
func (m *membership) relations(ctx context.Context, memberID string) ([]string, error) {
	if !m.links {
		return nil, nil
	}
	page, err := m.store.Query(ctx, linksClass, store.Query{
		Filter: store.Filter{{Field: linkMemberField, Op: store.OpEq, Value: memberID}},
		First:  maxLinksPerMember,
		Fields: []string{linkRelationField},
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
		rec, _ := e.Node.(map[string]any)
		if r, ok := rec[linkRelationField].(string); ok && r != "" {
			r = strings.ToLower(r)
			if !slices.Contains(rels, r) {
				rels = append(rels, r)
			}
		}
	}
	return rels, nil
}
