package render

import (
	"encoding/json"
	"io"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// JSONL line types: every line has "type", so that a reader picks the lines
// it wants (jq 'select(.type == "endpoint")').
const (
	lineEndpoint         = "endpoint"
	lineConsistency      = "consistency"
	lineCertificateGroup = "certificate_group"
	lineShared           = "shared"
	lineSummary          = "summary"
)

// JSONLines writes a judged group of endpoints as JSON lines: one
// "endpoint" line per endpoint, the same object as an element of the JSON
// document's "results" plus "type", then a line per cross-endpoint finding
// of the group: "consistency" (a name and port reached at several
// addresses, as the document's "consistency") and "certificate_group"
// (a host whose endpoints present several certificates, as
// "certificate_groups"). For --output jsonl, which judges each mail host as
// soon as its last endpoint finishes (report.Stream).
func JSONLines(w io.Writer, s report.Summary) error {
	enc := newLineEncoder(w)
	for i := range s.Endpoints {
		line := struct {
			Type string `json:"type"`
			jsonResult
			// Observed is what the probe saw, for merge to judge again
			// (Summary.Observations: a --shard run).
			Observed *probe.Record `json:"observed,omitempty"`
		}{Type: lineEndpoint, jsonResult: toJSONResult(&s.Endpoints[i], s.Verbose)}
		if s.Observations {
			rec := probe.NewRecord(&s.Endpoints[i].Result)
			line.Observed = &rec
		}
		if err := enc.Encode(line); err != nil {
			return err
		}
	}
	for _, g := range s.Consistency {
		if err := enc.Encode(struct {
			Type string `json:"type"`
			jsonAddressGroup
		}{lineConsistency, toJSONAddressGroup(g)}); err != nil {
			return err
		}
	}
	for _, g := range toJSONCertificateGroups(s.CertificateGroups) {
		if err := enc.Encode(struct {
			Type string `json:"type"`
			jsonCertificateGroup
		}{lineCertificateGroup, g}); err != nil {
			return err
		}
	}
	return nil
}

// JSONLinesShared writes the "shared" line of an endpoint that was probed
// once for another target: with --mx, one MX host of a provider serves many
// domains, and each (address, port, SNI) is handshaken once per run. The
// line attributes that endpoint's result, on its own "endpoint" line, to
// this target's domain.
func JSONLinesShared(w io.Writer, s report.SharedEndpoint) error {
	return newLineEncoder(w).Encode(struct {
		Type string `json:"type"`
		report.SharedEndpoint
	}{lineShared, s})
}

// JSONLinesTotals writes the run's last line: its status, exit code and
// counts, kept as running totals while the endpoints streamed, and the
// shard ("K/N") when the run was one, so that merge can tell whether it was
// given every shard of a run once.
func JSONLinesTotals(w io.Writer, tool, version string, checked time.Time, shard string, t report.Totals) error {
	return newLineEncoder(w).Encode(struct {
		Type      string        `json:"type"`
		Tool      string        `json:"tool"`
		Version   string        `json:"version"`
		Status    report.Status `json:"status"`
		ExitCode  int           `json:"exit_code"`
		Checked   time.Time     `json:"checked_at"`
		Endpoints int           `json:"endpoints"`
		OK        int           `json:"ok"`
		Warning   int           `json:"warning"`
		Critical  int           `json:"critical"`
		Unknown   int           `json:"unknown"`
		Skipped   int           `json:"skipped"`
		Problems  int           `json:"problems"`
		Shard     string        `json:"shard,omitempty"`
	}{lineSummary, tool, version, t.Status, t.ExitCode(), checked.UTC(), t.Endpoints,
		t.ByStatus[report.OK], t.ByStatus[report.Warning], t.ByStatus[report.Critical], t.ByStatus[report.Unknown], t.ByStatus[report.Skipped], t.Problems, shard})
}

func newLineEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	// As in JSON: "<I>...<S>..." stays pasteable, not \u003cI\u003e.
	enc.SetEscapeHTML(false)
	return enc
}
