package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math"
	"net/mail"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"
)

// ValidateRecord checks one record of the class before it is stored (by an
// append, or by a mutation once merged with the stored record). For an object
// class or an array of objects rec is an object, as encoding/json decodes it
// (map[string]any, with float64 or json.Number numbers; Go integer types are
// accepted too); for an array of scalars it is one item. Unknown and obsolete
// fields, values of the wrong type or format and missing required fields are
// errors, returned as Errors with JSON pointers into rec.
func (c *Class) ValidateRecord(rec any) error {
	var rv recordValidator
	switch c.Kind {
	case KindObject, KindArrayOfObjects:
		obj, ok := rec.(map[string]any)
		if !ok {
			rv.fail("want an object" + gotValue(rec))
			break
		}
		rv.object(c.RecordClass(), obj, false)
	case KindArrayOfScalars:
		rv.scalar(c.Items.Type, c.Items.Format, nil, rec)
	}
	return rv.result()
}

// ValidatePatch checks the fields that an update sets: like ValidateRecord,
// except that required fields may be left out. A field set to null is
// cleared, which a required field may not be.
func (c *Class) ValidatePatch(patch map[string]any) error {
	rc := c.RecordClass()
	var rv recordValidator
	if rc == nil {
		rv.fail(fmt.Sprintf("%q is an array of scalars; want a single item, not fields", c.Name))
		return rv.result()
	}
	rv.object(rc, patch, true)
	return rv.result()
}

// ValidateRecordJSON decodes one JSON record and checks it as ValidateRecord
// does.
func (c *Class) ValidateRecordJSON(data []byte) error {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var rec any
	if err := dec.Decode(&rec); err != nil {
		return Errors{{Message: fmt.Sprintf("invalid JSON: %v", err)}}
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return Errors{{Message: "unexpected data after the record; want a single JSON value"}}
	}
	return c.ValidateRecord(rec)
}

// recordValidator collects the errors of one record. An error starts with the
// message only; each level of the record it is found under adds its key on
// the way back up. So a valid record costs no allocation, where passing a
// path down the recursion would make the path escape to the heap.
type recordValidator struct {
	errs []recordError
}

type recordError struct {
	up  []string // keys from the value up to the record
	msg string
}

func (rv *recordValidator) fail(msg string) {
	rv.errs = append(rv.errs, recordError{msg: msg})
}

// under adds key to the path of the errors found since there were n.
func (rv *recordValidator) under(n int, key string) {
	for i := n; i < len(rv.errs); i++ {
		rv.errs[i].up = append(rv.errs[i].up, key)
	}
}

func (rv *recordValidator) result() error {
	if len(rv.errs) == 0 {
		return nil
	}
	errs := make(Errors, len(rv.errs))
	for i, e := range rv.errs {
		slices.Reverse(e.up)
		errs[i] = Error{Pointer: pointerOf(e.up), Message: e.msg}
	}
	return errs.sorted()
}

func (rv *recordValidator) object(cls *Class, obj map[string]any, partial bool) {
	for name, val := range obj {
		n := len(rv.errs)
		f := cls.fields[name]
		switch {
		case f == nil && slices.Contains(cls.Obsolete, name):
			rv.fail(fmt.Sprintf("field %q of %q is obsolete; want it left out", name, cls.Name))
		case f == nil:
			rv.fail(fmt.Sprintf("unknown field %q; want a field of %q", name, cls.Name))
		case val == nil:
			if f.Required {
				rv.fail(fmt.Sprintf("want %s: %q is required, got null", typeNoun(string(f.Type)), name))
			}
		case f.Type == TypeArray:
			rv.array(f.Items, val)
		default:
			rv.scalar(f.Type, f.Format, f.Enum, val)
		}
		rv.under(n, name)
	}
	if partial {
		return
	}
	for _, f := range cls.Fields {
		if !f.Required {
			continue
		}
		if _, ok := obj[f.Name]; !ok {
			rv.fail(fmt.Sprintf("missing required field %q of %q", f.Name, cls.Name))
		}
	}
}

func (rv *recordValidator) array(items *Items, val any) {
	list, ok := val.([]any)
	if !ok {
		rv.fail("want a list" + gotValue(val))
		return
	}
	for i, it := range list {
		n := len(rv.errs)
		switch {
		case items.Class != nil:
			if obj, ok := it.(map[string]any); ok {
				rv.object(items.Class, obj, false)
			} else {
				rv.fail(fmt.Sprintf("want an object of %q", items.Class.Name) + gotValue(it))
			}
		default:
			rv.scalar(items.Type, items.Format, nil, it)
		}
		if len(rv.errs) > n {
			rv.under(n, strconv.Itoa(i))
		}
	}
}

func (rv *recordValidator) scalar(t Type, format Format, enum []string, val any) {
	switch t {
	case TypeString:
		s, ok := val.(string)
		if !ok {
			rv.fail("want a string" + gotValue(val))
			return
		}
		if msg := checkFormat(format, s); msg != "" {
			rv.fail("want " + msg + gotValue(val))
			return
		}
		if enum != nil && !slices.Contains(enum, s) {
			rv.fail("want one of " + quoteList(enum) + gotValue(val))
		}
	case TypeInteger:
		if !isInteger(val) {
			rv.fail("want an integer" + gotValue(val))
		}
	case TypeNumber:
		if !isNumber(val) {
			rv.fail("want a number" + gotValue(val))
		}
	case TypeBoolean:
		if _, ok := val.(bool); !ok {
			rv.fail("want true or false" + gotValue(val))
		}
	default:
		rv.fail(fmt.Sprintf("want a value of type %q", t))
	}
}

func isInteger(v any) bool {
	switch n := v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case float64:
		return n == math.Trunc(n) && !math.IsInf(n, 0) && math.Abs(n) <= 1<<53
	case float32:
		return isInteger(float64(n))
	case json.Number:
		if _, err := strconv.ParseInt(string(n), 10, 64); err == nil {
			return true
		}
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && isInteger(f)
	}
	return false
}

func isNumber(v any) bool {
	switch n := v.(type) {
	case int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return true
	case float64:
		return !math.IsNaN(n) && !math.IsInf(n, 0)
	case float32:
		return isNumber(float64(n))
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return err == nil && isNumber(f)
	}
	return false
}

// checkFormat returns what s should be if it does not have the format, or "".
func checkFormat(f Format, s string) string {
	switch f {
	case FormatDateTime:
		if _, err := time.Parse(time.RFC3339Nano, s); err != nil {
			return `a date-time (RFC 3339, such as "2025-01-31T12:00:00Z")`
		}
	case FormatDate:
		if _, err := time.Parse(time.DateOnly, s); err != nil {
			return `a date (such as "2025-01-31")`
		}
	case FormatTime:
		if _, err := time.Parse("15:04:05Z07:00", s); err != nil {
			return `a time (RFC 3339, such as "12:00:00Z")`
		}
	case FormatUUID:
		if !IsUUID(s) {
			return `a UUID (such as "3f2504e0-4f89-41d3-9a0c-0305e82c3301")`
		}
	case FormatURI, FormatURL, FormatIRI:
		if !hasScheme(s) || !uriChars(s, f != FormatURI) {
			return `an absolute URI (such as "https://example.com/")`
		}
	case FormatURIReference, FormatIRIReference:
		if !uriChars(s, f == FormatIRIReference) {
			return "a URI reference"
		}
	case FormatEmail, FormatIDNEmail:
		a, err := mail.ParseAddress(s)
		if err != nil || a.Name != "" || a.Address != s || (f == FormatEmail && !isASCII(s)) {
			return `an email address (such as "suzie@example.com")`
		}
	case FormatHostname, FormatIDNHostname:
		if !isHostname(s, f == FormatIDNHostname) {
			return "a host name"
		}
	case FormatIPv4:
		if a, err := netip.ParseAddr(s); err != nil || !a.Is4() {
			return "an IPv4 address"
		}
	case FormatIPv6:
		if a, err := netip.ParseAddr(s); err != nil || !a.Is6() || a.Zone() != "" {
			return "an IPv6 address"
		}
	}
	return ""
}

// IsUUID reports whether s is a UUID in its textual form (8-4-4-4-12 hex
// digits), the value a "uuid" field holds. Store, GraphQL layer and record
// validation all judge uuid values by it.
func IsUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch i {
		case 8, 13, 18, 23:
			if c != '-' {
				return false
			}
		default:
			if !isHex(c) {
				return false
			}
		}
	}
	return true
}

// hasScheme reports whether s starts with an RFC 3986 scheme and a colon.
func hasScheme(s string) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z':
		case i > 0 && (c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.'):
		case i > 0 && c == ':':
			return true
		default:
			return false
		}
	}
	return false
}

// uriChars reports whether s holds only characters a URI (or, with
// international, an IRI) may hold, with well-formed percent escapes. It is
// deliberately lenient about structure, as url.Parse is, but costs no
// allocation.
func uriChars(s string, international bool) bool {
	for i := 0; i < len(s); i++ {
		c := s[i]
		switch {
		case c >= utf8.RuneSelf:
			if !international {
				return false
			}
		case c <= ' ' || c == 0x7f || strings.IndexByte(`"<>\\^`+"`{|}", c) >= 0:
			return false
		case c == '%':
			if i+2 >= len(s) || !isHex(s[i+1]) || !isHex(s[i+2]) {
				return false
			}
		}
	}
	return true
}

func isHex(c byte) bool {
	return c >= '0' && c <= '9' || c >= 'a' && c <= 'f' || c >= 'A' && c <= 'F'
}

func isASCII(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] >= utf8.RuneSelf {
			return false
		}
	}
	return true
}

func isHostname(s string, idn bool) bool {
	s = strings.TrimSuffix(s, ".")
	if s == "" || len(s) > 253 {
		return false
	}
	for label := range strings.SplitSeq(s, ".") {
		if label == "" || len(label) > 63 || label[0] == '-' || label[len(label)-1] == '-' {
			return false
		}
		for _, r := range label {
			ok := r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || r == '-' || (idn && r >= utf8.RuneSelf)
			if !ok {
				return false
			}
		}
	}
	return true
}

// gotValue describes a record value briefly: ", got <value or type>".
func gotValue(v any) string {
	switch v := v.(type) {
	case nil:
		return ", got null"
	case string:
		if len(v) > 40 {
			return ", got a string"
		}
		return fmt.Sprintf(", got %q", v)
	case bool:
		return fmt.Sprintf(", got %t", v)
	case json.Number:
		if len(v) > 40 {
			return ", got a number"
		}
		return ", got " + string(v)
	case float64, float32, int, int8, int16, int32, int64, uint, uint8, uint16, uint32, uint64:
		return fmt.Sprintf(", got %v", v)
	case []any:
		return ", got a list"
	case map[string]any:
		return ", got an object"
	}
	return fmt.Sprintf(", got a %T", v)
}
