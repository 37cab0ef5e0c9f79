package pod_test

import (
	"crypto/tls"
	"encoding/json"
	"net/http"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/test/testenv"
)

// accessPod is a pod that has joined the demo and the addressbook
// services, with a person, addresses and tags in the demo service.
func accessPod(t *testing.T) (*testPod, string) {
	t.Helper()
	p := newPod(t, podOptions{contracts: map[uint32]string{demoSID: demoContract, addressbookSID: addressbookContract}})
	tok := p.login(t, demoSID)
	p.ownerGQL(t, demoSID, tok, `mutation { mutate_person(given_name: "Suzie", family_name: "Doe", email: "suzie@example.com") }`, nil).ok(t)
	p.ownerGQL(t, demoSID, tok, appendAddress, address{uuid.NewString(), time.Now().UTC(), "home", "Amsterdam", "NL"}.vars()).ok(t)
	p.ownerGQL(t, demoSID, tok, `mutation { append_tags(value: "hiking") }`, nil).ok(t)
	return p, tok
}

const (
	qPerson    = `{ person { given_name family_name email } }`
	qAddresses = `{ addresses_connection { total_count edges { node { city } } } }`
	qTags      = `{ tags_connection { edges { node } } }`
	qLinks     = `{ network_links_connection { total_count } }`
	mInvite    = `mutation($m: UUID!) { append_network_invites(member_id: $m, relation: "friend", created_timestamp: "2025-01-01T00:00:00Z") }`
	mAddress   = `mutation { append_addresses(address_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301", created_timestamp: "2025-01-01T00:00:00Z", city: "X", country: "NL") }`
	mTag       = `mutation { append_tags(value: "spam") }`
)

// expectation is what one query must answer: the data, compacted, or
// FORBIDDEN at the given paths.
type expectation struct {
	query     string
	vars      map[string]any
	data      string   // compacted "data", when not empty
	forbidden []string // paths that must be FORBIDDEN
}

func check(t *testing.T, r *gqlResponse, e expectation) {
	t.Helper()
	if r.Status != http.StatusOK {
		t.Fatalf("%s: HTTP %d %s", e.query, r.Status, r.Raw)
	}
	for _, path := range e.forbidden {
		if !r.forbidden(path) {
			t.Errorf("%s: want FORBIDDEN at %s, got %s", e.query, path, r.Raw)
		}
	}
	if len(r.Errors) != len(e.forbidden) {
		t.Errorf("%s: want %d errors, got %s", e.query, len(e.forbidden), r.Raw)
	}
	if e.data != "" {
		if got := compact(t, r.Data); got != e.data {
			t.Errorf("%s: data = %s, want %s", e.query, got, e.data)
		}
	}
}

func TestPeerAccess(t *testing.T) {
	p, tok := accessPod(t)
	person := `{"person":{"email":"suzie@example.com","family_name":"Doe","given_name":"Suzie"}}`
	personNoEmail := `{"person":{"email":null,"family_name":"Doe","given_name":"Suzie"}}`
	addresses := `{"addresses_connection":{"edges":[{"node":{"city":"Amsterdam"}}],"total_count":1}}`
	tags := `{"tags_connection":{"edges":[{"node":"hiking"}]}}`

	// A member of the service without a link: any_member, which the demo
	// contract grants only appending invites (and what anonymous has:
	// reading tags).
	_, member := memberPeer(t, p, demoSID)
	famID, family := memberPeer(t, p, demoSID)
	friendID, friend := memberPeer(t, p, demoSID)
	colleagueID, colleague := memberPeer(t, p, demoSID)
	p.link(t, demoSID, tok, famID, "family")
	p.link(t, demoSID, tok, friendID, "Friend") // relations compare without case
	p.link(t, demoSID, tok, colleagueID, "colleague")
	dir := openPKI(t)
	svcKey, err := dir.ServiceKey(demoSID)
	if err != nil {
		t.Fatal(err)
	}
	service := newPeer(t, p, "service", svcKey, demoSID)
	appID, err := dir.CreateApp(demoSID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	appKey, err := dir.AppKey(demoSID, appID)
	if err != nil {
		t.Fatal(err)
	}
	app := newPeer(t, p, "app", appKey, demoSID)
	invite := map[string]any{"m": uuid.NewString()}

	for _, tc := range []struct {
		name   string
		peer   *peer
		expect []expectation
	}{
		{"any_member", member, []expectation{
			{query: qPerson, forbidden: []string{"person"}, data: `{"person":null}`},
			{query: qAddresses, forbidden: []string{"addresses_connection"}},
			{query: qLinks, forbidden: []string{"network_links_connection"}},
			{query: qTags, data: tags},
			{query: mInvite, vars: invite, data: `{"append_network_invites":1}`},
			{query: mAddress, forbidden: []string{"append_addresses"}},
			{query: mTag, forbidden: []string{"append_tags"}},
		}},
		{"network family", family, []expectation{
			{query: qPerson, data: person},
			{query: qAddresses, data: addresses},
			{query: qLinks, forbidden: []string{"network_links_connection"}},
			{query: qTags, data: tags},
			{query: mAddress, forbidden: []string{"append_addresses"}},
			{query: `mutation { delete_from_addresses(filter: {city: {eq: "Amsterdam"}}) }`, forbidden: []string{"delete_from_addresses"}},
		}},
		{"network friend", friend, []expectation{
			// The person, but not the email, which only family may read.
			{query: qPerson, data: personNoEmail, forbidden: []string{"person.email"}},
			{query: qAddresses, forbidden: []string{"addresses_connection"}},
		}},
		{"network colleague", colleague, []expectation{
			{query: qPerson, forbidden: []string{"person"}},
			{query: qAddresses, forbidden: []string{"addresses_connection"}},
			{query: qTags, data: tags},
			// A colleague is still a member of the service.
			{query: mInvite, vars: invite, data: `{"append_network_invites":1}`},
		}},
		{"service", service, []expectation{
			// The service may read the person but only search the email.
			{query: qPerson, data: personNoEmail, forbidden: []string{"person.email"}},
			{query: qAddresses, forbidden: []string{"addresses_connection"}},
			{query: mInvite, vars: invite, forbidden: []string{"append_network_invites"}},
		}},
		{"app (anonymous for now)", app, []expectation{
			{query: qPerson, forbidden: []string{"person"}},
			{query: qTags, data: tags},
			{query: mInvite, vars: invite, forbidden: []string{"append_network_invites"}},
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			for _, e := range tc.expect {
				check(t, tc.peer.gql(t, p, demoSID, e.query, e.vars), e)
			}
		})
	}

	t.Run("anonymous", func(t *testing.T) {
		for _, e := range []expectation{
			{query: qPerson, forbidden: []string{"person"}},
			{query: qAddresses, forbidden: []string{"addresses_connection"}},
			{query: qTags, data: tags},
			{query: mTag, forbidden: []string{"append_tags"}},
			{query: mInvite, vars: invite, forbidden: []string{"append_network_invites"}},
		} {
			check(t, p.ownerGQL(t, demoSID, "", e.query, e.vars), e)
		}
	})

	t.Run("owner", func(t *testing.T) {
		check(t, p.ownerGQL(t, demoSID, tok, qPerson, nil), expectation{query: qPerson, data: person})
	})

	t.Run("a link removed is access removed", func(t *testing.T) {
		id, fam2 := memberPeer(t, p, demoSID)
		p.link(t, demoSID, tok, id, "family")
		check(t, fam2.gql(t, p, demoSID, qAddresses, nil), expectation{query: qAddresses, data: addresses})
		p.ownerGQL(t, demoSID, tok, `mutation($m: UUID!) { delete_from_network_links(filter: {member_id: {eq: $m}}) }`,
			map[string]any{"m": id.String()}).ok(t)
		// The same kept-alive connection: identity is cached, relations
		// only until the links change.
		check(t, fam2.gql(t, p, demoSID, qAddresses, nil), expectation{query: qAddresses, forbidden: []string{"addresses_connection"}})
		p.link(t, demoSID, tok, id, "colleague")
		check(t, fam2.gql(t, p, demoSID, qAddresses, nil), expectation{query: qAddresses, forbidden: []string{"addresses_connection"}})
		p.ownerGQL(t, demoSID, tok, `mutation($m: UUID!) { update_network_links(filter: {member_id: {eq: $m}}, relation: "family") }`,
			map[string]any{"m": id.String()}).ok(t)
		check(t, fam2.gql(t, p, demoSID, qAddresses, nil), expectation{query: qAddresses, data: addresses})
	})
}

func TestPeerRefused(t *testing.T) {
	p, _ := accessPod(t)
	dir := openPKI(t)

	t.Run("member of another joined service", func(t *testing.T) {
		// A member of the addressbook service, which this pod has joined,
		// may not call the demo service's API: 403.
		_, other := memberPeer(t, p, addressbookSID)
		status, body := do(t, other.client, http.MethodPost, "https://"+p.peerAddr+"/api/v1/data/service-"+strconv.Itoa(int(demoSID)),
			[]byte(`{"query":"{ tags_connection { total_count } }"}`), map[string]string{"Content-Type": "application/json"})
		if status != http.StatusForbidden || !strings.Contains(string(body), `"code":"FORBIDDEN"`) {
			t.Fatalf("got %d %s, want 403 FORBIDDEN", status, body)
		}
		// Its own service's API answers it.
		r := other.gql(t, p, addressbookSID, `{ channels_connection { total_count } }`, nil)
		if r.Status != http.StatusOK {
			t.Fatalf("own service: %d %s", r.Status, r.Raw)
		}
	})

	handshakeRefused := func(t *testing.T, c *peer) {
		t.Helper()
		req, _ := http.NewRequest(http.MethodGet, "https://"+p.peerAddr+"/api/v1/data/service-4711?query={tags_connection{total_count}}", nil)
		resp, err := c.client.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Fatalf("%s: the peer port answered %s; want the TLS handshake refused", c.name, resp.Status)
		}
		if !strings.Contains(err.Error(), "tls") && !strings.Contains(err.Error(), "certificate") {
			t.Fatalf("%s: want a TLS error, got %v", c.name, err)
		}
	}

	t.Run("member of a service the pod has not joined", func(t *testing.T) {
		_, stranger := memberPeer(t, p, otherSID)
		handshakeRefused(t, stranger)
	})

	t.Run("account certificate", func(t *testing.T) {
		aid, err := dir.CreateAccount(time.Now())
		if err != nil {
			t.Fatal(err)
		}
		kp, err := dir.AccountKey(aid)
		if err != nil {
			t.Fatal(err)
		}
		handshakeRefused(t, newPeer(t, p, "account", kp, demoSID))
	})

	t.Run("no client certificate", func(t *testing.T) {
		roots, _ := dir.Roots()
		c := &peer{name: "no certificate", client: &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
			RootCAs: roots, ServerName: p.accountName,
		}}}}
		handshakeRefused(t, c)
	})

	t.Run("certificate of another network", func(t *testing.T) {
		// A self-made network with the same names.
		other := t.TempDir()
		od, err := testenv.InitPKI(other, network, demoSID)
		if err != nil {
			t.Fatal(err)
		}
		mid, err := od.CreateMember(demoSID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		kp, err := od.MemberKey(demoSID, mid)
		if err != nil {
			t.Fatal(err)
		}
		handshakeRefused(t, newPeer(t, p, "foreign member", kp, demoSID))
	})

	t.Run("TLS 1.2", func(t *testing.T) {
		mid := newMember(t, demoSID)
		kp, _ := dir.MemberKey(demoSID, mid)
		c := newPeer(t, p, "TLS 1.2 member", kp, demoSID)
		tc := c.client.Transport.(*http.Transport).TLSClientConfig
		tc.MinVersion, tc.MaxVersion = tls.VersionTLS12, tls.VersionTLS12
		handshakeRefused(t, c)
	})

	t.Run("headers do not make an identity", func(t *testing.T) {
		// A header claiming a member id gives nothing: anonymous.
		var resp gqlResponse
		status, body := do(t, p.owner, http.MethodPost, p.dataURL(demoSID), []byte(`{"query":"{ person { given_name } }"}`),
			map[string]string{"Content-Type": "application/json", "X-Byoda-Member-Id": uuid.NewString()})
		if err := json.Unmarshal(body, &resp); err != nil || status != http.StatusOK || len(resp.Errors) != 1 || resp.Errors[0].code() != "FORBIDDEN" {
			t.Fatalf("got %d %s", status, body)
		}
	})
}
