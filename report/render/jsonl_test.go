package render_test

import (
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
	"github.com/starttls-probe/starttls-probe/report"
	"github.com/starttls-probe/starttls-probe/report/render"
)

// JSONL writes the same object as JSON, TlsCertificateName pasteable as is.
func TestJSONLineKeepsTLSCertificateNamePasteable(t *testing.T) {
	t.Parallel()
	chain, err := probetest.SelfSigned(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	res := probe.Result{
		Endpoint: probe.Endpoint{Host: "mx.test", Port: 25}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		TLS:   &probe.TLSState{Version: 0x0304, CipherSuite: 0x1301, HandshakeComplete: true},
		Chain: chain.Certs,
	}
	var line strings.Builder
	if err := render.JSONLines(&line, report.Judge([]probe.Result{res}, report.Expect{}, time.Now())); err != nil {
		t.Fatal(err)
	}
	if !strings.Contains(line.String(), `"<I>CN=mx.test<S>CN=mx.test"`) {
		t.Errorf("the JSONL line should carry the TlsCertificateName unescaped:\n%s", line.String())
	}
}
