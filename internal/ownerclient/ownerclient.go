// Package ownerclient is a client of a pod's owner API, as a person's app
// uses it: it logs in with the account id and the owner's password for one
// service, then runs GraphQL queries and mutations on that service's API
// with the token it was given. The caller supplies the HTTP client, which
// decides how the pod's name is resolved and which roots its certificate
// must chain to.
package ownerclient

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"strings"

	"github.com/byoda-go/byoda/podruntime/peer"
)

// maxAnswer bounds an answer the client reads.
const maxAnswer = 16 << 20

// Client is a pod's owner, logged in for one service.
type Client struct {
	name  string // for errors: the pod's or person's name
	base  string // https://<account name>
	sid   uint32
	http  *http.Client
	token string
}

// Login logs in to the pod at base (its owner URL, https://<account
// name>[:port]) as the owner of account accountID, for service sid, with hc.
// name is what errors call the pod.
func Login(ctx context.Context, hc *http.Client, name, base, accountID, password string, sid uint32) (*Client, error) {
	c := &Client{name: name, base: strings.TrimRight(base, "/"), sid: sid, http: hc}
	body, err := json.Marshal(map[string]any{"username": accountID, "password": password, "service_id": sid})
	if err != nil {
		return nil, err
	}
	var resp struct {
		AuthToken string `json:"auth_token"`
	}
	if err := c.post(ctx, "/api/v1/pod/authtoken", body, &resp); err != nil {
		return nil, fmt.Errorf("log in to %s: %w", name, err)
	}
	if resp.AuthToken == "" {
		return nil, fmt.Errorf("log in to %s: no auth_token in the answer", name)
	}
	c.token = resp.AuthToken
	return c, nil
}

// GraphQL runs a query or mutation on the pod's API of the client's
// service and returns the whole answer, errors included.
func (c *Client) GraphQL(ctx context.Context, query string, vars map[string]any) (*peer.Response, error) {
	body, err := json.Marshal(peer.Request{Query: query, Variables: vars})
	if err != nil {
		return nil, err
	}
	var resp peer.Response
	if err := c.post(ctx, peer.DataPath(c.sid), body, &resp); err != nil {
		return nil, err
	}
	return &resp, nil
}

// Mutate runs a mutation and fails on any error in the answer.
func (c *Client) Mutate(ctx context.Context, query string, vars map[string]any) error {
	resp, err := c.GraphQL(ctx, query, vars)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("%s: %s", c.name, resp.Errors[0].Message)
	}
	return nil
}

func (c *Client) post(ctx context.Context, path string, body []byte, out any) error {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, c.base+path, bytes.NewReader(body))
	if err != nil {
		return err
	}
	req.Header.Set("Content-Type", "application/json")
	if c.token != "" {
		req.Header.Set("Authorization", "Bearer "+c.token)
	}
	resp, err := c.http.Do(req)
	if err != nil {
		return err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return err
	}
	if resp.StatusCode != http.StatusOK {
		return fmt.Errorf("%s: HTTP %d: %s", path, resp.StatusCode, strings.TrimSpace(string(data)))
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s: %w", path, err)
	}
	return nil
}
