package launch

import (
	"path"
	"strconv"

	"github.com/byoda-go/byoda/podruntime/peer"
)

// Where `byoda pod` finds its files in a container. The operator mounts
// them there; the pod is told so by its flags.
const (
	// PKIDir holds the pod's PKI directory (internal/pki Dir layout),
	// read only.
	PKIDir = "/etc/byoda/pki"
	// ContractsDir holds the contract of each joined service; see
	// ContractPath.
	ContractsDir = "/etc/byoda/contracts"
	// OwnerDir holds OwnerPasswordFileName.
	OwnerDir = "/etc/byoda/owner"
	// KEKDir holds KEKFileName.
	KEKDir = "/etc/byoda/key-encryption"
	// DataDir is the pod's writable data directory.
	DataDir = "/var/lib/byoda"
	// LocalStorageDir is the object store of a pod without S3 storage.
	LocalStorageDir = DataDir + "/storage"

	// OwnerPasswordFileName is the owner password file in OwnerDir.
	OwnerPasswordFileName = "password"
	// KEKFileName is the key-encryption key file in KEKDir.
	KEKFileName = "key"

	// OwnerPort and PeerPort are the container ports of the owner/app
	// listener and of the mutual-TLS peer listener.
	OwnerPort = 8443
	PeerPort  = 8444

	// DefaultPeerPort is the peer port of a network that names no other:
	// where a pod's Service (or its host) exposes the peer port.
	DefaultPeerPort = peer.DefaultPort
)

// OwnerPasswordFile is the path of the owner password file in a container.
const OwnerPasswordFile = OwnerDir + "/" + OwnerPasswordFileName

// KEKFile is the path of the key-encryption key file in a container.
const KEKFile = KEKDir + "/" + KEKFileName

// ContractFileName is the name of service sid's contract in ContractsDir.
func ContractFileName(sid uint32) string {
	return "service-" + strconv.FormatUint(uint64(sid), 10) + ".json"
}

// ContractPath is where the contract of service sid is in a container.
func ContractPath(sid uint32) string { return path.Join(ContractsDir, ContractFileName(sid)) }

// Where `byoda service` finds its files in the container of a Service's
// directory. Its PKI directory is at PKIDir and its registry in DataDir,
// as a pod's.
const (
	// ServiceContractDir holds ServiceContractFileName, the contract the
	// network countersigned.
	ServiceContractDir = "/etc/byoda/service-contract"
	// ServiceContractFileName is the contract file in ServiceContractDir.
	ServiceContractFileName = "contract.json"
	// ServiceContractFile is the path of the contract in a container.
	ServiceContractFile = ServiceContractDir + "/" + ServiceContractFileName

	// DirectoryPort is the container port of a service directory's HTTPS
	// listener: a non-root process cannot bind 443.
	DirectoryPort = 8443
)
