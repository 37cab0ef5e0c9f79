// Package testenv starts the real components that byoda's tests run against,
// each on free loopback ports and torn down with t.Cleanup:
//
//   - a Kubernetes API server and etcd (envtest) with byoda's, cert-manager's and
//     external-dns's CRDs installed;
//   - the cert-manager controller as a process against that API server;
//   - a versitygw S3 server on a temporary directory with SigV4 credentials;
//   - PowerDNS with its HTTP API, and external-dns publishing DNSEndpoint objects
//     into it (or PowerDNS alone with given records, StartPowerDNS);
//   - a PostgreSQL server in a temporary cluster (StartPostgres).
//
// The binaries come from bin/ at the repository root, built by `make tools`
// (hack/tools.sh). A missing binary fails the test with the command that builds
// it: a test that silently skips its real component proves nothing.
package testenv
