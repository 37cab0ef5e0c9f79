package podruntime

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/podruntime/peer"
	"github.com/byoda-go/byoda/podruntime/store"
)

// The fields a destination of listen_relations may have for the pod to
// record where a copied record came from, and to copy it only once.
const (
	originMemberField = "origin_member_id"
	originCursorField = "origin_cursor"
)

// Outcomes of a record of a followed pod, per destination, as the follows
// metric counts them.
const (
	followStored    = "stored"
	followDuplicate = "duplicate"
	followInvalid   = "invalid"
	followError     = "error"
)

// followOptions tune how a pod follows other pods. The zero value is the
// defaults; tests shorten the times.
type followOptions struct {
	// MinBackoff and MaxBackoff bound the wait before reconnecting to a
	// followed pod; it doubles from MinBackoff after each failure and is
	// jittered within its upper half.
	MinBackoff, MaxBackoff time.Duration
	// Settle is when, after subscribing, the follower reads what is new
	// once more: the followed pod starts watching a moment after it
	// accepts the subscription, and a record appended in that moment has
	// no event.
	Settle time.Duration
	// Poll is how often a connected follower reads what is new without an
	// event, in case the subscription went quiet without ending.
	Poll time.Duration
	// Resync is how often the links are read again without a change
	// reported by the store.
	Resync time.Duration
	// StateFlush is how often the last cursors are written to the state
	// file when they changed.
	StateFlush time.Duration
	// MaxFollowed bounds the pods (and classes) followed at once.
	MaxFollowed int
	// PageSize is the page of a catch-up query.
	PageSize int
	// RequestTimeout bounds one catch-up query.
	RequestTimeout time.Duration
	// MaxPages bounds the pages one catch-up reads; the next event or
	// poll goes on from there.
	MaxPages int
}

// Defaults of followOptions.
const (
	defaultFollowMinBackoff  = time.Second
	defaultFollowMaxBackoff  = time.Minute
	defaultFollowSettle      = 2 * time.Second
	defaultFollowPoll        = 5 * time.Minute
	defaultFollowResync      = time.Minute
	defaultFollowStateFlush  = time.Second
	defaultMaxFollowed       = 1000
	defaultFollowPageSize    = 100
	defaultFollowRequestTime = 30 * time.Second
	defaultFollowMaxPages    = 1000
	// maxFollowCursor bounds a cursor a followed pod sends.
	maxFollowCursor = 64
	// maxFollowSelectionDepth bounds the nesting of the fields a
	// catch-up query selects (arrays of objects in records).
	maxFollowSelectionDepth = 4
	// maxSeenCursors bounds the cursors a session remembers having
	// copied, to skip the events of records it read already.
	maxSeenCursors = 4096
)

func (o *followOptions) defaults() {
	set := func(d *time.Duration, v time.Duration) {
		if *d <= 0 {
			*d = v
		}
	}
	set(&o.MinBackoff, defaultFollowMinBackoff)
	set(&o.MaxBackoff, defaultFollowMaxBackoff)
	set(&o.Settle, defaultFollowSettle)
	set(&o.Poll, defaultFollowPoll)
	set(&o.Resync, defaultFollowResync)
	set(&o.StateFlush, defaultFollowStateFlush)
	set(&o.RequestTimeout, defaultFollowRequestTime)
	if o.MaxBackoff < o.MinBackoff {
		o.MaxBackoff = o.MinBackoff
	}
	if o.MaxFollowed <= 0 {
		o.MaxFollowed = defaultMaxFollowed
	}
	if o.PageSize <= 0 || o.PageSize > store.MaxFirst {
		o.PageSize = defaultFollowPageSize
	}
	if o.MaxPages <= 0 {
		o.MaxPages = defaultFollowMaxPages
	}
}

// followMembership follows the pods m's links and listen_relations name
// until ctx ends (a background task of the membership, memberTasks), and
// returns once its follows have ended and their state is written; it
// returns at once when m's contract follows nothing. A follower of a
// service starts only once the one before it (of a membership m
// replaced) has ended, so that the two never copy at once.
func (p *Pod) followMembership(ctx context.Context, m *membership) {
	f := p.newFollower(m)
	if f == nil {
		return
	}
	done := make(chan struct{})
	defer close(done)
	p.followers.mu.Lock()
	if p.followers.running == nil {
		p.followers.running = map[uint32]chan struct{}{}
	}
	prev := p.followers.running[m.sid]
	p.followers.running[m.sid] = done
	p.followers.mu.Unlock()
	if prev != nil {
		select {
		case <-prev:
		case <-ctx.Done():
			return
		}
	}
	// Read once the follower before has written its last cursors.
	f.state = loadFollowState(followStateFile(p.cfg.DataDir, m.sid), f.log)
	f.run(ctx)
}

// followers are the followers of the pod's services, one at a time per
// service.
type followers struct {
	mu sync.Mutex
	// running is the end of the latest follower of each service.
	running map[uint32]chan struct{}
}

// follower follows, for one membership, the pods its network links name
// with a relation of the contract's listen_relations: it copies the new
// records of each followed pod's class into the destination classes, each
// record once.
type follower struct {
	m       *membership
	client  *peer.Client
	log     *slog.Logger
	metrics *metrics
	sid     string
	opts    followOptions
	sources []*followSource // in the order of listen_relations
	state   *followState    // set when it runs

	wg    sync.WaitGroup
	tasks map[followKey]*followTask // only run's goroutine uses it
	// truncated is how many follows the last reconcile left out for
	// MaxFollowed, so that the warning is logged when it changes.
	truncated int
	// flushFailing says the last write of the state file failed.
	flushFailing bool
	// following is how many follows ran after the last reconcile.
	following int
}

// followKey is one followed class of one pod.
type followKey struct {
	class  string
	member uuid.UUID
}

// followSource is a class that listen_relations follow, with the rules
// that say where its records go.
type followSource struct {
	class *contract.Class
	rules []followRule
	// subscription and page are the GraphQL documents sent to the
	// followed pods.
	subscription, page string
}

// followRule is one listen relation: links with one of relations (lower
// case) copy records to dests.
type followRule struct {
	relations []string
	dests     []*followDest
}

// followDest is a class records are copied to, and how duplicates are
// told apart there.
type followDest struct {
	name  string
	class *contract.Class
	// origin: the class has origin_member_id and origin_cursor, filled in
	// and used to find a copy. Else key, when set, is the primary key
	// field whose value finds a copy; else nothing does.
	origin bool
	key    *contract.Field
	// mu makes finding a copy and appending one atomic.
	mu sync.Mutex
}

// newFollower returns the follower of m, or nil when its contract follows
// nothing. Listen relations it cannot serve are logged and left out.
func (p *Pod) newFollower(m *membership) *follower {
	c := m.contract
	if len(c.ListenRelations) == 0 {
		return nil
	}
	log := p.log.With("service", m.sid)
	if !m.links {
		log.Warn("The contract has listen_relations but no network_links class with member_id and relation: following nobody")
		return nil
	}
	opts := p.followOpts
	opts.defaults()
	f := &follower{
		m: m, client: m.network.client, log: log, metrics: p.metrics, sid: sidLabel(m.sid), opts: opts,
		tasks: map[followKey]*followTask{},
	}
	dests := map[string]*followDest{}
	// sourceOf is the class each destination with origin fields copies
	// from: the cursors of two classes cannot be told apart there.
	sourceOf := map[string]string{}
	for i, lr := range c.ListenRelations {
		src := c.Class(lr.ClassName)
		if src == nil || src.RecordClass() == nil {
			log.Error("Could not follow a listen relation: its class_name is not a class of records", "listen_relation", i, "class", lr.ClassName)
			continue
		}
		rule := followRule{}
		for _, r := range lr.Relations {
			if r = strings.ToLower(r); !slices.Contains(rule.relations, r) {
				rule.relations = append(rule.relations, r)
			}
		}
		for _, name := range []string{lr.DestinationClass, lr.FeedClass} {
			if name == "" || slices.ContainsFunc(rule.dests, func(d *followDest) bool { return d.name == name }) {
				continue
			}
			d := dests[name]
			if d == nil {
				if d = newFollowDest(c, name); d == nil {
					log.Error("Could not follow a listen relation: its destination is not a class of records", "listen_relation", i, "class", name)
					continue
				}
				dests[name] = d
				if !d.origin && d.key == nil {
					log.Warn("Records copied to this class may be copied more than once: it has neither origin_member_id and origin_cursor nor a primary key to find a copy by",
						"class", name)
				}
			}
			if d.origin {
				if prev, ok := sourceOf[name]; ok && prev != lr.ClassName {
					log.Error("Could not follow a listen relation: its destination already holds the records of another class, whose origin_cursor values it could not tell apart",
						"listen_relation", i, "class", lr.ClassName, "destination", name, "other", prev)
					continue
				}
				sourceOf[name] = lr.ClassName
			}
			rule.dests = append(rule.dests, d)
		}
		if len(rule.relations) == 0 || len(rule.dests) == 0 {
			continue
		}
		var s *followSource
		for _, have := range f.sources {
			if have.class == src {
				s = have
			}
		}
		if s == nil {
			s = newFollowSource(src)
			f.sources = append(f.sources, s)
		}
		s.rules = append(s.rules, rule)
	}
	if len(f.sources) == 0 {
		return nil
	}
	return f
}

// newFollowDest returns the destination class name, or nil when it is not
// a class of records.
func newFollowDest(c *contract.Contract, name string) *followDest {
	cls := c.Class(name)
	if cls == nil || cls.Kind != contract.KindArrayOfObjects || cls.RecordClass() == nil {
		return nil
	}
	d := &followDest{name: name, class: cls}
	om, oc := cls.Field(originMemberField), cls.Field(originCursorField)
	d.origin = om != nil && oc != nil && om.Type == contract.TypeString && oc.Type == contract.TypeString
	if !d.origin {
		if pk := cls.PrimaryKey(); pk != nil && pk.Items == nil {
			d.key = pk
		}
	}
	return d
}

// newFollowSource writes the GraphQL documents that follow class src.
func newFollowSource(src *contract.Class) *followSource {
	sel := selection(src.RecordClass(), 0)
	return &followSource{
		class:        src,
		subscription: "subscription { " + src.Name + "_updates { action cursor origin } }",
		page: "query($first: Int, $after: String) { " + src.Name + "_connection(first: $first, after: $after) " +
			"{ edges { cursor origin node {" + sel + " } } page_info { has_next_page } } }",
	}
}

// selection lists the fields of records of c for a GraphQL selection,
// with the fields of arrays of objects in braces.
func selection(c *contract.Class, depth int) string {
	var b strings.Builder
	for _, f := range c.Fields {
		if f.Items != nil && f.Items.Class != nil {
			if depth >= maxFollowSelectionDepth {
				continue
			}
			b.WriteString(" " + f.Name + " {" + selection(f.Items.Class, depth+1) + " }")
			continue
		}
		b.WriteString(" " + f.Name)
	}
	return b.String()
}

// run follows the linked pods until ctx ends: it starts and stops
// following as network_links change (reported by the store, and read
// again every Resync in case), then waits for every follow to end and
// writes the state.
func (f *follower) run(ctx context.Context) {
	changed := make(chan struct{}, 1)
	stopWatch, err := f.m.store.WatchClass(linksClass, nil, func(store.Change) {
		// The link cache learns of the change from a watcher of its own,
		// which the store may call after this one: retire its entries
		// now, so that reconcile reads the links as changed.
		if c := f.m.linkCache; c != nil {
			c.gen.Add(1)
		}
		select {
		case changed <- struct{}{}:
		default:
		}
	})
	if err != nil {
		f.log.Error("Could not watch network_links; reading them every resync interval", "err", err, "resync", f.opts.Resync.String())
	} else {
		defer stopWatch()
	}
	resync := time.NewTicker(f.opts.Resync)
	defer resync.Stop()
	flush := time.NewTicker(f.opts.StateFlush)
	defer flush.Stop()
	defer func() {
		for _, t := range f.tasks {
			t.cancel()
		}
		f.wg.Wait()
		f.metrics.followed.WithLabelValues(f.sid).Set(0)
		f.flush()
	}()
	f.reconcile(ctx)
	for {
		select {
		case <-ctx.Done():
			return
		case <-changed:
			f.reconcile(ctx)
		case <-resync.C:
			f.reconcile(ctx)
		case <-flush.C:
			f.flush()
		}
	}
}

// flush writes the state file when the cursors changed. A failure is
// logged when it starts, not every time.
func (f *follower) flush() {
	err := f.state.flush()
	switch {
	case err != nil && !f.flushFailing:
		f.log.Warn("Could not save the cursors of followed pods; they are kept in memory", "file", f.state.file, "err", err)
	case err == nil && f.flushFailing:
		f.log.Info("Saved the cursors of followed pods again", "file", f.state.file)
	}
	f.flushFailing = err != nil
}

// reconcile follows what the links say to follow now: it stops the
// follows of links that are gone and starts those of new links.
func (f *follower) reconcile(ctx context.Context) {
	links, err := f.m.allLinks(ctx)
	if err != nil {
		if ctx.Err() == nil {
			f.log.Warn("Could not read network_links; following the pods followed before", "err", err)
		}
		return
	}
	want, left := f.desired(links)
	if left != f.truncated {
		if left > 0 {
			f.log.Warn("Following only some of the linked pods: at most max_followed at once", "max_followed", f.opts.MaxFollowed, "left_out", left)
		}
		f.truncated = left
	}
	stopped := map[followKey]*followTask{}
	for key, t := range f.tasks {
		dests, ok := want[key]
		if ok && slices.Equal(dests, t.dests) {
			continue
		}
		if !ok {
			// Following again later starts from the beginning, and
			// finding copies keeps that to one of each record.
			t.forget.Store(true)
			f.log.Debug("Stopped following", "member", key.member.String(), "class", key.class)
		}
		t.cancel()
		delete(f.tasks, key)
		stopped[key] = t
	}
	for key, dests := range want {
		if f.tasks[key] != nil {
			continue
		}
		t := f.start(ctx, key, dests, stopped[key])
		f.tasks[key] = t
		f.log.Debug("Following", "member", key.member.String(), "class", key.class, "destinations", destNames(dests))
	}
	if n := len(f.tasks); n != f.following {
		f.log.Info("Following linked pods", "follows", n, "was", f.following)
		f.following = n
	}
	f.metrics.followed.WithLabelValues(f.sid).Set(float64(len(f.tasks)))
}

// desired returns the follows links ask for, with their destinations,
// at most MaxFollowed of them in the order the links were made, and how
// many more there would be.
func (f *follower) desired(links []link) (map[followKey][]*followDest, int) {
	want := map[followKey][]*followDest{}
	left := map[followKey]bool{}
	for _, l := range links {
		if l.member == f.m.memberID {
			continue
		}
		for _, s := range f.sources {
			key := followKey{class: s.class.Name, member: l.member}
			for _, r := range s.rules {
				if !slices.Contains(r.relations, l.relation) {
					continue
				}
				if _, ok := want[key]; !ok && len(want) >= f.opts.MaxFollowed {
					left[key] = true
					continue
				}
				for _, d := range r.dests {
					if !slices.Contains(want[key], d) {
						want[key] = append(want[key], d)
					}
				}
			}
		}
	}
	for key, dests := range want {
		slices.SortFunc(dests, func(a, b *followDest) int { return strings.Compare(a.name, b.name) })
		want[key] = dests
	}
	return want, len(left)
}

func destNames(dests []*followDest) []string {
	names := make([]string, len(dests))
	for i, d := range dests {
		names[i] = d.name
	}
	return names
}

// followTask follows one class of one pod.
type followTask struct {
	f      *follower
	key    followKey
	src    *followSource
	dests  []*followDest
	ctx    context.Context
	cancel context.CancelFunc
	done   chan struct{}
	// seen are the cursors of the records this session has read, whose
	// events need no catch-up.
	seen map[string]struct{}
	// warned says an invalid record was logged at warn level in this
	// session.
	warned bool
	// forget says to drop the cursor when the task ends: the link is
	// gone.
	forget atomic.Bool
}

// start runs the follow of key; it begins once prev (an earlier follow of
// the same key, being stopped) has ended.
func (f *follower) start(ctx context.Context, key followKey, dests []*followDest, prev *followTask) *followTask {
	var src *followSource
	for _, s := range f.sources {
		if s.class.Name == key.class {
			src = s
		}
	}
	t := &followTask{f: f, key: key, src: src, dests: dests, done: make(chan struct{})}
	t.ctx, t.cancel = context.WithCancel(ctx)
	f.wg.Go(func() {
		defer close(t.done)
		if prev != nil {
			<-prev.done
		}
		t.run()
		if t.forget.Load() {
			f.state.drop(key)
		}
	})
	return t
}

// run follows until the task is stopped: one session after the other,
// with a jittered, growing wait after each that fails.
func (t *followTask) run() {
	ctx, log := t.ctx, t.f.log.With("member", t.key.member.String(), "class", t.key.class)
	failures := 0
	for ctx.Err() == nil {
		connected, err := t.session(ctx)
		if ctx.Err() != nil {
			return
		}
		switch {
		case connected:
			failures = 0
			log.Warn("Lost the connection to a followed pod; reconnecting", "err", err)
		case failures == 0:
			log.Warn("Could not follow a pod; retrying", "err", err)
		default:
			log.Debug("Could not follow a pod; retrying", "err", err, "failures", failures)
		}
		wait := backoff(t.f.opts.MinBackoff, t.f.opts.MaxBackoff, failures)
		failures++
		select {
		case <-ctx.Done():
			return
		case <-time.After(wait):
		}
	}
}

// backoff is the wait after failures failures in a row: a random time in
// the upper half of min*2^failures, at most max, and never less than min.
func backoff(minWait, maxWait time.Duration, failures int) time.Duration {
	b := 2 * minWait
	for range failures {
		if b >= maxWait {
			break
		}
		b *= 2
	}
	b = min(b, maxWait)
	wait := b/2 + rand.N(b/2+1)
	return max(wait, minWait)
}

// errSubscriptionEnded is a subscription the followed pod completed.
var errSubscriptionEnded = errors.New("the followed pod ended the subscription")

// session subscribes to the followed pod's updates, reads what it missed,
// then reads again on each append event, Settle after subscribing and
// every Poll. connected says it caught up and the subscription lasted
// until Settle: one that ends sooner (refused, say) is a failure, retried
// after a growing wait.
//
// An event only says that there is something new: the records are read
// with the connection query after the last cursor, so that an event the
// followed pod dropped (it drops them for a subscriber that falls
// behind) loses nothing, and events of records a catch-up read already
// cost nothing.
func (t *followTask) session(ctx context.Context) (connected bool, err error) {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	sub, err := t.f.client.Subscribe(ctx, t.key.member, &peer.Request{Query: t.src.subscription})
	if err != nil {
		return false, fmt.Errorf("subscribe: %w", err)
	}
	defer sub.Close()
	t.seen, t.warned = map[string]struct{}{}, false
	if err := t.catchUp(ctx); err != nil {
		return false, err
	}
	timer := time.NewTimer(t.f.opts.Settle)
	defer timer.Stop()
	settled := false
	for {
		select {
		case <-ctx.Done():
			return settled, ctx.Err()
		case <-timer.C:
			settled = true
			timer.Reset(t.f.opts.Poll)
		case ev, ok := <-sub.Events():
			if !ok {
				return settled, orErr(sub.Err(), errSubscriptionEnded)
			}
			news := t.news(ev)
			// Take the events waiting already, for one catch-up.
			for more := true; more; {
				select {
				case ev, ok := <-sub.Events():
					if !ok {
						return settled, orErr(sub.Err(), errSubscriptionEnded)
					}
					news = t.news(ev) || news
				default:
					more = false
				}
			}
			if !news {
				continue
			}
		}
		if err := t.catchUp(ctx); err != nil {
			return settled, err
		}
	}
}

// orErr is err, or otherwise when err is nil.
func orErr(err, otherwise error) error {
	if err != nil {
		return err
	}
	return otherwise
}

// news says whether an event may be of a record not read yet: an append
// of a cursor this session has not read. Updates and deletes are not
// copied.
func (t *followTask) news(ev *peer.Response) bool {
	var data map[string]*struct {
		Action string `json:"action"`
		Cursor string `json:"cursor"`
	}
	if err := json.Unmarshal(ev.Data, &data); err != nil {
		return true // read to find out
	}
	e := data[t.src.class.Name+"_updates"]
	if e == nil {
		return len(ev.Errors) == 0
	}
	if e.Action != "append" {
		return false
	}
	_, seen := t.seen[e.Cursor]
	return !seen
}

// followEdge is a record of a followed pod with its cursor.
type followEdge struct {
	cursor string
	record map[string]any // nil when the pod sent something else
}

// catchUp copies the records after the last cursor of the followed pod,
// page after page, and moves the cursor past them.
func (t *followTask) catchUp(ctx context.Context) error {
	after := t.f.state.get(t.key)
	for range t.f.opts.MaxPages {
		edges, hasNext, err := t.fetch(ctx, after)
		if err != nil {
			return err
		}
		if len(edges) == 0 {
			return nil
		}
		if err := t.copyRecords(ctx, edges); err != nil {
			return err
		}
		last := edges[len(edges)-1].cursor
		if len(t.seen) >= maxSeenCursors {
			clear(t.seen)
		}
		for _, e := range edges {
			t.seen[e.cursor] = struct{}{}
		}
		t.f.state.set(t.key, last)
		if !hasNext || last == after {
			return nil
		}
		after = last
	}
	return nil
}

// fetch reads the page of the followed pod's records after cursor after.
func (t *followTask) fetch(ctx context.Context, after string) ([]followEdge, bool, error) {
	ctx, cancel := context.WithTimeout(ctx, t.f.opts.RequestTimeout)
	defer cancel()
	vars := map[string]any{"first": t.f.opts.PageSize}
	if after != "" {
		vars["after"] = after
	}
	mid := t.key.member
	resp, err := t.f.client.GraphQL(ctx, mid, &peer.Request{Query: t.src.page, Variables: vars})
	if err != nil {
		return nil, false, fmt.Errorf("read %s: %w", t.key.class, err)
	}
	field := t.key.class + "_connection"
	var data map[string]*struct {
		Edges []struct {
			Cursor string          `json:"cursor"`
			Origin string          `json:"origin"`
			Node   json.RawMessage `json:"node"`
		} `json:"edges"`
		PageInfo struct {
			HasNextPage bool `json:"has_next_page"`
		} `json:"page_info"`
	}
	if len(resp.Data) > 0 {
		if err := json.Unmarshal(resp.Data, &data); err != nil {
			return nil, false, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("read %s: %w", t.key.class, err)}
		}
	}
	page := data[field]
	if page == nil {
		if len(resp.Errors) > 0 {
			e := resp.Errors[0]
			return nil, false, &peer.Error{Kind: peer.KindRefused, Member: mid, Err: fmt.Errorf("read %s: %s (%s)", t.key.class, clipText(e.Message), e.Code())}
		}
		return nil, false, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("read %s: the answer has no %s", t.key.class, field)}
	}
	if len(page.Edges) > t.f.opts.PageSize {
		return nil, false, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("read %s: %d records for a page of %d", t.key.class, len(page.Edges), t.f.opts.PageSize)}
	}
	edges := make([]followEdge, len(page.Edges))
	for i, e := range page.Edges {
		if e.Cursor == "" || len(e.Cursor) > maxFollowCursor {
			return nil, false, &peer.Error{Kind: peer.KindInvalid, Member: mid, Err: fmt.Errorf("read %s: record %d has no cursor, or one over %d bytes", t.key.class, i, maxFollowCursor)}
		}
		edges[i].cursor = e.Cursor
		if e.Origin != "" && e.Origin != mid.String() {
			// The pod answers for itself at depth 0; a record of
			// another origin is not its to give.
			continue
		}
		dec := json.NewDecoder(bytes.NewReader(e.Node))
		dec.UseNumber()
		var node any
		if err := dec.Decode(&node); err == nil {
			if rec, ok := dropNulls(node).(map[string]any); ok {
				edges[i].record = rec
			}
		}
	}
	return edges, page.PageInfo.HasNextPage, nil
}

// dropNulls removes the null fields of records, which GraphQL sends for
// fields without a value and a record leaves out.
func dropNulls(v any) any {
	switch v := v.(type) {
	case map[string]any:
		for k, e := range v {
			if e == nil {
				delete(v, k)
			} else {
				v[k] = dropNulls(e)
			}
		}
	case []any:
		for i, e := range v {
			v[i] = dropNulls(e)
		}
	}
	return v
}

// copyRecords appends the records of edges, with their origin, to each
// destination that does not hold them yet. A record a destination does
// not accept is counted and skipped.
func (t *followTask) copyRecords(ctx context.Context, edges []followEdge) error {
	fields := t.src.class.RecordClass()
	for _, d := range t.dests {
		recs := make([]map[string]any, 0, len(edges))
		cursors := make([]string, 0, len(edges))
		for _, e := range edges {
			rec, err := t.destRecord(d, fields, e)
			if err != nil {
				t.invalid(d, e.cursor, err)
				continue
			}
			recs = append(recs, rec)
			cursors = append(cursors, e.cursor)
		}
		if err := t.appendNew(ctx, d, recs, cursors); err != nil {
			return err
		}
	}
	return nil
}

// destRecord is the record of e as destination d holds it: the fields of
// the source class, and the origin when d has fields for it.
func (t *followTask) destRecord(d *followDest, src *contract.Class, e followEdge) (map[string]any, error) {
	if e.record == nil {
		return nil, errors.New("the followed pod sent no record, or one of another origin")
	}
	rec := make(map[string]any, len(src.Fields)+2)
	for _, f := range src.Fields {
		if v, ok := e.record[f.Name]; ok {
			rec[f.Name] = v
		}
	}
	if d.class.Field(originMemberField) != nil {
		rec[originMemberField] = t.key.member.String()
	}
	if d.class.Field(originCursorField) != nil {
		rec[originCursorField] = e.cursor
	}
	if err := d.class.ValidateRecord(rec); err != nil {
		return nil, err
	}
	return rec, nil
}

// invalid counts and logs a record destination d does not accept.
func (t *followTask) invalid(d *followDest, cursor string, err error) {
	t.f.metrics.follows.WithLabelValues(t.f.sid, followInvalid).Inc()
	level := slog.LevelDebug
	if !t.warned {
		level, t.warned = slog.LevelWarn, true
	}
	t.f.log.Log(t.ctx, level, "Skipped a record of a followed pod that the destination does not accept",
		"member", t.key.member.String(), "class", t.key.class, "destination", d.name, "origin_cursor", cursor, "err", clipText(err.Error()))
}

// appendNew adds the records d does not hold yet, in one write.
func (t *followTask) appendNew(ctx context.Context, d *followDest, recs []map[string]any, cursors []string) error {
	if len(recs) == 0 {
		return nil
	}
	d.mu.Lock()
	defer d.mu.Unlock()
	fresh := make([]any, 0, len(recs))
	keys := map[string]bool{}
	dups := 0
	for i, rec := range recs {
		filter, key := t.copyFilter(d, rec, cursors[i])
		if filter != nil {
			if keys[key] {
				dups++
				continue
			}
			keys[key] = true
			held, err := t.holds(ctx, d, filter)
			if err != nil {
				t.f.metrics.follows.WithLabelValues(t.f.sid, followError).Add(float64(len(recs) - i))
				return err
			}
			if held {
				dups++
				continue
			}
		}
		fresh = append(fresh, rec)
	}
	t.f.metrics.follows.WithLabelValues(t.f.sid, followDuplicate).Add(float64(dups))
	if len(fresh) == 0 {
		return nil
	}
	if _, err := t.f.m.store.Append(ctx, d.name, fresh...); err != nil {
		t.f.metrics.follows.WithLabelValues(t.f.sid, followError).Add(float64(len(fresh)))
		return fmt.Errorf("copy to %s: %w", d.name, err)
	}
	t.f.metrics.follows.WithLabelValues(t.f.sid, followStored).Add(float64(len(fresh)))
	return nil
}

// copyFilter is the filter that finds a copy of rec in d, and a key that
// is the same for two records it would find; nil when d has no way to
// find one.
func (t *followTask) copyFilter(d *followDest, rec map[string]any, cursor string) (store.Filter, string) {
	if d.origin {
		mid := t.key.member.String()
		return store.Filter{
			{Field: originMemberField, Op: store.OpEq, Value: mid},
			{Field: originCursorField, Op: store.OpEq, Value: cursor},
		}, mid + "/" + cursor
	}
	if d.key == nil {
		return nil, ""
	}
	v, ok := rec[d.key.Name]
	if !ok {
		return nil, ""
	}
	op := store.OpEq
	if d.key.Format == contract.FormatDateTime {
		op = store.OpAt
	}
	return store.Filter{{Field: d.key.Name, Op: op, Value: v}}, fmt.Sprint(v)
}

// holds says whether d has a record that filter finds.
func (t *followTask) holds(ctx context.Context, d *followDest, filter store.Filter) (bool, error) {
	page, err := t.f.m.store.Query(ctx, d.name, store.Query{Filter: filter, First: 1, SkipCount: true, Rows: true})
	if err != nil {
		return false, fmt.Errorf("find a copy in %s: %w", d.name, err)
	}
	defer page.Release()
	return len(page.Edges) > 0, nil
}

// followStateFile is where a pod keeps the last cursor it copied of each
// followed pod's class, for service sid: beside the stores' high-water
// marks.
func followStateFile(dataDir string, sid uint32) string {
	return filepath.Join(dataDir, "state", "follow-service-"+strconv.FormatUint(uint64(sid), 10)+".json")
}

// maxFollowStateBytes bounds the state file read at start-up.
const maxFollowStateBytes = 16 << 20

// followState is the last cursor copied per followed class and pod, kept
// in a file. It is an optimization: without it (lost, unreadable, behind
// after a crash) a follow reads the followed pod from the beginning, and
// finding copies keeps each record to one copy.
type followState struct {
	file  string
	log   *slog.Logger
	mu    sync.Mutex
	state followStateDoc
	dirty bool
}

// followStateDoc is the state file's content.
type followStateDoc struct {
	// Cursors are by class, then by member id.
	Cursors map[string]map[string]string `json:"cursors"`
}

func loadFollowState(file string, log *slog.Logger) *followState {
	s := &followState{file: file, log: log, state: followStateDoc{Cursors: map[string]map[string]string{}}}
	fh, err := os.Open(file)
	if errors.Is(err, fs.ErrNotExist) {
		return s
	}
	var doc followStateDoc
	if err == nil {
		var data []byte
		data, err = io.ReadAll(io.LimitReader(fh, maxFollowStateBytes+1))
		fh.Close()
		switch {
		case err != nil:
		case len(data) > maxFollowStateBytes:
			err = fmt.Errorf("over %d bytes", maxFollowStateBytes)
		default:
			err = json.Unmarshal(data, &doc)
		}
	}
	if err != nil {
		log.Warn("Could not read the cursors of followed pods; reading them from the beginning, without copying a record twice", "file", file, "err", err)
		return s
	}
	for class, byMember := range doc.Cursors {
		for mid, cursor := range byMember {
			if _, err := uuid.Parse(mid); err == nil && cursor != "" && len(cursor) <= maxFollowCursor {
				if s.state.Cursors[class] == nil {
					s.state.Cursors[class] = map[string]string{}
				}
				s.state.Cursors[class][mid] = cursor
			}
		}
	}
	return s
}

func (s *followState) get(key followKey) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.state.Cursors[key.class][key.member.String()]
}

// set records cursor as the last one read of key.
func (s *followState) set(key followKey, cursor string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.state.Cursors[key.class] == nil {
		s.state.Cursors[key.class] = map[string]string{}
	}
	s.state.Cursors[key.class][key.member.String()] = cursor
	s.dirty = true
}

func (s *followState) drop(key followKey) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if byMember := s.state.Cursors[key.class]; byMember != nil {
		if _, ok := byMember[key.member.String()]; ok {
			delete(byMember, key.member.String())
			s.dirty = true
		}
	}
}

// flush writes the state, atomically, when it changed.
func (s *followState) flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !s.dirty {
		return nil
	}
	data, err := json.Marshal(s.state)
	if err != nil {
		return err
	}
	if err := os.MkdirAll(filepath.Dir(s.file), 0o700); err != nil {
		return err
	}
	if err := writeFileAtomic(s.file, append(data, '\n')); err != nil {
		return err
	}
	s.dirty = false
	return nil
}
