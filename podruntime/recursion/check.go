package recursion

import (
	"time"
)

// Limits of a recursive query.
const (
	// MaxAge is how far a query's timestamp may be from the receiver's
	// clock, either way.
	MaxAge = 5 * time.Minute
	// MaxRelations and MaxRelationLen bound a query's relations.
	MaxRelations   = 16
	MaxRelationLen = 64
)

// Received is a query a pod got from a peer: the request as the pod's own
// executor derived it from the GraphQL arguments, and the envelope that
// came with it.
type Received struct {
	Request  *Request
	Envelope Envelope
	// Caller is the member id of the pod that sent it, from its verified
	// client certificate.
	Caller string
	// Self is the member id of the receiving pod.
	Self string
	// DepthArg is the query's depth argument at the receiver.
	DepthArg int
}

// Check makes the checks of a received query that need no key: the
// envelope fits the request, the caller and the receiver; the timestamp is
// within MaxAge of now; the depth is within maxDepth, the service
// contract's max_query_depth. It returns the receiver's distance from the
// origin, for the contract's network rules. The signature is checked
// after, with the origin's key (Request.Verify).
func (r *Received) Check(now time.Time, maxDepth int) (distance int, err error) {
	req, env := r.Request, r.Envelope
	req.Origin, req.Timestamp, req.Depth = env.Origin, env.Timestamp, env.Depth
	req.Normalize()
	if skew := now.Sub(req.Timestamp); skew > MaxAge || skew < -MaxAge {
		return 0, refuse(ReasonTimestamp, "the query was signed at %s, %s from this pod's clock; at most %s either way is accepted",
			req.Timestamp.UTC().Format(time.RFC3339), skew.Round(time.Second), MaxAge)
	}
	if env.Depth > maxDepth {
		return 0, refuse(ReasonDepth, "depth %d is beyond the service's max_query_depth of %d", env.Depth, maxDepth)
	}
	if err := CheckRelations(req.Relations); err != nil {
		return 0, err
	}
	if req.RemoteMemberID != "" {
		// A proxied query goes to one pod, which answers it itself.
		if req.RemoteMemberID != r.Self || env.Depth != 0 || env.Hops != 1 || r.Caller != env.Origin {
			return 0, refuse(ReasonDepth, "a query for remote member %s came to member %s from %s at depth %d, hop %d: "+
				"a proxied query comes from its origin straight to the remote member, at depth 0", req.RemoteMemberID, r.Self, r.Caller, env.Depth, env.Hops)
		}
		return 1, nil
	}
	if r.DepthArg != env.Depth-env.Hops {
		return 0, refuse(ReasonDepth, "argument depth %d does not fit the origin's depth %d after %d hops", r.DepthArg, env.Depth, env.Hops)
	}
	// The origin asks its links itself, at hop 1; anyone else forwards
	// from hop 2 on. A pod cannot pass itself off as the origin.
	if (r.Caller == env.Origin) != (env.Hops == 1) {
		return 0, refuse(ReasonDepth, "member %s sent a query of origin %s at hop %d: the origin calls at hop 1, and only the origin does", r.Caller, env.Origin, env.Hops)
	}
	return env.Hops, nil
}

// CheckRelations bounds a query's relations.
func CheckRelations(rels []string) error {
	if len(rels) > MaxRelations {
		return refuse(ReasonRelations, "%d relations; at most %d", len(rels), MaxRelations)
	}
	for _, r := range rels {
		if len(r) == 0 || len(r) > MaxRelationLen {
			return refuse(ReasonRelations, "relation %q: want 1 to %d characters", truncate(r), MaxRelationLen)
		}
	}
	return nil
}
