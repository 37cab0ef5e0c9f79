package graphql

import (
	"context"
	"fmt"
	"net/http/httptest"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/contract"
)

// TestAccessDemo walks the entities of the demo contract through reads and
// writes with answers worked out by hand from its rules, not from
// Authorize: a denied class is null with FORBIDDEN at its path, a denied
// field inside an allowed object is null with FORBIDDEN at the field's path,
// and nothing of a denied value reaches the response.
func TestAccessDemo(t *testing.T) {
	ts := newTestServer(t, demoPath, Options{})
	mustOK(t, ts.post(t, owner, `mutation { mutate_person(given_name: "Suzie", family_name: "Q", email: "secret@example.com") }`, nil))
	seedAddresses(t, ts)
	mustOK(t, ts.post(t, owner, `mutation { append_tags(value: "public") }`, nil))
	friendFar := contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"friend"}, Distance: 2}
	familyFar := contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"family"}, Distance: 2}
	tooFar := contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"family"}, Distance: 3}

	type want struct {
		forbidden []string // paths of FORBIDDEN errors
		nulls     []string // top-level fields that must be null
	}
	for _, tc := range []struct {
		name   string
		caller contract.Caller
		query  string
		want   want
	}{
		{"owner reads person", owner, `{ person { given_name email } }`, want{}},
		{"service reads person but not the email", service, `{ person { given_name email } }`, want{forbidden: []string{"person.email"}}},
		{"family reads person and email", network("family"), `{ person { given_name email } }`, want{}},
		{"family two hops away reads person, the email rule allows one", familyFar, `{ person { given_name email } }`, want{forbidden: []string{"person.email"}}},
		{"friend reads person but not the email", network("friend"), `{ person { given_name email } }`, want{forbidden: []string{"person.email"}}},
		{"friend two hops away reads person", friendFar, `{ person { given_name } }`, want{}},
		{"three hops exceeds max_query_depth", tooFar, `{ person { given_name } }`, want{forbidden: []string{"person"}, nulls: []string{"person"}}},
		{"colleague reads no person", network("colleague"), `{ person { given_name } }`, want{forbidden: []string{"person"}, nulls: []string{"person"}}},
		{"any_member reads no person", anyMember, `{ person { given_name } }`, want{forbidden: []string{"person"}, nulls: []string{"person"}}},
		{"anonymous reads no person", anonymous, `{ person { given_name } }`, want{forbidden: []string{"person"}, nulls: []string{"person"}}},

		{"owner reads addresses", owner, `{ addresses_connection { total_count edges { node { city } } } }`, want{}},
		{"family reads addresses", network("family"), `{ addresses_connection { total_count edges { node { city } } } }`, want{}},
		{"colleague reads no addresses", network("colleague"), `{ addresses_connection { total_count } }`, want{forbidden: []string{"addresses_connection"}, nulls: []string{"addresses_connection"}}},
		{"friend reads no addresses", network("friend"), `{ addresses_connection { total_count } }`, want{forbidden: []string{"addresses_connection"}, nulls: []string{"addresses_connection"}}},
		{"service reads no addresses", service, `{ addresses_connection { total_count } }`, want{forbidden: []string{"addresses_connection"}, nulls: []string{"addresses_connection"}}},
		{"anonymous reads tags only", anonymous, `{ tags_connection { total_count } person { given_name } addresses_connection { total_count } }`,
			want{forbidden: []string{"person", "addresses_connection"}, nulls: []string{"person", "addresses_connection"}}},

		{"owner mutates person", owner, `mutation { mutate_person(given_name: "Sue") }`, want{}},
		{"service may not mutate person", service, `mutation { mutate_person(given_name: "X") }`, want{forbidden: []string{"mutate_person"}, nulls: []string{"mutate_person"}}},
		{"family may not mutate person", network("family"), `mutation { mutate_person(given_name: "X") }`, want{forbidden: []string{"mutate_person"}, nulls: []string{"mutate_person"}}},
		{"any_member appends an invite", anyMember, `mutation { append_network_invites(created_timestamp: "2025-01-01T00:00:00Z", member_id: "` + uuidN(7) + `", relation: "friend") }`, want{}},
		{"any_member may not read invites", anyMember, `{ network_invites_connection { total_count } }`, want{forbidden: []string{"network_invites_connection"}, nulls: []string{"network_invites_connection"}}},
		{"service may not append an invite", service, `mutation { append_network_invites(created_timestamp: "2025-01-01T00:00:00Z", member_id: "` + uuidN(7) + `", relation: "friend") }`, want{forbidden: []string{"append_network_invites"}, nulls: []string{"append_network_invites"}}},
		{"anonymous may not append a tag", anonymous, `mutation { append_tags(value: "spam") }`, want{forbidden: []string{"append_tags"}, nulls: []string{"append_tags"}}},
		{"family may not delete addresses", network("family"), `mutation { delete_from_addresses(filter: {}) }`, want{forbidden: []string{"delete_from_addresses"}, nulls: []string{"delete_from_addresses"}}},
		{"family may not update addresses", network("family"), `mutation { update_addresses(filter: {}, city: "X") }`, want{forbidden: []string{"update_addresses"}, nulls: []string{"update_addresses"}}},
		{"service may not subscribe", service, `subscription { addresses_updates { action } }`, want{forbidden: []string{"addresses_updates"}}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			before := ts.data.snapshot()
			r := ts.post(t, tc.caller, tc.query, nil)
			var got []string
			for _, e := range r.Errors {
				if e.code() != CodeForbidden {
					t.Errorf("unexpected error: %+v", e)
					continue
				}
				got = append(got, e.pathString())
				if !strings.Contains(e.Message, tc.caller.Entity.String()) {
					t.Errorf("message does not name the caller's role: %s", e.Message)
				}
			}
			sort.Strings(got)
			wantPaths := slices.Sorted(slices.Values(tc.want.forbidden))
			if !slices.Equal(got, wantPaths) {
				t.Errorf("FORBIDDEN at %v; want at %v\n%s", got, wantPaths, r.Raw)
			}
			for _, n := range tc.want.nulls {
				if v, ok := r.Data[n]; !ok || v != nil {
					t.Errorf("data.%s = %v; want null", n, v)
				}
			}
			if strings.Contains(r.Raw, "secret@example.com") && slices.Contains(tc.want.forbidden, "person.email") {
				t.Errorf("a denied email leaked: %s", r.Raw)
			}
			if len(tc.want.forbidden) > 0 && ts.data.snapshot() != before {
				t.Errorf("a forbidden request changed the data")
			}
		})
	}
}

// TestAccessFieldsInConnections checks field rules on the items of an
// array: any_member may read events but not their note, nor filter on it.
func TestAccessFieldsInConnections(t *testing.T) {
	ts := newTestServer(t, kindsPath, Options{})
	for i := 1; i <= 3; i++ {
		mustOK(t, ts.post(t, owner, fmt.Sprintf(`mutation { append_events(event_id: %q, at: "2025-01-01T00:00:00Z", title: "t%d", note: "private %d") }`, uuidN(i), i, i), nil))
	}
	r := ts.post(t, anyMember, `{ events_connection(first: 2) { edges { node { title note } } } }`, nil)
	var paths []string
	for _, e := range r.Errors {
		if e.code() == CodeForbidden {
			paths = append(paths, e.pathString())
		}
	}
	if want := []string{"events_connection.edges.0.node.note", "events_connection.edges.1.node.note"}; !slices.Equal(paths, want) {
		t.Errorf("FORBIDDEN at %v; want %v\n%s", paths, want, r.Raw)
	}
	if strings.Contains(r.Raw, "private") {
		t.Errorf("a denied note leaked: %s", r.Raw)
	}
	if dig(r.Data, "events_connection", "edges", 1, "node", "title") != "t2" || dig(r.Data, "events_connection", "edges", 1, "node", "note") != nil {
		t.Errorf("allowed fields missing: %s", r.Raw)
	}

	// Filtering on a field is reading it.
	r = ts.post(t, anyMember, `{ events_connection(filter: {note: {regex: "^private 1"}}) { total_count } }`, nil)
	if e, ok := r.errorAt("events_connection"); !ok || e.code() != CodeForbidden || e.Extensions["argument"] != "filter.note" || r.Data["events_connection"] != nil {
		t.Errorf("filter on a denied field: %s", r.Raw)
	}
	// The owner reads and filters it.
	r = mustOK(t, ts.post(t, owner, `{ events_connection(filter: {note: {regex: "^private 1"}}) { total_count } }`, nil))
	if dig(r.Data, "events_connection", "total_count") != float64(1) {
		t.Errorf("owner filter on note: %s", r.Raw)
	}
	// The object class: any_member reads the profile but not its secret.
	mustOK(t, ts.post(t, owner, `mutation { mutate_profile(name: "n", secret: "s3cr3t") }`, nil))
	r = ts.post(t, anyMember, `{ profile { name secret } }`, nil)
	if e, ok := r.errorAt("profile.secret"); !ok || e.code() != CodeForbidden || strings.Contains(r.Raw, "s3cr3t") || dig(r.Data, "profile", "name") != "n" {
		t.Errorf("profile as any_member: %s", r.Raw)
	}
}

// matrixEntities are the callers the access matrix tries.
var matrixEntities = []struct {
	name   string
	caller contract.Caller
}{
	{"member", owner},
	{"service", service},
	{"any_member", anyMember},
	{"network family", network("family")},
	{"network friend", network("friend")},
	{"network colleague", network("colleague")},
	{"network friend at 3 hops", contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"friend"}, Distance: 3}},
	{"anonymous", anonymous},
}

// TestAccessMatrix walks every class of the reference's addressbook
// contract, for every entity and action, and checks the server's answer
// against contract.Authorize, down to each field of a read.
func TestAccessMatrix(t *testing.T) {
	c := loadContract(t, addressbookPath)
	data := newMemData(t, c)
	h, err := NewHandler(c, data, Options{})
	if err != nil {
		t.Fatal(err)
	}
	ts := &testServer{c: c, data: data, h: withTestCaller(h)}
	ts.srv = httptest.NewServer(ts.h)
	t.Cleanup(ts.srv.Close)
	seed := func() {
		data.reset()
		for _, cls := range c.Classes {
			seedClass(t, data, cls)
		}
	}
	for _, cls := range c.Classes {
		for _, ent := range matrixEntities {
			for _, action := range []contract.Action{contract.ActionRead, contract.ActionAppend, contract.ActionUpdate, contract.ActionMutate, contract.ActionDelete, contract.ActionSubscribe} {
				root, q, fields, ok := matrixOperation(cls, action)
				if !ok {
					continue
				}
				t.Run(fmt.Sprintf("%s/%s/%s", cls.Name, ent.name, action), func(t *testing.T) {
					seed()
					checkMatrixAnswer(t, ts, c, cls, ent.caller, action, root, q, fields)
				})
			}
		}
	}
}

// checkMatrixAnswer runs one operation and compares its errors with what
// Authorize decides.
func checkMatrixAnswer(t *testing.T, ts *testServer, c *contract.Contract, cls *contract.Class, caller contract.Caller, action contract.Action, root, q string, fields []string) {
	t.Helper()
	authorize := func(a contract.Action, field string) bool {
		return contract.Authorize(c, caller, a, cls.Name, field).Allowed
	}
	classOK := authorize(action, "")
	fieldOK := map[string]bool{}
	for _, f := range fields {
		fieldOK[f] = authorize(action, f)
	}
	if cls.Kind == contract.KindObject && action == contract.ActionUpdate {
		// mutate_C is allowed by update or mutate.
		classOK = classOK || authorize(contract.ActionMutate, "")
	}
	r := ts.post(t, caller, q, nil)
	var forbidden []string
	for _, e := range r.Errors {
		switch e.code() {
		case CodeForbidden:
			forbidden = append(forbidden, e.pathString())
		case CodeBadUserInput:
			// A subscription over HTTP is refused after authorization,
			// and so is an update or delete with an empty filter, by the
			// store.
			subscription := action == contract.ActionSubscribe && strings.Contains(e.Message, "websocket")
			noFilter := (action == contract.ActionUpdate || action == contract.ActionDelete) && strings.Contains(e.Message, "a filter is required")
			if !subscription && !noFilter {
				t.Fatalf("unexpected error: %+v", e)
			}
		default:
			t.Fatalf("unexpected error: %+v", e)
		}
	}
	if !classOK {
		if !slices.Equal(forbidden, []string{root}) {
			t.Fatalf("Authorize denies %s; the server answered %s", action, r.Raw)
		}
		return
	}
	if action != contract.ActionRead {
		// Writes check the fields they set: one error per denied field.
		var want []string
		for _, f := range fields {
			if !fieldOK[f] {
				want = append(want, root)
			}
		}
		if !slices.Equal(forbidden, want) {
			t.Fatalf("Authorize allows %s (fields %v); the server answered %s", action, fieldOK, r.Raw)
		}
		return
	}
	var want []string
	prefix := root
	if cls.Kind != contract.KindObject {
		prefix = root + ".edges.0.node"
	}
	for _, f := range fields {
		if !fieldOK[f] {
			want = append(want, prefix+"."+f)
		}
	}
	if !slices.Equal(forbidden, want) {
		t.Fatalf("field reads: FORBIDDEN at %v, Authorize denies %v\n%s", forbidden, want, r.Raw)
	}
}

// matrixOperation builds an operation that does action on cls: its root
// field, its text, and the fields it reads or sets; ok is false when the
// schema has no such operation.
func matrixOperation(cls *contract.Class, action contract.Action) (root, q string, fields []string, ok bool) {
	rc := cls.RecordClass()
	// The fields a read selects: all but arrays of objects, which would
	// need selections of their own.
	readable := func() []string {
		var out []string
		for _, f := range rc.Fields {
			if f.Items == nil || f.Items.Class == nil {
				out = append(out, f.Name)
			}
		}
		return out
	}
	switch {
	case action == contract.ActionRead && cls.Kind == contract.KindObject:
		fields = readable()
		return cls.Name, fmt.Sprintf("{ %s { %s } }", cls.Name, strings.Join(fields, " ")), fields, true
	case action == contract.ActionRead && rc != nil:
		fields = readable()
		root = cls.Name + "_connection"
		return root, fmt.Sprintf("{ %s(first: 1) { edges { node { %s } } } }", root, strings.Join(fields, " ")), fields, true
	case action == contract.ActionRead:
		root = cls.Name + "_connection"
		return root, fmt.Sprintf("{ %s(first: 1) { edges { node } } }", root), nil, true
	case action == contract.ActionUpdate && cls.Kind == contract.KindObject:
		f := firstOptionalScalar(rc)
		root = "mutate_" + cls.Name
		return root, fmt.Sprintf("mutation { %s(%s: %s) }", root, f.Name, literal(sampleValue(f.Type, f.Format, f.Enum, nil))), []string{f.Name}, true
	case action == contract.ActionAppend && cls.Kind == contract.KindArrayOfObjects:
		rec := sampleRecord(rc)
		var args []string
		for _, f := range rc.Fields {
			args = append(args, f.Name+": "+literal(rec[f.Name]))
			fields = append(fields, f.Name)
		}
		root = "append_" + cls.Name
		return root, fmt.Sprintf("mutation { %s(%s) }", root, strings.Join(args, ", ")), fields, true
	case action == contract.ActionAppend && cls.Kind == contract.KindArrayOfScalars:
		root = "append_" + cls.Name
		return root, fmt.Sprintf("mutation { %s(value: %s) }", root, literal(sampleValue(cls.Items.Type, cls.Items.Format, nil, nil))), nil, true
	case action == contract.ActionUpdate && cls.Kind == contract.KindArrayOfObjects:
		f := firstOptionalScalar(rc)
		root = "update_" + cls.Name
		return root, fmt.Sprintf("mutation { %s(filter: {}, %s: %s) }", root, f.Name, literal(sampleValue(f.Type, f.Format, f.Enum, nil))), []string{f.Name}, true
	case action == contract.ActionDelete && cls.Kind != contract.KindObject:
		root = "delete_from_" + cls.Name
		return root, fmt.Sprintf("mutation { %s(filter: {}) }", root), nil, true
	case action == contract.ActionSubscribe && cls.Kind != contract.KindObject:
		root = cls.Name + "_counter"
		return root, fmt.Sprintf("subscription { %s }", root), nil, true
	}
	return "", "", nil, false
}

func firstOptionalScalar(rc *contract.Class) *contract.Field {
	for _, f := range rc.Fields {
		if f.Type != contract.TypeArray && !f.Required {
			return f
		}
	}
	return rc.Fields[0]
}

// seedClass stores one valid item (or the record) of cls in data.
func seedClass(t *testing.T, data *memData, cls *contract.Class) {
	t.Helper()
	ctx := context.Background()
	var err error
	switch {
	case cls.Kind == contract.KindObject:
		err = data.Mutate(ctx, cls.Name, sampleRecord(cls))
	case cls.RecordClass() != nil:
		rec := sampleRecord(cls.RecordClass())
		if verr := cls.ValidateRecord(rec); verr != nil {
			t.Fatalf("sample record of %s: %v", cls.Name, verr)
		}
		err = data.Append(ctx, cls.Name, rec)
	default:
		err = data.Append(ctx, cls.Name, sampleValue(cls.Items.Type, cls.Items.Format, nil, nil))
	}
	if err != nil {
		t.Fatal(err)
	}
}

// sampleRecord makes a record of rc with every field set to a valid value.
func sampleRecord(rc *contract.Class) Record {
	rec := Record{}
	for _, f := range rc.Fields {
		rec[f.Name] = sampleValue(f.Type, f.Format, f.Enum, f.Items)
	}
	return rec
}

func sampleValue(t contract.Type, format contract.Format, enum []string, items *contract.Items) any {
	switch t {
	case contract.TypeInteger:
		return int64(7)
	case contract.TypeNumber:
		return 1.5
	case contract.TypeBoolean:
		return true
	case contract.TypeArray:
		if items.Class != nil {
			return []any{sampleRecord(items.Class)}
		}
		return []any{sampleValue(items.Type, items.Format, nil, nil)}
	}
	if len(enum) > 0 {
		return enum[0]
	}
	switch format {
	case contract.FormatDateTime:
		return "2025-01-31T12:00:00Z"
	case contract.FormatDate:
		return "2025-01-31"
	case contract.FormatTime:
		return "12:00:00Z"
	case contract.FormatUUID:
		return uuidN(42)
	case contract.FormatURI, contract.FormatURL, contract.FormatIRI, contract.FormatURIReference, contract.FormatIRIReference:
		return "https://example.com/x"
	case contract.FormatEmail, contract.FormatIDNEmail:
		return "a@example.com"
	case contract.FormatHostname, contract.FormatIDNHostname:
		return "example.com"
	case contract.FormatIPv4:
		return "192.0.2.1"
	case contract.FormatIPv6:
		return "2001:db8::1"
	}
	return "text"
}

// literal writes a value as a GraphQL literal.
func literal(v any) string {
	switch v := v.(type) {
	case string:
		return fmt.Sprintf("%q", v)
	case []any:
		parts := make([]string, len(v))
		for i, it := range v {
			parts[i] = literal(it)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case Record:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + ": " + literal(v[k])
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return fmt.Sprint(v)
}
