// Package field is the typed value of one field of a stored record, as the
// store hands it out and the GraphQL executor writes it: a scalar costs no
// allocation and no interface. Both sides use this one type, so a value
// crosses from storage to the response without being converted.
package field

// Kind says which field of a Value holds it.
type Kind uint8

// The kinds of a Value.
const (
	// None is an absent value.
	None Kind = iota
	// String is in Str: a string, uuid or date-time field.
	String
	// Int is in Int.
	Int
	// Float is in Float.
	Float
	// Bool is in Int: 1 for true, 0 for false.
	Bool
	// Other is in Other, as a record held in a map holds it: an array.
	Other
)

// Value is the value of one field.
type Value struct {
	Kind  Kind
	Str   string
	Int   int64
	Float float64
	Other any
}

// Any returns v as a record held in a map holds it: string, int64, float64,
// bool, the Other value, or nil when absent.
func (v Value) Any() any {
	switch v.Kind {
	case String:
		return v.Str
	case Int:
		return v.Int
	case Float:
		return v.Float
	case Bool:
		return v.Int != 0
	case Other:
		return v.Other
	}
	return nil
}
