package cluster_test

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"time"

	"github.com/byoda-go/byoda/internal/ownerclient"
	"github.com/byoda-go/byoda/podruntime/peer"
)

// login logs in as the owner of the pod at address (its Kubernetes
// Service's load balancer), whose certificate names fqdn, for service sid,
// as the owner's app would: HTTPS to the Service's address, verified as the
// account's name with the network's root CA. The name is the account's,
// which the cluster's DNS (not this machine's) knows, so the client dials
// the address for it.
func login(ctx context.Context, name, address, fqdn string, roots *x509.CertPool, accountID, password string, sid uint32) (*ownerclient.Client, error) {
	host := net.JoinHostPort(address, "443")
	dialer := &net.Dialer{Timeout: 10 * time.Second}
	hc := &http.Client{
		Timeout: time.Minute,
		Transport: &http.Transport{
			DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
				return dialer.DialContext(ctx, network, host)
			},
			TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: fqdn, MinVersion: tls.VersionTLS12},
		},
	}
	return ownerclient.Login(ctx, hc, name+" at "+host, "https://"+fqdn, accountID, password, sid)
}

// edge is one edge of a connection in a pod's answer.
type edge struct {
	Origin string         `json:"origin"`
	Node   map[string]any `json:"node"`
}

// edges returns the edges of connection field in a query's answer.
func edges(resp *peer.Response, field string) ([]edge, error) {
	var data map[string]struct {
		Edges []edge `json:"edges"`
	}
	if err := json.Unmarshal(resp.Data, &data); err != nil {
		return nil, fmt.Errorf("decode %s: %w: %s", field, err, resp.Data)
	}
	conn, ok := data[field]
	if !ok {
		return nil, fmt.Errorf("no %s in %s", field, resp.Data)
	}
	return conn.Edges, nil
}
