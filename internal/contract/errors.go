package contract

import (
	"cmp"
	"slices"
	"strings"
)

// Error is one problem found in a contract or in a record, located by an RFC
// 6901 JSON pointer into the document that was checked. Keys are written as
// they appear in the document ("/jsonschema/properties/person/#accesscontrol"),
// with "~" and "/" escaped as "~0" and "~1". The empty pointer is the whole
// document.
type Error struct {
	Pointer string
	Message string
}

// Error formats the error as "<pointer>: <message>", with "(root)" standing
// for the empty pointer.
func (e Error) Error() string {
	p := e.Pointer
	if p == "" {
		p = "(root)"
	}
	return p + ": " + e.Message
}

// Errors is every problem found in one document. Parse and the record
// validators return it, so a caller can report all problems at once:
//
//	var errs contract.Errors
//	if errors.As(err, &errs) { for _, e := range errs { ... } }
type Errors []Error

// Error joins the errors one per line.
func (es Errors) Error() string {
	var sb strings.Builder
	for i, e := range es {
		if i > 0 {
			sb.WriteByte('\n')
		}
		sb.WriteString(e.Error())
	}
	return sb.String()
}

// sorted orders errors by pointer, keeping the order of errors found at the
// same pointer, and drops exact duplicates.
func (es Errors) sorted() Errors {
	slices.SortStableFunc(es, func(a, b Error) int { return cmp.Compare(a.Pointer, b.Pointer) })
	return slices.Compact(es)
}

// pointerEscaper escapes a key as an RFC 6901 reference token.
var pointerEscaper = strings.NewReplacer("~", "~0", "/", "~1")

// appendPointer returns the pointer of key inside the value at ptr.
func appendPointer(ptr, key string) string {
	if strings.ContainsAny(key, "~/") {
		key = pointerEscaper.Replace(key)
	}
	return ptr + "/" + key
}
