package graphql

import (
	"encoding/binary"
	"encoding/json"
	"math"
	"strconv"
	"time"
	"unicode/utf8"
	"unsafe"
)

// The executor writes its responses as JSON bytes directly, in the order of
// the query's fields, rather than building maps and marshaling them.

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string. Invalid UTF-8 becomes U+FFFD, as
// encoding/json does, so that the output is always valid JSON.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	i := plainPrefix(s)
	if i == len(s) {
		b = append(b, s...)
		return append(b, '"')
	}
	for i < len(s) {
		c := s[i]
		if c < utf8.RuneSelf {
			if c >= 0x20 && c != '"' && c != '\\' {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, size := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && size == 1 {
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
			i += size
			start = i
			continue
		}
		// U+2028 and U+2029 are valid JSON but break JavaScript that
		// evaluates it; encoding/json escapes them too.
		if r == '\u2028' || r == '\u2029' {
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
			i += size
			start = i
			continue
		}
		i += size
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}

// plainPrefix returns the length of the longest prefix of s, in whole
// 8-byte words, that JSON takes as it is: printable ASCII other than '"'
// and '\\'. Most stored values are all of that, and checking a word at a
// time is several times faster than a byte at a time.
func plainPrefix(s string) int {
	const (
		ones  = 0x0101010101010101
		highs = 0x8080808080808080
	)
	hasZero := func(w uint64) uint64 { return (w - ones) & ^w & highs }
	b := unsafe.Slice(unsafe.StringData(s), len(s))
	i := 0
	for ; i+8 <= len(b); i += 8 {
		w := binary.LittleEndian.Uint64(b[i:])
		// A byte >= 0x80, < 0x20, '"' or '\\' stops the fast path.
		if (w|(w-0x20*ones)|hasZero(w^('"'*ones))|hasZero(w^('\\'*ones)))&highs != 0 {
			break
		}
	}
	if i+8 > len(b) {
		// The tail, byte by byte.
		for ; i < len(b); i++ {
			if c := b[i]; c < 0x20 || c >= utf8.RuneSelf || c == '"' || c == '\\' {
				return i
			}
		}
	}
	return i
}

// appendInt appends a stored integer, or null when v is not one.
func appendInt(b []byte, v any) []byte {
	switch n := v.(type) {
	case int64:
		return strconv.AppendInt(b, n, 10)
	case int:
		return strconv.AppendInt(b, int64(n), 10)
	case int32:
		return strconv.AppendInt(b, int64(n), 10)
	case float64:
		if n == math.Trunc(n) && math.Abs(n) <= 1<<53 {
			return strconv.AppendInt(b, int64(n), 10)
		}
	case json.Number:
		if i, err := n.Int64(); err == nil {
			return strconv.AppendInt(b, i, 10)
		}
	}
	return append(b, "null"...)
}

// appendFloat appends a stored number, or null when v is not a finite one.
func appendFloat(b []byte, v any) []byte {
	f, ok := toFloat(v)
	if !ok || math.IsInf(f, 0) {
		return append(b, "null"...)
	}
	return strconv.AppendFloat(b, f, 'g', -1, 64)
}

// appendValue appends a typed value as the GraphQL scalar named t, as
// appendScalar does for the same value boxed.
func appendValue(b []byte, t string, v *Value) []byte {
	switch {
	case v.Kind == ValueString && t != "Int" && t != "Float" && t != "Boolean":
		return appendString(b, v.Str)
	case v.Kind == ValueInt && t == "Int":
		return strconv.AppendInt(b, v.Int, 10)
	case v.Kind == ValueBool && t == "Boolean":
		return strconv.AppendBool(b, v.Int != 0)
	case v.Kind == ValueFloat && t == "Float" && !math.IsInf(v.Float, 0) && !math.IsNaN(v.Float):
		return strconv.AppendFloat(b, v.Float, 'g', -1, 64)
	}
	return appendScalar(b, t, v.Any())
}

// appendScalar appends a stored value as the GraphQL scalar named t, or null
// when the value does not fit it.
func appendScalar(b []byte, t string, v any) []byte {
	switch t {
	case "Int":
		return appendInt(b, v)
	case "Float":
		return appendFloat(b, v)
	case "Boolean":
		if x, ok := v.(bool); ok {
			return strconv.AppendBool(b, x)
		}
	default: // String, DateTime, UUID
		switch x := v.(type) {
		case string:
			return appendString(b, x)
		case time.Time:
			return appendString(b, x.Format(time.RFC3339Nano))
		}
	}
	return append(b, "null"...)
}
