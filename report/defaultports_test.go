package report_test

import (
	"fmt"
	"net"
	"os"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// timeoutErr is what a filtered port gives: a dial that times out.
type timeoutErr struct{}

func (timeoutErr) Error() string   { return "i/o timeout" }
func (timeoutErr) Timeout() bool   { return true }
func (timeoutErr) Temporary() bool { return true }

func unanswered(port int, defaultPort, filtered bool) probe.Result {
	var err error = &net.OpError{Op: "dial", Net: "tcp", Err: os.NewSyscallError("connect", syscall.ECONNREFUSED)}
	if filtered {
		err = &net.OpError{Op: "dial", Net: "tcp", Err: timeoutErr{}}
	}
	return probe.Result{
		Endpoint: probe.Endpoint{Target: "mx.test", Host: "mx.test", Port: port, DefaultPort: defaultPort},
		Address:  "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Error: &probe.Error{Phase: probe.PhaseConnect, Err: fmt.Errorf("connect: %w", err)},
	}
}

// Ports nobody asked for (the default 25, 587 and 2525) that are closed or
// filtered never raise the status: a host that answers on 25 alone exits
// with 25's verdict. A port asked for stays CRITICAL, and a host that
// answers on no port at all is CRITICAL.
func TestPortsNobodyAskedFor(t *testing.T) {
	t.Parallel()
	answers := func(port int) probe.Result {
		banner := &probe.Reply{Code: 220, Lines: []string{"mx.test ESMTP Postfix"}}
		return probe.Result{
			Endpoint: probe.Endpoint{Target: "mx.test", Host: "mx.test", Port: port, DefaultPort: true},
			Address:  "127.0.0.1", Mode: probe.ModeSTARTTLS, Banner: banner,
			EHLO: &probe.Reply{Code: 250, Lines: []string{"mx.test", "PIPELINING"}},
		}
	}
	connect := func(s report.Summary, i int) report.Check {
		for _, c := range s.Endpoints[i].Checks {
			if c.ID == report.CheckConnect {
				return c
			}
		}
		t.Fatalf("endpoint %d has no connect check", i)
		return report.Check{}
	}
	now := time.Now()

	// 25 answers without STARTTLS (critical on its own); 587 closed, 2525
	// filtered: the run is 25's verdict, and the others say what they are.
	s := report.Judge([]probe.Result{answers(25), unanswered(587, true, false), unanswered(2525, true, true)}, report.Expect{}, now)
	if st := s.Endpoints[0].Status; s.Status != st {
		t.Errorf("run status %s, want port 25's %s", s.Status, st)
	}
	if c := connect(s, 1); c.Status != report.Skipped || c.Message != "port 587: closed (connection refused), not asked for" {
		t.Errorf("587: %s %q", c.Status, c.Message)
	}
	if c := connect(s, 2); c.Status != report.Skipped || !strings.HasPrefix(c.Message, "port 2525: filtered (no answer within 3s), not asked for") {
		t.Errorf("2525: %s %q", c.Status, c.Message)
	}

	// A healthy 25 and closed defaults: OK, exit 0.
	healthy := answers(25)
	healthy.Mode = probe.ModeImplicit // nothing to judge but the connection
	s = report.Judge([]probe.Result{healthy, unanswered(587, true, false), unanswered(2525, true, false)}, report.Expect{}, now)
	if s.ExitCode() == 2 || s.ExitCode() == 1 {
		t.Errorf("closed ports nobody asked for raised the run to %s: %+v", s.Status, s.Problems)
	}

	// Asked for with -p: CRITICAL as before.
	s = report.Judge([]probe.Result{answers(25), unanswered(587, false, false)}, report.Expect{}, now)
	if c := connect(s, 1); c.Status != report.Critical {
		t.Errorf("587 asked for: %s %q, want CRITICAL", c.Status, c.Message)
	}

	// No port answers: the host is CRITICAL, and says which ports.
	s = report.Judge([]probe.Result{unanswered(25, true, false), unanswered(587, true, true), unanswered(2525, true, false)}, report.Expect{}, now)
	if s.Status != report.Critical {
		t.Fatalf("no port answered: run %s, want CRITICAL", s.Status)
	}
	for i := range s.Endpoints {
		if c := connect(s, i); c.Status != report.Critical || c.Message != "no SMTP port of mx.test answered (25 closed, 587 filtered, 2525 closed)" {
			t.Errorf("endpoint %d: %s %q", i, c.Status, c.Message)
		}
	}
	// One finding about the host, not one per port, for an alert to say.
	if len(s.Problems) != 1 {
		t.Errorf("problems %+v, want the host's one", s.Problems)
	}
}

// The probe marks the default ports, and only them.
func TestDefaultPortsAreMarked(t *testing.T) {
	t.Parallel()
	eps, err := probe.Endpoints([]string{"mx.test", "mx.test:2525"}, nil, false)
	if err != nil {
		t.Fatal(err)
	}
	for _, ep := range eps {
		if want := ep.Target == "mx.test"; ep.DefaultPort != want {
			t.Errorf("%s (target %s): DefaultPort %v, want %v", ep, ep.Target, ep.DefaultPort, want)
		}
	}
}
