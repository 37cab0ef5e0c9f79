package podruntime

import (
	"os"
	"strconv"
	"strings"
	"testing"
)

// TestReleaseStartupPages drops the test binary's read-only pages and
// checks that the process keeps running on them (they fault back in) and
// that fewer of the file's pages are mapped.
func TestReleaseStartupPages(t *testing.T) {
	before := rssFileKiB(t)
	n, err := releaseStartupPages()
	if err != nil {
		t.Fatal(err)
	}
	after := rssFileKiB(t)
	if n <= 0 {
		t.Fatalf("released %d bytes; want the executable's code and read-only data", n)
	}
	if after > before {
		t.Errorf("RssFile grew from %d to %d KiB after releasing %d bytes", before, after, n)
	}
	// Code and read-only data the test has not touched since still work.
	if _, err := strconv.ParseFloat("1.5e3", 64); err != nil || !strings.HasPrefix(t.Name(), "TestRelease") {
		t.Fatal("the process no longer runs its own code correctly")
	}
	t.Logf("released %d MiB of mappings; RssFile %d -> %d KiB", n>>20, before, after)
}

func rssFileKiB(t *testing.T) int {
	t.Helper()
	status, err := os.ReadFile("/proc/self/status")
	if err != nil {
		t.Fatal(err)
	}
	for line := range strings.Lines(string(status)) {
		if v, ok := strings.CutPrefix(line, "RssFile:"); ok {
			kib, err := strconv.Atoi(strings.TrimSuffix(strings.TrimSpace(v), " kB"))
			if err != nil {
				t.Fatalf("parse %q: %v", line, err)
			}
			return kib
		}
	}
	t.Fatal("no RssFile in /proc/self/status")
	return 0
}
