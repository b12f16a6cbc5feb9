package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"time"
)

// opensslLoop is what an admin runs today: one s_client per endpoint, one
// after another. Its stdin is empty, so it hangs up right after the
// handshake.
func opensslLoop(addrs []string) measurement {
	m := measurement{name: fmt.Sprintf("openssl s_client -starttls smtp, serial loop (%d)", len(addrs)), endpoints: len(addrs)}
	start := time.Now()
	for _, a := range addrs {
		t0 := time.Now()
		cmd := exec.Command("openssl", "s_client", "-starttls", "smtp", "-connect", a, "-servername", benchName)
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("BEGIN CERTIFICATE")) {
			m.failures++
		}
		m.latencies = append(m.latencies, time.Since(t0))
	}
	m.took = time.Since(start)
	return m
}

// postTLSFingerLoop runs Postfix's posttls-finger the same way, when it is
// installed. It needs a main.cf, even an empty one.
func postTLSFingerLoop(addrs []string) (measurement, bool) {
	path, err := exec.LookPath("posttls-finger")
	if err != nil {
		fmt.Println("posttls-finger: not installed, not measured")
		return measurement{}, false
	}
	conf, err := os.MkdirTemp("", "posttls-finger-")
	if err != nil {
		return measurement{}, false
	}
	defer os.RemoveAll(conf)
	if os.WriteFile(filepath.Join(conf, "main.cf"), nil, 0o644) != nil {
		return measurement{}, false
	}
	m := measurement{name: fmt.Sprintf("posttls-finger, serial loop (%d)", len(addrs)), endpoints: len(addrs)}
	start := time.Now()
	for _, a := range addrs {
		host, port, _ := strings.Cut(a, ":")
		t0 := time.Now()
		cmd := exec.Command(path, "-c", "-l", "may", "["+host+"]:"+port)
		cmd.Env = append(os.Environ(), "MAIL_CONFIG="+conf)
		if out, err := cmd.CombinedOutput(); err != nil || !bytes.Contains(out, []byte("TLS connection established")) {
			m.failures++
		}
		m.latencies = append(m.latencies, time.Since(t0))
	}
	m.took = time.Since(start)
	return m, true
}

// serialProbe is starttls-probe over the openssl loop's endpoints one at a
// time (--concurrency 1), so that its per-endpoint latency stands beside
// openssl's at the same concurrency.
func serialProbe(cfg config, sample []string, dir, caFile string) (measurement, error) {
	targets := filepath.Join(dir, "sample.txt")
	if err := os.WriteFile(targets, []byte(strings.Join(sample, "\n")+"\n"), 0o644); err != nil {
		return measurement{}, err
	}
	return runProbe(cfg.binary, fmt.Sprintf("starttls-probe --concurrency 1 --no-tls-required-test (%d)", len(sample)),
		[]string{"-f", targets, "--concurrency", "1", "-o", "jsonl", "--no-tls-required-test", "--timeout", cfg.timeout.String(), "--ca-file", caFile}, 0)
}
