package p2p_test

import (
	"bytes"
	"context"
	"crypto/ecdsa"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/netip"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/podruntime/recursion"
)

// fakePeer is a member's pod played by the test: a TLS 1.3 server with the
// member's certificate on its own loopback address and the network's peer
// port, registered in DNS. It serves the member's data certificate, as a
// pod does, and answers GraphQL requests with answer (a fault to inject).
// With its member-data key it also signs queries it forwards to pods.
type fakePeer struct {
	name    string
	sid     uint32
	mid     uuid.UUID
	addr    netip.Addr
	tlsCert tls.Certificate
	dataKey *ecdsa.PrivateKey
	// asked receives a value for each GraphQL request, when there is room.
	asked    chan struct{}
	requests atomic.Int32
	answer   func(w http.ResponseWriter, r *http.Request)
	// stop ends the requests in flight; close shuts the server down.
	stop  chan struct{}
	close func()
}

// startFakePeer creates a member of sid in the PKI and serves as its pod.
func startFakePeer(t testing.TB, name string, sid uint32, answer func(w http.ResponseWriter, r *http.Request)) *fakePeer {
	t.Helper()
	dir := openPKI(t)
	mid, err := dir.CreateMember(sid, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := dir.MemberKey(sid, mid)
	if err != nil {
		t.Fatal(err)
	}
	data, err := dir.MemberDataKey(sid, mid)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	f := &fakePeer{name: name, sid: sid, mid: mid, tlsCert: kp.TLSCertificate(), dataKey: data.Key.(*ecdsa.PrivateKey),
		asked: make(chan struct{}, 64), answer: answer, stop: make(chan struct{})}
	chain := pki.EncodeCertificates(data.Chain...)
	mux := http.NewServeMux()
	mux.HandleFunc("GET "+peer.DataCertPath(sid), func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/x-pem-file")
		w.Write(chain)
	})
	mux.HandleFunc("POST "+peer.DataPath(sid), func(w http.ResponseWriter, r *http.Request) {
		f.requests.Add(1)
		select {
		case f.asked <- struct{}{}:
		default:
		}
		if f.answer == nil {
			http.Error(w, "this member answers no queries", http.StatusNotFound)
			return
		}
		f.answer(w, r)
	})
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		TLSConfig: &tls.Config{
			MinVersion:   tls.VersionTLS13,
			Certificates: []tls.Certificate{f.tlsCert},
			ClientAuth:   tls.RequireAndVerifyClientCert,
			ClientCAs:    roots,
			NextProtos:   []string{"http/1.1"},
		},
		BaseContext: func(net.Listener) context.Context { return stopContext(f.stop) },
	}
	var l net.Listener
	for range 5 {
		f.addr = addrs.take()
		if l, err = net.Listen("tcp", netip.AddrPortFrom(f.addr, uint16(peerPort)).String()); err == nil {
			break
		}
	}
	if err != nil {
		t.Fatal(err)
	}
	go srv.Serve(tls.NewListener(l, srv.TLSConfig))
	var once sync.Once
	f.close = func() {
		once.Do(func() {
			close(f.stop)
			srv.Close()
		})
	}
	t.Cleanup(f.close)
	register(t, pki.MemberName(sid, mid, network), f.addr)
	return f
}

// stopContext is a context that ends when stop is closed.
func stopContext(stop <-chan struct{}) context.Context {
	ctx, cancel := context.WithCancel(context.Background())
	go func() {
		<-stop
		cancel()
	}()
	return ctx
}

// waitAsked waits until the peer was asked, at most timeout.
func (f *fakePeer) waitAsked(t testing.TB, timeout time.Duration) {
	t.Helper()
	select {
	case <-f.asked:
	case <-time.After(timeout):
		t.Fatalf("%s was not asked within %s", f.name, timeout)
	}
}

// The faults a fake peer can answer with.

// hang accepts the request and never answers.
func hang(w http.ResponseWriter, r *http.Request) {
	io.Copy(io.Discard, r.Body)
	<-r.Context().Done()
}

// huge answers with a well-formed start and then records without end.
func huge(origin uuid.UUID) func(w http.ResponseWriter, r *http.Request) {
	edge := []byte(fmt.Sprintf(`{"cursor":"AQ","origin":%q,"node":{"city":%q}},`, origin, strings.Repeat("x", 1000)))
	return func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		io.WriteString(w, `{"data":{"addresses_connection":{"edges":[`)
		for r.Context().Err() == nil {
			if _, err := w.Write(edge); err != nil {
				return
			}
		}
	}
}

// garbage answers with bytes that are not JSON.
func garbage(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	w.Write([]byte("\x00\xffthis is not a GraphQL answer{{{"))
}

// drip answers one byte at a time, slower than any deadline.
func drip(w http.ResponseWriter, r *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	rc := http.NewResponseController(w)
	for _, b := range []byte(`{"data":{"addresses_connection":{"edges":[` + strings.Repeat(" ", 1<<20)) {
		if _, err := w.Write([]byte{b}); err != nil || rc.Flush() != nil {
			return
		}
		select {
		case <-r.Context().Done():
			return
		case <-time.After(200 * time.Millisecond):
		}
	}
}

// badShape answers a GraphQL response whose edge has no member id for an
// origin.
func badShape(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	io.WriteString(w, `{"data":{"addresses_connection":{"edges":[{"cursor":"AQ","origin":"not a member","node":{"city":"Nowhere"}}],"page_info":{"has_next_page":false}}}}`)
}

// tooManyEdges answers more edges than any page may hold (graphql.MaxFirst
// is 500), from ever so many origins.
func tooManyEdges(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	var b bytes.Buffer
	b.WriteString(`{"data":{"addresses_connection":{"edges":[`)
	for i := range 2000 {
		if i > 0 {
			b.WriteByte(',')
		}
		fmt.Fprintf(&b, `{"cursor":"AQ","origin":%q,"node":{"city":"C"}}`, uuid.New())
	}
	b.WriteString(`],"page_info":{"has_next_page":false}}}}`)
	w.Write(b.Bytes())
}

// impostor answers a query at depth 0 with a record it passes off as
// member other's.
func impostor(other uuid.UUID) func(w http.ResponseWriter, r *http.Request) {
	return func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		fmt.Fprintf(w, `{"data":{"addresses_connection":{"edges":[{"cursor":"AQ","origin":%q,"node":{"address_id":%q,"city":"Fake"}}],"page_info":{"has_next_page":false}}}}`,
			other, uuid.New())
	}
}

// peerClient is an HTTP client that presents f's member certificate to
// pod p's peer port, as the pod of member f would.
func (f *fakePeer) peerClient(t testing.TB, p *testPod) *http.Client {
	t.Helper()
	roots, err := openPKI(t).Roots()
	if err != nil {
		t.Fatal(err)
	}
	c := &http.Client{
		Timeout: 60 * time.Second,
		Transport: &http.Transport{
			DialContext: dialAddr(netip.AddrPortFrom(p.addr, uint16(peerPort)).String()),
			TLSClientConfig: &tls.Config{
				MinVersion:   tls.VersionTLS13,
				RootCAs:      roots,
				ServerName:   pki.MemberName(f.sid, p.mid(f.sid), network),
				Certificates: []tls.Certificate{f.tlsCert},
			},
		},
	}
	t.Cleanup(c.CloseIdleConnections)
	return c
}

// send sends a GraphQL request with extensions to pod p's peer port, as
// member f.
func (f *fakePeer) send(t testing.TB, p *testPod, query string, ext map[string]any) *gqlResp {
	t.Helper()
	body, err := json.Marshal(peer.Request{Query: query, Extensions: ext})
	if err != nil {
		t.Fatal(err)
	}
	return f.sendRaw(t, p, body)
}

// sendRaw sends a request body to pod p's peer port, as member f.
func (f *fakePeer) sendRaw(t testing.TB, p *testPod, body []byte) *gqlResp {
	t.Helper()
	req, err := http.NewRequest(http.MethodPost, "https://"+pki.MemberName(f.sid, p.mid(f.sid), network)+peer.DataPath(f.sid), bytes.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := f.peerClient(t, p).Do(req)
	if err != nil {
		t.Fatalf("%s to %s: %v", f.name, p.name, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		t.Fatal(err)
	}
	return parseResp(t, resp.StatusCode, data)
}

// forwarded is a connection query as a pod forwards it: what its origin
// signs, and where on its way it is.
type forwarded struct {
	class     string
	filter    *condition
	fields    []string
	first     int
	after     string
	depth     int // the origin's depth
	hops      int
	relations []string
	remote    string
	queryID   string
}

type condition struct{ field, op, value string }

// graphQL is the query's GraphQL text, with the depth left at this hop.
func (q forwarded) graphQL() string {
	var b strings.Builder
	fmt.Fprintf(&b, "{ %s_connection(", q.class)
	if q.filter != nil {
		fmt.Fprintf(&b, "filter: {%s: {%s: %q}}, ", q.filter.field, q.filter.op, q.filter.value)
	}
	depth := q.depth - q.hops
	if q.remote != "" {
		depth = 0
	}
	fmt.Fprintf(&b, "first: %d, depth: %d", q.first, depth)
	if q.after != "" {
		fmt.Fprintf(&b, ", after: %q", q.after)
	}
	if q.relations != nil {
		quoted := make([]string, len(q.relations))
		for i, r := range q.relations {
			quoted[i] = fmt.Sprintf("%q", r)
		}
		fmt.Fprintf(&b, ", relations: [%s]", strings.Join(quoted, ", "))
	}
	if q.remote != "" {
		fmt.Fprintf(&b, ", remote_member_id: %q", q.remote)
	}
	if q.queryID != "" {
		fmt.Fprintf(&b, ", query_id: %q", q.queryID)
	}
	fmt.Fprintf(&b, ") { edges { cursor origin node { %s } } page_info { end_cursor has_next_page } } }", strings.Join(q.fields, " "))
	return b.String()
}

// request is what the origin signs for the query.
func (q forwarded) request(sid uint32, origin uuid.UUID, ts time.Time) *recursion.Request {
	r := &recursion.Request{
		ServiceID:      sid,
		Class:          q.class,
		Fields:         append([]string(nil), q.fields...),
		First:          q.first,
		After:          q.after,
		Depth:          q.depth,
		Relations:      append([]string(nil), q.relations...),
		RemoteMemberID: q.remote,
		QueryID:        q.queryID,
		Origin:         origin.String(),
		Timestamp:      ts,
	}
	if q.filter != nil {
		r.Filter = []recursion.Condition{{Field: q.filter.field, Op: q.filter.op, Value: q.filter.value}}
	}
	r.Normalize()
	return r
}

// sign signs r with f's member-data key and returns the envelope for a
// query at hop hops.
func (f *fakePeer) sign(t testing.TB, r *recursion.Request, hops int) recursion.Envelope {
	t.Helper()
	sig, err := r.Sign(f.dataKey)
	if err != nil {
		t.Fatal(err)
	}
	origin, _ := uuid.Parse(r.Origin)
	return recursion.Envelope{Origin: origin.String(), Timestamp: r.Timestamp, Depth: r.Depth, Hops: hops, Signature: sig}
}

// ext is the request extensions that carry env.
func ext(env any) map[string]any { return map[string]any{recursion.ExtensionKey: env} }
