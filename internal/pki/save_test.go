package pki

import (
	"errors"
	"path/filepath"
	"testing"
	"time"

	"github.com/google/uuid"
)

// TestSave: a key made elsewhere and the chain a CA signed for it land in
// the directory's layout, where KeyPair finds them; nothing is replaced.
func TestSave(t *testing.T) {
	now := time.Now()
	network := "byoda.test"
	d, err := InitNetwork(filepath.Join(t.TempDir(), "pki"), network, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(4711, now); err != nil {
		t.Fatal(err)
	}
	members, err := d.CA(Subject{Kind: KindMembersCA, ServiceID: 4711, Network: network})
	if err != nil {
		t.Fatal(err)
	}
	mid := uuid.New()
	s := Subject{Kind: KindMember, ID: mid.String(), ServiceID: 4711, Network: network}
	key, err := GenerateKey()
	if err != nil {
		t.Fatal(err)
	}
	csr, err := CreateCSR(key, s.Name())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := members.Sign(csr, now)
	if err != nil {
		t.Fatal(err)
	}
	kp, err := NewKeyPair(key, members.Chain(cert))
	if err != nil {
		t.Fatal(err)
	}
	// Another pod's PKI directory holds only the network's root.
	pod, err := InitNetwork(filepath.Join(t.TempDir(), "pod"), network, now)
	if err != nil {
		t.Fatal(err)
	}
	other := Subject{Kind: KindMember, ID: uuid.NewString(), ServiceID: 4711, Network: network}
	if err := pod.Save(other, kp); err == nil {
		t.Fatal("Save stored a chain under another name")
	}
	if err := pod.Save(s, kp); err != nil {
		t.Fatal(err)
	}
	got, err := pod.MemberKey(4711, mid)
	if err != nil {
		t.Fatal(err)
	}
	if !got.Cert.Equal(cert) || len(got.Chain) != len(kp.Chain) {
		t.Fatalf("MemberKey after Save = %s; want the saved chain", got.Cert.Subject.CommonName)
	}
	if err := pod.Save(s, kp); !errors.Is(err, ErrExists) {
		t.Fatalf("second Save = %v; want ErrExists", err)
	}
}
