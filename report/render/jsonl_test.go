package render_test

import (
	"encoding/json"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// JSONL writes the same object as JSON, TlsCertificateName pasteable as is.
func TestJSONLineKeepsTLSCertificateNamePasteable(t *testing.T) {
	t.Parallel()
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	res := probe.Result{
		Endpoint: probe.Endpoint{Host: "mx.test", Port: 25}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		TLS:   &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
		Chain: chain.Certs,
	}
	var line strings.Builder
	if err := render.JSONLines(&line, report.Judge([]probe.Result{res}, report.Expect{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line.String(), `"<I>CN=mx.test<S>CN=mx.test"`) {
		t.Errorf("the JSONL line should carry the TlsCertificateName unescaped:\n%s", line.String())
	}
}

// Every JSONL line has a type; an endpoint line is the JSON document's
// result object plus "type", and the group's cross-endpoint findings follow
// its endpoints as lines of their own, the same objects as the document's
// "consistency" and "certificate_groups".
func TestJSONLinesTypesAndGroupLines(t *testing.T) {
	p := reporttest.NewDiagPKI(t)
	var results []probe.Result
	for _, d := range p.Scenarios()["two-nodes"] {
		results = append(results, d.Result(t))
	}
	s := report.Judge(results, report.Expect{Roots: p.Roots()}, reporttest.DiagNow)
	var lines, doc strings.Builder
	if err := render.JSONLines(&lines, s); err != nil {
		t.Fatal(err)
	}
	if err := render.JSON(&doc, s); err != nil {
		t.Fatal(err)
	}
	var whole map[string]json.RawMessage
	if err := json.Unmarshal([]byte(doc.String()), &whole); err != nil {
		t.Fatal(err)
	}
	var want []map[string]any
	for _, list := range []string{"results", "consistency", "certificate_groups"} {
		var objects []map[string]any
		if err := json.Unmarshal(whole[list], &objects); err != nil {
			t.Fatal(list, err)
		}
		typ := map[string]string{"results": "endpoint", "consistency": "consistency", "certificate_groups": "certificate_group"}[list]
		if len(objects) == 0 {
			t.Fatalf("the two-nodes scenario has no %s", list)
		}
		for _, o := range objects {
			o["type"] = typ
			want = append(want, o)
		}
	}
	var got []map[string]any
	for _, l := range strings.Split(strings.TrimSuffix(lines.String(), "\n"), "\n") {
		var o map[string]any
		if err := json.Unmarshal([]byte(l), &o); err != nil {
			t.Fatalf("line %q: %v", l, err)
		}
		got = append(got, o)
	}
	if !reflect.DeepEqual(got, want) {
		t.Errorf("JSONL lines are not the document's objects with their type:\n got %v\nwant %v", got, want)
	}
}

// The summary line carries the run's status, exit code and counts.
func TestJSONLinesTotals(t *testing.T) {
	totals := report.Totals{Endpoints: 5, ByStatus: map[report.Status]int{report.OK: 2, report.Warning: 1, report.Critical: 2}, Problems: 4, Status: report.Critical}
	var line strings.Builder
	if err := render.JSONLinesTotals(&line, "starttls-probe", "v1", reporttest.DiagNow, totals); err != nil {
		t.Fatal(err)
	}
	want := `{"type":"summary","tool":"starttls-probe","version":"v1","status":"critical","exit_code":2,"checked_at":"2030-06-15T12:00:00Z","endpoints":5,"ok":2,"warning":1,"critical":2,"unknown":0,"skipped":0,"problems":4}` + "\n"
	if line.String() != want {
		t.Errorf("summary line\n got %s\nwant %s", line.String(), want)
	}
}

// A shard's summary line names the shard and counts what it wrote; an
// interrupted shard says so.
func TestJSONLinesShardSummary(t *testing.T) {
	for _, c := range []struct {
		summary render.ShardSummary
		want    string
	}{
		{render.ShardSummary{Tool: "starttls-probe", Version: "v1", Checked: reporttest.DiagNow.In(time.FixedZone("CET", 3600)), Shard: "1/4", Observed: 7, Shared: 2,
			Last: reporttest.DiagNow.Add(90 * time.Second).In(time.FixedZone("CET", 3600))},
			`{"type":"summary","tool":"starttls-probe","version":"v1","checked_at":"2030-06-15T12:00:00Z","shard":"1/4","observed":7,"shared":2,"last_observed":"2030-06-15T12:01:30Z"}`},
		{render.ShardSummary{Tool: "starttls-probe", Version: "v1", Checked: reporttest.DiagNow, Shard: "0/2", Observed: 1, Interrupted: true},
			`{"type":"summary","tool":"starttls-probe","version":"v1","checked_at":"2030-06-15T12:00:00Z","shard":"0/2","observed":1,"shared":0,"interrupted":true}`},
	} {
		var line strings.Builder
		if err := render.JSONLinesShardSummary(&line, c.summary); err != nil {
			t.Fatal(err)
		}
		if line.String() != c.want+"\n" {
			t.Errorf("shard summary line\n got %s\nwant %s", line.String(), c.want)
		}
	}
}

// An observation line is the probe's record, unjudged, after its type:
// it begins with ObservationPrefix and decodes back into the same record.
func TestJSONLinesObservation(t *testing.T) {
	rec := probe.Record{V: probe.RecordVersion, Endpoint: probe.EndpointRecord{Target: "mx.test:25", Host: "mx.test", Port: 25, Address: "127.0.0.1"},
		Address: "127.0.0.1", Mode: probe.ModeSTARTTLS, Started: reporttest.DiagNow, Banner: &probe.ReplyRecord{Code: 220, Lines: []string{"mx.test ESMTP"}},
		Chain: [][]byte{{0x30, 0x03, 0x02, 0x01, 0x01}}}
	var line strings.Builder
	if err := render.JSONLinesObservation(&line, &rec); err != nil {
		t.Fatal(err)
	}
	if !strings.HasPrefix(line.String(), render.ObservationPrefix) || strings.Count(line.String(), "\n") != 1 {
		t.Fatalf("observation line %q does not begin with %q", line.String(), render.ObservationPrefix)
	}
	var back probe.Record
	if err := json.Unmarshal([]byte(line.String()), &back); err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(back, rec) {
		t.Errorf("read back\n %+v\nwrote\n %+v", back, rec)
	}
}
