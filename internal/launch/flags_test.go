package launch

import (
	"log/slog"
	"reflect"
	"strings"
	"testing"

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
		AcceptRestore:      true,
		FanOut:             4,
		MaxConns:           100,
		MaxConnsPerAddress: 10,
		DNSServer:          "10.96.0.10:53",
		PeerPort:           8444,
		LogLevel:           slog.LevelDebug,
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
