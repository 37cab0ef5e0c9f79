// Package version reports the build of the byoda binary. The Makefile sets the
// variables with -ldflags; a plain `go build` reports "devel".
package version

import (
	"fmt"
	"runtime"
)

// Set at build time with -ldflags "-X github.com/byoda-go/byoda/internal/version.Version=...".
var (
	// Version is the release, e.g. v0.1.0, or "devel".
	Version = "devel"
	// Commit is the git commit the binary was built from.
	Commit = "unknown"
)

// Info describes a build, as printed by `byoda version` and served on status
// endpoints.
type Info struct {
	Version   string `json:"version"`
	Commit    string `json:"commit"`
	GoVersion string `json:"goVersion"`
	Platform  string `json:"platform"`
}

// Get returns the running binary's build information.
func Get() Info {
	return Info{
		Version:   Version,
		Commit:    Commit,
		GoVersion: runtime.Version(),
		Platform:  runtime.GOOS + "/" + runtime.GOARCH,
	}
}

// String renders the build on one line.
func (i Info) String() string {
	return fmt.Sprintf("byoda %s (commit %s, %s, %s)", i.Version, i.Commit, i.GoVersion, i.Platform)
}
