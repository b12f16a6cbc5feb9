//go:build linux

// startServer, which these tests share with servers_test.go, uses Linux's
// Pdeathsig and process groups.

package interop

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// maddy and Mailpit are Go modules, not Debian packages: servers.sh builds
// them at the versions issue 12 compared against (maddy v0.8.1, Mailpit
// v1.33.1) in a module of their own, never this project's. They run as the
// test's user.

func TestMaddy(t *testing.T) {
	dir := requireServer(t, "maddy")
	certs := newServerCerts(t, "")
	ports := freeLoopbackPorts(t, 1)
	run := t.TempDir()
	addr := fmt.Sprintf("127.0.0.1:%d", ports[0])
	// require_tls is a check that fails a session without TLS with
	// "550 5.7.1 TLS conversation required" (internal/check/requiretls);
	// maddy runs the checks at MAIL FROM but, with defer_sender_reject on
	// by default, answers 250 there and gives the refusal at RCPT. Every
	// recipient that got past it would be refused: nothing is delivered.
	text := fmt.Sprintf(`state_dir %[1]s/state
runtime_dir %[1]s/run
hostname %[2]s
tls file %[3]s %[4]s

smtp tcp://%[5]s {
    check {
        require_tls
    }
    default_source {
        default_destination {
            reject 550 5.1.1 "interop test: nothing is delivered"
        }
    }
}
`, run, expectedName, certs.certFile, certs.keyFile, addr)
	conf := filepath.Join(run, "maddy.conf")
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "maddy"), "--config", conf, "run", "--log", "stderr")
	startServer(t, cmd, filepath.Join(run, "maddy.log"), addr)
	// One build of the probe for both runs: CI's time is shared.
	f := &fixture{binary: buildProbe(t), rootPEM: certs.rootPEM}
	// maddy answers with go-smtp's greeting, like every go-smtp server,
	// and advertises its defaults, SIZE 33554432 and LIMITS RCPTMAX=20000,
	// which tell it apart (report/server.go).
	t.Run("require_tls, not tested", func(t *testing.T) {
		// A 250 to MAIL FROM:<> from software not known to decide at MAIL
		// is "unknown", never the false reassurance "no".
		rep, exit := f.probe(t, addr)
		probeServerReport(t, certs, rep, exit, serverWant{software: "maddy", tlsRequired: "unknown", mailCode: 250})
	})
	t.Run("require_tls, --rcpt-test", func(t *testing.T) {
		rep, exit := f.probe(t, "--rcpt-test", "postmaster@"+expectedName, addr)
		probeServerReport(t, certs, rep, exit, serverWant{software: "maddy", tlsRequired: "true", mailCode: 250})
	})
}

func TestMailpit(t *testing.T) {
	dir := requireServer(t, "mailpit")
	certs := newServerCerts(t, "")
	ports := freeLoopbackPorts(t, 4)
	optional, required := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	// Mailpit's command line serves one SMTP address, and its web UI, which
	// it cannot do without, on another loopback port.
	for i, l := range []struct {
		addr string
		args []string
	}{{optional, nil}, {required, []string{"--smtp-require-starttls"}}} {
		run := t.TempDir()
		args := append([]string{
			"--smtp", l.addr, "--listen", fmt.Sprintf("127.0.0.1:%d", ports[2+i]),
			"--smtp-tls-cert", certs.certFile, "--smtp-tls-key", certs.keyFile,
			"--database", filepath.Join(run, "mailpit.db"),
			// Nothing leaves loopback: no release check, no reverse DNS.
			"--disable-version-check", "--smtp-disable-rdns",
		}, l.args...)
		startServer(t, exec.Command(filepath.Join(dir, "mailpit"), args...), filepath.Join(run, "mailpit.log"), l.addr)
	}
	f := &fixture{binary: buildProbe(t), rootPEM: certs.rootPEM}
	// Its banner is "<hostname> Mailpit ESMTP Service ready"
	// (internal/smtpd/smtpd.go).
	t.Run("STARTTLS optional", func(t *testing.T) {
		rep, exit := f.probe(t, optional)
		probeServerReport(t, certs, rep, exit, serverWant{software: "mailpit", tlsRequired: "unknown", mailCode: 250})
	})
	t.Run("--smtp-require-starttls", func(t *testing.T) {
		// "530 5.7.0 Must issue a STARTTLS command first".
		rep, exit := f.probe(t, required)
		probeServerReport(t, certs, rep, exit, serverWant{software: "mailpit", tlsRequired: "true", mailCode: 530})
	})
}
