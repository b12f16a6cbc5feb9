package dnstest

import (
	"bytes"
	"context"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/miekg/dns"
)

// StartUnbound runs Debian's Unbound as a validating resolver on a free
// loopback port, forwarding every question to upstream (a loopback
// SignedZones) with anchor as its only trust anchor: nothing leaves
// 127.0.0.0/8, not even root priming. It stops when the test ends. Without
// an unbound binary the test skips, loudly; under CI=true it fails, since
// CI installs it (.ci/run, scripts/test.sh).
func StartUnbound(t testing.TB, upstream netip.AddrPort, anchor string) netip.AddrPort {
	t.Helper()
	return StartUnboundAt(t, freeLoopbackAddrPort(t), upstream, anchor)
}

// StartUnboundAt is StartUnbound listening on listen, a loopback address:
// for a client that can only ask port 53, such as Postfix's, through a
// resolv.conf naming 127.x.y.z.
func StartUnboundAt(t testing.TB, listen, upstream netip.AddrPort, anchor string) netip.AddrPort {
	t.Helper()
	if !listen.Addr().IsLoopback() {
		t.Fatalf("StartUnboundAt: %s is not a loopback address", listen)
	}
	bin, err := exec.LookPath("unbound")
	if err != nil {
		for _, p := range []string{"/usr/sbin/unbound", "/usr/local/sbin/unbound"} {
			if _, statErr := os.Stat(p); statErr == nil {
				bin, err = p, nil
				break
			}
		}
	}
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("unbound is not installed, and CI must run the DNSSEC tests: apt-get install -y unbound")
		}
		t.Skipf("SKIPPED LOUDLY: unbound is not installed, so DANE is not tested against a validating resolver (apt-get install -y unbound)")
	}
	dir := t.TempDir()
	conf := fmt.Sprintf(`server:
	interface: %s
	port: %d
	do-ip6: no
	do-daemonize: no
	use-systemd: no
	username: ""
	chroot: ""
	directory: %q
	pidfile: ""
	logfile: ""
	use-syslog: no
	verbosity: 1
	access-control: 127.0.0.0/8 allow
	do-not-query-localhost: no
	qname-minimisation: no
	module-config: "validator iterator"
	trust-anchor: "%s"
	ede: yes
	# Unbound answers .test itself (RFC 6761), where the tests' zones live.
	local-zone: "test." nodefault
	val-log-level: 2
	cache-max-ttl: 0
	cache-max-negative-ttl: 0
	num-threads: 1
remote-control:
	control-enable: no
forward-zone:
	name: "."
	forward-addr: %s@%d
`, listen.Addr(), listen.Port(), dir, strings.Join(strings.Fields(anchor), " "), upstream.Addr(), upstream.Port())
	path := filepath.Join(dir, "unbound.conf")
	if err := os.WriteFile(path, []byte(conf), 0o644); err != nil {
		t.Fatal(err)
	}
	var logs bytes.Buffer
	cmd := exec.Command(bin, "-d", "-c", path)
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("starting unbound: %v", err)
	}
	exited := make(chan struct{})
	var waitErr error
	go func() { waitErr = cmd.Wait(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Kill()
		<-exited
		if t.Failed() {
			t.Logf("unbound's log:\n%s", logs.String())
		}
	})
	addr := listen
	// Ready when it answers; a loaded machine may take a few seconds to
	// start it, hence the generous 20 s.
	deadline := time.Now().Add(20 * time.Second)
	for {
		select {
		case <-exited:
			t.Fatalf("unbound exited: %v\n%s", waitErr, logs.String())
		default:
		}
		m := new(dns.Msg)
		m.SetQuestion(".", dns.TypeNS)
		c := &dns.Client{Timeout: 500 * time.Millisecond}
		if _, _, err := c.ExchangeContext(context.Background(), m, addr.String()); err == nil {
			return addr
		}
		if time.Now().After(deadline) {
			t.Fatalf("unbound did not answer within 20 s\n%s", logs.String())
		}
		time.Sleep(100 * time.Millisecond)
	}
}

// freeLoopbackAddrPort is a port free a moment ago, for a server in
// another process that cannot be handed a socket: free for both UDP and
// TCP, as Unbound binds both, on an address of its own in 127.0.0.0/8: a port only free
// for UDP on 127.0.0.1 was once taken for TCP by a test server of another
// package before Unbound could bind it.
func freeLoopbackAddrPort(t testing.TB) netip.AddrPort {
	t.Helper()
	for range 20 {
		ip := netip.AddrFrom4([4]byte{127, byte(100 + rand.IntN(100)), byte(rand.IntN(256)), byte(1 + rand.IntN(254))})
		tcp, err := net.Listen("tcp", netip.AddrPortFrom(ip, 0).String())
		if err != nil {
			continue
		}
		port := tcp.Addr().(*net.TCPAddr).Port
		udp, err := net.ListenPacket("udp", netip.AddrPortFrom(ip, uint16(port)).String())
		tcp.Close()
		if err != nil {
			continue
		}
		udp.Close()
		return netip.AddrPortFrom(ip, uint16(port))
	}
	t.Fatal("no loopback address and port free for both UDP and TCP")
	return netip.AddrPort{}
}
