package podruntime

import (
	"context"
	"errors"
	"fmt"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/byoda-go/byoda/internal/objstore"
	"github.com/byoda-go/byoda/podruntime/store"
)

// TestNewRefusesLostStoreObjects starts a pod a few times, then takes
// objects out of its storage as a careless operator or an older backup
// would: the pod must refuse to start with a message naming the storage,
// the object and what to do, change nothing in the storage, and start
// again once the object is back or the restore is accepted.
func TestNewRefusesLostStoreObjects(t *testing.T) {
	tp := newTestPKI(t)
	cfg := testConfig(t, tp)
	start := func(cfg Config) error {
		p, err := New(t.Context(), cfg)
		if err == nil {
			p.closeStores()
		}
		return err
	}
	for range 3 { // each start claims the next log segment
		if err := start(cfg); err != nil {
			t.Fatal(err)
		}
	}
	dir := filepath.Join(cfg.DataDir, "objects")
	storage := "file://" + dir
	objects, err := objstore.NewLocal(dir)
	if err != nil {
		t.Fatal(err)
	}
	prefix := store.DefaultPrefix(demoSID, tp.member) + "/"
	ctx := context.Background()
	snapshot := func() map[string]string {
		keys, err := objects.List(ctx, "")
		if err != nil {
			t.Fatal(err)
		}
		out := map[string]string{}
		for _, k := range keys {
			data, err := objects.Get(ctx, k)
			if err != nil {
				t.Fatal(err)
			}
			out[k] = string(data)
		}
		return out
	}
	refused := func(t *testing.T, target error, wants ...string) {
		t.Helper()
		before := snapshot()
		err := start(cfg)
		if !errors.Is(err, target) {
			t.Fatalf("New: %v, want %v", err, target)
		}
		for _, want := range wants {
			if !strings.Contains(err.Error(), want) {
				t.Fatalf("New: %v\nwant it to say %q", err, want)
			}
		}
		if !reflect.DeepEqual(snapshot(), before) {
			t.Fatal("the refused start changed the storage")
		}
		t.Logf("refused: %v", err)
	}

	t.Run("data key missing", func(t *testing.T) {
		key := prefix + "k"
		wrapped, err := objects.Get(ctx, key)
		if err != nil {
			t.Fatal(err)
		}
		if err := objects.Delete(ctx, key); err != nil {
			t.Fatal(err)
		}
		refused(t, store.ErrDataKeyMissing,
			fmt.Sprintf("service %d: the storage %s holds the log of this membership's store but not its data key", demoSID, storage),
			"restore "+key+" from a backup; byoda never makes a new data key for existing data")
		if err := objects.Put(ctx, key, wrapped); err != nil {
			t.Fatal(err)
		}
		if err := start(cfg); err != nil {
			t.Fatalf("after the key was restored: %v", err)
		}
	})

	t.Run("log rolled back", func(t *testing.T) {
		segs, err := objects.List(ctx, prefix+"w/")
		if err != nil {
			t.Fatal(err)
		}
		newest := segs[len(segs)-1]
		if err := objects.Delete(ctx, newest); err != nil {
			t.Fatal(err)
		}
		n := len(segs)
		refused(t, store.ErrRolledBack,
			fmt.Sprintf("service %d: store log rolled back: the store's log on %s ends at segment %d, but this pod had segment %d durable there before", demoSID, storage, n-1, n),
			"high-water mark in "+markFile(cfg.DataDir, demoSID),
			fmt.Sprintf("Restore %s (or the snapshot", newest),
			"start the pod once with --accept-restore")

		accept := cfg
		accept.AcceptRestore = true
		if err := start(accept); err != nil {
			t.Fatalf("with AcceptRestore: %v", err)
		}
		if err := start(cfg); err != nil {
			t.Fatalf("the start after an accepted restore: %v", err)
		}
	})
}
