package devnet

import (
	"crypto/rand"
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"io/fs"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"time"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

// StateFile is the name of the file, in the state directory, that
// describes the running network.
const StateFile = "devnet.json"

// State describes a local network: what devnet.json holds.
type State struct {
	// Network is the network's domain.
	Network string `json:"network"`
	// ServiceID is the demo service's id.
	ServiceID uint32 `json:"service_id"`
	// DNSServer is the address (host:port, UDP and TCP) of the network's
	// DNS server.
	DNSServer string `json:"dns_server"`
	// RootCA is the file of the network's root certificate, which every
	// pod's certificate chains to.
	RootCA string `json:"root_ca"`
	// OwnerPort and PeerPort are the network's ports, the same on every
	// pod's address.
	OwnerPort int `json:"owner_port"`
	PeerPort  int `json:"peer_port"`
	// Pods are the network's pods, in the order they were made.
	Pods []PodState `json:"pods"`
	// DirectoryURL is the network directory's URL, and DirectoryCA the
	// file of its server certificate, which its clients trust.
	DirectoryURL string `json:"directory_url,omitempty"`
	DirectoryCA  string `json:"directory_ca,omitempty"`
	// ServiceURL is the demo service's directory:
	// https://service.service-<sid>.<net>:port, which the network's DNS
	// resolves.
	ServiceURL string `json:"service_url,omitempty"`
}

// PodState describes one pod of a local network.
type PodState struct {
	// Name is the person's name, such as suzie.
	Name string `json:"name"`
	// AccountID is the pod's account; the owner logs in with it.
	AccountID uuid.UUID `json:"account_id"`
	// Members maps each service id the pod joined to its member id there.
	Members map[string]uuid.UUID `json:"members"`
	// Address is the pod's loopback address.
	Address netip.Addr `json:"address"`
	// OwnerURL is the owner port's URL (the account's name, resolved by
	// the network's DNS to Address).
	OwnerURL string `json:"owner_url"`
	// OwnerAddress and PeerAddress are where the two ports listen.
	OwnerAddress string `json:"owner_address"`
	PeerAddress  string `json:"peer_address"`
	// PasswordFile holds the owner's password.
	PasswordFile string `json:"password_file"`
	// DataDir is the pod's data directory.
	DataDir string `json:"data_dir"`
}

// MemberID is the pod's member id of service sid.
func (p *PodState) MemberID(sid uint32) uuid.UUID {
	return p.Members[strconv.FormatUint(uint64(sid), 10)]
}

// ReadState reads the devnet.json of the state directory dir.
func ReadState(dir string) (*State, error) {
	data, err := os.ReadFile(filepath.Join(dir, StateFile))
	if err != nil {
		return nil, err
	}
	var s State
	if err := json.Unmarshal(data, &s); err != nil {
		return nil, fmt.Errorf("%s: %w", filepath.Join(dir, StateFile), err)
	}
	return &s, nil
}

// write saves s as dir/devnet.json, atomically.
func (s *State) write(dir string) error {
	data, err := json.MarshalIndent(s, "", "  ")
	if err != nil {
		return err
	}
	return writeFile(filepath.Join(dir, StateFile), append(data, '\n'), 0o644)
}

// writeFile writes data to file atomically with mode.
func writeFile(file string, data []byte, mode os.FileMode) error {
	tmp := file + ".tmp"
	if err := os.WriteFile(tmp, data, mode); err != nil {
		return err
	}
	if err := os.Chmod(tmp, mode); err != nil {
		return err
	}
	return os.Rename(tmp, file)
}

// ensureSecret makes file with n random bytes in base64url when it does
// not exist, readable by its owner only.
func ensureSecret(file string, n int) error {
	if _, err := os.Stat(file); err == nil {
		return nil
	} else if !errors.Is(err, fs.ErrNotExist) {
		return err
	}
	b := make([]byte, n)
	_, _ = rand.Read(b)
	return writeFile(file, []byte(base64.URLEncoding.EncodeToString(b)+"\n"), 0o600)
}

// ensurePKI opens the network's PKI directory, creating the network and
// the service the first time.
func ensurePKI(dir, network string, sid uint32, now time.Time) (*pki.Dir, error) {
	d, err := pki.OpenDir(dir)
	if err != nil {
		if _, statErr := os.Stat(filepath.Join(dir, pki.NetworkFile)); !errors.Is(statErr, fs.ErrNotExist) {
			return nil, err
		}
		if err := os.MkdirAll(dir, 0o700); err != nil {
			return nil, err
		}
		if d, err = pki.InitNetwork(dir, network, now); err != nil {
			return nil, err
		}
	}
	if d.Network() != network {
		return nil, fmt.Errorf("%s holds network %s, not %s: use another --dir", dir, d.Network(), network)
	}
	if _, err := d.ServiceKey(sid); err != nil {
		if err := d.CreateService(sid, now); err != nil {
			return nil, fmt.Errorf("service %d: %w", sid, err)
		}
	}
	return d, nil
}
