package pki_test

import (
	"errors"
	"testing"

	"github.com/google/uuid"

	"github.com/byoda-go/byoda/internal/pki"
)

var (
	testID = uuid.MustParse("0b8d9cb2-3c4f-4d8a-9a35-6c0f1e2d3a4b")
	tid    = testID.String()
)

func TestNameBuildersAndParse(t *testing.T) {
	tests := []struct {
		name string
		want pki.Subject
	}{
		{pki.RootCAName(testNet), pki.Subject{Kind: pki.KindRootCA}},
		{pki.AccountsCAName(testNet), pki.Subject{Kind: pki.KindAccountsCA}},
		{pki.ServicesCAName(testNet), pki.Subject{Kind: pki.KindServicesCA}},
		{pki.NetworkDataName(testNet), pki.Subject{Kind: pki.KindNetworkData}},
		{pki.ServiceCAName(7, testNet), pki.Subject{Kind: pki.KindServiceCA, ServiceID: 7}},
		{pki.MembersCAName(7, testNet), pki.Subject{Kind: pki.KindMembersCA, ServiceID: 7}},
		{pki.AppsCAName(7, testNet), pki.Subject{Kind: pki.KindAppsCA, ServiceID: 7}},
		{pki.ServiceName(7, testNet), pki.Subject{Kind: pki.KindService, ServiceID: 7}},
		{pki.ServiceDataName(4294967295, testNet), pki.Subject{Kind: pki.KindServiceData, ServiceID: 4294967295}},
		{pki.AccountName(testID, testNet), pki.Subject{Kind: pki.KindAccount, ID: tid}},
		{pki.AccountDataName(testID, testNet), pki.Subject{Kind: pki.KindAccountData, ID: tid}},
		{pki.MemberName(0, testID, testNet), pki.Subject{Kind: pki.KindMember, ID: tid, ServiceID: 0}},
		{pki.MemberDataName(7, testID, testNet), pki.Subject{Kind: pki.KindMemberData, ID: tid, ServiceID: 7}},
		{pki.AppName(7, testID, testNet), pki.Subject{Kind: pki.KindApp, ID: tid, ServiceID: 7}},
		{pki.AppDataName(7, testID, testNet), pki.Subject{Kind: pki.KindAppData, ID: tid, ServiceID: 7}},
	}
	wantNames := []string{
		"root-ca.byoda.test",
		"accounts-ca.accounts-ca.byoda.test",
		"services-ca.services-ca.byoda.test",
		"network.network-data.byoda.test",
		"service-ca.service-ca-7.byoda.test",
		"members-ca.members-ca-7.byoda.test",
		"apps-ca.apps-ca-7.byoda.test",
		"service.service-7.byoda.test",
		"data.service-data-4294967295.byoda.test",
		tid + ".accounts.byoda.test",
		tid + ".account-data.byoda.test",
		tid + ".members-0.byoda.test",
		tid + ".member-data-7.byoda.test",
		tid + ".apps-7.byoda.test",
		tid + ".app-data-7.byoda.test",
	}
	for i, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			if tc.name != wantNames[i] {
				t.Fatalf("builder gave %q, want %q", tc.name, wantNames[i])
			}
			got, err := pki.ParseName(tc.name)
			if err != nil {
				t.Fatal(err)
			}
			tc.want.Network = testNet
			if got != tc.want {
				t.Fatalf("ParseName = %+v, want %+v", got, tc.want)
			}
			if got.Name() != tc.name {
				t.Fatalf("Name() = %q", got.Name())
			}
		})
	}
}

func TestParseNameRefuses(t *testing.T) {
	for _, name := range []string{
		"",
		"byoda.test",
		"root-ca.test",                                // one-label network
		"root-ca.byoda.test.",                         // trailing dot
		"ROOT-CA.byoda.test",                          // upper case
		"root-ca.Byoda.test",                          // upper case network
		"root-ca.-byoda.test",                         // bad label
		"root-ca.byo_da.test",                         // bad label
		"root-ca..test",                               // empty label
		"accounts-ca.services-ca.byoda.test",          // mixed prefixes
		"service-ca.service-ca.byoda.test",            // missing sid
		"service-ca.service-ca-07.byoda.test",         // leading zero
		"service-ca.service-ca-+7.byoda.test",         // sign
		"service-ca.service-ca-4294967296.byoda.test", // overflow
		"service-ca.members-ca-7.byoda.test",          // mixed
		"members-ca.members-ca-7",                     // no network
		"data.service-data-x.byoda.test",              // non-numeric sid
		"dir.byoda.test",                              // not a certificate name of the hierarchy
		tid + ".members.byoda.test",                   // members without sid
		tid + ".accounts-7.byoda.test",                // accounts with sid
		tid + ".member-data-.byoda.test",              // empty sid
		tid + ".unknown-7.byoda.test",                 // unknown word
		"0B8D9CB2-3C4F-4D8A-9A35-6C0F1E2D3A4B.accounts.byoda.test", // upper-case UUID
		"0b8d9cb23c4f4d8a9a356c0f1e2d3a4b.accounts.byoda.test",     // UUID without dashes
		"{0b8d9cb2-3c4f-4d8a-9a35-6c0f1e2d3a4}.accounts.byoda.test",
		"*.members-7.byoda.test", // wildcard
		"not-a-uuid-at-all-but-thirty-six-ch.accounts.byoda.test",
	} {
		t.Run(name, func(t *testing.T) {
			s, err := pki.ParseName(name)
			if !errors.Is(err, pki.ErrInvalidName) {
				t.Fatalf("ParseName(%q) = %+v, %v; want ErrInvalidName", name, s, err)
			}
		})
	}
}

func TestValidateNetwork(t *testing.T) {
	for net, ok := range map[string]bool{
		"byoda.net": true, "byoda.test": true, "a.b.c.example": true, "x-1.y": true,
		"": false, "byoda": false, "Byoda.net": false, "byoda.net.": false, "-a.b": false,
		"a..b": false, "a b.c": false,
	} {
		if err := pki.ValidateNetwork(net); (err == nil) != ok {
			t.Errorf("ValidateNetwork(%q) = %v, want ok=%v", net, err, ok)
		}
	}
}

func TestKindRoles(t *testing.T) {
	for k, want := range map[pki.Kind]pki.Role{
		pki.KindRootCA: "", pki.KindMembersCA: "",
		pki.KindNetworkData: pki.RoleNetwork,
		pki.KindService:     pki.RoleService, pki.KindServiceData: pki.RoleService,
		pki.KindAccount: pki.RoleAccount, pki.KindAccountData: pki.RoleAccount,
		pki.KindMember: pki.RoleMember, pki.KindMemberData: pki.RoleMember,
		pki.KindApp: pki.RoleApp, pki.KindAppData: pki.RoleApp,
	} {
		if got := k.Role(); got != want {
			t.Errorf("%s.Role() = %q, want %q", k, got, want)
		}
	}
}

// FuzzParseName checks that ParseName never panics and that whatever it accepts
// is canonical: it formats back to the same string and parses to the same
// subject.
func FuzzParseName(f *testing.F) {
	f.Fuzz(func(t *testing.T, name string) {
		s, err := pki.ParseName(name)
		if err != nil {
			if !errors.Is(err, pki.ErrInvalidName) {
				t.Fatalf("error %v does not wrap ErrInvalidName", err)
			}
			return
		}
		if s.Name() != name {
			t.Fatalf("ParseName(%q).Name() = %q", name, s.Name())
		}
		if s.Kind == pki.KindInvalid || pki.ValidateNetwork(s.Network) != nil {
			t.Fatalf("ParseName(%q) = %+v", name, s)
		}
		again, err := pki.ParseName(s.Name())
		if err != nil || again != s {
			t.Fatalf("reparse of %q = %+v, %v", name, again, err)
		}
	})
}
