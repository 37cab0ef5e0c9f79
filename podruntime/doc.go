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
//     POST /api/v1/pod/logout-everywhere (revokes every owner token),
//     POST /api/v1/pod/join (joins a service through its directory),
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
// claim, an id ("jti"), the generation of the owner's sessions ("gen"),
// and one hour of validity. Failed attempts are rate limited per client
// address (IPv6 per /64): a bucket of LoginBurst attempts refilled one per
// LoginRefill; an empty bucket answers 429 with Retry-After.
//
// # Owner sessions
//
// A token is valid only in the generation it was issued in. The generation
// is a random string kept in <DataDir>/owner-sessions.json with a
// fingerprint of the password: an HMAC-SHA256 of it under a key derived
// (HKDF) from the account's private key, so that the file alone does not
// let anyone test guesses of the password. The pod starts a new
// generation, and so revokes every earlier token, when the password's
// fingerprint differs from the file's (the password changed, or the
// account key), when the file is missing (a new or lost data directory)
// or unreadable, and when the owner calls POST
// /api/v1/pod/logout-everywhere with a valid token of any service. The
// file is replaced atomically before a revocation is answered; a
// revocation that cannot be written is a 500 and revokes nothing. Being
// random, a generation never comes back when the data directory is lost
// or rolled back. A revoked token gets 401 "token revoked: log in again".
//
// A websocket opened with a token (in connection_init or the upgrade
// request's header) lives in a context that ends when the token expires
// or is revoked; gqlgen closes a socket whose context is done, which ends
// its subscriptions.
//
// # Joining services through their directories
//
// Besides the services of its --contract files, a pod joins services
// through their directories (join.go): each --join URL at start, and
// POST /api/v1/pod/join {"service_url": ...} while it serves, with an
// owner token of any joined service (a pod always has one: it needs
// --contract or --join to start, and joins the --join services before it
// serves). A service directory's URL is
// https://service.service-<sid>.<net>[:port], resolved by the network's
// DNS (--dns-server), and its certificate chains to the network's root.
// Joining fetches the contract and verifies the service's and the
// network's signatures (contract.Verify); makes the member's TLS and
// member-data keys in the pod, whose private halves never leave it, and
// has the service's members CA sign their CSRs (a member the PKI directory
// holds already, made by the operator or 'byoda pki', is used as it is);
// saves them in the PKI directory's layout; publishes the member-data
// certificate at the service directory and the member's address
// (--address, else --peer-listen's) at the network directory (--directory);
// keeps the contract in <DataDir>/contracts/service-<sid>.json and the
// service in <DataDir>/joined.json; and serves the service's API on both
// ports. A restart opens what it kept and joins nothing again. A pod whose
// PKI directory has no certificate for its account (--account) registers
// the account with the network directory the same way, first. At every
// start a pod with --directory publishes the addresses of its account and
// memberships again.
//
// The memberships are published copy-on-write (members.go): a join or an
// upgrade makes a new set of memberships, routes and server certificates
// and swaps it in atomically, so requests read them without a lock while
// the pod serves, and the handlers look their membership up per request.
//
// # Contract upgrades
//
// For each service joined through its directory the pod asks the
// directory for its contract at start and every --contract-poll-interval
// (a minute). A higher version that verifies and only adds to the version
// served (contract.CheckUpgrade says exactly what that means) is taken up
// without a restart when the pod runs with --auto-upgrade, or when the
// owner joins the service again: the pod ends the membership's websockets
// and background work, closes its store and opens it again with the new
// contract (writes answer UNAVAILABLE for that moment, reads go on), then
// serves the new API; if the store does not open, it opens it again with
// the old contract. A version that changes or removes is refused: the pod
// logs why once ("Refused a contract upgrade that changes or removes") and
// keeps serving its version. GET /api/v1/status shows, for each such
// service, its directory and the condition ContractUpToDate, whose reason
// is UpToDate, Upgraded, UpgradeAvailable (without --auto-upgrade),
// UpgradeRefused, UpgradeFailed or ContractUnverified.
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
// # Secrets
//
// The owner password file and the key-encryption key file must be
// private: no access for other users, and none for the group either when
// the pod's own user owns the file (chmod 600). A file owned by another
// user (root, in a Kubernetes Secret volume mounted with the pod's
// fsGroup) may be read by its group, which the kubelet needs to give the
// pod's user access, but not changed. The mode is that of the target of a
// symbolic link (Secret volumes link into ..data). The password must have
// at least MinPasswordLength characters. Either refusal names the file and
// the fix, and the pod does not start.
//
// # Limits
//
// Request bodies are at most 1 MiB (413), pages at most 500 items, and
// queries are bounded in depth and complexity by podruntime/graphql. The
// servers set ReadHeaderTimeout, ReadTimeout, WriteTimeout, IdleTimeout and
// MaxHeaderBytes; websockets are exempt from the read and write timeouts
// once upgraded and are kept alive by pings. Every error is a JSON body in
// the GraphQL error shape, {"errors":[{"message":...,"extensions":{"code":...}}]};
// a 500 also names the request's id (extensions.request_id, and the
// X-Request-Id header every answer has), under which the log has the cause.
//
// Each port takes at most Config.MaxConns connections at once, and at
// most Config.MaxConnsPerAddress from one client address (an IPv4
// address, an IPv6 /64), counted at accept: a connection over either is
// closed at once, before its TLS handshake. The per-address cap keeps one
// address from taking a port, so the owner can log in while anonymous
// clients sit at their cap, and the ports count apart, so the peer port
// is not starved by the owner port. By default MaxConns is half of what
// remains of the open-file limit (RLIMIT_NOFILE) after a quarter (at
// least 128) is kept for the stores' files and outbound connections, at
// most DefaultMaxConns (memory, about 50 KiB an idle websocket, runs out
// before files then); MaxConnsPerAddress is a quarter of MaxConns, at
// most DefaultMaxConnsPerAddress. Refusals are counted per port and
// reason; accept errors (too many open files) are counted and logged at
// warn level, at most every 10 seconds.
//
// # Following other pods
//
// A contract's listen_relations make the pod follow the pods its
// network_links name with one of the relations (in lower case), each class
// of each pod on its own, at most 1,000 (follow.go): it subscribes to
// C_updates at the followed pod over the peer port, with the membership's
// certificate, reads what is new with C_connection(after: <last cursor>)
// on each append event (the records always come from that query, so a
// dropped event loses nothing), and appends each record, checked against
// the destination class, to destination_class and feed_class. A record is
// appended only when the destination holds no copy, found by
// origin_member_id and origin_cursor (which the pod fills in) or else by
// the primary key; a destination with neither is at-least-once, with a
// warning. The last cursor of each followed class and pod is kept in
// <DataDir>/state/follow-service-<sid>.json: without it a follow reads
// from the beginning and copies nothing twice. Lost connections are
// retried after a jittered wait of 1 s to 60 s, links are watched in the
// store (and read again every minute), and only appends are copied.
package podruntime
