package podruntime

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/gorilla/websocket"
	dto "github.com/prometheus/client_model/go"
)

const (
	kindsSID  = 4712
	kindsFile = "graphql/testdata/kinds.json"
)

// filterCases are filters on the events of the kinds contract: every
// operator of every field type, and combinations.
var filterCases = []string{
	`{}`,
	// string
	`{title: {eq: "Amsterdam"}}`,
	`{title: {ne: "Amsterdam"}}`,
	`{title: {vin: ["Berlin", "Bonn", "nowhere"]}}`,
	`{title: {nin: ["Berlin", "Bonn"]}}`,
	`{title: {regex: "^A"}}`,
	`{title: {regex: "(?i)^am"}}`,
	`{title: {regex: "dam$"}}`,
	`{title: {glob: "[AB]*"}}`,
	`{title: {glob: "[!A]*"}}`,
	`{title: {glob: "\\*"}}`,
	`{title: {glob: "a\\*b"}}`,
	`{title: {glob: "*"}}`,
	`{title: {glob: "?"}}`,
	`{title: {glob: "\\[AB]"}}`,
	`{title: {glob: "?mlaut*"}}`,
	`{title: {glob: "A*", ne: "Antwerp"}}`,
	// an optional string: absent in some records
	`{note: {eq: "alpha"}}`,
	`{note: {ne: "alpha"}}`,
	`{note: {vin: ["alpha", "beta"]}}`,
	`{note: {nin: ["alpha"]}}`,
	`{note: {regex: "a"}}`,
	`{note: {glob: "*"}}`,
	// integer
	`{count: {eq: 2}}`,
	`{count: {ne: 2}}`,
	`{count: {gt: 2}}`,
	`{count: {lt: 2}}`,
	`{count: {egt: 3}}`,
	`{count: {elt: 0}}`,
	`{count: {gt: 0, lt: 5}}`,
	// number
	`{weight: {eq: 0.5}}`,
	`{weight: {eq: 3}}`,
	`{weight: {ne: 0.5}}`,
	`{weight: {gt: 1.5}}`,
	`{weight: {lt: 0}}`,
	`{weight: {egt: 2.25}}`,
	`{weight: {elt: 0.5}}`,
	`{weight: {egt: 0, lt: 3}}`,
	// uuid
	`{event_id: {eq: "0000000a-0000-4000-8000-00000000000b"}}`,
	`{event_id: {eq: "00000000-0000-4000-8000-000000000001"}}`,
	`{event_id: {ne: "00000000-0000-4000-8000-000000000001"}}`,
	// date-time
	`{at: {at: "2025-03-01T12:00:00Z"}}`,
	`{at: {nat: "2025-03-01T12:00:00Z"}}`,
	`{at: {after: "2025-03-01T12:00:00Z"}}`,
	`{at: {before: "2025-03-01T12:00:00Z"}}`,
	`{at: {atafter: "2025-03-01T13:00:00+01:00"}}`,
	`{at: {atbefore: "2025-03-01T12:00:00Z"}}`,
	`{at: {atafter: "2025-03-01T00:00:00Z", before: "2025-03-02T00:00:00Z"}}`,
	// boolean
	`{done: {eq: true}}`,
	`{done: {eq: false}}`,
	`{done: {ne: true}}`,
	`{done: {ne: false}}`,
	// several fields
	`{title: {glob: "[AB]*"}, count: {gt: 1}}`,
	`{done: {ne: true}, weight: {lt: 5}, at: {atbefore: "2025-03-03T00:00:00Z"}}`,
}

// filterEvents are the records the cases filter: values on both sides of
// every case, the same instant in two zones, and fields left out.
var filterEvents = []string{
	`event_id: "00000000-0000-4000-8000-000000000001", title: "Amsterdam", at: "2025-03-01T12:00:00Z", count: 1, weight: 0.5, done: true, note: "alpha"`,
	`event_id: "00000000-0000-4000-8000-000000000002", title: "Berlin", at: "2025-03-01T13:00:00+01:00", count: 2, weight: 1.5, done: false`,
	`event_id: "00000000-0000-4000-8000-000000000003", title: "Antwerp", at: "2025-03-02T00:00:00Z", count: 3`,
	`event_id: "00000000-0000-4000-8000-000000000004", title: "Utrecht", at: "2025-02-28T23:59:59.5Z", weight: 2.25, done: true`,
	`event_id: "00000000-0000-4000-8000-000000000005", title: "*", at: "2025-03-03T00:00:00Z", count: -4, weight: -1, done: false`,
	`event_id: "00000000-0000-4000-8000-000000000006", title: "a*b", at: "2025-03-01T11:59:59Z", count: 10, weight: 10`,
	`event_id: "00000000-0000-4000-8000-000000000007", title: "amsterdam", at: "2025-03-05T00:00:00Z", count: 2, weight: 0.5, note: "beta"`,
	`event_id: "00000000-0000-4000-8000-000000000008", title: "Bonn", at: "2025-03-01T12:00:00.000000001Z", count: 7, weight: 7.5, done: true`,
	`event_id: "00000000-0000-4000-8000-000000000009", title: "[AB]", at: "2025-01-01T00:00:00Z", count: 0, weight: 0, done: false, note: ""`,
	`event_id: "0000000A-0000-4000-8000-00000000000B", title: "?", at: "2025-03-01T12:00:00Z", count: 3, weight: 3.0`,
	`event_id: "00000000-0000-4000-8000-000000000012", title: "ümlaut Ärger", at: "2025-03-04T00:00:00Z", count: 2, weight: 2.5, done: true`,
}

// filterSteps change the events after they are appended: updates that move
// events into and out of the cases' filters, then deletes.
var filterSteps = []string{
	`mutation { update_events(filter: {title: {eq: "Berlin"}}, title: "Amsterdam", count: 5, weight: 0.25, done: true, at: "2025-03-04T00:00:00Z", note: "beta") }`,
	`mutation { update_events(filter: {count: {lt: 2}}, count: 2, note: "alpha") }`,
	`mutation { update_events(filter: {title: {glob: "[!A]*"}}, done: false, weight: 2.25) }`,
	`mutation { delete_from_events(filter: {title: {glob: "A*"}}) }`,
	`mutation { delete_from_events(filter: {done: {eq: false}, count: {egt: 3}}) }`,
}

// filterClient is the owner of a served pod of the kinds contract, over
// HTTPS and a websocket.
type filterClient struct {
	t     *testing.T
	sp    *servedPod
	token string
	path  string

	ws      *websocket.Conn
	wmu     sync.Mutex
	mu      sync.Mutex
	updates map[string][]string // subscription id -> event ids of its events, "action id"
	counts  map[string]int      // subscription id -> last count sent
}

func (fc *filterClient) post(query string) map[string]any {
	fc.t.Helper()
	body, _ := json.Marshal(map[string]string{"query": query})
	req, _ := http.NewRequest(http.MethodPost, fc.sp.owner+fc.path, bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	req.Header.Set("Authorization", "Bearer "+fc.token)
	resp, err := fc.sp.http.Do(req)
	if err != nil {
		fc.t.Fatal(err)
	}
	defer resp.Body.Close()
	raw, _ := io.ReadAll(resp.Body)
	var r struct {
		Data   map[string]any
		Errors []any
	}
	if err := json.Unmarshal(raw, &r); err != nil || resp.StatusCode != http.StatusOK || len(r.Errors) > 0 {
		fc.fatalf("%s: %d %s", query, resp.StatusCode, raw)
	}
	return r.Data
}

func (fc *filterClient) fatalf(format string, args ...any) {
	fc.t.Helper()
	fc.t.Fatalf(format, args...)
}

func (fc *filterClient) send(m map[string]any) {
	fc.wmu.Lock()
	defer fc.wmu.Unlock()
	if err := fc.ws.WriteJSON(m); err != nil {
		fc.t.Errorf("websocket: %v", err)
	}
}

// readLoop records what the subscriptions send, and answers pings.
func (fc *filterClient) readLoop() {
	for {
		var m struct {
			ID      string
			Type    string
			Payload struct {
				Data   map[string]any
				Errors []any
			}
		}
		if err := fc.ws.ReadJSON(&m); err != nil {
			return
		}
		switch m.Type {
		case "ping":
			fc.send(map[string]any{"type": "pong"})
			continue
		case "next":
		default:
			continue
		}
		fc.mu.Lock()
		if len(m.Payload.Errors) > 0 {
			fc.updates[m.ID] = append(fc.updates[m.ID], fmt.Sprint("error ", m.Payload.Errors))
		}
		if v, ok := m.Payload.Data["events_counter"].(float64); ok {
			fc.counts[m.ID] = int(v)
		}
		if ev, ok := m.Payload.Data["events_updates"].(map[string]any); ok {
			node, _ := ev["node"].(map[string]any)
			fc.updates[m.ID] = append(fc.updates[m.ID], fmt.Sprint(ev["action"], " ", node["event_id"]))
		}
		fc.mu.Unlock()
	}
}

// queryCase returns the event ids a case's query returns, sorted, and its
// total_count.
func (fc *filterClient) queryCase(filter string) ([]string, int) {
	fc.t.Helper()
	d := fc.post(`{ events_connection(first: 500, filter: ` + filter + `) { edges { node { event_id } } total_count } }`)
	conn := d["events_connection"].(map[string]any)
	var ids []string
	for _, e := range conn["edges"].([]any) {
		ids = append(ids, e.(map[string]any)["node"].(map[string]any)["event_id"].(string))
	}
	slices.Sort(ids)
	return ids, int(conn["total_count"].(float64))
}

// TestFiltersQueryAndSubscription runs every filter operator on every type
// of field as a query (events_connection), and as the subscriptions
// events_updates and events_counter, through the pod's owner port over the
// store: one filter engine, so the subscription sees exactly the appends
// of the records the query returns, and the counter follows the query's
// total_count through appends, updates that move records into and out of
// the filter, and deletes.
func TestFiltersQueryAndSubscription(t *testing.T) {
	tp := newTestPKI(t)
	now := time.Now()
	if err := tp.dir.CreateService(kindsSID, now); err != nil {
		t.Fatal(err)
	}
	if _, err := tp.dir.CreateMember(kindsSID, now); err != nil {
		t.Fatal(err)
	}
	cfg := testConfig(t, tp)
	cfg.ContractFiles = []string{kindsFile}
	sp := servePod(t, tp, cfg)
	password, err := os.ReadFile(cfg.OwnerPasswordFile)
	if err != nil {
		t.Fatal(err)
	}
	login, _ := json.Marshal(map[string]any{"username": tp.account.String(), "password": strings.TrimRight(string(password), "\r\n"), "service_id": kindsSID})
	resp, err := sp.http.Post(sp.owner+"/api/v1/pod/authtoken", "application/json", bytes.NewReader(login))
	if err != nil {
		t.Fatal(err)
	}
	var lr struct {
		AuthToken string `json:"auth_token"`
	}
	_ = json.NewDecoder(resp.Body).Decode(&lr)
	resp.Body.Close()
	if lr.AuthToken == "" {
		t.Fatalf("login: %d", resp.StatusCode)
	}
	fc := &filterClient{t: t, sp: sp, token: lr.AuthToken, path: fmt.Sprintf("/api/v1/data/service-%d", kindsSID),
		updates: map[string][]string{}, counts: map[string]int{}}

	d := websocket.Dialer{TLSClientConfig: sp.http.Transport.(*http.Transport).TLSClientConfig, Subprotocols: []string{"graphql-transport-ws"}}
	fc.ws, _, err = d.Dial(strings.Replace(sp.owner, "https", "wss", 1)+fc.path, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer fc.ws.Close()
	fc.send(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + fc.token}})
	var ack map[string]any
	if err := fc.ws.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	go fc.readLoop()
	for i, f := range filterCases {
		fc.send(map[string]any{"id": fmt.Sprint("u", i), "type": "subscribe", "payload": map[string]any{
			"query": `subscription { events_updates(filter: ` + f + `) { action node { event_id } } }`}})
		fc.send(map[string]any{"id": fmt.Sprint("c", i), "type": "subscribe", "payload": map[string]any{
			"query": `subscription { events_counter(filter: ` + f + `) }`}})
	}
	// Each subscription watches the store once it has started.
	watches := sp.pod.metrics.dataOps.WithLabelValues(sidLabel(kindsSID), "events", "watch", "ok")
	waitFor(t, "every subscription watching", func() bool {
		var m dto.Metric
		_ = watches.Write(&m)
		return int(m.GetCounter().GetValue()) == 2*len(filterCases)
	})

	var appends strings.Builder
	appends.WriteString("mutation {")
	for i, e := range filterEvents {
		fmt.Fprintf(&appends, " a%d: append_events(%s)", i, e)
	}
	appends.WriteString(" }")
	fc.post(appends.String())

	// The appends: each subscription's events are the records its query
	// returns, and each counter is the total count.
	for i, f := range filterCases {
		ids, total := fc.queryCase(f)
		var want []string
		for _, id := range ids {
			want = append(want, "append "+id)
		}
		waitFor(t, "events of "+f, func() bool {
			fc.mu.Lock()
			defer fc.mu.Unlock()
			got := slices.Sorted(slices.Values(fc.updates[fmt.Sprint("u", i)]))
			c, ok := fc.counts[fmt.Sprint("c", i)]
			return slices.Equal(got, want) && ok && c == total
		}, func() string {
			fc.mu.Lock()
			defer fc.mu.Unlock()
			return fmt.Sprintf("query returns %d: %q\nsubscription sent %q, counter %d", total, ids, fc.updates[fmt.Sprint("u", i)], fc.counts[fmt.Sprint("c", i)])
		})
	}

	// Updates and deletes: the counters follow the query.
	for _, step := range filterSteps {
		fc.post(step)
		for i, f := range filterCases {
			_, total := fc.queryCase(f)
			waitFor(t, "count of "+f+" after "+step, func() bool {
				fc.mu.Lock()
				defer fc.mu.Unlock()
				return fc.counts[fmt.Sprint("c", i)] == total
			}, func() string {
				fc.mu.Lock()
				defer fc.mu.Unlock()
				return fmt.Sprintf("total_count %d, counter %d", total, fc.counts[fmt.Sprint("c", i)])
			})
		}
	}
}

// waitFor polls cond for up to 10 s (a hang guard), and fails with what
// explain says.
func waitFor(t *testing.T, what string, cond func() bool, explain ...func() string) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			msg := ""
			for _, e := range explain {
				msg = e()
			}
			t.Fatalf("%s: not reached within 10 s\n%s", what, msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
}
