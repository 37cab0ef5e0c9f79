package launch

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/google/uuid"
)

func TestArgsRoundTrip(t *testing.T) {
	full := Pod{
		Network:           "byoda.test",
		PKIDir:            PKIDir,
		AccountID:         uuid.MustParse("3f2504e0-4f89-41d3-9a0c-0305e82c3301"),
		DataDir:           DataDir,
		StorageURL:        "s3://bucket/pods/a?endpoint=http%3A%2F%2F127.0.0.1%3A7070&path_style=true&region=eu-west-1",
		KEKFile:           KEKFile,
		Listen:            ":8443",
		PeerListen:        ":8444",
		OwnerPasswordFile: OwnerPasswordFile,
		ContractFiles:     []string{ContractPath(4711), ContractPath(7), "/with space/and,comma.json"},
		Members: map[uint32]uuid.UUID{
			4711: uuid.MustParse("6ba7b810-9dad-11d1-80b4-00c04fd430c8"),
			7:    uuid.MustParse("6ba7b811-9dad-11d1-80b4-00c04fd430c8"),
		},
		AcceptRestore:        true,
		FanOut:               4,
		MaxConns:             100,
		MaxConnsPerAddress:   10,
		DNSServer:            "10.96.0.10:53",
		PeerPort:             8444,
		Joins:                []string{"https://service.service-4711.byoda.test", "https://service.service-7.byoda.test:8443"},
		Directory:            "https://dir.byoda.test",
		DirectoryCA:          "/etc/byoda/directory/tls.crt",
		Address:              "203.0.113.7",
		AutoUpgrade:          true,
		ContractPollInterval: 90 * time.Second,
		IdleRelease:          -time.Second,
		LogLevel:             slog.LevelDebug,
	}
	defaults := Pod{Listen: "127.0.0.1:8443", PeerListen: "127.0.0.1:8444", PeerPort: DefaultPeerPort}
	for name, p := range map[string]Pod{"every flag": full, "defaults": defaults} {
		t.Run(name, func(t *testing.T) {
			args := p.Args()
			got, err := Parse(args)
			if err != nil {
				t.Fatalf("Parse(%q): %v", args, err)
			}
			if !reflect.DeepEqual(got, p) {
				t.Errorf("Parse(Args()) =\n%+v\nwant\n%+v\nargs %q", got, p, args)
			}
		})
	}
	if args := defaults.Args(); len(args) != 0 {
		t.Errorf("Args of the defaults = %q; want none", args)
	}
}

func TestParseErrors(t *testing.T) {
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--account", "nope"}, `invalid argument "nope" for "--account" flag: want a UUID`},
		{[]string{"--member", "4711"}, "want SID=MID"},
		{[]string{"--member", "4711=nope"}, "member id"},
		{[]string{"--log-level", "loud"}, "want debug, info, warn or error"},
		{[]string{"--nope"}, "unknown flag: --nope"},
		{[]string{"extra"}, "takes flags only"},
	} {
		_, err := Parse(tc.args)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("Parse(%q) = %v; want an error with %q", tc.args, err, tc.want)
		}
	}
}

func TestServiceDirectoryArgsRoundTrip(t *testing.T) {
	full := ServiceDirectory{
		PKIDir:           PKIDir,
		ServiceID:        4711,
		ContractFile:     ServiceContractFile,
		DataDir:          DataDir,
		Database:         "postgres://byoda@db.example.com:5432/service?sslmode=verify-full",
		Listen:           ":8443",
		TLSCert:          "/etc/tls/tls.crt",
		TLSKey:           "/etc/tls/tls.key",
		RegistrationRate: -1,
		ContractReload:   -time.Second,
		LogLevel:         slog.LevelWarn,
	}
	defaults := ServiceDirectory{Listen: ":443"}
	for name, s := range map[string]ServiceDirectory{"every flag": full, "defaults": defaults} {
		t.Run(name, func(t *testing.T) {
			args := s.Args()
			got, err := ParseServiceDirectory(args)
			if err != nil {
				t.Fatalf("ParseServiceDirectory(%q): %v", args, err)
			}
			if !reflect.DeepEqual(got, s) {
				t.Errorf("ParseServiceDirectory(Args()) =\n%+v\nwant\n%+v\nargs %q", got, s, args)
			}
		})
	}
	if args := defaults.Args(); len(args) != 0 {
		t.Errorf("Args of the defaults = %q; want none", args)
	}
	for _, tc := range []struct {
		args []string
		want string
	}{
		{[]string{"--service-id", "-1"}, `invalid argument "-1" for "--service-id"`},
		{[]string{"--log-level", "loud"}, "want debug, info, warn or error"},
		{[]string{"--member", "4711=x"}, "unknown flag: --member"},
		{[]string{"extra"}, "byoda service takes flags only"},
	} {
		if _, err := ParseServiceDirectory(tc.args); err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("ParseServiceDirectory(%q) = %v; want an error with %q", tc.args, err, tc.want)
		}
	}
}
