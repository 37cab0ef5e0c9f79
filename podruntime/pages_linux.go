package podruntime

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"os"
	"strconv"

	"golang.org/x/sys/unix"
)

// releaseStartupPages drops the pod's mappings of the read-only parts of
// its own executable (code and read-only data), returning how many bytes
// were mapped. The one byoda binary also carries the operator: the package
// initialisers of its Kubernetes libraries touch tens of megabytes of code
// and tables that a pod never uses again, and the kernel maps the pages
// around each touched one too. Dropping the mappings costs nothing that
// matters: the pages stay in the page cache, shared with every other byoda
// process, and the few the pod keeps using fault back in at once. Writable
// segments are left alone (dropping them would lose their contents).
func releaseStartupPages() (int64, error) {
	exe, err := os.Readlink("/proc/self/exe")
	if err != nil {
		return 0, fmt.Errorf("finding the executable: %w", err)
	}
	maps, err := os.ReadFile("/proc/self/maps")
	if err != nil {
		return 0, fmt.Errorf("reading the memory map: %w", err)
	}
	var released int64
	sc := bufio.NewScanner(bytes.NewReader(maps))
	for sc.Scan() {
		// 00400000-01e03000 r-xp 00000000 08:01 1234 /path/to/byoda
		f := bytes.Fields(sc.Bytes())
		if len(f) < 6 || string(f[5]) != exe || f[1][1] != '-' {
			continue
		}
		start, end, ok := bytes.Cut(f[0], []byte{'-'})
		if !ok {
			continue
		}
		lo, err1 := strconv.ParseUint(string(start), 16, 64)
		hi, err2 := strconv.ParseUint(string(end), 16, 64)
		if err1 != nil || err2 != nil || hi <= lo {
			continue
		}
		// unix.Madvise takes a []byte; these ranges are not Go memory.
		if _, _, errno := unix.Syscall(unix.SYS_MADVISE, uintptr(lo), uintptr(hi-lo), unix.MADV_DONTNEED); errno != 0 {
			return released, fmt.Errorf("releasing %s: %w", f[0], errno)
		}
		released += int64(hi - lo)
	}
	return released, sc.Err()
}

// resident returns the process's resident memory (VmRSS) and the part of
// it that is pages of files (RssFile: the binary's, here).
func resident() (rss, file int64, err error) {
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		return 0, 0, fmt.Errorf("reading the process status: %w", err)
	}
	fields := map[string]*int64{"VmRSS": &rss, "RssFile": &file}
	found := 0
	for line := range bytes.Lines(status) {
		name, v, ok := bytes.Cut(line, []byte{':'})
		dst := fields[string(name)]
		if !ok || dst == nil {
			continue
		}
		kib, err := strconv.ParseInt(string(bytes.TrimSuffix(bytes.TrimSpace(v), []byte(" kB"))), 10, 64)
		if err != nil {
			return 0, 0, fmt.Errorf("reading %q: %w", bytes.TrimSpace(line), err)
		}
		*dst = kib << 10
		found++
	}
	if found != len(fields) {
		return 0, 0, errors.New("no VmRSS or RssFile in /proc/self/status")
	}
	return rss, file, nil
}
