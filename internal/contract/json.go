package contract

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"slices"
	"strconv"
	"strings"
	"unicode/utf8"
)

// maxNesting bounds how deep objects and arrays may nest in a contract. The
// reference's contracts reach 10 levels; the bound keeps hostile input from
// costing deep recursion here and in the schema validator.
const maxNesting = 24

// jsonKind is the type of a JSON value.
type jsonKind uint8

const (
	jsonNull jsonKind = iota
	jsonBool
	jsonNumber
	jsonString
	jsonArray
	jsonObject
)

// value is a decoded JSON value that keeps what encoding/json drops: the order
// of object members (classes and fields keep the order their author gave them)
// and the literal text of numbers (so signing and re-serialising never rewrite
// "1.0" as "1").
type value struct {
	kind    jsonKind
	boolean bool
	text    string // a string's value, or a number's literal text
	items   []*value
	members []member
}

// member is one key of a JSON object.
type member struct {
	key   string
	value *value
}

// get returns the member key of an object, or nil.
func (v *value) get(key string) *value {
	if v == nil || v.kind != jsonObject {
		return nil
	}
	for i := range v.members {
		if v.members[i].key == key {
			return v.members[i].value
		}
	}
	return nil
}

// str returns the value of a JSON string, and whether v is one.
func (v *value) str() (string, bool) {
	if v == nil || v.kind != jsonString {
		return "", false
	}
	return v.text, true
}

// toAny converts v to the representation of encoding/json with UseNumber,
// which is what the JSON Schema validator takes.
func (v *value) toAny() any {
	switch v.kind {
	case jsonBool:
		return v.boolean
	case jsonNumber:
		return json.Number(v.text)
	case jsonString:
		return v.text
	case jsonArray:
		out := make([]any, len(v.items))
		for i, it := range v.items {
			out[i] = it.toAny()
		}
		return out
	case jsonObject:
		out := make(map[string]any, len(v.members))
		for _, m := range v.members {
			out[m.key] = m.value.toAny()
		}
		return out
	default:
		return nil
	}
}

// decodeJSON parses one JSON document. It refuses invalid UTF-8, duplicate
// keys (two parsers may keep different ones, and a signature must mean one
// thing), nesting deeper than maxNesting and anything after the document.
func decodeJSON(data []byte) (*value, error) {
	if !utf8.Valid(data) {
		off := 0
		for off < len(data) {
			r, size := utf8.DecodeRune(data[off:])
			if r == utf8.RuneError && size <= 1 {
				break
			}
			off += size
		}
		return nil, Error{Message: fmt.Sprintf("invalid UTF-8 at byte %d; want a UTF-8 JSON document", off)}
	}
	d := &decoder{dec: json.NewDecoder(bytes.NewReader(data))}
	d.dec.UseNumber()
	v, err := d.value(nil)
	if err != nil {
		return nil, err
	}
	if _, err := d.dec.Token(); !errors.Is(err, io.EOF) {
		return nil, Error{Message: fmt.Sprintf("unexpected data after the JSON document at byte %d; want a single JSON document", d.dec.InputOffset())}
	}
	return v, nil
}

type decoder struct {
	dec *json.Decoder
}

func (d *decoder) syntaxError(path []string, err error) error {
	ptr := pointerOf(path)
	if errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) {
		return Error{Pointer: ptr, Message: "unexpected end of JSON; want a complete JSON document"}
	}
	var se *json.SyntaxError
	if errors.As(err, &se) {
		return Error{Pointer: ptr, Message: fmt.Sprintf("invalid JSON at byte %d: %s", se.Offset, se.Error())}
	}
	return Error{Pointer: ptr, Message: fmt.Sprintf("invalid JSON at byte %d: %s", d.dec.InputOffset(), err.Error())}
}

func pointerOf(path []string) string {
	var ptr string
	for _, p := range path {
		ptr = appendPointer(ptr, p)
	}
	return ptr
}

// value decodes the next value. path is the location of the value being
// decoded, for error messages.
func (d *decoder) value(path []string) (*value, error) {
	tok, err := d.dec.Token()
	if err != nil {
		return nil, d.syntaxError(path, err)
	}
	switch t := tok.(type) {
	case json.Delim:
		if len(path) >= maxNesting {
			return nil, Error{Pointer: pointerOf(path), Message: fmt.Sprintf("nesting deeper than %d levels; want a flatter document", maxNesting)}
		}
		if t == '[' {
			return d.array(path)
		}
		if t == '{' {
			return d.object(path)
		}
		return nil, Error{Pointer: pointerOf(path), Message: fmt.Sprintf("unexpected %q; want a JSON value", rune(t))}
	case string:
		return &value{kind: jsonString, text: t}, nil
	case json.Number:
		return &value{kind: jsonNumber, text: string(t)}, nil
	case bool:
		return &value{kind: jsonBool, boolean: t}, nil
	case nil:
		return &value{kind: jsonNull}, nil
	default:
		return nil, Error{Pointer: pointerOf(path), Message: fmt.Sprintf("unexpected token %v; want a JSON value", tok)}
	}
}

func (d *decoder) array(path []string) (*value, error) {
	v := &value{kind: jsonArray}
	for d.dec.More() {
		it, err := d.value(append(path, strconv.Itoa(len(v.items))))
		if err != nil {
			return nil, err
		}
		v.items = append(v.items, it)
	}
	if _, err := d.dec.Token(); err != nil {
		return nil, d.syntaxError(path, err)
	}
	return v, nil
}

func (d *decoder) object(path []string) (*value, error) {
	v := &value{kind: jsonObject}
	var seen map[string]struct{}
	for d.dec.More() {
		tok, err := d.dec.Token()
		if err != nil {
			return nil, d.syntaxError(path, err)
		}
		key, ok := tok.(string)
		if !ok {
			return nil, Error{Pointer: pointerOf(path), Message: fmt.Sprintf("unexpected %v; want an object key", tok)}
		}
		// A linear scan is cheapest for the small objects of a contract; a
		// map keeps huge hostile objects from costing quadratic time.
		dup := false
		if seen != nil {
			_, dup = seen[key]
		} else {
			for i := range v.members {
				if v.members[i].key == key {
					dup = true
					break
				}
			}
		}
		if dup {
			return nil, Error{Pointer: appendPointer(pointerOf(path), key), Message: "duplicate key; want each key once per object"}
		}
		if seen == nil && len(v.members) >= 16 {
			seen = make(map[string]struct{}, 2*len(v.members))
			for i := range v.members {
				seen[v.members[i].key] = struct{}{}
			}
		}
		if seen != nil {
			seen[key] = struct{}{}
		}
		mv, err := d.value(append(path, key))
		if err != nil {
			return nil, err
		}
		v.members = append(v.members, member{key: key, value: mv})
	}
	if _, err := d.dec.Token(); err != nil {
		return nil, d.syntaxError(path, err)
	}
	return v, nil
}

// appendCanonical appends the canonical form of v: object members sorted by
// the bytes of their keys, no whitespace, strings escaped by appendString and
// numbers as written in the source.
func appendCanonical(buf []byte, v *value) []byte {
	switch v.kind {
	case jsonObject:
		ms := slices.Clone(v.members)
		slices.SortFunc(ms, func(a, b member) int { return strings.Compare(a.key, b.key) })
		buf = append(buf, '{')
		for i, m := range ms {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendString(buf, m.key)
			buf = append(buf, ':')
			buf = appendCanonical(buf, m.value)
		}
		return append(buf, '}')
	case jsonArray:
		buf = append(buf, '[')
		for i, it := range v.items {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = appendCanonical(buf, it)
		}
		return append(buf, ']')
	default:
		return appendScalar(buf, v)
	}
}

// appendIndented appends v with members in document order, one per line,
// indented by four spaces per level, as the reference's contracts are laid
// out.
func appendIndented(buf []byte, v *value, level int) []byte {
	indent := func(buf []byte, level int) []byte {
		buf = append(buf, '\n')
		for range level {
			buf = append(buf, "    "...)
		}
		return buf
	}
	switch v.kind {
	case jsonObject:
		if len(v.members) == 0 {
			return append(buf, "{}"...)
		}
		buf = append(buf, '{')
		for i, m := range v.members {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = indent(buf, level+1)
			buf = appendString(buf, m.key)
			buf = append(buf, ": "...)
			buf = appendIndented(buf, m.value, level+1)
		}
		buf = indent(buf, level)
		return append(buf, '}')
	case jsonArray:
		if len(v.items) == 0 {
			return append(buf, "[]"...)
		}
		buf = append(buf, '[')
		for i, it := range v.items {
			if i > 0 {
				buf = append(buf, ',')
			}
			buf = indent(buf, level+1)
			buf = appendIndented(buf, it, level+1)
		}
		buf = indent(buf, level)
		return append(buf, ']')
	default:
		return appendScalar(buf, v)
	}
}

func appendScalar(buf []byte, v *value) []byte {
	switch v.kind {
	case jsonString:
		return appendString(buf, v.text)
	case jsonNumber:
		return append(buf, v.text...)
	case jsonBool:
		if v.boolean {
			return append(buf, "true"...)
		}
		return append(buf, "false"...)
	default:
		return append(buf, "null"...)
	}
}

// appendString appends s as a JSON string the way RFC 8785 does: only '"',
// '\\' and control characters are escaped ("\b", "\t", "\n", "\f", "\r", else
// "\u00xx" in lower-case hex); everything else is written as UTF-8.
func appendString(buf []byte, s string) []byte {
	const hex = "0123456789abcdef"
	buf = append(buf, '"')
	start := 0
	for i := 0; i < len(s); i++ {
		c := s[i]
		if c >= 0x20 && c != '"' && c != '\\' {
			continue
		}
		buf = append(buf, s[start:i]...)
		switch c {
		case '"', '\\':
			buf = append(buf, '\\', c)
		case '\b':
			buf = append(buf, '\\', 'b')
		case '\t':
			buf = append(buf, '\\', 't')
		case '\n':
			buf = append(buf, '\\', 'n')
		case '\f':
			buf = append(buf, '\\', 'f')
		case '\r':
			buf = append(buf, '\\', 'r')
		default:
			buf = append(buf, '\\', 'u', '0', '0', hex[c>>4], hex[c&0xf])
		}
		start = i + 1
	}
	buf = append(buf, s[start:]...)
	return append(buf, '"')
}
