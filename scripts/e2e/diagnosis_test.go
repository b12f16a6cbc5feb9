package e2e

import (
	"encoding/json"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// kbServer is an Exchange Default Frontend in the KB 2989382 state: no
// certificate found for its TlsCertificateName, so no STARTTLS, while it
// requires TLS.
func kbServer(t *testing.T) *probetest.Server {
	t.Helper()
	return probetest.NewExchange(t, probetest.Exchange{
		Server: "EXCH01", Domain: "contoso.test", Connector: probetest.DefaultFrontend, RequireTLS: true,
	})
}

type diagnosisDoc struct {
	Status  string `json:"status"`
	Results []struct {
		TLSRequired *struct {
			Required string `json:"required"`
			Reply    struct {
				Code         int    `json:"code"`
				EnhancedCode string `json:"enhanced_code"`
			} `json:"reply"`
		} `json:"tls_required"`
		Diagnosis []struct {
			ID  string   `json:"id"`
			Fix []string `json:"fix"`
		} `json:"diagnosis"`
	} `json:"results"`
}

func TestTLSRequiredAndDiagnosis(t *testing.T) {
	t.Parallel()
	srv := kbServer(t)
	r := runBinary(t, environ(), "--timeout", "10s", "-n", "mail.contoso.test", "-o", "json", srv.Addr())
	if r.code != 2 {
		t.Errorf("exit %d, want 2 (critical)\n%s", r.code, r)
	}
	var doc diagnosisDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("JSON: %v\n%s", err, r)
	}
	res := doc.Results[0]
	if res.TLSRequired == nil || res.TLSRequired.Required != "true" || res.TLSRequired.Reply.Code != 451 || res.TLSRequired.Reply.EnhancedCode != "5.7.3" {
		t.Errorf("tls_required = %+v, want true with 451 5.7.3", res.TLSRequired)
	}
	var ids []string
	for _, d := range res.Diagnosis {
		ids = append(ids, d.ID)
	}
	if !slices.Contains(ids, "starttls-missing-tls-required") {
		t.Errorf("diagnosis ids %q lack starttls-missing-tls-required\n%s", ids, r)
	}
	srv.Close()
	if cmds := srv.Commands(); !slices.Contains(cmds, "MAIL FROM:<>") {
		t.Errorf("commands %q: the TLS-required test did not run", cmds)
	}

	srv2 := kbServer(t)
	text := runBinary(t, environ(), "--timeout", "10s", "--no-color", "-n", "mail.contoso.test", srv2.Addr())
	for _, want := range []string{
		"TLS required  yes: MAIL FROM:<> before STARTTLS got 451 5.7.3 STARTTLS is required to send mail",
		"CRITICAL starttls-missing-tls-required",
		// A free port plays no default connector, so the identity says
		// which port's connector to look up.
		`Get-ReceiveConnector 'EXCH01\<connector on port ` + strconv.Itoa(srv2.Port()) + `>' | Set-ReceiveConnector -TlsCertificateName $null`,
	} {
		if !strings.Contains(text.stdout, want) {
			t.Errorf("text report lacks %q\n%s", want, text)
		}
	}
}

func TestNoTLSRequiredTestFlag(t *testing.T) {
	t.Parallel()
	srv := kbServer(t)
	r := runBinary(t, environ(), "--timeout", "10s", "-n", "mail.contoso.test", "-o", "json", "--no-tls-required-test", srv.Addr())
	var doc diagnosisDoc
	if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil || len(doc.Results) != 1 {
		t.Fatalf("JSON: %v\n%s", err, r)
	}
	if doc.Results[0].TLSRequired != nil {
		t.Errorf("tls_required = %+v, want null with --no-tls-required-test", doc.Results[0].TLSRequired)
	}
	// Without the test, STARTTLS missing is all that is known.
	var ids []string
	for _, d := range doc.Results[0].Diagnosis {
		ids = append(ids, d.ID)
	}
	if !slices.Contains(ids, "starttls-missing") || slices.Contains(ids, "starttls-missing-tls-required") {
		t.Errorf("diagnosis ids = %q, want starttls-missing only", ids)
	}
	srv.Close()
	for _, cmd := range srv.Commands() {
		if strings.HasPrefix(cmd, "MAIL") || cmd == "RSET" {
			t.Errorf("sent %q with --no-tls-required-test", cmd)
		}
	}
}
