package cluster

import (
	"bufio"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// The node's pods live under a cgroup of their own, /byoda-<id> (the kubelet's
// cgroupRoot), in every hierarchy: its kubepods tree never meets another
// node's or the host's, and removing the node removes exactly that tree.

// cgroupHierarchies lists the mount points of the cgroup file systems (each
// v1 hierarchy, and the v2 one), from /proc/self/mountinfo.
func cgroupHierarchies() ([]string, error) {
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		return nil, err
	}
	defer f.Close()
	var hs []string
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID parent major:minor root mountpoint options ... - fstype source super
		line := sc.Text()
		i := strings.Index(line, " - ")
		fields := strings.Fields(line)
		if i < 0 || len(fields) < 5 {
			continue
		}
		typ := strings.Fields(line[i+3:])
		if len(typ) == 0 || (typ[0] != "cgroup" && typ[0] != "cgroup2") {
			continue
		}
		mp := unescapeMount(fields[4])
		if strings.HasPrefix(mp, "/sys/fs/cgroup") {
			hs = append(hs, mp)
		}
	}
	return hs, sc.Err()
}

// createCgroupRoot makes root (like "/byoda-1a2b3c") in every hierarchy. A new
// cpuset cgroup starts with no CPUs and no memory nodes: it gets its parent's.
func createCgroupRoot(root string) error {
	hs, err := cgroupHierarchies()
	if err != nil {
		return fmt.Errorf("list cgroup hierarchies: %w", err)
	}
	for _, h := range hs {
		dir := filepath.Join(h, root)
		if err := os.Mkdir(dir, 0o755); err != nil {
			return fmt.Errorf("create cgroup %s: %w", dir, err)
		}
		for _, f := range []string{"cpuset.cpus", "cpuset.mems"} {
			parent, err := os.ReadFile(filepath.Join(h, f))
			if errors.Is(err, fs.ErrNotExist) {
				continue
			}
			if err != nil {
				return fmt.Errorf("read %s: %w", filepath.Join(h, f), err)
			}
			if err := os.WriteFile(filepath.Join(dir, f), parent, 0o644); err != nil {
				return fmt.Errorf("set %s: %w", filepath.Join(dir, f), err)
			}
		}
	}
	return nil
}

// cgroupDirs lists root and every cgroup below it, in every hierarchy, deepest
// first.
func cgroupDirs(root string) []string {
	hs, _ := cgroupHierarchies()
	var dirs []string
	for _, h := range hs {
		top := filepath.Join(h, root)
		_ = filepath.WalkDir(top, func(p string, d fs.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				dirs = append(dirs, p)
			}
			return nil
		})
	}
	sort.Slice(dirs, func(i, j int) bool {
		return strings.Count(dirs[i], "/") > strings.Count(dirs[j], "/")
	})
	return dirs
}

// cgroupPIDs lists the processes in root's trees.
func cgroupPIDs(root string) []int {
	seen := map[int]bool{}
	var pids []int
	for _, dir := range cgroupDirs(root) {
		b, err := os.ReadFile(filepath.Join(dir, "cgroup.procs"))
		if err != nil {
			continue
		}
		for f := range strings.FieldsSeq(string(b)) {
			if pid, err := strconv.Atoi(f); err == nil && !seen[pid] {
				seen[pid] = true
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// removeCgroupRoot kills what still runs in root's trees and removes them,
// deepest first. A cgroup whose last process just died may still be busy for
// a moment, so each removal is retried briefly.
func removeCgroupRoot(root string) error {
	for _, pid := range cgroupPIDs(root) {
		_ = syscall.Kill(pid, syscall.SIGKILL)
	}
	var errs []error
	for _, dir := range cgroupDirs(root) {
		var err error
		for range 50 {
			if err = syscall.Rmdir(dir); err == nil || errors.Is(err, syscall.ENOENT) {
				err = nil
				break
			}
			for _, pid := range cgroupPIDs(root) {
				_ = syscall.Kill(pid, syscall.SIGKILL)
			}
			time.Sleep(100 * time.Millisecond)
		}
		if err != nil {
			errs = append(errs, fmt.Errorf("remove cgroup %s: %w", dir, err))
		}
	}
	return errors.Join(errs...)
}
