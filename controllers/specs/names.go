package specs

import (
	"strconv"

	"github.com/google/uuid"

	byodav1alpha1 "github.com/byoda-go/byoda/api/v1alpha1"
)

// FieldOwner is the field manager of every server-side apply the operator
// makes.
const FieldOwner = "byoda-operator"

// Keys of the Secrets and ConfigMaps the operator writes. The pki layout
// (internal/pki Dir) decides the file names they are mounted under.
const (
	KeyAccountKey     = "account.key"
	KeyAccountDataKey = "account-data.key"
	KeyAccountCert    = "account.crt"
	KeyAccountDataCrt = "account-data.crt"
	KeyRootCA         = "root-ca.crt"
	KeyNetworkJSON    = "network.json"
	KeyMemberKey      = "member.key"
	KeyMemberDataKey  = "member-data.key"
	KeyMemberCert     = "member.crt"
	KeyMemberDataCert = "member-data.crt"
	KeyContract       = "contract.json"
	KeyKEK            = "key"
	KeyPassword       = "password"
)

// Names of a DataPod's children, all in the DataPod's namespace.

// AccountKeySecretName is the Secret holding the account's private keys.
func AccountKeySecretName(dp *byodav1alpha1.DataPod) string { return dp.Name + "-account-key" }

// AccountSecretName is the Secret holding the account's certificate chains,
// the network root and network.json.
func AccountSecretName(dp *byodav1alpha1.DataPod) string { return dp.Name + "-account" }

// KEKSecretName is the Secret holding the Fernet key-encryption key.
func KEKSecretName(dp *byodav1alpha1.DataPod) string { return dp.Name + "-key-encryption-key" }

// OwnerPasswordSecretName is the Secret the operator generates the owner's
// password into when the spec names none.
func OwnerPasswordSecretName(dp *byodav1alpha1.DataPod) string { return dp.Name + "-owner-password" }

// AccountRequestName is the name of revision rev of the account's TLS (data
// false) or data certificate request.
func AccountRequestName(dp *byodav1alpha1.DataPod, data bool, rev int) string {
	kind := "-account-"
	if data {
		kind = "-account-data-"
	}
	return dp.Name + kind + strconv.Itoa(rev)
}

// Names of a Membership's children.

// MemberKeySecretName is the Secret, in the Membership's (and DataPod's)
// namespace, holding the member's private keys.
func MemberKeySecretName(m *byodav1alpha1.Membership) string { return m.Name + "-member-key" }

// MemberSecretName is the Secret, in the Membership's namespace, holding the
// member's certificate chains and the service's contract.
func MemberSecretName(m *byodav1alpha1.Membership) string { return m.Name + "-member" }

// MemberRequestName is the name, in the Service's namespace, of revision rev
// of a member's TLS (data false) or data certificate request. It carries the
// member id, which is unique in the network.
func MemberRequestName(mid uuid.UUID, data bool, rev int) string {
	kind := "member-"
	if data {
		kind = "member-data-"
	}
	return kind + mid.String() + "-" + strconv.Itoa(rev)
}

// Names of a Service's children, all in the Service's namespace.

// ContractConfigMapName is the ConfigMap the validated contract is published in.
func ContractConfigMapName(svc *byodav1alpha1.Service) string { return svc.Name + "-contract" }

// CA is one of the three CAs of a service.
type CA string

// The CAs of a service, in the order they are issued.
const (
	ServiceCA CA = "service-ca"
	MembersCA CA = "members-ca"
	AppsCA    CA = "apps-ca"
)

// CAName is the name of the Certificate, its Secret and the Issuer of one
// of a service's CAs.
func CAName(svc *byodav1alpha1.Service, ca CA) string { return svc.Name + "-" + string(ca) }

// ServiceTLSName is the name of the service's TLS Certificate and Secret.
func ServiceTLSName(svc *byodav1alpha1.Service) string { return svc.Name + "-service-tls" }

// ServiceDataName is the name of the service's data Certificate and Secret.
func ServiceDataName(svc *byodav1alpha1.Service) string { return svc.Name + "-service-data" }
