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
// For the end-to-end suites that run byoda itself as processes it builds the
// binary once per suite (RunSuite, BuildByoda), makes a network's PKI
// (InitPKI) and the accounts and data directories of pods (NewPodAccount),
// and serves a DNS zone of the test process on loopback (ServeDNS).
//
// The binaries come from bin/ at the repository root, built by `make tools`
// (hack/tools.sh). A missing binary fails the test with the command that builds
// it: a test that silently skips its real component proves nothing.
package testenv
