package probe_test

import (
	"context"
	"errors"
	"net"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// filteredPort is a loopback port whose connects get no answer, as behind a
// firewall that drops SYNs: a socket listening with a backlog of 0 that never
// accepts, its queue filled first. Linux then drops further SYNs. Linux
// only: other kernels answer a full queue differently.
func filteredPort(t *testing.T) int {
	t.Helper()
	fd, err := syscall.Socket(syscall.AF_INET, syscall.SOCK_STREAM, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { syscall.Close(fd) })
	if err := syscall.Bind(fd, &syscall.SockaddrInet4{Addr: [4]byte{127, 0, 0, 1}}); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Listen(fd, 0); err != nil {
		t.Fatal(err)
	}
	sa, err := syscall.Getsockname(fd)
	if err != nil {
		t.Fatal(err)
	}
	port := sa.(*syscall.SockaddrInet4).Port
	addr := net.JoinHostPort("127.0.0.1", strconv.Itoa(port))
	// Fill the queue until a connect goes unanswered.
	for range 16 {
		c, err := net.DialTimeout("tcp", addr, 300*time.Millisecond)
		if err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				return port
			}
			t.Fatalf("filling the listen queue: %v", err)
		}
		t.Cleanup(func() { c.Close() })
	}
	t.Skip("the kernel kept accepting connections into a full queue: cannot play a filtered port")
	return 0
}

// A filtered port nobody asked for costs DefaultPortConnectTimeout, not the
// whole timeout, and is told apart from a refused one by its error: a
// net.Error whose Timeout() is true. A port asked for keeps the whole
// timeout (issue 12).
func TestFilteredDefaultPortCostsTheConnectBudget(t *testing.T) {
	t.Parallel()
	port := filteredPort(t)
	for _, defaulted := range []bool{true, false} {
		t.Run("DefaultPort="+strconv.FormatBool(defaulted), func(t *testing.T) {
			t.Parallel()
			ep := probe.Endpoint{Target: "127.0.0.1", Host: "127.0.0.1", Port: port, DefaultPort: defaulted}
			opts := options()
			// The asked-for port waits for the whole timeout: 2 s more than
			// the default port's budget keeps the two apart on a loaded
			// machine.
			opts.Timeout = probe.DefaultPortConnectTimeout + 2*time.Second
			start := time.Now()
			res := probe.Probe(context.Background(), ep, opts)
			took := time.Since(start)
			if res.Error == nil || res.Error.Phase != probe.PhaseConnect {
				t.Fatalf("error %v, want a connect failure", res.Error)
			}
			want := opts.Timeout
			if defaulted {
				want = probe.DefaultPortConnectTimeout
				var ne net.Error
				if !errors.As(res.Error, &ne) || !ne.Timeout() {
					t.Errorf("error %v: want a net.Error whose Timeout() is true", res.Error)
				}
			}
			if errors.Is(res.Error, syscall.ECONNREFUSED) {
				t.Errorf("error %v reads as refused, want filtered", res.Error)
			}
			// The message says which wait ran out: the default port's
			// budget, or the endpoint's --timeout.
			const budget = "the connect budget of a port not asked for"
			if got := strings.Contains(res.Error.Error(), budget); got != defaulted {
				t.Errorf("error %q: mentions %q: %v, want %v", res.Error, budget, got, defaulted)
			}
			// Not before the budget; within 1.5 s after it on 2 loaded cores.
			if took < want-50*time.Millisecond || took > want+1500*time.Millisecond {
				t.Errorf("took %s, want about %s", took, want)
			}
		})
	}
}

// With a --timeout shorter than the connect budget of a port nobody asked
// for, it is --timeout that runs out, and the error says so.
func TestFilteredDefaultPortWithAShorterTimeout(t *testing.T) {
	t.Parallel()
	ep := probe.Endpoint{Target: "127.0.0.1", Host: "127.0.0.1", Port: filteredPort(t), DefaultPort: true}
	opts := options()
	opts.Timeout = time.Second
	res := probe.Probe(context.Background(), ep, opts)
	if res.Error == nil || res.Error.Phase != probe.PhaseConnect {
		t.Fatalf("error %v, want a connect failure", res.Error)
	}
	if msg := res.Error.Error(); !strings.Contains(msg, "no answer within the 1s timeout") || strings.Contains(msg, "connect budget") {
		t.Errorf("error %q, want the 1s timeout named, not the connect budget", msg)
	}
}
