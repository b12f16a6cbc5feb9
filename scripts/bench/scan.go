package main

import (
	"bytes"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os/exec"
	"slices"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// scanCase times --tls-scan against testssl.sh -p -E -S and sslscan
// --starttls-smtp on one loopback server that accepts TLS 1.0 to 1.3 and
// every suite crypto/tls has (insecure ones included), so that each tool
// has the same versions and suites to find. Medians of the repeats; the
// tools that are not installed are left out, saying so.
func scanCase(cfg config) error {
	root, err := probetest.NewRootCA("Bench Scan Root")
	if err != nil {
		return err
	}
	chain, err := root.Issue(probetest.Spec{CommonName: "bench.test", DNSNames: []string{"bench.test"}, RSABits: 2048})
	if err != nil {
		return err
	}
	var all []uint16
	for _, cs := range append(tls.CipherSuites(), tls.InsecureCipherSuites()...) {
		all = append(all, cs.ID)
	}
	// A scripted server, not go-smtp: sslscan 2.0.7 reads the EHLO reply
	// in one recv and misses STARTTLS when the lines come in several
	// writes, as go-smtp's do; the script writes each reply at once.
	srv, err := probetest.StartScript(probetest.Script{
		Greeting:     []string{"220 bench.test ESMTP"},
		EHLO:         []string{"250-bench.test", "250-PIPELINING", "250 STARTTLS"},
		EHLOAfterTLS: []string{"250-bench.test", "250 PIPELINING"},
		STARTTLS:     []string{"220 2.0.0 Ready to start TLS"},
		TLSConfig: &tls.Config{Certificates: []tls.Certificate{chain.TLSCertificate()}, MinVersion: tls.VersionTLS10,
			CipherSuites: all},
	})
	if err != nil {
		return err
	}
	defer srv.Close()
	addr := srv.Addr()

	type tool struct {
		name    string
		argv    []string
		repeats int
	}
	tools := []tool{{name: "starttls-probe --tls-scan", argv: []string{cfg.binary, "--tls-scan", "--no-tls-required-test", "-o", "json",
		"--timeout", cfg.timeout.String(), addr}, repeats: cfg.scanRepeats}}
	if path, err := exec.LookPath("sslscan"); err == nil {
		tools = append(tools, tool{name: "sslscan --starttls-smtp", argv: []string{path, "--starttls-smtp", "--no-colour", addr}, repeats: cfg.scanRepeats})
	} else {
		fmt.Println("sslscan: not installed, not measured")
	}
	testssl, err := exec.LookPath("testssl")
	if err != nil {
		testssl, err = exec.LookPath("testssl.sh")
	}
	if err == nil {
		tools = append(tools, tool{name: "testssl.sh -p -E -S --starttls smtp", argv: []string{testssl, "-p", "-E", "-S", "--starttls", "smtp",
			"--quiet", "--color", "0", "--warnings", "off", addr}, repeats: cfg.testsslRepeats})
	} else {
		fmt.Println("testssl.sh: not installed, not measured")
	}

	fmt.Printf("\nTLS scan of one loopback server (TLS 1.0-1.3, every crypto/tls suite), median of the runs\n")
	var ours time.Duration
	for _, tl := range tools {
		var runs []time.Duration
		handshakes := 0
		for range tl.repeats {
			start := time.Now()
			out, err := exec.Command(tl.argv[0], tl.argv[1:]...).Output()
			took := time.Since(start)
			if _, isExit := err.(*exec.ExitError); err != nil && !isExit {
				return fmt.Errorf("%s: %w", tl.name, err)
			}
			// sslscan says "TLSv1.2", testssl.sh "TLS 1.2".
			if tl.name != tools[0].name && !bytes.Contains(out, []byte("TLSv1.2")) && !bytes.Contains(out, []byte("TLS 1.2")) {
				return fmt.Errorf("%s found no TLS 1.2 on the server, so its time is not comparable:\n%s", tl.name, out)
			}
			if tl.name == tools[0].name {
				var doc struct {
					Results []struct {
						TLSScan *struct {
							Handshakes int    `json:"handshakes"`
							Error      string `json:"error"`
						} `json:"tls_scan"`
					} `json:"results"`
				}
				if err := json.Unmarshal(out, &doc); err != nil || len(doc.Results) != 1 || doc.Results[0].TLSScan == nil || doc.Results[0].TLSScan.Error != "" {
					return fmt.Errorf("%s: no complete scan in %s", tl.name, bytes.TrimSpace(out))
				}
				handshakes = doc.Results[0].TLSScan.Handshakes
			}
			runs = append(runs, took)
		}
		slices.Sort(runs)
		median := runs[len(runs)/2]
		line := fmt.Sprintf("  %-40s %10s  (%d runs)", tl.name, median.Round(time.Millisecond), tl.repeats)
		if tl.name == tools[0].name {
			ours = median
			line += fmt.Sprintf(", %d handshakes", handshakes)
		} else {
			line += fmt.Sprintf(", %.1fx the scan's time", float64(median)/float64(ours))
		}
		fmt.Println(line)
	}
	return nil
}
