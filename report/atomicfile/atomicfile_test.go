package atomicfile

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"testing"
)

func TestWrite(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.prom")
	for i, content := range []string{"first\n", "second\n"} {
		if err := Write(path, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, content); return err }); err != nil {
			t.Fatalf("write %d: %v", i, err)
		}
		got, err := os.ReadFile(path)
		if err != nil || string(got) != content {
			t.Fatalf("after write %d: %q, %v; want %q", i, got, err, content)
		}
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o644 {
		t.Errorf("mode %v, want 0644", info.Mode().Perm())
	}
	assertOnlyFile(t, path)
}

func TestWriteKeepsTheModeOfAnExistingFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "baseline.json")
	if err := os.WriteFile(path, []byte("old"), 0o600); err != nil {
		t.Fatal(err)
	}
	if err := Write(path, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "new"); return err }); err != nil {
		t.Fatal(err)
	}
	info, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if info.Mode().Perm() != 0o600 {
		t.Errorf("mode %v, want the existing 0600", info.Mode().Perm())
	}
}

// TestWriteLeavesTheFileOnFailure: a fill that fails half-way changes
// nothing and leaves no temporary file behind.
func TestWriteLeavesTheFileOnFailure(t *testing.T) {
	path := filepath.Join(t.TempDir(), "out.prom")
	if err := os.WriteFile(path, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	errFill := errors.New("renderer failed")
	err := Write(path, 0o644, func(w io.Writer) error {
		fmt.Fprint(w, "half of the new")
		return errFill
	})
	if !errors.Is(err, errFill) {
		t.Fatalf("err = %v, want the fill's error", err)
	}
	got, _ := os.ReadFile(path)
	if string(got) != "old\n" {
		t.Errorf("file became %q after a failed write", got)
	}
	assertOnlyFile(t, path)
}

func TestWriteIntoAMissingDirectory(t *testing.T) {
	path := filepath.Join(t.TempDir(), "nosuchdir", "out.prom")
	if err := Write(path, 0o644, func(io.Writer) error { return nil }); err == nil {
		t.Fatal("want an error for a missing directory")
	}
}

func assertOnlyFile(t *testing.T, path string) {
	t.Helper()
	entries, err := os.ReadDir(filepath.Dir(path))
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) != 1 || entries[0].Name() != filepath.Base(path) {
		var names []string
		for _, e := range entries {
			names = append(names, e.Name())
		}
		t.Errorf("directory holds %v, want only %s", names, filepath.Base(path))
	}
}

// A path that is a symbolic link keeps being one: the target is replaced.
func TestWriteFollowsASymbolicLink(t *testing.T) {
	dir := t.TempDir()
	target := filepath.Join(dir, "real.prom")
	link := filepath.Join(dir, "link.prom")
	if err := os.WriteFile(target, []byte("old\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink(target, link); err != nil {
		t.Fatal(err)
	}
	if err := Write(link, 0o644, func(w io.Writer) error { _, err := io.WriteString(w, "new\n"); return err }); err != nil {
		t.Fatal(err)
	}
	if info, err := os.Lstat(link); err != nil || info.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symbolic link (%v)", link, err)
	}
	if got, err := os.ReadFile(target); err != nil || string(got) != "new\n" {
		t.Errorf("target holds %q (%v), want the new content", got, err)
	}
}
