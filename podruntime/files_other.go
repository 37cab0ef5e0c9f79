//go:build !unix

package podruntime

import "io/fs"

// openFileLimit is how many files the process may open; without
// RLIMIT_NOFILE, the common default of 1,024.
func openFileLimit() uint64 { return 1024 }

// fileOwner says that files have no owner to check here: the platform
// has no Unix permissions.
func fileOwner(fs.FileInfo) (int, bool) { return 0, false }

func effectiveUser() int { return -1 }
