package main

import (
	"bytes"
	"cmp"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/directory/dns"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/peer"
)

// p2pEnv is the network of a p2p run: PKI, DNS server, ports, pods.
type p2pEnv struct {
	byoda     string
	tmp       string
	dir       *pki.Dir
	roots     *x509.CertPool
	zone      *dns.Server
	dnsAddr   string
	ownerPort int
	peerPort  int
	demoFile  string
	idle      time.Duration // the pods' --idle-release; 0 is their default
	next      netip.Addr
	pods      []*p2pPod
}

// p2pPod is one pod process of the run.
type p2pPod struct {
	name     string
	addr     netip.Addr
	account  uuid.UUID
	member   uuid.UUID
	dataDir  string
	password string
	fanOut   int // --fanout; 0 is the default
	cmd      *exec.Cmd
	exited   chan struct{}
	client   *http.Client
	token    string
}

// The p2p run's query: every post of the pods linked as friends, to the
// depth asked, with each record's origin.
const p2pQuery = `query($d: Int) { posts_connection(depth: $d, relations: ["friend"], first: 500) {
	edges { origin node { post_id text } } page_info { has_next_page } } }`

// runP2P measures recursive queries between pod processes on loopback:
// a depth-1 query from one pod over the pods it links to, and a depth-2
// query over a tree of pods, with the pods' default fan-out and with
// --fanout 1, and the idle memory of the pods.
func runP2P(args []string) error {
	fs := flag.NewFlagSet("p2p", flag.ContinueOnError)
	byoda := fs.String("byoda", "", "byoda binary (default: go build one as the image does, CGO_ENABLED=0)")
	wide := fs.Int("wide", 50, "pods the depth-1 query's origin links to")
	fan := fs.Int("fan", 10, "pods the depth-2 query's origin links to; each links to fan-1 more")
	queries := fs.Int("queries", 200, "measured queries per scenario")
	warmup := fs.Int("warmup", 20, "queries before measuring, per scenario")
	settle := fs.Duration("settle", 150*time.Second, "idle time after the queries before the last memory reading (the Go runtime collects garbage every 2 minutes when idle)")
	idleRelease := fs.Duration("idle-release", 0, "the pods' --idle-release (default: theirs, launch.DefaultIdleRelease; negative: never, as before the pods had it)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	// A pod releases between one and one and a half idle periods after its
	// last request: read its memory a little after that, and again later.
	period := *idleRelease
	if period == 0 {
		period = launch.DefaultIdleRelease
	}
	idleWait := 5 * time.Second
	if period > 0 {
		idleWait = period*3/2 + 5*time.Second
	}
	if *settle <= idleWait {
		return fmt.Errorf("-settle %s: want more than %s, a pod's idle release (-idle-release %s) and some", *settle, idleWait, period)
	}
	deep := *fan * *fan
	if *wide > deep {
		return fmt.Errorf("-wide %d: the depth-1 origin links to pods of the depth-2 tree; want at most fan² = %d", *wide, deep)
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "byoda-bench-p2p-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *byoda == "" {
		*byoda = filepath.Join(tmp, "byoda")
		build := exec.Command("go", "build", "-trimpath", "-o", *byoda, ".")
		build.Dir, build.Stderr = root, os.Stderr
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := build.Run(); err != nil {
			return fmt.Errorf("build byoda: %w", err)
		}
	}
	load, _ := os.ReadFile("/proc/loadavg")
	e := &p2pEnv{byoda: *byoda, tmp: tmp, idle: *idleRelease, demoFile: filepath.Join(root, "config", "samples", "contracts", "addressbook-demo.json")}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	if err := e.setup(ctx); err != nil {
		return err
	}
	defer e.stopAll()

	// The pods: the depth-2 tree (origin, fan pods, fan*(fan-1) below
	// them) and the depth-1 origin, which links to the first wide pods of
	// the tree below its origin.
	start := time.Now()
	o2, err := e.newPod("origin-2")
	if err != nil {
		return err
	}
	o1, err := e.newPod("origin-1")
	if err != nil {
		return err
	}
	var mids, leaves []*p2pPod
	for i := range *fan {
		p, err := e.newPod(fmt.Sprintf("hop1-%d", i))
		if err != nil {
			return err
		}
		mids = append(mids, p)
	}
	for i := range *fan * (*fan - 1) {
		p, err := e.newPod(fmt.Sprintf("hop2-%d", i))
		if err != nil {
			return err
		}
		leaves = append(leaves, p)
	}
	if err := e.startAll(e.pods); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "started %d pods in %s\n", len(e.pods), time.Since(start).Round(time.Millisecond))

	// Links (friend, both ways in the tree) and one post per pod.
	start = time.Now()
	type linkPair struct{ from, to *p2pPod }
	var links []linkPair
	for i, m := range mids {
		links = append(links, linkPair{o2, m}, linkPair{m, o2})
		for _, l := range leaves[i*(*fan-1) : (i+1)*(*fan-1)] {
			links = append(links, linkPair{m, l}, linkPair{l, m})
		}
	}
	tree := append(slices.Clone(mids), leaves...)
	for _, p := range tree[:*wide] {
		links = append(links, linkPair{o1, p})
	}
	byFrom := map[*p2pPod][]*p2pPod{}
	for _, l := range links {
		byFrom[l.from] = append(byFrom[l.from], l.to)
	}
	if err := parallel(e.pods, 8, func(p *p2pPod) error {
		if err := p.login(ctx); err != nil {
			return err
		}
		for _, to := range byFrom[p] {
			if err := p.mustGQL(ctx, `mutation($m: UUID!, $ts: DateTime!) { append_network_links(member_id: $m, relation: "friend", created_timestamp: $ts) }`,
				map[string]any{"m": to.member.String(), "ts": time.Now().UTC().Format(time.RFC3339)}); err != nil {
				return err
			}
		}
		return p.mustGQL(ctx, `mutation($id: UUID!, $ts: DateTime!, $t: String!) { append_posts(post_id: $id, created_timestamp: $ts, text: $t) }`,
			map[string]any{"id": uuid.NewString(), "ts": time.Now().UTC().Format(time.RFC3339), "t": "a post of " + p.name})
	}); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "seeded in %s\n", time.Since(start).Round(time.Millisecond))

	// Idle memory: every pod, seeded, asked nothing for 3 s.
	time.Sleep(3 * time.Second)
	idleBefore, err := e.rss()
	if err != nil {
		return err
	}
	samples := []*p2pPod{o1, o2, mids[0], leaves[len(leaves)-1]}
	statsBefore := goMemory(ctx, samples)

	type scenario struct {
		name   string
		origin *p2pPod
		depth  int
		want   int // records: one post per pod reached
	}
	scenarios := []scenario{
		{fmt.Sprintf("depth 1, %d linked pods", *wide), o1, 1, *wide + 1},
		{fmt.Sprintf("depth 2, %d pods (%d + %d×%d)", len(tree), *fan, *fan, *fan-1), o2, 2, len(tree) + 1},
	}
	fanners := append([]*p2pPod{o1, o2}, mids...)
	results := map[string][2]p2pResult{}
	for round, fanOut := range []int{0, 1} {
		if round > 0 {
			// Only the pods that forward fan out: restart them with
			// --fanout 1.
			for _, p := range fanners {
				p.fanOut = fanOut
			}
			if err := e.restart(ctx, fanners); err != nil {
				return err
			}
		}
		for _, s := range scenarios {
			res, err := e.measure(ctx, s.origin, s.depth, s.want, *warmup, *queries)
			if err != nil {
				return fmt.Errorf("%s, fanout %d: %w", s.name, fanOut, err)
			}
			r := results[s.name]
			r[round] = res
			results[s.name] = r
			fmt.Fprintf(os.Stderr, "%s, fanout %d: p50 %s p99 %s\n", s.name, fanOut, res.p50, res.p99)
		}
	}
	// Memory after the queries: 5 s later, once the pods have released
	// memory for being idle, and once the runtime has had its periodic
	// collection. Reading the pods' metrics does not count as a request
	// for their idle release.
	last := time.Now()
	time.Sleep(5 * time.Second)
	idleAfter, err := e.rss()
	if err != nil {
		return err
	}
	statsAfter := goMemory(ctx, samples)
	idleReleased, statsReleased := idleAfter, statsAfter
	if period > 0 {
		time.Sleep(time.Until(last.Add(idleWait)))
		if idleReleased, err = e.rss(); err != nil {
			return err
		}
		statsReleased = goMemory(ctx, samples)
	}
	time.Sleep(time.Until(last.Add(*settle)))
	idleSettled, err := e.rss()
	if err != nil {
		return err
	}
	statsSettled := goMemory(ctx, samples)

	fmt.Printf("## Recursive queries between pods\n\n")
	fmt.Printf("`go run ./hack/bench p2p -wide %d -fan %d -queries %d -warmup %d -settle %s -idle-release %s` (%s, %d CPUs, %s; load average before the run %s)\n\n",
		*wide, *fan, *queries, *warmup, *settle, *idleRelease, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"), strings.Join(strings.Fields(string(load))[:3], " "))
	fmt.Printf("%d `byoda pod` processes on loopback, each on its own 127.x.y.z address with the network's owner and peer ports, "+
		"finding each other through the network's DNS server (directory/dns, in the benchmark's process) and calling each other "+
		"over mutual TLS 1.3. Each pod has one post; links are `friend`. The query, as the origin's owner, over HTTPS with keep-alive, "+
		"one at a time: `posts_connection(depth: d, relations: [\"friend\"], first: 500)` selecting `origin` and two fields; every "+
		"answer is checked to hold one post of every pod reached and no unanswered peer. %d warm-up queries, then %d measured, per row. "+
		"CPU: user+system time of every pod process (from /proc/<pid>/stat, 10 ms ticks) over the measured queries, per query, and per pod that answered. "+
		"Fan-out: the pods that forward (the origins and the depth-2 query's first hop) restarted with `--fanout 1` "+
		"(one peer at a time) against the default (32 at once). Pods run with `--max-conns-per-address 1024`: on loopback every pod "+
		"connects from 127.0.0.1, so the default per-address limit (64) would count all pods as one client. "+
		"Targets: depth 1 over 50 pods p50 at most 50 ms; depth 2 over 100 pods p50 at most 150 ms on 2 cores.\n\n",
		len(e.pods), *warmup, *queries)
	fmt.Printf("| query | pods answering | fan-out | p50 | p99 | CPU per query, all pods | CPU per pod reached | one at a time / parallel, p50 |\n|---|---|---|---|---|---|---|---|\n")
	for _, s := range scenarios {
		r := results[s.name]
		for i, label := range []string{"parallel (default)", "one at a time (`--fanout 1`)"} {
			ratio := ""
			if i == 1 {
				ratio = fmt.Sprintf("%.1f×", float64(r[1].p50)/float64(r[0].p50))
			}
			fmt.Printf("| %s | %d | %s | %s | %s | %s | %s | %s |\n", s.name, s.want, label, r[i].p50, r[i].p99,
				r[i].cpu.Round(10*time.Microsecond), (r[i].cpu / time.Duration(s.want)).Round(time.Microsecond), ratio)
		}
	}
	fmt.Printf("\n### Idle pods\n\n")
	fmt.Printf("VmRSS from /proc/<pid>/status of every pod (one membership, a handful of records), with its anonymous part "+
		"(RssAnon: heap, stacks, the pod's own) and its file part (RssFile: pages of the byoda binary, shared in the page cache "+
		"with every other byoda process): seeded and then asked nothing for 3 s; 5 s after the last measured query; %s after it, "+
		"once a pod idle for its idle release period (%s; it releases between one and one and a half periods after its last request) has released memory; "+
		"and again %s after it, once the Go runtime has had its periodic (2 min) collection. Target: at most 25 MiB.\n\n", idleWait, period, *settle)
	fmt.Printf("| when | pods | median VmRSS (anon, file) | min | max | median anon | max anon | VmRSS over 25 MiB |\n|---|---|---|---|---|---|---|---|\n")
	for _, row := range []struct {
		when string
		rss  []memory
	}{{"seeded, before any query", idleBefore}, {"5 s after the queries", idleAfter},
		{fmt.Sprintf("%s after the queries (idle release)", idleWait), idleReleased}, {fmt.Sprintf("%s after the queries", *settle), idleSettled}} {
		ms := slices.Clone(row.rss)
		slices.SortFunc(ms, func(a, b memory) int { return cmp.Compare(a.rss, b.rss) })
		anon := make([]float64, len(ms))
		over := 0
		for i, m := range ms {
			anon[i] = m.anon
			if m.rss > 25 {
				over++
			}
		}
		slices.Sort(anon)
		fmt.Printf("| %s | %d | %s | %.1f MiB | %.1f MiB | %.1f MiB | %.1f MiB | %d |\n", row.when, len(ms), ms[len(ms)/2],
			ms[0].rss, ms[len(ms)-1].rss, anon[len(anon)/2], anon[len(anon)-1], over)
	}
	fmt.Printf("\nWhere the anonymous memory of some pods is, from the Go runtime's own figures on their /metrics (MiB): " +
		"heap in use, heap the runtime holds but has not returned to the OS (idle less released), goroutine stacks, " +
		"and what else the runtime has obtained from the OS (GC metadata, span and profiling tables; not all of it resident); " +
		"and the pod's releases of memory for being idle (`byoda_pod_memory_releases_total{reason=\"idle\"}`).\n\n")
	fmt.Printf("| pod | when | heap in use | heap held, unused | stacks | runtime other, obtained | goroutines | idle releases |\n|---|---|---|---|---|---|---|---|\n")
	for i, p := range samples {
		for _, row := range []struct {
			when  string
			stats map[string]float64
		}{{"seeded", statsBefore[i]}, {"5 s after", statsAfter[i]}, {fmt.Sprintf("%s after", idleWait), statsReleased[i]}, {fmt.Sprintf("%s after", *settle), statsSettled[i]}} {
			m := row.stats
			mib := func(v float64) string { return fmt.Sprintf("%.1f", v/(1<<20)) }
			other := m["go_memstats_sys_bytes"] - m["go_memstats_heap_sys_bytes"] - m["go_memstats_stack_sys_bytes"]
			fmt.Printf("| %s | %s | %s | %s | %s | %s | %.0f | %.0f |\n", p.name, row.when, mib(m["go_memstats_heap_inuse_bytes"]),
				mib(m["go_memstats_heap_idle_bytes"]-m["go_memstats_heap_released_bytes"]), mib(m["go_memstats_stack_inuse_bytes"]),
				mib(other), m["go_goroutines"], m[`byoda_pod_memory_releases_total{reason="idle"}`])
		}
	}
	return nil
}

// goMemory reads the Go runtime's memory figures, and the pod's releases
// of memory, from each pod's /metrics; a pod that does not answer gets
// none.
func goMemory(ctx context.Context, pods []*p2pPod) []map[string]float64 {
	out := make([]map[string]float64, len(pods))
	for i, p := range pods {
		out[i] = map[string]float64{}
		req, err := http.NewRequestWithContext(ctx, http.MethodGet, "https://"+pki.AccountName(p.account, network)+"/metrics", nil)
		if err != nil {
			continue
		}
		resp, err := p.client.Do(req)
		if err != nil {
			continue
		}
		data, _ := io.ReadAll(resp.Body)
		resp.Body.Close()
		for _, line := range strings.Split(string(data), "\n") {
			name, value, ok := strings.Cut(line, " ")
			if !ok || !strings.HasPrefix(name, "go_") && !strings.HasPrefix(name, "byoda_pod_memory_") {
				continue
			}
			if v, err := strconv.ParseFloat(value, 64); err == nil {
				out[i][name] = v
			}
		}
	}
	return out
}

// setup makes the PKI, starts the DNS server and picks the ports and the
// addresses.
func (e *p2pEnv) setup(ctx context.Context) error {
	now := time.Now()
	var err error
	if e.dir, err = pki.InitNetwork(filepath.Join(e.tmp, "pki"), network, now); err != nil {
		return err
	}
	if err := e.dir.CreateService(demoSID, now); err != nil {
		return err
	}
	if e.roots, err = e.dir.Roots(); err != nil {
		return err
	}
	// Every pod resolves from 127.0.0.1: no rate limit.
	if e.zone, err = dns.NewServer(network, dns.Options{TTL: 60 * time.Second, Rate: -1, Log: slog.New(slog.DiscardHandler)}); err != nil {
		return err
	}
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	pc, err := net.ListenPacket("udp", l.Addr().String())
	if err != nil {
		l.Close()
		return err
	}
	e.dnsAddr = l.Addr().String()
	go e.zone.Serve(ctx, pc, l)
	var ports []int
	for range 2 {
		l, err := net.Listen("tcp", ":0")
		if err != nil {
			return err
		}
		defer l.Close()
		ports = append(ports, l.Addr().(*net.TCPAddr).Port)
	}
	e.ownerPort, e.peerPort = ports[0], ports[1]
	var b [1]byte
	rand.Read(b[:])
	e.next = netip.AddrFrom4([4]byte{127, 16 + b[0]%224, 0, 1})
	return nil
}

// newPod makes a pod's account, membership, data directory and DNS names.
func (e *p2pEnv) newPod(name string) (*p2pPod, error) {
	now := time.Now()
	p := &p2pPod{name: name, addr: e.next, dataDir: filepath.Join(e.tmp, "pods", name), password: rand.Text()}
	e.next = e.next.Next()
	if e.next.As4()[3] == 255 {
		b := e.next.As4()
		e.next = netip.AddrFrom4([4]byte{b[0], b[1], b[2] + 1, 1})
	}
	var err error
	if p.account, err = e.dir.CreateAccount(now); err != nil {
		return nil, err
	}
	if p.member, err = e.dir.CreateMember(demoSID, now); err != nil {
		return nil, err
	}
	if err := os.MkdirAll(p.dataDir, 0o700); err != nil {
		return nil, err
	}
	kek := make([]byte, 32)
	rand.Read(kek)
	if err := os.WriteFile(filepath.Join(p.dataDir, "kek"), []byte(base64.URLEncoding.EncodeToString(kek)), 0o600); err != nil {
		return nil, err
	}
	if err := os.WriteFile(filepath.Join(p.dataDir, "password"), []byte(p.password), 0o600); err != nil {
		return nil, err
	}
	for _, n := range []string{pki.AccountName(p.account, network), pki.MemberName(demoSID, p.member, network)} {
		if err := e.zone.Set(n, p.addr); err != nil {
			return nil, err
		}
	}
	owner := netip.AddrPortFrom(p.addr, uint16(e.ownerPort)).String()
	p.client = &http.Client{Timeout: time.Minute, Transport: &http.Transport{
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			var d net.Dialer
			return d.DialContext(ctx, network, owner)
		},
		TLSClientConfig: &tls.Config{RootCAs: e.roots, ServerName: pki.AccountName(p.account, network)},
	}}
	e.pods = append(e.pods, p)
	return p, nil
}

// start runs the pod and waits until its status answers.
func (e *p2pEnv) start(p *p2pPod) error {
	args := []string{"pod",
		"--network", network,
		"--pki-dir", e.dir.Path(),
		"--account", p.account.String(),
		"--data-dir", p.dataDir,
		"--listen", netip.AddrPortFrom(p.addr, uint16(e.ownerPort)).String(),
		"--peer-listen", netip.AddrPortFrom(p.addr, uint16(e.peerPort)).String(),
		"--owner-password-file", filepath.Join(p.dataDir, "password"),
		"--contract", e.demoFile,
		"--member", fmt.Sprintf("%d=%s", demoSID, p.member),
		"--dns-server", e.dnsAddr,
		"--network-peer-port", strconv.Itoa(e.peerPort),
		"--max-conns-per-address", "1024",
		"--log-level", "warn",
	}
	if p.fanOut > 0 {
		args = append(args, "--fanout", strconv.Itoa(p.fanOut))
	}
	if e.idle != 0 {
		args = append(args, "--idle-release", e.idle.String())
	}
	p.cmd = exec.Command(e.byoda, args...)
	logFile, err := os.OpenFile(filepath.Join(p.dataDir, "pod.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return err
	}
	defer logFile.Close()
	p.cmd.Stdout, p.cmd.Stderr = logFile, logFile
	p.cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
	if err := p.cmd.Start(); err != nil {
		return err
	}
	p.exited = make(chan struct{})
	go func() { p.cmd.Wait(); close(p.exited) }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		resp, err := p.client.Get("https://" + netip.AddrPortFrom(p.addr, uint16(e.ownerPort)).String() + "/api/v1/status")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		select {
		case <-p.exited:
			log, _ := os.ReadFile(filepath.Join(p.dataDir, "pod.log"))
			return fmt.Errorf("pod %s exited: %s", p.name, log)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("pod %s not ready after 60s: %v", p.name, err)
		}
	}
}

func (e *p2pEnv) startAll(pods []*p2pPod) error {
	return parallel(pods, 4, e.start)
}

// stop ends the pod by its PID: SIGTERM, then SIGKILL after 10 s.
func (p *p2pPod) stop() {
	if p.cmd == nil || p.cmd.Process == nil {
		return
	}
	select {
	case <-p.exited:
		return
	default:
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-p.exited:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-p.exited
	}
}

func (e *p2pEnv) stopAll() {
	_ = parallel(e.pods, 32, func(p *p2pPod) error { p.stop(); return nil })
}

// restart stops pods and starts them again on the same data, then logs
// their owners in again.
func (e *p2pEnv) restart(ctx context.Context, pods []*p2pPod) error {
	for _, p := range pods {
		p.stop()
		p.client.CloseIdleConnections()
	}
	return parallel(pods, 4, func(p *p2pPod) error {
		if err := e.start(p); err != nil {
			return err
		}
		return p.login(ctx)
	})
}

func (p *p2pPod) login(ctx context.Context) error {
	body, _ := json.Marshal(map[string]any{"username": p.account.String(), "password": p.password, "service_id": demoSID})
	data, err := p.post(ctx, "/api/v1/pod/authtoken", body)
	if err != nil {
		return fmt.Errorf("log in to %s: %w", p.name, err)
	}
	var resp struct {
		AuthToken string `json:"auth_token"`
	}
	if err := json.Unmarshal(data, &resp); err != nil || resp.AuthToken == "" {
		return fmt.Errorf("log in to %s: %s", p.name, data)
	}
	p.token = resp.AuthToken
	return nil
}

func (p *p2pPod) post(ctx context.Context, path string, body []byte) ([]byte, error) {
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+pki.AccountName(p.account, network)+path, bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	req.Header.Set("Content-Type", "application/json")
	if p.token != "" {
		req.Header.Set("Authorization", "Bearer "+p.token)
	}
	resp, err := p.client.Do(req)
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s: %s", path, resp.Status, data)
	}
	return data, nil
}

// gql runs a GraphQL request as the pod's owner.
func (p *p2pPod) gql(ctx context.Context, query string, vars map[string]any) (*peer.Response, error) {
	body, _ := json.Marshal(peer.Request{Query: query, Variables: vars})
	data, err := p.post(ctx, peer.DataPath(demoSID), body)
	if err != nil {
		return nil, err
	}
	var resp peer.Response
	if err := json.Unmarshal(data, &resp); err != nil {
		return nil, fmt.Errorf("%s: %w: %.200s", p.name, err, data)
	}
	return &resp, nil
}

func (p *p2pPod) mustGQL(ctx context.Context, query string, vars map[string]any) error {
	resp, err := p.gql(ctx, query, vars)
	if err != nil {
		return err
	}
	if len(resp.Errors) > 0 {
		return fmt.Errorf("%s: %s", p.name, resp.Errors[0].Message)
	}
	return nil
}

// p2pResult is what measure measured.
type p2pResult struct {
	p50, p99 time.Duration
	cpu      time.Duration // every pod's CPU time per query
}

// measure runs the query at origin warm times, then n times, one at a
// time; every answer must hold want records, each of a different origin,
// and no unanswered peers.
func (e *p2pEnv) measure(ctx context.Context, origin *p2pPod, depth, want, warm, n int) (p2pResult, error) {
	vars := map[string]any{"d": depth}
	check := func() error {
		resp, err := origin.gql(ctx, p2pQuery, vars)
		if err != nil {
			return err
		}
		if len(resp.Errors) > 0 || len(resp.Extensions["unanswered_peers"]) > 0 {
			return fmt.Errorf("errors %v, unanswered peers %s", resp.Errors, resp.Extensions["unanswered_peers"])
		}
		var data struct {
			Conn struct {
				Edges []struct {
					Origin string `json:"origin"`
				} `json:"edges"`
			} `json:"posts_connection"`
		}
		if err := json.Unmarshal(resp.Data, &data); err != nil {
			return err
		}
		origins := map[string]bool{}
		for _, e := range data.Conn.Edges {
			origins[e.Origin] = true
		}
		if len(data.Conn.Edges) != want || len(origins) != want {
			return fmt.Errorf("%d records of %d origins, want %d", len(data.Conn.Edges), len(origins), want)
		}
		return nil
	}
	for range warm {
		if err := check(); err != nil {
			return p2pResult{}, fmt.Errorf("warm-up: %w", err)
		}
	}
	cpu0 := e.cpu()
	lats := make([]time.Duration, 0, n)
	for range n {
		t0 := time.Now()
		if err := check(); err != nil {
			return p2pResult{}, err
		}
		lats = append(lats, time.Since(t0))
	}
	cpu := e.cpu() - cpu0
	slices.Sort(lats)
	pct := func(p float64) time.Duration {
		return lats[min(len(lats)-1, int(float64(len(lats))*p))].Round(100 * time.Microsecond)
	}
	return p2pResult{p50: pct(0.50), p99: pct(0.99), cpu: cpu / time.Duration(n)}, nil
}

// cpu is the CPU time every pod process has used.
func (e *p2pEnv) cpu() time.Duration {
	var sum time.Duration
	for _, p := range e.pods {
		sum += cpuTime(p.cmd.Process.Pid)
	}
	return sum
}

// rss reads every pod's resident memory.
func (e *p2pEnv) rss() ([]memory, error) {
	out := make([]memory, len(e.pods))
	for i, p := range e.pods {
		m, err := rssMiB(p.cmd.Process.Pid)
		if err != nil {
			return nil, fmt.Errorf("%s: %w", p.name, err)
		}
		out[i] = m
	}
	return out, nil
}

// parallel calls f for every pod, at most limit at a time, and returns the
// first error.
func parallel(pods []*p2pPod, limit int, f func(*p2pPod) error) error {
	sem := make(chan struct{}, limit)
	var (
		wg    sync.WaitGroup
		mu    sync.Mutex
		first error
	)
	for _, p := range pods {
		sem <- struct{}{}
		wg.Go(func() {
			defer func() { <-sem }()
			if err := f(p); err != nil {
				mu.Lock()
				if first == nil {
					first = err
				}
				mu.Unlock()
			}
		})
	}
	wg.Wait()
	return first
}
