// Package baseline notices change between runs: it remembers, per (host,
// address, port), the leaf certificate and the STARTTLS offer a mail host
// presented, and on later runs adds a "baseline" check to every endpoint of
// the report.Summary, so that every renderer shows the verdict. A changed
// certificate is a warning, a lost STARTTLS critical.
//
// It reads and writes the state file, under a lock, and never dials: what
// it compares comes from the Summary. It must not import probe/probetest.
package baseline

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/atomicfile"
)

// CheckID is the ID of the check the baseline adds to each endpoint.
const CheckID = "baseline"

// The file names its format and version, so that a file written by
// something else is refused rather than overwritten.
const (
	formatName    = "starttls-probe baseline"
	formatVersion = 1
	// maxFileSize bounds what is read: a baseline holds a few hundred
	// bytes per endpoint.
	maxFileSize = 16 << 20
)

// Entry is what was recorded for one (host, address, port).
type Entry struct {
	Host    string `json:"host"`
	Address string `json:"address"`
	Port    int    `json:"port"`
	// STARTTLSOffered is whether the EHLO reply offered STARTTLS; always
	// false for implicit TLS, where it is not compared.
	STARTTLSOffered bool `json:"starttls_offered"`
	// The leaf certificate; empty when none was presented.
	SHA1     string    `json:"sha1,omitempty"`
	Subject  string    `json:"subject,omitempty"`
	Issuer   string    `json:"issuer,omitempty"`
	NotAfter time.Time `json:"not_after,omitzero"`
	// RecordedAt is when this entry was recorded or last accepted.
	RecordedAt time.Time `json:"recorded_at"`
}

type key struct {
	host, address string
	port          int
}

func (e Entry) key() key { return key{e.Host, e.Address, e.Port} }

// nameKey leaves the address out: the same host and port at any address.
func (e Entry) nameKey() key { return key{e.Host, "", e.Port} }

// document is the file's JSON shape.
type document struct {
	Format  string  `json:"format"`
	Version int     `json:"version"`
	Entries []Entry `json:"endpoints"`
}

// Options say how Apply treats differences.
type Options struct {
	// Update accepts what this run saw as the new baseline.
	Update bool
}

// Apply compares s with the baseline in the file at path, adds a check with
// CheckID to every endpoint of s (worsening the endpoint's and the run's
// status as the check says), and writes the file back when it changed: on
// the first run, for endpoints it did not know, and with Options.Update.
//
// It holds a lock on path+".lock" from reading to writing, so that two runs
// that overlap compare and record one after the other. A file that is not a
// baseline (corrupt, foreign, empty) is an error, s is left unchanged and
// the file untouched: nothing is ever silently overwritten.
func Apply(ctx context.Context, path string, s *report.Summary, opts Options) error {
	lock, err := acquireLock(ctx, path+".lock")
	if err != nil {
		return err
	}
	defer lock.release()

	entries, err := load(path)
	if err != nil {
		return err
	}
	next, changed := compare(entries, s, opts)
	if !changed {
		return nil
	}
	return save(path, next)
}

// load reads the baseline; a missing file is an empty baseline.
func load(path string) ([]Entry, error) {
	f, err := os.Open(path)
	if errors.Is(err, fs.ErrNotExist) {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("baseline: %w", err)
	}
	defer f.Close()
	data, err := io.ReadAll(io.LimitReader(f, maxFileSize+1))
	if err != nil {
		return nil, fmt.Errorf("baseline %s: %w", path, err)
	}
	return parse(path, data)
}

// parse refuses anything but a baseline this version wrote.
func parse(path string, data []byte) ([]Entry, error) {
	refuse := func(why string) error {
		return fmt.Errorf("baseline %s %s; it was left untouched (move it away to record a new baseline)", path, why)
	}
	if len(data) > maxFileSize {
		return nil, refuse(fmt.Sprintf("is larger than %d bytes, which is not a baseline", maxFileSize))
	}
	if len(bytes.TrimSpace(data)) == 0 {
		return nil, refuse("is empty")
	}
	var doc document
	dec := json.NewDecoder(bytes.NewReader(data))
	dec.DisallowUnknownFields()
	if err := dec.Decode(&doc); err != nil {
		return nil, refuse(fmt.Sprintf("is not a starttls-probe baseline (%v)", err))
	}
	if dec.More() {
		return nil, refuse("has data after the baseline")
	}
	if doc.Format != formatName {
		return nil, refuse(fmt.Sprintf("is not a starttls-probe baseline (format %q)", doc.Format))
	}
	if doc.Version != formatVersion {
		return nil, refuse(fmt.Sprintf("has version %d; this starttls-probe reads version %d", doc.Version, formatVersion))
	}
	seen := map[key]bool{}
	for _, e := range doc.Entries {
		if e.Host == "" || e.Port < 1 || e.Port > 65535 {
			return nil, refuse(fmt.Sprintf("has an endpoint without host or with port %d", e.Port))
		}
		if seen[e.key()] {
			return nil, refuse(fmt.Sprintf("lists %s port %d (%s) twice", e.Host, e.Port, e.Address))
		}
		seen[e.key()] = true
	}
	return doc.Entries, nil
}

func save(path string, entries []Entry) error {
	slices.SortFunc(entries, func(a, b Entry) int {
		if c := strings.Compare(a.Host, b.Host); c != 0 {
			return c
		}
		if c := strings.Compare(a.Address, b.Address); c != 0 {
			return c
		}
		return a.Port - b.Port
	})
	doc := document{Format: formatName, Version: formatVersion, Entries: entries}
	if doc.Entries == nil {
		doc.Entries = []Entry{}
	}
	err := atomicfile.Write(path, 0o644, func(w io.Writer) error {
		enc := json.NewEncoder(w)
		enc.SetIndent("", "  ")
		return enc.Encode(doc)
	})
	if err != nil {
		return fmt.Errorf("baseline: %w", err)
	}
	return nil
}
