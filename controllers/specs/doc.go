// Package specs builds the desired state of every object the byoda operator
// manages, as pure functions of the custom resources and what the
// reconcilers learned (ids, addresses, joined memberships): apply
// configurations for the children applied with server-side apply, and the
// typed objects created once (key Secrets, CertificateRequests). Nothing here
// talks to a cluster; golden files in testdata pin the output
// (go test ./controllers/specs -update rewrites them).
package specs
