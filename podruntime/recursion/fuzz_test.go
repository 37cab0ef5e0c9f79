package recursion

import (
	"bytes"
	"encoding/json"
	"math"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

// FuzzParseEnvelope feeds arbitrary extensions to the parser: it must not
// panic, must refuse with an extensions refusal, and what it accepts must
// survive a round trip.
func FuzzParseEnvelope(f *testing.F) {
	origin := uuid.MustParse("3f2504e0-4f89-41d3-9a0c-0305e82c3301")
	good, _ := Envelope{Origin: origin.String(), Timestamp: t0, Depth: 2, Hops: 1, Signature: bytes.Repeat([]byte{7}, 64)}.MarshalJSON()
	f.Add(good)
	f.Add([]byte(`{}`))
	f.Add([]byte(`{"v":1,"origin":"x","timestamp":1e99,"depth":1,"hops":1,"signature":""}`))
	f.Add([]byte(`{"v":1,"v":2}`))
	f.Add([]byte(`null`))
	f.Fuzz(func(t *testing.T, data []byte) {
		env, err := ParseEnvelope(data)
		if err != nil {
			if _, ok := err.(*Refusal); !ok {
				t.Fatalf("error %T is not a Refusal: %v", err, err)
			}
			return
		}
		again, err := env.MarshalJSON()
		if err != nil {
			t.Fatal(err)
		}
		back, err := ParseEnvelope(again)
		if err != nil {
			t.Fatalf("an accepted envelope does not parse back: %v\n%s", err, again)
		}
		if back.Origin != env.Origin || !back.Timestamp.Equal(env.Timestamp) || back.Depth != env.Depth ||
			back.Hops != env.Hops || !bytes.Equal(back.Signature, env.Signature) {
			t.Fatalf("round trip changed %+v into %+v", env, back)
		}
	})
}

// FuzzCanonical builds requests from arbitrary strings and numbers and
// checks the canonical form: it is valid JSON after its prefix, two
// requests have the same form only when they are the same request, and
// the form does not depend on the order of relations and fields.
func FuzzCanonical(f *testing.F) {
	f.Add("addresses", "city", "eq", "Amsterdam", int64(3), 2.5, "family", "street", "")
	f.Add("a\"b", "c\\d", "glob", "[AB]*\u2028", int64(-1), math.Copysign(0, -1), "Friend", "\x00", "AQE")
	f.Fuzz(func(t *testing.T, class, field, op, sval string, ival int64, fval float64, rel, fieldName, after string) {
		mk := func() *Request {
			return &Request{
				ServiceID: 4711, Class: class,
				Filter: []Condition{
					{Field: field, Op: op, Value: sval},
					{Field: field, Op: op, Value: ival},
					{Field: field, Op: op, Value: fval},
					{Field: field, Op: op, Value: []string{sval, rel}},
					{Field: field, Op: op, Value: time.Unix(ival%1e10, 0)},
				},
				Fields: []string{fieldName, "city"}, First: 20, After: after, Depth: 1,
				Relations: []string{rel, "family"}, QueryID: "q", Origin: "o", Timestamp: t0,
			}
		}
		a := mk()
		a.Normalize()
		ca, err := a.Canonical()
		if err != nil {
			if strings.Contains(err.Error(), "unsupported value") {
				return // NaN and infinities have no JSON form: refused, not signed
			}
			t.Fatal(err)
		}
		body, ok := bytes.CutPrefix(ca, []byte(canonicalPrefix))
		if !ok || !json.Valid(body) {
			t.Fatalf("canonical form is not the prefix and JSON: %q", ca)
		}
		b := mk()
		b.Relations = []string{"family", rel}
		b.Fields = []string{"city", fieldName}
		b.Normalize()
		cb, _ := b.Canonical()
		if !bytes.Equal(ca, cb) {
			t.Fatalf("the order of relations or fields changes the canonical form:\n%s\n%s", ca, cb)
		}
		c := mk()
		c.Class += "x"
		c.Normalize()
		cc, _ := c.Canonical()
		if bytes.Equal(ca, cc) {
			t.Fatal("two classes have one canonical form")
		}
		d := mk()
		d.Filter[0].Value = sval + "x"
		d.Normalize()
		cd, _ := d.Canonical()
		if bytes.Equal(ca, cd) {
			t.Fatal("two filter values have one canonical form")
		}
	})
}

// FuzzParseCursor: no panic, refusals only, and what is accepted encodes
// back to itself.
func FuzzParseCursor(f *testing.F) {
	f.Add(Cursor{uuid.New(): "AQE", uuid.New(): "AYAB"}.String())
	f.Add("Ug")
	f.Add("")
	f.Fuzz(func(t *testing.T, s string) {
		c, err := ParseCursor(s)
		if err != nil {
			if _, ok := err.(*Refusal); !ok {
				t.Fatalf("error %T is not a Refusal", err)
			}
			return
		}
		again, err := ParseCursor(c.String())
		if err != nil || len(again) != len(c) {
			t.Fatalf("%q parses to %v, which encodes to %q, which parses to %v, %v", s, c, c.String(), again, err)
		}
	})
}
