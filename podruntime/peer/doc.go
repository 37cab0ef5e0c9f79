// Package peer is how pods talk to each other: the paths a pod serves on
// its peer port, and a Client that finds a member's pod and calls it.
//
// A member's pod is found by DNS: <mid>.members-<sid>.<net> resolves to its
// address (with the system resolver, or a DNS server the pod is given, as
// the local network and tests do), and listens on the network's peer port
// (DefaultPort unless the network says otherwise). The Client connects with
// TLS 1.3, presenting the member's TLS certificate of the service, and
// accepts the server only if internal/pki verifies its chain as the very
// member it asked for. Connections are kept alive, at most
// Options.MaxConnsPerPeer to one pod, and every answer is read within
// Options.MaxResponseBytes and the caller's deadline, so that a slow or
// misbehaving peer cannot stall or exhaust the pod that asked.
//
// Calls are GraphQL requests (Client.GraphQL), subscriptions over a
// websocket with the graphql-transport-ws protocol (Client.Subscribe), and
// the download of a member's data certificate (Client.DataCert).
package peer
