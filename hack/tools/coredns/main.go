// Command coredns is CoreDNS with only the plugins a cluster DNS server needs
// (kubernetes, forward, cache, errors, health, ready, loop, reload, loadbalance,
// log), built from the github.com/coredns/coredns module for the one-node test
// cluster of test/cluster. Upstream's main links every plugin, and with them the
// SDKs of several clouds; this one links a cluster's worth.
package main

import (
	"github.com/coredns/coredns/coremain"
	_ "github.com/coredns/coredns/plugin/cache"
	_ "github.com/coredns/coredns/plugin/errors"
	_ "github.com/coredns/coredns/plugin/forward"
	_ "github.com/coredns/coredns/plugin/health"
	_ "github.com/coredns/coredns/plugin/kubernetes"
	_ "github.com/coredns/coredns/plugin/loadbalance"
	_ "github.com/coredns/coredns/plugin/log"
	_ "github.com/coredns/coredns/plugin/loop"
	_ "github.com/coredns/coredns/plugin/ready"
	_ "github.com/coredns/coredns/plugin/reload"
)

func main() {
	coremain.Run()
}
