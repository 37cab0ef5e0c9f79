package store

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"maps"
	"math"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"time"
	"unicode/utf8"

	"github.com/byoda-go/byoda/internal/contract"
)

// Op is a filter operator. Which operators a field has depends on its type:
//
//	string (any format but uuid and date-time): eq ne vin nin regex glob
//	integer, number:                            eq ne gt lt egt elt
//	string, format uuid:                        eq ne
//	string, format date-time:                   at nat after before atafter atbefore
//	boolean:                                    eq ne
//
// Arrays have no operators.
type Op string

// The filter operators.
const (
	OpEq       Op = "eq"       // equal
	OpNe       Op = "ne"       // not equal
	OpVin      Op = "vin"      // value in a list of strings
	OpNin      Op = "nin"      // value not in a list of strings
	OpRegex    Op = "regex"    // matches a regular expression (RE2 syntax), anywhere in the value
	OpGlob     Op = "glob"     // matches a shell pattern (* ? [...]) as a whole
	OpGt       Op = "gt"       // greater than
	OpLt       Op = "lt"       // less than
	OpEgt      Op = "egt"      // equal or greater than
	OpElt      Op = "elt"      // equal or less than
	OpAt       Op = "at"       // the same instant
	OpNat      Op = "nat"      // not the same instant
	OpAfter    Op = "after"    // later than
	OpBefore   Op = "before"   // earlier than
	OpAtAfter  Op = "atafter"  // at or later than
	OpAtBefore Op = "atbefore" // at or earlier than
)

// negative reports whether op also matches records without the field: a
// record with no relation is "not family".
func (op Op) negative() bool { return op == OpNe || op == OpNin || op == OpNat }

var opsByKind = map[kind][]Op{
	kString:   {OpEq, OpNe, OpVin, OpNin, OpRegex, OpGlob},
	kInt:      {OpEq, OpNe, OpGt, OpLt, OpEgt, OpElt},
	kFloat:    {OpEq, OpNe, OpGt, OpLt, OpEgt, OpElt},
	kUUID:     {OpEq, OpNe},
	kDateTime: {OpAt, OpNat, OpAfter, OpBefore, OpAtAfter, OpAtBefore},
	kBool:     {OpEq, OpNe},
}

var allOps = []Op{OpEq, OpNe, OpVin, OpNin, OpRegex, OpGlob, OpGt, OpLt, OpEgt, OpElt,
	OpAt, OpNat, OpAfter, OpBefore, OpAtAfter, OpAtBefore}

// Condition is one test of a filter: Field Op Value. Value is a string,
// number or boolean as JSON decodes it (json.Number and Go integer types
// are fine too), a list of strings for vin and nin, and for date-time
// fields an RFC 3339 string, a number of seconds since the Unix epoch, or
// a time.Time. For an array of scalars, Field is "" and names the item.
type Condition struct {
	Field string
	Op    Op
	Value any
}

// Filter selects the records for which all its conditions hold. The store
// checks it against the class when it is used, and names the field and
// operator in its errors.
type Filter []Condition

// Limits on filters, so that a request cannot make the store do unbounded
// work before the scan starts.
const (
	maxConditions = 64
	maxPattern    = 1024
	maxListValues = 1024
)

// ParseFilter reads a filter in the shape the GraphQL API takes:
//
//	{"relation": {"eq": "family"}, "created_timestamp": {"after": "2025-01-01T00:00:00Z"}}
//
// Conditions come out ordered by field and operator. ParseFilter checks the
// shape only; the store checks fields, operators and values against the
// class when the filter is used.
func ParseFilter(in map[string]any) (Filter, error) {
	var f Filter
	for _, field := range slices.Sorted(maps.Keys(in)) {
		ops, ok := in[field].(map[string]any)
		if !ok {
			return nil, fmt.Errorf("%w: filter on field %q: want an object of operators such as {\"eq\": ...}, got %s", ErrInvalid, field, describe(in[field]))
		}
		if len(ops) == 0 {
			return nil, fmt.Errorf("%w: filter on field %q: no operator; want one such as {\"eq\": ...}", ErrInvalid, field)
		}
		for _, op := range slices.Sorted(maps.Keys(ops)) {
			if !slices.Contains(allOps, Op(op)) {
				return nil, fmt.Errorf("%w: filter on field %q: unknown operator %q; want one of %s", ErrInvalid, field, op, opList(allOps))
			}
			f = append(f, Condition{Field: field, Op: Op(op), Value: ops[op]})
		}
	}
	if len(f) > maxConditions {
		return nil, fmt.Errorf("%w: filter has %d conditions; at most %d are allowed", ErrInvalid, len(f), maxConditions)
	}
	return f, nil
}

// ParseFilterJSON reads a filter from JSON, as ParseFilter does from its
// decoded form. Numbers keep their exact text (json.Number).
func ParseFilterJSON(data []byte) (Filter, error) {
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var in map[string]any
	if err := dec.Decode(&in); err != nil {
		return nil, fmt.Errorf("%w: filter: invalid JSON: %v", ErrInvalid, err)
	}
	if _, err := dec.Token(); !errors.Is(err, io.EOF) {
		return nil, fmt.Errorf("%w: filter: unexpected data after the filter object", ErrInvalid)
	}
	return ParseFilter(in)
}

// cond is a condition compiled against a table: the field's position, and
// the operand converted to the field's kind.
type cond struct {
	pos    int
	k      kind
	op     Op
	v      value // operand of eq ne gt lt egt elt and the date-time operators
	intOK  bool  // for integer fields: the operand is integral and v.i holds it
	set    map[string]struct{}
	re     *regexp.Regexp
	keys   []string // index keys a matching record has one of; nil if no index applies
	usable bool     // keys may be looked up in an index
}

// compileFilter checks f against t and compiles it.
func compileFilter(t *table, f Filter) ([]cond, error) {
	if len(f) > maxConditions {
		return nil, fmt.Errorf("%w: filter has %d conditions; at most %d are allowed", ErrInvalid, len(f), maxConditions)
	}
	out := make([]cond, 0, len(f))
	for _, c := range f {
		cc, err := compileCond(t, c)
		if err != nil {
			return nil, fmt.Errorf("%w: filter on %q: %w", ErrInvalid, t.name, err)
		}
		out = append(out, cc)
	}
	return out, nil
}

func compileCond(t *table, c Condition) (cond, error) {
	pos, ok := t.pos[c.Field]
	if !ok {
		if t.scalar {
			return cond{}, fmt.Errorf("field %q: %q holds single values, not objects; want the field \"\" for the value itself", c.Field, t.name)
		}
		return cond{}, fmt.Errorf("unknown field %q; want one of %s", c.Field, quoteAll(t.fields))
	}
	k := t.kinds[pos]
	ops := opsByKind[k]
	if len(ops) == 0 {
		return cond{}, fmt.Errorf("field %q is an array; filters apply to fields holding a single value", c.Field)
	}
	if !slices.Contains(ops, c.Op) {
		what := "unknown operator"
		if slices.Contains(allOps, c.Op) {
			what = "operator"
		}
		return cond{}, fmt.Errorf("field %q (%s): %s %q does not apply; want one of %s", c.Field, k, what, c.Op, opList(ops))
	}
	cc := cond{pos: pos, k: k, op: c.Op}
	fail := func(want string) error {
		return fmt.Errorf("field %q (%s), operator %q: want %s, got %s", c.Field, k, c.Op, want, describe(c.Value))
	}
	switch {
	case c.Op == OpVin || c.Op == OpNin:
		list, ok := stringList(c.Value)
		if !ok {
			return cond{}, fail("a list of strings")
		}
		if len(list) > maxListValues {
			return cond{}, fmt.Errorf("field %q, operator %q: %d values; at most %d are allowed", c.Field, c.Op, len(list), maxListValues)
		}
		cc.set = make(map[string]struct{}, len(list))
		for _, s := range list {
			cc.set[s] = struct{}{}
		}
		cc.keys = slices.Sorted(maps.Keys(cc.set))
	case c.Op == OpRegex || c.Op == OpGlob:
		p, ok := c.Value.(string)
		if !ok {
			return cond{}, fail("a pattern string")
		}
		if len(p) > maxPattern {
			return cond{}, fmt.Errorf("field %q, operator %q: pattern of %d bytes; at most %d are allowed", c.Field, c.Op, len(p), maxPattern)
		}
		var err error
		if c.Op == OpRegex {
			cc.re, err = regexp.Compile(p)
		} else {
			cc.re, err = globRegexp(p)
		}
		if err != nil {
			return cond{}, fmt.Errorf("field %q, operator %q: invalid pattern %q: %v", c.Field, c.Op, p, err)
		}
	case k == kString:
		s, ok := c.Value.(string)
		if !ok {
			return cond{}, fail("a string")
		}
		cc.v = value{k: k, s: s}
	case k == kUUID:
		s, ok := c.Value.(string)
		if !ok || !contract.IsUUID(s) {
			return cond{}, fail(`a UUID such as "3f2504e0-4f89-41d3-9a0c-0305e82c3301"`)
		}
		cc.v = value{k: k, s: s}
	case k == kBool:
		b, ok := c.Value.(bool)
		if !ok {
			return cond{}, fail("true or false")
		}
		cc.v = value{k: k, i: b2i(b)}
	case k == kInt || k == kFloat:
		f, ok := floatOf(c.Value)
		if !ok {
			return cond{}, fail("a number")
		}
		cc.v = value{k: kFloat, f: f}
		if n, ok := intOf(c.Value); ok {
			cc.v.i, cc.intOK = n, true
		}
	case k == kDateTime:
		ns, ok := parseInstant(c.Value)
		if !ok {
			return cond{}, fail(`an RFC 3339 date-time such as "2025-01-31T12:00:00Z" or a number of seconds since 1970-01-01T00:00:00Z`)
		}
		cc.v = value{k: k, i: ns}
	}
	switch cc.op {
	case OpEq, OpAt:
		cc.usable = true
		switch {
		case k == kInt && !cc.intOK:
			cc.keys = []string{} // no integer equals a fraction
		case k == kInt:
			cc.keys = []string{strconv.FormatInt(cc.v.i, 10)}
		case k == kFloat:
			cc.keys = []string{floatKey(cc.v.f)}
		default:
			cc.keys = []string{cc.v.key()}
		}
	case OpVin:
		cc.usable = true
	}
	return cc, nil
}

// match reports whether a record whose field holds v passes the condition.
func (c *cond) match(v value) bool {
	if v.k == kNone {
		return c.op.negative()
	}
	switch c.op {
	case OpEq, OpAt:
		return c.equal(v)
	case OpNe, OpNat:
		return !c.equal(v)
	case OpVin:
		_, ok := c.set[v.s]
		return ok
	case OpNin:
		_, ok := c.set[v.s]
		return !ok
	case OpRegex, OpGlob:
		return c.re.MatchString(v.s)
	case OpGt, OpAfter:
		return c.compare(v) > 0
	case OpLt, OpBefore:
		return c.compare(v) < 0
	case OpEgt, OpAtAfter:
		return c.compare(v) >= 0
	case OpElt, OpAtBefore:
		return c.compare(v) <= 0
	}
	return false
}

func (c *cond) equal(v value) bool {
	switch c.k {
	case kString:
		return v.s == c.v.s
	case kUUID:
		return strings.EqualFold(v.s, c.v.s)
	case kInt:
		return c.intOK && v.i == c.v.i
	case kFloat:
		return v.f == c.v.f
	case kBool, kDateTime:
		return v.i == c.v.i
	}
	return false
}

// compare returns the sign of the record's value minus the operand.
func (c *cond) compare(v value) int {
	switch {
	case c.k == kDateTime, c.k == kInt && c.intOK:
		return cmpInt(v.i, c.v.i)
	case c.k == kInt:
		return cmpFloat(float64(v.i), c.v.f)
	default:
		return cmpFloat(v.f, c.v.f)
	}
}

func cmpInt(a, b int64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

func cmpFloat(a, b float64) int {
	switch {
	case a < b:
		return -1
	case a > b:
		return 1
	}
	return 0
}

// parseInstant reads a date-time operand as Unix nanoseconds.
func parseInstant(in any) (int64, bool) {
	switch v := in.(type) {
	case time.Time:
		return unixNanos(v), true
	case string:
		if t, err := time.Parse(time.RFC3339Nano, v); err == nil {
			return unixNanos(t), true
		}
		f, err := strconv.ParseFloat(v, 64)
		if err != nil {
			return 0, false
		}
		return secondsToNanos(f)
	}
	if n, ok := intOf(in); ok {
		if n > math.MaxInt64/1_000_000_000 || n < math.MinInt64/1_000_000_000 {
			return 0, false
		}
		return n * 1e9, true
	}
	if f, ok := floatOf(in); ok {
		return secondsToNanos(f)
	}
	return 0, false
}

func secondsToNanos(f float64) (int64, bool) {
	ns := f * 1e9
	if math.IsNaN(ns) || ns >= math.MaxInt64 || ns <= math.MinInt64 {
		return 0, false
	}
	return int64(math.Round(ns)), true
}

func stringList(in any) ([]string, bool) {
	switch v := in.(type) {
	case []string:
		return v, true
	case []any:
		out := make([]string, len(v))
		for i, it := range v {
			s, ok := it.(string)
			if !ok {
				return nil, false
			}
			out[i] = s
		}
		return out, true
	}
	return nil, false
}

// globRegexp translates a shell pattern into an anchored regular
// expression: * is any run of characters, ? one character, [...] and [!...]
// a class, and \ quotes the next character.
func globRegexp(p string) (*regexp.Regexp, error) {
	var b strings.Builder
	b.WriteString(`(?s)\A`)
	for i := 0; i < len(p); {
		r, n := utf8.DecodeRuneInString(p[i:])
		i += n
		switch r {
		case '*':
			b.WriteString(".*")
		case '?':
			b.WriteString(".")
		case '\\':
			if i < len(p) {
				r, n = utf8.DecodeRuneInString(p[i:])
				i += n
			}
			b.WriteString(regexp.QuoteMeta(string(r)))
		case '[':
			end := classEnd(p, i)
			if end < 0 {
				b.WriteString(`\[`)
				continue
			}
			body := p[i:end]
			i = end + 1
			b.WriteByte('[')
			if strings.HasPrefix(body, "!") || strings.HasPrefix(body, "^") {
				b.WriteByte('^')
				body = body[1:]
			}
			for _, c := range body {
				switch c {
				case '\\', '[', ']', '^':
					b.WriteByte('\\')
				}
				b.WriteRune(c)
			}
			b.WriteByte(']')
		default:
			b.WriteString(regexp.QuoteMeta(string(r)))
		}
	}
	b.WriteString(`\z`)
	return regexp.Compile(b.String())
}

// classEnd returns the index of the "]" closing a class that starts at i
// (just after "["), or -1. A "]" right after "[" or "[!" is part of the
// class.
func classEnd(p string, i int) int {
	j := i
	if j < len(p) && (p[j] == '!' || p[j] == '^') {
		j++
	}
	if j < len(p) && p[j] == ']' {
		j++
	}
	k := strings.IndexByte(p[j:], ']')
	if k < 0 {
		return -1
	}
	return j + k
}

func opList(ops []Op) string {
	s := make([]string, len(ops))
	for i, op := range ops {
		s[i] = string(op)
	}
	return strings.Join(s, ", ")
}

func quoteAll(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = strconv.Quote(n)
	}
	return strings.Join(q, ", ")
}

// describe names a value briefly for an error message.
func describe(v any) string {
	switch v := v.(type) {
	case nil:
		return "null"
	case string:
		if len(v) > 40 {
			return "a long string"
		}
		return strconv.Quote(v)
	case bool, json.Number, float64, float32, int, int64, int32, uint, uint64, uint32:
		return fmt.Sprint(v)
	case []any, []string:
		return "a list"
	case map[string]any:
		return "an object"
	}
	return fmt.Sprintf("a %T", v)
}
