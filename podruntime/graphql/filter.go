package graphql

import (
	"encoding/json"
	"math"
	"strconv"
)

// Filter selects items of an array class: an item matches when it matches
// every Condition. The executor checks the fields, operators and values
// against the schema and passes the filter to Data, which evaluates it:
// for queries, updates, deletes and watches alike (the pod's store, with
// one engine for all of them).
type Filter []Condition

// Condition compares one field of an item with a value.
type Condition struct {
	// Field is the field of a record; empty for an item of an array of
	// scalars, which is compared itself.
	Field string
	// Op is the operator as the schema's filter input names it.
	Op Op
	// Value is what the field is compared with: a string (for string and
	// uuid fields, and the pattern of OpRegex and OpGlob), []string (for
	// OpIn and OpNotIn), int64 (integer), float64 (number), bool, or
	// time.Time (the date-time operators).
	Value any
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
	OpGlob  Op = "glob"  // the whole value; * ? [...] [!...] and \ as in a shell

	// The operators of date-time fields, which compare instants.
	OpAt       Op = "at"
	OpNat      Op = "nat"
	OpAfter    Op = "after"
	OpBefore   Op = "before"
	OpAtAfter  Op = "atafter"
	OpAtBefore Op = "atbefore"
)

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
