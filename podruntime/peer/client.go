package peer

import (
	"bytes"
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

// Defaults of Options.
const (
	DefaultMaxConnsPerPeer  = 4
	DefaultMaxResponseBytes = 8 << 20
	DefaultDialTimeout      = 5 * time.Second
	DefaultIdleConnTimeout  = 90 * time.Second
	// maxErrorBytes bounds the part of a refusal's body kept in an error.
	maxErrorBytes = 512
)

// Options configure a Client.
type Options struct {
	// Network is the network domain; ServiceID the service whose members
	// the client calls.
	Network   string
	ServiceID uint32
	// Port is the network's peer port; 0 means DefaultPort.
	Port int
	// Certificate is the caller's TLS certificate: the member's (or the
	// service's) for the service, with its chain.
	Certificate tls.Certificate
	// Verifier checks the servers' chains; its Roots are the network's
	// root.
	Verifier *pki.Verifier
	// DNSServer is the address (host:port) of the DNS server that resolves
	// the network's names; empty means the system resolver.
	DNSServer string
	// MaxConnsPerPeer bounds the connections to one pod.
	MaxConnsPerPeer int
	// MaxResponseBytes bounds an answer's body.
	MaxResponseBytes int64
	// DialTimeout bounds resolving and connecting.
	DialTimeout time.Duration
}

// Client calls the pods of the members of one service. It is safe for
// concurrent use; Close it to drop its idle connections.
type Client struct {
	opts      Options
	transport *http.Transport
	http      *http.Client
	resolver  *net.Resolver
}

// New returns a client for opts.
func New(opts Options) (*Client, error) {
	if opts.Network == "" || opts.Verifier == nil || opts.Verifier.Roots == nil || len(opts.Certificate.Certificate) == 0 {
		return nil, errors.New("peer client: network, verifier with roots and certificate are required")
	}
	if opts.Port == 0 {
		opts.Port = DefaultPort
	}
	if opts.MaxConnsPerPeer <= 0 {
		opts.MaxConnsPerPeer = DefaultMaxConnsPerPeer
	}
	if opts.MaxResponseBytes <= 0 {
		opts.MaxResponseBytes = DefaultMaxResponseBytes
	}
	if opts.DialTimeout <= 0 {
		opts.DialTimeout = DefaultDialTimeout
	}
	c := &Client{opts: opts, resolver: net.DefaultResolver}
	if opts.DNSServer != "" {
		server := opts.DNSServer
		d := net.Dialer{Timeout: opts.DialTimeout}
		c.resolver = &net.Resolver{
			PreferGo: true,
			Dial: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return d.DialContext(ctx, network, server)
			},
		}
	}
	dialer := &net.Dialer{Timeout: opts.DialTimeout, Resolver: c.resolver, KeepAlive: 30 * time.Second}
	c.transport = &http.Transport{
		DialContext:            dialer.DialContext,
		TLSClientConfig:        c.tlsConfig(),
		TLSHandshakeTimeout:    opts.DialTimeout,
		MaxConnsPerHost:        opts.MaxConnsPerPeer,
		MaxIdleConnsPerHost:    opts.MaxConnsPerPeer,
		MaxIdleConns:           1024,
		IdleConnTimeout:        DefaultIdleConnTimeout,
		ResponseHeaderTimeout:  0, // the caller's context bounds a call
		ForceAttemptHTTP2:      false,
		MaxResponseHeaderBytes: 64 << 10,
	}
	c.http = &http.Client{Transport: c.transport, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}
	return c, nil
}

// tlsConfig presents the caller's certificate and accepts only the member
// the connection is for: the server name is <mid>.members-<sid>.<net>, and
// the chain must say that very member.
func (c *Client) tlsConfig() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		Certificates: []tls.Certificate{c.opts.Certificate},
		RootCAs:      c.opts.Verifier.Roots,
		NextProtos:   []string{"http/1.1"},
		VerifyConnection: func(cs tls.ConnectionState) error {
			id, err := c.opts.Verifier.PeerIdentity(&cs)
			if err != nil {
				return err
			}
			if id.Name != cs.ServerName || id.Role != pki.RoleMember || id.ServiceID != c.opts.ServiceID {
				return fmt.Errorf("%w: asked for %s, the server is %s", pki.ErrUntrusted, cs.ServerName, id.Name)
			}
			return nil
		},
	}
}

// Close drops the client's idle connections.
func (c *Client) Close() { c.transport.CloseIdleConnections() }

// Resolver is the resolver the client finds pods with.
func (c *Client) Resolver() *net.Resolver { return c.resolver }

// host is the name and port of member mid's pod.
func (c *Client) host(mid uuid.UUID) string {
	return net.JoinHostPort(pki.MemberName(c.opts.ServiceID, mid, c.opts.Network), strconv.Itoa(c.opts.Port))
}

// Request is a GraphQL request.
type Request struct {
	Query      string         `json:"query"`
	Variables  map[string]any `json:"variables,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Response is a GraphQL response, its parts left raw for the caller.
type Response struct {
	Data       json.RawMessage            `json:"data"`
	Errors     []ResponseError            `json:"errors"`
	Extensions map[string]json.RawMessage `json:"extensions"`
}

// ResponseError is an error of a GraphQL response.
type ResponseError struct {
	Message    string         `json:"message"`
	Path       []any          `json:"path,omitempty"`
	Extensions map[string]any `json:"extensions,omitempty"`
}

// Code is the error's extensions.code.
func (e ResponseError) Code() string {
	s, _ := e.Extensions["code"].(string)
	return s
}

// GraphQL sends req to service sid's API at member mid's pod and returns
// the response. An answer that is not a GraphQL response (a refused
// connection, an HTTP error, garbage, too large) is an *Error.
func (c *Client) GraphQL(ctx context.Context, mid uuid.UUID, req *Request) (*Response, error) {
	body, err := json.Marshal(req)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Member: mid, Err: err}
	}
	hr, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+c.host(mid)+DataPath(c.opts.ServiceID), bytes.NewReader(body))
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Member: mid, Err: err}
	}
	hr.Header.Set("Content-Type", "application/json")
	hr.Header.Set("Accept", "application/json")
	data, status, err := c.do(hr, mid)
	if err != nil {
		return nil, err
	}
	var resp Response
	if err := json.Unmarshal(data, &resp); err != nil || (resp.Data == nil && resp.Errors == nil) {
		if status != http.StatusOK {
			return nil, &Error{Kind: KindRefused, Member: mid, Err: fmt.Errorf("HTTP %d: %s", status, clip(data))}
		}
		return nil, &Error{Kind: KindInvalid, Member: mid, Err: fmt.Errorf("the answer is not a GraphQL response: %s", clip(data))}
	}
	return &resp, nil
}

// DataCert downloads member mid's member-data certificate chain of the
// client's service from its pod. The caller verifies it.
func (c *Client) DataCert(ctx context.Context, mid uuid.UUID) ([]*x509.Certificate, error) {
	hr, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+c.host(mid)+DataCertPath(c.opts.ServiceID), nil)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Member: mid, Err: err}
	}
	data, status, err := c.do(hr, mid)
	if err != nil {
		return nil, err
	}
	if status != http.StatusOK {
		return nil, &Error{Kind: KindRefused, Member: mid, Err: fmt.Errorf("HTTP %d: %s", status, clip(data))}
	}
	chain, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, &Error{Kind: KindInvalid, Member: mid, Err: err}
	}
	return chain, nil
}

// do sends hr and reads the whole answer within the size limit.
func (c *Client) do(hr *http.Request, mid uuid.UUID) ([]byte, int, error) {
	resp, err := c.http.Do(hr)
	if err != nil {
		return nil, 0, classify(hr.Context(), mid, err)
	}
	defer resp.Body.Close()
	if resp.ContentLength > c.opts.MaxResponseBytes {
		return nil, 0, &Error{Kind: KindTooLarge, Member: mid, Err: fmt.Errorf("the answer is %d bytes; at most %d are read", resp.ContentLength, c.opts.MaxResponseBytes)}
	}
	data, err := io.ReadAll(io.LimitReader(resp.Body, c.opts.MaxResponseBytes+1))
	if err != nil {
		return nil, 0, classify(hr.Context(), mid, err)
	}
	if int64(len(data)) > c.opts.MaxResponseBytes {
		return nil, 0, &Error{Kind: KindTooLarge, Member: mid, Err: fmt.Errorf("the answer is over %d bytes", c.opts.MaxResponseBytes)}
	}
	return data, resp.StatusCode, nil
}

func clip(b []byte) string {
	s := strings.TrimSpace(string(b))
	if len(s) > maxErrorBytes {
		s = s[:maxErrorBytes] + "..."
	}
	return strconv.Quote(s)
}
