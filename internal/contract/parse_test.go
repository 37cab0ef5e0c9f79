package contract

import (
	"errors"
	"slices"
	"strings"
	"testing"
	"time"
)

func TestParseAddressbook(t *testing.T) {
	c := mustParse(t, readFile(t, addressbookPath))
	if got := len(c.Classes); got != 20 {
		t.Errorf("classes = %d, want 20", got)
	}
	if got := len(c.Defs); got != 22 {
		t.Errorf("$defs = %d, want 22", got)
	}
	if c.ServiceID != 4294929430 || c.Version != 1 || c.Name != "addressbook" || c.MaxQueryDepth != 5 {
		t.Errorf("envelope = %d %d %q %d", c.ServiceID, c.Version, c.Name, c.MaxQueryDepth)
	}
	if c.Classes[0].Name != "member" || c.Classes[1].Name != "person" || c.Classes[19].Name != "tweets" {
		t.Errorf("classes out of document order: %s, %s, ..., %s", c.Classes[0].Name, c.Classes[1].Name, c.Classes[19].Name)
	}
	if len(c.CORSOrigins) != 6 || len(c.ListenRelations) != 1 || c.ListenRelations[0].FeedClass != "feed_assets" {
		t.Errorf("cors = %v, listen = %+v", c.CORSOrigins, c.ListenRelations)
	}

	member := c.Class("member")
	if member.Kind != KindObject || member.Field("member_id").Format != FormatUUID || !member.Field("member_id").Required {
		t.Errorf("member = %+v", member)
	}
	if member.Field("supported_schema_version") != nil || !slices.Contains(member.Obsolete, "supported_schema_version") {
		t.Errorf("obsolete field kept: %v", member.Obsolete)
	}
	if f := member.Field("schema_versions"); f.Type != TypeArray || f.Items.Type != TypeString {
		t.Errorf("schema_versions = %+v", f)
	}

	links := c.Class("network_links")
	if links.Kind != KindArrayOfObjects || links.Items.Ref != "network_link" || links.Items.Class != c.Def("network_link") {
		t.Errorf("network_links = %+v", links.Items)
	}
	if f := links.Field("relation"); f == nil || !f.Counter || !f.Required {
		t.Errorf("network_links.relation = %+v", f)
	}
	// "#/schemas/network_link_inbound" resolves by "$defs" key although its
	// "$id" is "/schemas/network_inbound"; "/schemas/video_chapter" too.
	if c.Class("network_links_inbound").Items.Class != c.Def("network_link_inbound") {
		t.Error("network_links_inbound not resolved")
	}
	if f := c.Def("asset").Field("video_chapters"); f.Items.Class != c.Def("video_chapter") {
		t.Errorf("video_chapters = %+v", f.Items)
	}
	if pk := c.Class("public_assets").PrimaryKey(); pk == nil || pk.Name != "asset_id" {
		t.Errorf("public_assets primary key = %v", pk)
	}
	if a := c.Class("incoming_assets"); !a.CacheOnly || a.CacheTTL != 3*24*time.Hour {
		t.Errorf("incoming_assets cache_only = %v %v", a.CacheOnly, a.CacheTTL)
	}
	if a := c.Class("feed_assets"); !a.CacheOnly || a.CacheTTL != 7*24*time.Hour {
		t.Errorf("feed_assets cache_only = %v %v", a.CacheOnly, a.CacheTTL)
	}
	if f := c.Def("claim").Field("issuer_type"); !slices.Equal(f.Enum, []string{"member", "service", "app", "network"}) {
		t.Errorf("issuer_type enum = %v", f.Enum)
	}

	person := c.Class("person")
	net := person.Access[2]
	if net.Entity != EntityNetwork || len(net.Permissions) != 1 {
		t.Fatalf("person network rule = %+v", net)
	}
	p := net.Permissions[0]
	if p.Action != ActionRead || p.Distance != 1 || !slices.Equal(p.Relations, []string{"friend", "family"}) || !p.SourceSignatureRequired {
		t.Errorf("person network permission = %+v", p)
	}
	email := person.Field("email").Access[0].Permissions[0]
	if email.Action != ActionSearch || email.Match != "exact" || email.CaseSensitive {
		t.Errorf("email search = %+v", email)
	}
	na := c.Class("network_assets").Access[1].Permissions[0]
	if na.Distance != 3 || !na.AnonymizedResponses {
		t.Errorf("network_assets network permission = %+v", na)
	}
	// The reference's contract has two required names that are no field
	// and two "$defs" with rules: warnings, not errors.
	if len(c.Warnings) != 4 {
		t.Errorf("warnings = %v", c.Warnings)
	}
}

func TestParseDemo(t *testing.T) {
	c := mustParse(t, readFile(t, demoPath))
	if len(c.Warnings) != 0 {
		t.Errorf("warnings: %v", c.Warnings)
	}
	if c.MaxQueryDepth != 2 {
		t.Errorf("max_query_depth = %d", c.MaxQueryDepth)
	}
	var names []string
	for _, cls := range c.Classes {
		names = append(names, cls.Name+":"+cls.Kind.String())
	}
	want := []string{"person:object", "addresses:array of objects", "network_links:array of objects", "network_invites:array of objects", "tags:array of scalars",
		"posts:array of objects", "feed:array of objects"}
	if !slices.Equal(names, want) {
		t.Errorf("classes = %v, want %v", names, want)
	}
	if lr := c.ListenRelations; len(lr) != 1 || lr[0].ClassName != "posts" || lr[0].DestinationClass != "feed" || !slices.Equal(lr[0].Relations, []string{"follow"}) {
		t.Errorf("listen_relations = %+v; want posts to feed for follow", lr)
	}
	// The demo: Suzie's family may read her addresses, her friends may not.
	family := Caller{Entity: EntityNetwork, Relations: []string{"family"}, Distance: 1}
	friend := Caller{Entity: EntityNetwork, Relations: []string{"friend"}, Distance: 1}
	if !Authorize(c, family, ActionRead, "addresses", "").Allowed {
		t.Error("family cannot read addresses")
	}
	if Authorize(c, friend, ActionRead, "addresses", "").Allowed {
		t.Error("friend can read addresses")
	}
	if Authorize(c, family, ActionRead, "addresses", "street").Allowed != true {
		t.Error("family cannot read the street of an address")
	}
	if c.Class("network_links").Field("relation") == nil {
		t.Error("network_links has no relation")
	}
}

func TestParseDefaults(t *testing.T) {
	doc := decodeDoc(t, readFile(t, demoPath))
	set(t, doc, "/max_query_depth", nil)
	set(t, doc, "/jsonschema/properties/person/#accesscontrol/network/permissions/0/distance", nil)
	c := mustParse(t, encodeDoc(t, doc))
	if c.MaxQueryDepth != DefaultMaxQueryDepth {
		t.Errorf("max_query_depth = %d, want %d", c.MaxQueryDepth, DefaultMaxQueryDepth)
	}
	var network Rule
	for _, r := range c.Class("person").Access {
		if r.Entity == EntityNetwork {
			network = r
		}
	}
	if d := network.Permissions[0].Distance; d != 1 {
		t.Errorf("default distance = %d, want 1", d)
	}
}

func TestParseNumbersAsWritten(t *testing.T) {
	doc := decodeDoc(t, readFile(t, demoPath))
	set(t, doc, "/version", fromJSON(t, "2.0"))
	set(t, doc, "/service_id", fromJSON(t, "4.711e3"))
	c := mustParse(t, encodeDoc(t, doc))
	if c.Version != 2 || c.ServiceID != 4711 {
		t.Errorf("version %d service %d", c.Version, c.ServiceID)
	}
}

// TestParseBroken checks that each rule of the contract format refuses a
// contract that breaks it, at the right place and saying what is expected.
func TestParseBroken(t *testing.T) {
	const (
		person    = "/jsonschema/properties/person"
		personAC  = person + "/#accesscontrol"
		netPerm   = personAC + "/network/permissions/0"
		addresses = "/jsonschema/properties/addresses"
		address   = "/jsonschema/$defs/address"
	)
	type change struct {
		ptr  string
		json string // "" deletes
	}
	tests := []struct {
		name    string
		changes []change
		raw     string // replaces the contract when set
		pointer string
		message string
	}{
		{name: "legacy list form of #accesscontrol",
			changes: []change{{personAC, `[{"entity": "member", "permissions": ["read"]}]`}},
			pointer: personAC, message: `the legacy list form of "#accesscontrol" is not supported; want an object keyed by entity`},
		{name: "legacy list form of an entity",
			changes: []change{{personAC + "/member", `["read", "update"]`}},
			pointer: personAC + "/member", message: `the legacy list form of an entity's rights is not supported; want {"permissions": [`},
		{name: "unknown entity",
			changes: []change{{personAC + "/owner", `{"permissions": ["read"]}`}},
			pointer: personAC + "/owner", message: `unknown entity "owner"; want one of "member", "service", "any_member", "network", "anonymous"`},
		{name: "unknown action",
			changes: []change{{personAC + "/member/permissions/0", `"reed"`}},
			pointer: personAC + "/member/permissions/0", message: `want one of "read", "create", "update", "delete", "append", "search", "persist", "mutate", "subscribe", got "reed"`},
		{name: "unknown action in a permission object",
			changes: []change{{netPerm + "/permission", `"write"`}},
			pointer: netPerm + "/permission", message: `want one of "read", "create"`},
		{name: "unknown specifier",
			changes: []change{{netPerm + "/relations", `["family"]`}},
			pointer: netPerm + "/relations", message: `unknown specifier "relations"; want one of "permission", "relation", "distance", "cache", "source_signature_required", "anonimized_responses"`},
		{name: "network specifier on another entity",
			changes: []change{{personAC + "/member/permissions/0", `{"permission": "read", "relation": "family"}`}},
			pointer: personAC + "/member/permissions/0/relation", message: `unknown specifier "relation"; want one of "permission", "cache", "match", "casesensitive"`},
		{name: "relation of the wrong type",
			changes: []change{{netPerm + "/relation", `5`}},
			pointer: netPerm + "/relation", message: `want a string or a list of strings, got 5`},
		{name: "relation list with a number",
			changes: []change{{netPerm + "/relation", `["family", 5]`}},
			pointer: netPerm + "/relation", message: `want a string or a list of strings`},
		{name: "permission of the wrong type",
			changes: []change{{personAC + "/member/permissions/0", `7`}},
			pointer: personAC + "/member/permissions/0", message: `want an action such as "read", or an object {"permission": <action>, ...specifiers}, got 7`},
		{name: "cache on an action other than read",
			changes: []change{{personAC + "/member/permissions/0", `{"permission": "update", "cache": "4h"}`}},
			pointer: personAC + "/member/permissions/0/cache", message: `"cache" applies to "read" only; want it on a read permission, not "update"`},
		{name: "bad cache duration",
			changes: []change{{netPerm + "/cache", `"an hour"`}},
			pointer: netPerm + "/cache", message: `want a duration: a whole number and a unit s, m, h, d or w, such as "30s", "4h" or "3d", got "an hour"`},
		{name: "match on an action other than search",
			changes: []change{{personAC + "/member/permissions/0", `{"permission": "read", "match": "exact"}`}},
			pointer: personAC + "/member/permissions/0/match", message: `"match" applies to "search" only`},
		{name: "search with network specifiers",
			changes: []change{{netPerm + "/permission", `"search"`}},
			pointer: netPerm + "/relation", message: `a search permission takes no "relation"`},
		{name: "distance below 1",
			changes: []change{{netPerm + "/distance", `0`}},
			pointer: netPerm + "/distance", message: `want an integer from 1 to 10 (hops from the queried pod), got 0`},
		{name: "distance beyond max_query_depth",
			changes: []change{{netPerm + "/distance", `3`}},
			pointer: netPerm + "/distance", message: `distance 3 exceeds max_query_depth 2, so no query could reach it; want at most 2`},
		{name: "class name starting with #",
			changes: []change{{"/jsonschema/properties/#person", `{"type": "array", "items": {"type": "string"}}`}},
			pointer: "/jsonschema/properties/#person", message: `class name "#person" starts with "#", which is reserved`},
		{name: "class name starting with _",
			changes: []change{{"/jsonschema/properties/_person", `{"type": "array", "items": {"type": "string"}}`}},
			pointer: "/jsonschema/properties/_person", message: `class name "_person" starts with "_", which is reserved`},
		{name: "class name starting with byoda",
			changes: []change{{"/jsonschema/$defs/byoda_address", `{"type": "object", "properties": {"a": {"type": "string"}}}`}},
			pointer: "/jsonschema/$defs/byoda_address", message: `class name "byoda_address" starts with "byoda", which is reserved`},
		{name: "class name with a dash",
			changes: []change{{"/jsonschema/properties/my-tags", `{"type": "array", "items": {"type": "string"}}`}},
			pointer: "/jsonschema/properties/my-tags", message: `class name "my-tags": want a letter followed by letters, digits or "_"`},
		{name: "object nested in an object",
			changes: []change{{person + "/properties/home", `{"type": "object", "properties": {"street": {"type": "string"}}}`}},
			pointer: person + "/properties/home", message: `objects nested in objects are not supported; want the fields of "home" in "person" itself, or an array of objects`},
		{name: "$ref nested in an object",
			changes: []change{{person + "/properties/home", `{"$ref": "/schemas/address"}`}},
			pointer: person + "/properties/home", message: `objects nested in objects are not supported`},
		{name: "version below 1",
			changes: []change{{"/version", `0`}},
			pointer: "/version", message: `want an integer of at least 1, got 0`},
		{name: "version not an integer",
			changes: []change{{"/version", `"1"`}},
			pointer: "/version", message: `want an integer of at least 1, got "1"`},
		{name: "service id beyond uint32",
			changes: []change{{"/service_id", `4294967296`}},
			pointer: "/service_id", message: `want an integer from 0 to 4294967295, got 4294967296`},
		{name: "missing service id",
			changes: []change{{"/service_id", ``}},
			pointer: "", message: `missing required key "service_id"`},
		{name: "max_query_depth 0",
			changes: []change{{"/max_query_depth", `0`}},
			pointer: "/max_query_depth", message: `want an integer from 1 to 10, got 0`},
		{name: "unknown top-level key",
			changes: []change{{"/max_querry_depth", `2`}},
			pointer: "/max_querry_depth", message: `unknown contract key "max_querry_depth"; want one of "service_id", "version"`},
		{name: "contract over 1 MiB",
			raw:     `{"description": "` + strings.Repeat("x", MaxSize) + `"}`,
			pointer: "", message: `want at most 1048576 (1 MiB)`},
		{name: "unknown $ref",
			changes: []change{{addresses + "/items/$ref", `"/schemas/adress"`}},
			pointer: addresses + "/items/$ref", message: `unknown class "adress"; want the name of a class in "$defs"`},
		{name: "$ref of another form",
			changes: []change{{addresses + "/items/$ref", `"https://example.com/schemas/address"`}},
			pointer: addresses + "/items/$ref", message: `want a reference to a "$defs" class: "/schemas/<name>", "#/schemas/<name>" or "#/$defs/<name>"`},
		{name: "$ref to an array class",
			changes: []change{
				{"/jsonschema/$defs/addresses_list", `{"type": "array", "items": {"$ref": "/schemas/address"}}`},
				{addresses + "/items/$ref", `"/schemas/addresses_list"`}},
			pointer: addresses + "/items/$ref", message: `"addresses_list" is an array of objects; want an object class`},
		{name: "reference cycle",
			changes: []change{
				{address + "/properties/residents", `{"type": "array", "items": {"$ref": "/schemas/resident"}}`},
				{"/jsonschema/$defs/resident", `{"type": "object", "properties": {"homes": {"type": "array", "items": {"$ref": "#/$defs/address"}}}}`}},
			pointer: "/jsonschema/$defs/resident/properties/homes/items/$ref", message: `reference cycle address -> resident -> address`},
		{name: "items with both type and $ref",
			changes: []change{{addresses + "/items/type", `"string"`}},
			pointer: addresses + "/items", message: `want exactly one of "type" or "$ref"`},
		{name: "array of arrays",
			changes: []change{{"/jsonschema/properties/tags/items/type", `"array"`}},
			pointer: "/jsonschema/properties/tags/items/type", message: `want "string", "integer", "number" or "boolean" (an array holds scalars, or objects through "$ref"), got "array"`},
		{name: "class of a scalar type",
			changes: []change{{"/jsonschema/properties/motto", `{"type": "string"}`}},
			pointer: "/jsonschema/properties/motto/type", message: `want "object" or "array" (a data class is an object, or an array of scalars or of "$ref"), got "string"`},
		{name: "field without type",
			changes: []change{{person + "/properties/given_name/type", ``}},
			pointer: person + "/properties/given_name", message: `missing required key "type"`},
		{name: "field of an unknown type",
			changes: []change{{person + "/properties/birthday/type", `"date"`}},
			pointer: person + "/properties/birthday/type", message: `want one of "string", "integer", "number", "boolean", "array", got "date"`},
		{name: "unknown format",
			changes: []change{{person + "/properties/birthday/format", `"birthday"`}},
			pointer: person + "/properties/birthday/format", message: `want one of "date-time", "date", "time", "uuid"`},
		{name: "format on a number",
			changes: []change{{person + "/properties/age", `{"type": "integer", "format": "date"}`}},
			pointer: person + "/properties/age/format", message: `"format" applies to strings only`},
		{name: "array field without items",
			changes: []change{{person + "/properties/nicknames/items", ``}},
			pointer: person + "/properties/nicknames", message: `missing required key "items"`},
		{name: "items on a string",
			changes: []change{{person + "/properties/given_name/items", `{"type": "string"}`}},
			pointer: person + "/properties/given_name/items", message: `"items" applies to arrays only`},
		{name: "unknown keyword on a field",
			changes: []change{{person + "/properties/given_name/maxLength", `20`}},
			pointer: person + "/properties/given_name/maxLength", message: `unknown keyword "maxLength"; want one of "type", "description", "format", "enum", "items", "#accesscontrol", "#properties", "#obsolete"`},
		{name: "unknown #properties entry",
			changes: []change{{address + "/properties/address_id/#properties", `["primary_key", "unique"]`}},
			pointer: address + "/properties/address_id/#properties/1", message: `want "primary_key", "index", "counter", "cache_only" or "cache_only:<duration>"`},
		{name: "primary_key on a class",
			changes: []change{{addresses + "/#properties", `["primary_key"]`}},
			pointer: addresses + "/#properties/0", message: `"primary_key" applies to fields; want only "cache_only" or "cache_only:<duration>" on a class`},
		{name: "two primary keys",
			changes: []change{{address + "/properties/city/#properties", `["primary_key"]`}},
			pointer: address + "/properties/city/#properties", message: `"city" is the second primary_key of "address" after "address_id"; want at most one`},
		{name: "listen_relations with an unknown class",
			changes: []change{{"/listen_relations", `[{"class_name": "tags", "relations": ["follow"], "destination_class": "tag_feed"}]`}},
			pointer: "/listen_relations/0/destination_class", message: `unknown class "tag_feed"; want a top-level class`},
		{name: "listen_relations into a field of another type",
			changes: []change{{"/jsonschema/$defs/feed_post/properties/text", `{"type": "integer"}`}},
			pointer: "/listen_relations/0/destination_class", message: `"feed" cannot hold the records of "posts": its field "text" differs in type from that of "post"`},
		{name: "listen_relations between different records",
			changes: []change{{"/listen_relations", `[{"class_name": "addresses", "relations": ["follow"], "destination_class": "network_links"}]`}},
			pointer: "/listen_relations/0/destination_class", message: `"network_links" cannot hold the records of "addresses": it has no field "address_id"; want every field of "address"`},
		{name: "signature with an unknown hash",
			changes: []change{{"/signatures/service", `{"signature": "c2ln", "hash_algorithm": "SHA1", "timestamp": "2025-01-01T00:00:00Z", "certificate": "x"}`}},
			pointer: "/signatures/service/hash_algorithm", message: `want "SHA256", got "SHA1"`},
		{name: "invalid JSON",
			raw:     `{"service_id": 1,, }`,
			pointer: "", message: `invalid JSON at byte`},
		{name: "duplicate key",
			raw:     `{"jsonschema": {"properties": {"a": {}, "a": {}}}}`,
			pointer: "/jsonschema/properties/a", message: `duplicate key; want each key once per object`},
		{name: "not an object",
			raw:     `[1, 2]`,
			pointer: "", message: `want an object, got a list`},
		{name: "trailing data",
			raw:     `{} {}`,
			pointer: "", message: `unexpected data after the JSON document`},
		{name: "too deep",
			raw:     strings.Repeat("[", 100) + strings.Repeat("]", 100),
			pointer: "/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0/0", message: `nesting deeper than 24 levels`},
		{name: "invalid UTF-8",
			raw:     "{\"name\": \"\xff\"}",
			pointer: "", message: `invalid UTF-8 at byte 10`},
	}
	demo := readFile(t, demoPath)
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			data := []byte(tt.raw)
			if tt.raw == "" {
				doc := decodeDoc(t, demo)
				for _, ch := range tt.changes {
					var v any
					if ch.json != "" {
						v = fromJSON(t, ch.json)
					}
					set(t, doc, ch.ptr, v)
				}
				data = encodeDoc(t, doc)
			}
			c, err := Parse(data)
			if err == nil {
				t.Fatalf("Parse accepted the contract (%d classes)", len(c.Classes))
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("error %v is not Errors", err)
			}
			for _, e := range errs {
				if e.Pointer == tt.pointer && strings.Contains(e.Message, tt.message) {
					return
				}
			}
			t.Errorf("no error at %q containing %q; got:\n%v", tt.pointer, tt.message, err)
		})
	}
}

// TestParseCollectsAllErrors checks that one pass reports every problem.
func TestParseCollectsAllErrors(t *testing.T) {
	doc := decodeDoc(t, readFile(t, demoPath))
	set(t, doc, "/version", fromJSON(t, "0"))
	set(t, doc, "/jsonschema/properties/person/#accesscontrol/owner", fromJSON(t, `{"permissions": ["read"]}`))
	set(t, doc, "/jsonschema/properties/person/properties/home", fromJSON(t, `{"type": "object", "properties": {}}`))
	set(t, doc, "/jsonschema/properties/addresses/items/$ref", "/schemas/nowhere")
	_, err := Parse(encodeDoc(t, doc))
	var errs Errors
	if !errors.As(err, &errs) {
		t.Fatalf("err = %v", err)
	}
	want := []string{
		"/jsonschema/properties/addresses/items/$ref",
		"/jsonschema/properties/person/#accesscontrol/owner",
		"/jsonschema/properties/person/properties/home",
		"/version",
	}
	var got []string
	for _, e := range errs {
		got = append(got, e.Pointer)
	}
	if !slices.Equal(got, want) {
		t.Errorf("pointers = %q, want %q\n%v", got, want, err)
	}
}

func TestReadFileTooLarge(t *testing.T) {
	name := t.TempDir() + "/big.json"
	if err := writeFile(name, make([]byte, MaxSize+10)); err != nil {
		t.Fatal(err)
	}
	if _, err := ReadFile(name); err == nil || !strings.Contains(err.Error(), "larger than 1048576") {
		t.Errorf("err = %v", err)
	}
}
