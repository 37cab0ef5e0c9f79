package pod_test

import (
	"encoding/json"
	"fmt"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
)

// The access matrix walks every class of the reference's addressbook
// contract, for every entity, through every action that has a GraphQL
// operation, and checks the pod's answer against contract.Authorize:
//
//	object class:   read (C), update or mutate (mutate_C)
//	array class:    read (C_connection), append (append_C), update
//	                (update_C), delete (delete_from_C), subscribe
//	                (C_counter over a websocket)
//
// create, search and persist have no GraphQL operation, nor have delete on
// an object, mutate on an array and subscribe on an object. A class-level
// denial must be FORBIDDEN at the operation's path; when the class allows
// the action, the only FORBIDDEN errors may be for the fields Authorize
// denies (read for selected and filtered fields, the action for the fields
// set), and with none denied the operation must succeed.

// outcomes counts the verdicts the matrix checked, to show it saw each
// kind.
var outcomes = map[string]int{}

// matrixCaller is one entity as the pod sees it, and how to call as it.
type matrixCaller struct {
	name   string
	caller contract.Caller
	gql    func(t testing.TB, query string) *gqlResponse
	ws     func(t testing.TB) (*wsClient, error)
}

func TestAccessMatrix(t *testing.T) {
	// The reference's addressbook is what the issue asks for; the demo
	// contract adds field rules (email: family only, service may search
	// it but not read it).
	t.Run("addressbook", func(t *testing.T) { accessMatrix(t, addressbookContract) })
	t.Run("addressbook-demo", func(t *testing.T) { accessMatrix(t, demoContract) })
}

func accessMatrix(t *testing.T, file string) {
	clear(outcomes)
	raw, err := contract.ReadFile(file)
	if err != nil {
		t.Fatal(err)
	}
	c, err := contract.Parse(raw)
	if err != nil {
		t.Fatal(err)
	}
	sid := c.ServiceID
	p := newPod(t, podOptions{contracts: map[uint32]string{sid: file}})
	tok := p.login(t, sid)
	peerURL := "wss://" + p.peerAddr + "/api/v1/data/service-" + strconv.FormatUint(uint64(sid), 10)

	ownerCaller := func(name string, e contract.Entity, token string) matrixCaller {
		h := map[string]string{}
		payload := map[string]any{}
		if token != "" {
			h["Authorization"] = "Bearer " + token
			payload["Authorization"] = "Bearer " + token
		}
		return matrixCaller{
			name:   name,
			caller: contract.Caller{Entity: e},
			gql: func(t testing.TB, q string) *gqlResponse {
				return graphQL(t, p.owner, p.dataURL(sid), h, q, nil)
			},
			ws: func(t testing.TB) (*wsClient, error) { return dialWS(t, p.wsURL(sid), p.ownerTLS(), nil, payload) },
		}
	}
	peerCaller := func(name string, caller contract.Caller, pc *peer) matrixCaller {
		return matrixCaller{
			name:   name,
			caller: caller,
			gql:    func(t testing.TB, q string) *gqlResponse { return pc.gql(t, p, sid, q, nil) },
			ws: func(t testing.TB) (*wsClient, error) {
				return dialWS(t, peerURL, pc.client.Transport.(*http.Transport).TLSClientConfig.Clone(), nil, nil)
			},
		}
	}
	svcKey, err := openPKI(t).ServiceKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	_, anyMember := memberPeer(t, p, sid)
	friendID, friend := memberPeer(t, p, sid)
	colleagueID, colleague := memberPeer(t, p, sid)
	callers := []matrixCaller{
		ownerCaller("member", contract.EntityMember, tok),
		ownerCaller("anonymous", contract.EntityAnonymous, ""),
		peerCaller("service", contract.Caller{Entity: contract.EntityService}, newPeer(t, p, "service", svcKey, sid)),
		peerCaller("any_member", contract.Caller{Entity: contract.EntityAnyMember}, anyMember),
		peerCaller("network friend", contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"friend"}, Distance: 1}, friend),
		peerCaller("network colleague", contract.Caller{Entity: contract.EntityNetwork, Relations: []string{"colleague"}, Distance: 1}, colleague),
	}

	// The owner fills every class it may, so that field-level reads have
	// something to show, and links the network peers.
	member := contract.Caller{Entity: contract.EntityMember}
	for _, cls := range c.Classes {
		rec := genRecord(cls)
		if err := cls.ValidateRecord(rec); err != nil {
			t.Fatalf("generated record of %s is invalid: %v", cls.Name, err)
		}
		switch {
		case cls.Kind == contract.KindObject && (authorized(c, member, contract.ActionUpdate, cls.Name, "") || authorized(c, member, contract.ActionMutate, cls.Name, "")):
			p.ownerGQL(t, sid, tok, "mutation { mutate_"+cls.Name+args(rec, "")+" }", nil).ok(t)
		case cls.Kind != contract.KindObject && authorized(c, member, contract.ActionAppend, cls.Name, ""):
			p.ownerGQL(t, sid, tok, "mutation { append_"+cls.Name+args(rec, "")+" }", nil).ok(t)
		}
	}
	p.link(t, sid, tok, friendID, "friend")
	p.link(t, sid, tok, colleagueID, "colleague")

	checked := map[contract.Action]int{}
	for _, mc := range callers {
		t.Run(mc.name, func(t *testing.T) {
			for _, cls := range c.Classes {
				for _, a := range checkClass(t, c, cls, mc) {
					checked[a]++
				}
			}
			n := checkSubscriptions(t, c, mc)
			checked[contract.ActionSubscribe] += n
		})
	}
	t.Logf("checked against Authorize: %v (classes %d, callers %d); verdicts %v", checked, len(c.Classes), len(callers), outcomes)
	for _, k := range []string{"class denied", "field denied", "allowed"} {
		if outcomes[k] == 0 {
			t.Errorf("the matrix saw no %q verdict", k)
		}
	}
}

func authorized(c *contract.Contract, caller contract.Caller, a contract.Action, class, field string) bool {
	return contract.Authorize(c, caller, a, class, field).Allowed
}

// checkClass checks read and the writes of one class for one caller, and
// returns the actions it checked.
func checkClass(t *testing.T, c *contract.Contract, cls *contract.Class, mc matrixCaller) []contract.Action {
	t.Helper()
	var done []contract.Action
	rc := cls.RecordClass()

	// read
	var q, root, nodePath string
	if cls.Kind == contract.KindObject {
		root = cls.Name
		q = "{ " + root + " " + selection(rc) + " }"
		nodePath = root
	} else {
		root = cls.Name + "_connection"
		node := ""
		if rc != nil {
			node = " " + selection(rc)
		}
		q = "{ " + root + "(first: 1) { total_count edges { node" + node + " } } }"
		nodePath = root + ".edges.0.node"
	}
	r := mc.gql(t, q)
	var deniedPaths []string
	if rc != nil && hasNode(r, root, cls.Kind) {
		for _, f := range rc.Fields {
			if !authorized(c, mc.caller, contract.ActionRead, cls.Name, f.Name) {
				deniedPaths = append(deniedPaths, nodePath+"."+f.Name)
			}
		}
	}
	expectOutcome(t, "read", cls.Name, q, r, authorized(c, mc.caller, contract.ActionRead, cls.Name, ""), root, deniedPaths, nil)
	done = append(done, contract.ActionRead)

	rec := genRecord(cls)
	if cls.Kind == contract.KindObject {
		action := contract.ActionUpdate
		if !authorized(c, mc.caller, action, cls.Name, "") {
			action = contract.ActionMutate
		}
		op := "mutate_" + cls.Name
		q := "mutation { " + op + args(rec, "") + " }"
		expectOutcome(t, "update/mutate", cls.Name, q, mc.gql(t, q), authorized(c, mc.caller, action, cls.Name, ""), op,
			nil, deniedFields(c, mc.caller, action, cls, rec))
		return append(done, contract.ActionUpdate, contract.ActionMutate)
	}

	// append
	op := "append_" + cls.Name
	q = "mutation { " + op + args(rec, "") + " }"
	expectOutcome(t, "append", cls.Name, q, mc.gql(t, q), authorized(c, mc.caller, contract.ActionAppend, cls.Name, ""), op,
		nil, deniedFields(c, mc.caller, contract.ActionAppend, cls, rec))
	done = append(done, contract.ActionAppend)

	// update and delete, with a filter that matches nothing
	filter, filterField := nothingFilter(cls)
	var filterDenied []string
	if filterField != "" && !authorized(c, mc.caller, contract.ActionRead, cls.Name, filterField) {
		filterDenied = []string{"filter." + filterField}
	}
	if rc != nil {
		patch := map[string]any{}
		for _, f := range rc.Fields {
			if f.Type != contract.TypeArray && !f.PrimaryKey {
				patch[f.Name] = rec.(map[string]any)[f.Name]
				break
			}
		}
		op = "update_" + cls.Name
		q = "mutation { " + op + args(patch, "filter: "+filter) + " }"
		expectOutcome(t, "update", cls.Name, q, mc.gql(t, q), authorized(c, mc.caller, contract.ActionUpdate, cls.Name, ""), op,
			nil, append(filterDenied, deniedFields(c, mc.caller, contract.ActionUpdate, cls, patch)...))
		done = append(done, contract.ActionUpdate)
	}
	op = "delete_from_" + cls.Name
	q = "mutation { " + op + "(filter: " + filter + ") }"
	expectOutcome(t, "delete", cls.Name, q, mc.gql(t, q), authorized(c, mc.caller, contract.ActionDelete, cls.Name, ""), op, nil, filterDenied)
	return append(done, contract.ActionDelete)
}

// expectOutcome checks one answer. allowed is the class-level verdict;
// deniedPaths are field paths that must be FORBIDDEN (reads), and
// deniedArgs the arguments that may be FORBIDDEN (writes: at least one of
// them when there are any).
func expectOutcome(t *testing.T, what, class, q string, r *gqlResponse, allowed bool, root string, deniedPaths, deniedArgs []string) {
	t.Helper()
	switch {
	case !allowed:
		outcomes["class denied"]++
	case len(deniedPaths)+len(deniedArgs) > 0:
		outcomes["field denied"]++
	default:
		outcomes["allowed"]++
	}
	if r.Status != http.StatusOK {
		t.Errorf("%s %s: HTTP %d %s\nquery: %s", what, class, r.Status, r.Raw, q)
		return
	}
	if !allowed {
		if !r.forbidden(root) || len(r.Errors) != 1 || r.Data[root] != nil {
			t.Errorf("%s %s: Authorize denies, want one FORBIDDEN at %s and no data; got %s", what, class, root, r.Raw)
		}
		return
	}
	if r.forbidden(root) {
		t.Errorf("%s %s: Authorize allows, got FORBIDDEN at %s: %s", what, class, root, r.Raw)
		return
	}
	if len(deniedArgs) > 0 {
		if len(r.Errors) == 0 {
			t.Errorf("%s %s: Authorize denies the arguments %v, but the pod accepted: %s", what, class, deniedArgs, r.Raw)
		}
		for _, e := range r.Errors {
			arg, _ := e.Extensions["argument"].(string)
			if e.code() != "FORBIDDEN" || !slices.Contains(deniedArgs, arg) {
				t.Errorf("%s %s: want FORBIDDEN for one of %v only, got %s", what, class, deniedArgs, r.Raw)
			}
		}
		return
	}
	for _, path := range deniedPaths {
		if !r.forbidden(path) {
			t.Errorf("%s %s: Authorize denies %s, want FORBIDDEN there: %s", what, class, path, r.Raw)
		}
	}
	if len(r.Errors) != len(deniedPaths) {
		t.Errorf("%s %s: want %d errors (FORBIDDEN at %v), got %s\nquery: %s", what, class, len(deniedPaths), deniedPaths, r.Raw, q)
	}
}

// deniedFields are the fields rec sets that Authorize denies action on.
func deniedFields(c *contract.Contract, caller contract.Caller, a contract.Action, cls *contract.Class, rec any) []string {
	m, ok := rec.(map[string]any)
	if !ok {
		return nil
	}
	var out []string
	for f := range m {
		if !authorized(c, caller, a, cls.Name, f) {
			out = append(out, f)
		}
	}
	return out
}

// hasNode reports whether a read answered a record to check fields on.
func hasNode(r *gqlResponse, root string, kind contract.Kind) bool {
	v, ok := r.Data[root].(map[string]any)
	if !ok {
		return false
	}
	if kind == contract.KindObject {
		return true
	}
	edges, _ := v["edges"].([]any)
	return len(edges) > 0
}

// checkSubscriptions subscribes to the counter of every array class on one
// websocket and checks each answer: the count when Authorize allows
// subscribe, FORBIDDEN when it does not.
func checkSubscriptions(t *testing.T, c *contract.Contract, mc matrixCaller) int {
	t.Helper()
	ws, err := mc.ws(t)
	if err != nil {
		t.Fatalf("websocket: %v", err)
	}
	want := map[string]bool{}
	for _, cls := range c.Classes {
		if cls.Kind == contract.KindObject {
			continue
		}
		want[cls.Name] = authorized(c, mc.caller, contract.ActionSubscribe, cls.Name, "")
		if err := ws.subscribe(cls.Name, "subscription { "+cls.Name+"_counter }"); err != nil {
			t.Fatal(err)
		}
	}
	answered := map[string]bool{}
	for len(answered) < len(want) {
		m, err := ws.read(10 * time.Second)
		if err != nil {
			t.Fatalf("websocket: %v (%d of %d answered)", err, len(answered), len(want))
		}
		allowed, ok := want[m.ID]
		if !ok || answered[m.ID] {
			if m.Type == "complete" {
				continue // after an error
			}
			t.Fatalf("unexpected message %s %s %s", m.ID, m.Type, m.Payload)
		}
		answered[m.ID] = true
		forbidden := strings.Contains(string(m.Payload), `"code":"FORBIDDEN"`)
		counted := m.Type == "next" && strings.Contains(string(m.Payload), `{"data":{"`+m.ID+`_counter":`)
		if allowed && !counted || !allowed && !forbidden {
			t.Errorf("subscribe %s: Authorize says %v, got %s %s", m.ID, allowed, m.Type, m.Payload)
		}
	}
	return len(want)
}

// selection selects every field of a record class: scalars and arrays of
// scalars as they are, arrays of objects by their __typename.
func selection(rc *contract.Class) string {
	var parts []string
	for _, f := range rc.Fields {
		if f.Type == contract.TypeArray && f.Items.Class != nil {
			parts = append(parts, f.Name+" { __typename }")
		} else {
			parts = append(parts, f.Name)
		}
	}
	return "{ " + strings.Join(parts, " ") + " }"
}

// nothingFilter is a filter on the first scalar field of a class's items
// with a value no item has, and that field ("" for scalars).
func nothingFilter(cls *contract.Class) (string, string) {
	rc := cls.RecordClass()
	if rc == nil {
		return `{eq: "no such value"}`, ""
	}
	for _, f := range rc.Fields {
		if f.Type == contract.TypeArray {
			continue
		}
		op := "eq"
		if f.Format == contract.FormatDateTime && f.Type == contract.TypeString {
			op = "at"
		}
		var v any = "no such value"
		switch {
		case f.Type == contract.TypeInteger:
			v = int64(-987654321)
		case f.Type == contract.TypeNumber:
			v = -987654321.5
		case f.Type == contract.TypeBoolean:
			// eq true and ne true: nothing.
			return fmt.Sprintf("{%s: {eq: true, ne: true}}", f.Name), f.Name
		case f.Format == contract.FormatUUID:
			v = uuid.NewString()
		case f.Format == contract.FormatDateTime:
			v = "1971-01-01T00:00:00Z"
		}
		return fmt.Sprintf("{%s: {%s: %s}}", f.Name, op, literal(v)), f.Name
	}
	return `{}`, ""
}

// genRecord makes a valid record of a class, with every field set, or an
// item for an array of scalars.
func genRecord(cls *contract.Class) any {
	rc := cls.RecordClass()
	if rc == nil {
		return genScalar(cls.Items.Type, cls.Items.Format, nil)
	}
	return genObject(rc)
}

func genObject(rc *contract.Class) map[string]any {
	rec := map[string]any{}
	for _, f := range rc.Fields {
		if f.Type != contract.TypeArray {
			rec[f.Name] = genScalar(f.Type, f.Format, f.Enum)
			continue
		}
		if f.Items.Class != nil {
			rec[f.Name] = []any{genObject(f.Items.Class)}
		} else {
			rec[f.Name] = []any{genScalar(f.Items.Type, f.Items.Format, nil)}
		}
	}
	return rec
}

func genScalar(t contract.Type, format contract.Format, enum []string) any {
	switch t {
	case contract.TypeInteger:
		return int64(7)
	case contract.TypeNumber:
		return 7.5
	case contract.TypeBoolean:
		return true
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
		return uuid.NewString()
	case contract.FormatURI, contract.FormatURL, contract.FormatIRI, contract.FormatURIReference, contract.FormatIRIReference:
		return "https://example.com/x"
	case contract.FormatEmail, contract.FormatIDNEmail:
		return "someone@example.com"
	case contract.FormatHostname, contract.FormatIDNHostname:
		return "example.com"
	case contract.FormatIPv4:
		return "192.0.2.1"
	case contract.FormatIPv6:
		return "2001:db8::1"
	}
	return "text"
}

// args renders a record as GraphQL arguments, after extra ones; an item of
// an array of scalars is the argument "value".
func args(rec any, extra string) string {
	var parts []string
	if extra != "" {
		parts = append(parts, extra)
	}
	m, ok := rec.(map[string]any)
	if !ok {
		parts = append(parts, "value: "+literal(rec))
	} else {
		for _, k := range sortedKeys(m) {
			parts = append(parts, k+": "+literal(m[k]))
		}
	}
	return "(" + strings.Join(parts, ", ") + ")"
}

func sortedKeys(m map[string]any) []string {
	keys := make([]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// literal renders a value as a GraphQL literal.
func literal(v any) string {
	switch v := v.(type) {
	case string:
		b, _ := json.Marshal(v)
		return string(b)
	case int64:
		return strconv.FormatInt(v, 10)
	case float64:
		return strconv.FormatFloat(v, 'f', -1, 64)
	case bool:
		return strconv.FormatBool(v)
	case []any:
		parts := make([]string, len(v))
		for i, x := range v {
			parts[i] = literal(x)
		}
		return "[" + strings.Join(parts, ", ") + "]"
	case map[string]any:
		parts := make([]string, 0, len(v))
		for _, k := range sortedKeys(v) {
			parts = append(parts, k+": "+literal(v[k]))
		}
		return "{" + strings.Join(parts, ", ") + "}"
	}
	return "null"
}
