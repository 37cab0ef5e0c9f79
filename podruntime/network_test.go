package podruntime

import (
	"errors"
	"slices"
	"testing"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/config/samples/contracts"
	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/graphql"
	"github.com/byoda-go/byoda/podruntime/recursion"
)

// TestConnectionQueryShape: the queries a pod forwards differ in their
// variables, not their text, as long as their class, filter and fields are
// the same, so that a peer parses and caches one document for them all
// rather than one per query (every query has its own query_id).
func TestConnectionQueryShape(t *testing.T) {
	c, err := contract.Parse(contracts.AddressbookDemo)
	if err != nil {
		t.Fatal(err)
	}
	mk := func() *graphql.RemoteQuery {
		return &graphql.RemoteQuery{
			Class:     c.Class("addresses"),
			Query:     graphql.Query{First: 20, Fields: []string{"street", "city"}},
			RawFilter: map[string]any{"city": map[string]any{"eq": "Amsterdam"}},
		}
	}
	a := mk()
	a.QueryID, a.Relations = uuid.NewString(), []string{"family"}
	b := mk()
	b.QueryID, b.Query.After, b.Query.First, b.RemoteMemberID = uuid.NewString(), "Ugxx", 5, uuid.NewString()
	textA, varsA := connectionQuery(a, 1)
	textB, varsB := connectionQuery(b, 0)
	if textA != textB {
		t.Errorf("two queries of one shape have two texts:\n%s\n%s", textA, textB)
	}
	for name, want := range map[string]any{"first": 20, "depth": 1, "qid": a.QueryID} {
		if varsA[name] != want {
			t.Errorf("variable %s is %v, want %v", name, varsA[name], want)
		}
	}
	if rels, _ := varsA["relations"].([]string); len(rels) != 1 || rels[0] != "family" {
		t.Errorf("variable relations is %v, want [family]", varsA["relations"])
	}
	for name, want := range map[string]any{"first": 5, "depth": 0, "after": "Ugxx", "remote": b.RemoteMemberID, "qid": b.QueryID} {
		if varsB[name] != want {
			t.Errorf("variable %s is %v, want %v", name, varsB[name], want)
		}
	}
	if _, ok := varsA["after"]; ok {
		t.Error("a first page has an after variable")
	}

	// What the text holds does change it.
	other := mk()
	other.RawFilter = map[string]any{"city": map[string]any{"eq": "Berlin"}}
	if text, _ := connectionQuery(other, 1); text == textA {
		t.Error("two filters have one text")
	}
	other = mk()
	other.Query.Fields = []string{"city"}
	if text, _ := connectionQuery(other, 1); text == textA {
		t.Error("two selections have one text")
	}
}

// TestDropAnswered keeps in unanswered_peers only the pods that did not
// answer by any path: not one this pod asked that answered, nor one whose
// records came through another.
func TestDropAnswered(t *testing.T) {
	b, c, d, e := uuid.New(), uuid.New(), uuid.New(), uuid.New()
	entry := func(id uuid.UUID, via uuid.UUID) any {
		return map[string]any{"member_id": id.String(), "reason": "refused", "error": "FORBIDDEN", "via": via.String()}
	}
	unanswered := []any{
		entry(c, b), // C refused B's forward, and answered this pod
		entry(d, b), // D refused everyone
		entry(e, c), // E refused C's forward; its records came through B
		map[string]any{"member_id": b.String(), "reason": "timeout", "error": "deadline"},
	}
	outcomes := []recursion.Outcome[uuid.UUID, *peerAnswer]{
		{Peer: c, Result: &peerAnswer{}},
		{Peer: b, Err: errors.New("deadline")},
	}
	parts := []recursion.Part{{Items: []recursion.Item{{Origin: e, Cursor: "1"}}}}
	got := dropAnswered(unanswered, outcomes, parts)
	var ids []string
	for _, u := range got {
		ids = append(ids, u.(map[string]any)["member_id"].(string))
	}
	if want := []string{d.String(), b.String()}; !slices.Equal(ids, want) {
		t.Errorf("dropAnswered left %v; want D and B %v", ids, want)
	}
}
