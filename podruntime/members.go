package podruntime

import (
	"cmp"
	"context"
	"crypto/tls"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/podruntime/peer"
)

// memberSet is the pod's memberships at one moment. It is never changed
// once published: a join or an upgrade publishes a new set (copy on
// write), so that requests read the memberships without a lock while the
// pod serves.
type memberSet struct {
	list  []*membership // by service id
	bySID map[uint32]*membership
	// sni are the server certificates of the peer port by name: the
	// account's and each membership's.
	sni map[string]*tls.Certificate
}

// memberships returns the pod's memberships, by service id.
func (p *Pod) memberships() []*membership { return p.members.Load().list }

// membership returns the membership of service sid, or nil.
func (p *Pod) membership(sid uint32) *membership { return p.members.Load().bySID[sid] }

// serviceIDs returns the ids of the joined services, in order.
func (p *Pod) serviceIDs() []uint32 {
	list := p.memberships()
	ids := make([]uint32, len(list))
	for i, m := range list {
		ids[i] = m.sid
	}
	return ids
}

// routing is what publish needs to extend the ports' routes and to start a
// membership's background work while the pod serves. Its lock orders
// publications with the start of serving.
type routing struct {
	mu      sync.Mutex
	routers []*router
	// tasks is the context of the background work of memberships, from
	// the start of serving until it ends; nil before.
	tasks context.Context
	wg    sync.WaitGroup
}

// router routes the API of each membership on one port's mux.
type router struct {
	mux    *http.ServeMux
	add    func(mux *http.ServeMux, sid uint32)
	routed map[uint32]bool
}

func (r *router) route(sid uint32) {
	if !r.routed[sid] {
		r.add(r.mux, sid)
		r.routed[sid] = true
	}
}

// routeMemberships routes the API of every membership on mux with add,
// now and whenever a service is joined later. The handlers add registers
// look the membership up for each request, so an upgrade needs no new
// route.
func (p *Pod) routeMemberships(mux *http.ServeMux, add func(mux *http.ServeMux, sid uint32)) {
	p.routing.mu.Lock()
	defer p.routing.mu.Unlock()
	r := &router{mux: mux, add: add, routed: map[uint32]bool{}}
	for _, m := range p.memberships() {
		r.route(m.sid)
	}
	p.routing.routers = append(p.routing.routers, r)
}

// publish makes m the pod's membership of its service, in place of the one
// it had (returned, nil for a new service): requests from now on go to
// m. It routes a new service's API on both ports and, while the pod
// serves, starts m's background work.
func (p *Pod) publish(m *membership) (old *membership) {
	p.routing.mu.Lock()
	defer p.routing.mu.Unlock()
	cur := p.members.Load()
	next := &memberSet{bySID: maps.Clone(cur.bySID), sni: maps.Clone(cur.sni)}
	old = next.bySID[m.sid]
	if old != nil {
		delete(next.sni, old.memberName)
	}
	next.bySID[m.sid] = m
	next.sni[m.memberName] = &m.cert
	next.list = slices.SortedFunc(maps.Values(next.bySID), func(a, b *membership) int { return cmp.Compare(a.sid, b.sid) })
	p.members.Store(next)
	for _, r := range p.routing.routers {
		r.route(m.sid)
	}
	if p.routing.tasks != nil {
		p.startTasks(m)
	}
	return old
}

// memberTasks are the background work each membership has while the pod
// serves: each runs from the start of serving (or from the membership's
// publication, for a service joined or upgraded later) until serving ends
// or the membership is retired.
func (p *Pod) memberTasks() []func(ctx context.Context, m *membership) {
	return []func(ctx context.Context, m *membership){p.watchContract, p.followMembership}
}

// startBackground starts the background work of every membership, and of
// those published later, until ctx ends or the returned stop is called;
// stop waits for it to end. The caller holds no lock.
func (p *Pod) startBackground(ctx context.Context) (stop func()) {
	ctx, cancel := context.WithCancel(ctx)
	p.routing.mu.Lock()
	p.routing.tasks = ctx
	for _, m := range p.memberships() {
		p.startTasks(m)
	}
	p.routing.mu.Unlock()
	return func() {
		cancel()
		// A service joined from now on starts no background work.
		p.routing.mu.Lock()
		p.routing.tasks = nil
		p.routing.mu.Unlock()
		p.routing.wg.Wait()
	}
}

// startTasks starts m's background work. The caller holds routing.mu.
func (p *Pod) startTasks(m *membership) {
	ctx, cancel := context.WithCancel(p.routing.tasks)
	stop := context.AfterFunc(m.life, cancel)
	for _, task := range p.memberTasks() {
		p.routing.wg.Go(func() {
			task(ctx, m)
		})
	}
	context.AfterFunc(ctx, func() { stop() })
}

// serveGraphQL serves r with m's GraphQL handler. A websocket ends when m
// is retired (a new version of the contract took its place), so that its
// client reconnects to the API of the new version.
func (m *membership) serveGraphQL(w http.ResponseWriter, r *http.Request) {
	if strings.EqualFold(r.Header.Get("Upgrade"), "websocket") {
		ctx, cancel := context.WithCancel(r.Context())
		defer cancel()
		stop := context.AfterFunc(m.life, cancel)
		defer stop()
		r = r.WithContext(ctx)
	}
	m.graphql.ServeHTTP(w, r)
}

// retire ends what m serves once another membership took its place: its
// websockets and background work, and its connections to other pods. Its
// store is closed by whoever replaced it.
func (m *membership) retire() {
	m.end()
	if m.network != nil {
		m.network.client.Close()
	}
}

// ownerRoutes routes the GraphQL API of service sid on the owner port.
func (p *Pod) ownerRoutes(mux *http.ServeMux, sid uint32) {
	mux.Handle(peer.DataPath(sid), p.route(portOwner, "data", sidLabel(sid), p.ownerData(sid)))
}

// peerRoutes routes the GraphQL API and the member-data certificate of
// service sid on the peer port.
func (p *Pod) peerRoutes(mux *http.ServeMux, sid uint32) {
	mux.Handle(peer.DataPath(sid), p.route(portPeer, "data", sidLabel(sid), p.peerData(sid)))
	mux.Handle(peer.DataCertPath(sid), p.route(portPeer, "data-cert", sidLabel(sid), func(w http.ResponseWriter, r *http.Request) error {
		m := p.membership(sid)
		if m == nil {
			return p.notFound(w, r)
		}
		return m.serveDataCert(m.dataCert)(w, r)
	}))
}

// MemberID returns the pod's member id of service sid, and whether the
// pod has joined the service.
func (p *Pod) MemberID(sid uint32) (uuid.UUID, bool) {
	m := p.membership(sid)
	if m == nil {
		return uuid.Nil, false
	}
	return m.memberID, true
}
