// Command external-dns is upstream external-dns, built from its module so tests can
// publish DNSEndpoint objects into a real PowerDNS server.
package main

import (
	"sigs.k8s.io/external-dns/controller"

	_ "k8s.io/client-go/plugin/pkg/client/auth"
)

func main() {
	controller.Execute()
}
