package contract

import (
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

func TestValidateRecord(t *testing.T) {
	c := mustParse(t, readFile(t, demoPath))
	ab := mustParse(t, readFile(t, addressbookPath))
	const address = `"address_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "created_timestamp": "2025-01-31T12:00:00Z", "city": "Utrecht", "country": "NL"`
	tests := []struct {
		name    string
		c       *Contract
		class   string
		record  string
		patch   bool
		pointer string // "" with message "" means valid
		message string
	}{
		{name: "valid address", class: "addresses", record: `{` + address + `, "label": "home", "street": "Oudegracht 1"}`},
		{name: "valid person with nulls", class: "person", record: `{"given_name": "Suzie", "family_name": "Q", "email": "suzie@example.com", "homepage_url": null, "birthday": "1990-02-03", "nicknames": ["suus"]}`},
		{name: "valid tag", class: "tags", record: `"gardening"`},
		{name: "valid patch", class: "person", record: `{"family_name": "Quatro"}`, patch: true},
		{name: "valid nested records", c: ab, class: "channels", record: `{"channel_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "channel_thumbnails": [{"thumbnail_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "url": "https://x.test/t.png", "width": 640, "height": 480.0}]}`},
		{name: "valid integer as 1.0", c: ab, class: "restricted_content_keys", record: `{"key_id": 1.0, "key": "k", "not_before": "2025-01-01T00:00:00+01:00"}`},
		{name: "valid ipv4 and counters", c: ab, class: "datalogs", record: `{"created_timestamp": "2025-01-01T00:00:00.123Z", "remote_addr": "192.0.2.1", "operation": "read", "object": "person", "query_depth": 2}`},

		{name: "unknown field", class: "addresses", record: `{` + address + `, "planet": "Earth"}`,
			pointer: "/planet", message: `unknown field "planet"; want a field of "address"`},
		{name: "obsolete field", c: ab, class: "member", record: `{"joined": "2025-01-01T00:00:00Z", "member_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "supported_schema_version": "1"}`,
			pointer: "/supported_schema_version", message: `field "supported_schema_version" of "member" is obsolete; want it left out`},
		{name: "missing required field", class: "addresses", record: `{"address_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "created_timestamp": "2025-01-31T12:00:00Z", "city": "Utrecht"}`,
			pointer: "", message: `missing required field "country" of "address"`},
		{name: "required field null", class: "person", record: `{"given_name": null, "family_name": "Q"}`,
			pointer: "/given_name", message: `want a string: "given_name" is required, got null`},
		{name: "required null in a patch", class: "person", record: `{"given_name": null}`, patch: true,
			pointer: "/given_name", message: `want a string: "given_name" is required, got null`},
		{name: "string of the wrong type", class: "addresses", record: `{` + address + `, "street": 12}`,
			pointer: "/street", message: `want a string, got 12`},
		{name: "bad uuid", class: "addresses", record: `{"address_id": "nope", "created_timestamp": "2025-01-31T12:00:00Z", "city": "Utrecht", "country": "NL"}`,
			pointer: "/address_id", message: `want a UUID (such as "3f2504e0-4f89-41d3-9a0c-0305e82c3301"), got "nope"`},
		{name: "bad date-time", class: "addresses", record: `{"address_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "created_timestamp": "yesterday", "city": "Utrecht", "country": "NL"}`,
			pointer: "/created_timestamp", message: `want a date-time (RFC 3339, such as "2025-01-31T12:00:00Z"), got "yesterday"`},
		{name: "bad date", class: "person", record: `{"given_name": "S", "family_name": "Q", "birthday": "1990-13-01"}`,
			pointer: "/birthday", message: `want a date (such as "2025-01-31"), got "1990-13-01"`},
		{name: "bad email", class: "person", record: `{"given_name": "S", "family_name": "Q", "email": "Suzie <suzie@example.com>"}`,
			pointer: "/email", message: `want an email address`},
		{name: "relative uri", class: "person", record: `{"given_name": "S", "family_name": "Q", "homepage_url": "/home"}`,
			pointer: "/homepage_url", message: `want an absolute URI`},
		{name: "value not in enum", class: "addresses", record: `{` + address + `, "label": "castle"}`,
			pointer: "/label", message: `want one of "home", "work", "other", got "castle"`},
		{name: "list item of the wrong type", class: "person", record: `{"given_name": "S", "family_name": "Q", "nicknames": ["a", 2]}`,
			pointer: "/nicknames/1", message: `want a string, got 2`},
		{name: "list of the wrong type", class: "person", record: `{"given_name": "S", "family_name": "Q", "nicknames": "suus"}`,
			pointer: "/nicknames", message: `want a list, got "suus"`},
		{name: "integer with a fraction", c: ab, class: "restricted_content_keys", record: `{"key_id": 1.5}`,
			pointer: "/key_id", message: `want an integer, got 1.5`},
		{name: "number as a string", c: ab, class: "asset_links", record: `{"created_timestamp": "2025-01-01T00:00:00Z", "member_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "relation": "liked", "bookmark": 5}`,
			pointer: "/bookmark", message: `want a string, got 5`},
		{name: "boolean of the wrong type", c: ab, class: "member", record: `{"joined": "2025-01-01T00:00:00Z", "member_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "auto_upgrade": "yes"}`,
			pointer: "/auto_upgrade", message: `want true or false, got "yes"`},
		{name: "bad ipv4", c: ab, class: "datalogs", record: `{"created_timestamp": "2025-01-01T00:00:00Z", "remote_addr": "::1", "operation": "read", "object": "person"}`,
			pointer: "/remote_addr", message: `want an IPv4 address, got "::1"`},
		{name: "nested record missing a field", c: ab, class: "channels", record: `{"channel_thumbnails": [{"thumbnail_id": "3f2504e0-4f89-41d3-9a0c-0305e82c3301", "url": "https://x.test/t.png", "width": 640}]}`,
			pointer: "/channel_thumbnails/0", message: `missing required field "height" of "video_thumbnail"`},
		{name: "nested record of the wrong type", c: ab, class: "channels", record: `{"channel_thumbnails": ["https://x.test/t.png"]}`,
			pointer: "/channel_thumbnails/0", message: `want an object of "video_thumbnail", got "https://x.test/t.png"`},
		{name: "record not an object", class: "addresses", record: `["Utrecht"]`,
			pointer: "", message: `want an object, got a list`},
		{name: "scalar item of the wrong type", class: "tags", record: `{"tag": "x"}`,
			pointer: "", message: `want a string, got an object`},
		{name: "patch of a scalar array", class: "tags", record: `{"tag": "x"}`, patch: true,
			pointer: "", message: `"tags" is an array of scalars; want a single item, not fields`},
		{name: "field name with a slash", class: "addresses", record: `{` + address + `, "a/b~c": 1}`,
			pointer: "/a~1b~0c", message: `unknown field "a/b~c"`},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			con := tt.c
			if con == nil {
				con = c
			}
			cls := con.Class(tt.class)
			var err error
			if tt.patch {
				var patch map[string]any
				_ = json.Unmarshal([]byte(tt.record), &patch)
				err = cls.ValidatePatch(patch)
			} else {
				err = cls.ValidateRecordJSON([]byte(tt.record))
			}
			if tt.message == "" {
				if err != nil {
					t.Fatalf("unexpected error: %v", err)
				}
				return
			}
			var errs Errors
			if !errors.As(err, &errs) {
				t.Fatalf("err = %v, want Errors", err)
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

func TestValidateRecordGoValues(t *testing.T) {
	c := mustParse(t, readFile(t, addressbookPath))
	rec := map[string]any{
		"key_id":     int64(3),
		"key":        "k",
		"not_before": "2025-01-01T00:00:00Z",
	}
	if err := c.Class("restricted_content_keys").ValidateRecord(rec); err != nil {
		t.Errorf("int64 key_id: %v", err)
	}
	if err := c.Class("restricted_content_keys").ValidateRecord(map[string]any{"key_id": struct{}{}}); err == nil || !strings.Contains(err.Error(), "want an integer, got a struct {}") {
		t.Errorf("struct key_id: %v", err)
	}
}

func TestValidateRecordJSONSyntax(t *testing.T) {
	c := mustParse(t, readFile(t, demoPath))
	for _, in := range []string{`{`, `{} {}`, ``} {
		if err := c.Class("person").ValidateRecordJSON([]byte(in)); err == nil {
			t.Errorf("%q accepted", in)
		}
	}
}
