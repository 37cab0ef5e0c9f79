package podruntime

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
	"github.com/gorilla/websocket"

	"github.com/byoda-go/byoda/internal/requestid"
)

func TestNewRefusesBadConfig(t *testing.T) {
	tp := newTestPKI(t)
	for _, tc := range []struct {
		name   string
		change func(*Config)
		want   string
	}{
		{"missing flags", func(c *Config) { *c = Config{} }, "--network is required"},
		{"other network", func(c *Config) { c.Network = "byoda.net" }, "is for network byoda.test"},
		{"unknown account", func(c *Config) { c.AccountID = uuid.New() }, "byoda pki account"},
		{"no KEK", func(c *Config) { c.KEKFile = filepath.Join(t.TempDir(), "kek") }, "no key-encryption key at"},
		{"bad KEK", func(c *Config) {
			c.KEKFile = filepath.Join(t.TempDir(), "kek")
			os.WriteFile(c.KEKFile, []byte("short\n"), 0o600)
		}, "want 32 bytes"},
		{"empty password", func(c *Config) {
			c.OwnerPasswordFile = filepath.Join(t.TempDir(), "pw")
			os.WriteFile(c.OwnerPasswordFile, []byte("\n"), 0o600)
		}, "is empty"},
		{"same service twice", func(c *Config) { c.ContractFiles = []string{demoFile, demoFile} }, "already joined"},
		{"no such contract", func(c *Config) { c.ContractFiles = []string{"nope.json"} }, "nope.json"},
		{"bad storage", func(c *Config) { c.StorageURL = "ftp://x" }, "--storage"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cfg := testConfig(t, tp)
			tc.change(&cfg)
			_, err := New(t.Context(), cfg)
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("New: %v; want an error mentioning %q", err, tc.want)
			}
		})
	}

	t.Run("several members", func(t *testing.T) {
		tp := newTestPKI(t)
		second, err := tp.dir.CreateMember(demoSID, time.Now())
		if err != nil {
			t.Fatal(err)
		}
		cfg := testConfig(t, tp)
		if _, err := New(t.Context(), cfg); err == nil || !strings.Contains(err.Error(), "--member 4711=") {
			t.Fatalf("New with two members: %v", err)
		}
		cfg.Members = map[uint32]uuid.UUID{demoSID: second}
		p, err := New(t.Context(), cfg)
		if err != nil {
			t.Fatal(err)
		}
		defer p.closeStores()
		if p.membership(demoSID).memberID != second {
			t.Fatalf("member %s, want %s", p.membership(demoSID).memberID, second)
		}
	})

	t.Run("no member", func(t *testing.T) {
		tp := newTestPKI(t)
		os.RemoveAll(filepath.Join(tp.dir.Path(), "service-4711", "member-"+tp.member.String()))
		_, err := New(t.Context(), testConfig(t, tp))
		if err == nil || !strings.Contains(err.Error(), "byoda pki member") {
			t.Fatalf("New without a member: %v", err)
		}
	})
}

// errorOf decodes an error body.
func errorOf(t *testing.T, body []byte) (string, string) {
	t.Helper()
	var b errorBody
	if err := json.Unmarshal(body, &b); err != nil || len(b.Errors) != 1 {
		t.Fatalf("not an error body: %s", body)
	}
	code, _ := b.Errors[0].Extensions["code"].(string)
	return code, b.Errors[0].Message
}

func TestRouteErrors(t *testing.T) {
	tp := newTestPKI(t)
	p, err := New(t.Context(), testConfig(t, tp))
	if err != nil {
		t.Fatal(err)
	}
	defer p.closeStores()
	for _, tc := range []struct {
		name   string
		h      handlerFunc
		status int
		code   string
		msg    string
	}{
		{"api error", func(http.ResponseWriter, *http.Request) error {
			return errorf(http.StatusTeapot, "TEAPOT", "short and stout")
		}, http.StatusTeapot, "TEAPOT", "short and stout"},
		{"other error", func(http.ResponseWriter, *http.Request) error {
			return errors.New("secret detail")
		}, http.StatusInternalServerError, codeInternal, "internal error"},
		{"panic", func(http.ResponseWriter, *http.Request) error {
			panic("boom")
		}, http.StatusInternalServerError, codeInternal, "internal error"},
		{"body too large", func(w http.ResponseWriter, r *http.Request) error {
			_, err := io.ReadAll(http.MaxBytesReader(w, r.Body, 4))
			return err
		}, http.StatusRequestEntityTooLarge, codeTooLarge, "at most 4 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			w := httptest.NewRecorder()
			h := requestid.Handler(p.route(portOwner, "test", "", tc.h))
			h.ServeHTTP(w, httptest.NewRequest(http.MethodPost, "/x", strings.NewReader("0123456789")))
			code, msg := errorOf(t, w.Body.Bytes())
			if w.Code != tc.status || code != tc.code || !strings.Contains(msg, tc.msg) || strings.Contains(msg, "secret") {
				t.Fatalf("got %d %s %q", w.Code, code, msg)
			}
			if ct := w.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("Content-Type %q", ct)
			}
			// A 500 names its request, which the log has the cause under.
			var b errorBody
			json.Unmarshal(w.Body.Bytes(), &b)
			id, _ := b.Errors[0].Extensions["request_id"].(string)
			if want := w.Header().Get(requestid.Header); tc.status == http.StatusInternalServerError && (id == "" || id != want || !strings.Contains(msg, id)) {
				t.Errorf("500 with request id %q in the body, %q in the header: %s", id, want, w.Body)
			} else if tc.status != http.StatusInternalServerError && id != "" {
				t.Errorf("a %d names its request id: %s", tc.status, w.Body)
			}
		})
	}
}

func TestServe(t *testing.T) {
	tp := newTestPKI(t)
	sp := servePod(t, tp, testConfig(t, tp))

	get := func(path string) (int, http.Header, []byte) {
		t.Helper()
		resp, err := sp.http.Get(sp.owner + path)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		return resp.StatusCode, resp.Header, body
	}
	status, _, body := get("/nope")
	if code, msg := errorOf(t, body); status != 404 || code != codeNotFound || !strings.Contains(msg, "/api/v1/data/service-4711") {
		t.Errorf("unknown path: %d %s", status, body)
	}
	status, h, body := get("/api/v1/pod/authtoken")
	if code, _ := errorOf(t, body); status != 405 || code != codeMethodNotAllowed || h.Get("Allow") != "POST" {
		t.Errorf("GET authtoken: %d %v %s", status, h, body)
	}
	if status, _, body = get("/api/v1/status"); status != 200 || !bytes.Contains(body, []byte(`"ok":true`)) {
		t.Errorf("status: %d %s", status, body)
	}
	if status, _, body = get("/metrics"); status != 200 || !bytes.Contains(body, []byte("go_goroutines")) {
		t.Errorf("metrics: %d", status)
	}

	// Log in and open a subscription: shutting down ends it and Serve
	// returns cleanly.
	resp, err := sp.http.Post(sp.owner+"/api/v1/pod/authtoken", "application/json",
		strings.NewReader(`{"username":"`+tp.account.String()+`","password":"`+testPassword+`","service_id":4711}`))
	if err != nil {
		t.Fatal(err)
	}
	var login loginResponse
	json.NewDecoder(resp.Body).Decode(&login)
	resp.Body.Close()
	if resp.StatusCode != 200 || login.AuthToken == "" || login.MemberID != tp.member.String() || login.ExpiresIn != 3600 {
		t.Fatalf("login: %d %+v", resp.StatusCode, login)
	}
	tc := sp.http.Transport.(*http.Transport).TLSClientConfig
	d := websocket.Dialer{TLSClientConfig: tc, Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := d.Dial(strings.Replace(sp.owner, "https", "wss", 1)+"/api/v1/data/service-4711", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + login.AuthToken}})
	var ack map[string]any
	if err := conn.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { addresses_counter }"}})
	var first map[string]any
	if err := conn.ReadJSON(&first); err != nil || first["type"] != "next" {
		t.Fatalf("first count: %v %v", first, err)
	}

	start := time.Now()
	if err := sp.stop(); err != nil {
		t.Fatalf("Serve: %v", err)
	}
	if d := time.Since(start); d > 5*time.Second {
		t.Errorf("shutdown took %s", d)
	}
	conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	for {
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			if ne, ok := err.(interface{ Timeout() bool }); ok && ne.Timeout() {
				t.Fatal("the websocket stayed open after shutdown")
			}
			break
		}
	}
	// The stores are closed.
	if _, err := sp.pod.membership(demoSID).store.Get(t.Context(), "person"); err == nil {
		// Reads answer from memory even after Close; writes must fail.
		if _, err := sp.pod.membership(demoSID).store.Append(t.Context(), "tags", "x"); err == nil {
			t.Error("the store still takes writes after shutdown")
		}
	}
}

func TestPeerPortTLS(t *testing.T) {
	tp := newTestPKI(t)
	sp := servePod(t, tp, testConfig(t, tp))
	roots, _ := tp.dir.Roots()
	other, err := tp.dir.CreateMember(demoSID, time.Now())
	if err != nil {
		t.Fatal(err)
	}
	kp, err := tp.dir.MemberKey(demoSID, other)
	if err != nil {
		t.Fatal(err)
	}
	memberName := tp.member.String() + ".members-4711." + testNetwork
	// The server presents the membership certificate the client asks
	// for, and the client's certificate makes it any_member.
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: &tls.Config{
		RootCAs: roots, ServerName: memberName, Certificates: []tls.Certificate{kp.TLSCertificate()},
	}}}
	resp, err := c.Post(sp.peer+"/api/v1/data/service-4711", "application/json", strings.NewReader(`{"query":"{ person { given_name } }"}`))
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.TLS.Version != tls.VersionTLS13 || resp.TLS.PeerCertificates[0].Subject.CommonName != memberName {
		t.Errorf("TLS %x, server %s", resp.TLS.Version, resp.TLS.PeerCertificates[0].Subject.CommonName)
	}
	if !bytes.Contains(body, []byte(`does not let any_member read`)) {
		t.Errorf("any_member reading person: %s", body)
	}
	// The owner port does not serve peers' paths differently: no
	// certificate is asked for there.
	if resp, err := sp.http.Get(sp.owner + "/api/v1/status"); err != nil || resp.TLS.PeerCertificates[0].Subject.CommonName != sp.pod.accountName {
		t.Errorf("owner port: %v", err)
	}
}

// TestInternalErrorNamesRequest makes the pod fail for real (the sessions
// file cannot be replaced when the owner logs out everywhere) and follows
// the 500's request id from the answer to the log line with the cause.
func TestInternalErrorNamesRequest(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	sp := servePod(t, tp, cfg)
	tok := sp.login(t, testPassword)
	state := filepath.Join(cfg.DataDir, SessionsFileName)
	if err := os.Remove(state); err != nil {
		t.Fatal(err)
	}
	if err := os.Mkdir(state, 0o700); err != nil {
		t.Fatal(err)
	}

	status, h, body := sp.do(t, http.MethodPost, "/api/v1/pod/logout-everywhere", tok, "")
	code, msg := errorOf(t, body)
	var b errorBody
	json.Unmarshal(body, &b)
	id, _ := b.Errors[0].Extensions["request_id"].(string)
	if status != http.StatusInternalServerError || code != codeInternal || id == "" || id != h.Get(requestid.Header) || !strings.Contains(msg, id) {
		t.Fatalf("500: %d %v %s", status, h, body)
	}
	if strings.Contains(msg, SessionsFileName) {
		t.Errorf("the answer gives the cause away: %s", msg)
	}
	var found bool
	for _, r := range logs.records(t) {
		if r[requestid.LogKey] == id {
			found = true
			if r["level"] != "ERROR" || !strings.Contains(fmt.Sprint(r["err"]), "owner sessions") {
				t.Errorf("log record of the request: %v", r)
			}
		}
	}
	if !found {
		t.Fatalf("no log record with request_id %s", id)
	}
	// The revocation that could not be kept was not made.
	sp.wantValid(t, tok)
}
