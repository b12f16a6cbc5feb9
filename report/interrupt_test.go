package report_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// An endpoint the user interrupted (Ctrl-C, SIGTERM from a monitoring
// timeout) is UNKNOWN: not judged, never CRITICAL, and it does not hide what
// the finished endpoints found.
func TestInterruptedEndpointIsUnknown(t *testing.T) {
	t.Parallel()
	interrupted := probe.Result{
		Endpoint: probe.Endpoint{Host: "mx.test", Port: 25}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Error: &probe.Error{Phase: probe.PhaseBanner, Err: fmt.Errorf("interrupted (%w)", context.Canceled)},
	}
	refused := probe.Result{
		Endpoint: probe.Endpoint{Host: "mx.test", Port: 587}, Address: "127.0.0.1", Mode: probe.ModeSTARTTLS,
		Error: &probe.Error{Phase: probe.PhaseConnect, Err: fmt.Errorf("connection refused")},
	}
	alone := report.Judge([]probe.Result{interrupted}, report.Expect{}, time.Now())
	if alone.Status != report.Unknown || alone.ExitCode() != 3 {
		t.Errorf("interrupted alone: %s (exit %d), want UNKNOWN (exit 3); checks %+v", alone.Status, alone.ExitCode(), alone.Endpoints[0].Checks)
	}
	both := report.Judge([]probe.Result{interrupted, refused}, report.Expect{}, time.Now())
	if both.Status != report.Critical || both.Endpoints[0].Status != report.Unknown {
		t.Errorf("beside a refused port: run %s, interrupted endpoint %s; want CRITICAL and UNKNOWN", both.Status, both.Endpoints[0].Status)
	}
}
