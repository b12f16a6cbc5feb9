package e2e

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// shardFleet is the loopback mail hosts the example probes, named in a
// loopback DNS zone.
type shardFleet struct {
	targets   []string
	endpoints int // distinct endpoints among targets
	resolver  string
	caFile    string
	// balanced is a name with two addresses in different shards, each
	// presenting a certificate of its own.
	balanced struct {
		name, target string
		port         int
		addrs        [2]string
	}
}

// startShardFleet picks loopback addresses so that each of the shards owns
// at least one (probe.Shard.Owns, as --shard decides) and serves on them:
// lb.shard.test at two addresses owned by different shards on one port,
// each with its own valid leaf; mx1.shard.test on two ports of one address;
// mx2 (expiring in 14 days) and mx3 (in 25) on one port each; one target
// listed twice.
func startShardFleet(t *testing.T, shards int) shardFleet {
	t.Helper()
	byShard := make([][]string, shards)
	for x := 2; x < 255; x++ {
		addr := fmt.Sprintf("127.0.0.%d", x)
		for k := range shards {
			if (probe.Shard{Index: k, Count: shards}).Owns(probe.Job{Endpoint: probe.Endpoint{Address: addr}}) {
				byShard[k] = append(byShard[k], addr)
			}
		}
	}
	for k, addrs := range byShard {
		if len(addrs) < 2 {
			t.Fatalf("shard %d owns %d of 127.0.0.2-254, want 2", k, len(addrs))
		}
	}
	root, err := probetest.NewRootCA("k8s example Root")
	if err != nil {
		t.Fatal(err)
	}
	issue := func(name string, days int) *probetest.Chain {
		c, err := root.Issue(probetest.Spec{CommonName: name, DNSNames: []string{name},
			NotAfter: time.Now().Add(time.Duration(days) * 24 * time.Hour)})
		if err != nil {
			t.Fatal(err)
		}
		return c
	}
	var f shardFleet
	f.caFile = filepath.Join(t.TempDir(), "root.pem")
	if err := os.WriteFile(f.caFile, root.RootPEM(), 0o644); err != nil {
		t.Fatal(err)
	}
	listen := func(addr string) net.Listener {
		l, err := net.Listen("tcp", addr)
		if errors.Is(err, syscall.EADDRNOTAVAIL) {
			t.Skipf("cannot listen on %s (Linux has all of 127.0.0.0/8 on lo): %v", addr, err)
		}
		if err != nil {
			t.Fatalf("listen on %s: %v", addr, err)
		}
		return l
	}
	serve := func(l net.Listener, chain *probetest.Chain) int {
		s := probetest.Serve(l, probetest.Config{Chain: chain})
		t.Cleanup(func() { s.Close() })
		return l.Addr().(*net.TCPAddr).Port
	}
	b := &f.balanced
	b.name = "lb.shard.test"
	b.addrs = [2]string{byShard[0][0], byShard[1][0]}
	// One port on both addresses, as a load-balanced name has; another
	// process may hold it on the second address, so try a few.
	var second net.Listener
	for range 10 {
		first := listen(b.addrs[0] + ":0")
		port := first.Addr().(*net.TCPAddr).Port
		l, err := net.Listen("tcp", net.JoinHostPort(b.addrs[1], strconv.Itoa(port)))
		if err == nil {
			second = l
			b.port = serve(first, issue(b.name, 90))
			break
		}
		first.Close()
	}
	if second == nil {
		t.Fatalf("no port free on both %s and %s", b.addrs[0], b.addrs[1])
	}
	serve(second, issue(b.name, 90)) // the same name, another leaf
	b.target = net.JoinHostPort(b.name, strconv.Itoa(b.port))
	f.targets = append(f.targets, b.target)

	records := []string{"lb.shard.test. 60 IN A " + b.addrs[0], "lb.shard.test. 60 IN A " + b.addrs[1]}
	// mx2 expires within the merge's --warn-days 21; mx3 in 25 days,
	// which only the default --warn-days 30 would warn of: the merge must
	// judge with the expectations it is given.
	hosts := []struct {
		name, addr  string
		ports, days int
	}{
		{"mx1.shard.test", byShard[2%shards][1], 2, 90},
		{"mx2.shard.test", byShard[3%shards][0], 1, 14},
		{"mx3.shard.test", byShard[0][1], 1, 25},
	}
	for _, h := range hosts {
		records = append(records, fmt.Sprintf("%s. 60 IN A %s", h.name, h.addr))
		chain := issue(h.name, h.days)
		for range h.ports {
			port := serve(listen(h.addr+":0"), chain)
			f.targets = append(f.targets, net.JoinHostPort(h.name, strconv.Itoa(port)))
		}
	}
	f.endpoints = len(f.targets) + 1                  // lb's second address
	f.targets = append(f.targets, "# a comment line") // as -f reads them
	f.targets = append(f.targets, f.targets[1])       // probed once
	f.resolver = serveZone(t, records...)
	return f
}
