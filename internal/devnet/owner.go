package devnet

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/http"
	"os"
	"strings"
	"time"

	"github.com/byoda-go/byoda/internal/ownerclient"
)

// Login logs in to pod p of st as its owner, for service sid, as a
// person's app would: over HTTPS, resolving the pod's name with the
// network's DNS server and trusting the network's root CA.
func Login(ctx context.Context, st *State, p *PodState, sid uint32) (*ownerclient.Client, error) {
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
	hc := &http.Client{
		Timeout: 30 * time.Second,
		Transport: &http.Transport{
			DialContext:     dialer.DialContext,
			TLSClientConfig: &tls.Config{RootCAs: roots, MinVersion: tls.VersionTLS12},
		},
	}
	password, err := os.ReadFile(p.PasswordFile)
	if err != nil {
		return nil, err
	}
	return ownerclient.Login(ctx, hc, p.Name, p.OwnerURL, p.AccountID.String(), strings.TrimRight(string(password), "\r\n"), sid)
}
