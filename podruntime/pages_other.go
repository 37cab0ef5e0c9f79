//go:build !linux

package podruntime

// releaseStartupPages does nothing off Linux.
func releaseStartupPages() (int64, error) { return 0, nil }
