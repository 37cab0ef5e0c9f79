package cluster

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"os"
	"path/filepath"
	"syscall"
)

// A test binary that dies without its cleanup (a `go test -timeout` panic, a
// SIGKILL) takes its node's components with it (they get SIGKILL when their
// parent dies), but not the shims, the containers, the namespaces, the cgroups
// and the directory. Each node records itself in its directory and holds a
// lock on the record while its owner lives (the kernel drops the lock with the
// process); the next Start removes the nodes whose record is unlocked. A node
// whose owner still runs is never touched.

// recordFile is the record of a node in its directory.
const recordFile = "node.json"

// record is what cleaning up a node needs once its owner is gone.
type record struct {
	Name       string    `json:"name"`
	HostIf     string    `json:"hostInterface"`
	CgroupRoot string    `json:"cgroupRoot"`
	Netns      string    `json:"netns"`
	Owner      ProcessID `json:"owner"`
}

// writeRecord writes the node's record and locks it for the life of the test
// process (or until Stop).
func (n *Node) writeRecord() error {
	owner, ok := identify(os.Getpid())
	if !ok {
		return fmt.Errorf("identify test process %d", os.Getpid())
	}
	b, err := json.Marshal(record{Name: n.Name, HostIf: n.hostIf, CgroupRoot: n.cgroupRoot, Netns: n.netns, Owner: owner})
	if err != nil {
		return err
	}
	f, err := os.OpenFile(filepath.Join(n.Dir, recordFile), os.O_CREATE|os.O_RDWR, 0o644)
	if err != nil {
		return fmt.Errorf("create node record: %w", err)
	}
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		f.Close()
		return fmt.Errorf("lock node record: %w", err)
	}
	if _, err := f.Write(b); err != nil {
		f.Close()
		return fmt.Errorf("write node record: %w", err)
	}
	n.lock = f
	return nil
}

// staleNodePattern matches the directories Start creates.
const staleNodePattern = "byoda-*-*"

// cleanStale removes the nodes in the temporary directory whose owner
// process is gone, and reports what it could not remove.
func cleanStale(ctx context.Context, log *slog.Logger) error {
	dirs, err := filepath.Glob(filepath.Join(os.TempDir(), staleNodePattern))
	if err != nil {
		return err
	}
	var errs []error
	for _, dir := range dirs {
		if err := cleanStaleNode(ctx, log, dir); err != nil {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("remove stale nodes: %v", errs)
	}
	return nil
}

// cleanStaleNode removes the node in dir if its record is unlocked: its owner
// is gone, and no other cleaner is at it.
func cleanStaleNode(ctx context.Context, log *slog.Logger, dir string) error {
	f, err := os.Open(filepath.Join(dir, recordFile))
	if err != nil {
		return nil // not a node, or one still being set up
	}
	defer f.Close()
	if err := syscall.Flock(int(f.Fd()), syscall.LOCK_EX|syscall.LOCK_NB); err != nil {
		return nil // its owner (or another cleaner) holds it
	}
	var rec record
	if err := json.NewDecoder(io.LimitReader(f, 64<<10)).Decode(&rec); err != nil || rec.Name == "" {
		return nil
	}
	n := &Node{
		Name:       rec.Name,
		Dir:        dir,
		log:        log.With("node", rec.Name),
		layout:     layout{dir: dir},
		hostIf:     rec.HostIf,
		cgroupRoot: rec.CgroupRoot,
		netns:      rec.Netns,
		seen:       map[ProcessID]bool{},
	}
	n.log.Info("Removing a node whose test process is gone", "owner", rec.Owner.PID, "dir", dir)
	if err := n.Stop(ctx); err != nil {
		return fmt.Errorf("node %s left by pid %d: %w", rec.Name, rec.Owner.PID, err)
	}
	return nil
}
