package podruntime

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"strconv"
	"sync"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/internal/requestid"
	"github.com/byoda-go/byoda/podruntime/graphql"
)

// Timeouts and sizes of both servers. A websocket is exempt from the read
// and write timeouts once upgraded (the upgrade clears the connection's
// deadlines); the GraphQL handler pings it instead.
const (
	readHeaderTimeout = 10 * time.Second
	readTimeout       = 30 * time.Second
	writeTimeout      = 30 * time.Second
	idleTimeout       = 2 * time.Minute
	maxHeaderBytes    = 64 << 10
	shutdownTimeout   = 10 * time.Second
)

// The ports, as metrics and logs name them.
const (
	portOwner = "owner"
	portPeer  = "peer"
)

// The paths of the owner port's status and metrics: a kubelet probes the
// first every few seconds, Prometheus scrapes the second.
const (
	pathStatus  = "/api/v1/status"
	pathMetrics = "/metrics"
)

// Run listens on Config.Listen and Config.PeerListen and serves until ctx is
// done; see Serve.
func (p *Pod) Run(ctx context.Context) error {
	owner, err := net.Listen("tcp", p.cfg.Listen)
	if err != nil {
		p.closeStores()
		return fmt.Errorf("--listen: %w", err)
	}
	peer, err := net.Listen("tcp", p.cfg.PeerListen)
	if err != nil {
		owner.Close()
		p.closeStores()
		return fmt.Errorf("--peer-listen: %w", err)
	}
	return p.Serve(ctx, owner, peer)
}

// Serve serves the owner port on owner and the peer port on peer (plain TCP
// listeners: Serve adds TLS) until ctx is done or a server fails. Then it
// shuts both down gracefully, waiting up to 10 seconds for requests in
// flight, ends open websockets, and closes the stores.
func (p *Pod) Serve(ctx context.Context, owner, peer net.Listener) error {
	defer p.closeStores()
	// Requests and websockets get a context that ends only after the
	// graceful shutdown, so that requests in flight can finish.
	base, endConnections := context.WithCancel(context.WithoutCancel(ctx))
	defer endConnections()

	servers := []*http.Server{
		p.newServer(base, portOwner, p.ownerHandler(), p.ownerTLS()),
		p.newServer(base, portPeer, p.peerHandler(), p.peerTLS()),
	}
	servers[1].ConnContext = func(ctx context.Context, _ net.Conn) context.Context {
		return context.WithValue(ctx, peerConnKey{}, &peerConn{})
	}
	listeners := []net.Listener{p.limitListener(owner, portOwner), p.limitListener(peer, portPeer)}
	errc := make(chan error, len(servers))
	var wg sync.WaitGroup
	for i, srv := range servers {
		wg.Go(func() {
			err := srv.Serve(tls.NewListener(listeners[i], srv.TLSConfig))
			if !errors.Is(err, http.ErrServerClosed) {
				errc <- fmt.Errorf("%s port %s: %w", []string{portOwner, portPeer}[i], listeners[i].Addr(), err)
			}
		})
	}
	sids := p.serviceIDs()
	p.log.Info("Pod ready", "account", p.cfg.AccountID.String(), "owner", owner.Addr().String(), "peer", peer.Addr().String(),
		"services", sids, "storage", p.storageURL, "startup", p.now().Sub(p.started).String(),
		"max_conns", p.cfg.MaxConns, "max_conns_per_address", p.cfg.MaxConnsPerAddress)
	// Loading contracts and restoring stores leaves garbage, and serving
	// maps pages back in; an idle pod should not keep the memory it took.
	stopIdle := p.watchIdle(ctx)

	// The memberships' background work (upgrades, following other pods)
	// uses the stores: it ends before they close.
	stopBackground := p.startBackground(ctx)

	var err error
	select {
	case <-ctx.Done():
		p.log.Info("Shutting down", "reason", context.Cause(ctx))
	case err = <-errc:
		p.log.Error("Server failed; shutting down", "err", err)
	}
	stopBackground()
	stopIdle()
	shutdownCtx, cancel := context.WithTimeout(context.Background(), shutdownTimeout)
	defer cancel()
	for _, srv := range servers {
		if serr := srv.Shutdown(shutdownCtx); serr != nil {
			p.log.Warn("Graceful shutdown timed out; closing connections", "err", serr)
			srv.Close()
		}
	}
	endConnections()
	wg.Wait()
	p.log.Info("Pod stopped")
	return err
}

func (p *Pod) newServer(base context.Context, port string, h http.Handler, tc *tls.Config) *http.Server {
	srv := &http.Server{
		Handler:           h,
		TLSConfig:         tc,
		ReadHeaderTimeout: readHeaderTimeout,
		ReadTimeout:       readTimeout,
		WriteTimeout:      writeTimeout,
		IdleTimeout:       idleTimeout,
		MaxHeaderBytes:    maxHeaderBytes,
		BaseContext:       func(net.Listener) context.Context { return base },
		// TLS handshake failures (a refused client certificate, a scanner)
		// and other connection errors are routine: debug level. Accept
		// errors are not: limitListener logs them at warn level.
		ErrorLog: slog.NewLogLogger(p.log.With("port", port).Handler(), slog.LevelDebug),
	}
	// HTTP/1.1 only: websockets (graphql-transport-ws) need it, and every
	// client speaks it.
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	return srv
}

// ownerTLS is the owner port's TLS: the account's certificate, no client
// certificates.
func (p *Pod) ownerTLS() *tls.Config {
	return &tls.Config{
		MinVersion:   tls.VersionTLS12,
		Certificates: []tls.Certificate{p.accountCert},
		NextProtos:   []string{"http/1.1"},
	}
}

// peerTLS is the peer port's TLS: 1.3 only, a client certificate chaining
// to the network's root required, and then checked by internal/pki for
// its place in the hierarchy and its role. The server presents the
// membership certificate the client names with SNI, or else the account's.
func (p *Pod) peerTLS() *tls.Config {
	return &tls.Config{
		MinVersion: tls.VersionTLS13,
		ClientAuth: tls.RequireAndVerifyClientCert,
		ClientCAs:  p.verifier.Roots,
		GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
			if c := p.members.Load().sni[hello.ServerName]; c != nil {
				return c, nil
			}
			return &p.accountCert, nil
		},
		VerifyConnection: p.verifyPeer,
		NextProtos:       []string{"http/1.1"},
	}
}

// verifyPeer refuses, during the handshake, every client that no joined
// service could answer: anything but a member, app or service of a joined
// service.
func (p *Pod) verifyPeer(cs tls.ConnectionState) error {
	id, err := p.verifier.PeerIdentity(&cs)
	if err != nil {
		return err
	}
	switch id.Role {
	case pki.RoleMember, pki.RoleApp, pki.RoleService:
		if p.membership(id.ServiceID) != nil {
			return nil
		}
		return fmt.Errorf("%s: this pod has not joined service %d", id.Name, id.ServiceID)
	}
	return fmt.Errorf("%s: a %s certificate does not give access to a pod's data", id.Name, id.Role)
}

// peerConnKey marks the context of a peer port connection; its value is a
// *peerConn.
type peerConnKey struct{}

// peerConn caches the identity of a peer connection's client, so that
// requests on a kept-alive connection do not verify the chain again.
type peerConn struct {
	mu    sync.Mutex
	id    *pki.Identity
	err   error
	until time.Time // the leaf's NotAfter: verify again after it
}

// peerIdentity returns who sent r on the peer port.
func (p *Pod) peerIdentity(r *http.Request) (*pki.Identity, error) {
	pc, _ := r.Context().Value(peerConnKey{}).(*peerConn)
	if pc == nil {
		return p.verifier.PeerIdentity(r.TLS)
	}
	pc.mu.Lock()
	defer pc.mu.Unlock()
	if (pc.id == nil && pc.err == nil) || p.now().After(pc.until) {
		pc.id, pc.err = p.verifier.PeerIdentity(r.TLS)
		if pc.err == nil {
			pc.until = r.TLS.PeerCertificates[0].NotAfter
		}
	}
	return pc.id, pc.err
}

// ownerHandler routes the owner port. Every request gets an id
// (internal/requestid) in its context, its logs and its response, and
// counts as activity for the idle watcher (idle.go).
func (p *Pod) ownerHandler() http.Handler {
	mux := http.NewServeMux()
	mux.Handle("/api/v1/pod/authtoken", p.route(portOwner, "authtoken", "", p.handleAuthToken))
	mux.Handle("/api/v1/pod/logout-everywhere", p.route(portOwner, "logout", "", p.handleLogoutEverywhere))
	mux.Handle(pathStatus, p.route(portOwner, "status", "", p.handleStatus))
	mux.Handle(pathMetrics, p.route(portOwner, "metrics", "", p.handleMetrics))
	mux.Handle("/api/v1/pod/join", p.route(portOwner, "join", "", p.handleJoin))
	p.routeMemberships(mux, p.ownerRoutes)
	mux.Handle("/", p.route(portOwner, "other", "", p.notFound))
	// Probes and scrapes do not keep the pod from being idle (idle.go).
	return p.metrics.activity.track(requestid.Handler(mux), pathStatus, pathMetrics)
}

// peerHandler routes the peer port: the GraphQL APIs only.
func (p *Pod) peerHandler() http.Handler {
	mux := http.NewServeMux()
	p.routeMemberships(mux, p.peerRoutes)
	mux.Handle("/", p.route(portPeer, "other", "", p.notFound))
	return p.metrics.activity.track(requestid.Handler(mux))
}

func sidLabel(sid uint32) string { return strconv.FormatUint(uint64(sid), 10) }

// ownerData serves a service's GraphQL API on the owner port: the owner
// with a token, anonymous without. The token's session goes along in the
// context, for a websocket to end with it.
func (p *Pod) ownerData(sid uint32) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		m := p.membership(sid)
		if m == nil {
			return p.notFound(w, r)
		}
		caller, s, err := p.ownerCaller(r, m)
		if err != nil {
			return err
		}
		ctx := graphql.WithCaller(r.Context(), caller)
		if s != nil {
			ctx = context.WithValue(ctx, sessionKey{}, s)
		}
		m.serveGraphQL(w, r.WithContext(ctx))
		return nil
	}
}

// peerData serves a service's GraphQL API on the peer port, to the caller
// the client certificate says.
func (p *Pod) peerData(sid uint32) handlerFunc {
	return func(w http.ResponseWriter, r *http.Request) error {
		m := p.membership(sid)
		if m == nil {
			return p.notFound(w, r)
		}
		id, err := p.peerIdentity(r)
		if err != nil {
			return errorf(http.StatusForbidden, codeForbidden, "client certificate refused: %v", err)
		}
		caller, err := p.peerCaller(r.Context(), id, m)
		if err != nil {
			return err
		}
		ctx := withPeerIdentity(graphql.WithCaller(r.Context(), caller), id)
		m.serveGraphQL(w, r.WithContext(ctx))
		return nil
	}
}

func (p *Pod) notFound(_ http.ResponseWriter, r *http.Request) error {
	list := p.memberships()
	paths := make([]string, len(list))
	for i, m := range list {
		paths[i] = m.path
	}
	return errorf(http.StatusNotFound, codeNotFound, "no such endpoint %s; this pod serves GraphQL at %v", r.URL.Path, paths)
}
