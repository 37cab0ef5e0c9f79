package recursion

import (
	"crypto/ecdsa"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"math/big"
	"slices"
	"strings"
	"time"
)

// Request is a recursive query as its origin signs it: everything that
// shapes the answer. Relations are compared case-insensitively, so
// Normalize lowers, sorts and deduplicates them; Fields are sorted.
type Request struct {
	ServiceID uint32
	// Class is the array class queried.
	Class string
	// Filter is the query's filter, condition by condition, in the order
	// the service's contract lists the fields (both signer and verifier
	// derive it from the same contract).
	Filter []Condition
	// Fields are the record fields the query selects.
	Fields []string
	First  int
	// After is the Cursor of the page before, or empty.
	After string
	// Depth is the depth the origin asked for.
	Depth     int
	Relations []string
	// RemoteMemberID is set when the query is proxied to one pod.
	RemoteMemberID string
	// QueryID is the query's id: the client's, or one the origin made.
	QueryID string
	// Origin is the member id of the pod that signed.
	Origin string
	// Timestamp is when the origin signed, in milliseconds.
	Timestamp time.Time
}

// Condition is one condition of a Request's filter. Value is a string, a
// []string, an int64, a float64, a bool or a time.Time.
type Condition struct {
	Field string
	Op    string
	Value any
}

// Normalize puts r in the form it is signed in: timestamp in
// milliseconds, relations lowered, sorted and unique, fields sorted and
// unique.
func (r *Request) Normalize() {
	r.Timestamp = time.UnixMilli(r.Timestamp.UnixMilli())
	for i, rel := range r.Relations {
		r.Relations[i] = strings.ToLower(rel)
	}
	slices.Sort(r.Relations)
	r.Relations = slices.Compact(r.Relations)
	slices.Sort(r.Fields)
	r.Fields = slices.Compact(r.Fields)
}

// canonicalPrefix separates this signature's domain from every other use
// of a member-data key.
const canonicalPrefix = "byoda recursive query v1\n"

// canonical is the signed form: JSON with its keys in sorted order.
type canonical struct {
	After          string      `json:"after"`
	Class          string      `json:"class"`
	Depth          int         `json:"depth"`
	Fields         []string    `json:"fields"`
	Filter         []canonCond `json:"filter"`
	First          int         `json:"first"`
	Origin         string      `json:"origin"`
	QueryID        string      `json:"query_id"`
	Relations      []string    `json:"relations"`
	RemoteMemberID string      `json:"remote_member_id"`
	ServiceID      uint32      `json:"service_id"`
	Timestamp      int64       `json:"timestamp"`
}

type canonCond struct {
	Field string `json:"field"`
	Op    string `json:"op"`
	Type  string `json:"type"`
	Value any    `json:"value"`
}

// Canonical returns the bytes the origin signs: a fixed prefix and the
// request as JSON with sorted keys, every list in a fixed order, and each
// filter value tagged with its type. Call Normalize first.
func (r *Request) Canonical() ([]byte, error) {
	c := canonical{
		After:          r.After,
		Class:          r.Class,
		Depth:          r.Depth,
		Fields:         nonNil(r.Fields),
		Filter:         make([]canonCond, len(r.Filter)),
		First:          r.First,
		Origin:         r.Origin,
		QueryID:        r.QueryID,
		Relations:      nonNil(r.Relations),
		RemoteMemberID: r.RemoteMemberID,
		ServiceID:      r.ServiceID,
		Timestamp:      r.Timestamp.UnixMilli(),
	}
	for i, cond := range r.Filter {
		cc := canonCond{Field: cond.Field, Op: cond.Op, Value: cond.Value}
		switch v := cond.Value.(type) {
		case string:
			cc.Type = "string"
		case []string:
			cc.Type, cc.Value = "strings", nonNil(v)
		case int64:
			cc.Type = "int"
		case float64:
			cc.Type = "number"
		case bool:
			cc.Type = "bool"
		case time.Time:
			cc.Type, cc.Value = "time", v.UTC().Format(time.RFC3339Nano)
		default:
			return nil, fmt.Errorf("filter condition on %q: a %T value cannot be signed", cond.Field, cond.Value)
		}
		c.Filter[i] = cc
	}
	body, err := json.Marshal(c)
	if err != nil {
		return nil, fmt.Errorf("canonical query: %w", err)
	}
	return append([]byte(canonicalPrefix), body...), nil
}

func nonNil[T any](s []T) []T {
	if s == nil {
		return []T{}
	}
	return s
}

// Digest is the SHA-256 of a request's canonical form: what is signed, and
// what Seen remembers.
func (r *Request) Digest() ([32]byte, error) {
	b, err := r.Canonical()
	if err != nil {
		return [32]byte{}, err
	}
	return sha256.Sum256(b), nil
}

// Sign signs r (normalized) with the origin's member-data key: ES256, the
// 64 bytes of r and s.
func (r *Request) Sign(key *ecdsa.PrivateKey) ([]byte, error) {
	d, err := r.Digest()
	if err != nil {
		return nil, err
	}
	rr, ss, err := ecdsa.Sign(rand.Reader, key, d[:])
	if err != nil {
		return nil, fmt.Errorf("sign query: %w", err)
	}
	sig := make([]byte, 64)
	rr.FillBytes(sig[:32])
	ss.FillBytes(sig[32:])
	return sig, nil
}

// Verify checks sig, an ES256 signature of r, against the origin's
// member-data public key.
func (r *Request) Verify(pub *ecdsa.PublicKey, sig []byte) error {
	if len(sig) != 64 {
		return refuse(ReasonSignature, "the signature is %d bytes; an ES256 signature is 64", len(sig))
	}
	d, err := r.Digest()
	if err != nil {
		return refuse(ReasonSignature, "%v", err)
	}
	rr := new(big.Int).SetBytes(sig[:32])
	ss := new(big.Int).SetBytes(sig[32:])
	if !ecdsa.Verify(pub, d[:], rr, ss) {
		return refuse(ReasonSignature, "the signature does not verify with the member-data key of origin %s: "+
			"the query was changed after it was signed, or signed by another key", r.Origin)
	}
	return nil
}
