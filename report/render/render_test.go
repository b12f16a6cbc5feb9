package render

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
	"unicode/utf8"

	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/reporttest"

	"github.com/starttls-probe/starttls-probe/probe"
)

// The renderers are tested against golden files, testdata/text/<case>.golden
// and testdata/json/<case>.golden. After a deliberate change to the output,
// rewrite them and review the diff:
//
//	go test ./report -update
//	git diff report/testdata
//
// Every input is fixed (chains from testdata/certs, goldenNow, the timings,
// addresses and replies below), so no live value reaches a golden file.
var update = flag.Bool("update", false, "rewrite the golden files in testdata/text and testdata/json")

// goldenNow is the instant every golden case is judged at.
var goldenNow = time.Date(2030, 6, 15, 12, 0, 0, 0, time.UTC)

// goldenCase is one rendering to compare with its golden files.
type goldenCase struct {
	name    string
	results []probe.Result
	expect  report.Expect
	verbose bool
}

// Exchange's replies, as exchange-facts.md records them.
const exchangeBanner = "EXCH01.contoso.test Microsoft ESMTP MAIL Service ready at Sat, 15 Jun 2030 11:59:59 +0000"

var (
	exchangeEHLO = []string{"EXCH01.contoso.test Hello [192.0.2.7]", "SIZE 37748736", "PIPELINING", "DSN",
		"ENHANCEDSTATUSCODES", "STARTTLS", "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME",
		"BINARYMIME", "CHUNKING", "SMTPUTF8", "XRDST"}
	exchangeEHLOAfterTLS = []string{"EXCH01.contoso.test Hello [192.0.2.7]", "SIZE 37748736", "PIPELINING", "DSN",
		"ENHANCEDSTATUSCODES", "AUTH NTLM LOGIN", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME", "CHUNKING",
		"SMTPUTF8", "XRDST"}
	// The KB 2989382 state: no certificate bound, so no STARTTLS, while
	// X-ANONYMOUSTLS stays.
	exchangeEHLONoSTARTTLS = []string{"EXCH01.contoso.test Hello [192.0.2.7]", "SIZE 37748736", "PIPELINING", "DSN",
		"ENHANCEDSTATUSCODES", "X-ANONYMOUSTLS", "AUTH NTLM", "X-EXPS GSSAPI NTLM", "8BITMIME", "BINARYMIME",
		"CHUNKING", "SMTPUTF8", "XRDST"}
)

// endpoint is mail.contoso.test on port, at a documentation address (never
// dialed: these results are built, not probed).
func endpoint(port int) probe.Endpoint {
	return probe.Endpoint{Target: "mail.contoso.test", Host: "mail.contoso.test", Port: port}
}

// completeDialogue is a probe that went all the way: banner, EHLO,
// STARTTLS, a TLS 1.2 handshake presenting chain, EHLO again, QUIT.
func completeDialogue(t testing.TB, ep probe.Endpoint, chain string) probe.Result {
	t.Helper()
	return probe.Result{
		Endpoint:        ep,
		Address:         "192.0.2.10",
		Mode:            probe.ModeSTARTTLS,
		Started:         goldenNow.Add(-time.Second),
		Banner:          &probe.Reply{Code: 220, Lines: []string{exchangeBanner}},
		EHLO:            &probe.Reply{Code: 250, Lines: exchangeEHLO},
		STARTTLSOffered: true,
		STARTTLSReply:   &probe.Reply{Code: 220, Lines: []string{"2.0.0 SMTP server ready"}},
		EHLOAfterTLS:    &probe.Reply{Code: 250, Lines: exchangeEHLOAfterTLS},
		TLS: &probe.TLSState{Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
			ServerName: ep.Host, HandshakeComplete: true, CurveID: tls.X25519},
		Chain: reporttest.Chain(t, chain),
		Timings: probe.Timings{
			DNS: 2100 * time.Microsecond, Connect: 1300 * time.Microsecond, Banner: 4200 * time.Microsecond,
			EHLO: 1100 * time.Microsecond, STARTTLS: 900 * time.Microsecond, Handshake: 12400 * time.Microsecond,
			PostTLS: 1000 * time.Microsecond, Total: 23500 * time.Microsecond,
		},
	}
}

func expectName(t testing.TB, name string) report.Expect {
	return report.Expect{Name: name, Roots: reporttest.Roots(t), WarnDays: report.DefaultWarnDays, CritDays: report.DefaultCritDays}
}

func goldenCases(t testing.TB) []goldenCase {
	good := completeDialogue(t, endpoint(25), "good")

	notOffered := completeDialogue(t, endpoint(25), "good")
	notOffered.EHLO = &probe.Reply{Code: 250, Lines: exchangeEHLONoSTARTTLS}
	notOffered.STARTTLSOffered = false
	notOffered.STARTTLSReply, notOffered.EHLOAfterTLS, notOffered.TLS, notOffered.Chain = nil, nil, nil, nil
	notOffered.Timings.STARTTLS, notOffered.Timings.Handshake, notOffered.Timings.PostTLS = 0, 0, 0

	handshakeFailure := completeDialogue(t, endpoint(587), "good")
	handshakeFailure.EHLOAfterTLS, handshakeFailure.TLS, handshakeFailure.Chain = nil, nil, nil
	handshakeFailure.Error = &probe.Error{Phase: probe.PhaseHandshake, Err: tls.AlertError(40)}
	handshakeFailure.Timings.PostTLS = 0

	selfSigned := completeDialogue(t, endpoint(2525), "selfsigned")
	selfSigned.TLS.ServerName = ""

	unknownHost := probe.Result{
		Endpoint: probe.Endpoint{Target: "nosuch.invalid", Host: "nosuch.invalid", Port: 25},
		Mode:     probe.ModeSTARTTLS,
		Started:  goldenNow.Add(-time.Second),
		Error: &probe.Error{Phase: probe.PhaseDNS,
			Err: &net.DNSError{Err: "no such host", Name: "nosuch.invalid", IsNotFound: true}},
		Timings: probe.Timings{DNS: 800 * time.Microsecond, Total: 900 * time.Microsecond},
	}

	refused := probe.Result{
		Endpoint: probe.Endpoint{Target: "192.0.2.10:587", Host: "192.0.2.10", Port: 587},
		Address:  "192.0.2.10",
		Mode:     probe.ModeSTARTTLS,
		Started:  goldenNow.Add(-time.Second),
		Error: &probe.Error{Phase: probe.PhaseConnect, Err: &net.OpError{Op: "dial", Net: "tcp",
			Addr: &net.TCPAddr{IP: net.ParseIP("192.0.2.10"), Port: 587},
			Err:  os.NewSyscallError("connect", syscall.ECONNREFUSED)}},
		Timings: probe.Timings{Connect: 300 * time.Microsecond, Total: 400 * time.Microsecond},
	}

	// The demo's host: the right certificate on 25, another name on 587,
	// Exchange's self-signed default on 2525, and the thumbprint of 25
	// expected everywhere.
	three := []probe.Result{
		completeDialogue(t, endpoint(25), "good"),
		completeDialogue(t, endpoint(587), "wrongname"),
		completeDialogue(t, endpoint(2525), "selfsigned"),
	}
	threeExpect := expectName(t, "mail.contoso.test")
	thumb, err := report.ParseThumbprint(reporttest.SHA1(three[0].Leaf()))
	if err != nil {
		t.Fatal(err)
	}
	threeExpect.Thumbprint = thumb

	verbose := completeDialogue(t, endpoint(587), "good")
	verbose.Transcript = []probe.TranscriptLine{
		{At: 5500 * time.Microsecond, Dir: probe.FromServer, Text: "220 " + exchangeBanner},
		{At: 5600 * time.Microsecond, Dir: probe.FromClient, Text: "EHLO probe.contoso.test"},
		{At: 6700 * time.Microsecond, Dir: probe.FromServer, Text: "250-EXCH01.contoso.test Hello [192.0.2.7]"},
		{At: 6700 * time.Microsecond, Dir: probe.FromServer, Text: "250-STARTTLS"},
		{At: 6700 * time.Microsecond, Dir: probe.FromServer, Text: "250 AUTH NTLM"},
		{At: 6800 * time.Microsecond, Dir: probe.FromClient, Text: "STARTTLS"},
		{At: 7700 * time.Microsecond, Dir: probe.FromServer, Text: "220 2.0.0 SMTP server ready"},
		{At: 20100 * time.Microsecond, Dir: probe.FromClient, TLS: true, Text: "EHLO probe.contoso.test"},
		{At: 21100 * time.Microsecond, Dir: probe.FromServer, TLS: true, Text: "250-EXCH01.contoso.test Hello [192.0.2.7]"},
		{At: 21100 * time.Microsecond, Dir: probe.FromServer, TLS: true, Text: "250 AUTH NTLM LOGIN"},
		{At: 21200 * time.Microsecond, Dir: probe.FromClient, TLS: true, Text: "QUIT"},
		{At: 22300 * time.Microsecond, Dir: probe.FromServer, TLS: true, Text: "221 2.0.0 Service closing transmission channel"},
	}

	// A server that tries to write to the admin's terminal: clear the
	// screen, retitle the window, and bytes that are not UTF-8, in its
	// banner, its EHLO reply and its certificate.
	hostile := completeDialogue(t, endpoint(25), "hostile")
	hostile.Banner = &probe.Reply{Code: 220, Lines: []string{"mx.test \x1b[2J\x1b]0;pwned\x07 ESMTP \xff\xfe\x9b\r ready"}}
	hostile.EHLO = &probe.Reply{Code: 250, Lines: []string{"mx.test greets \x1b[31myou\x1b[0m", "STARTTLS", "X-\x1b]0;pwned\x07"}}
	hostile.EHLOAfterTLS = &probe.Reply{Code: 250, Lines: []string{"mx.test \x9b2J", "\u009b2JAUTH LOGIN"}}
	hostile.Transcript = []probe.TranscriptLine{
		{At: time.Millisecond, Dir: probe.FromServer, Text: "220 mx.test \x1b[2J\x1b]0;pwned\x07 ESMTP \xff\xfe\x9b\r ready"},
	}

	// --tls-scan of an old server: TLS 1.0 to 1.2, an RSA and an expired
	// certificate held, built rather than probed so that the golden
	// stays fixed.
	scanned := completeDialogue(t, endpoint(25), "good")
	scanned.Scan = &probe.Scan{
		Versions: []probe.VersionScan{
			{Version: tls.VersionTLS10, Outcome: probe.Accepted, Complete: true,
				Suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_RSA_WITH_3DES_EDE_CBC_SHA}},
			{Version: tls.VersionTLS11, Outcome: probe.Refused, Complete: true, Err: &probe.Error{Phase: probe.PhaseHandshake, Err: tls.AlertError(70)}},
			{Version: tls.VersionTLS12, Outcome: probe.Accepted, Complete: true,
				Suites: []uint16{tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384, tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
			{Version: tls.VersionTLS13, Outcome: probe.Refused, Complete: true, Err: &probe.Error{Phase: probe.PhaseHandshake, Err: tls.AlertError(70)}},
		},
		Order: probe.ServerOrder, OrderVersion: tls.VersionTLS12,
		Groups: []probe.GroupScan{{Group: tls.X25519MLKEM768, Outcome: probe.Refused}, {Group: tls.X25519, Outcome: probe.Accepted, Version: tls.VersionTLS12},
			{Group: tls.CurveP256, Outcome: probe.Accepted, Version: tls.VersionTLS12}},
		Chains: []probe.PresentedChain{
			{Chain: reporttest.Chain(t, "good"), Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA},
			{Chain: reporttest.Chain(t, "expired"), Version: tls.VersionTLS12, CipherSuite: tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384},
		},
		WithoutSNI: &probe.Attempt{Outcome: probe.Accepted, Chain: reporttest.Chain(t, "good")},
		Handshakes: 17, Duration: 84 * time.Millisecond,
	}

	// --as exchange-online --tls-domain of a server presenting another
	// name: the connector's rules, each failure with its deferral.
	exo := completeDialogue(t, endpoint(25), "wrongname")
	exo.Scan = scanned.Scan
	exoExpect := expectName(t, "mail.contoso.test")
	exoExpect.AsExchangeOnline, exoExpect.TLSDomain, exoExpect.PublicRoots = true, "mail.contoso.test", exoExpect.Roots

	return []goldenCase{
		{name: "good", results: []probe.Result{good}, expect: expectName(t, "mail.contoso.test")},
		{name: "exchange-online", results: []probe.Result{exo}, expect: exoExpect},
		{name: "tls-scan", results: []probe.Result{scanned}, expect: expectName(t, "mail.contoso.test")},
		{name: "starttls-not-offered", results: []probe.Result{notOffered}, expect: expectName(t, "mail.contoso.test")},
		{name: "handshake-failure", results: []probe.Result{handshakeFailure}, expect: expectName(t, "mail.contoso.test")},
		{name: "name-mismatch", results: []probe.Result{completeDialogue(t, endpoint(587), "wrongname")}, expect: expectName(t, "mail.contoso.test")},
		{name: "self-signed-2525", results: []probe.Result{selfSigned}, expect: expectName(t, "mail.contoso.test")},
		{name: "expired", results: []probe.Result{completeDialogue(t, endpoint(25), "expired")}, expect: expectName(t, "mail.contoso.test")},
		{name: "unknown-host", results: []probe.Result{unknownHost}, expect: expectName(t, "")},
		{name: "refused", results: []probe.Result{refused}, expect: expectName(t, "")},
		{name: "three-endpoints", results: three, expect: threeExpect},
		{name: "verbose", results: []probe.Result{verbose}, expect: expectName(t, "mail.contoso.test"), verbose: true},
		{name: "hostile", results: []probe.Result{hostile}, expect: expectName(t, "mail.contoso.test"), verbose: true},
	}
}

func (tc goldenCase) summary() report.Summary {
	s := report.Judge(tc.results, tc.expect, goldenNow)
	s.Version = "v1.2.3-golden"
	s.Verbose = tc.verbose
	return s
}

func TestTextGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := Text(&out, tc.summary(), false); err != nil {
				t.Fatal(err)
			}
			assertTerminalSafe(t, out.Bytes())
			compareGolden(t, filepath.Join("testdata", "text", tc.name+".golden"), out.Bytes())
		})
	}
}

func TestJSONGolden(t *testing.T) {
	for _, tc := range goldenCases(t) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var out bytes.Buffer
			if err := JSON(&out, tc.summary()); err != nil {
				t.Fatal(err)
			}
			assertValidJSON(t, out.Bytes())
			compareGolden(t, filepath.Join("testdata", "json", tc.name+".golden"), out.Bytes())
		})
	}
}

// TestHostileTextIsEscaped checks what the golden file of the hostile case
// must show, so that -update cannot quietly bless raw escapes.
func TestHostileTextIsEscaped(t *testing.T) {
	tc := findCase(t, "hostile")
	var out bytes.Buffer
	if err := Text(&out, tc.summary(), false); err != nil {
		t.Fatal(err)
	}
	text := out.String()
	assertTerminalSafe(t, out.Bytes())
	for _, want := range []string{
		`mx.test \x1b[2J\x1b]0;pwned\x07 ESMTP \xff\xfe\x9b\x0d ready`, // banner
		`X-\x1b]0;PWNED\x07`, // EHLO keyword
		`\u{009b}2JAUTH`,     // EHLO keyword under TLS: a C1 CSI
		// The subject as pkix.Name.String writes it, ";" escaped as
		// "\;" with its one backslash (it used to be doubled, "\\;").
		`CN=mail.contoso.test\x1b[2J\x1b]0\;pwned\x07`,
		`evil\x1b]0;pwned\x07.contoso.test`, // SAN
	} {
		if !strings.Contains(text, want) {
			t.Errorf("text output lacks the escaped form %s:\n%s", want, text)
		}
	}
	if strings.Contains(text, "\u009b") {
		t.Errorf("text output carries a raw C1 CSI (U+009B)")
	}
}

// TestHostileJSONKeepsTheData checks that JSON, escaped by encoding/json,
// still hands scripts the server's text: the subject's escape sequences
// survive a round trip.
func TestHostileJSONKeepsTheData(t *testing.T) {
	tc := findCase(t, "hostile")
	var out bytes.Buffer
	if err := JSON(&out, tc.summary()); err != nil {
		t.Fatal(err)
	}
	assertValidJSON(t, out.Bytes())
	if bytes.IndexByte(out.Bytes(), 0x1b) >= 0 {
		t.Errorf("JSON output carries a raw ESC byte")
	}
	var doc struct {
		Results []struct {
			Chain []struct {
				Subject string `json:"subject"`
			} `json:"chain"`
		} `json:"results"`
	}
	if err := json.Unmarshal(out.Bytes(), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Results) != 1 || len(doc.Results[0].Chain) == 0 {
		t.Fatalf("want one result with a chain, got %+v", doc)
	}
	// pkix.Name.String escapes the ";" of the OSC sequence; the escape
	// bytes themselves must survive.
	if got := doc.Results[0].Chain[0].Subject; !strings.Contains(got, "mail.contoso.test\x1b[2J\x1b]0") || !strings.Contains(got, "pwned\a") {
		t.Errorf("subject %q lost the server's text %q", got, reporttest.HostileCN)
	}
}

// TestColor checks colour on and off on the same summary, and that every
// status word is printed either way: meaning never rests on colour alone.
func TestColor(t *testing.T) {
	var results []probe.Result
	for _, name := range []string{"three-endpoints", "unknown-host"} {
		results = append(results, findCase(t, name).results...)
	}
	tc := goldenCase{name: "colour", results: results, expect: findCase(t, "three-endpoints").expect}
	s := tc.summary()
	words := map[string]bool{s.Status.String(): true}
	for _, ep := range s.Endpoints {
		words[ep.Status.String()] = true
		for _, c := range ep.Checks {
			words[c.Status.String()] = true
		}
	}
	for _, st := range []report.Status{report.OK, report.Warning, report.Critical, report.Unknown, report.Skipped} {
		if !words[st.String()] {
			t.Fatalf("the summary should hold every status, lacks %s: %v", st, words)
		}
	}
	for _, colored := range []bool{true, false} {
		t.Run(fmt.Sprintf("color=%v", colored), func(t *testing.T) {
			var out bytes.Buffer
			if err := Text(&out, s, colored); err != nil {
				t.Fatal(err)
			}
			hasANSI := bytes.Contains(out.Bytes(), []byte("\x1b["))
			if hasANSI != colored {
				t.Errorf("ANSI escapes present: %v, want %v:\n%q", hasANSI, colored, out.String())
			}
			for w := range words {
				if !strings.Contains(out.String(), w) {
					t.Errorf("status word %s missing:\n%s", w, out.String())
				}
			}
		})
	}
}

func findCase(t *testing.T, name string) goldenCase {
	t.Helper()
	for _, tc := range goldenCases(t) {
		if tc.name == name {
			return tc
		}
	}
	t.Fatalf("no golden case %q", name)
	return goldenCase{}
}

// assertTerminalSafe fails when out holds a byte a terminal would act on:
// any C0 control but the newline, DEL, a C1 control, or invalid UTF-8.
func assertTerminalSafe(t *testing.T, out []byte) {
	t.Helper()
	for i, b := range out {
		if (b < 0x20 && b != '\n') || b == 0x7f {
			t.Errorf("text output has control byte %#02x at offset %d: %q", b, i, around(out, i))
			return
		}
	}
	if !utf8.Valid(out) {
		t.Errorf("text output is not valid UTF-8")
	}
	for i, r := range string(out) {
		if r >= 0x80 && r < 0xa0 {
			t.Errorf("text output has C1 control %U at offset %d: %q", r, i, around(out, i))
			return
		}
	}
}

func assertValidJSON(t *testing.T, out []byte) {
	t.Helper()
	if !utf8.Valid(out) {
		t.Errorf("JSON output is not valid UTF-8")
	}
	var v any
	if err := json.Unmarshal(out, &v); err != nil {
		t.Errorf("JSON output does not parse: %v", err)
	}
}

func around(b []byte, i int) []byte {
	return b[max(0, i-30):min(len(b), i+30)]
}

// compareGolden compares got with the golden file at path, or rewrites the
// file under -update.
func compareGolden(t *testing.T, path string, got []byte) {
	t.Helper()
	if *update {
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, got, 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(path)
	if err != nil {
		t.Fatalf("%v (create it with: go test ./report -update)", err)
	}
	if bytes.Equal(got, want) {
		return
	}
	gotLines, wantLines := strings.Split(string(got), "\n"), strings.Split(string(want), "\n")
	for i := 0; i < max(len(gotLines), len(wantLines)); i++ {
		var g, w string
		if i < len(gotLines) {
			g = gotLines[i]
		}
		if i < len(wantLines) {
			w = wantLines[i]
		}
		if g != w {
			t.Errorf("%s differs from line %d:\n got: %s\nwant: %s\nfull output:\n%s\n(if the change is intended: go test ./report -update, then review git diff)",
				path, i+1, g, w, got)
			return
		}
	}
}

// OpenSMTPD on Debian 12 ends every handshake with alert 80 after its
// certificate: every format must show the certificate as received and
// nothing as negotiated (no version, no cipher, no handshake time).
func TestHandshakeFailedAfterTheCertificate(t *testing.T) {
	t.Parallel()
	r := completeDialogue(t, endpoint(25), "good")
	r.EHLOAfterTLS = nil
	r.TLS.HandshakeComplete = false
	r.Error = &probe.Error{Phase: probe.PhaseHandshake, Err: errors.New("remote error: tls: internal error")}
	s := report.Judge([]probe.Result{r}, expectName(t, "mail.contoso.test"), goldenNow)

	var text bytes.Buffer
	if err := Text(&text, s, false); err != nil {
		t.Fatal(err)
	}
	tlsLine := ""
	for _, line := range strings.Split(text.String(), "\n") {
		if strings.HasPrefix(line, "  TLS ") {
			tlsLine = line
		}
	}
	if !strings.Contains(tlsLine, "not established: the handshake failed after the server sent the certificate below") || strings.Contains(tlsLine, "TLS 1.") {
		t.Errorf("text TLS line %q", tlsLine)
	}
	if !strings.Contains(text.String(), "TLS handshake failed after the server sent its certificate") || !strings.Contains(text.String(), "SHA-1") {
		t.Errorf("the text lacks the certificate or the handshake's failure:\n%s", text.String())
	}

	var doc bytes.Buffer
	if err := JSON(&doc, s); err != nil {
		t.Fatal(err)
	}
	var parsed struct {
		Results []struct {
			TLS struct {
				Version           string `json:"version"`
				CipherSuite       string `json:"cipher_suite"`
				HandshakeComplete bool   `json:"handshake_complete"`
			} `json:"tls"`
			Chain []struct{ SHA1 string } `json:"chain"`
		} `json:"results"`
	}
	if err := json.Unmarshal(doc.Bytes(), &parsed); err != nil {
		t.Fatal(err)
	}
	if got := parsed.Results[0]; got.TLS.Version != "" || got.TLS.CipherSuite != "" || got.TLS.HandshakeComplete || len(got.Chain) == 0 {
		t.Errorf("JSON tls %+v with %d certificates, want nothing negotiated and the chain kept", got.TLS, len(got.Chain))
	}

	var nagios, prom bytes.Buffer
	if err := Nagios(&nagios, s); err != nil {
		t.Fatal(err)
	}
	if err := Prometheus(&prom, s); err != nil {
		t.Fatal(err)
	}
	if strings.Contains(nagios.String(), " handshake'=") || strings.Contains(prom.String(), "handshake_duration_seconds{") {
		t.Errorf("a handshake time for a handshake that failed:\n%s\n%s", nagios.String(), prom.String())
	}
}

// TestSummaryTableFits100Columns checks the table of three ports of one host
// against the width a terminal or a ticket comment gives it.
func TestSummaryTableFits100Columns(t *testing.T) {
	tc := findCase(t, "three-endpoints")
	var out bytes.Buffer
	if err := Text(&out, tc.summary(), false); err != nil {
		t.Fatal(err)
	}
	_, table, ok := strings.Cut(out.String(), "\nsummary\n")
	if !ok {
		t.Fatalf("no summary table:\n%s", out.String())
	}
	lines := strings.Split(strings.TrimSuffix(table, "\n"), "\n")
	if len(lines) < 4 {
		t.Fatalf("want a header and three rows, got %q", lines)
	}
	for _, line := range lines[:4] {
		if n := utf8.RuneCountInString(line); n > 100 {
			t.Errorf("%d columns, want at most 100: %q", n, line)
		}
	}
}
