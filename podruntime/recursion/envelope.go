package recursion

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"time"

	"github.com/google/uuid"
)

// ExtensionKey is the key of the Envelope in a GraphQL request's
// extensions.
const ExtensionKey = "byoda_query"

// MaxEnvelopeBytes bounds the JSON of an Envelope.
const MaxEnvelopeBytes = 1024

// Envelope is what a forwarded query carries besides its GraphQL
// arguments: the origin's signature over the Request, and how far the
// query has come.
type Envelope struct {
	// Origin is the member id of the pod that signed.
	Origin string
	// Timestamp is when the origin signed.
	Timestamp time.Time
	// Depth is the depth the origin asked for; the query's depth argument
	// at a hop is Depth - Hops.
	Depth int
	// Hops is how many hops the query has travelled to reach the
	// receiver: 1 when the origin itself calls.
	Hops int
	// Signature is the origin's ES256 signature of the Request.
	Signature []byte
}

// wireEnvelope is the JSON form of an Envelope.
type wireEnvelope struct {
	V         int    `json:"v"`
	Origin    string `json:"origin"`
	Timestamp int64  `json:"timestamp"`
	Depth     int    `json:"depth"`
	Hops      int    `json:"hops"`
	Signature string `json:"signature"`
}

const envelopeVersion = 1

// MarshalJSON writes the envelope's wire form.
func (e Envelope) MarshalJSON() ([]byte, error) {
	return json.Marshal(wireEnvelope{
		V:         envelopeVersion,
		Origin:    e.Origin,
		Timestamp: e.Timestamp.UnixMilli(),
		Depth:     e.Depth,
		Hops:      e.Hops,
		Signature: base64.RawURLEncoding.EncodeToString(e.Signature),
	})
}

// ParseEnvelope reads an Envelope from its JSON, strictly: every field
// present and of its type, nothing else, at most MaxEnvelopeBytes. Errors
// are Refusals with ReasonExtensions that name the field.
func ParseEnvelope(data []byte) (Envelope, error) {
	if len(data) > MaxEnvelopeBytes {
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s is %d bytes; at most %d", ExtensionKey, len(data), MaxEnvelopeBytes)
	}
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	var w struct {
		V         *int    `json:"v"`
		Origin    *string `json:"origin"`
		Timestamp *int64  `json:"timestamp"`
		Depth     *int    `json:"depth"`
		Hops      *int    `json:"hops"`
		Signature *string `json:"signature"`
	}
	if err := dec.Decode(&w); err != nil {
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s: %v", ExtensionKey, describeJSONError(err))
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s: unexpected data after the object", ExtensionKey)
	}
	missing := func(name string) error {
		return refuse(ReasonExtensions, "extensions.%s.%s is missing", ExtensionKey, name)
	}
	switch {
	case w.V == nil:
		return Envelope{}, missing("v")
	case *w.V != envelopeVersion:
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s.v is %d; this pod speaks version %d", ExtensionKey, *w.V, envelopeVersion)
	case w.Origin == nil:
		return Envelope{}, missing("origin")
	case w.Timestamp == nil:
		return Envelope{}, missing("timestamp")
	case w.Depth == nil:
		return Envelope{}, missing("depth")
	case w.Hops == nil:
		return Envelope{}, missing("hops")
	case w.Signature == nil:
		return Envelope{}, missing("signature")
	}
	id, err := uuid.Parse(*w.Origin)
	if err != nil || id.String() != *w.Origin {
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s.origin %q: want a member id (a lower-case UUID)", ExtensionKey, truncate(*w.Origin))
	}
	if *w.Depth < 0 || *w.Hops < 1 || *w.Hops > max(*w.Depth, 1) {
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s: depth %d and hops %d: want depth >= 0 and 1 <= hops <= max(depth, 1)", ExtensionKey, *w.Depth, *w.Hops)
	}
	sig, err := base64.RawURLEncoding.DecodeString(*w.Signature)
	if err != nil {
		return Envelope{}, refuse(ReasonExtensions, "extensions.%s.signature: want unpadded base64url: %v", ExtensionKey, err)
	}
	return Envelope{
		Origin:    *w.Origin,
		Timestamp: time.UnixMilli(*w.Timestamp),
		Depth:     *w.Depth,
		Hops:      *w.Hops,
		Signature: sig,
	}, nil
}

// describeJSONError shortens the errors of encoding/json for a client.
func describeJSONError(err error) string {
	var te *json.UnmarshalTypeError
	if errors.As(err, &te) && te.Field == "" {
		return fmt.Sprintf("a JSON %s; want an object", te.Value)
	}
	if errors.As(err, &te) {
		return fmt.Sprintf("field %s is a JSON %s; want a %s", te.Field, te.Value, te.Type)
	}
	return err.Error()
}

func truncate(s string) string {
	if len(s) > 40 {
		return s[:40] + "..."
	}
	return s
}
