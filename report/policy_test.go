package report_test

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"net/http"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
	"github.com/starttls-probe/starttls-probe/report"
)

// policyCase is one mail domain, policy.test, with one MX host whose
// certificate is chain: its records are served by a loopback DNS server,
// its MTA-STS policy by a loopback HTTPS server, and its MX by a loopback
// SMTP server, all of them real.
type policyCase struct {
	name string
	// mxHost is the MX probed; "mx.policy.test" when empty.
	mxHost string
	// certNames are the names the MX certificate covers.
	certNames []string
	records   []string
	policy    *probetest.PolicyResponse
	// secure makes the DNS server set AD, as a validating resolver does.
	secure bool
	// tlsa makes a TLSA record from the served chain.
	tlsa func(chain *probetest.Chain) string
	// expiresIn, when set, is how long the MX certificate has left.
	expiresIn time.Duration

	wantExit int
	want     map[string]report.Status // check ID → status
	// wantIn are texts a check's message must hold.
	wantIn map[string]string
}

const (
	enforcePolicy = "version: STSv1\r\nmode: enforce\r\nmx: mx.policy.test\r\nmax_age: 604800\r\n"
	stsRecord     = `_mta-sts.policy.test. 300 IN TXT "v=STSv1; id=2024a"`
	rptRecord     = `_smtp._tls.policy.test. 300 IN TXT "v=TLSRPTv1; rua=mailto:tlsrpt@policy.test"`
)

func textPolicy(body string) *probetest.PolicyResponse {
	return &probetest.PolicyResponse{ContentType: "text/plain; charset=utf-8", Body: body}
}

func spkiSHA256(chain *probetest.Chain, i int) string {
	sum := sha256.Sum256(chain.Certs[i].RawSubjectPublicKeyInfo)
	return hex.EncodeToString(sum[:])
}

func certSHA256(chain *probetest.Chain, i int) string {
	sum := sha256.Sum256(chain.Certs[i].Raw)
	return hex.EncodeToString(sum[:])
}

func TestPolicies(t *testing.T) {
	t.Parallel()
	pki := newTestPKI(t)
	web := probetest.NewPolicyServer(t, pki.issue(t, forName("mta-sts.policy.test")))
	cases := []policyCase{
		{
			name: "enforce with a matching certificate", records: []string{stsRecord, rptRecord}, policy: textPolicy(enforcePolicy),
			wantExit: 0, want: map[string]report.Status{report.CheckMTASTS: report.OK, report.CheckName: report.OK, report.CheckTLSRPT: report.OK},
			wantIn: map[string]string{report.CheckMTASTS: "mode enforce", report.CheckTLSRPT: "mailto:tlsrpt@policy.test"},
		},
		{
			name: "enforce with a name mismatch on 25", certNames: []string{"other.test"}, records: []string{stsRecord, rptRecord}, policy: textPolicy(enforcePolicy),
			wantExit: 2, want: map[string]report.Status{report.CheckMTASTS: report.Critical, report.CheckName: report.Critical},
			wantIn: map[string]string{report.CheckName: "MTA-STS policy in enforce mode", report.CheckMTASTS: "certificate-host-mismatch"},
		},
		{
			name: "testing mode with a name mismatch", certNames: []string{"other.test"}, records: []string{stsRecord, rptRecord},
			policy:   textPolicy(strings.Replace(enforcePolicy, "enforce", "testing", 1)),
			wantExit: 1, want: map[string]report.Status{report.CheckMTASTS: report.Warning, report.CheckName: report.Warning},
			wantIn: map[string]string{report.CheckName: "testing mode", report.CheckMTASTS: "RFC 8461 4.2"},
		},
		{
			name: "policy answers 404", certNames: []string{"other.test"}, records: []string{stsRecord, rptRecord}, policy: &probetest.PolicyResponse{Status: http.StatusNotFound},
			wantExit: 1, want: map[string]report.Status{report.CheckMTASTS: report.Warning, report.CheckName: report.Warning},
			wantIn: map[string]string{report.CheckMTASTS: "sts-policy-fetch-error", report.CheckName: "TLS between servers is opportunistic"},
		},
		{
			name: "policy redirects", records: []string{stsRecord, rptRecord}, policy: &probetest.PolicyResponse{Status: http.StatusFound, Location: "https://www.policy.test/"},
			wantExit: 1, want: map[string]report.Status{report.CheckMTASTS: report.Warning},
			wantIn: map[string]string{report.CheckMTASTS: "must not follow"},
		},
		{
			name: "an MX not covered in enforce mode", mxHost: "new-mx.policy.test", records: []string{stsRecord, rptRecord}, policy: textPolicy(enforcePolicy),
			wantExit: 2, want: map[string]report.Status{report.CheckMTASTS: report.Critical, report.CheckName: report.OK},
			wantIn: map[string]string{report.CheckMTASTS: "matches no mx pattern"},
		},
		{
			name: "a wildcard covers one label", records: []string{stsRecord, rptRecord},
			policy:   textPolicy(strings.Replace(enforcePolicy, "mx: mx.policy.test", "mx: *.policy.test", 1)),
			wantExit: 0, want: map[string]report.Status{report.CheckMTASTS: report.OK},
		},
		{
			name: "a wildcard does not cover two labels", mxHost: "a.mx.policy.test", records: []string{stsRecord, rptRecord},
			policy:   textPolicy(strings.Replace(enforcePolicy, "mx: mx.policy.test", "mx: *.policy.test", 1)),
			wantExit: 2, want: map[string]report.Status{report.CheckMTASTS: report.Critical},
			wantIn: map[string]string{report.CheckMTASTS: "validation-failure"},
		},
		{
			name: "max_age of a year", records: []string{stsRecord, rptRecord}, policy: textPolicy(strings.Replace(enforcePolicy, "604800", "31557600", 1)),
			wantExit: 0, want: map[string]report.Status{report.CheckMTASTS: report.OK},
		},
		{
			name: "max_age above a year", records: []string{stsRecord, rptRecord}, policy: textPolicy(strings.Replace(enforcePolicy, "604800", "31557601", 1)),
			wantExit: 1, want: map[string]report.Status{report.CheckMTASTS: report.Warning},
			wantIn: map[string]string{report.CheckMTASTS: "max_age 31557601 is above the 31557600 seconds (a year)"},
		},
		{
			name: "MTA-STS without TLS-RPT", records: []string{stsRecord}, policy: textPolicy(enforcePolicy),
			wantExit: 0, want: map[string]report.Status{report.CheckTLSRPT: report.OK},
			wantIn: map[string]string{report.CheckTLSRPT: "hint: publish one"},
		},
		{
			name: "malformed TLS-RPT", records: []string{stsRecord, `_smtp._tls.policy.test. 300 IN TXT "v=TLSRPTv1; rua=tlsrpt@policy.test"`}, policy: textPolicy(enforcePolicy),
			wantExit: 1, want: map[string]report.Status{report.CheckTLSRPT: report.Warning},
			wantIn: map[string]string{report.CheckTLSRPT: "neither mailto: nor https:"},
		},
		{
			name: "no policy at all", certNames: []string{"other.test"},
			wantExit: 1, want: map[string]report.Status{report.CheckMTASTS: report.Skipped, report.CheckTLSRPT: report.Skipped, report.CheckName: report.Warning},
			wantIn: map[string]string{report.CheckName: "opportunistic"},
		},
		{
			name: "DANE-EE matches the leaf, whatever its name", certNames: []string{"other.test"}, secure: true,
			tlsa:     func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 0) },
			wantExit: 1, want: map[string]report.Status{report.CheckDANE: report.OK, report.CheckName: report.Warning},
			wantIn: map[string]string{report.CheckDANE: "3 1 1 matches the leaf", report.CheckTLSRPT: "hint"},
		},
		{
			name: "DANE-EE does not match", secure: true,
			tlsa:     func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 1) },
			wantExit: 2, want: map[string]report.Status{report.CheckDANE: report.Critical},
			wantIn: map[string]string{report.CheckDANE: "tlsa-invalid"},
		},
		{
			name: "DANE-TA matches the issuing CA", secure: true,
			tlsa:     func(c *probetest.Chain) string { return "2 0 1 " + certSHA256(c, 1) },
			wantExit: 0, want: map[string]report.Status{report.CheckDANE: report.OK},
			wantIn: map[string]string{report.CheckDANE: "certificate 2 of the chain"},
		},
		{
			name: "DANE-TA matches, but the leaf is not for the MX host", certNames: []string{"other.test"}, secure: true,
			tlsa:     func(c *probetest.Chain) string { return "2 0 1 " + certSHA256(c, 1) },
			wantExit: 2, want: map[string]report.Status{report.CheckDANE: report.Critical, report.CheckName: report.Critical},
			wantIn: map[string]string{report.CheckName: "DANE senders"},
		},
		{
			name: "a 3 0 1 record pins a leaf that expires soon", secure: true, expiresIn: 10 * 24 * time.Hour,
			tlsa:     func(c *probetest.Chain) string { return "3 0 1 " + certSHA256(c, 0) },
			wantExit: 1, want: map[string]report.Status{report.CheckDANE: report.Warning, report.CheckExpiry: report.Warning},
			wantIn: map[string]string{report.CheckDANE: "publish its TLSA record first"},
		},
		{
			name: "a 3 1 1 record survives a renewal with the same key", secure: true, expiresIn: 10 * 24 * time.Hour,
			tlsa:     func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 0) },
			wantExit: 1, want: map[string]report.Status{report.CheckDANE: report.OK},
		},
		{
			name: "TLSA from a resolver that does not validate",
			tlsa: func(c *probetest.Chain) string { return "3 1 1 " + spkiSHA256(c, 0) },
			// dnstest answers DS without AD: nothing shows it validates.
			wantExit: 1, want: map[string]report.Status{report.CheckDANE: report.Warning},
			wantIn: map[string]string{report.CheckDANE: "did not say whether"},
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			mxHost := tc.mxHost
			if mxHost == "" {
				mxHost = "mx.policy.test"
			}
			names := tc.certNames
			if names == nil {
				names = []string{mxHost}
			}
			spec := forName(names...)
			if tc.expiresIn != 0 {
				spec.NotAfter = time.Now().Add(tc.expiresIn)
			}
			chain := pki.issue(t, spec)
			srv := probetest.NewServer(t, probetest.Config{Chain: chain, Domain: mxHost})
			ep := srv.Endpoint(mxHost, 25)
			ep.Domain = "policy.test"
			records := append([]string{}, tc.records...)
			if tc.tlsa != nil {
				records = append(records, "_25._tcp."+mxHost+". 300 IN TLSA "+tc.tlsa(chain))
			}
			dns := dnstest.New(t, records...)
			dns.SetAuthenticData(tc.secure)
			opts := probe.Options{ResolverAddr: dns.Addr(), Resolver: probe.NewResolver(dns.Addr()), Timeout: 10 * time.Second}
			policyWeb := web
			if tc.policy != nil {
				// A server of its own per case: cases run in parallel.
				policyWeb = probetest.NewPolicyServer(t, pki.issue(t, forName("mta-sts.policy.test")))
				policyWeb.Set("policy.test", *tc.policy)
			}
			opts.PolicyHTTPSAddr = policyWeb.Addr()
			jobs := []probe.Job{{Endpoint: ep}}
			expect := pki.expect()
			expect.Policies = probe.ObservePolicies(context.Background(), jobs, opts)
			opts.NoTLSRequiredTest = true
			result := probe.Probe(context.Background(), ep, opts)
			sum := report.Judge([]probe.Result{result}, expect, time.Now())
			got := sum.Endpoints[0]
			checks := map[string]report.Check{}
			for _, c := range got.Checks {
				checks[c.ID] = c
			}
			for id, want := range tc.want {
				if checks[id].Status != want {
					t.Errorf("%s: %v %q, want %v", id, checks[id].Status, checks[id].Message, want)
				}
			}
			for id, text := range tc.wantIn {
				if !strings.Contains(checks[id].Message, text) {
					t.Errorf("%s: %q does not say %q", id, checks[id].Message, text)
				}
			}
			if sum.ExitCode() != tc.wantExit {
				t.Errorf("exit %d, want %d; problems %+v", sum.ExitCode(), tc.wantExit, sum.Problems)
			}
			if len(sum.Policies) != 1 || sum.Policies[0].Domain != "policy.test" {
				t.Errorf("policies %+v, want one for policy.test", sum.Policies)
			}
		})
	}
}
