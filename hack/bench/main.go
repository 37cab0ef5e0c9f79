// Command bench is byoda's load generator. It runs real processes and
// reports in Markdown, for docs/benchmarks.md:
//
//	go run ./hack/bench pod [-records 10000] [-duration 10s] [-concurrency 8] [-idle-wait 50s] [-byoda bin/byoda]
//
// pod measures a pod's start to ready, its idle resident memory (also
// after the load, once the pod has released memory for being idle), and the
// throughput and latency of GraphQL reads over the peer port (mutual TLS 1.3,
// keep-alive), against a plain net/http server that answers the same bytes
// over the same TLS setup, run as its own process in the same run.
//
//	go run ./hack/bench p2p [-wide 50] [-fan 10] [-queries 200] [-warmup 20] [-settle 150s] [-idle-release 30s] [-byoda bin/byoda]
//
// p2p runs many pods as processes on loopback, with the network's DNS
// server, and measures a recursive query of depth 1 over -wide linked pods
// and one of depth 2 over a tree of -fan pods that each link to -fan - 1
// more: latency, the pods' CPU per query, parallel against one-at-a-time
// fan-out (--fanout 1), and the pods' idle memory, before and after they
// release memory for being idle (-idle-release -1s turns that off).
//
// The static subcommand is that plain server; pod starts it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench pod [flags] | bench p2p [flags] | bench static [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "pod":
		err = runPod(os.Args[2:])
	case "p2p":
		err = runP2P(os.Args[2:])
	case "static":
		err = runStatic(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want pod, p2p or static", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
