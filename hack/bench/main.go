// Command bench is byoda's load generator. It runs real processes and
// reports in Markdown, for docs/benchmarks.md:
//
//	go run ./hack/bench pod [-records 10000] [-duration 10s] [-concurrency 8] [-byoda bin/byoda]
//
// pod measures a pod's start to ready, its idle resident memory, and the
// throughput and latency of GraphQL reads over the peer port (mutual TLS 1.3,
// keep-alive), against a plain net/http server that answers the same bytes
// over the same TLS setup, run as its own process in the same run.
//
// The static subcommand is that plain server; pod starts it.
package main

import (
	"fmt"
	"os"
)

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bench pod [flags] | bench static [flags]")
		os.Exit(2)
	}
	var err error
	switch os.Args[1] {
	case "pod":
		err = runPod(os.Args[2:])
	case "static":
		err = runStatic(os.Args[2:])
	default:
		err = fmt.Errorf("unknown subcommand %q: want pod or static", os.Args[1])
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}
