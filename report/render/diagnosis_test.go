package render

import (
	"bytes"
	"context"
	"encoding/json"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// The diagnosis block of the text and JSON reports, on the dialogues of
// report's diagnosis cases (reporttest) and on live loopback Exchange
// personalities.

func judgeDialogues(t testing.TB, p reporttest.DiagPKI, ds ...reporttest.Dialogue) report.Summary {
	t.Helper()
	var results []probe.Result
	for _, d := range ds {
		results = append(results, d.Result(t))
	}
	return report.Judge(results, report.Expect{Name: reporttest.DiagName, Roots: p.Roots()}, reporttest.DiagNow)
}

func implicit(ep probe.Endpoint, on bool) probe.Endpoint {
	ep.Implicit = on
	return ep
}

func diagnosisIDs(ep report.Endpoint) []string {
	var ids []string
	for _, d := range ep.Diagnoses {
		ids = append(ids, d.ID)
	}
	return ids
}

func findDiagnosis(ep report.Endpoint, id string) *report.Diagnosis {
	for i := range ep.Diagnoses {
		if ep.Diagnoses[i].ID == id {
			return &ep.Diagnoses[i]
		}
	}
	return nil
}

// The end-to-end case: the probe against live loopback Exchange
// personalities, judged and diagnosed.
func TestDiagnosisOfProbedExchange(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("Contoso Test Root CA")
	if err != nil {
		t.Fatal(err)
	}
	dflt, err := probetest.ExchangeDefaultCertificate(reporttest.DiagServer, reporttest.DiagDomain, time.Now().Add(-24*time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	ex := func(c probetest.ExchangeConnector, chain *probetest.Chain, requireTLS bool) *probetest.Server {
		return probetest.NewExchange(t, probetest.Exchange{Server: reporttest.DiagServer, Domain: reporttest.DiagDomain, Connector: c, Chain: chain, RequireTLS: requireTLS})
	}
	servers := []struct {
		s    *probetest.Server
		role int
	}{
		{ex(probetest.DefaultFrontend, nil, true), 25},
		{ex(probetest.ClientFrontend, dflt, false), 587},
		{ex(probetest.HubTransport, dflt, false), 2525},
		{ex(probetest.ClientProxy, dflt, false), 465},
	}
	var jobs []probe.Job
	for _, sv := range servers {
		jobs = append(jobs, probe.Job{Endpoint: implicit(sv.s.Endpoint(reporttest.DiagName, sv.role), sv.role == 465)})
	}
	results := probe.Run(context.Background(), jobs, probe.Options{EHLOName: "probe.contoso.test", Timeout: 10 * time.Second}, nil)
	sum := report.Judge(results, report.Expect{Name: reporttest.DiagName, Roots: root.Pool()}, time.Now())
	want := [][]string{
		{report.DiagSTARTTLSMissingTLSRequired},
		{report.DiagDefaultCertificate},
		{report.DiagAuthBeforeTLS, report.DiagDefaultCertificateExpected},
		{report.DiagPlaintextOnImplicitPort},
	}
	for i, ep := range sum.Endpoints {
		ids := diagnosisIDs(ep)
		for _, id := range want[i] {
			if !slices.Contains(ids, id) {
				t.Errorf("port %d: diagnoses %q lack %q", servers[i].role, ids, id)
			}
		}
		if servers[i].role != 465 && (ep.Server.Software != report.SoftwareExchange || ep.Server.ServerName() != reporttest.DiagServer) {
			t.Errorf("port %d: server %+v", servers[i].role, ep.Server)
		}
	}
	if sum.Endpoints[0].TLSRequired != report.TLSRequiredTrue || sum.Endpoints[1].TLSRequired != report.TLSRequiredFalse {
		t.Errorf("TLS required: %q, %q", sum.Endpoints[0].TLSRequired, sum.Endpoints[1].TLSRequired)
	}
	// With -v the test shows in the transcript of the connection it
	// shared; a connection of its own only when the server spoiled it.
	sum.Verbose = true
	var text bytes.Buffer
	if err := Text(&text, sum, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), " C MAIL FROM:<>\n") || strings.Contains(text.String(), "transcript of the TLS-required test") {
		t.Errorf("verbose text lacks MAIL FROM:<> in the transcript, or shows a connection of the test's own:\n%s", text.String())
	}
	// The default certificate's CN names the server in every fix.
	fix := strings.Join(findDiagnosis(sum.Endpoints[1], report.DiagDefaultCertificate).Fix, "\n")
	if !strings.Contains(fix, `'EXCH01\Client Frontend EXCH01' -Fqdn mail.contoso.test`) {
		t.Errorf("fix:\n%s", fix)
	}
}

// Exchange dropping the session after 451 5.7.3: the verdict stands, the
// certificate comes from a second connection, and -v shows the test's
// connection on its own.
func TestDiagnosisOfExchangeDroppingTheSession(t *testing.T) {
	t.Parallel()
	root, err := probetest.NewRootCA("Contoso Test Root CA")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: reporttest.DiagName, DNSNames: []string{reporttest.DiagName}})
	if err != nil {
		t.Fatal(err)
	}
	s := probetest.NewExchange(t, probetest.Exchange{Server: reporttest.DiagServer, Domain: reporttest.DiagDomain, Connector: probetest.DefaultFrontend,
		Chain: chain, RequireTLS: true, DropsAfterRequireTLS: true})
	ep := s.Endpoint(reporttest.DiagName, 25)
	results := probe.Run(context.Background(), []probe.Job{{Endpoint: ep}}, probe.Options{EHLOName: "probe.contoso.test", Timeout: 10 * time.Second}, nil)
	sum := report.Judge(results, report.Expect{Name: reporttest.DiagName, Roots: root.Pool()}, time.Now())
	sum.Verbose = true
	if got := sum.Endpoints[0]; got.TLSRequired != report.TLSRequiredTrue || got.Status != report.OK {
		t.Errorf("TLS required %q, status %s, want true and report.OK", got.TLSRequired, got.Status)
	}
	if field := tlsRequiredField(&sum.Endpoints[0]); !strings.HasSuffix(field, "; the server ended the session, so STARTTLS was probed on a new connection") {
		t.Errorf("TLS required line %q does not say the session ended", field)
	}
	var text bytes.Buffer
	if err := Text(&text, sum, false); err != nil {
		t.Fatal(err)
	}
	_, test, found := strings.Cut(text.String(), "transcript of the TLS-required test")
	if !found || !strings.Contains(test, " C MAIL FROM:<>\n") || !strings.Contains(test, "451 5.7.3 STARTTLS is required") {
		t.Errorf("verbose text lacks the test's own connection after the main transcript:\n%s", text.String())
	}
	var doc bytes.Buffer
	if err := JSON(&doc, sum); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Results []struct {
			TLSRequired struct {
				SessionEnded bool                         `json:"session_ended"`
				Transcript   []struct{ Dir, Text string } `json:"transcript"`
			} `json:"tls_required"`
		} `json:"results"`
	}
	if err := json.Unmarshal(doc.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	if lines := parsed.Results[0].TLSRequired.Transcript; len(lines) < 4 || !slices.ContainsFunc(lines, func(l struct{ Dir, Text string }) bool {
		return l.Dir == "C" && l.Text == "MAIL FROM:<>"
	}) {
		t.Errorf("JSON tls_required.transcript = %+v, want the test's own connection", lines)
	}
	if !parsed.Results[0].TLSRequired.SessionEnded {
		t.Error("JSON tls_required.session_ended is false")
	}
}

// Golden files: the diagnosis part of the text and JSON reports.

type diagGoldenCase struct {
	name      string
	dialogues []reporttest.Dialogue
}

func diagGoldenCases(p reporttest.DiagPKI) []diagGoldenCase {
	scenario := p.Scenarios()
	// The hostile certificate is the good one here, so its names go into
	// the fix for 587: quoted for PowerShell, escaped for the terminal.
	hostile := []reporttest.Dialogue{
		{Role: 25, Script: reporttest.ExchangeScript(probetest.DefaultFrontend, true, false, false), Chain: p.Hostile},
		{Role: 587, Script: reporttest.ExchangeScript(probetest.ClientFrontend, true, false, false), Chain: p.WrongName},
	}
	return []diagGoldenCase{
		{"exchange-kb2989382", scenario["exchange-kb2989382"]},
		{"exchange-587-default-certificate", []reporttest.Dialogue{
			reporttest.Frontend(p.Good), reporttest.Client(p.Default), reporttest.Hub(p.Default),
		}},
		{"exchange-expired-after-renewal", scenario["exchange-expired-after-renewal"]},
		{"firewall-masks-starttls", scenario["firewall-masks-starttls"]},
		{"postfix", []reporttest.Dialogue{
			{Role: 25, Script: reporttest.PostfixScript([]string{"250 PIPELINING"}, nil, false)},
			scenario["postfix-auth-before-tls"][0],
		}},
		{"two-nodes", scenario["two-nodes"]},
		{"hostile-certificate", hostile},
	}
}

// diagnosisText is what the text report says about server, TLS required
// and diagnosis: each endpoint's title, those fields, and its diagnosis
// block, so that other parts of the report can change without touching
// these files.
func diagnosisText(t *testing.T, s report.Summary) []byte {
	t.Helper()
	var full bytes.Buffer
	if err := Text(&full, s, false); err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	inBlock := false
	for _, line := range strings.Split(full.String(), "\n") {
		switch {
		case strings.HasPrefix(line, reporttest.DiagName+":"):
			out.WriteString(line + "\n")
			inBlock = false
		case line == "  diagnosis":
			inBlock = true
			out.WriteString(line + "\n")
		case inBlock && strings.HasPrefix(line, "    "):
			out.WriteString(line + "\n")
		case strings.HasPrefix(line, "  server ") || strings.HasPrefix(line, "  TLS required "):
			out.WriteString(line + "\n")
			inBlock = false
		default:
			inBlock = false
		}
	}
	return out.Bytes()
}

// diagnosisJSON is the server, tls_required and diagnosis members of each
// result of the JSON report.
func diagnosisJSON(t *testing.T, s report.Summary) []byte {
	t.Helper()
	var full bytes.Buffer
	if err := JSON(&full, s); err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Results []map[string]json.RawMessage `json:"results"`
	}
	if err := json.Unmarshal(full.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	var parts []map[string]json.RawMessage
	for _, r := range doc.Results {
		part := map[string]json.RawMessage{}
		for _, k := range []string{"address", "port", "server", "tls_required", "diagnosis"} {
			v, ok := r[k]
			if !ok {
				t.Fatalf("result has no %q member", k)
			}
			part[k] = v
		}
		parts = append(parts, part)
	}
	out, err := json.MarshalIndent(parts, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(out, '\n')
}

func TestDiagnosisGolden(t *testing.T) {
	p := reporttest.NewDiagPKI(t)
	for _, tc := range diagGoldenCases(p) {
		t.Run(tc.name, func(t *testing.T) {
			sum := judgeDialogues(t, p, tc.dialogues...)
			text := diagnosisText(t, sum)
			if bytes.ContainsRune(text, 0x1b) || bytes.ContainsRune(text, 0x07) {
				t.Errorf("control characters reached the text report:\n%q", text)
			}
			compareGolden(t, filepath.Join("testdata", "diagnosis", tc.name+".text.golden"), text)
			compareGolden(t, filepath.Join("testdata", "diagnosis", tc.name+".json.golden"), diagnosisJSON(t, sum))
		})
	}
}

// The odd address of a pool is decided once: every format names 127.0.0.11
// (self-signed, expiring later) and never 127.0.0.10 (CA-issued).
func TestEveryFormatNamesTheSameOddAddress(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	caIssued, selfSigned := reporttest.Frontend(p.Good), reporttest.Frontend(p.Default)
	caIssued.Address, selfSigned.Address = "127.0.0.10", "127.0.0.11"
	s := judgeDialogues(t, p, caIssued, selfSigned)

	var text bytes.Buffer
	if err := Text(&text, s, false); err != nil {
		t.Fatal(err)
	}
	_, table, _ := strings.Cut(text.String(), "its addresses differ")
	for _, line := range strings.Split(table, "\n") {
		if strings.HasPrefix(strings.TrimSpace(line), "127.0.0.1") &&
			strings.Contains(line, "<- differs") != strings.Contains(line, "127.0.0.11") {
			t.Errorf("text consistency table row %q", line)
		}
	}
	if strings.Contains(text.String(), "127.0.0.10 presents another") {
		t.Errorf("the text blames 127.0.0.10:\n%s", text.String())
	}

	var doc bytes.Buffer
	if err := JSON(&doc, s); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Consistency []struct {
			Addresses []struct {
				Address            string `json:"address"`
				CertificateDiffers bool   `json:"certificate_differs"`
			} `json:"addresses"`
		} `json:"consistency"`
	}
	if err := json.Unmarshal(doc.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	if len(parsed.Consistency) != 1 || len(parsed.Consistency[0].Addresses) != 2 {
		t.Fatalf("JSON consistency = %+v, want one group of two", parsed.Consistency)
	}
	for _, a := range parsed.Consistency[0].Addresses {
		if a.CertificateDiffers != (a.Address == "127.0.0.11") {
			t.Errorf("JSON: %s certificate_differs = %v", a.Address, a.CertificateDiffers)
		}
	}

	var nagios bytes.Buffer
	if err := Nagios(&nagios, s); err != nil {
		t.Fatal(err)
	}
	status, _, _ := strings.Cut(nagios.String(), "\n")
	if !strings.Contains(status, "127.0.0.11 presents another leaf certificate") || strings.Contains(status, "127.0.0.10 present") {
		t.Errorf("Nagios status line does not blame 127.0.0.11 alone: %s", status)
	}
}

// A healthy Exchange port names its receive connector in the text too, not
// only inside a diagnosis; without the server's name when nothing tells it
// (the banner shows the public name, the certificate is CA-issued).
func TestHealthyExchangeNamesItsConnector(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	d := reporttest.Frontend(p.Good)
	d.Script.Greeting = []string{"220 " + reporttest.DiagName + " Microsoft ESMTP MAIL Service ready at Sat, 15 Jun 2030 13:59:58 +0200"}
	s := judgeDialogues(t, p, d)
	if s.Status != report.OK {
		t.Fatalf("status %s, want a healthy endpoint: %+v", s.Status, s.Problems)
	}
	var text bytes.Buffer
	if err := Text(&text, s, false); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(text.String(), `receive connector "Default Frontend"`) {
		t.Errorf("the text does not name the connector:\n%s", text.String())
	}
}
