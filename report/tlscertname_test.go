package report

import (
	"crypto/x509"
	"crypto/x509/pkix"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"github.com/starttls-probe/starttls-probe/report/reporttest"
)

// issueNamed makes a certificate with the given subject, signed by a CA
// named issuer (deterministic keys, from reporttest).
func issueNamed(t testing.TB, issuer, subject pkix.Name) *x509.Certificate {
	t.Helper()
	now := time.Now()
	ca := reporttest.MakeCert(t, reporttest.CertSpec{Seed: "ca " + issuer.String(), Subject: issuer, CA: true,
		From: now.Add(-time.Hour), To: now.Add(time.Hour)}, nil, "")
	return reporttest.MakeCert(t, reporttest.CertSpec{Seed: "leaf " + subject.String(), Subject: subject, DNSNames: []string{"mail.contoso.com"},
		From: now.Add(-time.Hour), To: now.Add(time.Hour)}, ca, "ca "+issuer.String())
}

// kbIssuer and kbSubject rebuild the example of KB 2989382 ("<I>CN=...,
// OU=..., O=..., C=US<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location,
// S=location, C=US"), with a made-up CA in place of the dots.
func kbIssuer() pkix.Name {
	return pkix.Name{CommonName: "Contoso Issuing CA", OrganizationalUnit: []string{"PKI"}, Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}}
}

func kbSubject() pkix.Name {
	return pkix.Name{CommonName: "mail.contoso.com", OrganizationalUnit: []string{"IT"}, Organization: []string{"contoso"},
		Locality: []string{"location"}, Province: []string{"location"}, Country: []string{"US"}}
}

const kbTLSCertificateName = `<I>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd", C=US<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location, S=location, C=US`

func findCheck(t *testing.T, checks []Check, id string) Check {
	t.Helper()
	for _, c := range checks {
		if c.ID == id {
			return c
		}
	}
	t.Fatalf("no %s check in %+v", id, checks)
	return Check{}
}

func TestCheckTLSCertificateName(t *testing.T) {
	t.Parallel()
	leaf := issueNamed(t, kbIssuer(), kbSubject())
	renewed := issueNamed(t, kbIssuer(), pkix.Name{CommonName: "mail.contoso.com", Organization: []string{"Contoso"}, Country: []string{"US"}})
	otherCA := issueNamed(t, pkix.Name{CommonName: "Fabrikam CA", Country: []string{"US"}}, kbSubject())
	cases := []struct {
		name        string
		leaf        *x509.Certificate
		flag        string
		want        Status
		wantMessage []string
	}{
		{"flag absent", leaf, "", Skipped, []string{"no --tls-certificate-name given"}},
		{"no certificate presented", nil, kbTLSCertificateName, Skipped, []string{"no certificate presented"}},
		{"same certificate", leaf, kbTLSCertificateName, OK, []string{kbTLSCertificateName}},
		{"same certificate, other spacing and label case", leaf,
			`<I>cn=Contoso Issuing CA,ou=PKI,o="Contoso, Ltd",c=US<S>cn=mail.contoso.com,ou=IT,o=contoso,l=location,st=location,c=US`, OK, nil},
		{"subject differs", renewed, kbTLSCertificateName, Critical,
			[]string{"the subject differs", "connector: " + kbTLSCertificateName, "presented: " + dotnetname.TLSCertificateName(renewed), "12014", "KB 2989382"}},
		{"issuer differs", otherCA, kbTLSCertificateName, Critical, []string{"the issuer differs", "Fabrikam CA"}},
		{"unreadable flag", leaf, "CN=mail.contoso.com", Unknown, []string{"cannot read --tls-certificate-name"}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			r := probe.Result{Endpoint: probe.Endpoint{Host: "mail.contoso.com", Port: 25}, Banner: &probe.Reply{Code: 220, Lines: []string{"mail.contoso.com Microsoft ESMTP MAIL Service ready"}}}
			if tc.leaf != nil {
				r.Chain = []*x509.Certificate{tc.leaf}
			}
			sum := Judge([]probe.Result{r}, Expect{TLSCertificateName: tc.flag, Roots: x509.NewCertPool()}, time.Now())
			c := findCheck(t, sum.Endpoints[0].Checks, CheckTLSCertificateName)
			if c.Status != tc.want {
				t.Errorf("status %s, want %s (%s)", c.Status, tc.want, c.Message)
			}
			for _, w := range tc.wantMessage {
				if !strings.Contains(c.Message, w) {
					t.Errorf("message %q lacks %q", c.Message, w)
				}
			}
			if tc.want == Critical && sum.Status != Critical {
				t.Errorf("summary status %s, want CRITICAL", sum.Status)
			}
		})
	}
}
