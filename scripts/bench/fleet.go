package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"fmt"
	"math/big"
	"net"
	"net/netip"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// A fleet is the STARTTLS servers one scale round probes: a few listeners,
// each a port bound on every loopback address, so that N target lines are N
// distinct (address, port) endpoints (the probe probes a repeated line once)
// without N sockets. The lines are hosts with the same few ports each (3,
// as 25, 587 and 2525), one host after another: line i is address i div P
// and port i mod P, as a batch of many hosts lists them. The probe judges
// the ports of one host together, when the last of them is done; a host
// whose ports were spread over the whole file would be held until its end.
//
// A "pool" fleet presents one chain on every endpoint, as a load-balanced
// pool of identical nodes: the probe's verification cache verifies it once.
// A "fleet" fleet presents a leaf of its own on every endpoint, all issued
// by one CA, as a real population of hosts does: every endpoint costs a
// verification. The leaves share one key pair: the handshake costs the same
// either way, and the cache keys on the chain.
type fleet struct {
	name     string
	distinct bool
	servers  []*probetest.Server
	ports    []int
	// leaves is each endpoint's leaf (DER), by endpoint; nil for a pool.
	leaves map[netip.AddrPort][]byte
	key    crypto.Signer
}

// benchAddress is the i-th loopback address endpoints are spread over:
// 127.20.0.1 up, last octet 1–250, all of them on lo (Linux routes the whole
// of 127.0.0.0/8 there).
func benchAddress(i int) netip.Addr {
	return netip.AddrFrom4([4]byte{127, 20, byte(i / 250), byte(1 + i%250)})
}

// endpoint is target line i of a fleet.
func (f *fleet) endpoint(i int) netip.AddrPort {
	return netip.AddrPortFrom(benchAddress(i/len(f.ports)), uint16(f.ports[i%len(f.ports)]))
}

// newFleet listens on portsPerHost ports, each on every loopback address,
// for maxEndpoints endpoints, and, when distinct, issues every endpoint its
// leaf.
// pool is the chain a pool serves; a fleet needs it too, as go-smtp offers
// STARTTLS only with a certificate configured, and then replaces it.
func newFleet(name string, distinct bool, root *probetest.CA, pool *probetest.Chain, maxEndpoints, portsPerHost int) (*fleet, error) {
	// Three at least, for the ports case (ports.go).
	ports := max(3, portsPerHost)
	if hosts := (maxEndpoints + ports - 1) / ports; hosts > 250*256 {
		return nil, fmt.Errorf("%d hosts: at most %d addresses", hosts, 250*256)
	}
	f := &fleet{name: name, distinct: distinct}
	cfg := probetest.Config{Chain: pool, Domain: "bench.test"}
	if distinct {
		key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
		if err != nil {
			return nil, err
		}
		f.key = key
		cfg.ConfigureTLS = func(c *tls.Config) {
			c.Certificates = nil
			c.GetCertificate = f.certificate
		}
	}
	for range ports {
		l, err := listenEveryLoopback()
		if err != nil {
			f.close()
			return nil, err
		}
		s := probetest.Serve(l, cfg)
		f.servers = append(f.servers, s)
		f.ports = append(f.ports, s.Port())
	}
	if distinct {
		start := time.Now()
		leaves, err := issueLeaves(root, f.key, f, maxEndpoints)
		if err != nil {
			f.close()
			return nil, err
		}
		f.leaves = leaves
		fmt.Printf("bench: fleet %q: %d leaves issued in %s\n", name, len(leaves), time.Since(start).Round(time.Millisecond))
	}
	return f, nil
}

// certificate serves the leaf of the endpoint dialed.
func (f *fleet) certificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	at, ok := hello.Conn.LocalAddr().(*net.TCPAddr)
	if !ok {
		return nil, fmt.Errorf("not TCP: %v", hello.Conn.LocalAddr())
	}
	der, ok := f.leaves[netip.AddrPortFrom(at.AddrPort().Addr().Unmap(), at.AddrPort().Port())]
	if !ok {
		return nil, fmt.Errorf("no leaf for %v", at)
	}
	return &tls.Certificate{Certificate: [][]byte{der}, PrivateKey: f.key}, nil
}

// issueLeaves issues n leaves, one per endpoint of f, on every CPU.
func issueLeaves(root *probetest.CA, key crypto.Signer, f *fleet, n int) (map[netip.AddrPort][]byte, error) {
	ders := make([][]byte, n)
	errs := make([]error, runtime.NumCPU())
	var wg sync.WaitGroup
	for w := range errs {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := w; i < n; i += len(errs) {
				ep := f.endpoint(i)
				tmpl := &x509.Certificate{
					SerialNumber:          big.NewInt(int64(i) + 1000),
					Subject:               pkix.Name{CommonName: fmt.Sprintf("h%d.bench.test", i)},
					DNSNames:              []string{"bench.test"},
					IPAddresses:           []net.IP{ep.Addr().AsSlice()},
					NotBefore:             time.Now().Add(-time.Hour),
					NotAfter:              time.Now().Add(90 * 24 * time.Hour),
					KeyUsage:              x509.KeyUsageDigitalSignature,
					ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
					BasicConstraintsValid: true,
				}
				der, err := x509.CreateCertificate(rand.Reader, tmpl, root.Cert, key.Public(), root.Key)
				if err != nil {
					errs[w] = err
					return
				}
				ders[i] = der
			}
		}()
	}
	wg.Wait()
	for _, err := range errs {
		if err != nil {
			return nil, fmt.Errorf("issue leaves: %w", err)
		}
	}
	leaves := make(map[netip.AddrPort][]byte, n)
	for i, der := range ders {
		leaves[f.endpoint(i)] = der
	}
	return leaves, nil
}

// writeTargets writes the fleet's first n endpoints, one a line.
func (f *fleet) writeTargets(path string, n int) error {
	var b strings.Builder
	for i := range n {
		b.WriteString(f.endpoint(i).String())
		b.WriteByte('\n')
	}
	return os.WriteFile(path, []byte(b.String()), 0o644)
}

func (f *fleet) close() {
	for _, s := range f.servers {
		s.Close()
	}
}
