//go:build linux

// The servers are Debian's packages run on Linux (servers.sh), and their
// cleanup uses Linux's Pdeathsig and process groups: GOOS=windows go vet
// ./... (scripts/test.sh) skips this file.

package interop

import (
	"bufio"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// The servers other than Postfix come unpacked from Debian's packages by
// servers.sh (never installed: they conflict with Postfix as the MTA). Each
// test writes the server's own configuration with certificates made for the
// run, starts it in the foreground on 127.0.0.1 ports, and probes it with the
// built binary.
const serversScript = "./servers.sh"

// requireServer returns the directory servers.sh unpacked the server in. It
// fails the test under CI=true and skips it loudly elsewhere when the server
// cannot run here; `servers.sh ensure`, which scripts/test.sh runs first,
// unpacks them.
func requireServer(t *testing.T, name string) string {
	t.Helper()
	out, err := exec.Command(serversScript, "path", name).Output()
	if err == nil {
		return strings.TrimSpace(string(out))
	}
	why := err.Error()
	if ee, ok := err.(*exec.ExitError); ok {
		why = strings.TrimSpace(string(ee.Stderr))
	}
	if os.Getenv("CI") == "true" {
		t.Fatalf("%s: under CI=true the %s interop test must run (.ci/run runs servers.sh ensure as root)", why, name)
	}
	t.Skipf("SKIP: real-%s interop test not run: %s", name, why)
	return ""
}

// serverCerts is a chain for expectedName under a root the probe is told to
// trust, as the certificate and key files servers want.
type serverCerts struct {
	rootPEM, certFile, keyFile string
	// leafSHA1 is openssl's fingerprint of the file the server serves.
	leafSHA1 string
}

// newServerCerts writes the files readable by group, for servers that read
// their key after dropping privileges (Exim reads it as Debian-exim).
func newServerCerts(t *testing.T, group string) serverCerts {
	t.Helper()
	dir := t.TempDir()
	// t.TempDir's parent is 0700: the server's own user must reach the key.
	if err := os.Chmod(filepath.Dir(dir), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	root, err := probetest.NewRootCA("Interop Test Root")
	if err != nil {
		t.Fatal(err)
	}
	inter, err := root.NewIntermediate("Interop Test Intermediate")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := inter.Issue(probetest.Spec{CommonName: expectedName, DNSNames: []string{expectedName}})
	if err != nil {
		t.Fatal(err)
	}
	key, err := leaf.KeyPEM()
	if err != nil {
		t.Fatal(err)
	}
	c := serverCerts{
		rootPEM:  filepath.Join(dir, "root.pem"),
		certFile: filepath.Join(dir, "fullchain.pem"),
		keyFile:  filepath.Join(dir, "privkey.pem"),
	}
	for path, data := range map[string][]byte{c.rootPEM: root.RootPEM(), c.certFile: leaf.PEM(), c.keyFile: key} {
		if err := os.WriteFile(path, data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if group != "" {
		if out, err := exec.Command("chgrp", group, c.keyFile, c.certFile).CombinedOutput(); err != nil {
			t.Fatalf("chgrp %s: %v\n%s", group, err, out)
		}
		for _, f := range []string{c.keyFile, c.certFile} {
			if err := os.Chmod(f, 0o640); err != nil {
				t.Fatal(err)
			}
		}
	}
	c.leafSHA1 = leafSHA1(t, c.certFile)
	return c
}

// startServer runs cmd until the test ends, its output in log, and returns
// once every address greets with 220.
func startServer(t *testing.T, cmd *exec.Cmd, log string, addrs ...string) {
	t.Helper()
	out, err := os.Create(log)
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = out, out
	// Its own process group, so that the cleanup reaches the children
	// (Exim forks one per connection, OpenSMTPD its privilege-separated
	// processes); and killed should this test process die first.
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting %s: %v", cmd.Path, err)
	}
	// exited is closed when the server has exited, waitErr set before.
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(10 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-exited
		}
		out.Close()
		if t.Failed() {
			if b, err := os.ReadFile(log); err == nil {
				t.Logf("%s output:\n%s", filepath.Base(cmd.Path), b)
			}
		}
	})
	// Generous: start-up on two loaded cores can take seconds (Python's
	// imports, OpenSMTPD's privilege separation).
	deadline := time.Now().Add(30 * time.Second)
	for _, addr := range addrs {
		for {
			greeting, err := readGreeting(addr)
			if err == nil && strings.HasPrefix(greeting, "220") {
				break
			}
			select {
			case <-exited:
				b, _ := os.ReadFile(log)
				t.Fatalf("%s exited before %s greeted: %v\n%s", cmd.Path, addr, waitErr, b)
			default:
			}
			if time.Now().After(deadline) {
				b, _ := os.ReadFile(log)
				t.Fatalf("%s did not greet with 220 within 30s (last: %q, %v)\n%s", addr, greeting, err, b)
			}
			time.Sleep(200 * time.Millisecond)
		}
	}
}

// readGreeting reads the last line of the server's greeting and says QUIT.
func readGreeting(addr string) (string, error) {
	conn, err := net.DialTimeout("tcp", addr, 2*time.Second)
	if err != nil {
		return "", err
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(5 * time.Second)); err != nil {
		return "", err
	}
	r := bufio.NewReader(conn)
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return line, err
		}
		if len(line) < 4 || line[3] != '-' {
			_, _ = conn.Write([]byte("QUIT\r\n"))
			return strings.TrimSpace(line), nil
		}
	}
}

// serverWant is what the probe must report for one listener.
type serverWant struct {
	software string
	// tlsRequired is the verdict and mailCode the reply to MAIL FROM:<>
	// before STARTTLS.
	tlsRequired string
	mailCode    int
	// handshakeFails is for OpenSMTPD 6.8 on Debian 12, which sends its
	// certificate and then ends every handshake with alert 80 (internal
	// error): the chain is still read and must be the one served.
	handshakeFails bool
	// args are more flags for the probe (--rcpt-test).
	args []string
	// warnings are the IDs of the diagnoses, all warnings, the report must
	// give, and then exactly those; the exit status is then 1 (WARNING).
	warnings []string
}

// probeServer probes addr with the built binary and checks what every
// server's report must say: the software, STARTTLS offered, the leaf
// openssl fingerprints, the TLS-required verdict.
func probeServer(t *testing.T, certs serverCerts, addr string, want serverWant) {
	t.Helper()
	f := &fixture{binary: buildProbe(t), rootPEM: certs.rootPEM}
	rep, exit := f.probe(t, append(append([]string(nil), want.args...), addr)...)
	probeServerReport(t, certs, rep, exit, want)
}

// probeServerReport checks the report and exit status of one probe as
// probeServer does.
func probeServerReport(t *testing.T, certs serverCerts, rep jsonReport, exit int, want serverWant) {
	t.Helper()
	if len(rep.Results) != 1 {
		t.Fatalf("%d results, want 1", len(rep.Results))
	}
	r := rep.Results[0]
	if r.Server == nil || r.Server.Software != want.software {
		t.Errorf("server %+v, want software %q", r.Server, want.software)
	}
	if !r.STARTTLSOffered {
		t.Errorf("starttls_offered false, want true")
	}
	if len(r.Chain) == 0 {
		t.Fatalf("no chain read (error %+v)", r.Error)
	}
	if r.Chain[0].SHA1 != certs.leafSHA1 {
		t.Errorf("leaf sha1 %s, want %s (openssl's, of the file the server serves)", r.Chain[0].SHA1, certs.leafSHA1)
	}
	checks := map[string]string{}
	for _, c := range r.Checks {
		checks[c.ID] = c.Status
	}
	switch {
	case want.handshakeFails && checks["handshake"] == "ok":
		// A later OpenSMTPD, or a fixed build: then everything else must
		// be as for the others.
		t.Logf("the handshake succeeded: this OpenSMTPD no longer ends it with alert 80")
		fallthrough
	case !want.handshakeFails:
		for _, id := range []string{"starttls", "handshake", "name", "trust"} {
			if checks[id] != "ok" {
				t.Errorf("check %s is %q, want ok (all: %v)", id, checks[id], r.Checks)
			}
		}
		wantExit := 0
		if len(want.warnings) > 0 {
			wantExit = 1
			var got []string
			for _, d := range r.Diagnosis {
				got = append(got, d.ID+" "+d.Severity)
			}
			if wantDiag := strings.Join(want.warnings, " warning,") + " warning"; strings.Join(got, ",") != wantDiag {
				t.Errorf("diagnoses %v, want exactly %s", got, wantDiag)
			}
		}
		if exit != wantExit {
			t.Errorf("exit status %d, want %d", exit, wantExit)
		}
	default:
		if checks["starttls"] != "ok" || checks["handshake"] != "critical" || r.Error == nil || r.Error.Phase != "handshake" {
			t.Errorf("checks %v, error %+v: want starttls ok, handshake critical, an error in phase handshake", r.Checks, r.Error)
		}
	}
	if req := r.TLSRequired; req == nil || req.Required != want.tlsRequired || req.Reply == nil || req.Reply.Code != want.mailCode {
		t.Errorf("tls_required %+v, want %q with a %d reply", req, want.tlsRequired, want.mailCode)
	}
}

func TestAiosmtpd(t *testing.T) {
	dir := requireServer(t, "aiosmtpd")
	certs := newServerCerts(t, "")
	ports := freeLoopbackPorts(t, 2)
	required, optional := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	// aiosmtpd's command line serves one address; by default it requires
	// STARTTLS before anything but EHLO and QUIT.
	for _, l := range []struct {
		addr string
		args []string
	}{{required, nil}, {optional, []string{"--no-requiretls"}}} {
		args := append([]string{"-m", "aiosmtpd", "-n", "-l", l.addr, "--tlscert", certs.certFile, "--tlskey", certs.keyFile}, l.args...)
		cmd := exec.Command("python3", args...)
		cmd.Env = append(os.Environ(), "PYTHONPATH="+filepath.Join(dir, "usr/lib/python3/dist-packages"))
		startServer(t, cmd, filepath.Join(t.TempDir(), "aiosmtpd.log"), l.addr)
	}
	t.Run("STARTTLS required", func(t *testing.T) {
		// "530 Must issue a STARTTLS command first" (aiosmtpd/smtp.py).
		probeServer(t, certs, required, serverWant{software: "aiosmtpd", tlsRequired: "true", mailCode: 530})
	})
	t.Run("STARTTLS optional", func(t *testing.T) {
		// A 250 is "no" only from software known to decide at MAIL.
		probeServer(t, certs, optional, serverWant{software: "aiosmtpd", tlsRequired: "unknown", mailCode: 250})
	})
}

func TestOpenSMTPD(t *testing.T) {
	dir := requireServer(t, "opensmtpd")
	certs := newServerCerts(t, "")
	ports := freeLoopbackPorts(t, 2)
	conf := filepath.Join(t.TempDir(), "smtpd.conf")
	// tls offers STARTTLS, tls-require refuses mail without it. No domain
	// is local or relayed: the probe never gets as far as a recipient
	// anyway.
	text := fmt.Sprintf(`pki %[1]s cert "%[2]s"
pki %[1]s key "%[3]s"
listen on 127.0.0.1 port %[4]d tls pki %[1]s hostname %[1]s
listen on 127.0.0.1 port %[5]d tls-require pki %[1]s hostname %[1]s
action "refuse" maildir "%[6]s"
match from any for domain "nowhere.invalid" action "refuse"
`, expectedName, certs.certFile, certs.keyFile, ports[0], ports[1], filepath.Join(filepath.Dir(conf), "maildir"))
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	optional, required := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	// -d: in the foreground, logging to stderr. The queue is its
	// compiled-in /var/spool/smtpd; its control socket /run/smtpd.sock
	// allows one instance at a time, which this test is.
	cmd := exec.Command(filepath.Join(dir, "usr/sbin/smtpd"), "-d", "-f", conf)
	startServer(t, cmd, filepath.Join(t.TempDir(), "smtpd.log"), optional, required)
	t.Run("tls", func(t *testing.T) {
		probeServer(t, certs, optional, serverWant{software: "opensmtpd", tlsRequired: "unknown", mailCode: 250, handshakeFails: true})
	})
	t.Run("tls-require", func(t *testing.T) {
		// "530 5.5.1 Invalid command: Must issue a STARTTLS command first".
		probeServer(t, certs, required, serverWant{software: "opensmtpd", tlsRequired: "true", mailCode: 530, handshakeFails: true})
	})
}

func TestExim(t *testing.T) {
	dir := requireServer(t, "exim")
	// Exim's daemon reads the key as Debian-exim, in the child that
	// answers the connection.
	certs := newServerCerts(t, "Debian-exim")
	ports := freeLoopbackPorts(t, 3)
	run := t.TempDir()
	if err := os.Chmod(run, 0o755); err != nil {
		t.Fatal(err)
	}
	for _, d := range []string{"spool", "log"} {
		p := filepath.Join(run, d)
		if err := os.Mkdir(p, 0o750); err != nil {
			t.Fatal(err)
		}
		if out, err := exec.Command("chown", "Debian-exim:Debian-exim", p).CombinedOutput(); err != nil {
			t.Fatalf("chown: %v\n%s", err, out)
		}
	}
	// The second port denies MAIL before TLS in the MAIL ACL; the third
	// denies RCPT before TLS in the RCPT ACL, where most Exim policy lives;
	// the first accepts both. No router: nothing could be delivered, and
	// every recipient is denied besides.
	conf := filepath.Join(run, "exim.conf")
	text := fmt.Sprintf(`primary_hostname = %[1]s
spool_directory = %[2]s/spool
log_file_path = %[2]s/log/%%slog
keep_environment =
daemon_smtp_ports = %[3]d : %[4]d : %[7]d
local_interfaces = <; 127.0.0.1.%[3]d ; 127.0.0.1.%[4]d ; 127.0.0.1.%[7]d
tls_advertise_hosts = *
tls_certificate = %[5]s
tls_privatekey = %[6]s
acl_smtp_mail = acl_check_mail
acl_smtp_rcpt = acl_check_rcpt

begin acl
acl_check_mail:
  deny condition = ${if eq{$received_port}{%[4]d}}
       !encrypted = *
       message = 530 5.7.0 Must issue a STARTTLS command first
  accept
acl_check_rcpt:
  deny condition = ${if eq{$received_port}{%[7]d}}
       !encrypted = *
       message = 550 STARTTLS required
  deny

begin routers
begin transports
`, expectedName, run, ports[0], ports[1], certs.certFile, certs.keyFile, ports[2])
	if err := os.WriteFile(conf, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	optional, required := fmt.Sprintf("127.0.0.1:%d", ports[0]), fmt.Sprintf("127.0.0.1:%d", ports[1])
	atRCPT := fmt.Sprintf("127.0.0.1:%d", ports[2])
	// -bdf: the daemon in the foreground; -C: this configuration, which
	// Exim accepts from root.
	cmd := exec.Command(filepath.Join(dir, "usr/sbin/exim4"), "-C", conf, "-bdf")
	startServer(t, cmd, filepath.Join(run, "exim.out"), optional, required, atRCPT)
	t.Run("STARTTLS offered", func(t *testing.T) {
		probeServer(t, certs, optional, serverWant{software: "exim", tlsRequired: "unknown", mailCode: 250})
	})
	t.Run("TLS required at MAIL", func(t *testing.T) {
		probeServer(t, certs, required, serverWant{software: "exim", tlsRequired: "true", mailCode: 530})
	})
	// Exim accepts MAIL FROM:<> and refuses at RCPT: without --rcpt-test
	// that is "unknown", never the false reassurance "no"; with it, "yes".
	t.Run("TLS required at RCPT, not tested", func(t *testing.T) {
		probeServer(t, certs, atRCPT, serverWant{software: "exim", tlsRequired: "unknown", mailCode: 250})
	})
	t.Run("TLS required at RCPT, --rcpt-test", func(t *testing.T) {
		probeServer(t, certs, atRCPT, serverWant{software: "exim", tlsRequired: "true", mailCode: 250,
			args: []string{"--rcpt-test", "postmaster@" + expectedName}})
	})
}

func TestChasquid(t *testing.T) {
	dir := requireServer(t, "chasquid")
	certs := newServerCerts(t, "")
	ports := freeLoopbackPorts(t, 2)
	conf := t.TempDir()
	// chasquid reads certs/<name>/fullchain.pem and privkey.pem.
	certDir := filepath.Join(conf, "certs", expectedName)
	// chasquid wants at least one domain of its own; the probe never
	// names a recipient in it.
	for _, d := range []string{certDir, filepath.Join(conf, "domains", "interop.test"), filepath.Join(conf, "data")} {
		if err := os.MkdirAll(d, 0o700); err != nil {
			t.Fatal(err)
		}
	}
	for src, dst := range map[string]string{certs.certFile: "fullchain.pem", certs.keyFile: "privkey.pem"} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(certDir, dst), b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	smtp := fmt.Sprintf("127.0.0.1:%d", ports[0])
	// The submission port only to keep chasquid off its default,
	// systemd's sockets. It delivers nothing: no domain is local and the
	// delivery agent is /bin/false.
	text := fmt.Sprintf(`hostname: %q
smtp_address: %q
submission_address: "127.0.0.1:%d"
data_dir: %q
mail_delivery_agent_bin: "/bin/false"
mail_log_path: %q
`, expectedName, smtp, ports[1], filepath.Join(conf, "data"), filepath.Join(conf, "mail.log"))
	if err := os.WriteFile(filepath.Join(conf, "chasquid.conf"), []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(filepath.Join(dir, "usr/bin/chasquid"), "-config_dir", conf, "-alsologtostderr")
	startServer(t, cmd, filepath.Join(t.TempDir(), "chasquid.log"), smtp)
	probeServer(t, certs, smtp, serverWant{software: "chasquid", tlsRequired: "unknown", mailCode: 250})
}
