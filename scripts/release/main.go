// Command release writes one release archive for scripts/release.sh:
// a .zip (Windows) or .tar.gz (elsewhere, by the name's extension) holding
// the given files under one top directory, byte for byte the same from the
// same inputs: entries in the given order, every time set to -mtime, no
// owner, user or host names. It is Go rather than tar and zip so that the
// archives do not depend on which tar (GNU, BSD) or zip the release
// machine has.
//
//	go run ./scripts/release -o DIR/NAME.tar.gz -mtime UNIXSECONDS -dir NAME FILE...
//
// The first FILE is the executable (mode 0755); the others get 0644.
package main

import (
	"archive/tar"
	"archive/zip"
	"compress/gzip"
	"flag"
	"fmt"
	"io"
	"os"
	"path"
	"path/filepath"
	"strings"
	"time"
)

func main() {
	out := flag.String("o", "", "the archive to write: NAME.zip or NAME.tar.gz")
	mtime := flag.Int64("mtime", 0, "the time of every entry, in Unix seconds (the commit's time)")
	dir := flag.String("dir", "", "the top directory inside the archive")
	flag.Parse()
	if *out == "" || *dir == "" || flag.NArg() == 0 {
		fmt.Fprintln(os.Stderr, "usage: release -o ARCHIVE -mtime SECONDS -dir NAME EXECUTABLE [FILE...]")
		os.Exit(2)
	}
	if err := write(*out, *dir, time.Unix(*mtime, 0).UTC(), flag.Args()); err != nil {
		fmt.Fprintln(os.Stderr, "release:", err)
		os.Exit(1)
	}
}

// write writes the archive out, removing it if anything fails.
func write(out, dir string, mtime time.Time, files []string) (err error) {
	f, err := os.Create(out)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := f.Close(); err == nil {
			err = cerr
		}
		if err != nil {
			os.Remove(out)
		}
	}()
	switch {
	case strings.HasSuffix(out, ".zip"):
		return writeZip(f, dir, mtime, files)
	case strings.HasSuffix(out, ".tar.gz"):
		return writeTarGz(f, dir, mtime, files)
	}
	return fmt.Errorf("%s: the name must end in .zip or .tar.gz", out)
}

func modeOf(i int) os.FileMode {
	if i == 0 {
		return 0o755
	}
	return 0o644
}

func writeZip(w io.Writer, dir string, mtime time.Time, files []string) error {
	zw := zip.NewWriter(w)
	for i, name := range files {
		h := &zip.FileHeader{Name: path.Join(dir, filepath.Base(name)), Method: zip.Deflate, Modified: mtime}
		h.SetMode(modeOf(i))
		entry, err := zw.CreateHeader(h)
		if err != nil {
			return err
		}
		if err := copyFile(entry, name); err != nil {
			return err
		}
	}
	return zw.Close()
}

func writeTarGz(w io.Writer, dir string, mtime time.Time, files []string) error {
	// gzip.Writer leaves the header's name and time empty: nothing of the
	// machine gets in.
	gz := gzip.NewWriter(w)
	tw := tar.NewWriter(gz)
	for i, name := range files {
		st, err := os.Stat(name)
		if err != nil {
			return err
		}
		h := &tar.Header{
			Typeflag: tar.TypeReg, Name: path.Join(dir, filepath.Base(name)), Size: st.Size(),
			Mode: int64(modeOf(i)), ModTime: mtime,
		}
		if err := tw.WriteHeader(h); err != nil {
			return err
		}
		if err := copyFile(tw, name); err != nil {
			return err
		}
	}
	if err := tw.Close(); err != nil {
		return err
	}
	return gz.Close()
}

func copyFile(w io.Writer, name string) error {
	f, err := os.Open(name)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = io.Copy(w, f)
	return err
}
