//go:build linux

package interop

import (
	"errors"
	"fmt"
	"net"
	"net/textproto"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
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
	conn, err := net.DialTimeout("tcp", addr, 10*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(20 * time.Second)); err != nil {
		t.Fatal(err)
	}
	tp := textproto.NewConn(conn)
	if _, _, err := tp.ReadResponse(220); err != nil {
		t.Fatalf("banner: %v", err)
	}
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
