package main

import (
	"bufio"
	"bytes"
	"context"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/contract"
	"github.com/byoda-go/byoda/internal/launch"
	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/internal/pki"
	"github.com/byoda-go/byoda/podruntime/store"
)

const (
	network = "byoda.test"
	demoSID = 4711
)

// benchEnv is the PKI and files of one run.
type benchEnv struct {
	byoda       string
	tmp         string
	dir         *pki.Dir
	roots       *x509.CertPool
	account     uuid.UUID
	demoMember  uuid.UUID
	bookMember  uuid.UUID
	bookSID     uint32
	demoFile    string
	bookFile    string
	family      uuid.UUID // the peer the load comes from
	password    string
	concurrency int
	duration    time.Duration
	warmup      time.Duration
}

func runPod(args []string) error {
	fs := flag.NewFlagSet("pod", flag.ContinueOnError)
	byoda := fs.String("byoda", "", "byoda binary (default: go build one as the image does, CGO_ENABLED=0)")
	records := fs.Int("records", 10_000, "addresses in the list class")
	duration := fs.Duration("duration", 10*time.Second, "measuring time per scenario")
	warmup := fs.Duration("warmup", 2*time.Second, "warm-up time per scenario")
	concurrency := fs.Int("concurrency", 8, "concurrent keep-alive connections")
	starts := fs.Int("starts", 7, "starts to time")
	idleWait := fs.Duration("idle-wait", launch.DefaultIdleRelease*3/2+5*time.Second, "time after the load before the last memory reading: past the pod's idle release, which comes between one and one and a half launch.DefaultIdleRelease after its last request; 0 skips it")
	if err := fs.Parse(args); err != nil {
		return err
	}
	root, err := repoRoot()
	if err != nil {
		return err
	}
	tmp, err := os.MkdirTemp("", "byoda-bench-")
	if err != nil {
		return err
	}
	defer os.RemoveAll(tmp)
	if *byoda == "" {
		*byoda = filepath.Join(tmp, "byoda")
		// As the image builds it (Dockerfile): static, without cgo.
		build := exec.Command("go", "build", "-trimpath", "-o", *byoda, ".")
		build.Dir, build.Stderr = root, os.Stderr
		build.Env = append(os.Environ(), "CGO_ENABLED=0")
		if err := build.Run(); err != nil {
			return fmt.Errorf("build byoda: %w", err)
		}
	}
	e := &benchEnv{
		byoda:       *byoda,
		tmp:         tmp,
		demoFile:    filepath.Join(root, "config", "samples", "contracts", "addressbook-demo.json"),
		bookFile:    filepath.Join(root, "..", "shared", "contracts", "addressbook.json"),
		password:    rand.Text(),
		concurrency: *concurrency,
		duration:    *duration,
		warmup:      *warmup,
	}
	if err := e.setupPKI(); err != nil {
		return err
	}

	fmt.Printf("## Pod runtime\n\n")
	fmt.Printf("`go run ./hack/bench pod -records %d -duration %s -concurrency %d` (%s, %d CPUs, %s)\n\n",
		*records, *duration, *concurrency, runtime.Version(), runtime.NumCPU(), time.Now().UTC().Format("2006-01-02"))

	// 1. Start to ready and idle memory, addressbook joined, empty store.
	bookData := filepath.Join(tmp, "book")
	if err := e.newDataDir(bookData); err != nil {
		return err
	}
	bookArgs := []string{"--contract", e.bookFile, "--member", fmt.Sprintf("%d=%s", e.bookSID, e.bookMember)}
	startTimes, internal, rss, err := e.timeStarts(bookData, bookArgs, *starts)
	if err != nil {
		return err
	}
	// 2. The same with the demo service and its records, restored from
	// storage at each start.
	demoData := filepath.Join(tmp, "demo")
	if err := e.newDataDir(demoData); err != nil {
		return err
	}
	loadStart := time.Now()
	if err := e.populate(demoData, *records); err != nil {
		return err
	}
	fmt.Fprintf(os.Stderr, "populated %d records in %s\n", *records, time.Since(loadStart).Round(time.Millisecond))
	bothArgs := append([]string{"--contract", e.demoFile, "--member", fmt.Sprintf("%d=%s", demoSID, e.demoMember)}, bookArgs...)
	startTimes2, internal2, rss2, err := e.timeStarts(demoData, bothArgs, *starts)
	if err != nil {
		return err
	}

	fmt.Printf("### Start to ready and idle memory\n\n")
	fmt.Printf("Start to ready: from starting the process to the first 200 of `GET /api/v1/status` over TLS (polled every 2 ms), "+
		"over %d starts (the first on empty storage, then restarts); \"in process\" is the pod's own \"startup\" log field. "+
		"Idle RSS: VmRSS from /proc/<pid>/status of one more start, 3 s after its \"Pod ready\" log line with no request at all; then 2 s after one status request (as a kubelet probe). Targets: start to ready at most 300 ms, idle RSS at most 25 MiB.\n\n", *starts)
	fmt.Printf("| pod | start to ready, median (min–max) | in process, median | idle RSS, no request | idle RSS, one probe |\n|---|---|---|---|---|\n")
	fmt.Printf("| addressbook joined, empty | %s (%s–%s) | %s | %s | %s |\n", med(startTimes), slices.Min(startTimes), slices.Max(startTimes), med(internal), rss.quiet, rss.probed)
	fmt.Printf("| addressbook + demo, %d addresses | %s (%s–%s) | %s | %s | %s |\n\n", *records, med(startTimes2), slices.Min(startTimes2), slices.Max(startTimes2), med(internal2), rss2.quiet, rss2.probed)

	// 3. Throughput over the peer port.
	pod, err := e.startPod(demoData, bothArgs)
	if err != nil {
		return err
	}
	defer pod.stop()
	peerTLS, err := e.peerTLS()
	if err != nil {
		return err
	}
	scenarios := []struct{ name, query string }{
		{"object read (`person`)", `{ person { given_name family_name email homepage_url } }`},
		{"list, `first: 20`", `{ addresses_connection(first: 20) { edges { cursor node { address_id created_timestamp label street postal_code city country } } page_info { end_cursor has_next_page } } }`},
		{"list, `first: 20`, with `total_count`", `{ addresses_connection(first: 20) { total_count edges { cursor node { address_id created_timestamp label street postal_code city country } } page_info { end_cursor has_next_page } } }`},
	}
	path := "/api/v1/data/service-" + strconv.Itoa(demoSID)
	var staticArgs []string
	bodies := make([][]byte, len(scenarios))
	answers := make([][]byte, len(scenarios))
	for i, s := range scenarios {
		bodies[i], _ = json.Marshal(map[string]any{"query": s.query})
		answer, err := fetch(peerTLS, "https://"+pod.peer+path, bodies[i])
		if err != nil {
			return fmt.Errorf("%s: %w", s.name, err)
		}
		if bytes.Contains(answer, []byte(`"errors"`)) {
			return fmt.Errorf("%s: %s", s.name, answer)
		}
		answers[i] = answer
		file := filepath.Join(tmp, fmt.Sprintf("answer-%d.json", i))
		if err := os.WriteFile(file, answer, 0o600); err != nil {
			return err
		}
		staticArgs = append(staticArgs, "-body", fmt.Sprintf("/s%d=%s", i, file))
	}
	static, err := e.startStatic(staticArgs)
	if err != nil {
		return err
	}
	defer static.stop()

	fmt.Printf("### GraphQL over the peer port\n\n")
	fmt.Printf("A member linked as family reads from the pod's peer port (mutual TLS 1.3, HTTP/1.1 keep-alive, %d connections, "+
		"%s warm-up then %s per row), against a plain net/http server (`hack/bench static`, its own process) that answers the same "+
		"bytes with the same TLS setup and certificates. The load generator runs on the same machine. Target: pod/plain at least 0.6.\n\n",
		e.concurrency, e.warmup, e.duration)
	fmt.Printf("| request | response | pod req/s | p50 | p99 | pod CPU/req | plain req/s | p50 | p99 | plain CPU/req | pod/plain |\n|---|---|---|---|---|---|---|---|---|---|---|\n")
	for i, s := range scenarios {
		podRes, err := e.load("https://"+pod.peer+path, bodies[i], len(answers[i]), peerTLS, pod.cmd.Process.Pid)
		if err != nil {
			return fmt.Errorf("%s on the pod: %w", s.name, err)
		}
		plainRes, err := e.load("https://"+static.addr+fmt.Sprintf("/s%d", i), bodies[i], len(answers[i]), peerTLS, static.cmd.Process.Pid)
		if err != nil {
			return fmt.Errorf("%s on the plain server: %w", s.name, err)
		}
		fmt.Printf("| %s | %d B | %.0f | %s | %s | %s | %.0f | %s | %s | %s | %.2f |\n", s.name, len(answers[i]),
			podRes.rps, podRes.p50, podRes.p99, podRes.cpu.Round(time.Microsecond), plainRes.rps, plainRes.p50, plainRes.p99,
			plainRes.cpu.Round(time.Microsecond), podRes.rps/plainRes.rps)
	}
	rssLoaded, _ := rssMiB(pod.cmd.Process.Pid)
	fmt.Printf("\nRSS of the pod after the load: %s.\n", rssLoaded)
	if *idleWait > 0 {
		time.Sleep(*idleWait)
		rssIdle, _ := rssMiB(pod.cmd.Process.Pid)
		fmt.Printf("%s later, without a request (the pod has released memory for being idle): %s.\n", *idleWait, rssIdle)
	}
	return nil
}

func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", errors.New("run from inside the repository")
		}
		dir = parent
	}
}

func (e *benchEnv) setupPKI() error {
	raw, err := contract.ReadFile(e.bookFile)
	if err != nil {
		return err
	}
	book, err := contract.Parse(raw)
	if err != nil {
		return err
	}
	e.bookSID = book.ServiceID
	now := time.Now()
	if e.dir, err = pki.InitNetwork(filepath.Join(e.tmp, "pki"), network, now); err != nil {
		return err
	}
	for _, sid := range []uint32{demoSID, e.bookSID} {
		if err := e.dir.CreateService(sid, now); err != nil {
			return err
		}
	}
	if e.account, err = e.dir.CreateAccount(now); err != nil {
		return err
	}
	if e.demoMember, err = e.dir.CreateMember(demoSID, now); err != nil {
		return err
	}
	if e.bookMember, err = e.dir.CreateMember(e.bookSID, now); err != nil {
		return err
	}
	if e.family, err = e.dir.CreateMember(demoSID, now); err != nil {
		return err
	}
	e.roots, err = e.dir.Roots()
	return err
}

func (e *benchEnv) newDataDir(dir string) error {
	if err := os.MkdirAll(dir, 0o700); err != nil {
		return err
	}
	key := make([]byte, 32)
	rand.Read(key)
	if err := os.WriteFile(filepath.Join(dir, "kek"), []byte(base64.URLEncoding.EncodeToString(key)), 0o600); err != nil {
		return err
	}
	return os.WriteFile(filepath.Join(dir, "password"), []byte(e.password), 0o600)
}

// populate writes the demo service's data straight into the pod's store,
// as the pod will find it: a person, a family link to the load's peer, and
// n addresses.
func (e *benchEnv) populate(dataDir string, n int) error {
	ctx := context.Background()
	raw, err := contract.ReadFile(e.demoFile)
	if err != nil {
		return err
	}
	c, err := contract.Parse(raw)
	if err != nil {
		return err
	}
	kekText, err := os.ReadFile(filepath.Join(dataDir, "kek"))
	if err != nil {
		return err
	}
	kek, err := store.NewFernetKEK(strings.TrimSpace(string(kekText)))
	if err != nil {
		return err
	}
	objects, err := objstore.Open(ctx, "file://"+filepath.Join(dataDir, "objects"))
	if err != nil {
		return err
	}
	st, err := store.Open(ctx, store.Options{Objects: objects, MemberID: e.demoMember, Contract: c, KEK: kek})
	if err != nil {
		return err
	}
	defer st.Close()
	if _, err := st.Mutate(ctx, "person", map[string]any{
		"given_name": "Suzie", "family_name": "Doe", "email": "suzie@example.com", "homepage_url": "https://example.com/suzie",
	}); err != nil {
		return err
	}
	ts := time.Date(2025, 1, 1, 0, 0, 0, 0, time.UTC)
	if _, err := st.Append(ctx, "network_links", map[string]any{
		"member_id": e.family.String(), "relation": "family", "created_timestamp": ts.Format(time.RFC3339),
	}); err != nil {
		return err
	}
	labels := []string{"home", "work", "other"}
	for i := 0; i < n; i += 500 {
		batch := make([]any, 0, 500)
		for j := i; j < min(n, i+500); j++ {
			batch = append(batch, map[string]any{
				"address_id":        uuid.NewString(),
				"created_timestamp": ts.Add(time.Duration(j) * time.Minute).Format(time.RFC3339),
				"label":             labels[j%3],
				"street":            fmt.Sprintf("Main street %d", j),
				"postal_code":       fmt.Sprintf("%04d AB", j%10000),
				"city":              fmt.Sprintf("City %d", j%100),
				"country":           "NL",
			})
		}
		if _, err := st.Append(ctx, "addresses", batch...); err != nil {
			return err
		}
	}
	return nil
}

// proc is a child process of the benchmark.
type proc struct {
	cmd    *exec.Cmd
	peer   string       // the pod's peer address
	addr   string       // the static server's address
	status func() error // a pod's GET /api/v1/status on the owner port
}

func (p *proc) stop() {
	if p.cmd.ProcessState != nil {
		return
	}
	p.cmd.Process.Signal(syscall.SIGTERM)
	done := make(chan struct{})
	go func() { p.cmd.Wait(); close(done) }()
	select {
	case <-done:
	case <-time.After(10 * time.Second):
		p.cmd.Process.Kill()
		<-done
	}
}

// startPod starts a pod on dataDir with extra arguments and waits until it
// is ready. It returns the process and how long that took.
func (e *benchEnv) startPod(dataDir string, extra []string) (*proc, error) {
	p, _, err := e.startPodTimed(dataDir, extra, false)
	return p, err
}

// startPodTimed starts a pod and returns it once ready: once it answers
// GET /api/v1/status, or with fromLog once it has logged "Pod ready".
func (e *benchEnv) startPodTimed(dataDir string, extra []string, fromLog bool) (*proc, time.Duration, error) {
	ownerPort, peerPort, err := freePorts()
	if err != nil {
		return nil, 0, err
	}
	args := append([]string{"pod",
		"--network", network,
		"--pki-dir", e.dir.Path(),
		"--account", e.account.String(),
		"--data-dir", dataDir,
		"--listen", "127.0.0.1:" + ownerPort,
		"--peer-listen", "127.0.0.1:" + peerPort,
		"--owner-password-file", filepath.Join(dataDir, "password"),
		"--log-level", "info",
	}, extra...)
	cmd := exec.Command(e.byoda, args...)
	logFile, err := os.Create(filepath.Join(dataDir, "pod.log"))
	if err != nil {
		return nil, 0, err
	}
	defer logFile.Close()
	cmd.Stdout, cmd.Stderr = logFile, logFile
	client := &http.Client{Timeout: 2 * time.Second, Transport: &http.Transport{
		DisableKeepAlives: true,
		TLSClientConfig:   &tls.Config{RootCAs: e.roots, ServerName: e.account.String() + ".accounts." + network},
	}}
	start := time.Now()
	if err := cmd.Start(); err != nil {
		return nil, 0, err
	}
	status := func() error {
		resp, err := client.Get("https://127.0.0.1:" + ownerPort + "/api/v1/status")
		if err != nil {
			return err
		}
		resp.Body.Close()
		if resp.StatusCode != http.StatusOK {
			return fmt.Errorf("status %s", resp.Status)
		}
		return nil
	}
	p := &proc{cmd: cmd, peer: "127.0.0.1:" + peerPort, status: status}
	exited := make(chan struct{})
	go func() { cmd.Wait(); close(exited) }()
	for {
		if fromLog {
			if log, _ := os.ReadFile(filepath.Join(dataDir, "pod.log")); bytes.Contains(log, []byte(`"msg":"Pod ready"`)) {
				return p, time.Since(start), nil
			}
		} else if status() == nil {
			return p, time.Since(start), nil
		}
		select {
		case <-exited:
			log, _ := os.ReadFile(filepath.Join(dataDir, "pod.log"))
			return nil, 0, fmt.Errorf("pod exited: %s", log)
		case <-time.After(2 * time.Millisecond):
		}
		if time.Since(start) > 30*time.Second {
			p.stop()
			return nil, 0, errors.New("pod not ready after 30s")
		}
	}
}

var startupField = regexp.MustCompile(`"msg":"Pod ready".*"startup":"([^"]+)"`)

// timeStarts starts and stops a pod n times and returns the times to
// ready, the pod's own startup times, and the idle memory of one more
// start.
func (e *benchEnv) timeStarts(dataDir string, extra []string, n int) (outside, inside []time.Duration, rss idleMemory, err error) {
	for range n {
		p, d, err := e.startPodTimed(dataDir, extra, false)
		if err != nil {
			return nil, nil, idleMemory{}, err
		}
		outside = append(outside, d.Round(time.Millisecond))
		p.stop()
		log, _ := os.ReadFile(filepath.Join(dataDir, "pod.log"))
		if m := startupField.FindSubmatch(log); m != nil {
			if d, err := time.ParseDuration(string(m[1])); err == nil {
				inside = append(inside, d.Round(100*time.Microsecond))
			}
		}
	}
	rss, err = e.idleMemory(dataDir, extra)
	return outside, inside, rss, err
}

// idleMemory is a pod's resident memory when idle: asked nothing at all,
// and after one status request.
type idleMemory struct {
	quiet, probed memory
}

// idleMemory starts a pod and waits for its "Pod ready" log line rather
// than asking it (a request can come before or after the pod lets go of its
// start-up pages, which decides what it maps back). It reads the RSS 3 s
// later; then, as a kubelet probe would, sends one status request and reads
// it again 2 s after that.
func (e *benchEnv) idleMemory(dataDir string, extra []string) (idleMemory, error) {
	p, _, err := e.startPodTimed(dataDir, extra, true)
	if err != nil {
		return idleMemory{}, err
	}
	defer p.stop()
	var m idleMemory
	time.Sleep(3 * time.Second)
	if m.quiet, err = rssMiB(p.cmd.Process.Pid); err != nil {
		return idleMemory{}, err
	}
	if err := p.status(); err != nil {
		return idleMemory{}, fmt.Errorf("status probe: %w", err)
	}
	time.Sleep(2 * time.Second)
	m.probed, err = rssMiB(p.cmd.Process.Pid)
	return m, err
}

func med(ds []time.Duration) time.Duration {
	if len(ds) == 0 {
		return 0
	}
	s := slices.Clone(ds)
	slices.Sort(s)
	return s[len(s)/2]
}

// memory is a process's resident memory, in MiB: VmRSS, and its anonymous
// (heap, stacks) and file-backed (the binary's pages) parts.
type memory struct {
	rss, anon, file float64
}

func (m memory) String() string {
	return fmt.Sprintf("%.1f MiB (anon %.1f, file %.1f)", m.rss, m.anon, m.file)
}

// rssMiB reads the resident memory of a process from /proc/<pid>/status.
func rssMiB(pid int) (memory, error) {
	f, err := os.Open(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return memory{}, err
	}
	defer f.Close()
	var m memory
	fields := map[string]*float64{"VmRSS:": &m.rss, "RssAnon:": &m.anon, "RssFile:": &m.file}
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		for name, dst := range fields {
			if rest, ok := strings.CutPrefix(sc.Text(), name); ok {
				kb, err := strconv.Atoi(strings.TrimSpace(strings.TrimSuffix(strings.TrimSpace(rest), "kB")))
				if err != nil {
					return memory{}, err
				}
				*dst = float64(kb) / 1024
			}
		}
	}
	if m.rss == 0 {
		return memory{}, errors.New("no VmRSS")
	}
	return m, nil
}

func (e *benchEnv) peerTLS() (*tls.Config, error) {
	kp, err := e.dir.MemberKey(demoSID, e.family)
	if err != nil {
		return nil, err
	}
	return &tls.Config{
		MinVersion:   tls.VersionTLS13,
		RootCAs:      e.roots,
		ServerName:   fmt.Sprintf("%s.members-%d.%s", e.demoMember, demoSID, network),
		Certificates: []tls.Certificate{kp.TLSCertificate()},
	}, nil
}

// startStatic starts the plain server with the pod's membership
// certificate, so that clients see the same TLS.
func (e *benchEnv) startStatic(extra []string) (*proc, error) {
	self, err := os.Executable()
	if err != nil {
		return nil, err
	}
	s := pki.Subject{Kind: pki.KindMember, ID: e.demoMember.String(), ServiceID: demoSID, Network: network}
	certFile, keyFile := e.dir.Paths(s)
	rootFile, _ := e.dir.Paths(pki.Subject{Kind: pki.KindRootCA, Network: network})
	cmd := exec.Command(self, append([]string{"static", "-cert", certFile, "-key", keyFile, "-root", rootFile}, extra...)...)
	cmd.Stderr = os.Stderr
	out, err := cmd.StdoutPipe()
	if err != nil {
		return nil, err
	}
	if err := cmd.Start(); err != nil {
		return nil, err
	}
	addr, err := bufio.NewReader(out).ReadString('\n')
	if err != nil {
		cmd.Process.Kill()
		return nil, fmt.Errorf("static server: %w", err)
	}
	return &proc{cmd: cmd, addr: strings.TrimSpace(addr)}, nil
}

func fetch(tc *tls.Config, url string, body []byte) ([]byte, error) {
	c := &http.Client{Transport: &http.Transport{TLSClientConfig: tc}}
	defer c.CloseIdleConnections()
	resp, err := c.Post(url, "application/json", bytes.NewReader(body))
	if err != nil {
		return nil, err
	}
	defer resp.Body.Close()
	data, err := io.ReadAll(resp.Body)
	if err != nil {
		return nil, err
	}
	if resp.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("%s: %s", resp.Status, data)
	}
	return data, nil
}

// result is what load measured.
type result struct {
	rps      float64
	p50, p99 time.Duration
	// cpu is the server's CPU time (user and system) per measured
	// request.
	cpu time.Duration
}

// load sends body to url from e.concurrency keep-alive connections for
// e.warmup plus e.duration, and measures the requests after the warm-up.
// Every answer must be 200 with want bytes.
func (e *benchEnv) load(url string, body []byte, want int, tc *tls.Config, pid int) (result, error) {
	tr := &http.Transport{
		TLSClientConfig:     tc,
		MaxIdleConnsPerHost: e.concurrency,
		MaxConnsPerHost:     e.concurrency,
		DisableCompression:  true,
	}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, Timeout: 10 * time.Second}
	start := time.Now()
	measureFrom := start.Add(e.warmup)
	end := measureFrom.Add(e.duration)
	lats := make([][]time.Duration, e.concurrency)
	errs := make(chan error, e.concurrency)
	cpuFrom := make(chan time.Duration, 1)
	go func() {
		time.Sleep(time.Until(measureFrom))
		cpuFrom <- cpuTime(pid)
	}()
	buf := make([][]byte, e.concurrency)
	for w := range e.concurrency {
		buf[w] = make([]byte, 0, want+512)
		go func() {
			for {
				t0 := time.Now()
				if t0.After(end) {
					errs <- nil
					return
				}
				req, _ := http.NewRequest(http.MethodPost, url, bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				resp, err := client.Do(req)
				if err != nil {
					errs <- err
					return
				}
				b := bytes.NewBuffer(buf[w][:0])
				_, err = b.ReadFrom(resp.Body)
				resp.Body.Close()
				if err != nil || resp.StatusCode != http.StatusOK || b.Len() != want {
					errs <- fmt.Errorf("answer %d, %d bytes (want %d): %v %.200s", resp.StatusCode, b.Len(), want, err, b.Bytes())
					return
				}
				if t0.After(measureFrom) {
					lats[w] = append(lats[w], time.Since(t0))
				}
			}
		}()
	}
	for range e.concurrency {
		if err := <-errs; err != nil {
			return result{}, err
		}
	}
	cpu := cpuTime(pid) - <-cpuFrom
	var all []time.Duration
	for _, l := range lats {
		all = append(all, l...)
	}
	if len(all) == 0 {
		return result{}, errors.New("no requests measured")
	}
	slices.Sort(all)
	pct := func(p float64) time.Duration {
		return all[min(len(all)-1, int(float64(len(all))*p))].Round(time.Microsecond)
	}
	return result{rps: float64(len(all)) / e.duration.Seconds(), p50: pct(0.50), p99: pct(0.99),
		cpu: cpu / time.Duration(len(all))}, nil
}

// cpuTime returns the user and system time process pid has used, from
// /proc/<pid>/stat (in clock ticks of 10 ms), or 0 when it cannot.
func cpuTime(pid int) time.Duration {
	stat, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// The fields after the command name, which is in parentheses and may
	// hold spaces: state is the first, utime the 12th, stime the 13th.
	i := bytes.LastIndexByte(stat, ')')
	if i < 0 {
		return 0
	}
	f := strings.Fields(string(stat[i+1:]))
	if len(f) < 13 {
		return 0
	}
	utime, _ := strconv.ParseInt(f[11], 10, 64)
	stime, _ := strconv.ParseInt(f[12], 10, 64)
	return time.Duration(utime+stime) * 10 * time.Millisecond
}

func freePorts() (string, string, error) {
	var ports []string
	for range 2 {
		l, err := net.Listen("tcp", "127.0.0.1:0")
		if err != nil {
			return "", "", err
		}
		ports = append(ports, strconv.Itoa(l.Addr().(*net.TCPAddr).Port))
		defer l.Close()
	}
	return ports[0], ports[1], nil
}

func certPool(certs ...*x509.Certificate) *x509.CertPool {
	p := x509.NewCertPool()
	for _, c := range certs {
		p.AddCert(c)
	}
	return p
}
