package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// countingListener counts the connections a server accepted: the
// handshakes a run cost it.
type countingListener struct {
	net.Listener
	accepted *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.accepted.Add(1)
	}
	return c, err
}

// TestMXSharedHostsProbedOnce: --mx over 10,000 domains whose mail goes to
// 20 MX hosts of one provider, as Microsoft 365's and Google's serve
// millions of domains. Each MX endpoint is handshaken once per run, not
// once per domain, and every domain is accounted for: by the endpoint line
// of the first domain that reached it, and a shared line for each other
// (issue 14). Streamed (-o jsonl) and held (-o json) alike, and in two
// --shard runs and their merge.
func TestMXSharedHostsProbedOnce(t *testing.T) {
	t.Parallel()
	const domains, hosts = 10000, 20
	root, err := probetest.NewRootCA("e2e Provider Root")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for k := 1; k <= hosts; k++ {
		names = append(names, fmt.Sprintf("mx%d.provider.test", k))
	}
	chain, err := root.Issue(probetest.Spec{CommonName: names[0], DNSNames: names})
	if err != nil {
		t.Fatal(err)
	}
	caFile := filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(caFile, root.RootPEM(), 0o600); err != nil {
		t.Fatal(err)
	}
	// One port on 20 addresses: --mx -p PORT probes every MX host on it.
	var accepted atomic.Int64
	var port int
	records := []string{}
	for k := 1; k <= hosts; k++ {
		addr := fmt.Sprintf("127.0.1.%d", k)
		l, err := net.Listen("tcp", net.JoinHostPort(addr, strconv.Itoa(port)))
		if err != nil {
			t.Fatalf("listening on %s port %d (Linux answers on all of 127.0.0.0/8): %v", addr, port, err)
		}
		port = l.Addr().(*net.TCPAddr).Port
		s := probetest.Serve(countingListener{l, &accepted}, probetest.Config{Chain: chain})
		t.Cleanup(func() { s.Close() })
		records = append(records, fmt.Sprintf("%s. 60 IN A %s", names[k-1], addr))
	}
	var targets []string
	for d := range domains {
		domain := fmt.Sprintf("customer%d.test", d)
		targets = append(targets, domain)
		records = append(records, fmt.Sprintf("%s. 60 IN MX 10 %s.", domain, names[d%hosts]))
	}
	resolver := serveZone(t, records...)
	file := writeTargets(t, targets...)
	// The shards take how to probe; --ca-file is merge's and the run's.
	probing := []string{"--mx", "-p", strconv.Itoa(port), "--no-policy", "--no-tls-required-test", "-4", "--resolver", resolver,
		"--timeout", "20s", "-f", file}
	args := append([]string{"--ca-file", caFile}, probing...)

	// Two shards, then their merge: the shards split the MX hosts between
	// them, and the merge attributes every domain as one run does.
	accepted.Store(0)
	var shardFiles []string
	for k := range 2 {
		r := runBinary(t, environ(), append([]string{"-o", "jsonl", "--shard", fmt.Sprintf("%d/2", k)}, probing...)...)
		if r.code != 0 {
			t.Fatalf("--shard %d/2: %s", k, r)
		}
		shardFiles = append(shardFiles, filepath.Join(t.TempDir(), fmt.Sprintf("shard-%d.jsonl", k)))
		if err := os.WriteFile(shardFiles[k], []byte(r.stdout), 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if got := accepted.Load(); got != hosts {
		t.Errorf("two shards: %d connections to the provider, want %d (each MX endpoint by one shard)", got, hosts)
	}

	for _, c := range []struct {
		format string
		merged bool
	}{{"jsonl", false}, {"json", false}, {"jsonl", true}, {"json", true}} {
		format := c.format
		var r run
		if !c.merged {
			accepted.Store(0)
			r = runBinary(t, environ(), append([]string{"-o", format}, args...)...)
			if got := accepted.Load(); got != hosts {
				t.Errorf("-o %s: %d connections to the provider, want %d (one per MX endpoint, not one per domain)", format, got, hosts)
			}
		} else {
			r = runBinary(t, environ(), append([]string{"merge", "-o", format, "--ca-file", caFile}, shardFiles...)...)
			format += " (merged)"
		}
		if r.code != 0 {
			t.Fatalf("-o %s: %s", format, r)
		}
		attributed := map[string]bool{}
		endpoints, shared := 0, 0
		count := func(typ, target string) {
			switch typ {
			case "endpoint":
				endpoints++
			case "shared":
				shared++
			}
			attributed[target] = true
		}
		if c.format == "jsonl" {
			for _, line := range strings.Split(strings.TrimSpace(r.stdout), "\n") {
				var l struct{ Type, Target string }
				if err := json.Unmarshal([]byte(line), &l); err != nil {
					t.Fatalf("line %q: %v", line, err)
				}
				count(l.Type, l.Target)
			}
		} else {
			var doc struct {
				Results []struct{ Target string }
				Shared  []struct{ Target string }
			}
			if err := json.Unmarshal([]byte(r.stdout), &doc); err != nil {
				t.Fatalf("-o json: %v", err)
			}
			for _, e := range doc.Results {
				count("endpoint", e.Target)
			}
			for _, s := range doc.Shared {
				count("shared", s.Target)
			}
		}
		if endpoints != hosts || shared != domains-hosts {
			t.Errorf("-o %s: %d endpoint and %d shared entries, want %d and %d", format, endpoints, shared, hosts, domains-hosts)
		}
		for _, d := range targets {
			if !attributed[d] {
				t.Fatalf("-o %s: domain %s is on no line", format, d)
			}
		}
	}
}
