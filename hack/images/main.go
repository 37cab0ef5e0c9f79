// Command images builds the container images of the end-to-end tests into
// bin/images/: for each image of test/cluster/image, a static binary
// (CGO_ENABLED=0) and a docker-archive tarball of it, ready for
// `ctr images import` or `kind load image-archive`.
//
//	go run ./hack/images [-out bin/images] [-ldflags FLAGS] [NAME...]
//
// -ldflags is added to the byoda binary's (the Makefile passes its LDFLAGS).
// go build skips a binary that is up to date, so a second run only rewrites the
// archives.
package main

import (
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/byoda-go/byoda/test/cluster/image"
)

func main() {
	out := flag.String("out", "bin/images", "directory for the binaries and archives")
	ldflags := flag.String("ldflags", "", "extra -ldflags for the byoda binary (the Makefile's LDFLAGS)")
	flag.Parse()
	if err := run(*out, *ldflags, flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "images:", err)
		os.Exit(1)
	}
}

func run(out, ldflags string, only []string) error {
	root, err := repoRoot()
	if err != nil {
		return err
	}
	if !filepath.IsAbs(out) {
		out = filepath.Join(root, out)
	}
	if err := os.MkdirAll(out, 0o755); err != nil {
		return fmt.Errorf("create %s: %w", out, err)
	}
	var known []string
	for _, s := range image.All() {
		known = append(known, s.Name)
	}
	for _, name := range only {
		if !slices.Contains(known, name) {
			return fmt.Errorf("unknown image %q (known: %s)", name, strings.Join(known, ", "))
		}
	}
	for _, s := range image.All() {
		if len(only) > 0 && !slices.Contains(only, s.Name) {
			continue
		}
		start := time.Now()
		bin := filepath.Join(out, s.Name)
		flags := "-s -w"
		if s.Name == image.Byoda.Name && ldflags != "" {
			flags += " " + ldflags
		}
		// Built as the rest is, so that the packages compiled for the
		// tools (hack/tools.sh: -trimpath) and for the tests (no
		// -trimpath) are reused: the images of tool modules with
		// -trimpath, byoda's own without.
		args := []string{"build", "-ldflags", flags, "-o", bin, s.Package}
		if s.Module != "." {
			args = append([]string{"build", "-trimpath"}, args[1:]...)
		}
		cmd := exec.Command("go", args...)
		cmd.Dir = filepath.Join(root, s.Module)
		cmd.Env = append(os.Environ(), "CGO_ENABLED=0", "GOTOOLCHAIN=local", "GOFLAGS=-buildvcs=false")
		cmd.Stdout, cmd.Stderr = os.Stderr, os.Stderr
		if err := cmd.Run(); err != nil {
			return fmt.Errorf("build %s (in %s): %w", s.Name, s.Module, err)
		}
		if err := image.Write(s.Archive(out), s, bin); err != nil {
			return err
		}
		fmt.Fprintf(os.Stderr, "image %s -> %s (%.1fs)\n", s.Ref, s.Archive(out), time.Since(start).Seconds())
	}
	return nil
}

// repoRoot is the directory holding the main module's go.mod, found from the
// working directory upwards.
func repoRoot() (string, error) {
	dir, err := os.Getwd()
	if err != nil {
		return "", err
	}
	for {
		if b, err := os.ReadFile(filepath.Join(dir, "go.mod")); err == nil && strings.HasPrefix(string(b), "module github.com/byoda-go/byoda\n") {
			return dir, nil
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return "", fmt.Errorf("not inside the byoda repository")
		}
		dir = parent
	}
}
