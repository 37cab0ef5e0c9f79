package image

import (
	"bytes"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestWriteRead(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	content := bytes.Repeat([]byte("static binary "), 1000)
	if err := os.WriteFile(bin, content, 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "tool", Ref: "byoda.local/tool:e2e"}
	out := spec.Archive(dir)
	if err := Write(out, spec, bin); err != nil {
		t.Fatal(err)
	}
	m, err := Read(out)
	if err != nil {
		t.Fatal(err)
	}
	if m.Ref != spec.Ref {
		t.Errorf("ref = %q, want %q", m.Ref, spec.Ref)
	}
	if len(m.Entrypoint) != 1 || m.Entrypoint[0] != "/tool" {
		t.Errorf("entrypoint = %q, want [/tool]", m.Entrypoint)
	}
	if got := m.Files["/tool"]; got != int64(len(content)) {
		t.Errorf("layer holds /tool with %d bytes, want %d (files: %v)", got, len(content), m.Files)
	}

	// Same binary, same bytes: the image ID does not change between builds.
	first, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if err := Write(out, spec, bin); err != nil {
		t.Fatal(err)
	}
	second, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(first, second) {
		t.Error("two archives of the same binary differ")
	}
	leftovers, _ := filepath.Glob(filepath.Join(dir, ".*"))
	if len(leftovers) > 0 {
		t.Errorf("temporary files left: %v", leftovers)
	}
}

func TestReadRejectsTamperedLayer(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "tool")
	if err := os.WriteFile(bin, []byte("original binary"), 0o755); err != nil {
		t.Fatal(err)
	}
	spec := Spec{Name: "tool", Ref: "byoda.local/tool:e2e"}
	out := spec.Archive(dir)
	if err := Write(out, spec, bin); err != nil {
		t.Fatal(err)
	}
	b, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	// Same length, other bytes: the layer no longer matches the config's diff ID.
	b = bytes.Replace(b, []byte("original binary"), []byte("modified binary"), 1)
	if err := os.WriteFile(out, b, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, err := Read(out); err == nil || !strings.Contains(err.Error(), "diff IDs") {
		t.Fatalf("Read of a tampered archive: err = %v, want a diff ID mismatch", err)
	}
}

func TestWriteMissingBinary(t *testing.T) {
	dir := t.TempDir()
	spec := Spec{Name: "tool", Ref: "byoda.local/tool:e2e"}
	err := Write(spec.Archive(dir), spec, filepath.Join(dir, "absent"))
	if err == nil || !strings.Contains(err.Error(), "image tool") {
		t.Fatalf("err = %v, want an error naming the image", err)
	}
	if _, err := os.Stat(spec.Archive(dir)); !os.IsNotExist(err) {
		t.Errorf("archive written despite the error (%v)", err)
	}
}

func TestSpecsUnique(t *testing.T) {
	names, refs := map[string]bool{}, map[string]bool{}
	for _, s := range All() {
		if names[s.Name] || refs[s.Ref] {
			t.Errorf("image %s (%s) is listed twice", s.Name, s.Ref)
		}
		names[s.Name], refs[s.Ref] = true, true
	}
}
