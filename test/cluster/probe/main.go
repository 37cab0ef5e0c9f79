// Command probe is the test cluster's own workload: a small HTTP server, and a
// client that resolves names and fetches URLs from inside a pod, so a test can
// see Services, kube-proxy and cluster DNS work through `kubectl logs`.
//
//	probe serve [-listen :8080]
//	probe check [-resolve NAME]... [-get URL]... [-timeout 2m]
//
// serve answers GET / with "probe <hostname>". check retries each name and URL
// until it succeeds or the timeout passes, prints one line per result
// ("resolve NAME: IP[,IP]" and "get URL: STATUS BODY") and exits 1 if any
// failed.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"sort"
	"strings"
	"syscall"
	"time"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: probe serve|check [flags]")
		os.Exit(2)
	}
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	var err error
	switch os.Args[1] {
	case "serve":
		err = serve(ctx, os.Args[2:])
	case "check":
		err = check(ctx, os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want serve or check", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "probe:", err)
		os.Exit(1)
	}
}

func serve(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet("serve", flag.ContinueOnError)
	listen := fs.String("listen", ":8080", "address to serve HTTP on")
	if err := fs.Parse(args); err != nil {
		return err
	}
	host, _ := os.Hostname()
	mux := http.NewServeMux()
	mux.HandleFunc("GET /{$}", func(w http.ResponseWriter, _ *http.Request) {
		fmt.Fprintf(w, "probe %s\n", host)
	})
	srv := &http.Server{
		Addr:              *listen,
		Handler:           mux,
		ReadHeaderTimeout: 5 * time.Second,
		ReadTimeout:       10 * time.Second,
		WriteTimeout:      10 * time.Second,
		IdleTimeout:       60 * time.Second,
	}
	errc := make(chan error, 1)
	go func() { errc <- srv.ListenAndServe() }()
	fmt.Printf("serving on %s\n", *listen)
	select {
	case err := <-errc:
		return err
	case <-ctx.Done():
	}
	shutdown, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	return srv.Shutdown(shutdown)
}

type list []string

func (l *list) String() string     { return strings.Join(*l, ",") }
func (l *list) Set(v string) error { *l = append(*l, v); return nil }

func check(ctx context.Context, args []string) error {
	var names, urls list
	fs := flag.NewFlagSet("check", flag.ContinueOnError)
	fs.Var(&names, "resolve", "DNS name to resolve (repeatable)")
	fs.Var(&urls, "get", "URL to fetch with GET (repeatable)")
	timeout := fs.Duration("timeout", 2*time.Minute, "how long to retry each check")
	if err := fs.Parse(args); err != nil {
		return err
	}
	ctx, cancel := context.WithTimeout(ctx, *timeout)
	defer cancel()
	failed := 0
	for _, name := range names {
		addrs, err := retry(ctx, func(ctx context.Context) (string, error) {
			addrs, err := net.DefaultResolver.LookupHost(ctx, name)
			sort.Strings(addrs)
			return strings.Join(addrs, ","), err
		})
		report("resolve", name, addrs, err, &failed)
	}
	client := &http.Client{Timeout: 5 * time.Second}
	for _, url := range urls {
		body, err := retry(ctx, func(ctx context.Context) (string, error) {
			req, err := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
			if err != nil {
				return "", err
			}
			resp, err := client.Do(req)
			if err != nil {
				return "", err
			}
			defer resp.Body.Close()
			b, err := io.ReadAll(io.LimitReader(resp.Body, 4<<10))
			if err != nil {
				return "", err
			}
			if resp.StatusCode != http.StatusOK {
				return "", fmt.Errorf("status %s: %s", resp.Status, b)
			}
			return fmt.Sprintf("%d %s", resp.StatusCode, strings.TrimSpace(string(b))), nil
		})
		report("get", url, body, err, &failed)
	}
	if failed > 0 {
		return fmt.Errorf("%d of %d checks failed", failed, len(names)+len(urls))
	}
	return nil
}

func report(kind, what, result string, err error, failed *int) {
	if err != nil {
		*failed++
		fmt.Printf("%s %s: FAILED: %v\n", kind, what, err)
		return
	}
	fmt.Printf("%s %s: %s\n", kind, what, result)
}

// retry calls f every second until it succeeds or ctx ends, logging each
// failure to stderr, and returns the last result.
func retry(ctx context.Context, f func(context.Context) (string, error)) (string, error) {
	for {
		attempt, cancel := context.WithTimeout(ctx, 5*time.Second)
		out, err := f(attempt)
		cancel()
		if err == nil {
			return out, nil
		}
		fmt.Fprintln(os.Stderr, "retrying:", err)
		select {
		case <-ctx.Done():
			return "", errors.Join(err, ctx.Err())
		case <-time.After(time.Second):
		}
	}
}
