package graphql

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
)

// TestAppendStringEveryPlace puts each character that needs care at every
// place of strings long enough to cross the word-at-a-time fast path, and
// checks that the JSON is valid, decodes to the input, and escapes what it
// must.
func TestAppendStringEveryPlace(t *testing.T) {
	for _, special := range []string{`"`, `\`, "\n", "\x00", "\x1f", " ", "~", "\x7f", "é", "\u2028", "🎉"} {
		for n := range 20 {
			for at := 0; at <= n; at++ {
				in := strings.Repeat("a", at) + special + strings.Repeat("b", n-at)
				got := appendString(nil, in)
				var back string
				if err := json.Unmarshal(got, &back); err != nil || back != in {
					t.Fatalf("appendString(%q) = %s; decodes to %q, %v", in, got, back, err)
				}
				if bytes.ContainsAny(got[1:len(got)-1], "\x00\x1f\n\u2028") || bytes.Count(got, []byte(`"`)) != 2+strings.Count(in, `"`) {
					t.Fatalf("appendString(%q) = %s does not escape what it must", in, got)
				}
			}
		}
	}
}

func TestAppendString(t *testing.T) {
	for in, want := range map[string]string{
		"plain":          `"plain"`,
		"q\"b\\":         `"q\"b\\"`,
		"\n\t\r\x01":     `"\n\t\r\u0001"`,
		"bad \xff utf8":  `"bad \ufffd utf8"`,
		"line\u2028sep":  `"line\u2028sep"`,
		"émoji 🎉 <&>":    `"émoji 🎉 <&>"`,
		"\x7f delete ok": "\"\x7f delete ok\"",
	} {
		got := string(appendString(nil, in))
		if got != want {
			t.Errorf("appendString(%q) = %s; want %s", in, got, want)
		}
		if !json.Valid([]byte(got)) {
			t.Errorf("appendString(%q) = %s is not JSON", in, got)
		}
	}
}
