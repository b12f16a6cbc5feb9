package render

import (
	"bytes"
	"os"
	"os/exec"
	"testing"
)

// checkMetricsWithPromtool runs 'promtool check metrics' (Debian's
// prometheus package) on an exposition. Without promtool the test is
// skipped, loudly, except under CI=true, where it must run.
func checkMetricsWithPromtool(t *testing.T, exposition []byte) {
	t.Helper()
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("CI=true and no promtool: install Debian's prometheus package (scripts/examples/prometheus.sh ensure)")
		}
		t.Skipf("SKIP: no promtool, so the metric names are not linted: apt-get install prometheus")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(exposition)
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Errorf("promtool check metrics: %v\n%s\non:\n%s", err, out, exposition)
	}
}
