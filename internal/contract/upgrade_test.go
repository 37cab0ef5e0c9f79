package contract

import (
	"errors"
	"strings"
	"testing"
)

func TestCheckUpgrade(t *testing.T) {
	base := readFile(t, demoPath)
	prev := mustParse(t, base)
	const (
		person  = "/jsonschema/properties/person"
		address = "/jsonschema/$defs/address"
	)
	type change struct {
		ptr string
		v   string // JSON; "" deletes
	}
	tests := []struct {
		name    string
		changes []change
		// want are substrings of the errors, each with its pointer; none
		// when the upgrade only adds.
		want []string
	}{
		{name: "a new optional field of an object class", changes: []change{
			{person + "/properties/pronouns", `{"type": "string"}`},
		}},
		{name: "a new optional field of a $defs class, indexed", changes: []change{
			{address + "/properties/floor", `{"type": "integer", "#properties": ["index"]}`},
		}},
		{name: "a new class and a new $defs class", changes: []change{
			{"/jsonschema/$defs/photo", `{"type": "object", "properties": {"url": {"type": "string", "format": "uri"}}}`},
			{"/jsonschema/properties/photos", `{"type": "array", "items": {"$ref": "/schemas/photo"}, "#accesscontrol": {"member": {"permissions": ["read", "append"]}}}`},
		}},
		{name: "metadata, descriptions, a new CORS origin and listen relation", changes: []change{
			{"/name", `"addressbook-demo-renamed"`},
			{"/description", `"new words"`},
			{"/supportemail", `"help@byoda.test"`},
			{person + "/description", `"who"`},
			{person + "/properties/given_name/description", `"given"`},
			{"/cors_origins", `["https://addressbook-demo.byoda.test", "https://other.byoda.test"]`},
			{"/listen_relations", `[{"class_name": "posts", "relations": ["follow"], "destination_class": "feed"},
				{"class_name": "posts", "relations": ["fan"], "destination_class": "feed"}]`},
		}},
		{name: "rules of a new field", changes: []change{
			{person + "/properties/pronouns", `{"type": "string", "#accesscontrol": {"network": {"permissions": [{"permission": "read", "relation": "family"}]}}}`},
		}},
		{name: "same version", changes: []change{{"/version", "1"}},
			want: []string{"/version: version 1 is not higher than version 1"}},
		{name: "another service", changes: []change{{"/service_id", "4712"}},
			want: []string{"/service_id: the contract is of service 4712, not of service 4711"}},
		{name: "a class removed", changes: []change{{"/jsonschema/properties/tags", ""}},
			want: []string{"/jsonschema/properties/tags: class \"tags\" was removed"}},
		{name: "a $defs class removed with the class that used it", changes: []change{
			{"/jsonschema/properties/addresses", ""}, {address, ""},
		}, want: []string{
			`/jsonschema/$defs/address: "$defs" class "address" was removed`,
			`/jsonschema/properties/addresses: class "addresses" was removed`,
		}},
		{name: "a field removed", changes: []change{{person + "/properties/birthday", ""}},
			want: []string{person + `/properties/birthday: field "birthday" of class "person" was removed`}},
		{name: "a field of a $defs class removed", changes: []change{{address + "/properties/street", ""}},
			want: []string{address + `/properties/street: field "street" of class "address" was removed`}},
		{name: "a field made obsolete", changes: []change{{person + "/properties/birthday", `{"type": "string", "#obsolete": true}`}},
			want: []string{`field "birthday" of class "person" was removed`}},
		{name: "a field's type", changes: []change{{person + "/properties/birthday", `{"type": "integer"}`}},
			want: []string{person + `/properties/birthday/type: the type of field "birthday" of class "person" changed from string to integer`}},
		{name: "a field's format", changes: []change{{person + "/properties/birthday/format", `"date-time"`}},
			want: []string{`the format of field "birthday"`}},
		{name: "an enum", changes: []change{{address + "/properties/label/enum", `["home", "work", "other", "holiday"]`}},
			want: []string{`the enum of field "label" of class "address" changed`}},
		{name: "an index added", changes: []change{{address + "/properties/city/#properties", `["index"]`}},
			want: []string{`the #properties of field "city" of class "address" changed`}},
		{name: "a field no longer required", changes: []change{{address + "/required", `["address_id", "created_timestamp", "city"]`}},
			want: []string{`the "required" of field "country" of class "address" changed`}},
		{name: "a new required field", changes: []change{
			{person + "/properties/pronouns", `{"type": "string"}`},
			{person + "/required", `["given_name", "family_name", "pronouns"]`},
		}, want: []string{person + `/properties/pronouns: new field "pronouns" of class "person" is required`}},
		{name: "a new primary key", changes: []change{
			{"/jsonschema/$defs/network_link/properties/link_id", `{"type": "string", "format": "uuid", "#properties": ["primary_key"]}`},
		}, want: []string{`new field "link_id" of class "network_link" is a primary_key`}},
		{name: "a class's rules", changes: []change{{"/jsonschema/properties/tags/#accesscontrol/anonymous", ""}},
			want: []string{`/jsonschema/properties/tags/#accesscontrol: the access rules of class "tags" changed`}},
		{name: "a permission's specifier", changes: []change{{person + "/#accesscontrol/network/permissions/0/distance", "1"}},
			want: []string{`the access rules of class "person" changed`}},
		{name: "a field's rules", changes: []change{{person + "/properties/email/#accesscontrol/network", ""}},
			want: []string{`the access rules of field "email" of class "person" changed`}},
		{name: "rules in another order are the same", changes: []change{
			{"/jsonschema/properties/posts/#accesscontrol/member/permissions", `["subscribe", "delete", "update", "append", "read"]`},
		}},
		{name: "a class's kind", changes: []change{{"/jsonschema/properties/tags", `{"type": "object", "properties": {"x": {"type": "string"}}}`}},
			want: []string{`class "tags" changed from an array of scalars to an object`}},
		{name: "an array's items", changes: []change{{"/jsonschema/properties/tags/items/type", `"integer"`}},
			want: []string{`the items of class "tags" changed from string to integer`}},
		{name: "an array of another class", changes: []change{
			{"/jsonschema/$defs/address2", `{"type": "object", "properties": {"city": {"type": "string"}}}`},
			{"/jsonschema/properties/addresses/items/$ref", `"/schemas/address2"`},
		}, want: []string{`class "addresses" changed from an array of "address" to an array of "address2"`}},
		{name: "cache_only", changes: []change{{"/jsonschema/properties/network_invites/#properties", `["cache_only:1d"]`}},
			want: []string{`cache_only of class "network_invites" changed`}},
		{name: "max_query_depth", changes: []change{{"/max_query_depth", "3"}},
			want: []string{"/max_query_depth: changed from 2 to 3"}},
		{name: "a listen relation", changes: []change{{"/listen_relations/0/relations", `["follow", "fan"]`}},
			want: []string{`/listen_relations/0: the listen relation of class "posts" into "feed" was removed or changed`}},
		{name: "a CORS origin removed", changes: []change{{"/cors_origins", `["https://other.byoda.test"]`}},
			want: []string{`/cors_origins: origin "https://addressbook-demo.byoda.test" was removed`}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			doc := decodeDoc(t, base)
			set(t, doc, "/version", fromJSON(t, "2"))
			for _, c := range tt.changes {
				var v any
				if c.v != "" {
					v = fromJSON(t, c.v)
				}
				set(t, doc, c.ptr, v)
			}
			next := mustParse(t, encodeDoc(t, doc))
			err := CheckUpgrade(prev, next)
			if len(tt.want) == 0 {
				if err != nil {
					t.Fatalf("CheckUpgrade refused an upgrade that only adds:\n%v", err)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("CheckUpgrade = %v; want Errors with %q", err, tt.want)
			}
			if len(errs) != len(tt.want) {
				t.Errorf("CheckUpgrade found %d problems; want %d:\n%v", len(errs), len(tt.want), err)
			}
			for _, w := range tt.want {
				if !strings.Contains(err.Error(), w) {
					t.Errorf("CheckUpgrade = \n%v\nwant a problem with %q", err, w)
				}
			}
		})
	}
}

// TestCheckUpgradeSameContract: a contract is not an upgrade of itself, and
// nothing in it counts as a change but the version.
func TestCheckUpgradeSameContract(t *testing.T) {
	c := mustParse(t, readFile(t, demoPath))
	err := CheckUpgrade(c, c)
	var errs Errors
	if !errors.As(err, &errs) || len(errs) != 1 || errs[0].Pointer != "/version" {
		t.Fatalf("CheckUpgrade(c, c) = %v; want only the version refused", err)
	}
}
