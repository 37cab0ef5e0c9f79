package devnet

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/byoda-go/byoda/podruntime/peer"
)

// Owner is a pod's owner, logged in: it calls the pod's owner API as a
// person's app would, over HTTPS, resolving the pod's name with the
// network's DNS server.
type Owner struct {
	pod    *PodState
	sid    uint32
	client *http.Client
	token  string
}

// Login logs in to pod p of st as its owner, for service sid.
func Login(ctx context.Context, st *State, p *PodState, sid uint32) (*Owner, error) {
	pem, err := os.ReadFile(st.RootCA)
	if err != nil {
		return nil, err
	}
	roots := x509.NewCertPool()
	if !roots.AppendCertsFromPEM(pem) {
		return nil, fmt.Errorf("%s holds no certificate", st.RootCA)
	}
	server := st.DNSServer
	dialer := &net.Dialer{Timeout: 5 * time.Second, Resolver: &net.Resolver{
		PreferGo: true,
		Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, server)
		},
	}}
	o := &Owner{pod: p, sid: sid, client: &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:     dialer.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
	}}
	password, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		return nil, err
	}
	body, _ := json.Marshal(map[string]any{
		"username":   p.AccountID.String(),
		"password":   strings.TrimRight(string(password), "\r\n"),
		"service_id": sid,
	})
	var resp struct {
		AuthToken string `json:"auth_token"`
	}
	if err := o.post(ctx, "/api/v1/pod/authtoken", body, &resp); err != nil {
		return nil, fmt.Errorf("log in to %s: %w", p.Name, err)
	}
	o.token = resp.AuthToken
	return o, nil
}

// GraphQL runs a query or mutation on the pod's API of the owner's
// service, and returns the whole response.
func (o *Owner) GraphQL(ctx context.Context, query string, vars map[string]any) (*peer.Response, error) {
	body, err := json.Marshal(peer.Request{Query: query, Variables: vars})
	if err != nil {
		return nil, err
	}
	var resp peer.Response
	if err := o.post(ctx, peer.DataPath(o.sid), body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// mustGraphQL runs a mutation and fails on any error in the response.
func (o *Owner) mustGraphQL(ctx context.Context, query string, vars map[string]any) error {
	resp, err := o.GraphQL(ctx, query, vars)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("%s: %s", o.pod.Name, resp.Errors[0].Message)
	}
	return nil
}

func (o *Owner) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, o.pod.OwnerURL+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if o.token != "" {
		req.Header.Set("Authorization", "Bearer "+o.token)
	}
	resp, err := o.client.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	return json.Unmarshal(data, out)
}
