package contract

import (
	"bytes"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"errors"
	"strings"
	"testing"
	"time"

	"github.com/byoda-go/byoda/internal/pki"
)

const testNetwork = "byoda.test"

type testPKI struct {
	dir     *pki.Dir
	service Signer
	network Signer
	now     time.Time
}

func newTestPKI(t testing.TB, sid uint32) *testPKI {
	t.Helper()
	now := time.Now()
	d, err := pki.InitNetwork(t.TempDir(), testNetwork, now)
	if err != nil {
		t.Fatal(err)
	}
	if err := d.CreateService(sid, now); err != nil {
		t.Fatal(err)
	}
	svc, err := d.ServiceDataKey(sid)
	if err != nil {
		t.Fatal(err)
	}
	net, err := d.NetworkDataKey()
	if err != nil {
		t.Fatal(err)
	}
	return &testPKI{
		dir:     d,
		service: Signer{Key: svc.Key, Chain: svc.Chain},
		network: Signer{Key: net.Key, Chain: net.Chain},
		now:     now,
	}
}

func (p *testPKI) signBoth(t testing.TB, raw []byte) []byte {
	t.Helper()
	out, err := SignAsService(raw, p.service, p.now)
	if err != nil {
		t.Fatalf("SignAsService: %v", err)
	}
	out, err = SignAsNetwork(out, p.network, p.now)
	if err != nil {
		t.Fatalf("SignAsNetwork: %v", err)
	}
	return out
}

func (p *testPKI) verify(raw []byte) error {
	roots, err := p.dir.Roots()
	if err != nil {
		return err
	}
	_, err = Verify(raw, roots, testNetwork, p.now)
	return err
}

func TestSignVerify(t *testing.T) {
	p := newTestPKI(t, 4711)
	demo := readFile(t, demoPath)
	signed := p.signBoth(t, demo)
	if err := p.verify(signed); err != nil {
		t.Fatalf("Verify: %v", err)
	}
	c := mustParse(t, signed)
	if c.Signatures.Service.Certificate != "data.service-data-4711.byoda.test" ||
		c.Signatures.Network.Certificate != "network.network-data.byoda.test" ||
		c.Signatures.Service.HashAlgorithm != "SHA256" || len(c.Signatures.Network.CertificateChain) == 0 {
		t.Errorf("signatures = %+v %+v", c.Signatures.Service, c.Signatures.Network)
	}
	// Signing keeps the author's layout: key order and the number literals.
	if !bytes.HasPrefix(signed, []byte("{\n    \"service_id\": 4711,\n    \"version\": 1,\n")) {
		t.Errorf("signed contract starts %q", signed[:60])
	}
	// Only the signatures differ from the unsigned contract.
	unsigned := mustParse(t, demo)
	if !bytes.Equal(signedBytes(c.doc, &value{kind: jsonObject}), unsigned.Canonical()) {
		t.Error("signing changed the contract")
	}
	// Whitespace is not part of the signed bytes.
	if err := p.verify(bytes.ReplaceAll(signed, []byte("    "), []byte("\t"))); err != nil {
		t.Errorf("re-indented contract: %v", err)
	}
}

func TestVerifyRefusesChangedContract(t *testing.T) {
	p := newTestPKI(t, 4711)
	signed := p.signBoth(t, readFile(t, demoPath))
	changes := []struct{ name, old, new string }{
		{"description", `"A small address book`, `"A small address bool`},
		{"version", `"version": 1,`, `"version": 2,`},
		{"relation", `"relation": "family",`, `"relation": "familz",`},
		{"distance", `"distance": 2,`, `"distance": 1,`},
		{"number literal", `"version": 1,`, `"version": 1.0,`},
		{"specifier", `"casesensitive": false`, `"casesensitive": true`},
		{"action", `"delete",`, `"mutate",`},
		{"service signature timestamp", `"timestamp": "` + p.now.UTC().Format("2006"), `"timestamp": "` + p.now.UTC().AddDate(-1, 0, 0).Format("2006")},
	}
	for _, ch := range changes {
		t.Run(ch.name, func(t *testing.T) {
			changed := strings.Replace(string(signed), ch.old, ch.new, 1)
			if changed == string(signed) {
				t.Fatalf("%q not found", ch.old)
			}
			if err := p.verify([]byte(changed)); err == nil {
				t.Error("Verify accepted a changed contract")
			}
		})
	}
	// Change one byte: every letter and digit is significant, in the data,
	// the keys, the signatures and the certificates alike.
	checked := 0
	for i := 0; i < len(signed); i += 53 {
		b := signed[i]
		if !(b >= 'a' && b <= 'z' || b >= 'A' && b <= 'Z' || b >= '0' && b <= '9') {
			continue
		}
		changed := bytes.Clone(signed)
		changed[i] ^= 1
		if changed[i] == '"' || changed[i] == '\\' {
			changed[i] = b ^ 2
		}
		if err := p.verify(changed); err == nil {
			t.Errorf("Verify accepted byte %d changed from %q to %q: %q", i, b, changed[i], signed[max(0, i-20):min(len(signed), i+20)])
		}
		checked++
	}
	if checked < 50 {
		t.Errorf("only %d bytes checked", checked)
	}
}

func TestVerifyRefuses(t *testing.T) {
	p := newTestPKI(t, 4711)
	demo := readFile(t, demoPath)
	serviceOnly, err := SignAsService(demo, p.service, p.now)
	if err != nil {
		t.Fatal(err)
	}
	signed := p.signBoth(t, demo)
	roots, err := p.dir.Roots()
	if err != nil {
		t.Fatal(err)
	}

	// Another service's data key cannot sign for service 4711.
	if err := p.dir.CreateService(99, p.now); err != nil {
		t.Fatal(err)
	}
	other, err := p.dir.ServiceDataKey(99)
	if err != nil {
		t.Fatal(err)
	}
	byOther, err := SignAsService(demo, Signer{Key: other.Key, Chain: other.Chain}, p.now)
	if err != nil {
		t.Fatal(err)
	}
	byOther, err = SignAsNetwork(byOther, p.network, p.now)
	if err != nil {
		t.Fatal(err)
	}
	// The network key cannot sign as the service.
	byNetwork, err := SignAsService(demo, p.network, p.now)
	if err != nil {
		t.Fatal(err)
	}
	byNetwork, err = SignAsNetwork(byNetwork, p.network, p.now)
	if err != nil {
		t.Fatal(err)
	}
	// Another network's root does not vouch for this one.
	elsewhere := newTestPKI(t, 4711)
	otherRoots, err := elsewhere.dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	noChain := strings.Replace(string(signed), `"certificate_chain"`, `"certificate_chainx"`, 1)
	// A record as the reference writes it, without a chain.
	refDoc := decodeDoc(t, signed)
	set(t, refDoc, "/signatures/service/certificate_chain", nil)
	referenceStyle := encodeDoc(t, refDoc)

	tests := []struct {
		name    string
		raw     []byte
		roots   *x509.CertPool
		network string
		now     time.Time
		want    string
	}{
		{"unsigned", demo, roots, testNetwork, p.now, "no service signature"},
		{"service only", serviceOnly, roots, testNetwork, p.now, "no network signature"},
		{"other service", byOther, roots, testNetwork, p.now, "signed by data.service-data-99.byoda.test; want data.service-data-4711.byoda.test"},
		{"network as service", byNetwork, roots, testNetwork, p.now, "signed by network.network-data.byoda.test; want data.service-data-4711.byoda.test"},
		{"other network name", signed, roots, "example.test", p.now, "want data.service-data-4711.example.test"},
		{"other roots", signed, otherRoots, testNetwork, p.now, "untrusted certificate"},
		{"expired", signed, roots, testNetwork, p.now.AddDate(20, 0, 0), "untrusted certificate"},
		{"misspelt chain", []byte(noChain), roots, testNetwork, p.now, `unknown key "certificate_chainx"`},
		{"no chain", referenceStyle, roots, testNetwork, p.now, "service signature: no certificate_chain; want the chain of data.service-data-4711.byoda.test"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := Verify(tt.raw, tt.roots, tt.network, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Fatalf("Verify = %v, want an error containing %q", err, tt.want)
			}
			var errs Errors
			if !errors.Is(err, ErrSignature) && !errors.As(err, &errs) {
				t.Errorf("error %v is neither ErrSignature nor Errors", err)
			}
		})
	}
}

func TestSignRefuses(t *testing.T) {
	p := newTestPKI(t, 4711)
	demo := readFile(t, demoPath)
	serviceOnly, err := SignAsService(demo, p.service, p.now)
	if err != nil {
		t.Fatal(err)
	}
	stranger, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name string
		sign func() ([]byte, error)
		want string
	}{
		{"service twice", func() ([]byte, error) { return SignAsService(serviceOnly, p.service, p.now) }, "signed already"},
		{"network before service", func() ([]byte, error) { return SignAsNetwork(demo, p.network, p.now) }, "no service signature"},
		{"network twice", func() ([]byte, error) {
			both, err := SignAsNetwork(serviceOnly, p.network, p.now)
			if err != nil {
				return nil, err
			}
			return SignAsNetwork(both, p.network, p.now)
		}, "network signature already"},
		{"key of another certificate", func() ([]byte, error) {
			return SignAsService(demo, Signer{Key: stranger, Chain: p.service.Chain}, p.now)
		}, "the key is not the key of data.service-data-4711.byoda.test"},
		{"no chain", func() ([]byte, error) { return SignAsService(demo, Signer{Key: stranger}, p.now) }, "want a key and its certificate chain"},
		{"invalid contract", func() ([]byte, error) { return SignAsService([]byte(`{"version": 0}`), p.service, p.now) }, "/version: want an integer of at least 1"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := tt.sign()
			if err == nil || !strings.Contains(err.Error(), tt.want) {
				t.Errorf("err = %v, want %q", err, tt.want)
			}
		})
	}
}

func TestCanonical(t *testing.T) {
	doc, err := decodeJSON([]byte("{\"b\": 1.0, \"a\": \"x\u2028<&>\\\"\\\\\\n\\u0001\u00e9\", \"c\": [true, null, 1e3, {}, []], \"B\": {\"z\": 1, \"y\": -0}}"))
	if err != nil {
		t.Fatal(err)
	}
	got := string(appendCanonical(nil, doc))
	want := "{\"B\":{\"y\":-0,\"z\":1},\"a\":\"x\u2028<&>\\\"\\\\\\n\\u0001\u00e9\",\"b\":1.0,\"c\":[true,null,1e3,{},[]]}"
	if got != want {
		t.Errorf("canonical\n got %s\nwant %s", got, want)
	}
}

func TestVerifyService(t *testing.T) {
	p := newTestPKI(t, 4711)
	demo := readFile(t, demoPath)
	serviceOnly, err := SignAsService(demo, p.service, p.now)
	if err != nil {
		t.Fatal(err)
	}
	roots, err := p.dir.Roots()
	if err != nil {
		t.Fatal(err)
	}
	c, err := VerifyService(serviceOnly, roots, testNetwork, p.now)
	if err != nil {
		t.Fatalf("VerifyService: %v", err)
	}
	if c.ServiceID != 4711 || c.Signatures.Network != nil {
		t.Errorf("contract = service %d, network signature %v", c.ServiceID, c.Signatures.Network)
	}
	// A countersigned contract still has a good service signature.
	if _, err := VerifyService(p.signBoth(t, demo), roots, testNetwork, p.now); err != nil {
		t.Errorf("VerifyService of a countersigned contract: %v", err)
	}

	if err := p.dir.CreateService(99, p.now); err != nil {
		t.Fatal(err)
	}
	other, err := p.dir.ServiceDataKey(99)
	if err != nil {
		t.Fatal(err)
	}
	byOther, err := SignAsService(demo, Signer{Key: other.Key, Chain: other.Chain}, p.now)
	if err != nil {
		t.Fatal(err)
	}
	changed := []byte(strings.Replace(string(serviceOnly), `"A small address book`, `"A small address bool`, 1))
	tests := []struct {
		name string
		raw  []byte
		now  time.Time
		want string
	}{
		{"unsigned", demo, p.now, "no service signature; sign the contract with the key of data.service-data-4711.byoda.test first"},
		{"other service", byOther, p.now, "signed by data.service-data-99.byoda.test; want data.service-data-4711.byoda.test"},
		{"changed", changed, p.now, "the signature does not match the contract"},
		{"expired", serviceOnly, p.now.AddDate(20, 0, 0), "untrusted certificate"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, err := VerifyService(tt.raw, roots, testNetwork, tt.now)
			if err == nil || !strings.Contains(err.Error(), tt.want) || !errors.Is(err, ErrSignature) {
				t.Fatalf("VerifyService = %v, want ErrSignature containing %q", err, tt.want)
			}
		})
	}
}
