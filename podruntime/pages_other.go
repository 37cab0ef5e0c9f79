//go:build !linux

package podruntime

// releaseStartupPages does nothing off Linux.
func releaseStartupPages() (int64, error) { return 0, nil }

// resident does not know off Linux: it returns zeros.
func resident() (rss, file int64, err error) { return 0, 0, nil }
