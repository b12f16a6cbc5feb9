package report_test

import (
	"bytes"
	"errors"
	"fmt"
	"maps"
	"math/rand/v2"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// streamScenarios is every diagnosis scenario, each under a name of its
// own (s0.mail.contoso.test, ...), plus a host on no answering port: the
// cross-endpoint judgements (certificate-differs, consistency, a host
// silent on every port, a peer's software borrowed) all have a group to
// decide.
func streamScenarios(t *testing.T) []probe.Result {
	p := reporttest.NewDiagPKI(t)
	names := make([]string, 0)
	scenarios := p.Scenarios()
	for name := range scenarios {
		names = append(names, name)
	}
	sort.Strings(names)
	var results []probe.Result
	for i, name := range names {
		for _, d := range scenarios[name] {
			r := d.Result(t)
			r.Endpoint.Host = fmt.Sprintf("s%d.%s", i, r.Endpoint.Host)
			r.Endpoint.Target = r.Endpoint.Host
			results = append(results, r)
		}
	}
	for _, port := range []int{25, 587} {
		results = append(results, probe.Result{
			Endpoint: probe.Endpoint{Target: "down.contoso.test", Host: "down.contoso.test", Port: port, DefaultPort: true},
			Address:  "127.0.0.9", Mode: probe.ModeSTARTTLS,
			Error: &probe.Error{Phase: probe.PhaseConnect, Err: errors.New("connection refused")},
		})
	}
	return results
}

// TestStreamJudgesAsTheWholeRun: judged a group at a time as results come
// in any order, the run gives the same endpoint objects, the same address
// groups and certificate tables, and the same status as one judgement of
// the whole run (issue 14: flat memory must not change a verdict).
func TestStreamJudgesAsTheWholeRun(t *testing.T) {
	results := streamScenarios(t)
	p := reporttest.NewDiagPKI(t)
	expect := report.Expect{Roots: p.Roots()}
	whole := report.Judge(results, expect, reporttest.DiagNow)
	want := jsonlLines(t, whole)
	// The summary line counts endpoints by status.
	wantByStatus := map[report.Status]int{}
	for _, ep := range whole.Endpoints {
		wantByStatus[ep.Status]++
	}

	for seed := range 20 {
		order := slices.Clone(results)
		rng := rand.New(rand.NewPCG(uint64(seed), 1))
		rng.Shuffle(len(order), func(i, j int) { order[i], order[j] = order[j], order[i] })
		var got []string
		var groups []report.CertificateGroup
		var consistency []report.AddressGroup
		emitted := 0
		s := report.NewStream(expect, reporttest.DiagNow, func(sum report.Summary) error {
			emitted++
			got = append(got, jsonlLines(t, sum)...)
			groups = append(groups, sum.CertificateGroups...)
			consistency = append(consistency, sum.Consistency...)
			return nil
		})
		for _, r := range results {
			s.Expect(r.Endpoint)
		}
		for _, r := range order {
			if err := s.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		totals, err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
		slices.Sort(got)
		if !slices.Equal(got, want) {
			t.Fatalf("seed %d: streamed lines differ from the whole run's:\n got %d lines\nwant %d lines\nfirst got:  %.300s\nfirst want: %.300s", seed, len(got), len(want), firstDiff(got, want), firstDiff(want, got))
		}
		if totals.Status != whole.Status || totals.Endpoints != len(whole.Endpoints) || totals.ExitCode() != whole.ExitCode() {
			t.Errorf("seed %d: totals %+v, whole run status %s over %d endpoints", seed, totals, whole.Status, len(whole.Endpoints))
		}
		if !maps.Equal(totals.ByStatus, wantByStatus) {
			t.Errorf("seed %d: endpoints by status %v, whole run %v", seed, totals.ByStatus, wantByStatus)
		}
		if emitted != len(streamScenariosNames(results)) {
			t.Errorf("seed %d: %d groups emitted, want one per name (%d)", seed, emitted, len(streamScenariosNames(results)))
		}
		if len(groups) != len(whole.CertificateGroups) || len(consistency) != len(whole.Consistency) {
			t.Errorf("seed %d: %d certificate groups and %d address groups, whole run %d and %d", seed, len(groups), len(consistency), len(whole.CertificateGroups), len(whole.Consistency))
		}
	}
	if len(whole.CertificateGroups) == 0 || len(whole.Consistency) == 0 || whole.Status != report.Critical {
		t.Fatalf("the scenarios lost their cross-endpoint findings: %d certificate groups, %d address groups, status %s",
			len(whole.CertificateGroups), len(whole.Consistency), whole.Status)
	}
}

func streamScenariosNames(results []probe.Result) map[string]bool {
	names := map[string]bool{}
	for _, r := range results {
		names[strings.ToLower(r.Endpoint.Host)] = true
	}
	return names
}

// TestStreamHoldsAGroupUntilItsLastEndpoint: nothing of a name is emitted
// while one of its announced endpoints is out, and an interrupted run's
// partial groups are judged at Close rather than lost.
func TestStreamHoldsAGroupUntilItsLastEndpoint(t *testing.T) {
	results := streamScenarios(t)
	var a, b []probe.Result
	for _, r := range results {
		switch {
		case strings.HasPrefix(r.Endpoint.Host, "s0."):
			a = append(a, r)
		case r.Endpoint.Host == "down.contoso.test":
			b = append(b, r)
		}
	}
	if len(a) < 2 || len(b) != 2 {
		t.Fatalf("scenario sizes %d and %d", len(a), len(b))
	}
	var emitted [][]string
	s := streamRecordingHosts(&emitted)
	for _, r := range append(slices.Clone(a), b...) {
		s.Expect(r.Endpoint)
	}
	for _, r := range a[:len(a)-1] {
		s.Add(r)
	}
	s.Add(b[0])
	if len(emitted) != 0 {
		t.Fatalf("emitted %v before any group was complete", emitted)
	}
	s.Add(a[len(a)-1])
	if len(emitted) != 1 || len(emitted[0]) != len(a) {
		t.Fatalf("after the last of %s: emitted %v, want its %d endpoints at once", a[0].Endpoint.Host, emitted, len(a))
	}
	totals, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 2 || len(emitted[1]) != 1 || totals.Endpoints != len(a)+1 {
		t.Fatalf("Close emitted %v, totals %+v: the partial group must be judged, not lost", emitted, totals)
	}
}

// TestStreamCloseSkipsHostsWithNoResult: a run interrupted before a host's
// first result came in has nothing to judge for it; Close emits only the
// hosts that have results, and counts nothing for the others.
func TestStreamCloseSkipsHostsWithNoResult(t *testing.T) {
	results := streamScenarios(t)
	var down []probe.Result
	for _, r := range results {
		if r.Endpoint.Host == "down.contoso.test" {
			down = append(down, r)
		}
	}
	if len(down) != 2 {
		t.Fatalf("%d endpoints of down.contoso.test, want 2", len(down))
	}
	var emitted [][]string
	s := streamRecordingHosts(&emitted)
	for _, r := range results {
		s.Expect(r.Endpoint)
	}
	s.Add(down[0])
	totals, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if len(emitted) != 1 || len(emitted[0]) != 1 || totals.Endpoints != 1 {
		t.Fatalf("Close emitted %v, totals %+v; want down.contoso.test's one result alone", emitted, totals)
	}
}

// TestStreamStopsEmittingAfterAnError: a write error (a closed pipe) is
// returned and nothing more is written, but the totals still count.
func TestStreamStopsEmittingAfterAnError(t *testing.T) {
	results := streamScenarios(t)
	calls := 0
	broken := errors.New("broken pipe")
	s := report.NewStream(report.Expect{}, reporttest.DiagNow, func(report.Summary) error { calls++; return broken })
	var err error
	for _, r := range results {
		s.Expect(r.Endpoint)
		err = errors.Join(err, s.Add(r))
	}
	totals, cerr := s.Close()
	if calls != 1 || !errors.Is(err, broken) || !errors.Is(cerr, broken) || totals.Endpoints != len(results) {
		t.Fatalf("emit called %d times, errors %v / %v, totals %+v", calls, err, cerr, totals)
	}
}

func jsonlLines(t *testing.T, s report.Summary) []string {
	t.Helper()
	var buf bytes.Buffer
	if err := render.JSONLines(&buf, s); err != nil {
		t.Fatal(err)
	}
	lines := strings.Split(strings.TrimSuffix(buf.String(), "\n"), "\n")
	slices.Sort(lines)
	return lines
}

func firstDiff(a, b []string) string {
	for _, l := range a {
		if !slices.Contains(b, l) {
			return l
		}
	}
	return ""
}

// TestJSONDocumentIsTheWholeRunsDocument: a run judged a host at a time,
// its results kept in a spill as each host finishes (render.JSONDocument,
// -o json), writes the document that render.JSON writes for one judgement
// of the whole run, byte for byte: the results in the order of the input,
// the address groups and certificate tables in the order of their hosts'
// first endpoints, whatever order the endpoints finish in (issue 14: -o
// json under 150 MB at 20,000 endpoints).
func TestJSONDocumentIsTheWholeRunsDocument(t *testing.T) {
	scenarios := streamScenarios(t)
	p := reporttest.NewDiagPKI(t)
	expect := report.Expect{Roots: p.Roots()}
	shared := []report.SharedEndpoint{report.Shared(probe.Endpoint{Target: "alias.contoso.test", Host: "mx.contoso.test", Port: 25})}
	for seed := range 10 {
		rng := rand.New(rand.NewPCG(uint64(seed), 2))
		// The input interleaves hosts (seed 0 keeps them one after another).
		input := slices.Clone(scenarios)
		if seed > 0 {
			rng.Shuffle(len(input), func(i, j int) { input[i], input[j] = input[j], input[i] })
		}
		whole := report.Judge(input, expect, reporttest.DiagNow)
		whole.Version, whole.Shared = "test", shared
		var want bytes.Buffer
		if err := render.JSON(&want, whole); err != nil {
			t.Fatal(err)
		}

		place := map[probe.Endpoint]probe.Place{}
		for i, r := range input {
			place[r.Endpoint] = probe.Place{Target: i}
		}
		spill := &render.MemorySpill{}
		doc := render.NewJSONDocument(spill)
		s := report.NewStream(expect, reporttest.DiagNow, func(sum report.Summary) error {
			return doc.Add(sum, func(ep probe.Endpoint) probe.Place { return place[ep] })
		})
		// Announced out of the input's order, as probe.Plan sends jobs,
		// each with its place.
		announced := slices.Clone(input)
		rng.Shuffle(len(announced), func(i, j int) { announced[i], announced[j] = announced[j], announced[i] })
		for _, r := range announced {
			s.ExpectAt(r.Endpoint, place[r.Endpoint])
		}
		for _, e := range shared {
			doc.AddShared(e)
		}
		finish := slices.Clone(input)
		rng.Shuffle(len(finish), func(i, j int) { finish[i], finish[j] = finish[j], finish[i] })
		for _, r := range finish {
			if err := s.Add(r); err != nil {
				t.Fatal(err)
			}
		}
		totals, err := s.Close()
		if err != nil {
			t.Fatal(err)
		}
		var got bytes.Buffer
		if err := doc.Write(&got, whole.Tool, "test", totals.Status, reporttest.DiagNow); err != nil {
			t.Fatal(err)
		}
		if got.String() != want.String() {
			g, w := strings.Split(got.String(), "\n"), strings.Split(want.String(), "\n")
			for i := range min(len(g), len(w)) {
				if g[i] != w[i] {
					t.Fatalf("seed %d: line %d differs:\n got %s\nwant %s", seed, i+1, g[i], w[i])
				}
			}
			t.Fatalf("seed %d: %d lines, want %d", seed, len(g), len(w))
		}
	}
}

// streamRecordingHosts is a stream that appends to emitted the endpoint
// names of each host it emits.
func streamRecordingHosts(emitted *[][]string) *report.Stream {
	return report.NewStream(report.Expect{}, reporttest.DiagNow, func(sum report.Summary) error {
		var hosts []string
		for _, ep := range sum.Endpoints {
			hosts = append(hosts, ep.Name())
		}
		*emitted = append(*emitted, hosts)
		return nil
	})
}
