// Package atomicfile replaces a file so that a reader sees the old content
// or the new, never a part: node_exporter's textfile collector may read
// --output-file at any moment, and a baseline cut short by a crash must not
// pass for a corrupt one. It only writes files; it never dials.
package atomicfile

import (
	"bufio"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
)

// Write fills a temporary file in path's directory with fill, flushes it to
// disk and renames it over path. A new file gets mode perm; an existing
// one keeps its mode. When fill or any step fails, path is left as it was
// and the temporary file is removed.
//
// A path that is a symbolic link is followed: the link's target is
// replaced, and the link (often set up by configuration management) stays.
func Write(path string, perm fs.FileMode, fill func(io.Writer) error) (err error) {
	if target, linkErr := filepath.EvalSymlinks(path); linkErr == nil {
		path = target
	}
	dir, base := filepath.Split(path)
	if dir == "" {
		dir = "."
	}
	if info, statErr := os.Stat(path); statErr == nil {
		perm = info.Mode().Perm()
	}
	// The temporary file lives beside path: a rename is only atomic
	// within one file system. The leading dot keeps it out of globs such
	// as the textfile collector's *.prom.
	tmp, err := os.CreateTemp(dir, "."+base+".tmp-*")
	if err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	defer func() {
		if err != nil {
			tmp.Close()
			os.Remove(tmp.Name())
		}
	}()
	bw := bufio.NewWriter(tmp)
	if err := fill(bw); err != nil {
		return err
	}
	if err := bw.Flush(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Chmod(perm); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Sync(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := tmp.Close(); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	if err := os.Rename(tmp.Name(), path); err != nil {
		return fmt.Errorf("write %s: %w", path, err)
	}
	// Make the rename itself durable. Its error is ignored: some systems
	// cannot sync a directory, and the file is in place either way.
	if d, openErr := os.Open(dir); openErr == nil {
		d.Sync()
		d.Close()
	}
	return nil
}
