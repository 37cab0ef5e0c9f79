package directory

import (
	"net/netip"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Paths of the network directory.
const (
	PathAccount  = "/api/v1/network/account"
	PathService  = "/api/v1/network/service"
	PathServices = "/api/v1/network/services"
	PathMember   = "/api/v1/network/member"
	PathRootCA   = "/root-ca.pem"
	PathStatus   = "/api/v1/status"
	PathMetrics  = "/metrics"

	// PathServiceID is the prefix of a service's path; ServicePath adds the
	// service id.
	PathServiceID = "/api/v1/network/service/service_id/"
)

// Paths of a service directory.
const (
	PathContract      = "/service-contract.json"
	PathServiceMember = "/api/v1/service/member"
	PathSearchValues  = "/api/v1/service/member/search"
	PathSearch        = "/api/v1/service/search"

	// PathMemberVersion is the prefix of MemberVersionPath.
	PathMemberVersion = "/api/v1/service/member/version/"
	// PathMemberCerts is the directory of MemberCertPath.
	PathMemberCerts = "/member-certs/"
)

// NetworkDirectoryName returns the network directory's own DNS name and
// the name of its server certificate: dir.<net>.
func NetworkDirectoryName(network string) string { return "dir." + network }

// ServicePath returns the path of service sid on the network directory.
func ServicePath(sid uint32) string {
	return PathServiceID + strconv.FormatUint(uint64(sid), 10)
}

// MemberVersionPath returns the path where a member publishes its
// member-data certificate for contract version v.
func MemberVersionPath(v int) string { return PathMemberVersion + strconv.Itoa(v) }

// MemberCertPath returns the path of member mid's member-data certificate
// chain on its service directory.
func MemberCertPath(mid uuid.UUID) string {
	return PathMemberCerts + "member-data-" + mid.String() + "-cert.pem"
}

// ParseMemberCertFile returns the member id of a file name of the form
// member-data-<mid>-cert.pem (the last element of MemberCertPath), accepting
// only the canonical lower-case UUID.
func ParseMemberCertFile(name string) (uuid.UUID, bool) {
	s, ok := strings.CutPrefix(name, "member-data-")
	if !ok {
		return uuid.Nil, false
	}
	s, ok = strings.CutSuffix(s, "-cert.pem")
	if !ok || len(s) != 36 {
		return uuid.Nil, false
	}
	mid, err := uuid.Parse(s)
	if err != nil || mid.String() != s {
		return uuid.Nil, false
	}
	return mid, true
}

// Limits of what a caller may send. Every body is read through a limit; a
// larger one is refused with 413 before it is parsed.
const (
	// MaxCSRBody bounds a CSR request: a P-256 CSR in PEM is under 600
	// bytes, so 8 KiB leaves room for an address and whitespace.
	MaxCSRBody = 8 << 10
	// MaxChainBody bounds a certificate chain request: a chain of byoda
	// certificates (at most four) in PEM is under 4 KiB.
	MaxChainBody = 32 << 10
	// MaxContractBody bounds a contract submission (contract.MaxSize).
	MaxContractBody = 1 << 20
	// MaxSearchBody bounds a member's search values.
	MaxSearchBody = 64 << 10
	// MaxSearchValues is how many values a member may make searchable.
	MaxSearchValues = 64
	// MaxSearchValueLen bounds one searchable value, in bytes.
	MaxSearchValueLen = 1024
	// MaxPageSize is the largest page of a listing; DefaultPageSize is the
	// size of a page when the request names none.
	MaxPageSize     = 1000
	DefaultPageSize = 100
	// MaxSearchResults bounds the member ids one search returns.
	MaxSearchResults = 100
)

// CSRRequest asks a CA to sign a certificate signing request.
type CSRRequest struct {
	// CSR is one PEM CERTIFICATE REQUEST block for a byoda name.
	CSR string `json:"csr"`
	// Address, optional, is the IP address to publish in DNS for the new
	// name; the caller's source address is used when it is empty.
	Address string `json:"address,omitempty"`
}

// SignedCert is the answer to a CSR.
type SignedCert struct {
	// SignedCert is the new certificate, PEM.
	SignedCert string `json:"signed_cert"`
	// CertChain is its issuers, PEM, up to but excluding the root.
	CertChain string `json:"cert_chain"`
	// NetworkRootCA is the network's root CA certificate, PEM.
	NetworkRootCA string `json:"network_root_ca_cert"`
	// NetworkDataCert is the network data certificate chain, PEM, whose
	// key countersigns contracts (network directory answers only).
	NetworkDataCert string `json:"network_data_cert_chain,omitempty"`
	// ServiceDataCert is the service data certificate chain, PEM, whose
	// key signs the service's contracts (service directory answers only).
	ServiceDataCert string `json:"service_data_cert_chain,omitempty"`
}

// CertChainRequest hands a directory a certificate chain: a service's data
// certificate, or a member's member-data certificate.
type CertChainRequest struct {
	// CertChain is PEM: the certificate first, then its issuers up to but
	// excluding the root.
	CertChain string `json:"certchain"`
	// Address, optional, is the IP address to publish in DNS; the caller's
	// source address is used when it is empty.
	Address string `json:"address,omitempty"`
}

// AddressRequest is the optional body of a DNS registration (PUT account,
// PUT member).
type AddressRequest struct {
	// Address, optional, is the IP address to publish; the caller's source
	// address is used when it is empty.
	Address string `json:"address,omitempty"`
}

// AddressResponse says which address a registration published.
type AddressResponse struct {
	// Name is the DNS name that now resolves to Address.
	Name    string `json:"name"`
	Address string `json:"address"`
}

// ServiceSummary describes a service with a countersigned contract.
type ServiceSummary struct {
	ServiceID    uint32 `json:"service_id"`
	Version      int    `json:"version"`
	Name         string `json:"name"`
	Description  string `json:"description,omitempty"`
	Owner        string `json:"owner,omitempty"`
	Website      string `json:"website,omitempty"`
	SupportEmail string `json:"supportemail,omitempty"`
}

// ServiceList is a page of GET /api/v1/network/services. A page holds the
// services with the lowest ids from the query's "after" (exclusive; the
// start when absent), at most "limit" of them; Next is the "after" of the
// next page, absent on the last page.
type ServiceList struct {
	Services []ServiceSummary `json:"service_summaries"`
	Next     *uint32          `json:"next,omitempty"`
}

// SearchValue is one value of one field that a member makes searchable.
// Class is a top-level class of the contract and Field a field of its
// records that the contract gives the service the search right on.
type SearchValue struct {
	Class string `json:"class"`
	Field string `json:"field"`
	Value string `json:"value"`
}

// SearchValues replaces all the values a member makes searchable.
type SearchValues struct {
	Values []SearchValue `json:"values"`
}

// SearchResult is the answer to a search: the ids of the members with the
// value, in no particular order, at most MaxSearchResults of them.
type SearchResult struct {
	MemberIDs []string `json:"member_ids"`
	// Match and CaseSensitive say how the value was compared, from the
	// contract's specifiers.
	Match         string `json:"match"`
	CaseSensitive bool   `json:"casesensitive"`
}

// Status is GET /api/v1/status.
type Status struct {
	Status  string `json:"status"` // "ok"
	Network string `json:"network"`
	// ServiceID is set by a service directory.
	ServiceID *uint32 `json:"service_id,omitempty"`
	// ContractVersion is a service directory's contract version.
	ContractVersion int    `json:"contract_version,omitempty"`
	Storage         string `json:"storage"` // "sqlite" or "postgres"
	Version         string `json:"version"`
	Uptime          string `json:"uptime"`
	// Counts of what the registry holds, by kind.
	Counts map[string]int64 `json:"counts"`
	// DNSRecords and DNSSerial describe the zone a network directory
	// serves.
	DNSRecords int    `json:"dns_records,omitempty"`
	DNSSerial  uint32 `json:"dns_serial,omitempty"`
}

// ParseAddress parses an address a caller asks to publish. It accepts a
// unicast IPv4 or IPv6 address (loopback and private ranges included, for
// local networks) and refuses the unspecified address, multicast, link-local
// and zones.
func ParseAddress(s string) (netip.Addr, error) {
	a, err := netip.ParseAddr(s)
	if err != nil {
		return netip.Addr{}, errAddress(s, "not an IP address")
	}
	a = a.Unmap()
	switch {
	case a.Zone() != "":
		return netip.Addr{}, errAddress(s, "an address with a zone")
	case a.IsUnspecified(), a.IsMulticast(), a.IsLinkLocalUnicast(), a.IsLinkLocalMulticast(),
		a == netip.AddrFrom4([4]byte{255, 255, 255, 255}):
		return netip.Addr{}, errAddress(s, "not a unicast address")
	}
	return a, nil
}

func errAddress(s, why string) error {
	return &addressError{s: s, why: why}
}

type addressError struct{ s, why string }

func (e *addressError) Error() string {
	return "address " + strconv.Quote(e.s) + ": " + e.why + "; want a unicast IPv4 or IPv6 address, or no address to use the request's source address"
}

// RequestTimeout bounds how long a client waits for one request.
const RequestTimeout = 30 * time.Second
