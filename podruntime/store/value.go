package store

import (
	"bytes"
	"encoding/json"
	"fmt"
	"math"
	"strconv"
	"strings"
	"time"

	"github.com/byoda-go/byoda/internal/contract"
)

// kind is how the store holds a field's values: by the field's type and, for
// strings, its format. Formats other than uuid and date-time are plain
// strings.
type kind uint8

const (
	kNone     kind = iota // an absent (or cleared) value
	kString               // string
	kUUID                 // string, format uuid: compared case-insensitively
	kDateTime             // string, format date-time: also held as Unix nanoseconds
	kInt                  // integer
	kFloat                // number
	kBool                 // boolean
	kJSON                 // array: held as its JSON text
)

func (k kind) String() string {
	switch k {
	case kString:
		return "string"
	case kUUID:
		return "uuid"
	case kDateTime:
		return "date-time"
	case kInt:
		return "integer"
	case kFloat:
		return "number"
	case kBool:
		return "boolean"
	case kJSON:
		return "array"
	}
	return "none"
}

func kindOf(t contract.Type, f contract.Format) kind {
	switch t {
	case contract.TypeString:
		switch f {
		case contract.FormatUUID:
			return kUUID
		case contract.FormatDateTime:
			return kDateTime
		}
		return kString
	case contract.TypeInteger:
		return kInt
	case contract.TypeNumber:
		return kFloat
	case contract.TypeBoolean:
		return kBool
	}
	return kJSON
}

// value is one field value in transit: decoded from a request or an object,
// or read from a column. k == kNone is an absent value.
type value struct {
	k kind
	s string  // kString, kUUID, kDateTime (as given), kJSON
	i int64   // kInt, kBool (0 or 1), kDateTime (Unix nanoseconds)
	f float64 // kFloat
}

// toValue converts a request value that the contract has accepted for a
// field of kind k. A nil input is an absent value.
func toValue(k kind, in any) (value, error) {
	if in == nil {
		return value{}, nil
	}
	switch k {
	case kString, kUUID:
		if s, ok := in.(string); ok {
			return value{k: k, s: s}, nil
		}
	case kDateTime:
		if s, ok := in.(string); ok {
			t, err := time.Parse(time.RFC3339Nano, s)
			if err != nil {
				return value{}, fmt.Errorf("want an RFC 3339 date-time, got %q", s)
			}
			return value{k: k, s: s, i: unixNanos(t)}, nil
		}
	case kInt:
		if n, ok := intOf(in); ok {
			return value{k: k, i: n}, nil
		}
	case kFloat:
		if f, ok := floatOf(in); ok {
			return value{k: k, f: f}, nil
		}
	case kBool:
		if b, ok := in.(bool); ok {
			return value{k: k, i: b2i(b)}, nil
		}
	case kJSON:
		var buf bytes.Buffer
		enc := json.NewEncoder(&buf)
		enc.SetEscapeHTML(false)
		if err := enc.Encode(in); err != nil {
			return value{}, fmt.Errorf("encode list: %w", err)
		}
		return value{k: k, s: strings.TrimSuffix(buf.String(), "\n")}, nil
	}
	return value{}, fmt.Errorf("want a value of type %s, got %T", k, in)
}

// unixNanos returns t as Unix nanoseconds, saturated for times outside the
// years 1678 to 2262 so that order is kept as far as int64 allows.
func unixNanos(t time.Time) int64 {
	const maxSec = math.MaxInt64/1_000_000_000 - 1
	switch sec := t.Unix(); {
	case sec > maxSec:
		return math.MaxInt64
	case sec < -maxSec:
		return math.MinInt64
	}
	return t.UnixNano()
}

func b2i(b bool) int64 {
	if b {
		return 1
	}
	return 0
}

// intOf returns an integral number as int64.
func intOf(in any) (int64, bool) {
	switch n := in.(type) {
	case int:
		return int64(n), true
	case int8:
		return int64(n), true
	case int16:
		return int64(n), true
	case int32:
		return int64(n), true
	case int64:
		return n, true
	case uint:
		return int64(n), n <= math.MaxInt64
	case uint8:
		return int64(n), true
	case uint16:
		return int64(n), true
	case uint32:
		return int64(n), true
	case uint64:
		return int64(n), n <= math.MaxInt64
	case float32:
		return intOf(float64(n))
	case float64:
		if n != math.Trunc(n) || math.Abs(n) > 1<<63-1024 {
			return 0, false
		}
		return int64(n), true
	case json.Number:
		if i, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return i, true
		}
		if f, err := strconv.ParseFloat(string(n), 64); err == nil {
			return intOf(f)
		}
	}
	return 0, false
}

// floatOf returns a finite number as float64.
func floatOf(in any) (float64, bool) {
	var f float64
	switch n := in.(type) {
	case float64:
		f = n
	case float32:
		f = float64(n)
	case json.Number:
		var err error
		if f, err = strconv.ParseFloat(string(n), 64); err != nil {
			return 0, false
		}
	default:
		i, ok := intOf(in)
		if !ok {
			return 0, false
		}
		f = float64(i)
	}
	if math.IsNaN(f) || math.IsInf(f, 0) {
		return 0, false
	}
	return f, true
}

// output returns v as a record value: string, int64, float64, bool, or for
// arrays what encoding/json decodes (with int64 for integer items).
func (v value) output(items *contract.Items) any {
	switch v.k {
	case kString, kUUID, kDateTime:
		return v.s
	case kInt:
		return v.i
	case kFloat:
		return v.f
	case kBool:
		return v.i != 0
	case kJSON:
		var out any
		if err := json.Unmarshal([]byte(v.s), &out); err != nil {
			return nil
		}
		return fixItems(items, out)
	}
	return nil
}

// fixItems turns the float64 numbers encoding/json produces back into
// int64 where the contract says the items are integers.
func fixItems(items *contract.Items, v any) any {
	list, ok := v.([]any)
	if !ok || items == nil {
		return v
	}
	for i, it := range list {
		switch {
		case items.Type == contract.TypeInteger:
			if n, ok := intOf(it); ok {
				list[i] = n
			}
		case items.Class != nil:
			obj, ok := it.(map[string]any)
			if !ok {
				continue
			}
			for name, fv := range obj {
				f := items.Class.Field(name)
				if f == nil {
					continue
				}
				switch {
				case f.Type == contract.TypeInteger:
					if n, ok := intOf(fv); ok {
						obj[name] = n
					}
				case f.Type == contract.TypeArray:
					obj[name] = fixItems(f.Items, fv)
				}
			}
		}
	}
	return list
}

// key returns the canonical form of a value that indexes and counters use:
// equal values (by the filter operators' meaning of equal) have equal keys.
func (v value) key() string {
	switch v.k {
	case kUUID:
		return strings.ToLower(v.s)
	case kDateTime, kInt, kBool:
		return strconv.FormatInt(v.i, 10)
	case kFloat:
		return floatKey(v.f)
	}
	return v.s
}

func floatKey(f float64) string {
	if f == 0 {
		f = 0 // -0 and 0 are equal
	}
	if f == math.Trunc(f) && math.Abs(f) < 1<<62 {
		return strconv.FormatInt(int64(f), 10)
	}
	return strconv.FormatFloat(f, 'g', -1, 64)
}

// Wire tags of values inside objects. A value's tag says how it is encoded,
// not which field kind it belongs to, so a record stays readable when a
// contract version changes a field's type.
const (
	tagString byte = 1
	tagInt    byte = 2
	tagFloat  byte = 3
	tagFalse  byte = 4
	tagTrue   byte = 5
	tagJSON   byte = 6
)

func (v value) encode(e *encoder) {
	switch v.k {
	case kString, kUUID, kDateTime:
		e.byte(tagString)
		e.str(v.s)
	case kInt:
		e.byte(tagInt)
		e.varint(v.i)
	case kFloat:
		e.byte(tagFloat)
		e.float64(v.f)
	case kBool:
		if v.i != 0 {
			e.byte(tagTrue)
		} else {
			e.byte(tagFalse)
		}
	case kJSON:
		e.byte(tagJSON)
		e.str(v.s)
	}
}

// rawValue is an encoded value as read from an object, before it is given
// to a field.
type rawValue struct {
	tag byte
	s   string
	i   int64
	f   float64
}

func decodeRaw(d *decoder) rawValue {
	r := rawValue{tag: d.byte()}
	switch r.tag {
	case tagString, tagJSON:
		r.s = d.str()
	case tagInt:
		r.i = d.varint()
	case tagFloat:
		r.f = d.float64()
	case tagFalse, tagTrue:
	default:
		d.fail()
	}
	return r
}

func (r rawValue) encode(e *encoder) {
	e.byte(r.tag)
	switch r.tag {
	case tagString, tagJSON:
		e.str(r.s)
	case tagInt:
		e.varint(r.i)
	case tagFloat:
		e.float64(r.f)
	}
}

// as converts a stored value to a field of kind k; ok is false when the value
// does not fit (the contract changed the field's type), and the caller keeps
// it aside unchanged.
func (r rawValue) as(k kind) (value, bool) {
	switch k {
	case kString, kUUID:
		if r.tag == tagString {
			return value{k: k, s: r.s}, true
		}
	case kDateTime:
		if r.tag == tagString {
			if t, err := time.Parse(time.RFC3339Nano, r.s); err == nil {
				return value{k: k, s: r.s, i: unixNanos(t)}, true
			}
		}
	case kInt:
		switch r.tag {
		case tagInt:
			return value{k: k, i: r.i}, true
		case tagFloat:
			if n, ok := intOf(r.f); ok {
				return value{k: k, i: n}, true
			}
		}
	case kFloat:
		switch r.tag {
		case tagFloat:
			return value{k: k, f: r.f}, true
		case tagInt:
			return value{k: k, f: float64(r.i)}, true
		}
	case kBool:
		if r.tag == tagTrue || r.tag == tagFalse {
			return value{k: k, i: b2i(r.tag == tagTrue)}, true
		}
	case kJSON:
		if r.tag == tagJSON {
			return value{k: k, s: r.s}, true
		}
	}
	return value{}, false
}
