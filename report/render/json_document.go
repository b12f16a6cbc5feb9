package render

import (
	"fmt"
	"io"
	"slices"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// Spill is where JSONDocument keeps the results it encoded until the
// document is written: a temporary file (*os.File), or memory.
type Spill interface {
	io.Writer
	io.ReaderAt
}

// JSONDocument is the JSON document (JSON) of a run judged one mail host at
// a time (report.Stream). Each host's results are encoded as soon as the
// host is judged and kept in the spill, and the judgement is dropped: a
// document of 20,000 endpoints holds their text in a file rather than
// 20,000 judged endpoints in memory (issue 14: -o json under 150 MB). Write
// puts the results back in the order of the run's input, and the
// cross-endpoint tables in the order a whole-run judgement gives them (by
// their host's first endpoint), so that the document is the one JSON writes
// for the whole run's Summary, byte for byte.
type JSONDocument struct {
	spill   Spill
	size    int64
	results []spilledResult
	hosts   []documentHost
	shared  []report.SharedEndpoint
	enc     resultEncoder
}

// spilledResult is one encoded result: its place in the run's input and
// where its text is in the spill.
type spilledResult struct {
	place  probe.Place
	offset int64
	length int
}

// documentHost is what one judged host adds to the document's tables.
type documentHost struct {
	first             probe.Place
	consistency       []jsonAddressGroup
	certificateGroups []jsonCertificateGroup
	policies          []jsonPolicy
}

// NewJSONDocument keeps the encoded results in spill.
func NewJSONDocument(spill Spill) *JSONDocument {
	return &JSONDocument{spill: spill}
}

// Add encodes one host's judgement (a Summary that report.Stream emits);
// place gives the place of each of its endpoints in the run's input.
func (d *JSONDocument) Add(s report.Summary, place func(probe.Endpoint) probe.Place) error {
	host := documentHost{certificateGroups: toJSONCertificateGroups(s.CertificateGroups), policies: toJSONPolicies(s.Policies)}
	for _, g := range s.Consistency {
		host.consistency = append(host.consistency, toJSONAddressGroup(g))
	}
	for i := range s.Endpoints {
		at := place(s.Endpoints[i].Result.Endpoint)
		if i == 0 || at.Compare(host.first) < 0 {
			host.first = at
		}
		b, err := d.enc.encode(&s.Endpoints[i], s.Verbose)
		if err != nil {
			return err
		}
		if _, err := d.spill.Write(b); err != nil {
			return fmt.Errorf("keeping a result until the document is written: %w", err)
		}
		d.results = append(d.results, spilledResult{place: at, offset: d.size, length: len(b)})
		d.size += int64(len(b))
	}
	d.hosts = append(d.hosts, host)
	d.shared = append(d.shared, s.Shared...)
	return nil
}

// AddShared adds an endpoint probed once for another target (report.Shared).
func (d *JSONDocument) AddShared(e report.SharedEndpoint) {
	d.shared = append(d.shared, e)
}

// Write writes the whole document, as JSON would write the whole run's
// Summary judged at now with status.
func (d *JSONDocument) Write(w io.Writer, tool, version string, status report.Status, now time.Time) error {
	slices.SortStableFunc(d.hosts, func(a, b documentHost) int { return a.first.Compare(b.first) })
	slices.SortStableFunc(d.results, func(a, b spilledResult) int { return a.place.Compare(b.place) })
	doc := jsonDocument{Tool: tool, Version: version, Status: status, Checked: now.UTC(), Shared: d.shared}
	for _, h := range d.hosts {
		doc.Consistency = append(doc.Consistency, h.consistency...)
		doc.CertificateGroups = append(doc.CertificateGroups, h.certificateGroups...)
		doc.Policies = append(doc.Policies, h.policies...)
	}
	var buf []byte
	return writeDocument(w, doc, len(d.results), func(i int) ([]byte, error) {
		r := d.results[i]
		buf = slices.Grow(buf[:0], r.length)[:r.length]
		if _, err := d.spill.ReadAt(buf, r.offset); err != nil {
			return nil, fmt.Errorf("reading a kept result back: %w", err)
		}
		return buf, nil
	})
}

// MemorySpill is a Spill in memory, for when no temporary file can be made.
type MemorySpill struct{ b []byte }

func (m *MemorySpill) Write(p []byte) (int, error) {
	m.b = append(m.b, p...)
	return len(p), nil
}

func (m *MemorySpill) ReadAt(p []byte, off int64) (int, error) {
	if off < 0 || off > int64(len(m.b)) {
		return 0, io.EOF
	}
	n := copy(p, m.b[off:])
	if n < len(p) {
		return n, io.EOF
	}
	return n, nil
}
