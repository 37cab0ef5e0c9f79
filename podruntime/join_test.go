package podruntime

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory/client"
	"github.com/byoda-go/byoda/internal/devnet/directories"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/test/testenv"
)

// otherSID is a second service of the join tests, with the demo's
// contract under its own id.
const otherSID = 4712

// joinWorld is a network whose directories run in process, as on a real
// network: the network directory (SQLite) with its DNS server, and the
// directories of the demo service and of otherSID.
type joinWorld struct {
	tp        *testPKI
	net       *directories.Network
	svc       map[uint32]*directories.Service
	contracts map[uint32][]byte // version 1, unsigned
}

func newJoinWorld(t *testing.T) *joinWorld {
	t.Helper()
	tp := newTestPKI(t)
	if err := tp.dir.CreateService(otherSID, time.Now()); err != nil {
		t.Fatal(err)
	}
	demo, err := os.ReadFile(demoFile)
	if err != nil {
		t.Fatal(err)
	}
	w := &joinWorld{tp: tp, svc: map[uint32]*directories.Service{}, contracts: map[uint32][]byte{
		demoSID:  demo,
		otherSID: bytes.Replace(demo, []byte(`"service_id": 4711`), []byte(`"service_id": 4712`), 1),
	}}
	ctx, cancel := context.WithCancel(context.Background())
	w.net, err = directories.StartNetwork(ctx, directories.NetworkOptions{
		PKI: tp.dir, DataDir: t.TempDir(), Listen: "127.0.0.1:0", DNSListen: "127.0.0.1:0",
		Address: netip.MustParseAddr("127.0.0.1"),
	})
	if err != nil {
		cancel()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		cancel()
		w.net.Wait()
		for _, s := range w.svc {
			s.Wait()
		}
	})
	for sid, raw := range w.contracts {
		s, err := directories.StartService(ctx, w.net.Directory, directories.ServiceOptions{
			PKI: tp.dir, ServiceID: sid, Contract: raw, DataDir: t.TempDir(), Listen: "127.0.0.1:0",
		})
		if err != nil {
			t.Fatal(err)
		}
		w.svc[sid] = s
	}
	return w
}

// podPKI returns the PKI directory of a pod outside any cluster: the
// network's name and root certificate, nothing else.
func (w *joinWorld) podPKI(t *testing.T) string {
	t.Helper()
	dir := filepath.Join(t.TempDir(), "pki")
	rel, _ := pki.RelPaths(pki.Subject{Kind: pki.KindRootCA, Network: testNetwork})
	root, err := os.ReadFile(filepath.Join(w.tp.dir.Path(), rel))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Dir(filepath.Join(dir, rel)), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, rel), root, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, pki.NetworkFile), pki.NetworkJSON(testNetwork), 0o644); err != nil {
		t.Fatal(err)
	}
	return dir
}

// config is a pod outside any cluster that registers a new account at the
// network directory and joins sids through their directories.
func (w *joinWorld) config(t *testing.T, sids ...uint32) Config {
	t.Helper()
	cfg := testConfig(t, w.tp)
	cfg.PKIDir = w.podPKI(t)
	cfg.AccountID = uuid.New()
	cfg.ContractFiles = nil
	for _, sid := range sids {
		cfg.Joins = append(cfg.Joins, w.svc[sid].URL)
	}
	cfg.Directory, cfg.DirectoryCA, cfg.DNSServer = w.net.URL, w.net.CertFile, w.net.DNS
	return cfg
}

// publish has the network countersign raw and the service directory
// publish it.
func (w *joinWorld) publish(t *testing.T, raw []byte) {
	t.Helper()
	var doc struct {
		ServiceID uint32 `json:"service_id"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	signed, err := w.net.SubmitContract(t.Context(), w.tp.dir, raw)
	if err != nil {
		t.Fatal(err)
	}
	if err := w.svc[doc.ServiceID].SetContract(signed); err != nil {
		t.Fatal(err)
	}
}

// lookup resolves name with the network directory's DNS server.
func (w *joinWorld) lookup(t *testing.T, name string) []string {
	t.Helper()
	r := &net.Resolver{PreferGo: true, Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, network, w.net.DNS)
	}}
	addrs, err := r.LookupHost(t.Context(), name)
	if err != nil {
		t.Fatalf("resolve %s with the directory's DNS: %v", name, err)
	}
	return addrs
}

// ownerClient logs in to sp's owner port for service sid.
type ownerClient struct {
	t     *testing.T
	sp    *servedPod
	token string
}

func login(t *testing.T, sp *servedPod, account uuid.UUID, sid uint32) *ownerClient {
	t.Helper()
	body := fmt.Sprintf(`{"username":%q,"password":%q,"service_id":%d}`, account, testPassword, sid)
	resp, err := sp.http.Post(sp.owner+"/api/v1/pod/authtoken", "application/json", strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var lr loginResponse
	if err := json.NewDecoder(resp.Body).Decode(&lr); err != nil || lr.AuthToken == "" {
		t.Fatalf("login for service %d: %d %v", sid, resp.StatusCode, err)
	}
	return &ownerClient{t: t, sp: sp, token: lr.AuthToken}
}

// post sends body to path with the owner's token and returns the status
// and the answer.
func (o *ownerClient) post(path, contentType string, body []byte) (int, []byte) {
	o.t.Helper()
	req, err := http.NewRequest(http.MethodPost, o.sp.owner+path, bytes.NewReader(body))
	if err != nil {
		o.t.Fatal(err)
	}
	req.Header.Set("Content-Type", contentType)
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := o.sp.http.Do(req)
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, data
}

// graphql runs query on service sid and returns the answer's data, failing
// on errors unless wantErr.
func (o *ownerClient) graphql(sid uint32, query string) (map[string]any, []any) {
	o.t.Helper()
	body, _ := json.Marshal(map[string]any{"query": query})
	status, data := o.post(peer.DataPath(sid), "application/json", body)
	var ans struct {
		Data   map[string]any `json:"data"`
		Errors []any          `json:"errors"`
	}
	if err := json.Unmarshal(data, &ans); err != nil {
		o.t.Fatalf("GraphQL answer %d: %s", status, data)
	}
	return ans.Data, ans.Errors
}

func (o *ownerClient) mustGraphQL(sid uint32, query string) map[string]any {
	o.t.Helper()
	d, errs := o.graphql(sid, query)
	if len(errs) > 0 {
		o.t.Fatalf("%s: %v", query, errs)
	}
	return d
}

// status returns the pod's status.
func (o *ownerClient) status() statusResponse {
	o.t.Helper()
	resp, err := o.sp.http.Get(o.sp.owner + "/api/v1/status")
	if err != nil {
		o.t.Fatal(err)
	}
	defer resp.Body.Close()
	var st statusResponse
	if err := json.NewDecoder(resp.Body).Decode(&st); err != nil {
		o.t.Fatal(err)
	}
	return st
}

func serviceOf(st statusResponse, sid uint32) *serviceStatus {
	for i := range st.Services {
		if st.Services[i].ServiceID == sid {
			return &st.Services[i]
		}
	}
	return nil
}

// TestJoinThroughDirectories: a pod whose PKI directory holds only the
// network's root registers its account at the network directory, joins
// the demo service through its directory with keys it makes itself,
// registers its names in the network's DNS and serves the service; a
// restart reuses all of it.
func TestJoinThroughDirectories(t *testing.T) {
	w := newJoinWorld(t)
	cfg := w.config(t, demoSID)
	sp := servePod(t, w.tp, cfg)
	pd, err := pki.OpenDir(cfg.PKIDir)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := pd.AccountKey(cfg.AccountID); err != nil {
		t.Fatalf("the account's key is not in the pod's PKI directory: %v", err)
	}
	if _, err := pd.AccountDataKey(cfg.AccountID); err != nil {
		t.Fatalf("the account's data key is not in the pod's PKI directory: %v", err)
	}
	m := sp.pod.membership(demoSID)
	if m == nil {
		t.Fatal("the pod did not join the demo service")
	}
	mid := m.memberID
	if _, err := pd.MemberKey(demoSID, mid); err != nil {
		t.Fatalf("the member's key is not in the pod's PKI directory: %v", err)
	}
	if _, err := pd.MemberDataKey(demoSID, mid); err != nil {
		t.Fatalf("the member-data key is not in the pod's PKI directory: %v", err)
	}
	for _, name := range []string{pki.MemberName(demoSID, mid, testNetwork), pki.AccountName(cfg.AccountID, testNetwork)} {
		if got := w.lookup(t, name); len(got) != 1 || got[0] != "127.0.0.1" {
			t.Errorf("DNS %s = %v; want [127.0.0.1]", name, got)
		}
	}
	// The service directory serves the member-data certificate it keeps.
	sc, err := client.New(w.svc[demoSID].URL, client.Options{Roots: sp.pod.verifier.Roots, Resolver: sp.pod.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	chain, err := sc.MemberDataCert(t.Context(), mid)
	if err != nil || chain[0].Subject.CommonName != pki.MemberDataName(demoSID, mid, testNetwork) {
		t.Fatalf("member-data certificate at the service directory: %v", err)
	}

	o := login(t, sp, cfg.AccountID, demoSID)
	o.mustGraphQL(demoSID, `mutation { mutate_person(given_name: "Joan", family_name: "Doe") }`)
	svc := serviceOf(o.status(), demoSID)
	if svc == nil || svc.ServiceURL != w.svc[demoSID].URL || len(svc.Conditions) != 1 ||
		svc.Conditions[0].Type != ConditionContractUpToDate || svc.Conditions[0].Status != "True" {
		t.Fatalf("status of the demo service: %+v", svc)
	}
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart joins nothing again: the same member, the same data.
	st, err := sc.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	sp = servePod(t, w.tp, cfg)
	if got := sp.pod.membership(demoSID).memberID; got != mid {
		t.Fatalf("member %s after a restart; it was %s", got, mid)
	}
	o = login(t, sp, cfg.AccountID, demoSID)
	d := o.mustGraphQL(demoSID, `{ person { given_name } }`)
	if got := fmt.Sprint(d["person"]); !strings.Contains(got, "Joan") {
		t.Fatalf("person after a restart: %s", got)
	}
	again, err := sc.Status(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	if again.Counts["members"] != st.Counts["members"] {
		t.Fatalf("the service directory has %d members after the restart; it had %d", again.Counts["members"], st.Counts["members"])
	}
}

// TestJoinWhileServing joins a second service through the owner API while
// requests of every kind run on both ports: the memberships, routes and
// server certificates grow under them (run with -race). The new service
// is served on both ports without a restart.
func TestJoinWhileServing(t *testing.T) {
	w := newJoinWorld(t)
	cfg := w.config(t, demoSID)
	sp := servePod(t, w.tp, cfg)
	o := login(t, sp, cfg.AccountID, demoSID)

	roots, _ := w.tp.dir.Roots()
	otherMember, err := w.tp.dir.CreateMember(otherSID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	peerClient := func(sid uint32, mid uuid.UUID, serverName string) *http.Client {
		kp, err := w.tp.dir.MemberKey(sid, mid)
		if err != nil {
			t.Fatal(err)
		}
		return &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{
			TLSClientConfig:   &tls.Config{RootCAs: roots, ServerName: serverName, Certificates: []tls.Certificate{kp.TLSCertificate()}},
			DisableKeepAlives: true,
		}}
	}
	demoPeer := peerClient(demoSID, w.tp.member, sp.pod.membership(demoSID).memberName)
	query := []byte(`{"query":"{ tags_connection { edges { node } } }"}`)

	ctx, cancel := context.WithCancel(t.Context())
	var (
		wg       sync.WaitGroup
		requests atomic.Int64
	)
	hammer := func(f func() error) {
		wg.Go(func() {
			for ctx.Err() == nil {
				if err := f(); err != nil && ctx.Err() == nil {
					t.Error(err)
					return
				}
				requests.Add(1)
			}
		})
	}
	hammer(func() error {
		resp, err := sp.http.Get(sp.owner + "/api/v1/status")
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		return nil
	})
	hammer(func() error {
		req, _ := http.NewRequest(http.MethodPost, sp.owner+peer.DataPath(demoSID), bytes.NewReader(query))
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+o.token)
		resp, err := sp.http.Do(req)
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("owner query: %d", resp.StatusCode)
		}
		return nil
	})
	hammer(func() error {
		resp, err := demoPeer.Post(sp.peer+peer.DataPath(demoSID), "application/json", bytes.NewReader(query))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("peer query: %d", resp.StatusCode)
		}
		return nil
	})
	hammer(func() error {
		// The new service's path: not found until it is joined.
		resp, err := sp.http.Post(sp.owner+peer.DataPath(otherSID), "application/json", bytes.NewReader(query))
		if err != nil {
			return err
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK && resp.StatusCode != http.StatusNotFound {
			return fmt.Errorf("anonymous query of service %d: %d", otherSID, resp.StatusCode)
		}
		return nil
	})
	waitFor(t, "requests running", func() bool { return requests.Load() > 20 })

	body := fmt.Sprintf(`{"service_url":%q}`, w.svc[otherSID].URL)
	status, answer := o.post("/api/v1/pod/join", "application/json", []byte(body))
	if status != http.StatusCreated {
		cancel()
		wg.Wait()
		t.Fatalf("join: %d %s", status, answer)
	}
	var jr joinResponse
	if err := json.Unmarshal(answer, &jr); err != nil || jr.ServiceID != otherSID || !jr.Joined || jr.ContractVersion != 1 {
		t.Fatalf("join answer: %s", answer)
	}
	before := requests.Load()
	waitFor(t, "requests after the join", func() bool { return requests.Load() > before+20 })
	cancel()
	wg.Wait()

	// The new service on the owner port, with a token of its own ...
	o2 := login(t, sp, cfg.AccountID, otherSID)
	o2.mustGraphQL(otherSID, `mutation { mutate_person(given_name: "Ann", family_name: "Lee") }`)
	// ... and on the peer port, with the new member's certificate.
	m := sp.pod.membership(otherSID)
	otherPeer := peerClient(otherSID, otherMember, m.memberName)
	resp, err := otherPeer.Post(sp.peer+peer.DataPath(otherSID), "application/json", bytes.NewReader(query))
	if err != nil {
		t.Fatal(err)
	}
	resp.Body.Close()
	if resp.StatusCode != http.StatusOK || resp.TLS.PeerCertificates[0].Subject.CommonName != m.memberName {
		t.Fatalf("peer port of service %d: %d, server certificate %s", otherSID, resp.StatusCode, resp.TLS.PeerCertificates[0].Subject.CommonName)
	}
	if got := w.lookup(t, m.memberName); len(got) != 1 || got[0] != "127.0.0.1" {
		t.Errorf("DNS %s = %v", m.memberName, got)
	}
	// Joining again answers 200 and changes nothing.
	status, answer = o.post("/api/v1/pod/join", "application/json", []byte(body))
	if status != http.StatusOK || !strings.Contains(string(answer), `"joined":false`) {
		t.Fatalf("join again: %d %s", status, answer)
	}
	// A restart serves both services from what the pod kept.
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}
	sp = servePod(t, w.tp, cfg)
	if ids := sp.pod.serviceIDs(); len(ids) != 2 || sp.pod.membership(otherSID).memberID != m.memberID {
		t.Fatalf("after a restart the pod serves %v", ids)
	}
}

// TestContractUpgrade: a version that only adds is taken up without a
// restart, data and open websockets included; one that removes a field is
// refused with one log line and a status condition, and the pod keeps
// serving the version before.
func TestContractUpgrade(t *testing.T) {
	w := newJoinWorld(t)
	cfg := w.config(t, demoSID)
	cfg.AutoUpgrade = true
	cfg.ContractPollInterval = 20 * time.Millisecond
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	sp := servePod(t, w.tp, cfg)
	o := login(t, sp, cfg.AccountID, demoSID)
	o.mustGraphQL(demoSID, `mutation { append_addresses(address_id: "`+uuid.NewString()+`", created_timestamp: "2024-01-02T03:04:05Z", city: "Delft", country: "NL") }`)
	const withFloor = `{ addresses_connection { edges { node { city floor } } } }`
	if _, errs := o.graphql(demoSID, withFloor); len(errs) == 0 {
		t.Fatal("version 1 serves a field it does not have")
	}
	// A websocket opened on version 1 ends with it.
	ws := sp.subscribe(t, o.token, false)

	v2 := testenv.ContractVersion(t, w.contracts[demoSID], 2, map[string]any{
		"/jsonschema/$defs/address/properties/floor": map[string]any{"type": "string"},
	})
	w.publish(t, v2)
	waitFor(t, "version 2 served", func() bool {
		s := serviceOf(o.status(), demoSID)
		return s.ContractVersion == 2 && s.Conditions[0].Reason == reasonUpgraded
	})
	o.mustGraphQL(demoSID, `mutation { append_addresses(address_id: "`+uuid.NewString()+`", created_timestamp: "2024-01-02T03:04:05Z", city: "Gouda", country: "NL", floor: "2") }`)
	d := o.mustGraphQL(demoSID, withFloor)
	got := fmt.Sprint(d["addresses_connection"])
	if !strings.Contains(got, "Delft") || !strings.Contains(got, "Gouda") || !strings.Contains(got, "floor:2") {
		t.Fatalf("addresses under version 2: %s", got)
	}
	wantClosed(t, ws)

	// Version 3 removes a field: refused, logged once, version 2 served.
	v3 := testenv.ContractVersion(t, v2, 3, map[string]any{"/jsonschema/properties/person/properties/birthday": nil})
	w.publish(t, v3)
	waitFor(t, "version 3 refused", func() bool {
		c := serviceOf(o.status(), demoSID).Conditions[0]
		return c.Status == "False" && c.Reason == reasonUpgradeRefused
	})
	time.Sleep(10 * cfg.ContractPollInterval) // more polls, no more log lines
	s := serviceOf(o.status(), demoSID)
	if s.ContractVersion != 2 || !strings.Contains(s.Conditions[0].Message, `field \"birthday\" of class \"person\" was removed`) &&
		!strings.Contains(s.Conditions[0].Message, `field "birthday" of class "person" was removed`) {
		t.Fatalf("status after version 3: %+v", s)
	}
	refusals := 0
	for _, r := range logs.records(t) {
		if r["msg"] == "Refused a contract upgrade that changes or removes" {
			refusals++
			if r["to"] != float64(3) || r["serving"] != float64(2) {
				t.Errorf("refusal logged as %v", r)
			}
		}
	}
	if refusals != 1 {
		t.Fatalf("the refusal was logged %d times; want once", refusals)
	}
	o.mustGraphQL(demoSID, withFloor)

	// A restart serves version 2, which the pod kept, with its data.
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}
	cfg.AutoUpgrade = false
	sp = servePod(t, w.tp, cfg)
	o = login(t, sp, cfg.AccountID, demoSID)
	if got := fmt.Sprint(o.mustGraphQL(demoSID, withFloor)); !strings.Contains(got, "floor:2") {
		t.Fatalf("after a restart: %s", got)
	}
}

// TestUpgradeWithoutAutoUpgrade: without --auto-upgrade a version that
// only adds is announced in the status, and taken up when the owner joins
// the service again.
func TestUpgradeWithoutAutoUpgrade(t *testing.T) {
	w := newJoinWorld(t)
	cfg := w.config(t, demoSID)
	cfg.ContractPollInterval = 20 * time.Millisecond
	sp := servePod(t, w.tp, cfg)
	o := login(t, sp, cfg.AccountID, demoSID)
	w.publish(t, testenv.ContractVersion(t, w.contracts[demoSID], 2, map[string]any{
		"/jsonschema/properties/person/properties/pronouns": map[string]any{"type": "string"},
	}))
	waitFor(t, "version 2 announced", func() bool {
		return serviceOf(o.status(), demoSID).Conditions[0].Reason == reasonUpgradeAvailable
	})
	if v := serviceOf(o.status(), demoSID).ContractVersion; v != 1 {
		t.Fatalf("version %d served without --auto-upgrade", v)
	}
	status, answer := o.post("/api/v1/pod/join", "application/json", fmt.Appendf(nil, `{"service_url":%q}`, w.svc[demoSID].URL))
	if status != http.StatusOK || !strings.Contains(string(answer), `"contract_version":2`) {
		t.Fatalf("join again: %d %s", status, answer)
	}
	o.mustGraphQL(demoSID, `mutation { mutate_person(given_name: "A", family_name: "B", pronouns: "they") }`)
}

// TestJoinRefusals: what the owner API refuses, and that a refused join
// leaves nothing behind.
func TestJoinRefusals(t *testing.T) {
	w := newJoinWorld(t)
	cfg := w.config(t, demoSID)
	sp := servePod(t, w.tp, cfg)
	o := login(t, sp, cfg.AccountID, demoSID)
	anon := &ownerClient{t: t, sp: sp}
	good := fmt.Sprintf(`{"service_url":%q}`, w.svc[otherSID].URL)
	for _, tc := range []struct {
		name        string
		o           *ownerClient
		contentType string
		body        string
		status      int
		want        string
	}{
		{"no token", anon, "application/json", good, http.StatusUnauthorized, "owner token"},
		{"bad token", &ownerClient{t: t, sp: sp, token: "x.y.z"}, "application/json", good, http.StatusUnauthorized, "malformed token"},
		{"text", o, "text/plain", good, http.StatusUnsupportedMediaType, "want application/json"},
		{"unknown field", o, "application/json", `{"service_url":"x","extra":1}`, http.StatusBadRequest, "unknown field"},
		{"no url", o, "application/json", `{}`, http.StatusBadRequest, "missing service_url"},
		{"two objects", o, "application/json", good + good, http.StatusBadRequest, "data after"},
		{"http", o, "application/json", `{"service_url":"http://service.service-4712.byoda.test"}`, http.StatusBadRequest, "want https://service.service-"},
		{"address", o, "application/json", `{"service_url":"https://127.0.0.1:443"}`, http.StatusBadRequest, "the service directory's name"},
		{"other network", o, "application/json", `{"service_url":"https://service.service-4712.byoda.net"}`, http.StatusBadRequest, "want https://"},
		{"member name", o, "application/json", `{"service_url":"https://` + pki.MemberName(otherSID, uuid.New(), testNetwork) + `"}`, http.StatusBadRequest, "want https://"},
		{"path", o, "application/json", `{"service_url":"https://service.service-4712.byoda.test/x"}`, http.StatusBadRequest, "want https://"},
		{"no such service", o, "application/json", `{"service_url":"https://service.service-4799.byoda.test:1"}`, http.StatusBadGateway, "service 4799"},
		{"too large", o, "application/json", `{"service_url":"` + strings.Repeat("a", maxJoinBodyBytes) + `"}`, http.StatusRequestEntityTooLarge, "too large"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			status, answer := tc.o.post("/api/v1/pod/join", tc.contentType, []byte(tc.body))
			if status != tc.status || !strings.Contains(string(answer), tc.want) {
				t.Fatalf("%d %s; want %d with %q", status, answer, tc.status, tc.want)
			}
		})
	}
	if sp.pod.membership(otherSID) != nil {
		t.Fatal("a refused join joined")
	}
	if ids, _ := memberIDs(sp.pod.dir, otherSID); len(ids) != 0 {
		t.Fatalf("a refused join left members %v", ids)
	}
	st, err := readJoined(cfg.DataDir)
	if err != nil || len(st.Services) != 1 {
		t.Fatalf("joined services after refusals: %+v %v", st, err)
	}

	// A pod without a network directory cannot join.
	t.Run("no directory", func(t *testing.T) {
		local := servePod(t, w.tp, testConfig(t, w.tp))
		lo := login(t, local, w.tp.account, demoSID)
		status, answer := lo.post("/api/v1/pod/join", "application/json", []byte(good))
		if status != http.StatusBadRequest || !strings.Contains(string(answer), "--directory") {
			t.Fatalf("%d %s", status, answer)
		}
	})
}

// TestJoinConfig: what New refuses about joining, before it changes
// anything.
func TestJoinConfig(t *testing.T) {
	w := newJoinWorld(t)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"nothing to join", func(c *Config) { c.Joins = nil }, "--contract or --join is required"},
		{"no directory", func(c *Config) { c.Directory = "" }, "--join needs --directory"},
		{"bad address", func(c *Config) { c.Address = "224.0.0.1" }, "--address"},
		{"bad join", func(c *Config) { c.Joins = []string{"https://example.com"} }, "--join: service URL"},
		{"directory not trusted", func(c *Config) { c.DirectoryCA = "" }, "register account"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := w.config(t, demoSID)
			tc.change(&cfg)
			_, err := New(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error with %q", err, tc.want)
			}
		})
	}
	t.Run("account taken", func(t *testing.T) {
		cfg := w.config(t, demoSID)
		p, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		p.closeStores()
		other := w.config(t, demoSID)
		other.AccountID = cfg.AccountID
		_, err = New(t.Context(), other)
		if err == nil || !strings.Contains(err.Error(), "has no key for it") {
			t.Fatalf("New with an account registered by another pod: %v", err)
		}
	})
}

func TestParseServiceURL(t *testing.T) {
	for _, tc := range []struct {
		in   string
		sid  uint32
		want string
	}{
		{"https://service.service-4711.byoda.test", 4711, "https://service.service-4711.byoda.test"},
		{"https://Service.Service-4711.Byoda.Test:8443/", 4711, "https://service.service-4711.byoda.test:8443"},
		{"https://service.service-0.byoda.test", 0, "https://service.service-0.byoda.test"},
		{"http://service.service-4711.byoda.test", 0, ""},
		{"https://service.service-4711.byoda.test?x=1", 0, ""},
		{"https://u@service.service-4711.byoda.test", 0, ""},
		{"https://service.service-4711.byoda.test/api", 0, ""},
		{"https://service-ca.service-ca-4711.byoda.test", 0, ""},
		{"https://[::1]:443", 0, ""},
		{"service.service-4711.byoda.test", 0, ""},
		{"", 0, ""},
	} {
		sid, got, err := ParseServiceURL(tc.in, testNetwork)
		if tc.want == "" {
			if err == nil {
				t.Errorf("ParseServiceURL(%q) = %d, %q; want an error", tc.in, sid, got)
			}
			continue
		}
		if err != nil || sid != tc.sid || got != tc.want {
			t.Errorf("ParseServiceURL(%q) = %d, %q, %v; want %d, %q", tc.in, sid, got, err, tc.sid, tc.want)
		}
	}
}

// TestSearchValuesPublished has a pod joined through the service directory
// publish its member's email (the demo contract gives the service the
// search right on it): a member finds it by the email, in any case as the
// contract says; a changed email replaces the old one.
func TestSearchValuesPublished(t *testing.T) {
	w := newJoinWorld(t)
	cfg := w.config(t, demoSID)
	cfg.ContractPollInterval = 20 * time.Millisecond
	sp := servePod(t, w.tp, cfg)
	m := sp.pod.membership(demoSID)
	sc, err := client.New(w.svc[demoSID].URL, client.Options{Roots: sp.pod.verifier.Roots, Certificate: &m.cert, Resolver: sp.pod.resolver()})
	if err != nil {
		t.Fatal(err)
	}
	defer sc.Close()
	finds := func(email string) bool {
		res, err := sc.Search(t.Context(), "person", "email", email)
		if err != nil {
			t.Fatalf("search %q: %v", email, err)
		}
		return slices.Contains(res.MemberIDs, m.memberID.String())
	}

	o := login(t, sp, cfg.AccountID, demoSID)
	o.mustGraphQL(demoSID, `mutation { mutate_person(given_name: "Joan", family_name: "Doe", email: "joan@example.com") }`)
	waitFor(t, "the email is searchable", func() bool { return finds("JOAN@example.com") })

	o.mustGraphQL(demoSID, `mutation { mutate_person(email: "jo@example.org") }`)
	waitFor(t, "the new email replaces the old", func() bool { return finds("jo@example.org") && !finds("joan@example.com") })
}
