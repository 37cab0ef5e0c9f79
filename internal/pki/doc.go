// Package pki is the public key infrastructure of a byoda network: the names
// of a network's certificates, the CA hierarchy, CSR creation, CSR signing under a
// name policy, chain verification that says who a caller is, and the on-disk
// layout used by the byoda pki command, devnet and tests.
//
// # Hierarchy
//
// All keys are ECDSA P-256. The hierarchy, with each CA's MaxPathLen:
//
//	root-ca.<net>                                      root, 10 years, path length 3
//	├── accounts-ca.accounts-ca.<net>                  5 years, path length 0
//	│   ├── <aid>.accounts.<net>                       account TLS, 1 year
//	│   └── <aid>.account-data.<net>                   account data, 1 year
//	├── services-ca.services-ca.<net>                  5 years, path length 2
//	│   └── service-ca.service-ca-<sid>.<net>          5 years, path length 1
//	│       ├── members-ca.members-ca-<sid>.<net>      5 years, path length 0
//	│       │   ├── <mid>.members-<sid>.<net>          member TLS
//	│       │   └── <mid>.member-data-<sid>.<net>      member data
//	│       ├── apps-ca.apps-ca-<sid>.<net>            5 years, path length 0
//	│       │   ├── <appid>.apps-<sid>.<net>           app TLS
//	│       │   └── <appid>.app-data-<sid>.<net>       app data
//	│       ├── service.service-<sid>.<net>            service TLS
//	│       └── data.service-data-<sid>.<net>          service data
//	└── network.network-data.<net>                     network data, 1 year
//
// Each name is both the common name and the only DNS name of its certificate.
// No certificate outlives its issuer, and NotBefore is set ClockSkew before
// signing time. CAs carry key usages cert sign, CRL sign and digital signature
// and DNS name constraints for their subtree; TLS certificates carry digital
// signature with server and client authentication; data certificates carry
// digital signature with document signing (RFC 9336), so neither can stand in
// for the other.
//
// # Policy
//
// A CA signs a request only if the requested name is one it issues (see
// CA.Sign), and the CA alone decides what the certificate may do. Verify does
// not trust that policy: it checks that the chain climbs the hierarchy name by
// name, so a members CA that somehow signed a member of another service, or a
// CA, is still refused.
//
// # On-disk layout
//
// A PKI directory, created by InitNetwork and extended by Dir.CreateService,
// Dir.CreateAccount, Dir.CreateMember and Dir.CreateApp:
//
//	DIR/network.json                                {"network": "<net>"}
//	DIR/network/root-ca.{crt,key}
//	DIR/network/accounts-ca.{crt,key}
//	DIR/network/services-ca.{crt,key}
//	DIR/network/network-data.{crt,key}
//	DIR/service-<sid>/service-ca.{crt,key}
//	DIR/service-<sid>/members-ca.{crt,key}
//	DIR/service-<sid>/apps-ca.{crt,key}
//	DIR/service-<sid>/service.{crt,key}             service TLS
//	DIR/service-<sid>/service-data.{crt,key}
//	DIR/service-<sid>/member-<mid>/member.{crt,key}
//	DIR/service-<sid>/member-<mid>/member-data.{crt,key}
//	DIR/service-<sid>/app-<appid>/app.{crt,key}
//	DIR/service-<sid>/app-<appid>/app-data.{crt,key}
//	DIR/account-<aid>/account.{crt,key}
//	DIR/account-<aid>/account-data.{crt,key}
//
// Keys are PKCS #8 PEM, mode 0600. A .crt file holds PEM certificates, the
// certificate first and then its issuers up to but excluding the root;
// root-ca.crt holds the root itself. Directories are created 0700. Every file
// is written atomically (a temporary file hard-linked into place) and never
// replaced: creating something that exists is an error wrapping ErrExists.
// network.json is written last, so a directory without it holds no network.
package pki
