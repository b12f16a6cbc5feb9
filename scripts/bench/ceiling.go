package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// ceiling is the least any STARTTLS probe must do, written as plainly as it
// can be: connect, read the banner, EHLO, STARTTLS, handshake, verify the
// chain against the CA and the name, QUIT. No transcript, no judging, no
// second connection. Its throughput against the same servers at the same
// concurrency bounds what starttls-probe can reach.
//
// It verifies every chain, remembering none: verification is work a probe
// must do (starttls-probe's cache saves it only where endpoints present the
// same chain, which the "pool" fleet gives it and the "fleet" fleet does
// not). With roots nil it skips verification, as the ceiling did before
// issue 14, for the warm-up.
func ceiling(ctx context.Context, addrs []string, concurrency int, timeout time.Duration, roots *x509.CertPool) (latencies []time.Duration, failures int, firstErr error, took time.Duration) {
	latencies = make([]time.Duration, len(addrs))
	errs := make([]error, len(addrs))
	next := make(chan int)
	var wg sync.WaitGroup
	start := time.Now()
	for range concurrency {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				t0 := time.Now()
				errs[i] = minimalSTARTTLS(ctx, addrs[i], timeout, roots)
				latencies[i] = time.Since(t0)
			}
		}()
	}
	for i := range addrs {
		next <- i
	}
	close(next)
	wg.Wait()
	took = time.Since(start)
	for i, err := range errs {
		if err != nil {
			if failures == 0 {
				firstErr = fmt.Errorf("%s: %w", addrs[i], err)
			}
			failures++
		}
	}
	return latencies, failures, firstErr, took
}

// benchName is the name every bench certificate covers, and the one the
// ceiling checks.
const benchName = "bench.test"

func minimalSTARTTLS(ctx context.Context, addr string, timeout time.Duration, roots *x509.CertPool) error {
	var d net.Dialer
	c, err := d.DialContext(ctx, "tcp", addr)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(timeout))
	r := bufio.NewReader(c)
	if err := expect(r, "220"); err != nil {
		return fmt.Errorf("banner: %w", err)
	}
	if _, err := io.WriteString(c, "EHLO bench.test\r\n"); err != nil {
		return err
	}
	if err := expect(r, "250"); err != nil {
		return fmt.Errorf("ehlo: %w", err)
	}
	if _, err := io.WriteString(c, "STARTTLS\r\n"); err != nil {
		return err
	}
	if err := expect(r, "220"); err != nil {
		return fmt.Errorf("starttls: %w", err)
	}
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: benchName})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("handshake: %w", err)
	}
	if roots != nil {
		if err := verify(tc.ConnectionState().PeerCertificates, roots); err != nil {
			return err
		}
	}
	io.WriteString(tc, "QUIT\r\n")
	return expect(bufio.NewReader(tc), "221")
}

// expect reads one whole reply and checks its code.
func expect(r *bufio.Reader, code string) error {
	for {
		line, err := r.ReadString('\n')
		if err != nil {
			return err
		}
		if !strings.HasPrefix(line, code) {
			return fmt.Errorf("got %q, want %s", strings.TrimSpace(line), code)
		}
		if len(line) < 4 || line[3] != '-' {
			return nil
		}
	}
}

// verify checks the chain as sent against roots, and its leaf against
// benchName, as starttls-probe's judgement does (report/verify.go,
// report/checks.go).
func verify(chain []*x509.Certificate, roots *x509.CertPool) error {
	if len(chain) == 0 {
		return fmt.Errorf("verify: no certificate")
	}
	intermediates := x509.NewCertPool()
	for _, c := range chain[1:] {
		intermediates.AddCert(c)
	}
	if _, err := chain[0].Verify(x509.VerifyOptions{Roots: roots, Intermediates: intermediates}); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	if err := chain[0].VerifyHostname(benchName); err != nil {
		return fmt.Errorf("verify: %w", err)
	}
	return nil
}
