//go:build linux

package interop

import (
	"errors"
	"fmt"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// Some servers read their configuration from paths compiled into them
// (/etc/courier, /usr/lib/courier, /var/lib/courier for Courier), where
// nothing of theirs may be installed: installing them would make them the
// system's MTA. namespacedCommand runs such a server under `unshare -m`, in
// a mount namespace of its own (private propagation, util-linux's default, so
// no mount is seen outside it), with overlays that add files to those
// directories for it alone:
//
//   - etc and usr, read-only overlays of the test's etc directory and the
//     unpacked package's usr on the system's /etc and /usr;
//   - /var, writable, its changes in a directory of the test, for the
//     queue directories the server creates and writes.
//
// setup is shell run in the namespace before the server starts (making its
// directories under /var); argv is the server's command line, exec'd with
// the environment env and nothing else (as Courier's own start script does).
func namespacedCommand(t *testing.T, unpacked, etc, setup string, env, argv []string) *exec.Cmd {
	t.Helper()
	for _, tool := range []string{"unshare", "mount"} {
		if _, err := exec.LookPath(tool); err != nil {
			if os.Getenv("CI") == "true" {
				t.Fatalf("%s is missing: under CI=true the namespaced servers' interop tests must run", tool)
			}
			t.Skipf("SKIP: %s is missing", tool)
		}
	}
	// upper and work must be on one file system, not an overlay: a
	// t.TempDir is.
	varDir := t.TempDir()
	upper, work := filepath.Join(varDir, "upper"), filepath.Join(varDir, "work")
	for _, d := range []string{upper, work} {
		if err := os.Mkdir(d, 0o755); err != nil {
			t.Fatal(err)
		}
	}
	script := `set -e
mount -t overlay overlay -o "lowerdir=$1:/etc" /etc
mount -t overlay overlay -o "lowerdir=$2/usr:/usr" /usr
mount -t overlay overlay -o "lowerdir=/var,upperdir=$3,workdir=$4" /var
` + setup + `
shift 4
exec env -i "$@"
`
	args := []string{"-m", "sh", "-c", script, "sh", etc, unpacked, upper, work}
	args = append(args, env...)
	args = append(args, argv...)
	return exec.Command("unshare", args...)
}

// TestCourier probes Courier MTA 1.0, which turns STARTTLS off for the rest
// of a session once MAIL or RSET was sent: after the probe's MAIL FROM:<>
// and RSET it answers STARTTLS with "540 TLS not available." (courieresmtpd).
// The STARTTLS verdict must still be OK, from a new connection without the
// test, with the refusal recorded beside the test's result.
func TestCourier(t *testing.T) {
	dir := requireServer(t, "courier")
	// couriertcpd runs courieresmtpd as courier, and couriertls reads the
	// certificate as that user.
	certs := newServerCerts(t, "courier")
	// couriertls wants the certificate and its key in one file
	// (TLS_CERTFILE, esmtpd(8)).
	served := filepath.Join(filepath.Dir(certs.certFile), "esmtpd.pem")
	var pemData []byte
	for _, f := range []string{certs.certFile, certs.keyFile} {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		pemData = append(pemData, b...)
	}
	if err := os.WriteFile(served, pemData, 0o640); err != nil {
		t.Fatal(err)
	}
	if out, err := exec.Command("chgrp", "courier", served).CombinedOutput(); err != nil {
		t.Fatalf("chgrp courier: %v\n%s", err, out)
	}
	certs.leafSHA1 = leafSHA1(t, served)

	// /etc/courier: the package's files, with "me" (the name in the
	// greeting and EHLO reply) set.
	etc := t.TempDir()
	if out, err := exec.Command("cp", "-a", filepath.Join(dir, "etc/courier"), etc).CombinedOutput(); err != nil {
		t.Fatalf("copying /etc/courier: %v\n%s", err, out)
	}
	if err := os.WriteFile(filepath.Join(etc, "courier/me"), []byte(expectedName+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPorts(t, 1)[0])
	port := strings.TrimPrefix(addr, "127.0.0.1:")
	// The queue directories courier-base's maintainer script would make:
	// submit, which courieresmtpd starts at MAIL, writes there.
	setup := `mkdir -p /var/lib/courier/tmp /var/lib/courier/msgs /var/lib/courier/msgq /var/lib/courier/track /var/spool/courier/tmp
chown -R courier:courier /var/lib/courier /var/spool/courier`
	// The variables of /etc/courier/esmtpd that matter here. No access
	// file: nobody may relay, and the probe names no recipient anyway.
	env := []string{"PATH=/usr/bin:/bin", "COURIERTLS=/usr/bin/couriertls", "TLS_CERTFILE=" + served, "TLS_VERIFYPEER=NONE"}
	// couriertcpd stays in the foreground without -pid; it runs one
	// courieresmtpd per connection.
	argv := []string{"/usr/sbin/couriertcpd", "-address=127.0.0.1", "-nodnslookup", "-noidentlookup",
		"-user=courier", "-group=courier", port, "/usr/sbin/courieresmtpd"}
	cmd := namespacedCommand(t, dir, etc, setup, env, argv)
	startServer(t, cmd, filepath.Join(t.TempDir(), "couriertcpd.log"), addr)

	// What the probe's test meets, said by hand: the premise of this test.
	code, text := courierSTARTTLSAfterRSET(t, addr)
	t.Logf("real Courier: STARTTLS after MAIL FROM:<> and RSET: %d %s", code, text)

	f := &fixture{binary: buildProbe(t), rootPEM: certs.rootPEM}
	rep, exit := f.probe(t, addr)
	probeServerReport(t, certs, rep, exit, serverWant{software: "courier", tlsRequired: "unknown", mailCode: 250})
	req := rep.Results[0].TLSRequired
	switch {
	case code == 220:
		t.Logf("this Courier accepts STARTTLS after RSET: nothing to record")
		if req != nil && req.STARTTLSRefusedAfter != nil {
			t.Errorf("starttls_refused_after_test %+v, but Courier accepted STARTTLS after RSET", req.STARTTLSRefusedAfter)
		}
	case req == nil || req.STARTTLSRefusedAfter == nil || req.STARTTLSRefusedAfter.Code != code:
		t.Errorf("tls_required.starttls_refused_after_test %+v, want Courier's %d", req, code)
	}
}

// courierSTARTTLSAfterRSET says EHLO, MAIL FROM:<>, RSET and STARTTLS, as
// the probe's TLS-required test does before STARTTLS, and returns the reply
// to STARTTLS. It never sends RCPT TO: nothing can be queued.
func courierSTARTTLSAfterRSET(t *testing.T, addr string) (int, string) {
	t.Helper()
	tp := greeted(t, addr)
	for _, line := range []string{"EHLO client.interop.test", "MAIL FROM:<>", "RSET"} {
		if _, _, err := cmd(tp, 250, line); err != nil {
			t.Fatalf("%s: %v", line, err)
		}
	}
	// Any code: the caller asserts it. No QUIT after a 220: the
	// connection would then want a handshake.
	code, msg, err := cmd(tp, 0, "STARTTLS")
	if err != nil && !errors.As(err, new(*textproto.Error)) {
		t.Fatalf("STARTTLS: %v", err)
	}
	return code, msg
}

// TestSendmail probes Sendmail 8.17, whose configuration is built with m4
// from sendmail-cf's macros, as Debian's sendmailconfig does. It reads
// /etc/mail/sendmail.cf, and refuses a certificate or key on a path with a
// world-writable directory in it (/tmp): both are in the namespace's
// /etc/mail.
func TestSendmail(t *testing.T) {
	dir := requireServer(t, "sendmail")
	certs := newServerCerts(t, "")
	etc := t.TempDir()
	mailDir := filepath.Join(etc, "mail")
	if err := os.Mkdir(mailDir, 0o755); err != nil {
		t.Fatal(err)
	}
	// Sendmail sends the first certificate of its ServerCertFile alone,
	// and completes the chain from its CACertFile (OpenSSL's automatic
	// chain): the intermediate goes there too, as its admins are told.
	for dst, srcs := range map[string][]string{"cert.pem": {certs.certFile}, "key.pem": {certs.keyFile}, "ca.pem": {certs.rootPEM, certs.certFile}} {
		var data []byte
		for _, src := range srcs {
			b, err := os.ReadFile(src)
			if err != nil {
				t.Fatal(err)
			}
			data = append(data, b...)
		}
		// Sendmail refuses a key others can read.
		if err := os.WriteFile(filepath.Join(mailDir, dst), data, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	certs.leafSHA1 = leafSHA1(t, filepath.Join(mailDir, "cert.pem"))
	// Sendmail wants its host name fully qualified, or it sleeps and
	// retries ("My unqualified host name (vm) unknown"): the namespace's
	// /etc/hosts names this one expectedName, without DNS.
	host, err := os.Hostname()
	if err != nil {
		t.Fatal(err)
	}
	hosts := fmt.Sprintf("127.0.0.1 localhost\n127.0.0.1 %s %s\n", expectedName, host)
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPorts(t, 1)[0])
	port := strings.TrimPrefix(addr, "127.0.0.1:")
	// One MTA listener on the test's port, no MSA on 587; no local
	// mailer, no alias file: nothing is delivered.
	mc := fmt.Sprintf("divert(-1)\ndivert(0)dnl\n"+
		"include(`%[1]s/usr/share/sendmail/cf/m4/cf.m4')dnl\n"+
		"OSTYPE(`linux')dnl\n"+
		"define(`confDONT_PROBE_INTERFACES', `True')dnl\n"+
		"define(`confDOMAIN_NAME', `%[2]s')dnl\n"+
		"define(`QUEUE_DIR', `/var/spool/mqueue')dnl\n"+
		"define(`confPID_FILE', `/var/spool/mqueue/sendmail.pid')dnl\n"+
		"define(`STATUS_FILE', `/var/spool/mqueue/statistics')dnl\n"+
		"define(`ALIAS_FILE', `')dnl\n"+
		"define(`confHELP_FILE', `')dnl\n"+
		"define(`confSERVER_CERT', `/etc/mail/cert.pem')dnl\n"+
		"define(`confSERVER_KEY', `/etc/mail/key.pem')dnl\n"+
		"define(`confCACERT_PATH', `/etc/mail')dnl\n"+
		"define(`confCACERT', `/etc/mail/ca.pem')dnl\n"+
		"FEATURE(`no_default_msa')dnl\n"+
		"DAEMON_OPTIONS(`Family=inet, Name=MTA, Port=%[3]s, Addr=127.0.0.1')dnl\n"+
		"MAILER(`smtp')dnl\n", dir, expectedName, port)
	m4 := exec.Command("m4")
	m4.Stdin = strings.NewReader(mc)
	cf, err := m4.Output()
	if err != nil {
		t.Fatalf("m4: %v", err)
	}
	if err := os.WriteFile(filepath.Join(mailDir, "sendmail.cf"), cf, 0o644); err != nil {
		t.Fatal(err)
	}
	setup := `mkdir -p /var/spool/mqueue
chmod 700 /var/spool/mqueue`
	// -bD: the daemon in the foreground; one child per connection.
	cmd := namespacedCommand(t, dir, etc, setup, []string{"PATH=/usr/bin:/bin"}, []string{"/usr/libexec/sendmail/sendmail", "-bD"})
	startServer(t, cmd, filepath.Join(t.TempDir(), "sendmail.log"), addr)
	// Sendmail decides TLS policy at RCPT and later (access db's
	// TLS_Clt, STARTTLS's srv_features): a 250 to MAIL is "unknown".
	probeServer(t, certs, addr, serverWant{software: "sendmail", tlsRequired: "unknown", mailCode: 250})
}

// TestDovecot probes Dovecot 2.3's submission service, whose libraries and
// helpers are in its compiled-in /usr/lib/dovecot (the binary's RUNPATH).
func TestDovecot(t *testing.T) {
	dir := requireServer(t, "dovecot")
	// The master reads the certificate and key as root ("<file") and
	// hands them to the login processes.
	certs := newServerCerts(t, "")
	run := t.TempDir()
	// The login processes, as dovenull, reach their sockets in base_dir.
	if err := os.Chmod(run, 0o755); err != nil {
		t.Fatal(err)
	}
	addr := fmt.Sprintf("127.0.0.1:%d", freeLoopbackPorts(t, 1)[0])
	port := strings.TrimPrefix(addr, "127.0.0.1:")
	// No user can log in (the passdb is an empty file), and the relay is
	// the discard port on loopback: nothing is submitted anywhere.
	users := filepath.Join(run, "users")
	if err := os.WriteFile(users, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	conf := filepath.Join(run, "dovecot.conf")
	text := fmt.Sprintf(`protocols = submission
listen = 127.0.0.1
base_dir = %[1]s/run
state_dir = %[1]s/state
log_path = /dev/stderr
ssl = yes
ssl_cert = <%[2]s
ssl_key = <%[3]s
hostname = %[4]s
submission_relay_host = 127.0.0.1
submission_relay_port = 9
auth_mechanisms = plain
passdb {
  driver = passwd-file
  args = %[6]s
}
userdb {
  driver = static
  args = uid=nobody gid=nogroup home=/nonexistent
}
service submission-login {
  inet_listener submission {
    address = 127.0.0.1
    port = %[5]s
  }
}
`, run, certs.certFile, certs.keyFile, expectedName, port, users)
	if err := os.WriteFile(conf, []byte(text), 0o600); err != nil {
		t.Fatal(err)
	}
	// -F: the master in the foreground.
	cmd := namespacedCommand(t, dir, t.TempDir(), "", []string{"PATH=/usr/bin:/bin"}, []string{"/usr/sbin/dovecot", "-F", "-c", conf})
	startServer(t, cmd, filepath.Join(run, "dovecot.log"), addr)
	// "530 5.7.0 Authentication required." to MAIL before AUTH: that is
	// no refusal for want of TLS. Dovecot counts a client whose address is
	// the server's own as secured, and so offers AUTH PLAIN before STARTTLS
	// on loopback whatever ssl and disable_plaintext_auth say (its log says
	// "secured"): the probe must warn of it.
	probeServer(t, certs, addr, serverWant{software: "dovecot", tlsRequired: "unknown", mailCode: 530, warnings: []string{"auth-before-tls"}})
}
