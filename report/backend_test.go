package report_test

import (
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
)

// Exchange's default certificate belongs on the back-end port 2525: there the
// name and trust checks pass, so a cron check of a healthy Exchange server
// stays quiet; the same certificate anywhere else, or another self-signed
// certificate on 2525, still warns.
func TestDefaultCertificateOnBackendPort(t *testing.T) {
	t.Parallel()
	now := time.Now()
	exchangeDefault, err := probetest.SelfSigned(probetest.Spec{
		CommonName: "EXCH01",
		DNSNames:   []string{"EXCH01", "EXCH01.contoso.test"},
		NotBefore:  now.Add(-24 * time.Hour),
		NotAfter:   now.Add(5*365*24*time.Hour - 24*time.Hour),
	})
	if err != nil {
		t.Fatal(err)
	}
	otherSelfSigned, err := probetest.SelfSigned(probetest.Spec{CommonName: "mail.contoso.test", DNSNames: []string{"mail.contoso.test"}})
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		port  int
		chain *probetest.Chain
		want  map[string]report.Status
	}{
		{"default certificate on 2525", 2525, exchangeDefault, map[string]report.Status{report.CheckName: report.OK, report.CheckTrust: report.OK}},
		{"default certificate on 25", 25, exchangeDefault, map[string]report.Status{report.CheckName: report.Warning, report.CheckTrust: report.Warning}},
		{"other self-signed on 2525", 2525, otherSelfSigned, map[string]report.Status{report.CheckName: report.OK, report.CheckTrust: report.Warning}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			res := probe.Result{
				Endpoint:        probe.Endpoint{Target: "mail.contoso.test", Host: "mail.contoso.test", Port: tc.port},
				Address:         "127.0.0.1",
				Mode:            probe.ModeSTARTTLS,
				Banner:          &probe.Reply{Code: 220, Lines: []string{"EXCH01.contoso.test Microsoft ESMTP MAIL Service ready"}},
				EHLO:            &probe.Reply{Code: 250, Lines: []string{"EXCH01.contoso.test Hello", "STARTTLS"}},
				STARTTLSOffered: true,
				STARTTLSReply:   &probe.Reply{Code: 220, Lines: []string{"2.0.0 SMTP server ready"}},
				TLS:             &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
				Chain:           tc.chain.Certs,
			}
			sum := report.Judge([]probe.Result{res}, report.Expect{}, now)
			for _, c := range sum.Endpoints[0].Checks {
				if want, ok := tc.want[c.ID]; ok && c.Status != want {
					t.Errorf("%s: got %s (%s), want %s", c.ID, c.Status, c.Message, want)
				}
			}
		})
	}
}
