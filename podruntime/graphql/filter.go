package graphql

import (
	"cmp"
	"encoding/json"
	"math"
	"regexp"
	"slices"
	"strconv"
	"time"
	"unicode/utf8"
)

// Filter selects items of an array class: an item matches when it matches
// every Condition.
type Filter []Condition

// Condition compares one field of an item with a value. The schema's
// operators are normalized: the date-time operators at, nat, after, before,
// atafter and atbefore arrive as OpEq, OpNe, OpGt, OpLt, OpGe and OpLe.
type Condition struct {
	// Field is the field of a record; empty for an item of an array of
	// scalars, which is compared itself.
	Field string
	Op    Op
	// Value is what the field is compared with: a string (for string and
	// uuid fields, and the pattern of OpRegex and OpGlob), []string (for
	// OpIn and OpNotIn), int64 (integer), float64 (number), bool or
	// time.Time (date-time, compared as instants).
	Value any

	re *regexp.Regexp // the compiled Value of OpRegex
}

// Op is a comparison operator of a Condition.
type Op string

// The operators, named as in the schema's filter inputs.
const (
	OpEq    Op = "eq"
	OpNe    Op = "ne"
	OpGt    Op = "gt"
	OpLt    Op = "lt"
	OpGe    Op = "egt"
	OpLe    Op = "elt"
	OpIn    Op = "vin"   // the value is one of a list
	OpNotIn Op = "nin"   // the value is none of a list
	OpRegex Op = "regex" // RE2 syntax, unanchored
	OpGlob  Op = "glob"  // the whole value; '*' is any run of characters, '?' one character
)

// Match reports whether node, a Record or a scalar, matches every condition
// of f. It defines the filter semantics that Data.Query implementations
// follow: a field that is missing or null matches only OpNe and OpNotIn;
// a value of another type than the condition's matches only OpNe and
// OpNotIn too.
func (f Filter) Match(node any) bool {
	for i := range f {
		if !f[i].Match(node) {
			return false
		}
	}
	return true
}

// Match reports whether node, a Record or a scalar, matches the condition.
func (c *Condition) Match(node any) bool {
	v := node
	if c.Field != "" {
		rec, ok := node.(map[string]any)
		if !ok {
			return false
		}
		v = rec[c.Field]
	}
	switch c.Op {
	case OpIn, OpNotIn:
		list, _ := c.Value.([]string)
		s, ok := v.(string)
		found := ok && slices.Contains(list, s)
		return found == (c.Op == OpIn)
	case OpRegex:
		s, ok := v.(string)
		if !ok {
			return false
		}
		re := c.re
		if re == nil {
			pattern, _ := c.Value.(string)
			var err error
			if re, err = regexp.Compile(pattern); err != nil {
				return false
			}
		}
		return re.MatchString(s)
	case OpGlob:
		s, ok := v.(string)
		pattern, _ := c.Value.(string)
		return ok && globMatch(pattern, s)
	}
	order, ok := compareValues(v, c.Value)
	switch c.Op {
	case OpEq:
		return ok && order == 0
	case OpNe:
		return !ok || order != 0
	case OpGt:
		return ok && order > 0
	case OpLt:
		return ok && order < 0
	case OpGe:
		return ok && order >= 0
	case OpLe:
		return ok && order <= 0
	}
	return false
}

// compareValues orders a stored value against a condition's value; ok is
// false when they cannot be compared.
func compareValues(stored, want any) (order int, ok bool) {
	switch w := want.(type) {
	case string:
		s, ok := stored.(string)
		return cmp.Compare(s, w), ok
	case bool:
		b, ok := stored.(bool)
		if !ok {
			return 0, false
		}
		if b == w {
			return 0, true
		}
		return 1, true
	case int64:
		if n, ok := stored.(int64); ok {
			return cmp.Compare(n, w), true
		}
		f, ok := toFloat(stored)
		return cmp.Compare(f, float64(w)), ok
	case float64:
		f, ok := toFloat(stored)
		return cmp.Compare(f, w), ok
	case time.Time:
		var t time.Time
		switch s := stored.(type) {
		case string:
			var err error
			if t, err = time.Parse(time.RFC3339Nano, s); err != nil {
				return 0, false
			}
		case time.Time:
			t = s
		default:
			return 0, false
		}
		return t.Compare(w), true
	}
	return 0, false
}

// toFloat converts the numbers a Record may hold.
func toFloat(v any) (float64, bool) {
	switch n := v.(type) {
	case float64:
		return n, !math.IsNaN(n)
	case int64:
		return float64(n), true
	case int:
		return float64(n), true
	case int32:
		return float64(n), true
	case float32:
		return float64(n), true
	case json.Number:
		f, err := strconv.ParseFloat(string(n), 64)
		return f, err == nil
	}
	return 0, false
}

// globMatch reports whether all of s matches pattern, where '*' stands for
// any run of characters and '?' for one; every other character stands for
// itself. It backtracks only to the last '*', so it runs in O(len(pattern)
// * len(s)) at worst.
func globMatch(pattern, s string) bool {
	px, sx := 0, 0
	starP, starS := -1, -1
	for sx < len(s) {
		if px < len(pattern) {
			switch pattern[px] {
			case '*':
				starP, starS = px, sx
				px++
				continue
			case '?':
				_, n := utf8.DecodeRuneInString(s[sx:])
				px++
				sx += n
				continue
			default:
				pr, pn := utf8.DecodeRuneInString(pattern[px:])
				sr, sn := utf8.DecodeRuneInString(s[sx:])
				if pr == sr {
					px += pn
					sx += sn
					continue
				}
			}
		}
		if starP < 0 {
			return false
		}
		// Let the last '*' take one more character and try again.
		_, n := utf8.DecodeRuneInString(s[starS:])
		starS += n
		px, sx = starP+1, starS
	}
	for px < len(pattern) && pattern[px] == '*' {
		px++
	}
	return px == len(pattern)
}
