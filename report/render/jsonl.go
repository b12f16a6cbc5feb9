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
	lineObservation      = "observation"
	lineCertificate      = "certificate"
)

// ObservationPrefix begins every line JSONLinesObservation writes, so that
// merge can tell an observation from the shard's other lines without
// decoding it twice.
const ObservationPrefix = `{"type":"` + lineObservation + `",`

// CertificatePrefix begins every line JSONLinesCertificate writes.
const CertificatePrefix = `{"type":"` + lineCertificate + `",`

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
		if err := enc.Encode(struct {
			Type string `json:"type"`
			jsonResult
		}{lineEndpoint, toJSONResult(&s.Endpoints[i], s.Verbose)}); err != nil {
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
// counts, kept as running totals while the endpoints streamed.
func JSONLinesTotals(w io.Writer, tool, version string, checked time.Time, t report.Totals) error {
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
	}{lineSummary, tool, version, t.Status, t.ExitCode(), checked.UTC(), t.Endpoints,
		t.ByStatus[report.OK], t.ByStatus[report.Warning], t.ByStatus[report.Critical], t.ByStatus[report.Unknown], t.ByStatus[report.Skipped], t.Problems})
}

// JSONLinesObservation writes what was observed of one endpoint as a line
// of a --shard run: the probe's Record, unjudged, after "type":
// "observation" (ObservationPrefix). A shard does not judge: merge judges
// every shard's observations as one run, so judging them in the shard too
// would be done twice (issue 14: shards plus merge within 1.1x one run).
func JSONLinesObservation(w io.Writer, rec *probe.Record) error {
	return newLineEncoder(w).Encode(struct {
		Type string `json:"type"`
		*probe.Record
	}{lineObservation, rec})
}

// JSONLinesCertificate writes a certificate of a --shard run on a line of
// its own, before the first observation that names it by SHA-256
// (probe.Record.ReferCertificates), after "type": "certificate"
// (CertificatePrefix).
func JSONLinesCertificate(w io.Writer, c probe.CertificateRecord) error {
	return newLineEncoder(w).Encode(struct {
		Type string `json:"type"`
		probe.CertificateRecord
	}{lineCertificate, c})
}

// ShardSummary is the last line of a --shard run: which shard it was
// ("K/N", for merge to check it was given every shard of one run once),
// how many endpoints it observed and attributed ("shared" lines), the
// last instant it observed one (merge judges the run at the latest of
// the shards'), and whether it was interrupted, which makes its file one
// merge refuses.
type ShardSummary struct {
	Tool        string    `json:"tool"`
	Version     string    `json:"version"`
	Checked     time.Time `json:"checked_at"`
	Shard       string    `json:"shard"`
	Observed    int       `json:"observed"`
	Shared      int       `json:"shared"`
	Last        time.Time `json:"last_observed,omitzero"`
	Interrupted bool      `json:"interrupted,omitempty"`
}

// JSONLinesShardSummary writes a --shard run's last line.
func JSONLinesShardSummary(w io.Writer, s ShardSummary) error {
	s.Checked, s.Last = s.Checked.UTC(), s.Last.UTC()
	return newLineEncoder(w).Encode(struct {
		Type string `json:"type"`
		ShardSummary
	}{lineSummary, s})
}

func newLineEncoder(w io.Writer) *json.Encoder {
	enc := json.NewEncoder(w)
	// As in JSON: "<I>...<S>..." stays pasteable, not \u003cI\u003e.
	enc.SetEscapeHTML(false)
	return enc
}
