//go:build unix

package podruntime

import (
	"io/fs"
	"syscall"
)

// openFileLimit is how many files the process may open: the soft
// RLIMIT_NOFILE, which the Go runtime raises to the hard limit at start-up.
func openFileLimit() uint64 {
	var lim syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &lim); err != nil || lim.Cur == 0 {
		return 1024
	}
	return uint64(lim.Cur)
}

// fileOwner returns the user id that owns a file, and whether the
// platform has one.
func fileOwner(fi fs.FileInfo) (int, bool) {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok {
		return 0, false
	}
	return int(st.Uid), true
}

// effectiveUser is the user id the process reads files as.
func effectiveUser() int { return syscall.Geteuid() }
