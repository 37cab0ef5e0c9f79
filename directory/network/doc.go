// Package network is the network directory, byoda directory: the registry
// of a byoda network. It holds the network's CA keys (the accounts CA, the
// services CA and the network data key, loaded from a PKI directory), signs
// the certificates of accounts and service CAs, countersigns contracts,
// lists services, and publishes the DNS records of accounts, services and
// members, which its built-in DNS server (directory/dns) answers.
//
// # Who may do what
//
// A caller is anonymous or is who its client certificate says, verified in
// process for every request (directory.API.Identity):
//
//   - POST /api/v1/network/account with a CSR for <aid>.accounts.<net>:
//     anyone, for an account id nobody has registered (first come, first
//     served; rate limited per address). The account's own TLS certificate
//     may renew its TLS certificate and get its data certificate
//     (<aid>.account-data.<net>) signed; nobody else can.
//   - PUT /api/v1/network/account: the account's own TLS certificate.
//   - POST /api/v1/network/service with a CSR for
//     service-ca.service-ca-<sid>.<net>: anyone, for a service id nobody
//     has registered; the service's own TLS certificate for a renewal.
//   - PUT and PATCH /api/v1/network/service/service_id/<sid>: the TLS
//     certificate of that service (service.service-<sid>.<net>).
//   - PUT /api/v1/network/member: a member's TLS certificate, for its own
//     name, of a registered service.
//   - Everything else (the contract, the service list, the root CA, status,
//     metrics) is public.
//
// A CSR is signed only if its name is one the asking CA issues
// (internal/pki's policy) and one the caller may have; the CA decides
// everything else the certificate carries.
//
// # Contracts
//
// PATCH takes a contract signed by the service alone. The directory checks
// the service's signature against the network's root (contract.VerifyService),
// that the contract is for the service in the path, and countersigns it with
// the network data key; the registry stores it only if its version is
// higher than the stored one, in one statement, so that of two
// submissions of one version exactly one wins. The answer is the
// countersigned contract, which GET serves from then on.
//
// # DNS
//
// Registrations publish an A (or AAAA) record in the registry, in the same
// transaction: <aid>.accounts.<net> for an account, <mid>.members-<sid>.<net>
// for a member and service.service-<sid>.<net> for a service, with the
// address the request names or else its source address (never a header).
// The directory publishes its own address as dir.<net>, the zone's name
// server. The DNS server's view follows the registry: it loads every record
// at start, then asks the registry for the records changed since the last
// serial it saw every SyncInterval, and at once after each registration,
// which answers only when the view holds the change; directories sharing a
// PostgreSQL database see each other's registrations within SyncInterval.
package network
