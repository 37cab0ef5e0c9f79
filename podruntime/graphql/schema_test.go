package graphql

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"

	"github.com/vektah/gqlparser/v2/formatter"

	"github.com/byoda-go/byoda/internal/contract"
)

var update = flag.Bool("update", false, "rewrite the golden files in testdata")

// TestSchemaGolden checks the schema of each contract against its golden
// file, written by gqlparser's formatter from the loaded schema (so types
// are sorted and the file is what clients see). Run with -update to
// rewrite them after a deliberate change.
func TestSchemaGolden(t *testing.T) {
	for _, tc := range []struct{ contract, golden string }{
		{addressbookPath, "testdata/addressbook.graphql"},
		{demoPath, "testdata/addressbook-demo.graphql"},
		{kindsPath, "testdata/kinds.graphql"},
	} {
		t.Run(filepath.Base(tc.golden), func(t *testing.T) {
			s, err := SchemaFor(loadContract(t, tc.contract))
			if err != nil {
				t.Fatalf("SchemaFor: %v", err)
			}
			var buf bytes.Buffer
			formatter.NewFormatter(&buf, formatter.WithIndent("  ")).FormatSchema(s)
			got := buf.Bytes()
			if *update {
				if err := os.WriteFile(tc.golden, got, 0o644); err != nil {
					t.Fatal(err)
				}
			}
			want, err := os.ReadFile(tc.golden)
			if err != nil {
				t.Fatalf("%v (run with -update to create it)", err)
			}
			if !bytes.Equal(got, want) {
				t.Errorf("schema differs from %s (run with -update if the change is deliberate):\n%s", tc.golden, firstDiff(string(want), string(got)))
			}
		})
	}
}

// firstDiff shows the first line that differs.
func firstDiff(want, got string) string {
	wl, gl := strings.Split(want, "\n"), strings.Split(got, "\n")
	for i := 0; i < len(wl) || i < len(gl); i++ {
		var w, g string
		if i < len(wl) {
			w = wl[i]
		}
		if i < len(gl) {
			g = gl[i]
		}
		if w != g {
			return "line " + strconv.Itoa(i+1) + ":\nwant: " + w + "\ngot:  " + g
		}
	}
	return ""
}

// TestSchemaNames checks the generated names (those of the reference
// implementation's GraphQL) on the demo contract.
func TestSchemaNames(t *testing.T) {
	s, err := SchemaFor(loadContract(t, demoPath))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct{ typ, field, want string }{
		{"Query", "person", "person"},
		{"Query", "addresses_connection", "addresses_page"},
		{"Query", "tags_connection", "tags_page"},
		{"Mutation", "mutate_person", "Int"},
		{"Mutation", "append_addresses", "Int"},
		{"Mutation", "update_addresses", "Int"},
		{"Mutation", "delete_from_addresses", "Int"},
		{"Mutation", "append_tags", "Int"},
		{"Subscription", "addresses_updates", "addresses_update_event"},
		{"Subscription", "addresses_counter", "Int"},
		{"addresses_page", "edges", "[addresses_edge]"},
		{"addresses_page", "page_info", "PageInfo"},
		{"addresses_page", "total_count", "Int"},
		{"addresses_edge", "cursor", "String!"},
		{"addresses_edge", "origin", "UUID"},
		{"addresses_edge", "node", "address"},
		{"tags_edge", "node", "String"},
		{"PageInfo", "end_cursor", "String"},
		{"PageInfo", "has_next_page", "Boolean!"},
		{"address", "created_timestamp", "DateTime"},
		{"address", "address_id", "UUID"},
		{"person", "nicknames", "[String]"},
		{"address_filter", "city", "StringFilter"},
		{"address_filter", "address_id", "UUIDFilter"},
		{"address_filter", "created_timestamp", "DateTimeFilter"},
	} {
		def := s.Types[tc.typ]
		if def == nil {
			t.Errorf("no type %s", tc.typ)
			continue
		}
		f := def.Fields.ForName(tc.field)
		if f == nil {
			t.Errorf("no field %s.%s", tc.typ, tc.field)
			continue
		}
		if got := f.Type.String(); got != tc.want {
			t.Errorf("%s.%s: type %s, want %s", tc.typ, tc.field, got, tc.want)
		}
	}
	conn := s.Query.Fields.ForName("addresses_connection")
	for _, arg := range []struct{ name, typ, def string }{
		{"filter", "address_filter", ""},
		{"first", "Int", "20"},
		{"after", "String", ""},
		{"depth", "Int", "0"},
		{"relations", "[String!]", ""},
		{"remote_member_id", "UUID", ""},
		{"query_id", "UUID", ""},
	} {
		a := conn.Arguments.ForName(arg.name)
		if a == nil {
			t.Errorf("addresses_connection has no argument %s", arg.name)
			continue
		}
		if a.Type.String() != arg.typ {
			t.Errorf("addresses_connection(%s): type %s, want %s", arg.name, a.Type, arg.typ)
		}
		if arg.def != "" && (a.DefaultValue == nil || a.DefaultValue.String() != arg.def) {
			t.Errorf("addresses_connection(%s): default %v, want %s", arg.name, a.DefaultValue, arg.def)
		}
	}
	if a := s.Mutation.Fields.ForName("append_addresses").Arguments.ForName("city"); a == nil || a.Type.String() != "String!" {
		t.Errorf("append_addresses(city) should be a required String")
	}
	if a := s.Mutation.Fields.ForName("update_addresses").Arguments.ForName("filter"); a == nil || a.Type.String() != "address_filter!" {
		t.Errorf("update_addresses(filter) should be a required address_filter")
	}
	for name, ops := range map[string]string{
		"StringFilter":   "eq ne vin nin regex glob",
		"IntFilter":      "eq ne gt lt egt elt",
		"FloatFilter":    "eq ne gt lt egt elt",
		"UUIDFilter":     "eq ne",
		"DateTimeFilter": "at nat after before atafter atbefore",
	} {
		var got []string
		for _, f := range s.Types[name].Fields {
			got = append(got, f.Name)
		}
		if strings.Join(got, " ") != ops {
			t.Errorf("%s has %v, want %s", name, got, ops)
		}
	}
}

// TestSchemaCollisions checks that names a contract cannot have in GraphQL
// are refused with a message that names them, rather than making a schema
// that fails to load.
func TestSchemaCollisions(t *testing.T) {
	base, err := os.ReadFile(kindsPath)
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name   string
		change func(props, defs map[string]any)
		want   string
	}{
		{"class named like a generated type", func(props, _ map[string]any) {
			props["PageInfo"] = props["profile"]
		}, "type PageInfo of class \"PageInfo\" collides"},
		{"object class named like a connection", func(props, _ map[string]any) {
			props["events_connection"] = props["profile"]
		}, "events_connection"},
		{"def named like an object class", func(props, defs map[string]any) {
			defs["profile"] = defs["part"]
			props["profile_list"] = map[string]any{"type": "array", "items": map[string]any{"$ref": "/schemas/profile"}, "#accesscontrol": map[string]any{"member": map[string]any{"permissions": []any{"read"}}}}
		}, "type profile"},
		{"item field named filter", func(_, defs map[string]any) {
			defs["event"].(map[string]any)["properties"].(map[string]any)["filter"] = map[string]any{"type": "string"}
		}, "argument filter of update_events"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var doc map[string]any
			if err := json.Unmarshal(base, &doc); err != nil {
				t.Fatal(err)
			}
			js := doc["jsonschema"].(map[string]any)
			tc.change(js["properties"].(map[string]any), js["$defs"].(map[string]any))
			b, err := json.Marshal(doc)
			if err != nil {
				t.Fatal(err)
			}
			c, err := contract.Parse(b)
			if err != nil {
				t.Fatalf("Parse: %v", err)
			}
			_, err = SchemaFor(c)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("SchemaFor: %v; want an error containing %q", err, tc.want)
			}
		})
	}
}
