// Package podruntime is a person's data pod: for every service it has joined
// it serves the GraphQL API the service's contract describes, over the
// member's encrypted store, and enforces the contract's access rules for
// whoever calls.
//
// # Ports
//
// A pod listens on two ports:
//
//   - The owner port (Config.Listen) serves HTTPS with the account's TLS
//     certificate, for the pod's owner, their browser and their apps:
//     POST /api/v1/pod/authtoken (owner login, returns a JWT),
//     /api/v1/data/service-<sid> (GraphQL: POST, GET, websocket; GraphiQL
//     for a browser), GET /api/v1/status and GET /metrics. A request with
//     "Authorization: Bearer <JWT>" is the owner, the contract's "member"
//     entity, for the service the token was issued for; a request without
//     credentials is "anonymous"; a bad token is refused with 401.
//   - The peer port (Config.PeerListen) serves TLS 1.3 only and requires a
//     client certificate of the network, which internal/pki verifies
//     during the handshake. It serves the same GraphQL paths to other
//     pods, services and apps. Who calls is derived from the verified
//     chain alone: a member of the same service is "any_member", or
//     "network" (at distance 1, with the relations of the links) when this
//     pod's network_links class links to its member id; the service's own
//     certificate is "service"; an app of the service gets only what
//     "anonymous" gets until apps are supported. A member of a service the
//     pod has not joined, an account or the network itself is refused
//     during the handshake; a member or service of one joined service
//     calling another's path gets 403.
//
// # Owner login
//
// The username is the account id, the password the content of the owner
// password file (without a trailing newline). The pod keeps only the
// password's SHA-256 in memory and compares in constant time. Tokens are
// ES256 JWTs signed with the account's TLS key: issuer the account's name
// (<aid>.accounts.<net>), subject the member id of the service,
// audience the member's name (<mid>.members-<sid>.<net>), a "service_id"
// claim, and one hour of validity. Failed attempts are rate limited per
// client address (IPv6 per /64): a bucket of LoginBurst attempts refilled one
// per LoginRefill; an empty bucket answers 429 with Retry-After.
//
// # Storage
//
// Each membership has its own store (podruntime/store) on the object store
// Config.StorageURL names, under the store's default prefix for the
// membership. The store's data key is wrapped by the key-encryption key in
// Config.KEKFile, which the pod reads but never creates: a missing KEK is an
// error, and a KEK that does not open an existing store's data key is an
// error naming the store, never a reason to make a new key.
//
// # Limits
//
// Request bodies are at most 1 MiB (413), pages at most 500 items, and
// queries are bounded in depth and complexity by podruntime/graphql. The
// servers set ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout and
// MaxHeaderBytes; websockets are exempt from the read and write timeouts
// once upgraded and are kept alive by pings. Every error is a JSON body in
// the GraphQL error shape, {"errors":[{"message":...,"extensions":{"code":...}}]}.
package podruntime
