package render

import (
	"bytes"
	"context"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

// probeAndRender probes one scripted server, judges and renders it as
// text and JSON.
func probeAndRender(t *testing.T, sc probetest.Script, root *probetest.CA, opts probe.Options) (report.Summary, string, map[string]any) {
	t.Helper()
	s := probetest.NewScript(t, sc)
	opts.EHLOName, opts.Timeout = "probe.contoso.test", 10*time.Second
	results := probe.Run(context.Background(), []probe.Job{{Endpoint: s.Endpoint("mail.contoso.test", 25)}}, opts, nil)
	sum := report.Judge(results, report.Expect{Roots: root.Pool()}, time.Now())
	var text, doc bytes.Buffer
	if err := Text(&text, sum, false); err != nil {
		t.Fatal(err)
	}
	if err := JSON(&doc, sum); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Results []map[string]any `json:"results"`
	}
	if err := json.Unmarshal(doc.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	return sum, text.String(), parsed.Results[0]
}

func testChain(t *testing.T) (*probetest.CA, *probetest.Chain) {
	t.Helper()
	root, err := probetest.NewRootCA("TLS-required Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mail.contoso.test", DNSNames: []string{"mail.contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	return root, chain
}

// Courier MTA 1.0 answers STARTTLS "540 TLS not available." once MAIL was
// sent: the certificate comes from a new connection, STARTTLS is OK, and
// every format says what the test's connection saw.
func TestCourierSTARTTLSAfterTheTest(t *testing.T) {
	t.Parallel()
	root, chain := testChain(t)
	sc := probetest.Script{
		Greeting: []string{"220 mail.contoso.test ESMTP"},
		EHLO: []string{"250-mail.contoso.test Ok.", "250-XVERP=COURIER", "250-XEXDATA", "250-XSECURITY=NONE,STARTTLS",
			"250-PIPELINING", "250-8BITMIME", "250-SIZE", "250-DSN", "250 STARTTLS"},
		EHLOAfterTLS: []string{"250-mail.contoso.test Ok.", "250-XVERP=COURIER", "250-PIPELINING", "250 DSN"},
		Mail:         []string{"250 Ok."}, RSET: []string{"250 Ok."}, STARTTLS: []string{"220 Ok."},
		STARTTLSAfterMail: []string{"540 TLS not available."},
		Chain:             chain,
	}
	sum, text, result := probeAndRender(t, sc, root, probe.Options{})
	ep := sum.Endpoints[0]
	for _, c := range ep.Checks {
		if (c.ID == report.CheckSTARTTLS || c.ID == report.CheckHandshake) && c.Status != report.OK {
			t.Errorf("%s check %s: %s", c.ID, c.Status, c.Message)
		}
	}
	if ep.Leaf() == nil {
		t.Fatal("no certificate read")
	}
	if !strings.Contains(text, "refused STARTTLS on that connection (540 TLS not available.), so STARTTLS was probed on a new connection without the test") {
		t.Errorf("the text does not say what the test's connection saw:\n%s", text)
	}
	refused, _ := result["tls_required"].(map[string]any)["starttls_refused_after_test"].(map[string]any)
	if refused == nil || refused["code"] != float64(540) {
		t.Errorf("JSON tls_required = %v, want starttls_refused_after_test with code 540", result["tls_required"])
	}
}

// Exim with its deny in the RCPT ACL and maddy accept MAIL FROM:<> and
// refuse at RCPT: without --rcpt-test the answer is "unknown" and says
// why; with it, the RCPT reply decides.
func TestTLSRequiredAtRCPT(t *testing.T) {
	t.Parallel()
	root, chain := testChain(t)
	for _, tc := range []struct {
		name     string
		rcpt     []string
		address  string
		want     report.TLSRequired
		wantText string
	}{
		{"Exim without --rcpt-test", []string{"550 STARTTLS required"}, "", report.TLSRequiredUnknown, "unknown: MAIL FROM:<> before STARTTLS got 250 OK; not refused at MAIL FROM"},
		{"Exim with --rcpt-test", []string{"550 STARTTLS required"}, "postmaster@contoso.test", report.TLSRequiredTrue, "yes: MAIL FROM:<> before STARTTLS got 250 OK, RCPT TO got 550 STARTTLS required"},
		{"maddy with --rcpt-test", []string{"550 5.7.1 TLS conversation required"}, "postmaster@contoso.test", report.TLSRequiredTrue, "RCPT TO got 550 5.7.1 TLS conversation required"},
		{"a recipient accepted in plaintext", []string{"250 Accepted"}, "postmaster@contoso.test", report.TLSRequiredFalse, "no: MAIL FROM:<> before STARTTLS got 250 OK, RCPT TO got 250 Accepted"},
		{"an unknown recipient", []string{"550 5.1.1 User unknown"}, "nobody@contoso.test", report.TLSRequiredUnknown, "RCPT TO was refused for another reason than TLS"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sc := probetest.Script{
				Greeting: []string{"220 mail.contoso.test ESMTP Exim 4.96 Sat, 05 Dec 2026 10:00:00 +0000"},
				EHLO:     []string{"250-mail.contoso.test Hello probe.contoso.test", "250-PIPELINING", "250 STARTTLS"},
				Mail:     []string{"250 OK"}, RCPT: tc.rcpt, RSET: []string{"250 Reset OK"},
				STARTTLS: []string{"220 TLS go ahead"}, EHLOAfterTLS: []string{"250-mail.contoso.test Hello", "250 PIPELINING"},
				Chain: chain,
			}
			sum, text, result := probeAndRender(t, sc, root, probe.Options{RCPTAddress: tc.address})
			if got := sum.Endpoints[0].TLSRequired; got != tc.want {
				t.Errorf("TLS required %q, want %q (%s)", got, tc.want, sum.Endpoints[0].TLSRequiredReason)
			}
			if !strings.Contains(text, tc.wantText) {
				t.Errorf("text lacks %q:\n%s", tc.wantText, text)
			}
			_, hasRCPT := result["tls_required"].(map[string]any)["rcpt_reply"]
			if hasRCPT != (tc.address != "") {
				t.Errorf("JSON tls_required.rcpt_reply present %v with address %q", hasRCPT, tc.address)
			}
		})
	}
}
