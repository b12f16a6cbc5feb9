package probe_test

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"encoding/hex"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"reflect"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// recordPKI is a root, an intermediate under it, and chains for the
// observations of the record tests: what a merge must judge as the run did.
type recordPKI struct {
	root             *probetest.CA
	good, wrongName  *probetest.Chain
	expired, selfish *probetest.Chain
}

func newRecordPKI(t *testing.T) recordPKI {
	t.Helper()
	root, err := probetest.NewRootCA("Record Test Root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("Record Test Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	var p recordPKI
	p.root = root
	for _, c := range []struct {
		chain **probetest.Chain
		issue func() (*probetest.Chain, error)
	}{
		{&p.good, func() (*probetest.Chain, error) {
			return issuing.Issue(probetest.Spec{CommonName: hostileName, DNSNames: hostileNames})
		}},
		{&p.wrongName, func() (*probetest.Chain, error) {
			return issuing.Issue(probetest.Spec{CommonName: "elsewhere.example", DNSNames: []string{"elsewhere.example"}})
		}},
		{&p.expired, func() (*probetest.Chain, error) {
			return issuing.Issue(probetest.Spec{CommonName: hostileName, DNSNames: hostileNames,
				NotBefore: time.Now().Add(-200 * 24 * time.Hour), NotAfter: time.Now().Add(-10 * 24 * time.Hour)})
		}},
		{&p.selfish, func() (*probetest.Chain, error) {
			return probetest.SelfSigned(probetest.Spec{CommonName: hostileName, DNSNames: hostileNames})
		}},
	} {
		chain, err := c.issue()
		if err != nil {
			t.Fatal(err)
		}
		*c.chain = chain
	}
	return p
}

// observation is one run of the probe whose results the record tests carry
// through a Record.
type observation struct {
	name string
	run  func(t *testing.T) []probe.Result
}

// probeServers runs the probe on the endpoints of servers, each under a
// host name of its own (hostileEndpoint), with opts.
func probeServers(ctx context.Context, opts probe.Options, servers ...*probetest.Server) []probe.Result {
	jobs := make([]probe.Job, len(servers))
	for i, s := range servers {
		jobs[i] = probe.Job{Endpoint: hostileEndpoint(s)}
	}
	return probe.Run(ctx, jobs, opts, nil)
}

// closedPort is a loopback port that refuses connections: listened on, then
// closed.
func closedPort(t testing.TB) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := l.Addr().(*net.TCPAddr).Port
	l.Close()
	return port
}

func recordObservations(p recordPKI) []observation {
	script := func(s probetest.Script) func(t *testing.T) []probe.Result {
		return func(t *testing.T) []probe.Result {
			return probeServers(context.Background(), hostileOptions(), probetest.NewScript(t, s))
		}
	}
	server := func(cfg probetest.Config) func(t *testing.T) []probe.Result {
		return func(t *testing.T) []probe.Result {
			return probeServers(context.Background(), hostileOptions(), probetest.NewServer(t, cfg))
		}
	}
	greeting := []string{"220 mx.test ESMTP"}
	obs := []observation{
		{"healthy", server(probetest.Config{Chain: p.good})},
		{"healthy implicit TLS", func(t *testing.T) []probe.Result {
			s := probetest.NewServer(t, probetest.Config{Chain: p.good, Implicit: true})
			ep := hostileEndpoint(s)
			ep.Implicit, ep.AsPort = true, 465
			return probe.Run(context.Background(), []probe.Job{{Endpoint: ep}}, hostileOptions(), nil)
		}},
		{"plaintext greeting on an implicit TLS port", func(t *testing.T) []probe.Result {
			s := probetest.NewServer(t, probetest.Config{Chain: p.good})
			ep := hostileEndpoint(s)
			ep.Implicit, ep.AsPort = true, 465
			return probe.Run(context.Background(), []probe.Job{{Endpoint: ep}}, hostileOptions(), nil)
		}},
		{"no STARTTLS", server(probetest.Config{Chain: p.good, NoSTARTTLS: true})},
		{"421 greeting", server(probetest.Config{Chain: p.good, Banner: "421 4.3.2 mx.test too busy"})},
		{"wrong name", server(probetest.Config{Chain: p.wrongName})},
		{"expired", server(probetest.Config{Chain: p.expired})},
		{"self-signed", server(probetest.Config{Chain: p.selfish})},
		{"leaf without its intermediate", server(probetest.Config{Chain: p.good.LeafOnly()})},
		{"TLS 1.0 only", server(probetest.Config{Chain: p.good, MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10})},
		{"MAIL FROM refused in plaintext (TLS required)", server(probetest.Config{Chain: p.good, RequireTLS: true})},
		{"451 5.7.3 then hang-up", script(probetest.Script{Greeting: greeting, EHLO: hostileEHLO, Chain: p.good,
			Mail: []string{"451 5.7.3 STARTTLS is required to send mail"}, AfterMail: probetest.HangUp})},
		{"STARTTLS refused after MAIL (Courier)", script(probetest.Script{Greeting: greeting, EHLO: hostileEHLO, Chain: p.good,
			STARTTLSAfterMail: []string{"540 TLS not available."}})},
		{"421 to STARTTLS", script(probetest.Script{Greeting: greeting, EHLO: hostileEHLO, Chain: p.good,
			STARTTLS: []string{"421 4.7.0 closing"}})},
		{"reply text not UTF-8", script(probetest.Script{Greeting: []string{"220 mx.test caf\xe9 \xff\xfe"}, EHLO: hostileEHLO, Chain: p.good})},
		{"RCPT test refused", func(t *testing.T) []probe.Result {
			s := probetest.NewScript(t, probetest.Script{Greeting: greeting, EHLO: hostileEHLO, Chain: p.good,
				RCPT: []string{"530 5.7.0 Must issue a STARTTLS command first"}})
			opts := hostileOptions()
			opts.RCPTAddress = "postmaster@mx.test"
			return probeServers(context.Background(), opts, s)
		}},
		{"Exchange, TLS required", func(t *testing.T) []probe.Result {
			s := probetest.NewExchange(t, probetest.Exchange{Server: "EXCH01", Domain: "contoso.test", Connector: probetest.DefaultFrontend,
				Chain: p.good, RequireTLS: true, DropsAfterRequireTLS: true})
			return probeServers(context.Background(), hostileOptions(), s)
		}},
		{"refused port, asked for and by default", func(t *testing.T) []probe.Result {
			port := closedPort(t)
			asked := probe.Endpoint{Target: "closed.test", Host: "closed.test", Address: "127.0.0.1", Port: port, AsPort: 25}
			byDefault := probe.Endpoint{Target: "silent.test", Host: "silent.test", Address: "127.0.0.1", Port: port, AsPort: 587, DefaultPort: true}
			return probe.Run(context.Background(), []probe.Job{{Endpoint: asked}, {Endpoint: byDefault}}, hostileOptions(), nil)
		}},
		{"interrupted before it began", func(t *testing.T) []probe.Result {
			s := probetest.NewServer(t, probetest.Config{Chain: p.good})
			ctx, cancel := context.WithCancel(context.Background())
			cancel()
			return probeServers(ctx, hostileOptions(), s)
		}},
		{"--tls-scan", func(t *testing.T) []probe.Result {
			s := probetest.NewServer(t, probetest.Config{Chain: p.good, MaxVersion: tls.VersionTLS12})
			opts := hostileOptions()
			opts.TLSScan = true
			return probeServers(context.Background(), opts, s)
		}},
		{"DNS: resolved, NXDOMAIN, no IPv4 address, an IPv6 literal under -4, null MX", func(t *testing.T) []probe.Result {
			healthy := probetest.NewServer(t, probetest.Config{Chain: p.good})
			dns := dnstest.New(t,
				"example.test. 300 IN MX 10 mx.test.",
				"mx.test. 300 IN A "+healthy.IP(),
				"v6only.test. 300 IN AAAA ::1",
				"nomail.test. 300 IN MX 0 .",
			)
			opts := hostileOptions()
			opts.Resolver, opts.ResolverAddr, opts.Network = probe.NewResolver(dns.Addr()), dns.Addr(), "ip4"
			var eps []probe.Endpoint
			for _, domain := range []string{"example.test", "missing.test", "v6only.test", "nomail.test"} {
				eps = append(eps, probe.Endpoint{Target: domain, Host: domain, Port: healthy.Port(), AsPort: 25})
			}
			jobs := probe.Discover(context.Background(), eps, probe.Discovery{MX: true}, opts)
			literal := probe.Endpoint{Target: "[::1]:" + strconv.Itoa(healthy.Port()), Host: "::1", Port: healthy.Port(), AsPort: 25}
			jobs = append(jobs, probe.Discover(context.Background(), []probe.Endpoint{literal}, probe.Discovery{}, opts)...)
			return probe.Run(context.Background(), jobs, opts, nil)
		}},
		{"DNS: host name not found, and a lookup that times out", func(t *testing.T) []probe.Result {
			dns := dnstest.New(t, "mx.test. 300 IN A 127.0.0.1")
			opts := hostileOptions()
			opts.Resolver, opts.ResolverAddr = probe.NewResolver(dns.Addr()), dns.Addr()
			missing := probe.Endpoint{Target: "missing.test", Host: "missing.test", Port: 25}
			results := probe.Run(context.Background(), probe.Discover(context.Background(), []probe.Endpoint{missing}, probe.Discovery{}, opts), opts, nil)
			// Longer than the timeout: the lookup must fail for time.
			dns.SetDelay(3 * hostileTimeout)
			slow := probe.Endpoint{Target: "mx.test", Host: "mx.test", Port: 25}
			return append(results, probe.Run(context.Background(), probe.Discover(context.Background(), []probe.Endpoint{slow}, probe.Discovery{}, opts), opts, nil)...)
		}},
	}
	for _, hc := range hostileCases() {
		obs = append(obs, observation{"hostile: " + hc.name, func(t *testing.T) []probe.Result {
			s, err := hc.script(hostilePKI{ca: p.root, chain: p.good})
			if err != nil {
				t.Fatal(err)
			}
			return probeServers(context.Background(), hostileOptions(), probetest.NewScript(t, s))
		}})
	}
	return obs
}

// observeAll runs every observation, a few at a time: most wait for a
// timeout, and two loaded cores under -race running all at once would turn
// load into timeouts that no observation was meant to have. Which error an
// observation ends in does not matter here, only that the record keeps it.
func observeAll(t *testing.T, obs []observation) []probe.Result {
	t.Helper()
	perObservation := make([][]probe.Result, len(obs))
	running := make(chan struct{}, 8)
	var wg sync.WaitGroup
	for i, o := range obs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			running <- struct{}{}
			defer func() { <-running }()
			perObservation[i] = o.run(t)
		}()
	}
	wg.Wait()
	var all []probe.Result
	for _, rs := range perObservation {
		all = append(all, rs...)
	}
	return all
}

// roundTrip writes each result as a JSON line, as a shard does, and reads
// them back.
func roundTrip(t *testing.T, results []probe.Result) []probe.Result {
	t.Helper()
	var lines bytes.Buffer
	enc := json.NewEncoder(&lines)
	for i := range results {
		if err := enc.Encode(probe.NewRecord(&results[i])); err != nil {
			t.Fatalf("encoding result %d: %v", i, err)
		}
	}
	var back []probe.Result
	dec := json.NewDecoder(&lines)
	for dec.More() {
		var rec probe.Record
		if err := dec.Decode(&rec); err != nil {
			t.Fatalf("decoding record %d: %v", len(back), err)
		}
		r, err := rec.Result()
		if err != nil {
			t.Fatalf("record %d: %v", len(back), err)
		}
		back = append(back, r)
	}
	if len(back) != len(results) {
		t.Fatalf("read %d results back, wrote %d", len(back), len(results))
	}
	return back
}

// roundTripThroughShardLines writes the results as a --shard run does, an
// observation line each (render.JSONLinesObservation) after the lines of
// the certificates it names for the first time (render.JSONLinesCertificate),
// and reads them back from there, as merge does.
func roundTripThroughShardLines(t *testing.T, results []probe.Result) []probe.Result {
	t.Helper()
	var lines bytes.Buffer
	var index probe.CertificateIndex
	for i := range results {
		rec := probe.NewRecord(&results[i])
		rec.ReferCertificates(&index, func(c probe.CertificateRecord) {
			if err := render.JSONLinesCertificate(&lines, c); err != nil {
				t.Fatal(err)
			}
		})
		if err := render.JSONLinesObservation(&lines, &rec); err != nil {
			t.Fatal(err)
		}
	}
	var back []probe.Result
	var certs probe.CertificateTable
	longest := 0
	for n, line := range bytes.Split(bytes.TrimSuffix(lines.Bytes(), []byte("\n")), []byte("\n")) {
		longest = max(longest, len(line))
		if bytes.HasPrefix(line, []byte(render.CertificatePrefix)) {
			var c probe.CertificateRecord
			if err := json.Unmarshal(line, &c); err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			if err := certs.Add(c); err != nil {
				t.Fatalf("line %d: %v", n+1, err)
			}
			continue
		}
		if !bytes.HasPrefix(line, []byte(render.ObservationPrefix)) {
			t.Fatalf("line %d is neither an observation nor a certificate: %.80s", n+1, line)
		}
		var rec probe.Record
		if err := json.Unmarshal(line, &rec); err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		if rec.Chain != nil {
			t.Fatalf("line %d carries its chain's DER, not references to certificate lines", n+1)
		}
		r, err := rec.ResultSharing(&certs)
		if err != nil {
			t.Fatalf("line %d: %v", n+1, err)
		}
		back = append(back, r)
	}
	if len(back) != len(results) {
		t.Fatalf("read %d results back from the observation lines, wrote %d", len(back), len(results))
	}
	t.Logf("%d observation lines, the longest %d bytes", len(back), longest)
	return back
}

// rendered is a run's judgement as the JSON report (with -v, so the
// transcripts count) and the text report.
func rendered(t *testing.T, results []probe.Result, expect report.Expect, now time.Time) (jsonDoc, text string) {
	t.Helper()
	sum := report.Judge(results, expect, now)
	sum.Verbose = true
	var j, x bytes.Buffer
	if err := render.JSON(&j, sum); err != nil {
		t.Fatal(err)
	}
	if err := render.Text(&x, sum, false); err != nil {
		t.Fatal(err)
	}
	return j.String() + "exit " + strconv.Itoa(sum.ExitCode()) + "\n", x.String()
}

// streamed is a run's judgement as a JSONL run streams it (report.Stream,
// one name group at a time), with its totals.
func streamed(t *testing.T, results []probe.Result, expect report.Expect, now time.Time) string {
	t.Helper()
	var out bytes.Buffer
	s := report.NewStream(expect, now, func(sum report.Summary) error {
		sum.Verbose = true
		return render.JSONLines(&out, sum)
	})
	for _, r := range results {
		s.Expect(r.Endpoint)
	}
	for _, r := range results {
		if err := s.Add(r); err != nil {
			t.Fatal(err)
		}
	}
	totals, err := s.Close()
	if err != nil {
		t.Fatal(err)
	}
	if err := render.JSONLinesTotals(&out, "starttls-probe", "test", now, totals); err != nil {
		t.Fatal(err)
	}
	return out.String()
}

// firstDifference is the first line where a and b differ, with its number.
func firstDifference(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	for i := range min(len(al), len(bl)) {
		if al[i] != bl[i] {
			return fmt.Sprintf("line %d:\n  run:    %s\n  merged: %s", i+1, al[i], bl[i])
		}
	}
	return fmt.Sprintf("one is longer: %d lines against %d", len(al), len(bl))
}

// TestRecordJudgesAsTheRunDid is the property a sharded run rests on: the
// results of a wide set of real observations, written as records and read
// back, are judged exactly as the originals (the JSON report with -v and
// the text report, byte for byte, and the exit status), under plain
// expectations and as Exchange Online would judge them.
func TestRecordJudgesAsTheRunDid(t *testing.T) {
	t.Parallel()
	p := newRecordPKI(t)
	results := observeAll(t, recordObservations(p))
	assertObserved(t, results)
	back := roundTrip(t, results)
	assertRecordedAlike(t, results, back)
	assertRecordedAlike(t, results, roundTripThroughShardLines(t, results))

	thumbprint, err := report.ParseThumbprint(fmt.Sprintf("%x", sha256.Sum256(p.good.Leaf().Raw)))
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	for _, expect := range []struct {
		name   string
		expect report.Expect
	}{
		{"plain", report.Expect{Roots: p.root.Pool()}},
		{"as Exchange Online", report.Expect{Roots: p.root.Pool(), AsExchangeOnline: true, TLSDomain: hostileName, PublicRoots: p.root.Pool()}},
		{"one name, one thumbprint", report.Expect{Roots: p.root.Pool(), Name: hostileName, Thumbprint: thumbprint}},
	} {
		t.Run(expect.name, func(t *testing.T) {
			wantJSON, wantText := rendered(t, results, expect.expect, now)
			gotJSON, gotText := rendered(t, back, expect.expect, now)
			if gotJSON != wantJSON {
				t.Errorf("the JSON report of the records differs from the run's, at %s", firstDifference(wantJSON, gotJSON))
			}
			if gotText != wantText {
				t.Errorf("the text report of the records differs from the run's, at %s", firstDifference(wantText, gotText))
			}
			wantLines, gotLines := streamed(t, results, expect.expect, now), streamed(t, back, expect.expect, now)
			if gotLines != wantLines {
				t.Errorf("the streamed JSONL of the records differs from the run's, at %s", firstDifference(wantLines, gotLines))
			}
		})
	}

	// Each endpoint on its own too: a difference the whole run's report
	// hides (one endpoint's words repeated by another's) would show here.
	for i := range results {
		want, _ := rendered(t, results[i:i+1], report.Expect{Roots: p.root.Pool()}, now)
		got, _ := rendered(t, back[i:i+1], report.Expect{Roots: p.root.Pool()}, now)
		if got != want {
			t.Errorf("%s: record judged otherwise, at %s", results[i].Endpoint.Target, firstDifference(want, got))
		}
	}
}

// assertObserved makes sure the observations hold every error report tells
// apart: without them the round trip would prove nothing about the
// kinds it must keep.
func assertObserved(t *testing.T, results []probe.Result) {
	t.Helper()
	var errs []error
	for _, r := range results {
		if r.Error != nil {
			errs = append(errs, r.Error.Err)
		}
		if r.TLSRequired != nil && r.TLSRequired.Error != nil {
			errs = append(errs, r.TLSRequired.Error.Err)
		}
	}
	seen := func(match func(error) bool) bool {
		for _, err := range errs {
			if match(err) {
				return true
			}
		}
		return false
	}
	for _, want := range []struct {
		name  string
		match func(error) bool
	}{
		{"ECONNREFUSED", func(err error) bool { return errors.Is(err, syscall.ECONNREFUSED) }},
		{"context.Canceled", func(err error) bool { return errors.Is(err, context.Canceled) }},
		{"context.DeadlineExceeded", func(err error) bool { return errors.Is(err, context.DeadlineExceeded) }},
		{"a received TLS alert", func(err error) bool {
			var op *net.OpError
			return errors.As(err, &op) && op.Op == "remote error"
		}},
		{"tls.RecordHeaderError with 220", func(err error) bool {
			var rhe tls.RecordHeaderError
			return errors.As(err, &rhe) && bytes.HasPrefix(rhe.RecordHeader[:], []byte("220"))
		}},
		{"*probe.ReplyError", func(err error) bool {
			var re *probe.ReplyError
			return errors.As(err, &re)
		}},
		{"*net.DNSError not found", func(err error) bool {
			var de *net.DNSError
			return errors.As(err, &de) && de.IsNotFound
		}},
		{"*net.DNSError timed out", func(err error) bool {
			var de *net.DNSError
			return errors.As(err, &de) && de.IsTimeout
		}},
		{"*probe.NoAddressError", func(err error) bool {
			var ne *probe.NoAddressError
			return errors.As(err, &ne)
		}},
		{"*probe.NullMXError", func(err error) bool {
			var ne *probe.NullMXError
			return errors.As(err, &ne)
		}},
	} {
		if !seen(want.match) {
			t.Errorf("no observation ended in %s", want.name)
		}
	}
	var scanned bool
	for _, r := range results {
		scanned = scanned || r.Scan != nil
	}
	if !scanned {
		t.Error("no observation ran --tls-scan")
	}
}

// assertRecordedAlike checks what the reports may not show: that the
// records of the results read back are the records of the results (so the
// decoder rebuilt every kind and field the encoder reads, IsNotFound and
// NoAddressError included, though report reads only their text), and that
// the results read back equal the originals in everything but their
// errors' Go values, compared by their records, and Started's monotonic
// reading.
func assertRecordedAlike(t *testing.T, results, back []probe.Result) {
	t.Helper()
	for i := range results {
		want, err := json.Marshal(probe.NewRecord(&results[i]))
		if err != nil {
			t.Fatal(err)
		}
		got, err := json.Marshal(probe.NewRecord(&back[i]))
		if err != nil {
			t.Fatal(err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s: the record read back records otherwise, at %s", results[i].Endpoint.Target,
				firstDifference(strings.ReplaceAll(string(want), ",", ",\n"), strings.ReplaceAll(string(got), ",", ",\n")))
		}
		if o, r := results[i].TLSRequired, back[i].TLSRequired; o != nil && (o.Banner == results[i].Banner && o.EHLO == results[i].EHLO) != (r.Banner == back[i].Banner && r.EHLO == back[i].EHLO) {
			t.Errorf("%s: the TLS-required test's greeting is shared with the result's: %t, read back: %t", results[i].Endpoint.Target,
				o.Banner == results[i].Banner, r.Banner == back[i].Banner)
		}
		a, b := withoutErrorValues(results[i]), withoutErrorValues(back[i])
		if !a.Started.Equal(b.Started) {
			t.Errorf("%s: started %v, read back %v", a.Endpoint.Target, a.Started, b.Started)
		}
		a.Started, b.Started = time.Time{}, time.Time{}
		if !reflect.DeepEqual(a, b) {
			t.Errorf("%s: read back\n%+v\nwant\n%+v", a.Endpoint.Target, b, a)
		}
	}
}

// withoutErrorValues is r with each error replaced by one of its text
// alone, in copies: the errors' values are compared by their records.
func withoutErrorValues(r probe.Result) probe.Result {
	text := func(err error) error {
		if err == nil {
			return nil
		}
		return errors.New(err.Error())
	}
	if r.Error != nil {
		e := *r.Error
		e.Err = text(e.Err)
		r.Error = &e
	}
	if r.TLSRequired != nil {
		test := *r.TLSRequired
		if test.Error != nil {
			e := *test.Error
			e.Err = text(e.Err)
			test.Error = &e
		}
		r.TLSRequired = &test
	}
	if r.Scan != nil {
		scan := *r.Scan
		scan.Error = text(scan.Error)
		scan.Versions = append([]probe.VersionScan(nil), scan.Versions...)
		for i := range scan.Versions {
			scan.Versions[i].Err = text(scan.Versions[i].Err)
		}
		scan.Groups = append([]probe.GroupScan(nil), scan.Groups...)
		for i := range scan.Groups {
			scan.Groups[i].Err = text(scan.Groups[i].Err)
		}
		if scan.WithoutSNI != nil {
			a := *scan.WithoutSNI
			a.Err = text(a.Err)
			scan.WithoutSNI = &a
		}
		r.Scan = &scan
	}
	return r
}

// TestRecordKeepsAFilteredPort: a port that does not answer is told from a
// closed one by the Timeout() of an error of net's own unexported type,
// which the record keeps as a text with its net.Error answers. Loopback
// refuses or accepts and never drops, so the error is made by a real dial
// whose time has run out, wrapped as the probe wraps a default port's.
func TestRecordKeepsAFilteredPort(t *testing.T) {
	t.Parallel()
	ctx, cancel := context.WithTimeout(context.Background(), 0)
	defer cancel()
	var d net.Dialer
	_, dialErr := d.DialContext(ctx, "tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(closedPort(t))))
	var netErr net.Error
	if !errors.As(dialErr, &netErr) || !netErr.Timeout() {
		t.Fatalf("dial with no time left: %v; want a net.Error that timed out", dialErr)
	}
	filtered := fmt.Errorf("no answer within %s, the connect budget of a port not asked for: %w", probe.DefaultPortConnectTimeout, dialErr)
	var results []probe.Result
	for _, port := range []int{587, 2525} {
		ep := probe.Endpoint{Target: "filtered.test", Host: "filtered.test", Address: "127.0.0.1", Port: port, DefaultPort: true}
		results = append(results, probe.Result{Endpoint: ep, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS, Started: time.Now(),
			Error: &probe.Error{Phase: probe.PhaseConnect, Err: filtered}})
	}
	back := roundTrip(t, results)
	assertRecordedAlike(t, results, back)
	assertRecordedAlike(t, results, roundTripThroughShardLines(t, results))
	now := time.Now()
	want, _ := rendered(t, results, report.Expect{}, now)
	got, _ := rendered(t, back, report.Expect{}, now)
	if !strings.Contains(want, "filtered") {
		t.Fatalf("the run's report does not say filtered:\n%s", want)
	}
	if got != want {
		t.Errorf("the records are judged otherwise, at %s", firstDifference(want, got))
	}
}

// TestRecordErrnoByName: a shard on Linux records ECONNREFUSED as 111, a
// merge on macOS knows it as 61; the name makes it the merging system's.
func TestRecordErrnoByName(t *testing.T) {
	t.Parallel()
	var d net.Dialer
	_, refused := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(closedPort(t))))
	if !errors.Is(refused, syscall.ECONNREFUSED) {
		t.Fatalf("dial of a closed port: %v, want ECONNREFUSED", refused)
	}
	rec := probe.NewErrRecord(refused)
	errno := rec
	for errno.Kind != probe.KindErrno {
		if len(errno.Wrapped) != 1 {
			t.Fatalf("no errno in the record %+v", rec)
		}
		errno = &errno.Wrapped[0]
	}
	if errno.ErrnoName != "ECONNREFUSED" {
		t.Fatalf("errno recorded as %q, want ECONNREFUSED", errno.ErrnoName)
	}
	errno.Errno = uint64(syscall.ECONNREFUSED) + 1000 // another system's number
	back, err := rec.Err()
	if err != nil {
		t.Fatal(err)
	}
	if !errors.Is(back, syscall.ECONNREFUSED) || back.Error() != refused.Error() {
		t.Errorf("read back %q, ECONNREFUSED %t; want %q, true", back, errors.Is(back, syscall.ECONNREFUSED), refused)
	}
}

// healthyRecord is the record of a real probe of a healthy server with a
// leaf and its intermediate, for the tests that change it.
func healthyRecord(t testing.TB) probe.Record {
	t.Helper()
	root, err := probetest.NewRootCA("Record Size Root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("Record Size Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := issuing.Issue(probetest.Spec{CommonName: hostileName, DNSNames: hostileNames})
	if err != nil {
		t.Fatal(err)
	}
	s := probetest.NewServer(t, probetest.Config{Chain: chain})
	r := probeServers(context.Background(), hostileOptions(), s)[0]
	if r.Error != nil || len(r.Chain) != 2 {
		t.Fatalf("healthy probe: error %v, %d certificates; want none and 2", r.Error, len(r.Chain))
	}
	return probe.NewRecord(&r)
}

// TestRecordSize measures what a shard writes per healthy endpoint (the
// figure in Record's comment), and keeps it from growing unnoticed.
func TestRecordSize(t *testing.T) {
	t.Parallel()
	rec := healthyRecord(t)
	full, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	var der int
	for _, c := range rec.Chain {
		der += len(c)
	}
	rec.Transcript = nil
	rec.TLSRequired.Transcript = nil
	lean, err := json.Marshal(rec)
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("healthy result, 2 certificates (%d bytes of DER): %d bytes, %d without transcripts", der, len(full), len(lean))
	// Base64 makes the DER 4/3 of its size; the rest is a few hundred
	// bytes of replies, timings and names.
	if limit := der*4/3 + 1500; len(lean) > limit {
		t.Errorf("record without transcripts takes %d bytes, want at most %d", len(lean), limit)
	}
}

// TestRecordRefusesWhatNoEncoderWrites: a record of another version, or
// one broken in transit, is an error that says what is wrong, never a
// Result that is judged as if observed.
func TestRecordRefusesWhatNoEncoderWrites(t *testing.T) {
	t.Parallel()
	healthy := healthyRecord(t)
	refusedErr := probe.ErrRecord{Kind: probe.KindText, Message: "connect: connection refused"}
	deep := probe.ErrRecord{Message: "x"}
	for range 40 {
		deep = probe.ErrRecord{Message: "x", Wrapped: []probe.ErrRecord{deep}}
	}
	for _, tc := range []struct {
		name   string
		change func(r *probe.Record)
		want   string
	}{
		{"next version", func(r *probe.Record) { r.V = probe.RecordVersion + 1 }, fmt.Sprintf("record version %d: this starttls-probe reads versions 1 to %d", probe.RecordVersion+1, probe.RecordVersion)},
		{"no version", func(r *probe.Record) { r.V = 0 }, "record version 0"},
		{"unknown mode", func(r *probe.Record) { r.Mode = "smtps" }, `unknown mode "smtps"`},
		{"certificate that does not parse", func(r *probe.Record) { r.Chain[1] = r.Chain[1][:100] }, "chain[1]: x509:"},
		{"unknown phase", func(r *probe.Record) { r.Error = &probe.ErrorRecord{Phase: "dial", Err: &refusedErr} }, `error: unknown phase "dial"`},
		{"phase without error", func(r *probe.Record) { r.Error = &probe.ErrorRecord{Phase: probe.PhaseConnect} }, "error: phase connect without an error"},
		{"unknown error kind", func(r *probe.Record) {
			r.Error = &probe.ErrorRecord{Phase: probe.PhaseConnect, Err: &probe.ErrRecord{Kind: "net.Mystery", Message: "?"}}
		}, `error: unknown error kind "net.Mystery"`},
		{"record header of 4 bytes", func(r *probe.Record) {
			r.Error = &probe.ErrorRecord{Phase: probe.PhaseHandshake, Err: &probe.ErrRecord{Kind: probe.KindRecordHeader, Message: "tls: x", RecordHeader: []byte("220 ")}}
		}, "TLS record header of 4 bytes, want 5"},
		{"OpError wrapping two errors", func(r *probe.Record) {
			r.Error = &probe.ErrorRecord{Phase: probe.PhaseConnect, Err: &probe.ErrRecord{Kind: probe.KindOpError, Message: "dial",
				Wrapped: []probe.ErrRecord{refusedErr, refusedErr}}}
		}, "a net.OpError wraps one error, not 2"},
		{"chain deeper than kept", func(r *probe.Record) { r.Error = &probe.ErrorRecord{Phase: probe.PhaseConnect, Err: &deep} }, "error chain longer than 32 links"},
		{"matches no sentinel", func(r *probe.Record) {
			r.Error = &probe.ErrorRecord{Phase: probe.PhaseConnect, Err: &probe.ErrRecord{Message: "x", Is: []probe.ErrKind{probe.KindOpError}}}
		}, `error matches "net.OpError", which is no sentinel error`},
		{"TLS-required test in an unknown phase", func(r *probe.Record) {
			r.TLSRequired.SameError = false
			r.TLSRequired.Error = &probe.ErrorRecord{Phase: "rcpt", Err: &refusedErr}
		}, `tls_required.error: unknown phase "rcpt"`},
		{"transcript line from nobody", func(r *probe.Record) { r.Transcript[3].Dir = "X" }, `transcript[3]: unknown direction "X"`},
		{"scan outcome", func(r *probe.Record) {
			r.Scan = &probe.ScanRecord{Versions: []probe.VersionScanRecord{{Version: tls.VersionTLS12, Outcome: "maybe"}}}
		}, `scan.versions[0]: unknown outcome "maybe"`},
		{"reply without lines", func(r *probe.Record) { r.Banner.Lines = nil }, "banner: reply 220 with 0 lines"},
		{"reply code out of range", func(r *probe.Record) { r.TLSRequired.Mail.Code = 25 }, "tls_required.mail: reply 25 with 1 lines"},
		{"TLS state without a chain", func(r *probe.Record) { r.Chain = nil }, "tls without a certificate chain"},
		{"chain without TLS state", func(r *probe.Record) { r.TLS = nil }, "chain without tls"},
		{"scan chain", func(r *probe.Record) {
			r.Scan = &probe.ScanRecord{Chains: []probe.PresentedChainRecord{{Chain: [][]byte{[]byte("junk")}}}}
		}, "scan.chains[0].chain[0]: x509:"},
		{"scan chain without certificates", func(r *probe.Record) {
			r.Scan = &probe.ScanRecord{Chains: []probe.PresentedChainRecord{{}}}
		}, "scan.chains[0]: no certificate"},
		// References to certificate lines (ReferCertificates): Result
		// reads without a table of them.
		{"reference to a certificate not given", func(r *probe.Record) {
			r.ChainSHA256, r.Chain = []string{sha256Hex(r.Chain[0]), sha256Hex(r.Chain[1])}, nil
		}, "chain_sha256[0]: certificate " + sha256Hex(healthy.Chain[0]) + " is not among the last 1024 certificates its file gave before it"},
		{"reference that is no SHA-256", func(r *probe.Record) { r.ChainSHA256, r.Chain = []string{"cafe"}, nil }, `chain_sha256[0]: certificate reference "cafe": want the SHA-256 of its DER, 64 hex digits`},
		{"DER and references", func(r *probe.Record) { r.ChainSHA256 = []string{sha256Hex(r.Chain[0])} }, "chain: both DER and references"},
		{"scan chain referring to a certificate not given", func(r *probe.Record) {
			r.Scan = &probe.ScanRecord{Chains: []probe.PresentedChainRecord{{ChainSHA256: []string{sha256Hex(r.Chain[0])}}}}
		}, "scan.chains[0].chain_sha256[0]: certificate"},
		{"scan without SNI referring to a certificate not given", func(r *probe.Record) {
			r.Scan = &probe.ScanRecord{WithoutSNI: &probe.AttemptRecord{Outcome: probe.Accepted, TLS: r.TLS, ChainSHA256: []string{sha256Hex(r.Chain[0])}}}
		}, "scan.without_sni.chain_sha256[0]: certificate"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// A copy through JSON, as a merge reads it, so that no case
			// changes another's.
			data, err := json.Marshal(healthy)
			if err != nil {
				t.Fatal(err)
			}
			var rec probe.Record
			if err := json.Unmarshal(data, &rec); err != nil {
				t.Fatal(err)
			}
			if _, err := rec.Result(); err != nil {
				t.Fatalf("the record before the change: %v", err)
			}
			tc.change(&rec)
			_, err = rec.Result()
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Errorf("Result() = %v, want an error saying %q", err, tc.want)
			}
		})
	}
}

// sha256Hex is how a record names a certificate given on a line of its
// own.
func sha256Hex(der []byte) string {
	sum := sha256.Sum256(der)
	return hex.EncodeToString(sum[:])
}

// TestRecordReadsVersion1: a shard written before certificate lines (its
// chains DER, every line whole) is still merged.
func TestRecordReadsVersion1(t *testing.T) {
	t.Parallel()
	rec := healthyRecord(t)
	rec.V = 1
	r, err := rec.Result()
	if err != nil || len(r.Chain) != 2 || !bytes.Equal(r.Chain[0].Raw, rec.Chain[0]) {
		t.Fatalf("a version 1 record: %v", err)
	}
}

// TestRecordKeepsEveryByte: server text that is not UTF-8 comes back byte
// for byte, where a JSON string would have turned it into U+FFFD.
func TestRecordKeepsEveryByte(t *testing.T) {
	t.Parallel()
	for _, text := range []string{"", "mx.test ESMTP", "caf\xe9 \xff\xfe\x00", "\x1b[2J\r\n<>&", "\u2028 ok"} {
		reply := &probe.Reply{Code: 554, Lines: []string{"mx.test", text}}
		r := probe.Result{Mode: probe.ModeSTARTTLS, Banner: reply,
			Error:      &probe.Error{Phase: probe.PhaseBanner, Err: fmt.Errorf("banner: %w", &probe.ReplyError{Code: 554, Lines: reply.Lines}), Reply: reply},
			Transcript: []probe.TranscriptLine{{Dir: probe.FromServer, Text: text}}}
		back := roundTrip(t, []probe.Result{r})
		assertRecordedAlike(t, []probe.Result{r}, back)
		if got := back[0].Error.Err.Error(); got != r.Error.Err.Error() {
			t.Errorf("error read back as %q, want %q", got, r.Error.Err.Error())
		}
	}
}

// FuzzRecord: whatever bytes a shard's file holds, reading them is a
// Record or an error, a Record is a Result or an error, never a panic; and
// a Result read back writes a record that reads back again.
func FuzzRecord(f *testing.F) {
	healthy, err := json.Marshal(healthyRecord(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(healthy)
	var d net.Dialer
	_, refused := d.Dial("tcp", net.JoinHostPort("127.0.0.1", strconv.Itoa(closedPort(f))))
	failed, err := json.Marshal(probe.Record{V: 1, Mode: probe.ModeSTARTTLS, Error: &probe.ErrorRecord{Phase: probe.PhaseConnect, Err: probe.NewErrRecord(refused)}})
	if err != nil {
		f.Fatal(err)
	}
	f.Add(failed)
	f.Add([]byte(`{"v":1,"mode":"implicit","error":{"phase":"handshake","err":{"kind":"tls.RecordHeaderError","message":"x","record_header":"MjIwIG0="}}}`))
	f.Add([]byte(`{"v":1,"mode":"starttls","banner":{"code":220,"raw_lines":["/w=="]}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec probe.Record
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		r, err := rec.Result()
		if err != nil {
			if err.Error() == "" {
				t.Fatal("empty error message")
			}
			return
		}
		again, err := json.Marshal(probe.NewRecord(&r))
		if err != nil {
			t.Fatalf("writing a Result read back: %v", err)
		}
		var rec2 probe.Record
		if err := json.Unmarshal(again, &rec2); err != nil {
			t.Fatalf("reading %s: %v", again, err)
		}
		if _, err := rec2.Result(); err != nil {
			t.Fatalf("a Result read back, written again, does not read back: %v\n%s", err, again)
		}
	})
}

// FuzzRecordJudged: a merge judges and renders whatever a shard's file
// decodes into, so a record must not decode into a Result the probe never
// makes and report cannot take (it found a reply without lines, which the
// text renderer indexes, and TLS state without a chain, which the trust
// check verifies).
func FuzzRecordJudged(f *testing.F) {
	healthy, err := json.Marshal(healthyRecord(f))
	if err != nil {
		f.Fatal(err)
	}
	f.Add(healthy)
	f.Add([]byte(`{"v":1,"mode":"implicit","error":{"phase":"handshake","err":{"kind":"tls.RecordHeaderError","message":"x","record_header":"MjIwIG0="}}}`))
	f.Fuzz(func(t *testing.T, data []byte) {
		var rec probe.Record
		if json.Unmarshal(data, &rec) != nil {
			return
		}
		r, err := rec.Result()
		if err != nil {
			return
		}
		for _, exo := range []bool{false, true} {
			sum := report.Judge([]probe.Result{r, r}, report.Expect{AsExchangeOnline: exo}, time.Unix(1.7e9, 0))
			sum.Verbose = true
			if err := render.JSON(io.Discard, sum); err != nil {
				t.Fatal(err)
			}
			if err := render.Text(io.Discard, sum, false); err != nil {
				t.Fatal(err)
			}
		}
	})
}

// BenchmarkRecord is what a healthy endpoint costs a shard to write and a
// merge to read (parsing its two certificates included), beside the
// probe's own CPU per endpoint (README: about 0.7 ms).
func BenchmarkRecord(b *testing.B) {
	rec := healthyRecord(b)
	r, err := rec.Result()
	if err != nil {
		b.Fatal(err)
	}
	data, err := json.Marshal(rec)
	if err != nil {
		b.Fatal(err)
	}
	b.Run("write", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			if err := json.NewEncoder(io.Discard).Encode(probe.NewRecord(&r)); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("read", func(b *testing.B) {
		b.ReportAllocs()
		for b.Loop() {
			var rec probe.Record
			if err := json.Unmarshal(data, &rec); err != nil {
				b.Fatal(err)
			}
			if _, err := rec.Result(); err != nil {
				b.Fatal(err)
			}
		}
	})
}
