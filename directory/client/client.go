// Package client speaks the REST API of the network directory and of
// service directories (package directory) for pods, services, the operator
// and tests: register an account, a service or a member, have CSRs signed,
// publish data certificates and DNS records, submit and fetch contracts,
// search.
package client

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
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory"
	"github.com/byoda-go/byoda/internal/pki"
)

// maxAnswer bounds what the client reads of an answer: a contract is the
// largest.
const maxAnswer = directory.MaxContractBody + 64<<10

// Options configure a Client.
type Options struct {
	// Roots verify the directory's server certificate; the system's roots
	// when nil.
	Roots *x509.CertPool
	// ServerName is the name the server certificate must carry, when it is
	// not the URL's host (a directory reached by IP address).
	ServerName string
	// Certificate authenticates the client; anonymous when nil.
	Certificate *tls.Certificate
	// LocalAddr, when set, is the source address of connections (a pod on
	// a loopback address of its own).
	LocalAddr net.Addr
	// Resolver, when set, resolves the URL's host name: the network's DNS
	// server, for a directory known by its name in the network's zone.
	Resolver *net.Resolver
	// Timeout bounds each request; directory.RequestTimeout when zero.
	Timeout time.Duration
}

// Client calls one directory.
type Client struct {
	base string
	hc   *http.Client
}

// New returns a client of the directory at baseURL (https://host:port).
func New(baseURL string, o Options) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil || u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("directory URL %q: want https://host[:port]", baseURL)
	}
	if o.Timeout == 0 {
		o.Timeout = directory.RequestTimeout
	}
	tc := &tls.Config{MinVersion: tls.VersionTLS12, RootCAs: o.Roots, ServerName: o.ServerName}
	if o.Certificate != nil {
		cert := *o.Certificate
		tc.GetClientCertificate = func(*tls.CertificateRequestInfo) (*tls.Certificate, error) { return &cert, nil }
	}
	dialer := &net.Dialer{Timeout: 10 * time.Second, LocalAddr: o.LocalAddr, Resolver: o.Resolver}
	tr := &http.Transport{
		TLSClientConfig:     tc,
		DialContext:         dialer.DialContext,
		TLSHandshakeTimeout: 10 * time.Second,
		MaxIdleConnsPerHost: 16,
		IdleConnTimeout:     time.Minute,
		ForceAttemptHTTP2:   false,
	}
	return &Client{base: strings.TrimSuffix(baseURL, "/"), hc: &http.Client{Transport: tr, Timeout: o.Timeout}}, nil
}

// HTTPClient returns the client's HTTP client, for requests this package
// has no method for.
func (c *Client) HTTPClient() *http.Client { return c.hc }

// URL returns the URL of path on the directory.
func (c *Client) URL(path string) string { return c.base + path }

// Close closes idle connections.
func (c *Client) Close() { c.hc.CloseIdleConnections() }

// Error is an error answer of a directory.
type Error struct {
	Status  int
	Code    string
	Message string
}

func (e *Error) Error() string {
	return fmt.Sprintf("directory: %d %s: %s", e.Status, e.Code, e.Message)
}

// StatusOf returns the HTTP status of an *Error in err's chain, or 0.
func StatusOf(err error) int {
	if e, ok := errors.AsType[*Error](err); ok {
		return e.Status
	}
	return 0
}

// do sends a request with body (JSON-encoded unless it is []byte) and
// returns the answer's body; a non-2xx answer is an *Error.
func (c *Client) do(ctx context.Context, method, path string, body any) ([]byte, error) {
	var rd io.Reader
	if body != nil {
		data, ok := body.([]byte)
		if !ok {
			var err error
			if data, err = json.Marshal(body); err != nil {
				return nil, err
			}
		}
		rd = bytes.NewReader(data)
	}
	req, err := http.NewRequestWithContext(ctx, method, c.base+path, rd)
	if err != nil {
		return nil, err
	}
	if body != nil {
		req.Header.Set("Content-Type", "application/json")
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return nil, fmt.Errorf("%s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(io.LimitReader(resp.Body, maxAnswer))
	if err != nil {
		return nil, fmt.Errorf("%s %s: read answer: %w", method, path, err)
	}
	if resp.StatusCode/100 != 2 {
		e := &Error{Status: resp.StatusCode, Message: strings.TrimSpace(string(data))}
		var eb directory.ErrorBody
		if json.Unmarshal(data, &eb) == nil && len(eb.Errors) > 0 {
			e.Message = eb.Errors[0].Message
			e.Code, _ = eb.Errors[0].Extensions["code"].(string)
		}
		return nil, fmt.Errorf("%s %s: %w", method, path, e)
	}
	return data, nil
}

func (c *Client) doJSON(ctx context.Context, method, path string, body, out any) error {
	data, err := c.do(ctx, method, path, body)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(data, out); err != nil {
		return fmt.Errorf("%s %s: answer: %w", method, path, err)
	}
	return nil
}

// Signed is a signed certificate as a directory returns it, parsed.
type Signed struct {
	// Chain is the new certificate followed by its issuers up to but
	// excluding the root: what a TLS certificate or a signature carries.
	Chain []*x509.Certificate
	// Root is the network's root CA.
	Root *x509.Certificate
	// DataChain is the network's or the service's data certificate chain,
	// which signs contracts.
	DataChain []*x509.Certificate
}

func parseSigned(sc *directory.SignedCert) (*Signed, error) {
	chain, err := pki.ParseCertificates([]byte(sc.SignedCert + sc.CertChain))
	if err != nil {
		return nil, fmt.Errorf("signed certificate: %w", err)
	}
	roots, err := pki.ParseCertificates([]byte(sc.NetworkRootCA))
	if err != nil {
		return nil, fmt.Errorf("network root CA: %w", err)
	}
	s := &Signed{Chain: chain, Root: roots[0]}
	data := sc.NetworkDataCert + sc.ServiceDataCert
	if strings.TrimSpace(data) != "" {
		if s.DataChain, err = pki.ParseCertificates([]byte(data)); err != nil {
			return nil, fmt.Errorf("data certificate: %w", err)
		}
	}
	return s, nil
}

func (c *Client) signCSR(ctx context.Context, path string, csr *x509.CertificateRequest, address string) (*Signed, error) {
	var sc directory.SignedCert
	if err := c.doJSON(ctx, http.MethodPost, path, directory.CSRRequest{CSR: string(pki.EncodeCSR(csr)), Address: address}, &sc); err != nil {
		return nil, err
	}
	return parseSigned(&sc)
}

// AccountCSR has the network's accounts CA sign csr (for
// <aid>.accounts.<net> or <aid>.account-data.<net>). Without a client
// certificate it registers a new account and publishes its DNS record with
// address (the source address when empty); with the account's own
// certificate it renews.
func (c *Client) AccountCSR(ctx context.Context, csr *x509.CertificateRequest, address string) (*Signed, error) {
	return c.signCSR(ctx, directory.PathAccount, csr, address)
}

// PublishAccount publishes the client's account at address (the source
// address when empty).
func (c *Client) PublishAccount(ctx context.Context, address string) (*directory.AddressResponse, error) {
	var out directory.AddressResponse
	err := c.doJSON(ctx, http.MethodPut, directory.PathAccount, directory.AddressRequest{Address: address}, &out)
	return &out, err
}

// ServiceCSR has the network's services CA sign the CSR of a service CA:
// first come, or the service's own certificate for a renewal.
func (c *Client) ServiceCSR(ctx context.Context, csr *x509.CertificateRequest) (*Signed, error) {
	return c.signCSR(ctx, directory.PathService, csr, "")
}

// PublishServiceData registers the data certificate chain of the client's
// service sid and publishes the service at address (the source address
// when empty).
func (c *Client) PublishServiceData(ctx context.Context, sid uint32, chain []*x509.Certificate, address string) (*directory.AddressResponse, error) {
	var out directory.AddressResponse
	body := directory.CertChainRequest{CertChain: string(pki.EncodeCertificates(chain...)), Address: address}
	err := c.doJSON(ctx, http.MethodPut, directory.ServicePath(sid), body, &out)
	return &out, err
}

// SubmitContract sends a contract the service has signed and returns it
// countersigned by the network.
func (c *Client) SubmitContract(ctx context.Context, sid uint32, signed []byte) ([]byte, error) {
	return c.do(ctx, http.MethodPatch, directory.ServicePath(sid), signed)
}

// Contract returns the countersigned contract of service sid.
func (c *Client) Contract(ctx context.Context, sid uint32) ([]byte, error) {
	return c.do(ctx, http.MethodGet, directory.ServicePath(sid), nil)
}

// Services returns a page of the service listing: at most limit services
// (the server's default when zero) with ids above after (from the start
// when nil).
func (c *Client) Services(ctx context.Context, after *uint32, limit int) (*directory.ServiceList, error) {
	q := url.Values{}
	if after != nil {
		q.Set("after", strconv.FormatUint(uint64(*after), 10))
	}
	if limit > 0 {
		q.Set("limit", strconv.Itoa(limit))
	}
	path := directory.PathServices
	if len(q) > 0 {
		path += "?" + q.Encode()
	}
	var out directory.ServiceList
	err := c.doJSON(ctx, http.MethodGet, path, nil, &out)
	return &out, err
}

// PublishMember publishes the client's membership at address (the source
// address when empty).
func (c *Client) PublishMember(ctx context.Context, address string) (*directory.AddressResponse, error) {
	var out directory.AddressResponse
	err := c.doJSON(ctx, http.MethodPut, directory.PathMember, directory.AddressRequest{Address: address}, &out)
	return &out, err
}

// RootCA returns the network's root CA certificate.
func (c *Client) RootCA(ctx context.Context) (*x509.Certificate, error) {
	data, err := c.do(ctx, http.MethodGet, directory.PathRootCA, nil)
	if err != nil {
		return nil, err
	}
	certs, err := pki.ParseCertificates(data)
	if err != nil {
		return nil, err
	}
	return certs[0], nil
}

// Status returns the directory's status.
func (c *Client) Status(ctx context.Context) (*directory.Status, error) {
	var out directory.Status
	err := c.doJSON(ctx, http.MethodGet, directory.PathStatus, nil, &out)
	return &out, err
}

// ServiceContract returns the countersigned contract a service directory
// publishes.
func (c *Client) ServiceContract(ctx context.Context) ([]byte, error) {
	return c.do(ctx, http.MethodGet, directory.PathContract, nil)
}

// MemberCSR has a service directory's members CA sign csr (for
// <mid>.members-<sid>.<net> or <mid>.member-data-<sid>.<net>): first come
// for a new member, or the member's own certificate.
func (c *Client) MemberCSR(ctx context.Context, csr *x509.CertificateRequest) (*Signed, error) {
	return c.signCSR(ctx, directory.PathServiceMember, csr, "")
}

// PublishMemberData publishes the member-data certificate chain of the
// client's membership for contract version v.
func (c *Client) PublishMemberData(ctx context.Context, v int, chain []*x509.Certificate, address string) (*directory.AddressResponse, error) {
	var out directory.AddressResponse
	body := directory.CertChainRequest{CertChain: string(pki.EncodeCertificates(chain...)), Address: address}
	err := c.doJSON(ctx, http.MethodPut, directory.MemberVersionPath(v), body, &out)
	return &out, err
}

// MemberDataCert returns the member-data certificate chain of member mid.
func (c *Client) MemberDataCert(ctx context.Context, mid uuid.UUID) ([]*x509.Certificate, error) {
	data, err := c.do(ctx, http.MethodGet, directory.MemberCertPath(mid), nil)
	if err != nil {
		return nil, err
	}
	return pki.ParseCertificates(data)
}

// SetSearchValues replaces the values the client's membership makes
// searchable.
func (c *Client) SetSearchValues(ctx context.Context, values []directory.SearchValue) error {
	_, err := c.do(ctx, http.MethodPut, directory.PathSearchValues, directory.SearchValues{Values: values})
	return err
}

// Search returns the members whose class.field has value.
func (c *Client) Search(ctx context.Context, class, field, value string) (*directory.SearchResult, error) {
	q := url.Values{"class": {class}, "field": {field}, "value": {value}}
	var out directory.SearchResult
	err := c.doJSON(ctx, http.MethodGet, directory.PathSearch+"?"+q.Encode(), nil, &out)
	return &out, err
}
