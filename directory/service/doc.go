// Package service is a service's directory, byoda service: it publishes the
// service's countersigned contract, signs its members' certificates with
// the service's members CA, keeps their member-data certificates, and
// answers searches over the fields the contract lets the service search.
//
// # Who may do what
//
//   - GET /service-contract.json and GET /member-certs/...: anyone.
//   - POST /api/v1/service/member with a CSR for <mid>.members-<sid>.<net>:
//     anyone, for a member id nobody has registered (first come; rate
//     limited per address). The member's own TLS certificate may renew it
//     and get its member-data certificate (<mid>.member-data-<sid>.<net>)
//     signed; nobody else can.
//   - PUT /api/v1/service/member/version/<v> and PUT
//     /api/v1/service/member/search: the member's own TLS certificate.
//   - GET /api/v1/service/search: a member of the service, or the service
//     itself (its TLS certificate).
//
// # Search
//
// Members push the values they make searchable (PUT
// /api/v1/service/member/search, which replaces all of a member's values);
// the service never reaches into pods for them. A pod decides what it
// publishes, the directory needs no credentials for the pods, and a search
// costs one indexed query. The directory accepts a value only for a field
// of a top-level class on which the contract gives the service the search
// right, and only string fields. A search answers member ids, at most
// directory.MaxSearchResults, compared as the field's permission says:
// "match" exact or prefix ("glob" and "regex" are refused with a clear
// error), "casesensitive" or not, case-insensitive comparisons being on
// Unicode case-folded values.
package service
