package atomicfile

import (
	"io"
	"path/filepath"
	"testing"
)

// TestTemporaryFileLivesBesideTheTarget: a rename is atomic only within one
// file system, so the temporary file must be made in the target's
// directory, also when the target is a bare name in the working directory
// (not in os.TempDir, which may be another file system).
func TestTemporaryFileLivesBesideTheTarget(t *testing.T) {
	dir := t.TempDir()
	t.Chdir(dir)
	for _, path := range []string{"out.prom", filepath.Join(t.TempDir(), "out.prom")} {
		err := Write(path, 0o644, func(w io.Writer) error {
			tmp, err := filepath.Glob(filepath.Join(filepath.Dir(path), ".out.prom.tmp-*"))
			if err != nil || len(tmp) != 1 {
				t.Errorf("%s: temporary files beside it while writing: %q (%v), want one", path, tmp, err)
			}
			_, err = io.WriteString(w, "x\n")
			return err
		})
		if err != nil {
			t.Fatalf("%s: %v", path, err)
		}
	}
}
