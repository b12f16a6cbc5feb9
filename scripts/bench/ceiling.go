package main

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"strings"
	"sync"
	"time"
)

// ceiling is the least any STARTTLS probe must do, written as plainly as it
// can be: connect, read the banner, EHLO, STARTTLS, handshake, QUIT. No
// transcript, no judging, no second connection. Its throughput against the
// same servers at the same concurrency bounds what starttls-probe can reach.
func ceiling(ctx context.Context, addrs []string, concurrency int, timeout time.Duration) (latencies []time.Duration, failures int, took time.Duration) {
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
				errs[i] = minimalSTARTTLS(ctx, addrs[i], timeout)
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
	for _, err := range errs {
		if err != nil {
			failures++
		}
	}
	return latencies, failures, took
}

func minimalSTARTTLS(ctx context.Context, addr string, timeout time.Duration) error {
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
	tc := tls.Client(c, &tls.Config{InsecureSkipVerify: true, ServerName: "bench.test"})
	if err := tc.HandshakeContext(ctx); err != nil {
		return fmt.Errorf("handshake: %w", err)
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
