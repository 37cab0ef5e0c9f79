package main

import (
	"context"
	"crypto/tls"
	"flag"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/signal"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
)

// runStatic serves fixed bytes over the TLS setup of a pod's peer port: TLS
// 1.3 only, HTTP/1.1, a client certificate required and verified against
// the network root, the same server certificate. It is the baseline the pod
// is compared with. Each path given with -body PATH=FILE answers POSTs with
// the content of FILE.
func runStatic(args []string) error {
	fs := flag.NewFlagSet("static", flag.ContinueOnError)
	listen := fs.String("listen", "127.0.0.1:0", "address")
	certFile := fs.String("cert", "", "server certificate chain (PEM)")
	keyFile := fs.String("key", "", "server key (PEM)")
	rootFile := fs.String("root", "", "network root CA (PEM)")
	var bodies multiFlag
	fs.Var(&bodies, "body", "PATH=FILE: answer POST PATH with FILE (repeatable)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	cert, err := tls.LoadX509KeyPair(*certFile, *keyFile)
	if err != nil {
		return err
	}
	rootPEM, err := os.ReadFile(*rootFile)
	if err != nil {
		return err
	}
	roots, err := pki.ParseCertificates(rootPEM)
	if err != nil {
		return err
	}
	verifier := &pki.Verifier{Roots: certPool(roots...)}
	mux := http.NewServeMux()
	for _, b := range bodies {
		path, file, ok := strings.Cut(b, "=")
		if !ok {
			return fmt.Errorf("-body %q: want PATH=FILE", b)
		}
		data, err := os.ReadFile(file)
		if err != nil {
			return err
		}
		mux.HandleFunc("POST "+path, func(w http.ResponseWriter, r *http.Request) {
			// Read the request as the pod does, then answer.
			if _, err := io.Copy(io.Discard, http.MaxBytesReader(w, r.Body, 1<<20)); err != nil {
				http.Error(w, err.Error(), http.StatusRequestEntityTooLarge)
				return
			}
			// As the pod answers: with the length, in one write.
			w.Header().Set("Content-Type", "application/json")
			w.Header().Set("Content-Length", strconv.Itoa(len(data)))
			w.Write(data)
		})
	}
	srv := &http.Server{
		Handler:           mux,
		ReadHeaderTimeout: 10 * time.Second,
		ReadTimeout:       30 * time.Second,
		WriteTimeout:      30 * time.Second,
		IdleTimeout:       2 * time.Minute,
		TLSConfig: &tls.Config{
			MinVersion:       tls.VersionTLS13,
			ClientAuth:       tls.RequireAndVerifyClientCert,
			ClientCAs:        verifier.Roots,
			Certificates:     []tls.Certificate{cert},
			VerifyConnection: verifier.VerifyConnection,
			NextProtos:       []string{"http/1.1"},
		},
	}
	srv.Protocols = new(http.Protocols)
	srv.Protocols.SetHTTP1(true)
	l, err := net.Listen("tcp", *listen)
	if err != nil {
		return err
	}
	// The parent reads the address from the first line.
	fmt.Println(l.Addr().String())
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	go func() {
		<-ctx.Done()
		srv.Close()
	}()
	if err := srv.Serve(tls.NewListener(l, srv.TLSConfig)); err != http.ErrServerClosed {
		return err
	}
	return nil
}

type multiFlag []string

func (m *multiFlag) String() string     { return strings.Join(*m, ",") }
func (m *multiFlag) Set(v string) error { *m = append(*m, v); return nil }
