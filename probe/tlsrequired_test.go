package probe_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// exchangeConnector is the scripted Exchange receive connector of the
// tests, under the name the probe expects (EXCH01.contoso.test).
func exchangeConnector(t *testing.T, connector probetest.ExchangeConnector, chain *probetest.Chain, requireTLS, masked bool) *probetest.Server {
	t.Helper()
	return probetest.NewExchange(t, probetest.Exchange{
		Server: "EXCH01", Domain: "contoso.test", Connector: connector,
		Chain: chain, RequireTLS: requireTLS, Masked: masked,
	})
}

// tlsRequiredCommands is what the TLS-required connection must say, in this
// order, and nothing more.
var tlsRequiredCommands = []string{"EHLO " + ehloName, "MAIL FROM:<>", "RSET", "QUIT"}

func TestTLSRequiredTest(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	tests := []struct {
		name     string
		server   func(t *testing.T) *probetest.Server
		code     int
		enhanced string
		text     string
		starttls bool
		// goSMTP servers do not record commands; the transcript shows
		// what was sent to them.
		goSMTP bool
	}{
		{
			name: "Exchange KB 2989382: no certificate, TLS required",
			server: func(t *testing.T) *probetest.Server {
				return exchangeConnector(t, probetest.DefaultFrontend, nil, true, false)
			},
			code:     451,
			enhanced: "5.7.3",
			text:     "5.7.3 STARTTLS is required to send mail",
		},
		{
			name: "Exchange with TLS required and STARTTLS offered",
			server: func(t *testing.T) *probetest.Server {
				return exchangeConnector(t, probetest.DefaultFrontend, chain, true, false)
			},
			code:     451,
			enhanced: "5.7.3",
			text:     "5.7.3 STARTTLS is required to send mail",
			starttls: true,
		},
		{
			name: "Exchange accepting plaintext",
			server: func(t *testing.T) *probetest.Server {
				return exchangeConnector(t, probetest.DefaultFrontend, chain, false, false)
			},
			code:     250,
			enhanced: "2.1.0",
			text:     "2.1.0 Sender OK",
			starttls: true,
		},
		{
			name: "Postfix at smtpd_tls_security_level = encrypt",
			server: func(t *testing.T) *probetest.Server {
				return probetest.NewServer(t, probetest.Config{Chain: chain, Domain: mailName, RequireTLS: true})
			},
			code:     530,
			enhanced: "5.7.0",
			text:     "5.7.0 Must issue a STARTTLS command first",
			starttls: true,
			goSMTP:   true,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := tc.server(t)
			res := probe.Probe(context.Background(), endpointOf(s), options())
			if res.STARTTLSOffered != tc.starttls {
				t.Errorf("STARTTLS offered = %v, want %v", res.STARTTLSOffered, tc.starttls)
			}
			test := res.TLSRequired
			if test == nil {
				t.Fatal("no TLS-required test in the result")
			}
			if test.Error != nil {
				t.Fatalf("test failed: %v", test.Error)
			}
			if test.Mail == nil || test.Mail.Code != tc.code || test.Mail.EnhancedCode() != tc.enhanced || test.Mail.Text() != tc.text {
				t.Fatalf("MAIL reply = %+v, want %d %s", test.Mail, tc.code, tc.text)
			}
			if test.Banner == nil || test.Banner.Code != 220 || test.EHLO == nil || test.EHLO.Code != 250 {
				t.Errorf("banner %+v, EHLO %+v: want the greeting and EHLO of the test's own connection", test.Banner, test.EHLO)
			}
			var client []string
			for _, l := range test.Transcript {
				if l.TLS {
					t.Errorf("transcript line %+v under TLS: the test never starts TLS", l)
				}
				if l.Dir == probe.FromClient {
					client = append(client, l.Text)
				}
			}
			if !slices.Equal(client, tlsRequiredCommands) {
				t.Errorf("test's client lines = %q, want %q", client, tlsRequiredCommands)
			}
			// The main dialogue never asks for a transaction.
			for _, l := range res.Transcript {
				if l.Dir == probe.FromClient && (strings.HasPrefix(l.Text, "MAIL") || l.Text == "RSET") {
					t.Errorf("main dialogue sent %q", l.Text)
				}
			}
			if tc.goSMTP {
				return
			}
			s.Close()
			cmds := s.Commands()
			for _, cmd := range cmds {
				if !allowedCommand(cmd) {
					t.Errorf("the probe sent %q; it may only send EHLO, STARTTLS, MAIL FROM:<>, RSET, NOOP and QUIT", cmd)
				}
			}
			if n := countOf(cmds, "MAIL FROM:<>"); n != 1 {
				t.Errorf("MAIL FROM:<> sent %d times in %q, want once", n, cmds)
			}
			if !isSubsequence(cmds, tlsRequiredCommands) {
				t.Errorf("commands = %q, want %q in this order", cmds, tlsRequiredCommands)
			}
		})
	}
}

func countOf(list []string, s string) int {
	n := 0
	for _, x := range list {
		if x == s {
			n++
		}
	}
	return n
}

func TestTLSRequiredTestCanBeTurnedOff(t *testing.T) {
	t.Parallel()
	s := exchangeConnector(t, probetest.DefaultFrontend, newChain(t), true, false)
	opts := options()
	opts.NoTLSRequiredTest = true
	res := probe.Probe(context.Background(), endpointOf(s), opts)
	if res.TLSRequired != nil {
		t.Errorf("TLSRequired = %+v, want nil with NoTLSRequiredTest", res.TLSRequired)
	}
	s.Close()
	for _, cmd := range s.Commands() {
		if strings.HasPrefix(cmd, "MAIL") || cmd == "RSET" {
			t.Errorf("sent %q with the test turned off", cmd)
		}
	}
}

func TestTLSRequiredTestNotOnImplicitTLS(t *testing.T) {
	t.Parallel()
	script := starttlsScript(newChain(t))
	script.Implicit = true
	s := probetest.NewScript(t, script)
	ep := endpointOf(s)
	ep.Implicit = true
	res := probe.Probe(context.Background(), ep, options())
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	if res.TLSRequired != nil {
		t.Errorf("TLSRequired = %+v on implicit TLS, want nil", res.TLSRequired)
	}
	s.Close()
	if n := countOf(s.Commands(), "MAIL FROM:<>"); n != 0 {
		t.Errorf("MAIL FROM:<> sent %d times on implicit TLS", n)
	}
}

// A server that refuses EHLO never hears MAIL: the test stops where the
// dialogue stops, and says where.
func TestTLSRequiredTestStopsAtARefusedEHLO(t *testing.T) {
	t.Parallel()
	s := probetest.NewScript(t, probetest.Script{
		Greeting: []string{"220 " + mailName + " ESMTP"},
		EHLO:     []string{"421 4.7.0 Too many connections"},
	})
	res := probe.Probe(context.Background(), endpointOf(s), options())
	test := res.TLSRequired
	if test == nil || test.Error == nil || test.Error.Phase != probe.PhaseEHLO || test.Mail != nil {
		t.Fatalf("TLSRequired = %+v, want an EHLO failure and no MAIL reply", test)
	}
	if test.EHLO == nil || test.EHLO.Code != 421 {
		t.Errorf("EHLO reply = %+v, want the 421 kept", test.EHLO)
	}
	s.Close()
	if n := countOf(s.Commands(), "MAIL FROM:<>"); n != 0 {
		t.Errorf("MAIL FROM:<> sent %d times after a refused EHLO", n)
	}
}

// The test shares the endpoint's deadline: a silent server costs the
// timeout once, not twice, and the test says it timed out.
func TestTLSRequiredTestKeepsTheEndpointDeadline(t *testing.T) {
	t.Parallel()
	s := probetest.NewScript(t, probetest.Script{}) // never greets
	opts := options()
	opts.Timeout = 300 * time.Millisecond
	start := time.Now()
	res := probe.Probe(context.Background(), endpointOf(s), opts)
	if took := time.Since(start); took > opts.Timeout+2*time.Second {
		t.Errorf("probe took %v with a %v timeout", took, opts.Timeout)
	}
	test := res.TLSRequired
	if test == nil || test.Error == nil || test.Error.Phase != probe.PhaseBanner {
		t.Fatalf("TLSRequired = %+v, want a banner failure", test)
	}
	if !errors.Is(test.Error, context.DeadlineExceeded) {
		t.Errorf("error = %v, want it to say the time ran out", test.Error)
	}
}

// The Exchange personality says what exchange-facts.md records.
func TestExchangePersonality(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	s := exchangeConnector(t, probetest.DefaultFrontend, chain, false, false)
	res := probe.Probe(context.Background(), endpointOf(s), options())
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	banner := res.Banner.Text()
	if !strings.HasPrefix(banner, "EXCH01.contoso.test Microsoft ESMTP MAIL Service ready at ") {
		t.Errorf("banner = %q", banner)
	}
	date := strings.TrimPrefix(banner, "EXCH01.contoso.test Microsoft ESMTP MAIL Service ready at ")
	if _, err := time.Parse("Mon, 2 Jan 2006 15:04:05 -0700", date); err != nil {
		t.Errorf("banner date %q is not RFC 822 with a numeric zone: %v", date, err)
	}
	before := strings.Join(res.EHLO.Keywords(), " ")
	if want := "SIZE PIPELINING DSN ENHANCEDSTATUSCODES STARTTLS X-ANONYMOUSTLS AUTH X-EXPS 8BITMIME BINARYMIME CHUNKING XRDST"; before != want {
		t.Errorf("EHLO keywords before TLS = %q, want %q", before, want)
	}
	after := strings.Join(res.EHLOAfterTLS.Keywords(), " ")
	if want := "SIZE PIPELINING DSN ENHANCEDSTATUSCODES AUTH X-EXPS 8BITMIME BINARYMIME CHUNKING XRDST"; after != want {
		t.Errorf("EHLO keywords after TLS = %q, want %q", after, want)
	}
	if !slices.Contains(res.EHLO.Lines, "AUTH NTLM") || !slices.Contains(res.EHLOAfterTLS.Lines, "AUTH NTLM LOGIN") {
		t.Errorf("AUTH lines: before %q, after %q: LOGIN must come only after TLS", res.EHLO.Lines, res.EHLOAfterTLS.Lines)
	}
	if res.STARTTLSReply == nil || res.STARTTLSReply.Text() != "2.0.0 SMTP server ready" {
		t.Errorf("STARTTLS reply = %+v", res.STARTTLSReply)
	}

	masked := exchangeConnector(t, probetest.DefaultFrontend, chain, false, true)
	res = probe.Probe(context.Background(), endpointOf(masked), options())
	if res.STARTTLSOffered || !res.EHLO.HasKeyword("XXXXXXXA") {
		t.Errorf("masked EHLO = %q, want XXXXXXXA in place of STARTTLS", res.EHLO.Lines)
	}
	if text := res.Banner.Text(); strings.Trim(text, "*20") != "" || !strings.Contains(text, "*") {
		t.Errorf("masked banner = %q, want asterisks but for 2 and 0", text)
	}
}
