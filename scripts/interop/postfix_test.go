package interop

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// expectedName is the name the good certificates are for and what every
// probe run expects (-n).
const expectedName = "mail.interop.test"

// Protocol exclusion lists: -o values cannot hold spaces, and Postfix wants
// both the opportunistic and the mandatory list.
const onlyTLS12 = "!SSLv2,!SSLv3,!TLSv1,!TLSv1.1,!TLSv1.3"

// jsonReport is the part of the probe's -o json document the tests read,
// decoded from the public schema (README.md), not from report's types.
type jsonReport struct {
	Status  string `json:"status"`
	Results []struct {
		Target          string `json:"target"`
		Status          string `json:"status"`
		STARTTLSOffered bool   `json:"starttls_offered"`
		Server          *struct {
			Software string   `json:"software"`
			Evidence []string `json:"evidence"`
		} `json:"server"`
		Banner *struct {
			Code int `json:"code"`
		} `json:"banner"`
		Error *struct {
			Phase   string `json:"phase"`
			Message string `json:"message"`
		} `json:"error"`
		TLS *struct {
			Version string `json:"version"`
		} `json:"tls"`
		Chain []struct {
			Subject    string `json:"subject"`
			SHA1       string `json:"sha1"`
			SelfSigned bool   `json:"self_signed"`
		} `json:"chain"`
		Checks []struct {
			ID      string `json:"id"`
			Status  string `json:"status"`
			Message string `json:"message"`
		} `json:"checks"`
		Diagnosis []struct {
			ID       string `json:"id"`
			Severity string `json:"severity"`
		} `json:"diagnosis"`
		TLSRequired *struct {
			Required string `json:"required"`
			Reply    *struct {
				Code int `json:"code"`
			} `json:"reply"`
			STARTTLSRefusedAfter *struct {
				Code int `json:"code"`
			} `json:"starttls_refused_after_test"`
		} `json:"tls_required"`
		// Transcript is there with -v.
		Transcript []struct {
			Dir  string `json:"dir"`
			TLS  bool   `json:"tls"`
			Text string `json:"text"`
		} `json:"transcript"`
	} `json:"results"`
}

// fixture is one Postfix instance with a listener per TLS setup, and what
// the tests need to know about it.
type fixture struct {
	binary, rootPEM string
	// addr and leafSHA1 by listener name; leafSHA1 is computed
	// independently from the PEM file Postfix serves.
	addr     map[string]string
	leafSHA1 map[string]string
}

func TestPostfix(t *testing.T) {
	requirePostfix(t)
	f := newFixture(t)

	t.Run("probe", func(t *testing.T) {
		type want struct {
			exit       int
			starttls   bool
			tlsVersion string // "" when no TLS session is expected
			chainLen   int
			selfSigned bool
			checks     map[string]string // check ID -> status
			// tlsRequired is the verdict, mailCode the reply to MAIL
			// FROM:<> before STARTTLS.
			tlsRequired string
			mailCode    int
		}
		cases := []struct {
			name     string
			listener string
			args     []string
			want     want
		}{{
			name:     "good chain and matching thumbprint",
			listener: "good",
			args:     []string{"--thumbprint", f.leafSHA1["good"]},
			want: want{exit: 0, starttls: true, tlsVersion: "TLS 1.3", chainLen: 2, checks: map[string]string{
				"connect": "ok", "starttls": "ok", "handshake": "ok", "name": "ok", "thumbprint": "ok",
				"trust": "ok", "expiry": "ok", "protocol": "ok",
			}, tlsRequired: "false", mailCode: 250},
		}, {
			name:     "good chain, another certificate's thumbprint expected",
			listener: "good",
			args:     []string{"--thumbprint", f.leafSHA1["self-signed"]},
			want: want{exit: 2, starttls: true, tlsVersion: "TLS 1.3", chainLen: 2, checks: map[string]string{
				"name": "ok", "thumbprint": "critical", "trust": "ok",
			}},
		}, {
			// A high port plays port 25's part: a wrong name is a
			// warning, as server-to-server TLS is opportunistic.
			name:     "certificate for another name",
			listener: "other-name",
			want: want{exit: 1, starttls: true, tlsVersion: "TLS 1.3", chainLen: 2, checks: map[string]string{
				"starttls": "ok", "handshake": "ok", "name": "warning", "thumbprint": "skipped", "trust": "ok",
			}},
		}, {
			name:     "self-signed certificate, TLS 1.2 only",
			listener: "self-signed",
			args:     []string{"--thumbprint", f.leafSHA1["self-signed"]},
			want: want{exit: 1, starttls: true, tlsVersion: "TLS 1.2", chainLen: 1, selfSigned: true, checks: map[string]string{
				"handshake": "ok", "name": "ok", "thumbprint": "ok", "trust": "warning", "protocol": "ok",
			}},
		}, {
			// Postfix at smtpd_tls_security_level = encrypt refuses MAIL
			// FROM:<> and then starts TLS on the same connection.
			name:     "TLS required",
			listener: "tls-required",
			args:     []string{"-v"},
			want: want{exit: 0, starttls: true, tlsVersion: "TLS 1.3", chainLen: 2, checks: map[string]string{
				"starttls": "ok", "handshake": "ok", "name": "ok", "trust": "ok",
			}, tlsRequired: "true", mailCode: 530},
		}, {
			name:     "STARTTLS off",
			listener: "no-starttls",
			want: want{exit: 2, starttls: false, chainLen: 0, checks: map[string]string{
				"connect": "ok", "starttls": "critical", "handshake": "skipped", "name": "skipped",
				"trust": "skipped", "protocol": "skipped",
			}, tlsRequired: "false", mailCode: 250},
		}}
		for _, tc := range cases {
			t.Run(tc.name, func(t *testing.T) {
				t.Parallel()
				rep, exit := f.probe(t, append(tc.args, f.addr[tc.listener])...)
				if exit != tc.want.exit {
					t.Errorf("exit status %d, want %d", exit, tc.want.exit)
				}
				if len(rep.Results) != 1 {
					t.Fatalf("%d results, want 1", len(rep.Results))
				}
				r := rep.Results[0]
				if r.Error != nil {
					t.Errorf("error in phase %s: %s", r.Error.Phase, r.Error.Message)
				}
				if r.Banner == nil || r.Banner.Code != 220 {
					t.Errorf("banner %+v, want a 220 greeting", r.Banner)
				}
				if r.Server == nil || r.Server.Software != "postfix" {
					t.Errorf("server %+v, want software postfix (from the banner)", r.Server)
				}
				if r.STARTTLSOffered != tc.want.starttls {
					t.Errorf("starttls_offered %v, want %v", r.STARTTLSOffered, tc.want.starttls)
				}
				switch {
				case tc.want.tlsVersion == "" && r.TLS != nil:
					t.Errorf("tls %+v, want none", *r.TLS)
				case tc.want.tlsVersion != "" && (r.TLS == nil || r.TLS.Version != tc.want.tlsVersion):
					t.Errorf("tls %+v, want version %s", r.TLS, tc.want.tlsVersion)
				}
				if len(r.Chain) != tc.want.chainLen {
					t.Fatalf("chain of %d certificates, want %d", len(r.Chain), tc.want.chainLen)
				}
				if len(r.Chain) > 0 {
					if got, want := r.Chain[0].SHA1, f.leafSHA1[tc.listener]; got != want {
						t.Errorf("leaf sha1 %s, want %s (openssl's, of the file Postfix serves)", got, want)
					}
					if r.Chain[0].SelfSigned != tc.want.selfSigned {
						t.Errorf("leaf self_signed %v, want %v", r.Chain[0].SelfSigned, tc.want.selfSigned)
					}
				}
				checks := map[string]string{}
				for _, c := range r.Checks {
					checks[c.ID] = c.Status
				}
				for id, want := range tc.want.checks {
					if checks[id] != want {
						t.Errorf("check %s is %q, want %q (all: %v)", id, checks[id], want, r.Checks)
					}
				}
				if tc.want.tlsRequired != "" {
					if req := r.TLSRequired; req == nil || req.Required != tc.want.tlsRequired || req.Reply == nil || req.Reply.Code != tc.want.mailCode {
						t.Errorf("tls_required %+v, want %q with a %d reply", req, tc.want.tlsRequired, tc.want.mailCode)
					}
				}
				// -v asks for the transcript: its absence is a failure, not a
				// reason to skip the check that MAIL and RSET stay in plaintext
				// on the connection that goes on to STARTTLS.
				if slices.Contains(tc.args, "-v") {
					if len(r.Transcript) == 0 {
						t.Errorf("-v gave no transcript")
					}
					var client []string
					for _, l := range r.Transcript {
						if l.Dir == "C" {
							client = append(client, fmt.Sprintf("%s tls=%v", strings.Fields(l.Text)[0], l.TLS))
						}
					}
					want := []string{"EHLO tls=false", "MAIL tls=false", "RSET tls=false", "STARTTLS tls=false", "EHLO tls=true", "QUIT tls=true"}
					if !slices.Equal(client, want) {
						t.Errorf("the probe said %q on one connection, want %q", client, want)
					}
				}
			})
		}
	})

	// Every listener in one run: probed at the same time, each reported,
	// the exit status the worst of them.
	t.Run("all listeners in one run", func(t *testing.T) {
		t.Parallel()
		var targets []string
		for _, addr := range f.addr {
			targets = append(targets, addr)
		}
		rep, exit := f.probe(t, targets...)
		if exit != 2 || rep.Status != "critical" {
			t.Errorf("exit status %d, status %q, want 2 and critical (the listener without STARTTLS)", exit, rep.Status)
		}
		if len(rep.Results) != len(targets) {
			t.Fatalf("%d results for %d targets", len(rep.Results), len(targets))
		}
		for _, r := range rep.Results {
			if r.Error != nil {
				t.Errorf("%s: error in phase %s: %s", r.Target, r.Error.Phase, r.Error.Message)
			}
		}
	})

	// What "TLS required" means on the wire, checked without the probe,
	// which never sends MAIL FROM: Postfix refuses it before STARTTLS only
	// where the level is encrypt.
	t.Run("MAIL FROM before STARTTLS", func(t *testing.T) {
		for _, tc := range []struct {
			listener string
			code     int
			enhanced string
		}{
			{"tls-required", 530, "5.7.0"},
			{"good", 250, "2.1.0"},
		} {
			t.Run(tc.listener, func(t *testing.T) {
				t.Parallel()
				code, msg := mailFromBeforeSTARTTLS(t, f.addr[tc.listener])
				if code != tc.code || !strings.HasPrefix(msg, tc.enhanced) {
					t.Errorf("MAIL FROM:<> got %d %s, want %d %s", code, msg, tc.code, tc.enhanced)
				}
			})
		}
	})
}

// newFixture makes the certificates, starts Postfix with one listener per
// TLS setup and builds the probe.
func newFixture(t *testing.T) *fixture {
	t.Helper()
	certs := t.TempDir()
	root, err := probetest.NewRootCA("Interop Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Interop Test Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	good, err := inter.Issue(probetest.Spec{CommonName: expectedName, DNSNames: []string{expectedName}})
	if err != nil {
		t.Fatal(err)
	}
	other, err := inter.Issue(probetest.Spec{CommonName: "other.interop.test", DNSNames: []string{"other.interop.test"}})
	if err != nil {
		t.Fatal(err)
	}
	self, err := probetest.SelfSigned(probetest.Spec{CommonName: expectedName, DNSNames: []string{expectedName}})
	if err != nil {
		t.Fatal(err)
	}
	f := &fixture{
		rootPEM:  filepath.Join(certs, "root.pem"),
		addr:     map[string]string{},
		leafSHA1: map[string]string{},
	}
	if err := os.WriteFile(f.rootPEM, root.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	goodFile := writeChainFile(t, certs, "good", good)
	files := map[string]string{
		"good":         goodFile,
		"other-name":   writeChainFile(t, certs, "other-name", other),
		"self-signed":  writeChainFile(t, certs, "self-signed", self),
		"tls-required": goodFile,
	}
	settings := map[string][]string{
		"good":         {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + files["good"]},
		"other-name":   {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + files["other-name"]},
		"self-signed":  {"smtpd_tls_security_level=may", "smtpd_tls_chain_files=" + files["self-signed"], "smtpd_tls_protocols=" + onlyTLS12, "smtpd_tls_mandatory_protocols=" + onlyTLS12},
		"tls-required": {"smtpd_tls_security_level=encrypt", "smtpd_tls_chain_files=" + files["tls-required"]},
		"no-starttls":  {"smtpd_tls_security_level=none"},
	}
	names := []string{"good", "other-name", "self-signed", "tls-required", "no-starttls"}
	ports := freeLoopbackPorts(t, len(names))
	var listeners []listener
	for i, name := range names {
		f.addr[name] = fmt.Sprintf("127.0.0.1:%d", ports[i])
		listeners = append(listeners, listener{Addr: f.addr[name], Settings: settings[name]})
		if file, ok := files[name]; ok {
			f.leafSHA1[name] = leafSHA1(t, file)
		}
	}
	f.binary = buildProbe(t)
	startPostfix(t, listeners)
	return f
}

// buildProbe builds the starttls-probe binary; go test puts its own go
// first in PATH.
func buildProbe(t *testing.T) string {
	t.Helper()
	built.once.Do(func() {
		dir, err := os.MkdirTemp("", "starttls-probe-interop-")
		if err != nil {
			built.err = err
			return
		}
		built.bin = filepath.Join(dir, "starttls-probe")
		out, err := exec.Command("go", "build", "-o", built.bin, "github.com/starttls-probe/starttls-probe").CombinedOutput()
		if err != nil {
			built.err = fmt.Errorf("go build: %v\n%s", err, out)
		}
	})
	if built.err != nil {
		t.Fatal(built.err)
	}
	return built.bin
}

// built is the binary every test of the package probes with, built once:
// a build per probe was most of these tests' time. TestMain removes it.
var built struct {
	once sync.Once
	bin  string
	err  error
}

func TestMain(m *testing.M) {
	code := m.Run()
	if built.bin != "" {
		os.RemoveAll(filepath.Dir(built.bin))
	}
	os.Exit(code)
}

// probe runs the binary with -o json against targets, expecting the good
// name and trusting the run's root, and returns the decoded report and the
// exit status.
func (f *fixture) probe(t *testing.T, args ...string) (jsonReport, int) {
	t.Helper()
	var rep jsonReport
	exit := f.runJSON(t, &rep, args...)
	return rep, exit
}

// runJSON runs the binary as probe does and decodes its report into rep.
func (f *fixture) runJSON(t *testing.T, rep any, args ...string) int {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	args = append([]string{"-o", "json", "--timeout", "20s", "-n", expectedName, "--ca-file", f.rootPEM}, args...)
	cmd := exec.CommandContext(ctx, f.binary, args...)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	exit := 0
	if ee := (*exec.ExitError)(nil); errors.As(err, &ee) {
		exit = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("running %s: %v", f.binary, err)
	}
	if err := json.Unmarshal(stdout.Bytes(), rep); err != nil {
		t.Fatalf("decoding the JSON report: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.Bytes(), stderr.Bytes())
	}
	// Shown only when the test fails or under -v.
	if stderr.Len() > 0 {
		t.Logf("probe stderr:\n%s", stderr.Bytes())
	}
	return exit
}

// greeted dials addr and reads its 220 greeting, with 20 s for the whole
// dialogue; the connection closes when the test ends.
func greeted(t *testing.T, addr string) *textproto.Conn {
	t.Helper()
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("banner: %v", err)
	}
	return tp
}

// mailFromBeforeSTARTTLS says EHLO and MAIL FROM:<> in plaintext and returns
// the reply to MAIL FROM. It never sends RCPT TO: nothing can be queued.
func mailFromBeforeSTARTTLS(t *testing.T, addr string) (int, string) {
	t.Helper()
	tp := greeted(t, addr)
	if _, _, err := cmd(tp, 250, "EHLO interop.test"); err != nil {
		t.Fatalf("EHLO: %v", err)
	}
	// Any code: the caller asserts it.
	code, msg, err := cmd(tp, 0, "MAIL FROM:<>")
	if err != nil && !errors.As(err, new(*textproto.Error)) {
		t.Fatalf("MAIL FROM: %v", err)
	}
	if _, _, err := cmd(tp, 221, "QUIT"); err != nil {
		t.Errorf("QUIT: %v", err)
	}
	return code, msg
}

func cmd(tp *textproto.Conn, expectCode int, line string) (int, string, error) {
	id, err := tp.Cmd("%s", line)
	if err != nil {
		return 0, "", err
	}
	tp.StartResponse(id)
	defer tp.EndResponse(id)
	return tp.ReadResponse(expectCode)
}
