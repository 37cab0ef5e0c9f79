// Package directory is the REST API of a byoda network's two registries, the
// network directory (byoda directory, package directory/network) and a
// service's directory (byoda service, package directory/service): the paths,
// the request and response bodies, the limits every endpoint keeps, and the
// HTTP plumbing both servers share. The client package directory/client
// speaks the same API from these same definitions, so a path or a field
// that the two sides must agree on is spelled once, here.
//
// # Network directory
//
//	POST  /api/v1/network/account                 account CSR -> accounts CA; first come, or the account's own certificate
//	PUT   /api/v1/network/account                 the account's certificate: its DNS record
//	POST  /api/v1/network/service                 service CA CSR -> services CA; first come, or the service's own certificate
//	PUT   /api/v1/network/service/service_id/<sid> the service's certificate: its data certificate and DNS record
//	PATCH /api/v1/network/service/service_id/<sid> the service's certificate: a service-signed contract, countersigned
//	GET   /api/v1/network/service/service_id/<sid> the countersigned contract
//	GET   /api/v1/network/services                paged service summaries
//	PUT   /api/v1/network/member                  a member's certificate: its DNS record
//	GET   /root-ca.pem, /api/v1/status, /metrics
//
// # Service directory
//
//	GET  /service-contract.json                      the countersigned contract
//	POST /api/v1/service/member                      member CSR -> members CA; first come, or the member's own certificate
//	PUT  /api/v1/service/member/version/<v>          a member's certificate: its member-data certificate
//	GET  /member-certs/member-data-<mid>-cert.pem    a member-data certificate chain
//	PUT  /api/v1/service/member/search               a member's certificate: the values it makes searchable
//	GET  /api/v1/service/search?class=&field=&value= a member's certificate: the members with that value
//	GET  /api/v1/status, /metrics
//
// # Authentication
//
// Servers ask for a client certificate and never require one at the TLS
// layer: ClientIdentity verifies the chain a caller sent against the
// network's root with internal/pki, in process, for every request, and a
// request whose certificate does not verify (forged, expired, of another
// network, a data certificate) is refused with 401 whatever the endpoint,
// rather than treated as anonymous. Nothing is ever taken from a header,
// and a caller's address is the connection's source address.
//
// # Errors
//
// Every error is JSON in the shape of a GraphQL response with errors, as the
// pods answer: {"errors": [{"message": "...", "extensions": {"code":
// "BAD_REQUEST"}}]}. The message says what was wrong and how to fix it; a
// 500 says only which request id the server's log explains.
package directory
