// Command etcd is the upstream etcd server, built from its library module because
// `go install` of etcd itself fails on its replace directives.
package main

import (
	"os"

	"go.etcd.io/etcd/server/v3/etcdmain"
)

func main() {
	etcdmain.Main(os.Args)
}
