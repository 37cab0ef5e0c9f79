// Package image names the container images of byoda's end-to-end tests and
// writes them as docker-archive tarballs (the format of `docker save`), which
// `ctr images import` and `kind load image-archive` both read.
//
// Every image is one static Go binary (CGO_ENABLED=0) in a single layer, plus an
// empty /tmp: no base image, no registry, no Docker. hack/images builds the
// binaries and archives into bin/images/; test/cluster imports them into its
// node's containerd, or hands them to a kind cluster.
//
// The layer and the config are written deterministically (fixed times, owner
// root, sorted entries), so an unchanged binary gives the same image ID.
package image

import (
	"archive/tar"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"strings"
	"time"
)

// Spec describes one image: which Go package its binary is built from and the
// reference it is tagged with.
type Spec struct {
	// Name is the binary's file name, in bin/images and at the image's root,
	// and the archive's base name (<Name>.tar).
	Name string
	// Ref is the reference the archive tags the image with. Pods name it with
	// imagePullPolicy IfNotPresent or Never: nothing can be pulled.
	Ref string
	// Module is the directory of the Go module that builds the binary, relative
	// to the repository root.
	Module string
	// Package is the main package, relative to Module.
	Package string
	// Args are the arguments after the binary (the image's Cmd).
	Args []string
}

// The images of the test cluster. Refs without a registry that serves them:
// tests import the archives instead.
var (
	// Pause is the pod sandbox image; the node's containerd names it as its
	// sandbox_image.
	Pause = Spec{Name: "pause", Ref: "registry.k8s.io/pause:3.10", Module: ".", Package: "./test/cluster/pause"}
	// Byoda is the byoda binary (`go build .` with the Makefile's LDFLAGS).
	Byoda = Spec{Name: "byoda", Ref: "byoda.local/byoda:e2e", Module: ".", Package: "."}
	// Probe serves HTTP and checks DNS names and URLs from inside a pod, for the
	// cluster's own tests.
	Probe = Spec{Name: "probe", Ref: "byoda.local/probe:e2e", Module: ".", Package: "./test/cluster/probe"}
	// CoreDNS is the cluster DNS server (hack/tools/coredns).
	CoreDNS = Spec{Name: "coredns", Ref: "byoda.local/coredns:e2e", Module: "hack/tools/coredns", Package: "."}
	// CertManager is the cert-manager controller (hack/tools/cert-manager).
	CertManager = Spec{Name: "cert-manager", Ref: "byoda.local/cert-manager-controller:e2e", Module: "hack/tools/cert-manager", Package: "."}
)

// All returns every image the tests use, the sandbox image first.
func All() []Spec {
	return []Spec{Pause, Byoda, Probe, CoreDNS, CertManager}
}

// Entrypoint is the path of the binary inside the image.
func (s Spec) Entrypoint() string { return "/" + s.Name }

// Archive returns the archive's path in dir.
func (s Spec) Archive(dir string) string { return filepath.Join(dir, s.Name+".tar") }

// epoch is the time stamped on every file and on the image: a fixed one keeps
// image IDs stable across builds of the same binary.
var epoch = time.Unix(0, 0).UTC()

// Write writes the image of s, with the binary at binPath, as a docker-archive
// tarball at out (replaced atomically).
func Write(out string, s Spec, binPath string) error {
	bin, err := os.Open(binPath)
	if err != nil {
		return fmt.Errorf("open binary of image %s: %w", s.Name, err)
	}
	defer bin.Close()
	fi, err := bin.Stat()
	if err != nil {
		return fmt.Errorf("stat binary of image %s: %w", s.Name, err)
	}
	if !fi.Mode().IsRegular() {
		return fmt.Errorf("binary of image %s: %s is not a regular file", s.Name, binPath)
	}

	dir := filepath.Dir(out)
	layer, err := os.CreateTemp(dir, ".layer-*")
	if err != nil {
		return fmt.Errorf("create layer of image %s: %w", s.Name, err)
	}
	defer os.Remove(layer.Name())
	defer layer.Close()
	h := sha256.New()
	size, err := writeLayer(io.MultiWriter(layer, h), s.Name, bin, fi.Size())
	if err != nil {
		return fmt.Errorf("write layer of image %s: %w", s.Name, err)
	}
	diffID := "sha256:" + hex.EncodeToString(h.Sum(nil))

	config, err := json.Marshal(imageConfig{
		Architecture: runtime.GOARCH,
		OS:           "linux",
		Created:      epoch,
		Config: containerConfig{
			Entrypoint: []string{s.Entrypoint()},
			Cmd:        s.Args,
			Env:        []string{"PATH=/"},
			WorkingDir: "/",
		},
		RootFS:  rootFS{Type: "layers", DiffIDs: []string{diffID}},
		History: []history{{Created: epoch, CreatedBy: "byoda test/cluster/image: " + s.Name}},
	})
	if err != nil {
		return fmt.Errorf("encode config of image %s: %w", s.Name, err)
	}
	configSum := sha256.Sum256(config)
	configName := hex.EncodeToString(configSum[:]) + ".json"
	layerName := strings.TrimPrefix(diffID, "sha256:") + "/layer.tar"
	manifest, err := json.Marshal([]manifestEntry{{Config: configName, RepoTags: []string{s.Ref}, Layers: []string{layerName}}})
	if err != nil {
		return fmt.Errorf("encode manifest of image %s: %w", s.Name, err)
	}

	tmp, err := os.CreateTemp(dir, ".archive-*")
	if err != nil {
		return fmt.Errorf("create archive of image %s: %w", s.Name, err)
	}
	defer os.Remove(tmp.Name())
	defer tmp.Close()
	tw := tar.NewWriter(tmp)
	if err := addBytes(tw, configName, config); err != nil {
		return err
	}
	if _, err := layer.Seek(0, io.SeekStart); err != nil {
		return fmt.Errorf("rewind layer of image %s: %w", s.Name, err)
	}
	if err := tw.WriteHeader(fileHeader(layerName, size, 0o644)); err != nil {
		return fmt.Errorf("write archive of image %s: %w", s.Name, err)
	}
	if _, err := io.Copy(tw, layer); err != nil {
		return fmt.Errorf("write archive of image %s: %w", s.Name, err)
	}
	if err := addBytes(tw, "manifest.json", manifest); err != nil {
		return err
	}
	if err := tw.Close(); err != nil {
		return fmt.Errorf("write archive of image %s: %w", s.Name, err)
	}
	if err := tmp.Chmod(0o644); err != nil {
		return fmt.Errorf("write archive of image %s: %w", s.Name, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write archive of image %s: %w", s.Name, err)
	}
	if err := os.Rename(tmp.Name(), out); err != nil {
		return fmt.Errorf("write archive of image %s: %w", s.Name, err)
	}
	return nil
}

// writeLayer writes the single layer: /tmp and the binary at /<name>. It
// returns the layer's size.
func writeLayer(w io.Writer, name string, bin io.Reader, binSize int64) (int64, error) {
	cw := &countingWriter{w: w}
	tw := tar.NewWriter(cw)
	tmp := &tar.Header{Typeflag: tar.TypeDir, Name: "tmp/", Mode: 0o1777, ModTime: epoch, Format: tar.FormatPAX}
	if err := tw.WriteHeader(tmp); err != nil {
		return 0, err
	}
	if err := tw.WriteHeader(fileHeader(name, binSize, 0o755)); err != nil {
		return 0, err
	}
	n, err := io.Copy(tw, bin)
	if err != nil {
		return 0, err
	}
	if n != binSize {
		return 0, fmt.Errorf("binary changed while reading: %d bytes, want %d", n, binSize)
	}
	if err := tw.Close(); err != nil {
		return 0, err
	}
	return cw.n, nil
}

func fileHeader(name string, size int64, mode int64) *tar.Header {
	return &tar.Header{Typeflag: tar.TypeReg, Name: name, Size: size, Mode: mode, ModTime: epoch, Format: tar.FormatPAX}
}

func addBytes(tw *tar.Writer, name string, b []byte) error {
	if err := tw.WriteHeader(fileHeader(name, int64(len(b)), 0o644)); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	if _, err := tw.Write(b); err != nil {
		return fmt.Errorf("write %s: %w", name, err)
	}
	return nil
}

type countingWriter struct {
	w io.Writer
	n int64
}

func (c *countingWriter) Write(p []byte) (int, error) {
	n, err := c.w.Write(p)
	c.n += int64(n)
	return n, err
}

// The docker-archive format: manifest.json lists, per image, its config file,
// tags and layer tarballs; the config is the OCI/Docker image config.
type manifestEntry struct {
	Config   string
	RepoTags []string
	Layers   []string
}

type imageConfig struct {
	Architecture string          `json:"architecture"`
	OS           string          `json:"os"`
	Created      time.Time       `json:"created"`
	Config       containerConfig `json:"config"`
	RootFS       rootFS          `json:"rootfs"`
	History      []history       `json:"history"`
}

type containerConfig struct {
	Entrypoint []string `json:"Entrypoint"`
	Cmd        []string `json:"Cmd,omitempty"`
	Env        []string `json:"Env"`
	WorkingDir string   `json:"WorkingDir"`
}

type rootFS struct {
	Type    string   `json:"type"`
	DiffIDs []string `json:"diff_ids"`
}

type history struct {
	Created   time.Time `json:"created"`
	CreatedBy string    `json:"created_by"`
}

// Manifest is what Read found in an archive.
type Manifest struct {
	// Ref is the image's tag.
	Ref string
	// Entrypoint is the image config's entrypoint.
	Entrypoint []string
	// Files maps each regular file of the layer (absolute path) to its size.
	Files map[string]int64
}

// Read opens a docker-archive written by Write and checks it: one image, one
// layer whose digest matches the config's diff ID. It is how tests and tools
// inspect an archive without a container runtime.
func Read(archive string) (*Manifest, error) {
	f, err := os.Open(archive)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	entries := map[string][]byte{}
	layerSums := map[string]string{}
	layerFiles := map[string]map[string]int64{}
	tr := tar.NewReader(f)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("read %s: %w", archive, err)
		}
		if path.Base(hdr.Name) == "layer.tar" {
			h := sha256.New()
			files, err := readLayer(io.TeeReader(tr, h))
			if err != nil {
				return nil, fmt.Errorf("read layer %s of %s: %w", hdr.Name, archive, err)
			}
			layerSums[hdr.Name] = "sha256:" + hex.EncodeToString(h.Sum(nil))
			layerFiles[hdr.Name] = files
			continue
		}
		b, err := io.ReadAll(io.LimitReader(tr, 1<<20))
		if err != nil {
			return nil, fmt.Errorf("read %s in %s: %w", hdr.Name, archive, err)
		}
		entries[hdr.Name] = b
	}
	var manifest []manifestEntry
	if err := json.Unmarshal(entries["manifest.json"], &manifest); err != nil {
		return nil, fmt.Errorf("%s: manifest.json: %w", archive, err)
	}
	if len(manifest) != 1 || len(manifest[0].RepoTags) != 1 || len(manifest[0].Layers) != 1 {
		return nil, fmt.Errorf("%s: want one image with one tag and one layer, got %+v", archive, manifest)
	}
	m := manifest[0]
	var cfg imageConfig
	if err := json.Unmarshal(entries[m.Config], &cfg); err != nil {
		return nil, fmt.Errorf("%s: config %s: %w", archive, m.Config, err)
	}
	configSum := sha256.Sum256(entries[m.Config])
	if want := hex.EncodeToString(configSum[:]) + ".json"; m.Config != want {
		return nil, fmt.Errorf("%s: config is named %s but its digest gives %s", archive, m.Config, want)
	}
	if len(cfg.RootFS.DiffIDs) != 1 || cfg.RootFS.DiffIDs[0] != layerSums[m.Layers[0]] {
		return nil, fmt.Errorf("%s: config diff IDs %v do not match layer digest %s", archive, cfg.RootFS.DiffIDs, layerSums[m.Layers[0]])
	}
	return &Manifest{Ref: m.RepoTags[0], Entrypoint: cfg.Config.Entrypoint, Files: layerFiles[m.Layers[0]]}, nil
}

func readLayer(r io.Reader) (map[string]int64, error) {
	files := map[string]int64{}
	tr := tar.NewReader(r)
	for {
		hdr, err := tr.Next()
		if errors.Is(err, io.EOF) {
			break
		}
		if err != nil {
			return nil, err
		}
		if hdr.Typeflag == tar.TypeReg {
			n, err := io.Copy(io.Discard, tr)
			if err != nil {
				return nil, err
			}
			files["/"+hdr.Name] = n
		}
	}
	// Drain the tar padding so the digest covers the whole layer.
	if _, err := io.Copy(io.Discard, r); err != nil {
		return nil, err
	}
	return files, nil
}
