package e2e

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// monitoredHost is a go-smtp server on loopback for mx.test: STARTTLS with
// a certificate from a throwaway CA, or none with noSTARTTLS. It returns the
// address and the flags that trust the CA and expect the name, so that a
// healthy host judges OK.
func monitoredHost(t *testing.T, noSTARTTLS bool) (addr string, trust []string) {
	t.Helper()
	root, err := probetest.NewRootCA("e2e Monitoring Root")
	if err != nil {
		t.Fatal(err)
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "mx.test", DNSNames: []string{"mx.test"}})
	if err != nil {
		t.Fatal(err)
	}
	srv := probetest.NewServer(t, probetest.Config{Chain: chain, NoSTARTTLS: noSTARTTLS})
	caFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	return srv.Addr(), []string{"--ca-file", caFile, "-n", "mx.test", "--no-tls-required-test"}
}

func TestQuietPrintsTheReportOnFailure(t *testing.T) {
	t.Parallel()
	addr, trust := monitoredHost(t, true)
	quiet := runBinary(t, environ(), append(append([]string{"-q"}, trust...), addr)...)
	normal := runBinary(t, environ(), append(trust, addr)...)
	if quiet.code != 2 || normal.code != 2 {
		t.Fatalf("no STARTTLS: want exit 2 with and without -q, got\n%s\n%s", quiet, normal)
	}
	if !strings.Contains(quiet.stdout, "STARTTLS not offered") {
		t.Errorf("-q on a failing host must print the report:\n%s", quiet)
	}
	if quiet.stdout != normal.stdout {
		t.Errorf("-q changed the report:\n--- with -q\n%s--- without\n%s", quiet.stdout, normal.stdout)
	}
}

func TestCorruptBaselineIsAnErrorAndLeftUntouched(t *testing.T) {
	t.Parallel()
	addr, trust := monitoredHost(t, false)
	path := filepath.Join(t.TempDir(), "baseline.json")
	const corrupt = "{\"format\": \"starttls-probe baseline\", \"version\": 1, \"endpoints\": ["
	if err := os.WriteFile(path, []byte(corrupt), 0o600); err != nil {
		t.Fatal(err)
	}
	r := runBinary(t, environ(), append(append([]string{"--baseline", path, "--update-baseline"}, trust...), addr)...)
	if r.code != 3 {
		t.Fatalf("corrupt baseline: want exit 3, got %s", r)
	}
	if lines := strings.Split(strings.TrimSuffix(r.stderr, "\n"), "\n"); len(lines) != 1 || !strings.HasPrefix(lines[0], "starttls-probe: error: baseline "+path+" is not a starttls-probe baseline") {
		t.Errorf("corrupt baseline: want one error line on stderr, got %q", r.stderr)
	}
	if got, _ := os.ReadFile(path); string(got) != corrupt {
		t.Errorf("the corrupt baseline was changed to %q", got)
	}
}

// TestOverlappingRunsShareOneBaseline starts runs at once, each probing its
// own host into the same new baseline: every one must end up recorded.
func TestOverlappingRunsShareOneBaseline(t *testing.T) {
	t.Parallel()
	path := filepath.Join(t.TempDir(), "baseline.json")
	const runs = 6
	var wg sync.WaitGroup
	results := make([]run, runs)
	for i := range results {
		addr, trust := monitoredHost(t, false)
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = runBinary(t, environ(), append(append([]string{"-q", "--baseline", path}, trust...), addr)...)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.code != 0 {
			t.Errorf("run %d: %s", i, r)
		}
	}
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var doc struct {
		Endpoints []struct {
			Port int `json:"port"`
		} `json:"endpoints"`
	}
	if err := json.Unmarshal(data, &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Endpoints) != runs {
		t.Errorf("%d endpoints in the baseline after %d overlapping runs:\n%s", len(doc.Endpoints), runs, data)
	}
}
