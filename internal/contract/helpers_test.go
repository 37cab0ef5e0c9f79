package contract

import (
	"bytes"
	"encoding/json"
	"os"
	"strconv"
	"strings"
	"testing"
)

const (
	// addressbookPath is the reference's published contract, shared by the
	// project and never copied into the repository.
	addressbookPath = "../../../shared/contracts/addressbook.json"
	demoPath        = "../../config/samples/contracts/addressbook-demo.json"
)

func readFile(t testing.TB, path string) []byte {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	return data
}

func mustParse(t testing.TB, data []byte) *Contract {
	t.Helper()
	c, err := Parse(data)
	if err != nil {
		t.Fatalf("Parse: %v", err)
	}
	return c
}

// decodeDoc decodes a contract into maps for a test to change.
func decodeDoc(t testing.TB, data []byte) map[string]any {
	t.Helper()
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.UseNumber()
	var doc map[string]any
	if err := dec.Decode(&doc); err != nil {
		t.Fatal(err)
	}
	return doc
}

func encodeDoc(t testing.TB, doc map[string]any) []byte {
	t.Helper()
	var buf bytes.Buffer
	enc := json.NewEncoder(&buf)
	enc.SetEscapeHTML(false)
	if err := enc.Encode(doc); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// set stores v at the JSON pointer ptr of doc, creating objects on the way;
// a nil v deletes the key.
func set(t testing.TB, doc map[string]any, ptr string, v any) {
	t.Helper()
	toks := strings.Split(ptr, "/")[1:]
	var cur any = doc
	for i, tok := range toks {
		tok = strings.NewReplacer("~1", "/", "~0", "~").Replace(tok)
		last := i == len(toks)-1
		switch c := cur.(type) {
		case map[string]any:
			if last {
				if v == nil {
					delete(c, tok)
				} else {
					c[tok] = v
				}
				return
			}
			if _, ok := c[tok]; !ok {
				c[tok] = map[string]any{}
			}
			cur = c[tok]
		case []any:
			n, err := strconv.Atoi(tok)
			if err != nil || n >= len(c) {
				t.Fatalf("set %s: bad index %q", ptr, tok)
			}
			if last {
				c[n] = v
				return
			}
			cur = c[n]
		default:
			t.Fatalf("set %s: %q is not a container", ptr, tok)
		}
	}
}

// fromJSON decodes a JSON literal for set.
func fromJSON(t testing.TB, s string) any {
	t.Helper()
	dec := json.NewDecoder(strings.NewReader(s))
	dec.UseNumber()
	var v any
	if err := dec.Decode(&v); err != nil {
		t.Fatalf("fromJSON %s: %v", s, err)
	}
	return v
}

func writeFile(name string, data []byte) error { return os.WriteFile(name, data, 0o600) }
