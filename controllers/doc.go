// Package controllers holds the byoda operator: one reconciler per kind of
// byoda.net/v1alpha1 (DataPod, Service, Membership) and the manager that runs
// them.
//
// Every reconciler reads like a checklist: fetch, handle deletion, then
// named steps that each bring one concern to its desired state and record a
// condition, then one status write, only when the status changed. Children
// come from the pure builders of controllers/specs and are applied with
// server-side apply under the field owner "byoda-operator", with owner
// references; an applied child carries the hash of its desired state, so a
// pass that would change nothing makes no request at all. Keys and
// CertificateRequests are the exceptions: they are created once (a key is
// never regenerated, a request is immutable) and their Secrets are immutable.
//
// The private keys of accounts and members never leave the DataPod's
// namespace: certificates are obtained by sending a CSR through the signer
// port, to cert-manager as a CertificateRequest, or for a member of a
// service run elsewhere to that service's directory over REST, and the
// signed chain is copied back next to the key.
//
// A Service also gets its directory, `byoda service`, in a Deployment that
// mounts the members CA key and the service's certificates from
// cert-manager's Secrets, with the contract signed by the service and
// countersigned by the network.
package controllers
