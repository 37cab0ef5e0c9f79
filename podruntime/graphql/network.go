package graphql

import (
	"context"

	"github.com/byoda-go/byoda/internal/contract"
)

// Network serves the parts of a query that other pods hold
// (Options.Network): recursive queries (depth > 0), queries and appends
// proxied to one member (remote_member_id), and queries that other pods
// forward to this one with their origin's signature in the request's
// extensions. Without a Network, the executor refuses all of them.
type Network interface {
	// Forwarded says whether a request's extensions hold a query another
	// pod forwarded.
	Forwarded(extensions map[string]any) bool
	// Admit checks q before it runs: the signature and limits of a
	// forwarded query, the arguments of a recursive one. It returns the
	// caller to authorize q for, which for a forwarded query is the
	// immediate caller at its distance from the origin. The executor then
	// checks the caller's read right on the class and the filter.
	Admit(ctx context.Context, q *RemoteQuery) (contract.Caller, error)
	// Query answers an admitted query: its own part with q.Local, and the
	// rest from other pods. Every edge of the page has its Origin.
	Query(ctx context.Context, q *RemoteQuery) (Page, error)
	// Append appends item to class at member remoteMemberID's pod, which
	// authorizes this pod's member under its own contract.
	Append(ctx context.Context, remoteMemberID, class string, item any) error
}

// RemoteQuery is a connection query that involves other pods, as the
// executor hands it to Network.
type RemoteQuery struct {
	// Caller is who asked this pod: Admit may narrow it.
	Caller contract.Caller
	// Class is the array class queried.
	Class *contract.Class
	// Query is the page asked for; After is the query's after argument.
	Query Query
	// RawFilter is the filter argument as the client gave it, to forward.
	RawFilter any
	// Depth, Relations, RemoteMemberID and QueryID are the arguments of
	// the same names ("" and nil when not given).
	Depth          int
	Relations      []string
	RemoteMemberID string
	QueryID        string
	// Extensions are the request's extensions, where a forwarded query
	// carries its origin's signature.
	Extensions map[string]any
	// Local answers this pod's own part of the query.
	Local func(ctx context.Context, q Query) (Page, error)
	// State is the Network's, from Admit to Query.
	State any
}
