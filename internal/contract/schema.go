package contract

import (
	_ "embed"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"sync"

	"github.com/santhosh-tekuri/jsonschema/v6"
	"github.com/santhosh-tekuri/jsonschema/v6/kind"
	"golang.org/x/text/language"
	"golang.org/x/text/message"
)

// The contract schema is validated with github.com/santhosh-tekuri/jsonschema
// v6 rather than the v5 the design card names: v6 is the maintained line of
// the same library, already in go.mod, and its errors carry the instance
// location as a token list and a typed ErrorKind, which is what turning them
// into "<pointer>: want ..." messages needs. v5 only has formatted strings.

//go:embed contract.schema.json
var schemaJSON []byte

// SchemaURL is the $id of the JSON Schema that every contract must satisfy.
const SchemaURL = "https://github.com/byoda-go/byoda/internal/contract/contract.schema.json"

// JSONSchema returns the JSON Schema (draft 2020-12) of the contract file,
// for publishing to contract authors and their editors. Keys starting with
// "x-" are annotations for error messages.
func JSONSchema() []byte { return slices.Clone(schemaJSON) }

// annotations are the x-* keywords of one schema location.
type annotations struct {
	want   string   // x-want: what a value here must be
	legacy string   // x-legacy: the message for a list where an object is due
	keys   string   // x-keys: what this object's keys are called
	known  []string // the keys of "properties", in schema order
}

type compiledSchema struct {
	schema *jsonschema.Schema
	notes  map[string]*annotations // by JSON pointer into the schema
}

var loadSchema = sync.OnceValues(func() (*compiledSchema, error) {
	doc, err := decodeJSON(schemaJSON)
	if err != nil {
		return nil, fmt.Errorf("decode contract schema: %w", err)
	}
	c := jsonschema.NewCompiler()
	if err := c.AddResource(SchemaURL, doc.toAny()); err != nil {
		return nil, fmt.Errorf("load contract schema: %w", err)
	}
	sch, err := c.Compile(SchemaURL)
	if err != nil {
		return nil, fmt.Errorf("compile contract schema: %w", err)
	}
	cs := &compiledSchema{schema: sch, notes: map[string]*annotations{}}
	cs.collect(doc, "")
	return cs, nil
})

// collect records the annotations of every schema object under v.
func (cs *compiledSchema) collect(v *value, ptr string) {
	switch v.kind {
	case jsonObject:
		a := &annotations{}
		a.want, _ = v.get("x-want").str()
		a.legacy, _ = v.get("x-legacy").str()
		a.keys, _ = v.get("x-keys").str()
		if props := v.get("properties"); props != nil && props.kind == jsonObject {
			for _, m := range props.members {
				a.known = append(a.known, m.key)
			}
		}
		if a.want != "" || a.legacy != "" || a.keys != "" || a.known != nil {
			cs.notes[ptr] = a
		}
		for _, m := range v.members {
			cs.collect(m.value, appendPointer(ptr, m.key))
		}
	case jsonArray:
		for i, it := range v.items {
			cs.collect(it, appendPointer(ptr, fmt.Sprint(i)))
		}
	}
}

// note returns the annotations of the schema at an absolute schema location
// such as "<SchemaURL>#/$defs/relation".
func (cs *compiledSchema) note(location string) *annotations {
	_, frag, ok := strings.Cut(location, "#")
	if !ok {
		return cs.notes[""]
	}
	if f, err := url.PathUnescape(frag); err == nil {
		frag = f
	}
	return cs.notes[frag]
}

// validateSchema checks doc against the contract schema and returns every
// violation as an Error.
func validateSchema(doc *value) (Errors, error) {
	cs, err := loadSchema()
	if err != nil {
		return nil, err
	}
	err = cs.schema.Validate(doc.toAny())
	if err == nil {
		return nil, nil
	}
	var ve *jsonschema.ValidationError
	if !errors.As(err, &ve) {
		return nil, fmt.Errorf("validate contract schema: %w", err)
	}
	var errs Errors
	cs.flatten(ve, doc, &errs)
	return errs, nil
}

var printer = message.NewPrinter(language.English)

// flatten turns the tree of validation errors into one Error per leaf, each
// phrased as what was expected at the instance location.
func (cs *compiledSchema) flatten(ve *jsonschema.ValidationError, doc *value, out *Errors) {
	ptr := pointerOf(ve.InstanceLocation)
	note := cs.note(ve.SchemaURL)
	switch k := ve.ErrorKind.(type) {
	case *kind.Schema, *kind.Group, *kind.AllOf, *kind.Reference:
		for _, c := range ve.Causes {
			cs.flatten(c, doc, out)
		}
		return
	case *kind.Type:
		if note != nil && note.legacy != "" && k.Got == "array" {
			*out = append(*out, Error{Pointer: ptr, Message: note.legacy})
			return
		}
	case *kind.AdditionalProperties:
		what, known := "key", []string(nil)
		if note != nil {
			if note.keys != "" {
				what = note.keys
			}
			known = note.known
		}
		props := slices.Clone(k.Properties)
		slices.Sort(props)
		for _, p := range props {
			msg := fmt.Sprintf("unknown %s %q", what, p)
			if len(known) > 0 {
				msg += "; want one of " + quoteList(known)
			}
			*out = append(*out, Error{Pointer: appendPointer(ptr, p), Message: msg})
		}
		return
	case *kind.Required:
		for _, m := range k.Missing {
			*out = append(*out, Error{Pointer: ptr, Message: fmt.Sprintf("missing required key %q", m)})
		}
		return
	}
	if note != nil && note.want != "" {
		*out = append(*out, Error{Pointer: ptr, Message: "want " + note.want + got(doc, ve.InstanceLocation, ve.ErrorKind)})
		return
	}
	*out = append(*out, Error{Pointer: ptr, Message: describe(ve.ErrorKind) + got(doc, ve.InstanceLocation, ve.ErrorKind)})
}

// describe phrases a leaf error kind as what is expected.
func describe(k jsonschema.ErrorKind) string {
	switch k := k.(type) {
	case *kind.Type:
		want := make([]string, len(k.Want))
		for i, w := range k.Want {
			want[i] = typeNoun(w)
		}
		return "want " + strings.Join(want, " or ")
	case *kind.Enum:
		vals := make([]string, len(k.Want))
		for i, w := range k.Want {
			vals[i] = fmt.Sprintf("%q", fmt.Sprint(w))
		}
		return "want one of " + strings.Join(vals, ", ")
	case *kind.Const:
		return fmt.Sprintf("want %q", fmt.Sprint(k.Want))
	case *kind.MinItems:
		return fmt.Sprintf("want at least %d item(s)", k.Want)
	case *kind.MaxItems:
		return fmt.Sprintf("want at most %d item(s)", k.Want)
	case *kind.MinLength:
		if k.Want == 1 {
			return "want a non-empty string"
		}
		return fmt.Sprintf("want at least %d characters", k.Want)
	case *kind.MaxLength:
		return fmt.Sprintf("want at most %d characters", k.Want)
	case *kind.MinProperties:
		return fmt.Sprintf("want at least %d key(s)", k.Want)
	case *kind.Minimum:
		return fmt.Sprintf("want a number of at least %v", k.Want)
	case *kind.Maximum:
		return fmt.Sprintf("want a number of at most %v", k.Want)
	case *kind.Pattern:
		return fmt.Sprintf("want a string matching %s", k.Want)
	case *kind.UniqueItems:
		return fmt.Sprintf("want distinct items; items %d and %d are equal", k.Duplicates[0], k.Duplicates[1])
	case *kind.AnyOf, *kind.OneOf:
		return "want a value of one of the allowed forms"
	default:
		return "want a valid value: " + k.LocalizedString(printer)
	}
}

// got describes the offending value, briefly: ", got <type or value>". An
// object or a list is described only when its type was the problem.
func got(doc *value, loc []string, k jsonschema.ErrorKind) string {
	v := doc
	for _, tok := range loc {
		switch v.kind {
		case jsonObject:
			v = v.get(tok)
		case jsonArray:
			i := 0
			if _, err := fmt.Sscan(tok, &i); err != nil || i < 0 || i >= len(v.items) {
				return ""
			}
			v = v.items[i]
		default:
			v = nil
		}
		if v == nil {
			return ""
		}
	}
	switch v.kind {
	case jsonString:
		if len(v.text) > 40 {
			return ", got a string"
		}
		return fmt.Sprintf(", got %q", v.text)
	case jsonNumber:
		if len(v.text) > 40 {
			return ", got a number"
		}
		return ", got " + v.text
	case jsonBool:
		return fmt.Sprintf(", got %t", v.boolean)
	case jsonNull:
		return ", got null"
	}
	if _, ok := k.(*kind.Type); !ok {
		return ""
	}
	if v.kind == jsonArray {
		return ", got a list"
	}
	return ", got an object"
}

func typeNoun(t string) string {
	switch t {
	case "object":
		return "an object"
	case "array":
		return "a list"
	case "string":
		return "a string"
	case "integer":
		return "an integer"
	case "number":
		return "a number"
	case "boolean":
		return "true or false"
	case "null":
		return "null"
	}
	return t
}

func quoteList(names []string) string {
	q := make([]string, len(names))
	for i, n := range names {
		q[i] = fmt.Sprintf("%q", n)
	}
	return strings.Join(q, ", ")
}
