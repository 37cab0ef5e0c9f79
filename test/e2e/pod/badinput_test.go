package pod_test

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/rand"
	"encoding/json"
	"fmt"
	"io"
	"io/fs"
	"math/big"
	"net/http"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/golang-jwt/jwt/v5"
	"github.com/google/uuid"
)

// podState is what a pod holds, as its owner sees it, and the objects on
// its storage: two equal states mean nothing was written.
func podState(t testing.TB, p *testPod, tok string) string {
	t.Helper()
	r := p.ownerGQL(t, demoSID, tok, `{
		person { given_name family_name email homepage_url birthday nicknames }
		addresses_connection(first: 500) { total_count edges { cursor node { address_id created_timestamp label street postal_code city country } } }
		tags_connection(first: 500) { total_count edges { node } }
		network_links_connection(first: 500) { total_count edges { node { member_id relation } } }
	}`, nil).ok(t)
	var objects []string
	err := filepath.WalkDir(filepath.Join(p.dataDir, "objects"), func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if !d.IsDir() {
			info, err := d.Info()
			if err != nil {
				return err
			}
			objects = append(objects, fmt.Sprintf("%s %d", path, info.Size()))
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(objects)
	return compact(t, r.Data) + "\n" + strings.Join(objects, "\n")
}

// signToken signs claims as a pod would, with key.
func signToken(t testing.TB, key *ecdsa.PrivateKey, claims jwt.MapClaims) string {
	t.Helper()
	tok, err := jwt.NewWithClaims(jwt.SigningMethodES256, claims).SignedString(key)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func TestBadInput(t *testing.T) {
	p := newPod(t, podOptions{contracts: map[uint32]string{demoSID: demoContract, addressbookSID: addressbookContract}})
	tok := p.login(t, demoSID)
	p.ownerGQL(t, demoSID, tok, `mutation { mutate_person(given_name: "Suzie", family_name: "Doe") }`, nil).ok(t)
	p.ownerGQL(t, demoSID, tok, appendAddress, address{uuid.NewString(), time.Now().UTC(), "home", "Amsterdam", "NL"}.vars()).ok(t)
	before := podState(t, p, tok)

	dir := openPKI(t)
	accountKey, err := dir.AccountKey(p.account)
	if err != nil {
		t.Fatal(err)
	}
	key := accountKey.Key.(*ecdsa.PrivateKey)
	otherAccount, err := dir.CreateAccount(time.Now())
	if err != nil {
		t.Fatal(err)
	}
	otherKey, err := dir.AccountKey(otherAccount)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	claims := func(exp time.Time, sid uint32) jwt.MapClaims {
		return jwt.MapClaims{
			"iss":        p.accountName,
			"sub":        p.members[sid].String(),
			"aud":        []string{fmt.Sprintf("%s.members-%d.%s", p.members[sid], sid, network)},
			"exp":        exp.Unix(),
			"iat":        now.Add(-2 * time.Hour).Unix(),
			"nbf":        now.Add(-2 * time.Hour).Unix(),
			"service_id": sid,
		}
	}
	expired := signToken(t, key, claims(now.Add(-time.Hour), demoSID))
	forged := signToken(t, otherKey.Key.(*ecdsa.PrivateKey), claims(now.Add(time.Hour), demoSID))
	none, _ := jwt.NewWithClaims(jwt.SigningMethodNone, claims(now.Add(time.Hour), demoSID)).SignedString(jwt.UnsafeAllowNoneSignatureType)
	// Algorithm confusion: HS256 keyed with the pod's public key bytes.
	pub, _ := key.PublicKey.Bytes()
	hs256, _ := jwt.NewWithClaims(jwt.SigningMethodHS256, claims(now.Add(time.Hour), demoSID)).SignedString(pub)
	otherService := p.login(t, addressbookSID)
	// A valid signature over altered claims is not possible; altering the
	// payload of a real token breaks its signature.
	parts := strings.Split(tok, ".")
	parts[1] = strings.TrimRight(parts[1], "A") + "B"
	tampered := strings.Join(parts, ".")

	deep := "{ person { " + strings.Repeat("a { ", 11) + "b" + strings.Repeat(" }", 11) + " } }"
	var many []string
	for i := range 30 {
		many = append(many, fmt.Sprintf("a%d: addresses_connection(first: 500) { edges { node { address_id created_timestamp label street city country } } }", i))
	}
	complex := "{ " + strings.Join(many, " ") + " }"
	huge := `{"query":"{ person { given_name } }","variables":{"pad":"` + strings.Repeat("x", 1<<20) + `"}}`

	type request struct {
		name    string
		method  string
		path    string // default the demo GraphQL path
		body    string
		headers map[string]string
		status  int
		code    string // extensions.code of the first error
		message string // part of the first error's message
	}
	gql := func(q string) string {
		b, _ := json.Marshal(map[string]any{"query": q})
		return string(b)
	}
	bearer := func(t string) map[string]string { return map[string]string{"Authorization": "Bearer " + t} }
	for _, rq := range []request{
		{name: "malformed GraphQL", body: gql(`{ person { given_name `), headers: bearer(tok), status: 422, code: "GRAPHQL_PARSE_FAILED"},
		{name: "malformed JSON", body: `{"query": "{ person`, headers: bearer(tok), status: 400},
		{name: "not JSON", body: `query=person`, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415},
		{name: "unknown field", body: gql(`{ person { shoe_size } }`), headers: bearer(tok), status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "shoe_size"},
		{name: "unknown class", body: gql(`{ shoes_connection { total_count } }`), headers: bearer(tok), status: 422, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "unknown argument", body: gql(`mutation { mutate_person(shoe_size: 44) }`), headers: bearer(tok), status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "shoe_size"},
		{name: "wrong type", body: gql(`mutation { mutate_person(given_name: 5) }`), headers: bearer(tok), status: 422, code: "GRAPHQL_VALIDATION_FAILED"},
		{name: "wrong scalar", body: gql(`mutation { append_addresses(address_id: "nope", created_timestamp: "2025-01-01T00:00:00Z", city: "X", country: "NL") }`), headers: bearer(tok), status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "UUID"},
		{name: "wrong variable type", body: `{"query":"mutation($ts: DateTime!) { append_addresses(address_id: \"3f2504e0-4f89-41d3-9a0c-0305e82c3301\", created_timestamp: $ts, city: \"X\", country: \"NL\") }","variables":{"ts":5}}`, headers: bearer(tok), status: 200, code: "BAD_USER_INPUT"},
		{name: "contract format", body: gql(`mutation { mutate_person(email: "not an email") }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT", message: "email"},
		{name: "contract enum", body: gql(`mutation { append_addresses(address_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301", created_timestamp: "2025-01-01T00:00:00Z", label: "castle", city: "X", country: "NL") }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT", message: "label"},
		{name: "required field cleared", body: gql(`mutation { mutate_person(family_name: null) }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT"},
		{name: "page too large", body: gql(`{ addresses_connection(first: 501) { total_count } }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT", message: "500"},
		{name: "bad cursor", body: gql(`{ addresses_connection(after: "garbage") { total_count } }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT", message: "cursor"},
		{name: "bad regex", body: gql(`{ addresses_connection(filter: {city: {regex: "("}}) { total_count } }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT"},
		{name: "recursive query too deep", body: gql(`{ addresses_connection(depth: 3) { total_count } }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT", message: "beyond the service's max_query_depth of 2"},
		{name: "recursive query by anonymous", body: gql(`{ tags_connection(depth: 1) { total_count } }`), status: 200, code: "FORBIDDEN", message: "only the pod's owner starts recursive"},
		{name: "proxied query with depth", body: gql(`{ addresses_connection(depth: 1, remote_member_id: "3f2504e0-4f89-41d3-9a0c-0305e82c3301") { total_count } }`), headers: bearer(tok), status: 200, code: "BAD_USER_INPUT", message: "want depth 0"},
		{name: "too deep", body: gql(deep), headers: bearer(tok), status: 422, code: "GRAPHQL_VALIDATION_FAILED", message: "limit is 10"},
		{name: "too complex", body: gql(complex), headers: bearer(tok), status: 200, code: "COMPLEXITY_LIMIT_EXCEEDED"},
		{name: "oversized body", body: huge, headers: bearer(tok), status: 413, code: "", message: "too large"},
		{name: "forged token", body: gql(`{ person { given_name } }`), headers: bearer(forged), status: 401, code: "UNAUTHENTICATED", message: "signature invalid"},
		{name: "tampered token", body: gql(`{ person { given_name } }`), headers: bearer(tampered), status: 401, code: "UNAUTHENTICATED"},
		{name: "expired token", body: gql(`{ person { given_name } }`), headers: bearer(expired), status: 401, code: "UNAUTHENTICATED", message: "expired"},
		{name: "alg none", body: gql(`{ person { given_name } }`), headers: bearer(none), status: 401, code: "UNAUTHENTICATED"},
		{name: "alg HS256", body: gql(`{ person { given_name } }`), headers: bearer(hs256), status: 401, code: "UNAUTHENTICATED"},
		{name: "token of another service", body: gql(`{ person { given_name } }`), headers: bearer(otherService), status: 401, code: "UNAUTHENTICATED", message: "service"},
		{name: "garbage token", body: gql(`{ person { given_name } }`), headers: bearer("garbage"), status: 401, code: "UNAUTHENTICATED", message: "malformed"},
		{name: "basic auth", body: gql(`{ person { given_name } }`), headers: map[string]string{"Authorization": "Basic dXNlcjpwdw=="}, status: 401, code: "UNAUTHENTICATED", message: "Bearer"},
		{name: "unknown path", path: "/api/v1/data/service-1", body: gql(`{ x }`), status: 404, code: "NOT_FOUND"},
		{name: "login: wrong password", path: "/api/v1/pod/authtoken", body: fmt.Sprintf(`{"username":%q,"password":"wrong","service_id":4711}`, p.account), status: 401, code: "UNAUTHENTICATED", message: "wrong username or password"},
		{name: "login: wrong username", path: "/api/v1/pod/authtoken", body: fmt.Sprintf(`{"username":%q,"password":%q,"service_id":4711}`, uuid.New(), p.password), status: 401, code: "UNAUTHENTICATED"},
		{name: "login: unknown field", path: "/api/v1/pod/authtoken", body: `{"user":"x"}`, status: 400, code: "BAD_REQUEST", message: "unknown field"},
		{name: "login: missing fields", path: "/api/v1/pod/authtoken", body: `{}`, status: 400, code: "BAD_REQUEST", message: "missing username, password, service_id"},
		{name: "login: wrong type", path: "/api/v1/pod/authtoken", body: `{"username":1}`, status: 400, code: "BAD_REQUEST"},
		{name: "login: not JSON", path: "/api/v1/pod/authtoken", body: `username=x`, headers: map[string]string{"Content-Type": "application/x-www-form-urlencoded"}, status: 415, code: "UNSUPPORTED_MEDIA_TYPE"},
		{name: "login: too large", path: "/api/v1/pod/authtoken", body: `{"username":"` + strings.Repeat("x", 10000) + `"}`, status: 413, code: "PAYLOAD_TOO_LARGE"},
		{name: "login: GET", method: http.MethodGet, path: "/api/v1/pod/authtoken", status: 405, code: "METHOD_NOT_ALLOWED"},
		{name: "status: POST", path: "/api/v1/status", body: `{}`, status: 405, code: "METHOD_NOT_ALLOWED"},
	} {
		t.Run(rq.name, func(t *testing.T) {
			method := rq.method
			if method == "" {
				method = http.MethodPost
			}
			path := rq.path
			if path == "" {
				path = "/api/v1/data/service-4711"
			}
			h := map[string]string{"Content-Type": "application/json"}
			for k, v := range rq.headers {
				h[k] = v
			}
			status, body := do(t, p.owner, method, "https://"+p.ownerAddr+path, []byte(rq.body), h)
			var resp gqlResponse
			if err := json.Unmarshal(body, &resp); err != nil || len(resp.Errors) == 0 || resp.Errors[0].Message == "" {
				t.Fatalf("want a JSON error body, got %d %s", status, body)
			}
			if status != rq.status {
				t.Errorf("status = %d, want %d: %s", status, rq.status, body)
			}
			e := resp.Errors[0]
			if rq.code != "" && e.code() != rq.code {
				t.Errorf("code = %q, want %q: %s", e.code(), rq.code, body)
			}
			if !slices.ContainsFunc(resp.Errors, func(e gqlError) bool { return strings.Contains(e.Message, rq.message) }) {
				t.Errorf("no error message mentions %q: %s", rq.message, body)
			}
		})
	}

	t.Run("oversized chunked body", func(t *testing.T) {
		req, _ := http.NewRequest(http.MethodPost, p.dataURL(demoSID), io.MultiReader(strings.NewReader(huge)))
		req.ContentLength = -1 // chunked: the size is unknown up front
		req.Header.Set("Content-Type", "application/json")
		req.Header.Set("Authorization", "Bearer "+tok)
		resp, err := p.owner.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer resp.Body.Close()
		body, _ := io.ReadAll(resp.Body)
		if resp.StatusCode != http.StatusRequestEntityTooLarge || !strings.Contains(string(body), "too large") {
			t.Fatalf("got %d %s", resp.StatusCode, body)
		}
	})

	t.Run("random bodies never 500", func(t *testing.T) {
		paths := []string{"/api/v1/data/service-4711", "/api/v1/pod/authtoken", "/api/v1/status", "/api/v1/data/service-" + fmt.Sprint(addressbookSID)}
		for i := range 200 {
			n, _ := rand.Int(rand.Reader, big.NewInt(2048))
			junk := make([]byte, n.Int64())
			rand.Read(junk)
			if i%2 == 0 {
				// Nearly valid JSON with junk inside.
				junk = []byte(fmt.Sprintf(`{"query":%q,"variables":{"a":%q}}`, junk, junk[:len(junk)/2]))
			}
			status, body := do(t, p.owner, http.MethodPost, "https://"+p.ownerAddr+paths[i%len(paths)], junk,
				map[string]string{"Content-Type": "application/json", "Authorization": "Bearer " + tok})
			if status >= 500 {
				t.Fatalf("%s: %d %s", paths[i%len(paths)], status, body)
			}
		}
	})

	if after := podState(t, p, tok); after != before {
		t.Fatalf("bad input changed the pod:\nbefore %s\nafter  %s", before, after)
	}
	// The pod is still fine.
	if r := p.ownerGQL(t, demoSID, tok, `{ person { given_name } }`, nil).ok(t); compact(t, r.Data) != `{"person":{"given_name":"Suzie"}}` {
		t.Fatalf("person: %s", r.Raw)
	}
}

func TestLoginRateLimit(t *testing.T) {
	p := newPod(t, podOptions{})
	wrong := fmt.Sprintf(`{"username":%q,"password":"wrong","service_id":4711}`, p.account)
	h := map[string]string{"Content-Type": "application/json"}
	url := "https://" + p.ownerAddr + "/api/v1/pod/authtoken"
	// Successful logins do not count.
	for range 15 {
		p.login(t, demoSID)
	}
	for i := range 10 {
		if status, body := do(t, p.owner, http.MethodPost, url, []byte(wrong), h); status != http.StatusUnauthorized {
			t.Fatalf("attempt %d: %d %s", i, status, body)
		}
	}
	req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader([]byte(wrong)))
	req.Header.Set("Content-Type", "application/json")
	resp, err := p.owner.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != http.StatusTooManyRequests || resp.Header.Get("Retry-After") == "" || !strings.Contains(string(body), "TOO_MANY_REQUESTS") {
		t.Fatalf("11th failed attempt: %d Retry-After %q %s", resp.StatusCode, resp.Header.Get("Retry-After"), body)
	}
	// Now even the right password waits.
	status, body := p.postJSON(t, "/api/v1/pod/authtoken", map[string]any{"username": p.account.String(), "password": p.password, "service_id": demoSID})
	if status != http.StatusTooManyRequests {
		t.Fatalf("right password while limited: %d %s", status, body)
	}
}

// grepTree fails the test if any file under root contains marker.
func grepTree(t testing.TB, root string, marker []byte) int {
	t.Helper()
	n := 0
	err := filepath.WalkDir(root, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() {
			return err
		}
		data, err := os.ReadFile(path)
		if err != nil {
			return err
		}
		n++
		if bytes.Contains(data, marker) || strings.Contains(path, string(marker)) {
			t.Errorf("%s holds the marker in plain text", path)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return n
}
