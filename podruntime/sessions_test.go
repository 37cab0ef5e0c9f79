package podruntime

import (
	"encoding/json"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gorilla/websocket"
)

// login logs the owner of sp in for the demo service and returns the
// token.
func (sp *servedPod) login(t *testing.T, password string) string {
	t.Helper()
	resp, err := sp.http.Post(sp.owner+"/api/v1/pod/authtoken", "application/json",
		strings.NewReader(`{"username":"`+sp.pod.cfg.AccountID.String()+`","password":"`+password+`","service_id":4711}`))
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	var login loginResponse
	if err := json.NewDecoder(resp.Body).Decode(&login); err != nil || resp.StatusCode != http.StatusOK || login.AuthToken == "" {
		t.Fatalf("login: %d %v %+v", resp.StatusCode, err, login)
	}
	return login.AuthToken
}

// do sends a request to the owner port with token (when not empty) and
// returns the status and body.
func (sp *servedPod) do(t *testing.T, method, path, token, body string) (int, http.Header, []byte) {
	t.Helper()
	req, err := http.NewRequestWithContext(t.Context(), method, sp.owner+path, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Content-Type", "application/json")
	if token != "" {
		req.Header.Set("Authorization", "Bearer "+token)
	}
	resp, err := sp.http.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer resp.Body.Close()
	data, _ := io.ReadAll(resp.Body)
	return resp.StatusCode, resp.Header, data
}

// personQuery reads the owner-only person object.
const personQuery = `{"query":"{ person { given_name } }"}`

// wantRevoked fails unless token is refused with 401 as revoked.
func (sp *servedPod) wantRevoked(t *testing.T, token string) {
	t.Helper()
	status, _, body := sp.do(t, http.MethodPost, "/api/v1/data/service-4711", token, personQuery)
	if code, msg := errorOf(t, body); status != http.StatusUnauthorized || code != codeUnauthenticated || !strings.Contains(msg, "token revoked: log in again") {
		t.Fatalf("a revoked token: %d %s", status, body)
	}
}

// wantValid fails unless token reads the owner's data.
func (sp *servedPod) wantValid(t *testing.T, token string) {
	t.Helper()
	if status, _, body := sp.do(t, http.MethodPost, "/api/v1/data/service-4711", token, personQuery); status != http.StatusOK || strings.Contains(string(body), `"errors"`) {
		t.Fatalf("a valid token: %d %s", status, body)
	}
}

// subscribe opens a websocket on the owner port with token, in the
// connection_init payload or in the upgrade request's header, subscribes
// to the counter of addresses and reads its first event.
func (sp *servedPod) subscribe(t *testing.T, token string, inHeader bool) *websocket.Conn {
	t.Helper()
	d := websocket.Dialer{TLSClientConfig: sp.http.Transport.(*http.Transport).TLSClientConfig, Subprotocols: []string{"graphql-transport-ws"}}
	var header http.Header
	payload := map[string]any{}
	if inHeader {
		header = http.Header{"Authorization": {"Bearer " + token}}
	} else {
		payload["Authorization"] = "Bearer " + token
	}
	conn, _, err := d.Dial(strings.Replace(sp.owner, "https", "wss", 1)+"/api/v1/data/service-4711", header)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": payload})
	var ack map[string]any
	if err := conn.ReadJSON(&ack); err != nil || ack["type"] != "connection_ack" {
		t.Fatalf("ack: %v %v", ack, err)
	}
	conn.WriteJSON(map[string]any{"id": "1", "type": "subscribe", "payload": map[string]any{"query": "subscription { addresses_counter }"}})
	for {
		var m map[string]any
		if err := conn.ReadJSON(&m); err != nil {
			t.Fatalf("first count: %v", err)
		}
		if m["type"] == "next" {
			return conn
		}
		if m["type"] == "ping" {
			conn.WriteJSON(map[string]any{"type": "pong"})
		} else if m["type"] != "pong" {
			t.Fatalf("first count: %v", m)
		}
	}
}

// wantClosed fails unless the server closes conn within a generous
// bound (a hang, not a speed, is what the bound catches). It answers the
// server's pings, as a live client does, so that only the server's
// decision can end the socket.
func wantClosed(t *testing.T, conn *websocket.Conn) {
	t.Helper()
	conn.SetReadDeadline(time.Now().Add(30 * time.Second))
	for {
		var m map[string]any
		err := conn.ReadJSON(&m)
		if err == nil {
			switch m["type"] {
			case "ping":
				conn.WriteJSON(map[string]any{"type": "pong"})
				continue
			case "next", "pong", "complete":
				continue
			}
			t.Fatalf("unexpected message %v", m)
		}
		var ne net.Error
		if errors.As(err, &ne) && ne.Timeout() {
			t.Fatal("the websocket stayed open")
		}
		return
	}
}

func TestTokensRevokedWhenPasswordChanges(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	sp := servePod(t, tp, cfg)
	tok := sp.login(t, testPassword)
	sp.wantValid(t, tok)
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart with the same password keeps the owner's tokens.
	sp = servePod(t, tp, cfg)
	sp.wantValid(t, tok)
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}

	// A restart with a new password revokes them, and goes on doing so
	// on the next restart.
	const newPassword = "a new and longer password"
	if err := os.WriteFile(cfg.OwnerPasswordFile, []byte(newPassword+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	sp = servePod(t, tp, cfg)
	sp.wantRevoked(t, tok)
	fresh := sp.login(t, newPassword)
	sp.wantValid(t, fresh)
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}
	sp = servePod(t, tp, cfg)
	sp.wantRevoked(t, tok)
	sp.wantValid(t, fresh)

	// The state file holds no password, only a fingerprint keyed by the
	// account key.
	state, err := os.ReadFile(filepath.Join(cfg.DataDir, SessionsFileName))
	if err != nil {
		t.Fatal(err)
	}
	if strings.Contains(string(state), newPassword) || !strings.Contains(string(state), revokedPasswordChanged) {
		t.Errorf("sessions file: %s", state)
	}
}

func TestLogoutEverywhere(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	sp := servePod(t, tp, cfg)
	first, second := sp.login(t, testPassword), sp.login(t, testPassword)
	byPayload := sp.subscribe(t, second, false)
	byHeader := sp.subscribe(t, second, true)

	// It takes an owner token.
	if status, _, body := sp.do(t, http.MethodPost, "/api/v1/pod/logout-everywhere", "", ""); status != http.StatusUnauthorized {
		t.Fatalf("without a token: %d %s", status, body)
	}
	if status, _, body := sp.do(t, http.MethodPost, "/api/v1/pod/logout-everywhere", first+"x", ""); status != http.StatusUnauthorized {
		t.Fatalf("with a forged token: %d %s", status, body)
	}
	if status, h, _ := sp.do(t, http.MethodGet, "/api/v1/pod/logout-everywhere", first, ""); status != http.StatusMethodNotAllowed || h.Get("Allow") != "POST" {
		t.Fatalf("GET: %d", status)
	}
	sp.wantValid(t, first)

	status, _, body := sp.do(t, http.MethodPost, "/api/v1/pod/logout-everywhere", first, "")
	var out logoutResponse
	if err := json.Unmarshal(body, &out); status != http.StatusOK || err != nil || !out.Revoked {
		t.Fatalf("log out everywhere: %d %s", status, body)
	}
	sp.wantRevoked(t, first)
	sp.wantRevoked(t, second)
	wantClosed(t, byPayload)
	wantClosed(t, byHeader)
	if n := closedFor(t, &logs, "token revoked"); n != 2 {
		t.Errorf("%d websockets closed for a revoked token, want 2", n)
	}
	if status, _, body := sp.do(t, http.MethodPost, "/api/v1/pod/logout-everywhere", first, ""); status != http.StatusUnauthorized {
		t.Fatalf("log out everywhere with a revoked token: %d %s", status, body)
	}
	// A websocket cannot be opened with a revoked token either.
	d := websocket.Dialer{TLSClientConfig: sp.http.Transport.(*http.Transport).TLSClientConfig, Subprotocols: []string{"graphql-transport-ws"}}
	conn, _, err := d.Dial(strings.Replace(sp.owner, "https", "wss", 1)+"/api/v1/data/service-4711", nil)
	if err != nil {
		t.Fatal(err)
	}
	conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	conn.WriteJSON(map[string]any{"type": "connection_init", "payload": map[string]any{"Authorization": "Bearer " + second}})
	var ack map[string]any
	if err := conn.ReadJSON(&ack); err == nil && ack["type"] == "connection_ack" {
		t.Fatal("a websocket opened with a revoked token")
	}
	conn.Close()

	fresh := sp.login(t, testPassword)
	sp.wantValid(t, fresh)

	// The revocation survives a restart; the token issued after it does
	// too.
	if err := sp.stop(); err != nil {
		t.Fatal(err)
	}
	sp = servePod(t, tp, cfg)
	sp.wantRevoked(t, first)
	sp.wantValid(t, fresh)
}

func TestWebsocketEndsWhenTokenExpires(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	var logs syncBuffer
	cfg.Logger = slog.New(slog.NewJSONHandler(&logs, nil))
	// JWT times are whole seconds: the tokens expire within two.
	cfg.TokenTTL = 2 * time.Second
	sp := servePod(t, tp, cfg)
	for _, inHeader := range []bool{false, true} {
		conn := sp.subscribe(t, sp.login(t, testPassword), inHeader)
		wantClosed(t, conn)
	}
	if n := closedFor(t, &logs, "token expired"); n != 2 {
		t.Errorf("%d websockets closed for an expired token, want 2", n)
	}
}

// closedFor counts the owner websockets the log says were closed for
// reason.
func closedFor(t *testing.T, logs *syncBuffer, reason string) int {
	t.Helper()
	// The log record follows the close.
	deadline := time.Now().Add(10 * time.Second)
	for {
		n := 0
		for _, r := range logs.records(t) {
			if r["msg"] == "Closed an owner websocket" && r["reason"] == reason {
				n++
			}
		}
		if n >= 2 || time.Now().After(deadline) {
			return n
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestSessionsFile(t *testing.T) {
	dir := t.TempDir()
	file := filepath.Join(dir, SessionsFileName)
	now := func() time.Time { return time.Unix(1_900_000_000, 0) }
	s, reason, err := openSessions(file, "fp1", now)
	if err != nil || reason != revokedNewDataDir {
		t.Fatalf("new: %v %q", err, reason)
	}
	gen, revoked := s.current()
	if gen == "" {
		t.Fatal("no generation")
	}
	if fi, err := os.Stat(file); err != nil || fi.Mode().Perm() != 0o600 {
		t.Fatalf("sessions file: %v %v", fi.Mode(), err)
	}
	// Reopened with the same fingerprint: the same generation.
	if s2, reason, err := openSessions(file, "fp1", now); err != nil || reason != "" {
		t.Fatalf("reopen: %v %q", err, reason)
	} else if g, _ := s2.current(); g != gen {
		t.Fatalf("reopen: generation %q, want %q", g, gen)
	}
	// Renewing closes the channel and changes the generation.
	if err := s.renew(revokedLogoutEverywhere); err != nil {
		t.Fatal(err)
	}
	select {
	case <-revoked:
	default:
		t.Fatal("renew did not signal the revocation")
	}
	if g, _ := s.current(); g == gen {
		t.Fatal("renew kept the generation")
	}
	// Another fingerprint is a new generation; so is an unreadable file,
	// and a file that cannot be replaced is an error.
	if _, reason, err := openSessions(file, "fp2", now); err != nil || reason != revokedPasswordChanged {
		t.Fatalf("other fingerprint: %v %q", err, reason)
	}
	os.WriteFile(file, []byte("{not json"), 0o600)
	if _, reason, err := openSessions(file, "fp2", now); err != nil || reason != revokedUnreadable {
		t.Fatalf("unreadable: %v %q", err, reason)
	}
	os.Remove(file)
	os.Mkdir(file, 0o700)
	if _, _, err := openSessions(file, "fp2", now); err == nil {
		t.Fatal("a directory in place of the sessions file was accepted")
	}
}
