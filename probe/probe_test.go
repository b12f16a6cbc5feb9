package probe_test

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"slices"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
	"unicode"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

const (
	ehloName = "probe.contoso.test"
	mailName = "mail.contoso.test"
)

// newChain issues a leaf for mail.contoso.test from a fresh CA, with the
// intermediate, as a well-configured server sends it.
func newChain(t *testing.T) *probetest.Chain {
	t.Helper()
	root, err := probetest.NewRootCA("Probe Test Root")
	if err != nil {
		t.Fatal(err)
	}
	issuing, err := root.NewIntermediate("Probe Test Issuing CA")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := issuing.Issue(probetest.Spec{CommonName: mailName, DNSNames: []string{mailName}})
	if err != nil {
		t.Fatal(err)
	}
	return chain
}

func endpointOf(s *probetest.Server) probe.Endpoint {
	return probe.Endpoint{Target: mailName, Host: mailName, Address: s.IP(), Port: s.Port()}
}

func options() probe.Options {
	return probe.Options{EHLOName: ehloName, Timeout: 10 * time.Second}
}

// starttlsScript is a well-behaved scripted server offering STARTTLS.
func starttlsScript(chain *probetest.Chain) probetest.Script {
	return probetest.Script{
		Greeting: []string{"220 " + mailName + " Microsoft ESMTP MAIL Service ready"},
		EHLO:     []string{"250-" + mailName + " Hello [127.0.0.1]", "250-SIZE 37748736", "250-PIPELINING", "250 STARTTLS"},
		EHLOAfterTLS: []string{"250-" + mailName + " Hello [127.0.0.1]", "250-SIZE 37748736", "250-PIPELINING",
			"250 AUTH LOGIN"},
		Chain: chain,
	}
}

func TestTranscript(t *testing.T) {
	t.Parallel()
	s := probetest.NewServer(t, probetest.Config{Chain: newChain(t), Domain: mailName})
	res := probe.Probe(context.Background(), endpointOf(s), options())
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}

	type clientLine struct {
		text string
		tls  bool
	}
	var client []clientLine
	sawTLS := false
	var last time.Duration
	for i, line := range res.Transcript {
		if line.Dir != probe.FromClient && line.Dir != probe.FromServer {
			t.Errorf("line %d: direction %q", i, line.Dir)
		}
		if line.At < last {
			t.Errorf("line %d at %v, before the line before it (%v)", i, line.At, last)
		}
		last = line.At
		// The handshake is not transcribed: every line is text.
		if strings.IndexFunc(line.Text, func(r rune) bool { return !unicode.IsPrint(r) }) >= 0 {
			t.Errorf("line %d %q is not plain text: TLS records leaked into the transcript", i, line.Text)
		}
		if line.TLS {
			sawTLS = true
		} else if sawTLS {
			t.Errorf("line %d %q is marked plaintext after TLS lines", i, line.Text)
		}
		if line.Dir == probe.FromClient {
			client = append(client, clientLine{line.Text, line.TLS})
		}
	}
	want := []clientLine{{"EHLO " + ehloName, false}, {"MAIL FROM:<>", false}, {"RSET", false}, {"STARTTLS", false}, {"EHLO " + ehloName, true}, {"QUIT", true}}
	if !slices.Equal(client, want) {
		t.Fatalf("client lines = %+v, want %+v", client, want)
	}

	first := res.Transcript[0]
	if first.Dir != probe.FromServer || first.TLS || !strings.HasPrefix(first.Text, "220 ") {
		t.Errorf("first line = %+v, want the plaintext banner", first)
	}
	// The 220 to STARTTLS is the last plaintext line; the second EHLO the
	// first line under TLS.
	i := slices.IndexFunc(res.Transcript, func(l probe.TranscriptLine) bool { return l.TLS })
	if i < 1 {
		t.Fatalf("no line marked TLS in %+v", res.Transcript)
	}
	if before := res.Transcript[i-1]; before.Dir != probe.FromServer || !strings.HasPrefix(before.Text, "220 ") {
		t.Errorf("last plaintext line = %+v, want the server's 220 to STARTTLS", before)
	}
	if after := res.Transcript[i]; after.Dir != probe.FromClient || after.Text != "EHLO "+ehloName {
		t.Errorf("first TLS line = %+v, want the client's second EHLO", after)
	}
	if final := res.Transcript[len(res.Transcript)-1]; !final.TLS || final.Dir != probe.FromServer || !strings.HasPrefix(final.Text, "221") {
		t.Errorf("last line = %+v, want the server's 221 to QUIT, under TLS", final)
	}
}

// isSubsequence reports whether want appears in got in order, other lines
// allowed between (other connections to the same server interleave).
func isSubsequence(got, want []string) bool {
	i := 0
	for _, g := range got {
		if i < len(want) && g == want[i] {
			i++
		}
	}
	return i == len(want)
}

func TestProbeSendsOnlyAllowedCommands(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	refuse := starttlsScript(chain)
	refuse.STARTTLS = []string{"454 4.7.0 TLS not available due to temporary reason"}
	noSTARTTLS := starttlsScript(chain)
	noSTARTTLS.EHLO = []string{"250-" + mailName, "250 SIZE 1000"}
	implicit := starttlsScript(chain)
	implicit.Implicit = true
	implicit.EHLO = implicit.EHLOAfterTLS

	// want is the dialogue without the TLS-required test, withTest with it:
	// on STARTTLS ports it asks for a transaction after EHLO, on the same
	// connection.
	tests := []struct {
		name     string
		script   probetest.Script
		implicit bool
		want     []string
		withTest []string
		phase    probe.Phase
	}{
		{name: "STARTTLS", script: starttlsScript(chain),
			want:     []string{"EHLO " + ehloName, "STARTTLS", "EHLO " + ehloName, "QUIT"},
			withTest: []string{"EHLO " + ehloName, "MAIL FROM:<>", "RSET", "STARTTLS", "EHLO " + ehloName, "QUIT"}},
		{name: "no STARTTLS", script: noSTARTTLS,
			want:     []string{"EHLO " + ehloName, "QUIT"},
			withTest: []string{"EHLO " + ehloName, "MAIL FROM:<>", "RSET", "QUIT"}},
		// A refusal after the test may be the test's doing (Courier):
		// STARTTLS is asked again on a connection without the test.
		{name: "STARTTLS refused", script: refuse, phase: probe.PhaseSTARTTLS,
			want: []string{"EHLO " + ehloName, "STARTTLS", "QUIT"},
			withTest: []string{"EHLO " + ehloName, "MAIL FROM:<>", "RSET", "STARTTLS", "QUIT",
				"EHLO " + ehloName, "STARTTLS", "QUIT"}},
		{name: "implicit TLS", script: implicit, implicit: true,
			want:     []string{"EHLO " + ehloName, "QUIT"},
			withTest: []string{"EHLO " + ehloName, "QUIT"}},
	}
	for _, tc := range tests {
		for _, withTLSRequiredTest := range []bool{false, true} {
			name := tc.name + "/main dialogue only"
			if withTLSRequiredTest {
				name = tc.name + "/with the TLS-required test"
			}
			t.Run(name, func(t *testing.T) {
				t.Parallel()
				s := probetest.NewScript(t, tc.script)
				ep := endpointOf(s)
				ep.Implicit = tc.implicit
				opts := options()
				opts.NoTLSRequiredTest = !withTLSRequiredTest
				res := probe.Probe(context.Background(), ep, opts)
				var phase probe.Phase
				if res.Error != nil {
					phase = res.Error.Phase
				}
				if phase != tc.phase {
					t.Fatalf("failed phase = %q (%v), want %q", phase, res.Error, tc.phase)
				}
				// Closing waits for the server's connections, so every
				// command it read is recorded.
				s.Close()
				cmds := s.Commands()
				for _, cmd := range cmds {
					if err := probe.CheckCommand(cmd, ""); err != nil {
						t.Errorf("the probe sent %q: %v", cmd, err)
					}
				}
				want := tc.want
				if withTLSRequiredTest {
					want = tc.withTest
				}
				if !slices.Equal(cmds, want) {
					t.Errorf("commands = %q, want exactly %q", cmds, want)
				}
				// The test's own connection, when it had one, came first.
				client := append(clientLines(tlsRequiredTranscript(res)), clientLines(res.Transcript)...)
				if !slices.Equal(client, want) {
					t.Errorf("transcript client lines = %q, want %q", client, want)
				}
			})
		}
	}
}

// TestEHLONameCannotSmuggleCommands: whatever EHLO name the options carry,
// the probe writes one allowed command per line; a name with a line break
// (which would smuggle "RCPT TO" after EHLO) fails the ehlo phase before
// anything is sent.
func TestEHLONameCannotSmuggleCommands(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	for _, name := range []string{
		"x\r\nRCPT TO:<victim@example.com>",
		"x\nDATA",
		"probe.test RCPT",
		"[192.0.2.1\r\nRSET]",
		"",
	} {
		t.Run(fmt.Sprintf("%q", name), func(t *testing.T) {
			t.Parallel()
			s := probetest.NewScript(t, starttlsScript(chain))
			opts := options()
			opts.EHLOName = name
			if name == "" {
				opts.EHLOName = "bad name"
			}
			res := probe.Probe(context.Background(), endpointOf(s), opts)
			if res.Error == nil || res.Error.Phase != probe.PhaseEHLO {
				t.Errorf("error = %v, want one in phase ehlo", res.Error)
			}
			s.Close()
			for _, cmd := range s.Commands() {
				if !strings.HasPrefix(cmd, "QUIT") {
					t.Errorf("server received %q", cmd)
				}
			}
		})
	}
	for _, good := range []string{"probe.contoso.test", "[192.0.2.1]", "[IPv6:2001:db8::1]"} {
		if err := probe.CheckEHLOName(good); err != nil {
			t.Errorf("CheckEHLOName(%q) = %v, want nil", good, err)
		}
	}
	for _, bad := range []string{"[2001:db8::1]", "[IPv6:192.0.2.1]", "[192.0.2.1", "a b", "x\r\n"} {
		if err := probe.CheckEHLOName(bad); err == nil {
			t.Errorf("CheckEHLOName(%q) = nil, want an error", bad)
		}
	}
}

func TestChainKeptWhenTheServerHangsUpAfterTheHandshake(t *testing.T) {
	t.Parallel()
	script := starttlsScript(newChain(t))
	script.CloseAfterHandshake = true
	s := probetest.NewScript(t, script)
	res := probe.Probe(context.Background(), endpointOf(s), options())
	if res.Error == nil || res.Error.Phase != probe.PhasePostTLS {
		t.Fatalf("Error = %v, want a post-tls failure", res.Error)
	}
	if len(res.Chain) != 2 || res.Leaf().Subject.CommonName != mailName {
		t.Errorf("chain has %d certificates, want the leaf and the intermediate", len(res.Chain))
	}
	if res.TLS == nil || !res.TLS.HandshakeComplete || res.TLS.Version == 0 || res.TLS.CipherSuite == 0 {
		t.Errorf("TLS = %+v, want the completed handshake's version and suite", res.TLS)
	}
}

// Plaintext sent after "220 Ready to start TLS" and before the handshake is
// an injection (CVE-2011-0411): it must fail, not be read as TLS or SMTP.
func TestPlaintextAfterSTARTTLSReply(t *testing.T) {
	t.Parallel()
	script := starttlsScript(newChain(t))
	script.STARTTLS = []string{"220 2.0.0 SMTP server ready", "250-injected", "250 PIPELINING"}
	s := probetest.NewScript(t, script)
	res := probe.Probe(context.Background(), endpointOf(s), options())
	if res.Error == nil || res.Error.Phase != probe.PhaseSTARTTLS {
		t.Fatalf("Error = %v, want a starttls failure", res.Error)
	}
	if !strings.Contains(res.Error.Error(), "plaintext after its 220 reply") {
		t.Errorf("Error = %q, want it to name the plaintext after 220", res.Error)
	}
	if res.STARTTLSReply == nil || res.STARTTLSReply.Code != 220 || res.TLS != nil {
		t.Errorf("STARTTLSReply = %+v, TLS = %+v; want the 220 kept and no handshake", res.STARTTLSReply, res.TLS)
	}
}

func TestRefusalsKeepTheReply(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name  string
		setup func(t *testing.T) *probetest.Server
		phase probe.Phase
		code  int
		enh   string
	}{
		{
			name: "banner 554",
			setup: func(t *testing.T) *probetest.Server {
				return probetest.NewServer(t, probetest.Config{Banner: "554 5.7.1 Access denied"})
			},
			phase: probe.PhaseBanner, code: 554, enh: "5.7.1",
		},
		{
			name: "EHLO 421",
			setup: func(t *testing.T) *probetest.Server {
				return probetest.NewScript(t, probetest.Script{
					Greeting: []string{"220 " + mailName + " ESMTP"},
					EHLO:     []string{"421 4.3.2 Service not available, closing transmission channel"},
				})
			},
			phase: probe.PhaseEHLO, code: 421, enh: "4.3.2",
		},
		{
			name: "STARTTLS 454",
			setup: func(t *testing.T) *probetest.Server {
				script := starttlsScript(nil)
				script.STARTTLS = []string{"454 4.7.0 TLS not available due to temporary reason"}
				return probetest.NewScript(t, script)
			},
			phase: probe.PhaseSTARTTLS, code: 454, enh: "4.7.0",
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			res := probe.Probe(context.Background(), endpointOf(tc.setup(t)), options())
			if res.Error == nil || res.Error.Phase != tc.phase {
				t.Fatalf("Error = %v, want a %s failure", res.Error, tc.phase)
			}
			var replyErr *probe.ReplyError
			if !errors.As(res.Error, &replyErr) {
				t.Fatalf("Error = %v (%T), want a *probe.ReplyError inside", res.Error, res.Error.Err)
			}
			if replyErr.Code != tc.code || replyErr.EnhancedCode != tc.enh {
				t.Errorf("ReplyError = %d %q, want %d %q", replyErr.Code, replyErr.EnhancedCode, tc.code, tc.enh)
			}
			// The text every format shows keeps the enhanced code.
			if want := fmt.Sprintf("server replied %d %s ", tc.code, tc.enh); !strings.HasPrefix(res.Error.Err.Error(), want) {
				t.Errorf("Error text = %q, want it to start %q", res.Error.Err.Error(), want)
			}
			if res.Error.Reply == nil || res.Error.Reply.Code != tc.code {
				t.Errorf("Error.Reply = %+v, want the %d reply", res.Error.Reply, tc.code)
			}
		})
	}
}

func TestTimeoutIsReportedAsSuch(t *testing.T) {
	t.Parallel()
	s := probetest.NewScript(t, probetest.Script{}) // accepts, never greets
	opts := options()
	opts.Timeout = 300 * time.Millisecond
	start := time.Now()
	res := probe.Probe(context.Background(), endpointOf(s), opts)
	took := time.Since(start)
	if res.Error == nil || res.Error.Phase != probe.PhaseBanner {
		t.Fatalf("Error = %v, want a banner failure", res.Error)
	}
	if !errors.Is(res.Error, context.DeadlineExceeded) || !strings.Contains(res.Error.Error(), "no answer within the 300ms timeout") {
		t.Errorf("Error = %q, want it to say the 300ms timeout ran out", res.Error)
	}
	// A deadline, not a speed test: the probe must end at its timeout.
	if limit := opts.Timeout + 2*time.Second; took > limit {
		t.Errorf("probe took %v with a %v timeout", took, opts.Timeout)
	}
}

func TestCancelIsReportedAsInterrupted(t *testing.T) {
	t.Parallel()
	s := probetest.NewScript(t, probetest.Script{})
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	res := probe.Probe(ctx, endpointOf(s), options())
	if res.Error == nil || !errors.Is(res.Error, context.Canceled) || !strings.Contains(res.Error.Error(), "interrupted") {
		t.Fatalf("Error = %v, want it to say the probe was interrupted", res.Error)
	}
}

// sniRecorder is a TLS config that records the SNI of each ClientHello.
func sniRecorder(chain *probetest.Chain) (*tls.Config, <-chan string) {
	seen := make(chan string, 4)
	cert := chain.TLSCertificate()
	return &tls.Config{GetCertificate: func(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
		seen <- hello.ServerName
		return &cert, nil
	}}, seen
}

func TestSNI(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name string
		host string
		opts func(*probe.Options)
		want string
	}{
		{name: "the host name by default", host: mailName, want: mailName},
		{name: "--sni", host: mailName, opts: func(o *probe.Options) { o.SNI = "autodiscover.contoso.test" }, want: "autodiscover.contoso.test"},
		{name: "--no-sni", host: mailName, opts: func(o *probe.Options) { o.NoSNI = true }, want: ""},
		{name: "none for an IP address", host: "127.0.0.1", want: ""},
		// crypto/tls sends no SNI for an IP literal: the record must say
		// what went on the wire, not what was asked for (issue 12).
		{name: "none for --sni 127.0.0.1", host: mailName, opts: func(o *probe.Options) { o.SNI = "127.0.0.1" }, want: ""},
		{name: "none for --sni ::1", host: mailName, opts: func(o *probe.Options) { o.SNI = "::1" }, want: ""},
		{name: "none for an IPv6 host", host: "::1", want: ""},
	}
	chain := newChain(t)
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			cfg, seen := sniRecorder(chain)
			script := starttlsScript(chain)
			script.TLSConfig = cfg
			s := probetest.NewScript(t, script)
			ep := endpointOf(s)
			ep.Host = tc.host
			opts := options()
			if tc.opts != nil {
				tc.opts(&opts)
			}
			res := probe.Probe(context.Background(), ep, opts)
			if res.Error != nil {
				t.Fatalf("probe failed: %v", res.Error)
			}
			if got := <-seen; got != tc.want {
				t.Errorf("server saw SNI %q, want %q", got, tc.want)
			}
			if res.TLS.ServerName != tc.want {
				t.Errorf("TLS.ServerName = %q, want %q", res.TLS.ServerName, tc.want)
			}
		})
	}
}

// A server that speaks only TLS 1.0 is reported as such, not as a failed
// handshake: the probe must show what old servers offer.
func TestOldTLSVersionIsObserved(t *testing.T) {
	t.Parallel()
	s := probetest.NewServer(t, probetest.Config{Chain: newChain(t), MinVersion: tls.VersionTLS10, MaxVersion: tls.VersionTLS10})
	res := probe.Probe(context.Background(), endpointOf(s), options())
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	if res.TLS == nil || res.TLS.Version != tls.VersionTLS10 {
		t.Fatalf("TLS = %+v, want TLS 1.0", res.TLS)
	}
}

// greetWhenAllConnected runs a minimal SMTP dialogue (no STARTTLS) that
// greets only once every one of the servers sharing all has a connection:
// probed one after another, the first would never be greeted.
func greetWhenAllConnected(all *sync.WaitGroup, arrived *sync.Once, released <-chan struct{}) func(c net.Conn) {
	return func(c net.Conn) {
		arrived.Do(all.Done)
		select {
		case <-released:
		case <-time.After(5 * time.Second):
			return
		}
		io.WriteString(c, "220 "+mailName+" ESMTP\r\n")
		r := bufio.NewReader(c)
		for {
			line, err := r.ReadString('\n')
			if err != nil {
				return
			}
			verb, _, _ := strings.Cut(strings.ToUpper(strings.TrimSpace(line)), " ")
			switch verb {
			case "QUIT":
				io.WriteString(c, "221 2.0.0 Bye\r\n")
				return
			case "EHLO":
				io.WriteString(c, "250 "+mailName+"\r\n")
			default:
				io.WriteString(c, "250 2.0.0 OK\r\n")
			}
		}
	}
}

func TestRunProbesEndpointsAtOnce(t *testing.T) {
	t.Parallel()
	const n = 3
	var all sync.WaitGroup
	all.Add(n)
	released := make(chan struct{})
	go func() { all.Wait(); close(released) }()
	var jobs []probe.Job
	for range n {
		s := probetest.NewScript(t, probetest.Script{Handler: greetWhenAllConnected(&all, new(sync.Once), released)})
		jobs = append(jobs, probe.Job{Endpoint: endpointOf(s)})
	}
	opts := options()
	// Every test server listens on 127.0.0.1: one address, which the
	// per-address bound (DefaultAddressConcurrency) would hold to two.
	opts.AddressConcurrency = n
	results := probe.Run(context.Background(), jobs, opts, nil)
	if len(results) != n {
		t.Fatalf("%d results for %d endpoints", len(results), n)
	}
	for i, res := range results {
		if res.Endpoint != jobs[i].Endpoint {
			t.Errorf("result %d is for %v, want %v", i, res.Endpoint, jobs[i].Endpoint)
		}
		if res.Error != nil || res.Banner == nil {
			t.Errorf("%v: %v; endpoints were not probed at the same time", res.Endpoint, res.Error)
		}
	}
}

// After a refusal the probe says QUIT, as RFC 5321 asks even after a 554
// greeting; after a 421 the server has closed, so it says nothing more.
func TestQuitAfterRefusal(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	script := func(edit func(*probetest.Script)) probetest.Script {
		sc := starttlsScript(chain)
		edit(&sc)
		return sc
	}
	tests := []struct {
		name   string
		script probetest.Script
		phase  probe.Phase
		want   []string
	}{
		{"554 greeting", script(func(sc *probetest.Script) { sc.Greeting = []string{"554 5.3.2 no SMTP service here"} }),
			probe.PhaseBanner, []string{"QUIT"}},
		{"550 to EHLO", script(func(sc *probetest.Script) { sc.EHLO = []string{"550 5.7.1 Access denied"} }),
			probe.PhaseEHLO, []string{"EHLO " + ehloName, "QUIT"}},
		{"421 to EHLO", script(func(sc *probetest.Script) { sc.EHLO = []string{"421 4.3.2 Service not available, closing channel"} }),
			probe.PhaseEHLO, []string{"EHLO " + ehloName}},
		{"454 to STARTTLS", script(func(sc *probetest.Script) {
			sc.STARTTLS = []string{"454 4.7.0 TLS not available due to temporary reason"}
		}),
			probe.PhaseSTARTTLS, []string{"EHLO " + ehloName, "STARTTLS", "QUIT"}},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := probetest.NewScript(t, tc.script)
			opts := options()
			opts.NoTLSRequiredTest = true
			res := probe.Probe(context.Background(), endpointOf(s), opts)
			if res.Error == nil || res.Error.Phase != tc.phase {
				t.Fatalf("error %v, want one in phase %s", res.Error, tc.phase)
			}
			s.Close()
			if cmds := s.Commands(); !slices.Equal(cmds, tc.want) {
				t.Errorf("the server heard %q, want %q", cmds, tc.want)
			}
		})
	}
}

// quitsSent counts the QUITs the probe wrote, from its transcripts: a
// server that has closed after the first cannot record a second.
func quitsSent(res probe.Result) int {
	n := 0
	for _, transcript := range [][]probe.TranscriptLine{res.Transcript, tlsRequiredTranscript(res)} {
		for _, line := range clientLines(transcript) {
			if line == "QUIT" {
				n++
			}
		}
	}
	return n
}

// One QUIT per session at most, and none after a 421 anywhere: the
// implicit-TLS path used to say QUIT twice when EHLO was refused, and the
// TLS-required test said QUIT after "421" to MAIL or RSET when STARTTLS
// was not offered (issue 12).
func TestNoSecondQUITAndNoneAfter421(t *testing.T) {
	t.Parallel()
	chain := newChain(t)
	script := func(edit func(*probetest.Script)) probetest.Script {
		sc := starttlsScript(chain)
		edit(&sc)
		return sc
	}
	noSTARTTLS := []string{"250-" + mailName + " Hello [127.0.0.1]", "250 PIPELINING"}
	tests := []struct {
		name     string
		script   probetest.Script
		implicit bool
		quits    int
	}{
		{"implicit TLS, 550 to EHLO", script(func(sc *probetest.Script) {
			// Under implicit TLS the script answers EHLO with EHLOAfterTLS.
			sc.Implicit, sc.EHLOAfterTLS = true, []string{"550 5.7.1 Access denied"}
		}), true, 1},
		{"implicit TLS, 421 to EHLO", script(func(sc *probetest.Script) {
			sc.Implicit, sc.EHLOAfterTLS = true, []string{"421 4.3.2 Service not available, closing transmission channel"}
		}), true, 0},
		{"implicit TLS, accepted", script(func(sc *probetest.Script) { sc.Implicit = true }), true, 1},
		{"421 to MAIL, no STARTTLS", script(func(sc *probetest.Script) {
			sc.EHLO, sc.Mail = noSTARTTLS, []string{"421 4.7.0 mail.contoso.test Error: too many errors"}
		}), false, 0},
		{"421 to RSET, no STARTTLS", script(func(sc *probetest.Script) {
			sc.EHLO, sc.RSET = noSTARTTLS, []string{"421 4.7.0 mail.contoso.test Error: too many errors"}
		}), false, 0},
		{"421 to MAIL, STARTTLS on a new connection", script(func(sc *probetest.Script) {
			sc.Mail = []string{"421 4.7.0 mail.contoso.test Error: too many errors"}
		}), false, 1},
		{"421 to STARTTLS", script(func(sc *probetest.Script) {
			sc.STARTTLS = []string{"421 4.3.2 Service not available, closing transmission channel"}
		}), false, 0},
		{"421 to EHLO after TLS", script(func(sc *probetest.Script) {
			sc.EHLOAfterTLS = []string{"421 4.3.2 Service not available, closing transmission channel"}
		}), false, 0},
		{"no STARTTLS, test passed", script(func(sc *probetest.Script) { sc.EHLO = noSTARTTLS }), false, 1},
		// The server is still talking, with a transaction left open: it
		// is owed a QUIT, once per session.
		{"RSET refused after MAIL accepted, no STARTTLS", script(func(sc *probetest.Script) {
			sc.EHLO, sc.RSET = noSTARTTLS, []string{"502 5.5.1 RSET not implemented"}
		}), false, 1},
		{"RSET refused after MAIL accepted, STARTTLS on a new connection", script(func(sc *probetest.Script) {
			sc.RSET = []string{"502 5.5.1 RSET not implemented"}
		}), false, 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			s := probetest.NewScript(t, tc.script)
			ep := endpointOf(s)
			ep.Implicit = tc.implicit
			res := probe.Probe(context.Background(), ep, options())
			s.Close()
			if got := quitsSent(res); got != tc.quits {
				t.Errorf("the probe sent %d QUITs, want %d (server heard %q)", got, tc.quits, s.Commands())
			}
			heard := 0
			for _, c := range s.Commands() {
				if c == "QUIT" {
					heard++
				}
			}
			if heard > tc.quits {
				t.Errorf("the server heard %d QUITs, want at most %d", heard, tc.quits)
			}
		})
	}
}

// A closed port refuses at once, default or not, and says so in a way a
// caller can test: errors.Is(err, syscall.ECONNREFUSED) (issue 12).
func TestRefusedPortIsTypedAsRefused(t *testing.T) {
	t.Parallel()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().(*net.TCPAddr)
	l.Close()
	for _, defaulted := range []bool{true, false} {
		ep := probe.Endpoint{Target: "127.0.0.1", Host: "127.0.0.1", Port: addr.Port, DefaultPort: defaulted}
		res := probe.Probe(context.Background(), ep, options())
		if res.Error == nil || res.Error.Phase != probe.PhaseConnect || !errors.Is(res.Error, syscall.ECONNREFUSED) {
			t.Errorf("DefaultPort %v: error %v, want connect refused (ECONNREFUSED)", defaulted, res.Error)
		}
		var ne net.Error
		if errors.As(res.Error, &ne) && ne.Timeout() {
			t.Errorf("DefaultPort %v: error %v reads as a timeout, want refused", defaulted, res.Error)
		}
		// What an admin reads, too: nothing about waiting.
		if strings.Contains(res.Error.Error(), "no answer within") {
			t.Errorf("DefaultPort %v: error %q speaks of a wait, want refused", defaulted, res.Error)
		}
	}
}

// Without --ehlo, EHLO says this machine's FQDN, or, when its host name is
// not dotted (a test VM's "vm"), the address literal of the connection's
// local address, on every connection (issue 12).
func TestDefaultEHLOName(t *testing.T) {
	t.Parallel()
	s := probetest.NewScript(t, starttlsScript(newChain(t)))
	want := "[" + s.IP() + "]"
	if s.IP() == "::1" {
		want = "[IPv6:::1]"
	}
	fqdn := ""
	if h, err := os.Hostname(); err == nil && strings.Contains(strings.Trim(h, "."), ".") && probe.CheckEHLOName(h) == nil {
		fqdn, want = h, h
	}
	if got := probe.DefaultEHLOName(); got != fqdn {
		t.Errorf("DefaultEHLOName() = %q, want %q", got, fqdn)
	}
	opts := options()
	opts.EHLOName = ""
	res := probe.Run(context.Background(), []probe.Job{{Endpoint: endpointOf(s)}}, opts, nil)[0]
	if res.Error != nil {
		t.Fatalf("probe failed: %v", res.Error)
	}
	s.Close()
	for _, cmd := range s.Commands() {
		if name, ok := strings.CutPrefix(cmd, "EHLO "); ok && name != want {
			t.Errorf("EHLO %q, want %q", name, want)
		}
	}
}

// NoTranscript records no transcript, and the result is otherwise the
// same: the checks never read it.
func TestNoTranscript(t *testing.T) {
	t.Parallel()
	srv := probetest.NewServer(t, probetest.Config{Chain: newChain(t)})
	with := probe.Probe(context.Background(), srv.Endpoint("mx.test", 25), probe.Options{})
	without := probe.Probe(context.Background(), srv.Endpoint("mx.test", 25), probe.Options{NoTranscript: true})
	if len(with.Transcript) == 0 || with.TLSRequired == nil {
		t.Fatalf("the default probe recorded no transcript or no TLS-required test: %+v", with)
	}
	if without.Transcript != nil || without.TLSRequired == nil || without.TLSRequired.Transcript != nil {
		t.Errorf("NoTranscript recorded one: %d lines", len(without.Transcript))
	}
	if without.Error != nil || !without.STARTTLSOffered || len(without.Chain) == 0 || without.EHLOAfterTLS == nil {
		t.Errorf("without a transcript the probe saw less: %+v", without)
	}
}
