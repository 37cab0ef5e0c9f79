package pki

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/google/uuid"
)

// ErrInvalidName is returned (wrapped) by ParseName and by every function that
// is handed a name which is not one of the names in the package documentation.
var ErrInvalidName = errors.New("invalid byoda name")

// Kind says which certificate of the hierarchy a name belongs to.
type Kind int

// The kinds of certificate in a byoda network, in hierarchy order.
const (
	KindInvalid     Kind = iota
	KindRootCA           // root-ca.<net>
	KindAccountsCA       // accounts-ca.accounts-ca.<net>
	KindServicesCA       // services-ca.services-ca.<net>
	KindNetworkData      // network.network-data.<net>
	KindServiceCA        // service-ca.service-ca-<sid>.<net>
	KindMembersCA        // members-ca.members-ca-<sid>.<net>
	KindAppsCA           // apps-ca.apps-ca-<sid>.<net>
	KindService          // service.service-<sid>.<net>
	KindServiceData      // data.service-data-<sid>.<net>
	KindAccount          // <aid>.accounts.<net>
	KindAccountData      // <aid>.account-data.<net>
	KindMember           // <mid>.members-<sid>.<net>
	KindMemberData       // <mid>.member-data-<sid>.<net>
	KindApp              // <appid>.apps-<sid>.<net>
	KindAppData          // <appid>.app-data-<sid>.<net>
	kindCount
)

var kindNames = [kindCount]string{
	KindInvalid:     "invalid",
	KindRootCA:      "root CA",
	KindAccountsCA:  "accounts CA",
	KindServicesCA:  "services CA",
	KindNetworkData: "network data",
	KindServiceCA:   "service CA",
	KindMembersCA:   "members CA",
	KindAppsCA:      "apps CA",
	KindService:     "service TLS",
	KindServiceData: "service data",
	KindAccount:     "account TLS",
	KindAccountData: "account data",
	KindMember:      "member TLS",
	KindMemberData:  "member data",
	KindApp:         "app TLS",
	KindAppData:     "app data",
}

// String returns a human name for the kind, as used in error messages.
func (k Kind) String() string {
	if k < 0 || k >= kindCount {
		return "kind(" + strconv.Itoa(int(k)) + ")"
	}
	return kindNames[k]
}

// IsCA reports whether certificates of this kind are certificate authorities.
func (k Kind) IsCA() bool {
	switch k {
	case KindRootCA, KindAccountsCA, KindServicesCA, KindServiceCA, KindMembersCA, KindAppsCA:
		return true
	}
	return false
}

// IsData reports whether certificates of this kind sign data (contracts,
// queries) rather than authenticate TLS connections.
func (k Kind) IsData() bool {
	switch k {
	case KindNetworkData, KindServiceData, KindAccountData, KindMemberData, KindAppData:
		return true
	}
	return false
}

// hasServiceID reports whether names of this kind carry a service id.
func (k Kind) hasServiceID() bool {
	switch k {
	case KindServiceCA, KindMembersCA, KindAppsCA, KindService, KindServiceData,
		KindMember, KindMemberData, KindApp, KindAppData:
		return true
	}
	return false
}

// Role is who a verified certificate says the caller is. Access rules in
// contracts are written against these roles.
type Role string

// The roles a certificate can carry.
const (
	RoleAccount Role = "account" // a data pod, as itself
	RoleMember  Role = "member"  // a data pod, as a member of one service
	RoleService Role = "service" // a service (its directory or servers)
	RoleApp     Role = "app"     // an app of one service
	RoleNetwork Role = "network" // the network itself (its data key signs contracts)
)

// Role returns the role a leaf certificate of this kind gives its holder, or ""
// for CAs.
func (k Kind) Role() Role {
	switch k {
	case KindNetworkData:
		return RoleNetwork
	case KindService, KindServiceData:
		return RoleService
	case KindAccount, KindAccountData:
		return RoleAccount
	case KindMember, KindMemberData:
		return RoleMember
	case KindApp, KindAppData:
		return RoleApp
	}
	return ""
}

// Subject is a parsed byoda name: which certificate it is, in which network,
// for which service and which account, member or app.
type Subject struct {
	Kind      Kind
	ID        string // canonical lower-case UUID for accounts, members and apps; else ""
	ServiceID uint32 // for service-scoped kinds; else 0
	Network   string
}

// Name returns the canonical name of the subject: the common name and DNS name
// of its certificate.
func (s Subject) Name() string {
	return formatName(s.Kind, strconv.FormatUint(uint64(s.ServiceID), 10), s.ID, s.Network)
}

// String returns the name.
func (s Subject) String() string { return s.Name() }

// formatName is the one place that spells names. It takes the service id and
// the UUID as strings so that error messages can show patterns such as
// "<uuid>.members-7.byoda.net".
func formatName(k Kind, sid, id, network string) string {
	switch k {
	case KindRootCA:
		return "root-ca." + network
	case KindAccountsCA:
		return "accounts-ca.accounts-ca." + network
	case KindServicesCA:
		return "services-ca.services-ca." + network
	case KindNetworkData:
		return "network.network-data." + network
	case KindServiceCA:
		return "service-ca.service-ca-" + sid + "." + network
	case KindMembersCA:
		return "members-ca.members-ca-" + sid + "." + network
	case KindAppsCA:
		return "apps-ca.apps-ca-" + sid + "." + network
	case KindService:
		return "service.service-" + sid + "." + network
	case KindServiceData:
		return "data.service-data-" + sid + "." + network
	case KindAccount:
		return id + ".accounts." + network
	case KindAccountData:
		return id + ".account-data." + network
	case KindMember:
		return id + ".members-" + sid + "." + network
	case KindMemberData:
		return id + ".member-data-" + sid + "." + network
	case KindApp:
		return id + ".apps-" + sid + "." + network
	case KindAppData:
		return id + ".app-data-" + sid + "." + network
	}
	return ""
}

// RootCAName returns the name of the network root CA.
func RootCAName(network string) string { return formatName(KindRootCA, "", "", network) }

// AccountsCAName returns the name of the CA that signs account certificates.
func AccountsCAName(network string) string { return formatName(KindAccountsCA, "", "", network) }

// ServicesCAName returns the name of the CA that signs service CAs.
func ServicesCAName(network string) string { return formatName(KindServicesCA, "", "", network) }

// NetworkDataName returns the name of the network's data certificate, whose key
// countersigns contracts.
func NetworkDataName(network string) string { return formatName(KindNetworkData, "", "", network) }

// ServiceCAName returns the name of a service's own CA.
func ServiceCAName(sid uint32, network string) string {
	return Subject{Kind: KindServiceCA, ServiceID: sid, Network: network}.Name()
}

// MembersCAName returns the name of the CA that signs a service's members.
func MembersCAName(sid uint32, network string) string {
	return Subject{Kind: KindMembersCA, ServiceID: sid, Network: network}.Name()
}

// AppsCAName returns the name of the CA that signs a service's apps.
func AppsCAName(sid uint32, network string) string {
	return Subject{Kind: KindAppsCA, ServiceID: sid, Network: network}.Name()
}

// ServiceName returns the name of a service's TLS certificate.
func ServiceName(sid uint32, network string) string {
	return Subject{Kind: KindService, ServiceID: sid, Network: network}.Name()
}

// ServiceDataName returns the name of a service's data certificate, whose key
// signs the service's contracts.
func ServiceDataName(sid uint32, network string) string {
	return Subject{Kind: KindServiceData, ServiceID: sid, Network: network}.Name()
}

// AccountName returns the name of an account's (a data pod's) TLS certificate.
func AccountName(aid uuid.UUID, network string) string {
	return Subject{Kind: KindAccount, ID: aid.String(), Network: network}.Name()
}

// AccountDataName returns the name of an account's data certificate.
func AccountDataName(aid uuid.UUID, network string) string {
	return Subject{Kind: KindAccountData, ID: aid.String(), Network: network}.Name()
}

// MemberName returns the name of a membership's TLS certificate.
func MemberName(sid uint32, mid uuid.UUID, network string) string {
	return Subject{Kind: KindMember, ID: mid.String(), ServiceID: sid, Network: network}.Name()
}

// MemberDataName returns the name of a membership's data certificate, whose key
// signs recursive queries.
func MemberDataName(sid uint32, mid uuid.UUID, network string) string {
	return Subject{Kind: KindMemberData, ID: mid.String(), ServiceID: sid, Network: network}.Name()
}

// AppName returns the name of an app's TLS certificate.
func AppName(sid uint32, appID uuid.UUID, network string) string {
	return Subject{Kind: KindApp, ID: appID.String(), ServiceID: sid, Network: network}.Name()
}

// AppDataName returns the name of an app's data certificate.
func AppDataName(sid uint32, appID uuid.UUID, network string) string {
	return Subject{Kind: KindAppData, ID: appID.String(), ServiceID: sid, Network: network}.Name()
}

// fixedPrefixes maps the first label of names whose first label is fixed to
// their kind and the second label (without "-<sid>" when the kind has one).
var fixedPrefixes = map[string]struct {
	kind   Kind
	second string
}{
	"accounts-ca": {KindAccountsCA, "accounts-ca"},
	"services-ca": {KindServicesCA, "services-ca"},
	"network":     {KindNetworkData, "network-data"},
	"service-ca":  {KindServiceCA, "service-ca"},
	"members-ca":  {KindMembersCA, "members-ca"},
	"apps-ca":     {KindAppsCA, "apps-ca"},
	"service":     {KindService, "service"},
	"data":        {KindServiceData, "service-data"},
}

// idSeconds maps the second label of names that start with a UUID to their kind
// (without "-<sid>" when the kind has one).
var idSeconds = map[string]Kind{
	"accounts":     KindAccount,
	"account-data": KindAccountData,
	"members":      KindMember,
	"member-data":  KindMemberData,
	"apps":         KindApp,
	"app-data":     KindAppData,
}

// ParseName classifies a byoda name (a certificate's common name or DNS name).
// It accepts only canonical names: lower case, UUIDs in their 36-character
// form, service ids in decimal without leading zeros, and a valid network
// domain. The result's Name() equals cn.
func ParseName(cn string) (Subject, error) {
	s, err := parseName(cn)
	if err != nil {
		return Subject{}, fmt.Errorf("%w %q: %s", ErrInvalidName, cn, err)
	}
	return s, nil
}

func parseName(cn string) (Subject, error) {
	first, rest, ok := strings.Cut(cn, ".")
	if !ok {
		return Subject{}, errors.New("not a domain name")
	}
	if first == "root-ca" {
		if err := checkNetwork(rest); err != nil {
			return Subject{}, err
		}
		return Subject{Kind: KindRootCA, Network: rest}, nil
	}
	second, network, ok := strings.Cut(rest, ".")
	if !ok {
		return Subject{}, errors.New("too few labels")
	}
	if err := checkNetwork(network); err != nil {
		return Subject{}, err
	}
	s := Subject{Network: network}
	if p, ok := fixedPrefixes[first]; ok {
		s.Kind = p.kind
		if !s.Kind.hasServiceID() {
			if second != p.second {
				return Subject{}, fmt.Errorf("second label must be %q", p.second)
			}
			return s, nil
		}
		sid, ok := strings.CutPrefix(second, p.second+"-")
		if !ok {
			return Subject{}, fmt.Errorf("second label must be %q", p.second+"-<service id>")
		}
		if s.ServiceID, ok = parseServiceID(sid); !ok {
			return Subject{}, fmt.Errorf("service id %q is not a decimal uint32", sid)
		}
		return s, nil
	}
	if !isCanonicalUUID(first) {
		return Subject{}, fmt.Errorf("first label %q is neither a known prefix nor a UUID", first)
	}
	s.ID = first
	// The second label is "<word>" or "<word>-<sid>"; words may contain '-'.
	if k, ok := idSeconds[second]; ok && !k.hasServiceID() {
		s.Kind = k
		return s, nil
	}
	i := strings.LastIndexByte(second, '-')
	if i < 0 {
		return Subject{}, fmt.Errorf("unknown second label %q", second)
	}
	k, ok := idSeconds[second[:i]]
	if !ok || !k.hasServiceID() {
		return Subject{}, fmt.Errorf("unknown second label %q", second)
	}
	s.Kind = k
	if s.ServiceID, ok = parseServiceID(second[i+1:]); !ok {
		return Subject{}, fmt.Errorf("service id %q is not a decimal uint32", second[i+1:])
	}
	return s, nil
}

// parseServiceID accepts only the canonical decimal form of a uint32.
func parseServiceID(s string) (uint32, bool) {
	v, err := strconv.ParseUint(s, 10, 32)
	if err != nil || strconv.FormatUint(v, 10) != s {
		return 0, false
	}
	return uint32(v), true
}

// ParseServiceID parses a service id in its canonical decimal form.
func ParseServiceID(s string) (uint32, error) {
	v, ok := parseServiceID(s)
	if !ok {
		return 0, fmt.Errorf("service id %q: want a decimal number from 0 to 4294967295 without leading zeros", s)
	}
	return v, nil
}

func isCanonicalUUID(s string) bool {
	if len(s) != 36 {
		return false
	}
	u, err := uuid.Parse(s)
	return err == nil && u.String() == s
}

// ValidateNetwork checks that network is usable as a byoda network domain: a
// lower-case DNS name of at least two labels (such as byoda.net), short enough
// that every name of the hierarchy stays within DNS limits.
func ValidateNetwork(network string) error {
	if err := checkNetwork(network); err != nil {
		return fmt.Errorf("network %q: %s", network, err)
	}
	return nil
}

// maxNetworkLen keeps the longest name, "<uuid>.member-data-4294967295.<net>"
// (36+1+22+1 characters before the network), within the 253 characters of a
// DNS name.
const maxNetworkLen = 253 - 60

func checkNetwork(network string) error {
	if network == "" {
		return errors.New("empty network domain")
	}
	if len(network) > maxNetworkLen {
		return fmt.Errorf("network domain longer than %d characters", maxNetworkLen)
	}
	labels := strings.Split(network, ".")
	if len(labels) < 2 {
		return errors.New("network domain must have at least two labels, such as byoda.net")
	}
	for _, l := range labels {
		if err := checkLabel(l); err != nil {
			return fmt.Errorf("network domain label %q: %s", l, err)
		}
	}
	return nil
}

func checkLabel(l string) error {
	if l == "" {
		return errors.New("empty")
	}
	if len(l) > 63 {
		return errors.New("longer than 63 characters")
	}
	for i := 0; i < len(l); i++ {
		c := l[i]
		switch {
		case c >= 'a' && c <= 'z', c >= '0' && c <= '9':
		case c == '-' && i > 0 && i < len(l)-1:
		default:
			return errors.New("only a-z, 0-9 and inner '-' are allowed")
		}
	}
	return nil
}

// issuerOf returns the subject of the CA that must have signed s. It is the
// single statement of the hierarchy: CA.Sign refuses any name whose issuer is
// not the signing CA, and Verify refuses any chain that does not follow it.
// The root CA is its own issuer.
func issuerOf(s Subject) Subject {
	n := s.Network
	switch s.Kind {
	case KindRootCA, KindAccountsCA, KindServicesCA, KindNetworkData:
		return Subject{Kind: KindRootCA, Network: n}
	case KindServiceCA:
		return Subject{Kind: KindServicesCA, Network: n}
	case KindMembersCA, KindAppsCA, KindService, KindServiceData:
		return Subject{Kind: KindServiceCA, ServiceID: s.ServiceID, Network: n}
	case KindAccount, KindAccountData:
		return Subject{Kind: KindAccountsCA, Network: n}
	case KindMember, KindMemberData:
		return Subject{Kind: KindMembersCA, ServiceID: s.ServiceID, Network: n}
	case KindApp, KindAppData:
		return Subject{Kind: KindAppsCA, ServiceID: s.ServiceID, Network: n}
	}
	return Subject{}
}

// issuableKinds returns the kinds a CA of kind k signs.
func issuableKinds(k Kind) []Kind {
	var out []Kind
	for c := KindAccountsCA; c < kindCount; c++ {
		if issuerOf(Subject{Kind: c}).Kind == k {
			out = append(out, c)
		}
	}
	return out
}

// mayIssue describes, for error messages, the names a CA signs.
func mayIssue(ca Subject) string {
	sid := strconv.FormatUint(uint64(ca.ServiceID), 10)
	if ca.Kind == KindServicesCA {
		sid = "<service id>"
	}
	var names []string
	for _, k := range issuableKinds(ca.Kind) {
		names = append(names, formatName(k, sid, "<uuid>", ca.Network))
	}
	if len(names) == 0 {
		return "nothing"
	}
	return strings.Join(names, ", ")
}
