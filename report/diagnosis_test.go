package report

import (
	"context"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/report/dotnetname"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

func diagExpect(p reporttest.DiagPKI) Expect {
	return Expect{Name: reporttest.DiagName, Roots: p.Roots()}
}

func judgeDialogues(t testing.TB, p reporttest.DiagPKI, ds ...reporttest.Dialogue) Summary {
	t.Helper()
	var results []probe.Result
	for _, d := range ds {
		results = append(results, d.Result(t))
	}
	return Judge(results, diagExpect(p), reporttest.DiagNow)
}

func diagnosisIDs(ep Endpoint) []string {
	var ids []string
	for _, d := range ep.Diagnoses {
		ids = append(ids, d.ID)
	}
	return ids
}

func findDiagnosis(ep Endpoint, id string) *Diagnosis {
	for i := range ep.Diagnoses {
		if ep.Diagnoses[i].ID == id {
			return &ep.Diagnoses[i]
		}
	}
	return nil
}

// ruleCase is one set of endpoints and, for the endpoint at index of, the
// diagnoses that must and must not be there.
type ruleCase struct {
	name      string
	dialogues []reporttest.Dialogue
	of        int
	want      []string
	notWant   []string
	// check looks at the wanted diagnoses more closely.
	check func(t *testing.T, p reporttest.DiagPKI, ep Endpoint)
}

// postfixDialogue is a Postfix port offering STARTTLS and, after it, AUTH,
// presenting chain.
func postfixDialogue(role int, chain []*x509.Certificate) reporttest.Dialogue {
	return reporttest.Dialogue{Role: role, Chain: chain, Script: reporttest.PostfixScript(
		[]string{"250-PIPELINING", "250 STARTTLS"}, []string{"250-PIPELINING", "250 AUTH PLAIN LOGIN"}, false)}
}

// eximDialogue is the same on Exim, with its default banner.
func eximDialogue(role int, chain []*x509.Certificate) reporttest.Dialogue {
	return reporttest.Dialogue{Role: role, Chain: chain, Script: probetest.Script{
		Greeting:     []string{"220 mx.contoso.test ESMTP Exim 4.96 Mon, 01 Jul 2030 10:00:00 +0000"},
		EHLO:         []string{"250-mx.contoso.test Hello", "250-PIPELINING", "250 STARTTLS"},
		STARTTLS:     []string{"220 TLS go ahead"},
		EHLOAfterTLS: []string{"250-mx.contoso.test Hello", "250-PIPELINING", "250 AUTH PLAIN LOGIN"}}}
}

func ruleCases(p reporttest.DiagPKI) []ruleCase {
	frontend, client, hub := reporttest.Frontend, reporttest.Client, reporttest.Hub
	scenario := p.Scenarios()
	kb := scenario["exchange-kb2989382"][0]
	masked := scenario["firewall-masks-starttls"][0]
	bannerOnly := masked
	bannerOnly.Script.EHLO = reporttest.ExchangeScript(probetest.DefaultFrontend, true, false, false).EHLO
	postfixPlainAuth := scenario["postfix-auth-before-tls"][0]
	postfixNoAuth := reporttest.Dialogue{Role: 587, Chain: p.Good, Script: reporttest.PostfixScript(
		[]string{"250-PIPELINING", "250 STARTTLS"}, []string{"250 PIPELINING"}, true)}
	unknownNoTLS := reporttest.Dialogue{Role: 25, Script: probetest.Script{
		Greeting: []string{"220 mx.contoso.test ESMTP ready"}, EHLO: []string{"250-mx.contoso.test", "250 PIPELINING"}}}
	plaintext465 := reporttest.Dialogue{Role: 465, HandshakeErr: fmt.Errorf("handshake: %w", tls.RecordHeaderError{
		Msg: "first record does not look like a TLS handshake", RecordHeader: [5]byte{'2', '2', '0', ' ', 'E'}})}
	tls465 := reporttest.Dialogue{Role: 465, Script: reporttest.ExchangeScript(probetest.ClientProxy, true, false, false), Chain: p.Good}
	secondNode := scenario["two-nodes"][1]

	return []ruleCase{
		{
			name: "KB 2989382: no STARTTLS and TLS required", dialogues: []reporttest.Dialogue{kb, client(p.Good), hub(p.Default)},
			want: []string{DiagSTARTTLSMissingTLSRequired}, notWant: []string{DiagSTARTTLSMissing, DiagSMTPInspection},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagSTARTTLSMissingTLSRequired)
				fix := strings.Join(d.Fix, "\n")
				for _, want := range []string{
					"Enable-ExchangeCertificate -Thumbprint " + reporttest.SHA1(p.Good[0]) + " -Services SMTP",
					`Get-ReceiveConnector 'EXCH01\Default Frontend EXCH01' | Set-ReceiveConnector -TlsCertificateName $null`,
					"-TlsCertificateName '" + dotnetname.TLSCertificateName(p.Good[0]) + "'",
				} {
					if !strings.Contains(fix, want) {
						t.Errorf("fix lacks %q:\n%s", want, fix)
					}
				}
				if !strings.Contains(d.Cause, "451 5.7.3 STARTTLS is required to send mail") || !strings.Contains(d.Cause, "KB 2989382") {
					t.Errorf("cause = %q", d.Cause)
				}
			},
		},
		{
			name: "no STARTTLS, not required", dialogues: []reporttest.Dialogue{frontend(nil)},
			want: []string{DiagSTARTTLSMissing}, notWant: []string{DiagSTARTTLSMissingTLSRequired},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				// No good certificate seen: the fix selects it on the server.
				fix := strings.Join(ep.Diagnoses[0].Fix, "\n")
				if !strings.Contains(fix, "$_.CertificateDomains -contains 'mail.contoso.test'") || !strings.Contains(fix, "-AuthMechanism Tls,Integrated,BasicAuth,BasicAuthRequireTLS,ExchangeServer") {
					t.Errorf("fix:\n%s", fix)
				}
			},
		},
		{
			name: "no STARTTLS on an unknown server: the fact, no fix", dialogues: []reporttest.Dialogue{unknownNoTLS},
			want: []string{DiagSTARTTLSMissing},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				if ep.Server.Software != SoftwareUnknown || len(ep.Diagnoses[0].Fix) != 0 {
					t.Errorf("server %+v, fix %q: want unknown and no fix", ep.Server, ep.Diagnoses[0].Fix)
				}
			},
		},
		{
			name: "STARTTLS offered", dialogues: []reporttest.Dialogue{frontend(p.Good), client(p.Good), hub(p.Default)},
			notWant: []string{DiagSTARTTLSMissing, DiagSTARTTLSMissingTLSRequired, DiagSMTPInspection, DiagBannerMasked,
				DiagNameMismatch, DiagDefaultCertificate, DiagAuthCertificate, DiagExpiredCertificate, DiagAuthBeforeTLS,
				DiagNoAuthAfterTLS, DiagCertificateDiffers, DiagPlaintextOnImplicitPort},
		},
		{
			name: "firewall masks STARTTLS", dialogues: []reporttest.Dialogue{masked},
			want: []string{DiagSMTPInspection}, notWant: []string{DiagSTARTTLSMissing, DiagSTARTTLSMissingTLSRequired, DiagBannerMasked},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				// The inspection masks X-ANONYMOUSTLS and X-EXPS too:
				// nothing tells Exchange.
				if !ep.Server.Masked || ep.Server.Software != SoftwareUnknown || !strings.Contains(ep.Diagnoses[0].Cause, `"XXXXXXXA"`) {
					t.Errorf("server %+v, cause %q", ep.Server, ep.Diagnoses[0].Cause)
				}
				if !slices.Contains(ep.Diagnoses[0].Fix, "  no inspect esmtp") {
					t.Errorf("fix = %q", ep.Diagnoses[0].Fix)
				}
			},
		},
		{
			name: "firewall masks the banner only", dialogues: []reporttest.Dialogue{bannerOnly},
			want: []string{DiagBannerMasked}, notWant: []string{DiagSMTPInspection, DiagSTARTTLSMissing},
		},
		{
			name: "name mismatch on 587", dialogues: []reporttest.Dialogue{frontend(p.Good), client(p.WrongName)}, of: 1,
			want: []string{DiagNameMismatch, DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				fix := strings.Join(findDiagnosis(ep, DiagNameMismatch).Fix, "\n")
				want := `Set-ReceiveConnector 'EXCH01\Client Frontend EXCH01' -Fqdn mail.contoso.test -TlsCertificateName '` + dotnetname.TLSCertificateName(p.Good[0]) + "'"
				if !strings.Contains(fix, want) {
					t.Errorf("fix lacks %q:\n%s", want, fix)
				}
				// The mismatch rule gives the fix; the comparison adds the table.
				if differs := findDiagnosis(ep, DiagCertificateDiffers); len(differs.Fix) != 0 || len(differs.Compare) != 2 {
					t.Errorf("certificate-differs = %+v", differs)
				}
			},
		},
		{
			name: "another name on 25 is no client matter", dialogues: []reporttest.Dialogue{frontend(p.WrongName)},
			notWant: []string{DiagNameMismatch},
		},
		{
			name: "default certificate on 587", dialogues: []reporttest.Dialogue{client(p.Default)},
			want: []string{DiagDefaultCertificate}, notWant: []string{DiagNameMismatch, DiagDefaultCertificateExpected},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				d := ep.Diagnoses[0]
				if d.Severity != SeverityCritical || !strings.Contains(d.Cause, "CN=EXCH01") || !strings.Contains(d.Cause, `"Client Frontend EXCH01"`) {
					t.Errorf("diagnosis = %+v", d)
				}
			},
		},
		{
			name: "default certificate on 25", dialogues: []reporttest.Dialogue{frontend(p.Default)},
			want: []string{DiagDefaultCertificate},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				if d := ep.Diagnoses[0]; d.Severity != SeverityWarning {
					t.Errorf("severity = %s on port 25, want warning", d.Severity)
				}
			},
		},
		{
			name: "default certificate on 2525 is expected", dialogues: []reporttest.Dialogue{frontend(p.Good), hub(p.Default)}, of: 1,
			want: []string{DiagDefaultCertificateExpected}, notWant: []string{DiagDefaultCertificate, DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				if d := findDiagnosis(ep, DiagDefaultCertificateExpected); d.Severity != SeverityInfo || len(d.Fix) != 0 {
					t.Errorf("diagnosis = %+v, want info with nothing to run", d)
				}
			},
		},
		{
			name: "Auth certificate on 587", dialogues: []reporttest.Dialogue{client(p.Auth)},
			want: []string{DiagAuthCertificate}, notWant: []string{DiagNameMismatch, DiagDefaultCertificate},
		},
		{
			name: "expired certificate still bound after renewal", dialogues: []reporttest.Dialogue{frontend(p.Expired), client(p.Renewed)},
			want: []string{DiagExpiredCertificate, DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagExpiredCertificate)
				if !strings.Contains(d.Cause, reporttest.SHA1(p.Renewed[0])) || !strings.Contains(d.Cause, "port 587") {
					t.Errorf("cause %q does not point at the renewal", d.Cause)
				}
				fix := strings.Join(d.Fix, "\n")
				if !strings.Contains(fix, "Enable-ExchangeCertificate -Thumbprint "+reporttest.SHA1(p.Renewed[0])) ||
					!strings.Contains(fix, "Remove-ExchangeCertificate -Thumbprint "+reporttest.SHA1(p.Expired[0])) {
					t.Errorf("fix:\n%s", fix)
				}
			},
		},
		{
			name: "renewal in use", dialogues: []reporttest.Dialogue{frontend(p.Renewed)},
			notWant: []string{DiagExpiredCertificate},
		},
		{
			name: "AUTH LOGIN before TLS on Postfix 587", dialogues: []reporttest.Dialogue{postfixPlainAuth},
			want: []string{DiagAuthBeforeTLS}, notWant: []string{DiagNoAuthAfterTLS},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				d := ep.Diagnoses[0]
				if d.Severity != SeverityWarning || !slices.Contains(d.Fix, "postconf -P 'submission/inet/smtpd_tls_auth_only=yes'") {
					t.Errorf("diagnosis = %+v", d)
				}
				if ep.Status != Warning {
					t.Errorf("endpoint status = %s, want the warning to count", ep.Status)
				}
			},
		},
		{
			name: "AUTH LOGIN before TLS on Exchange 2525 is its default", dialogues: []reporttest.Dialogue{hub(p.Default)},
			want: []string{DiagAuthBeforeTLS},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				if d := findDiagnosis(ep, DiagAuthBeforeTLS); d.Severity != SeverityInfo {
					t.Errorf("severity = %s, want info", d.Severity)
				}
			},
		},
		{
			name: "AUTH NTLM before TLS sends no password", dialogues: []reporttest.Dialogue{frontend(p.Good)},
			notWant: []string{DiagAuthBeforeTLS},
		},
		{
			name: "no AUTH after TLS on 587", dialogues: []reporttest.Dialogue{postfixNoAuth},
			want: []string{DiagNoAuthAfterTLS}, notWant: []string{DiagAuthBeforeTLS},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				if ep.TLSRequired != TLSRequiredTrue || ep.Server.Software != SoftwarePostfix {
					t.Errorf("TLS required %q, server %+v", ep.TLSRequired, ep.Server)
				}
			},
		},
		{
			name: "AUTH after TLS on 587", dialogues: []reporttest.Dialogue{client(p.Good)},
			notWant: []string{DiagNoAuthAfterTLS},
		},
		{
			name: "same port, another address, older certificate", dialogues: []reporttest.Dialogue{frontend(p.Good), secondNode}, of: 1,
			want: []string{DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagCertificateDiffers)
				if !strings.HasPrefix(d.Cause, "127.0.0.2 port 25 presents another certificate") || !strings.Contains(d.Cause, "than 127.0.0.1 port 25") {
					t.Errorf("cause = %q", d.Cause)
				}
				if len(d.Compare) != 2 || d.Compare[0].Differs || !d.Compare[1].Differs {
					t.Errorf("compare = %+v", d.Compare)
				}
				if !strings.Contains(strings.Join(d.Fix, "\n"), reporttest.SHA1(p.Good[0])) {
					t.Errorf("fix = %q, want the newer certificate bound", d.Fix)
				}
			},
		},
		{
			name: "Exchange's 465 speaks plain SMTP", dialogues: []reporttest.Dialogue{frontend(p.Good), plaintext465}, of: 1,
			want: []string{DiagPlaintextOnImplicitPort},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				if d := ep.Diagnoses[0]; !strings.Contains(d.Cause, `"Client Proxy EXCH01"`) || !strings.Contains(d.Cause, "587") {
					t.Errorf("cause = %q", d.Cause)
				}
			},
		},
		{
			name: "465 with implicit TLS", dialogues: []reporttest.Dialogue{frontend(p.Good), tls465}, of: 1,
			notWant: []string{DiagPlaintextOnImplicitPort},
		},
		{
			name: "the reference endpoint does not differ", dialogues: []reporttest.Dialogue{frontend(p.Good), secondNode}, of: 0,
			notWant: []string{DiagCertificateDiffers},
		},
		{
			name: "KB 2989382 with no certificate for the name seen: the fix selects one by the name", dialogues: []reporttest.Dialogue{kb},
			want: []string{DiagSTARTTLSMissingTLSRequired},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				fix := strings.Join(findDiagnosis(ep, DiagSTARTTLSMissingTLSRequired).Fix, "\n")
				for _, want := range []string{"$cert = Get-ExchangeCertificate | Where-Object { $_.CertificateDomains -contains 'mail.contoso.test' -and",
					"\nEnable-ExchangeCertificate -Thumbprint $cert.Thumbprint -Services SMTP\n"} {
					if !strings.Contains(fix, want) {
						t.Errorf("fix lacks %q:\n%s", want, fix)
					}
				}
			},
		},
		{
			name: "the ports presenting the reference are named lowest first", dialogues: []reporttest.Dialogue{client(p.Good), frontend(p.Good), hub(p.GoodOld)}, of: 2,
			want: []string{DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				d := findDiagnosis(ep, DiagCertificateDiffers)
				if !strings.HasPrefix(d.Cause, "Port 2525 presents another certificate") || !strings.Contains(d.Cause, " than port 25, port 587 (") {
					t.Errorf("cause = %q", d.Cause)
				}
				want := []Place{{Address: "127.0.0.1", Port: 25, ServicePort: 25}, {Address: "127.0.0.1", Port: 587, ServicePort: 587}}
				if len(d.Compare) != 2 || d.Compare[0].Differs || !slices.Equal(d.Compare[0].Places, want) {
					t.Errorf("compare = %+v, want the reference first at %+v", d.Compare, want)
				}
			},
		},
		{
			name: "another certificate on Postfix 25 is set in main.cf", dialogues: []reporttest.Dialogue{postfixDialogue(25, p.GoodOld), postfixDialogue(587, p.Good)},
			want: []string{DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				want := []string{"postconf -e 'smtpd_tls_chain_files = /etc/postfix/mail.contoso.test.pem'", "postfix reload"}
				if fix := findDiagnosis(ep, DiagCertificateDiffers).Fix; !slices.Equal(fix, want) {
					t.Errorf("fix %q, want %q", fix, want)
				}
			},
		},
		{
			name: "another certificate on Postfix 465 is set in master.cf", dialogues: []reporttest.Dialogue{postfixDialogue(25, p.Good), postfixDialogue(465, p.GoodOld)}, of: 1,
			want: []string{DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				want := []string{"postconf -P 'submissions/inet/smtpd_tls_chain_files=/etc/postfix/mail.contoso.test.pem'", "postfix reload"}
				if fix := findDiagnosis(ep, DiagCertificateDiffers).Fix; !slices.Equal(fix, want) {
					t.Errorf("fix %q, want %q", fix, want)
				}
			},
		},
		{
			name: "another certificate on Exim names the files for the name", dialogues: []reporttest.Dialogue{eximDialogue(25, p.GoodOld), eximDialogue(587, p.Good)},
			want: []string{DiagCertificateDiffers},
			check: func(t *testing.T, p reporttest.DiagPKI, ep Endpoint) {
				fix := findDiagnosis(ep, DiagCertificateDiffers).Fix
				if ep.Server.Software != SoftwareExim || !slices.Contains(fix, "#   tls_certificate = /etc/exim4/mail.contoso.test.crt") {
					t.Errorf("server %s, fix:\n%s", ep.Server.Software, strings.Join(fix, "\n"))
				}
			},
		},
	}
}

func TestDiagnosisRules(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	for _, tc := range ruleCases(p) {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			sum := judgeDialogues(t, p, tc.dialogues...)
			ep := sum.Endpoints[tc.of]
			ids := diagnosisIDs(ep)
			for _, id := range tc.want {
				if !slices.Contains(ids, id) {
					t.Errorf("diagnoses %q lack %q", ids, id)
				}
			}
			for _, id := range tc.notWant {
				if slices.Contains(ids, id) {
					t.Errorf("diagnoses %q include %q", ids, id)
				}
			}
			for _, d := range ep.Diagnoses {
				if d.Cause == "" || strings.Count(strings.TrimSuffix(d.Cause, "."), ". ") > 0 && !strings.Contains(d.Cause, "KB") {
					t.Errorf("%s: cause %q is not one sentence", d.ID, d.Cause)
				}
				if d.Severity.status() != Skipped && Worse(ep.Status, d.Severity.status()) != ep.Status {
					t.Errorf("%s (%s) does not count in the endpoint status %s", d.ID, d.Severity, ep.Status)
				}
			}
			if tc.check != nil && !t.Failed() {
				tc.check(t, p, ep)
			}
		})
	}
}

// Without a name to go by (an address probed, no --name), the fixes hold a
// placeholder or a neutral file name rather than a name nobody gave.
func TestFixesWithoutAName(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	kb := p.Scenarios()["exchange-kb2989382"][0]
	cases := []struct {
		name      string
		dialogues []reporttest.Dialogue
		diagnosis string
		want      string // in the fix
	}{
		{name: "Postfix", dialogues: []reporttest.Dialogue{postfixDialogue(25, p.GoodOld), postfixDialogue(587, p.Good)}, diagnosis: DiagCertificateDiffers,
			want: "postconf -e 'smtpd_tls_chain_files = /etc/postfix/mail.pem'"},
		{name: "Exim", dialogues: []reporttest.Dialogue{eximDialogue(25, p.GoodOld), eximDialogue(587, p.Good)}, diagnosis: DiagCertificateDiffers,
			want: "#   tls_certificate = /etc/exim4/<FQDN clients use>.crt"},
		{name: "Exchange, KB 2989382", dialogues: []reporttest.Dialogue{kb}, diagnosis: DiagSTARTTLSMissingTLSRequired,
			want: "$cert = Get-ExchangeCertificate | Where-Object { $_.CertificateDomains -contains '<FQDN clients use>' -and"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var results []probe.Result
			for _, d := range tc.dialogues {
				r := d.Result(t)
				r.Endpoint.Target, r.Endpoint.Host = r.Address, r.Address
				results = append(results, r)
			}
			ep := Judge(results, Expect{Roots: p.Roots()}, reporttest.DiagNow).Endpoints[0]
			if ep.ExpectedName != "" {
				t.Fatalf("expected name %q, want none", ep.ExpectedName)
			}
			d := findDiagnosis(ep, tc.diagnosis)
			if d == nil {
				t.Fatalf("no %s among %q", tc.diagnosis, diagnosisIDs(ep))
			}
			if fix := strings.Join(d.Fix, "\n"); !strings.Contains(fix, tc.want) {
				t.Errorf("fix lacks %q:\n%s", tc.want, fix)
			}
		})
	}
}

func TestJudgeTLSRequired(t *testing.T) {
	t.Parallel()
	tests := []struct {
		reply    []string
		software Software
		err      bool
		want     TLSRequired
		reason   string
	}{
		{reply: []string{"451 5.7.3 STARTTLS is required to send mail"}, want: TLSRequiredTrue},
		{reply: []string{"530 5.7.0 Must issue a STARTTLS command first"}, want: TLSRequiredTrue},
		{reply: []string{"451 5.7.3 Must issue a STARTTLS command first"}, want: TLSRequiredTrue},
		// RFC 4954's "Authentication required" shares 530 5.7.0 with
		// Postfix's STARTTLS refusal: only the text tells them apart.
		{reply: []string{"530 5.7.0 Authentication required"}, want: TLSRequiredUnknown, reason: reasonOtherRefusal},
		// A 250 says "not required" only where the software decides at
		// MAIL; Exim (RCPT ACL) and maddy refuse at RCPT.
		{reply: []string{"250 2.1.0 Sender OK"}, software: SoftwareExchange, want: TLSRequiredFalse},
		{reply: []string{"250 2.1.0 Ok"}, software: SoftwarePostfix, want: TLSRequiredFalse},
		{reply: []string{"250 OK"}, software: SoftwareExim, want: TLSRequiredUnknown, reason: reasonMaybeAtRCPT},
		{reply: []string{"250 2.0.0 Roger, accepting mail from <>"}, software: SoftwareUnknown, want: TLSRequiredUnknown, reason: reasonMaybeAtRCPT},
		{reply: []string{"530 5.7.1 Client was not authenticated"}, want: TLSRequiredUnknown, reason: reasonOtherRefusal},
		{reply: []string{"530 5.7.57 Client not authenticated to send mail."}, want: TLSRequiredUnknown, reason: reasonOtherRefusal},
		{reply: []string{"421 4.7.0 Too many errors on this connection, closing transmission channel"}, want: TLSRequiredUnknown, reason: reasonOtherRefusal},
		{err: true, want: TLSRequiredUnknown, reason: reasonNoReply},
	}
	for _, tc := range tests {
		test := &probe.TLSRequiredTest{Mail: reporttest.ReplyOf(t, tc.reply)}
		if tc.err {
			test.Error = &probe.Error{Phase: probe.PhaseEHLO, Err: context.DeadlineExceeded}
		}
		if got, reason := judgeTLSRequired(test, tc.software); got != tc.want || reason != tc.reason {
			t.Errorf("%q from %s: %q (%q), want %q (%q)", tc.reply, tc.software, got, reason, tc.want, tc.reason)
		}
	}
	if got, _ := judgeTLSRequired(nil, SoftwareExchange); got != TLSRequiredNotTested {
		t.Errorf("not tested: %q", got)
	}
}

func TestRecognizeServer(t *testing.T) {
	t.Parallel()
	ehlo := func(kws ...string) *probe.Reply {
		return &probe.Reply{Code: 250, Lines: append([]string{"mx Hello"}, kws...)}
	}
	tests := []struct {
		name     string
		banner   string
		ehlo     *probe.Reply
		software Software
		server   string
		masked   bool
	}{
		{"Exchange banner", "EXCH01.contoso.test Microsoft ESMTP MAIL Service ready at Sat, 15 Jun 2030 13:59:58 +0200", nil, SoftwareExchange, "EXCH01", false},
		{"Exchange modern banner in capitals", "exch02.contoso.test MICROSOFT ESMTP MAIL SERVICE READY AT Sat, 15 Jun 2030 13:59:58 +0200", nil, SoftwareExchange, "EXCH02", false},
		{"Exchange by its extensions", "mail.contoso.test ready", ehlo("X-EXPS GSSAPI NTLM"), SoftwareExchange, "MAIL", false},
		{"Exchange 2010 XEXCH50", "hub ready", ehlo("XEXCH50"), SoftwareExchange, "HUB", false},
		{"Exchange X-LINK2STATE", "hub ready", ehlo("X-LINK2STATE"), SoftwareExchange, "HUB", false},
		{"masked banner", "*******************************0****2*****************", nil, SoftwareUnknown, "", true},
		{"masked banner, Exchange extensions", "************************************", ehlo("X-ANONYMOUSTLS"), SoftwareExchange, "", true},
		{"Postfix", "mx.contoso.test ESMTP Postfix (Debian/GNU)", nil, SoftwarePostfix, "MX", false},
		{"Exim", "mx.contoso.test ESMTP Exim 4.96 Sat, 15 Jun 2030 12:00:00 +0000", nil, SoftwareExim, "MX", false},
		{"Sendmail", "mx.contoso.test ESMTP Sendmail 8.17.1/8.17.1; Sat, 15 Jun 2030", nil, SoftwareSendmail, "MX", false},
		{"unknown", "mx.contoso.test ESMTP ready", ehlo("PIPELINING", "STARTTLS"), SoftwareUnknown, "MX", false},
	}
	for _, tc := range tests {
		r := probe.Result{Banner: &probe.Reply{Code: 220, Lines: []string{tc.banner}}, EHLO: tc.ehlo}
		s := recognizeServer(&r)
		if s.Software != tc.software || s.ServerName() != tc.server || s.Masked != tc.masked {
			t.Errorf("%s: %+v (server %q), want %s, %q, masked %v", tc.name, s, s.ServerName(), tc.software, tc.server, tc.masked)
		}
	}
	if got := exchangeConnector(717, "EXCH01"); got != "Outbound Proxy Frontend EXCH01" {
		t.Errorf("717: %q", got)
	}
	if got := exchangeConnector(465, "EXCH01"); got != "Client Proxy EXCH01" {
		t.Errorf("465: %q", got)
	}
}

func TestDefaultCertificates(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
	oneYear := reporttest.MakeCert(t, reporttest.CertSpec{Seed: "one-year", Subject: pkix.Name{CommonName: reporttest.DiagServer},
		DNSNames: []string{reporttest.DiagServer, reporttest.DiagServer + "." + reporttest.DiagDomain}, From: y(2030), To: y(2031)}, nil, "")
	fqdnCN := reporttest.MakeCert(t, reporttest.CertSpec{Seed: "fqdn-cn", Subject: pkix.Name{CommonName: "exch01.contoso.test"},
		DNSNames: []string{"exch01", "exch01.contoso.test"}, From: y(2027), To: y(2032)}, nil, "")
	otherSAN := reporttest.MakeCert(t, reporttest.CertSpec{Seed: "other-san", Subject: pkix.Name{CommonName: reporttest.DiagServer},
		DNSNames: []string{reporttest.DiagServer, "mail.contoso.test"}, From: y(2027), To: y(2032)}, nil, "")
	caIssued := reporttest.MakeCert(t, reporttest.CertSpec{Seed: "ca-issued", Subject: pkix.Name{CommonName: reporttest.DiagServer},
		DNSNames: []string{reporttest.DiagServer, reporttest.DiagServer + "." + reporttest.DiagDomain}, From: y(2027), To: y(2032)}, p.Issuing, "issuing")
	tests := []struct {
		name        string
		cert        *x509.Certificate
		dflt, authC bool
	}{
		{"default", p.Default[0], true, false},
		{"auth", p.Auth[0], false, true},
		{"one year", oneYear, false, false},
		{"FQDN as CN", fqdnCN, false, false},
		{"SAN not under the CN", otherSAN, false, false},
		{"CA-issued", caIssued, false, false},
		{"good", p.Good[0], false, false},
	}
	for _, tc := range tests {
		if got := isExchangeDefaultCertificate(tc.cert); got != tc.dflt {
			t.Errorf("%s: isExchangeDefaultCertificate = %v", tc.name, got)
		}
		if got := isExchangeAuthCertificate(tc.cert); got != tc.authC {
			t.Errorf("%s: isExchangeAuthCertificate = %v", tc.name, got)
		}
	}
	// The real thing, as probetest makes it: RSA 2048, five years.
	real, err := probetest.ExchangeDefaultCertificate(reporttest.DiagServer, reporttest.DiagDomain, time.Now().Add(-time.Hour))
	if err != nil {
		t.Fatal(err)
	}
	if !isExchangeDefaultCertificate(real.Leaf()) {
		t.Errorf("probetest's default certificate is not recognised")
	}
}

func TestPSQuote(t *testing.T) {
	t.Parallel()
	for in, want := range map[string]string{
		`EXCH01\Client Frontend EXCH01`: `'EXCH01\Client Frontend EXCH01'`,
		`O'Brien`:                       `'O''Brien'`,
		"O\u2019Brien":                  "'O\u2019\u2019Brien'",
		`$(Remove-Item C:\)`:            `'$(Remove-Item C:\)'`,
		`"quoted"`:                      `'"quoted"'`,
	} {
		if got := psQuote(in); got != want {
			t.Errorf("psQuote(%q) = %q, want %q", in, got, want)
		}
	}
}

// With two addresses on port 25, "the renewed certificate is presented on
// port 25" would name the port that presents the expired one too: the
// address says which node.
func TestRenewalNamedByAddress(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	expired, renewed := reporttest.Frontend(p.Expired), reporttest.Frontend(p.Renewed)
	expired.Address, renewed.Address = "127.0.0.1", "127.0.0.2"
	sum := judgeDialogues(t, p, expired, renewed)
	d := findDiagnosis(sum.Endpoints[0], DiagExpiredCertificate)
	if d == nil {
		t.Fatalf("no %s diagnosis: %v", DiagExpiredCertificate, diagnosisIDs(sum.Endpoints[0]))
	}
	if want := "is presented on 127.0.0.2 port 25"; !strings.Contains(d.Cause, want) {
		t.Errorf("cause %q lacks %q", d.Cause, want)
	}
}

// byAddress is a dialogue's result as probed by address: the host is the
// address itself, as when a run lists addresses (with or without --name).
func byAddress(t *testing.T, d reporttest.Dialogue, addr string) probe.Result {
	t.Helper()
	d.Address = addr
	r := d.Result(t)
	r.Endpoint.Target, r.Endpoint.Host = addr, addr
	return r
}

// TestHostGroupedByName: with --name, endpoints probed by address are one
// mail host and their certificates are compared; without it, each address
// is its own host and nothing is compared across them.
func TestHostGroupedByName(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	results := []probe.Result{
		byAddress(t, reporttest.Frontend(p.Good), "127.0.0.1"),
		byAddress(t, reporttest.Frontend(p.GoodOld), "127.0.0.2"),
	}
	named := Judge(results, diagExpect(p), reporttest.DiagNow)
	if d := findDiagnosis(named.Endpoints[1], DiagCertificateDiffers); d == nil || !strings.HasPrefix(d.Cause, "127.0.0.2 port 25 presents another certificate") {
		t.Errorf("with --name, the second address: %v, want %s", diagnosisIDs(named.Endpoints[1]), DiagCertificateDiffers)
	}
	unnamed := Judge(results, Expect{Roots: p.Roots()}, reporttest.DiagNow)
	for i, ep := range unnamed.Endpoints {
		if findDiagnosis(ep, DiagCertificateDiffers) != nil {
			t.Errorf("without --name, address %d is compared with another host: %v", i, diagnosisIDs(ep))
		}
	}
}

// TestDiagnosisWording pins the parts of causes and fixes that name the
// place, the certificate and the connector's FQDN.
func TestDiagnosisWording(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	frontend, client := reporttest.Frontend, reporttest.Client

	t.Run("one address: places are ports", func(t *testing.T) {
		sum := judgeDialogues(t, p, frontend(p.Expired), client(p.Renewed))
		d := findDiagnosis(sum.Endpoints[0], DiagExpiredCertificate)
		if d == nil || !strings.Contains(d.Cause, "is presented on port 587)") {
			t.Errorf("expired-certificate: %+v, want the renewal placed on \"port 587\"", d)
		}
	})
	t.Run("the renewal found is the one bound", func(t *testing.T) {
		// Good is newer than Renewed, and has the same subject: the fix
		// binds the renewal the cause names, not the newest good one.
		tls465 := reporttest.Dialogue{Role: 465, Script: reporttest.ExchangeScript(probetest.ClientProxy, true, false, false), Chain: p.Good}
		sum := judgeDialogues(t, p, frontend(p.Expired), client(p.Renewed), tls465)
		d := findDiagnosis(sum.Endpoints[0], DiagExpiredCertificate)
		if d == nil {
			t.Fatalf("no %s: %v", DiagExpiredCertificate, diagnosisIDs(sum.Endpoints[0]))
		}
		renewed := reporttest.SHA1(p.Renewed[0])
		if !strings.Contains(d.Cause, renewed) || !slices.Contains(d.Fix, "Enable-ExchangeCertificate -Thumbprint "+renewed+" -Services SMTP") {
			t.Errorf("cause %q, fix %q: want the renewal %s bound", d.Cause, d.Fix, renewed)
		}
	})
	t.Run("name mismatch names what the certificate covers", func(t *testing.T) {
		sum := judgeDialogues(t, p, client(p.WrongName))
		d := findDiagnosis(sum.Endpoints[0], DiagNameMismatch)
		if d == nil || !strings.Contains(d.Cause, "presents a certificate for DNS:legacy.contoso.test, not mail.contoso.test") {
			t.Errorf("name-mismatch: %+v", d)
		}
	})
	t.Run("certificate-differs names the port and the certificates", func(t *testing.T) {
		sum := judgeDialogues(t, p, frontend(p.Good), client(p.WrongName))
		d := findDiagnosis(sum.Endpoints[1], DiagCertificateDiffers)
		want := "Port 587 presents another certificate (CN=legacy.contoso.test, valid until 2031-01-01, SHA-1 " + reporttest.SHA1(p.WrongName[0]) +
			") than port 25 (CN=mail.contoso.test, valid until 2031-01-01, SHA-1 " + reporttest.SHA1(p.Good[0]) + ")"
		if d == nil || !strings.HasPrefix(d.Cause, want) {
			t.Errorf("certificate-differs: %+v\nwant a cause starting %q", d, want)
		}
	})
	t.Run("a certificate without a CN is described by its subject", func(t *testing.T) {
		y := func(year int) time.Time { return time.Date(year, 1, 1, 0, 0, 0, 0, time.UTC) }
		noCN := []*x509.Certificate{reporttest.MakeCert(t, reporttest.CertSpec{Seed: "no-cn", Subject: pkix.Name{Organization: []string{"Contoso"}},
			DNSNames: []string{reporttest.DiagName}, From: y(2029), To: y(2031)}, p.Issuing, "issuing"), p.Issuing}
		sum := judgeDialogues(t, p, frontend(p.Good), client(noCN))
		d := findDiagnosis(sum.Endpoints[1], DiagCertificateDiffers)
		if d == nil || !strings.HasPrefix(d.Cause, "Port 587 presents another certificate (O=Contoso, valid until 2031-01-01, SHA-1 ") {
			t.Errorf("certificate-differs: %+v", d)
		}
	})
	t.Run("2525 of a server that does not say what it is keeps Exchange's default certificate", func(t *testing.T) {
		// A masked or silent banner could be Exchange's back end: its
		// default certificate there is by design, not a difference.
		unknownHub := reporttest.Dialogue{Role: 2525, Chain: p.Default, Script: probetest.Script{
			Greeting: []string{"220 ********************"}, EHLO: []string{"250-mx", "250 STARTTLS"}, EHLOAfterTLS: []string{"250-mx", "250 PIPELINING"}}}
		sum := judgeDialogues(t, p, frontend(p.Good), unknownHub)
		if ep := sum.Endpoints[1]; ep.Server.Software != SoftwareUnknown || findDiagnosis(ep, DiagCertificateDiffers) != nil {
			t.Errorf("2525: server %+v, diagnoses %v: want unknown and no %s", ep.Server, diagnosisIDs(ep), DiagCertificateDiffers)
		}
	})
	t.Run("default certificate on 587: the fix sets the FQDN clients use", func(t *testing.T) {
		named := judgeDialogues(t, p, client(p.Default), client(p.Good))
		d := findDiagnosis(named.Endpoints[0], DiagDefaultCertificate)
		if d == nil || !strings.Contains(strings.Join(d.Fix, "\n"), " -Fqdn mail.contoso.test -TlsCertificateName ") {
			t.Errorf("with --name: %+v, want -Fqdn mail.contoso.test", d)
		}
		unnamed := Judge([]probe.Result{byAddress(t, client(p.Default), "127.0.0.1")}, Expect{Roots: p.Roots()}, reporttest.DiagNow)
		d = findDiagnosis(unnamed.Endpoints[0], DiagDefaultCertificate)
		if d == nil || strings.Contains(strings.Join(d.Fix, "\n"), "-Fqdn") {
			t.Errorf("no name known: %+v, want no -Fqdn", d)
		}
	})
}

// TestMaskedKeywordLength: an EHLO keyword of four or more X's (the last
// letter may be kept) is ESMTP inspection's mask, and names the cause of a
// missing STARTTLS; a shorter one is no evidence of it.
func TestMaskedKeywordLength(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	for _, tc := range []struct {
		keyword string
		want    string
	}{
		{"XXXX", DiagSMTPInspection},
		{"XXXA", DiagSMTPInspection},
		{"XXA", DiagSTARTTLSMissing},
	} {
		d := reporttest.Dialogue{Role: 25, Script: probetest.Script{
			Greeting: []string{"220 mx.contoso.test ESMTP ready"},
			EHLO:     []string{"250-mx.contoso.test", "250-" + tc.keyword, "250 PIPELINING"}}}
		ids := diagnosisIDs(judgeDialogues(t, p, d).Endpoints[0])
		if !slices.Equal(ids, []string{tc.want}) {
			t.Errorf("EHLO keyword %s: diagnoses %q, want %s alone", tc.keyword, ids, tc.want)
		}
	}
}

// TestMaskChosen: of several masked keywords, the one most like STARTTLS's
// mask is named (its length, its last letter kept); among equals, the
// first.
func TestMaskChosen(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	for _, tc := range []struct {
		keywords []string
		want     string
	}{
		{[]string{"XXXX", "XXXXXXXX", "XXXXXXXA", "XXXXX"}, `"XXXXXXXA"`},
		{[]string{"XXXX", "XXXXX"}, `"XXXX"`},
		{[]string{"XXXXXXXA", "XXXXXXXB"}, `"XXXXXXXA"`},
	} {
		ehlo := []string{"250-mx.contoso.test"}
		for _, kw := range tc.keywords {
			ehlo = append(ehlo, "250-"+kw)
		}
		d := reporttest.Dialogue{Role: 25, Script: probetest.Script{
			Greeting: []string{"220 mx.contoso.test ESMTP ready"}, EHLO: append(ehlo, "250 PIPELINING")}}
		x := findDiagnosis(judgeDialogues(t, p, d).Endpoints[0], DiagSMTPInspection)
		if x == nil || !strings.Contains(x.Cause, tc.want+" stands where STARTTLS should be") {
			t.Errorf("keywords %q: %+v, want %s named", tc.keywords, x, tc.want)
		}
	}
}

// TestAuthInAShortEHLOReply: a two-line EHLO reply (the greeting line and
// AUTH) offers AUTH as much as a long one.
func TestAuthInAShortEHLOReply(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	for _, auth := range []string{"250 AUTH PLAIN LOGIN", "250 AUTH=LOGIN"} {
		d := reporttest.Dialogue{Role: 587, Chain: p.Good, Script: reporttest.PostfixScript(
			[]string{auth}, []string{"250 AUTH PLAIN LOGIN"}, false)}
		ep := judgeDialogues(t, p, d).Endpoints[0]
		if x := findDiagnosis(ep, DiagAuthBeforeTLS); x == nil || !strings.Contains(x.Cause, "LOGIN") {
			t.Errorf("EHLO %q: diagnoses %v, want %s", auth, diagnosisIDs(ep), DiagAuthBeforeTLS)
		}
	}
}

// An Exchange server whose banner names the very FQDN clients use gives no
// server name: the connector's -Identity is then written for the server
// itself ($env:COMPUTERNAME), with the default connector's name where the
// port has one and a placeholder where it has none.
func TestConnectorIdentityWithoutAServerName(t *testing.T) {
	t.Parallel()
	p := reporttest.NewDiagPKI(t)
	server, domain, found := strings.Cut(reporttest.DiagName, ".")
	if !found {
		t.Fatalf("DiagName %q has no domain", reporttest.DiagName)
	}
	for role, want := range map[int]string{
		587:  `Get-ReceiveConnector "$env:COMPUTERNAME\Client Frontend $env:COMPUTERNAME" | Format-List`,
		2526: `Get-ReceiveConnector "$env:COMPUTERNAME\<connector on port 2526>" | Format-List`,
	} {
		ex := probetest.Exchange{Server: strings.ToUpper(server), Domain: domain, Connector: probetest.ExchangeConnector(role), Exchange2019: true,
			Now: reporttest.DiagNow}
		r := reporttest.Dialogue{Role: role, Script: ex.Script()}.Result(t)
		ep := Judge([]probe.Result{r}, diagExpect(p), reporttest.DiagNow).Endpoints[0]
		d := findDiagnosis(ep, DiagSTARTTLSMissing)
		if d == nil {
			t.Fatalf("port %d: no %s among %q (server %+v)", role, DiagSTARTTLSMissing, diagnosisIDs(ep), ep.Server)
		}
		if fix := strings.Join(d.Fix, "\n"); !strings.Contains(fix, want) {
			t.Errorf("port %d: fix lacks %q:\n%s", role, want, fix)
		}
	}
}
