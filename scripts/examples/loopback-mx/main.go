// Command loopback-mx is the mail host that scripts/examples/test-examples.sh
// runs the examples against: one loopback port that, connection by
// connection, plays whichever state the file named by -mode holds:
//
//	good      STARTTLS with a certificate for mail.contoso.com from a private CA
//	renewed   STARTTLS with another certificate for the same name, same CA
//	plain     no STARTTLS at all
//
// so that a cron job or Nagios check run twice sees the change between
// runs, on the same host:port as in production. It writes the CA to
// -ca-file, prints "ADDR=127.0.0.1:port" when ready, and serves until it is
// sent SIGTERM or SIGINT. It listens on loopback only (probetest).
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/starttls-probe/starttls-probe/probe/probetest"
)

// hostName is the name the examples check, as in their text.
const hostName = "mail.contoso.com"

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "loopback-mx:", err)
		os.Exit(1)
	}
}

func run() error {
	modeFile := flag.String("mode", "", "file holding the state to play: good, renewed or plain")
	caFile := flag.String("ca-file", "", "where to write the private CA's root, PEM")
	flag.Parse()
	if *modeFile == "" || *caFile == "" {
		return errors.New("usage: loopback-mx -mode FILE -ca-file FILE")
	}
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()

	root, err := probetest.NewRootCA("Contoso Example Root CA")
	if err != nil {
		return err
	}
	if err := os.WriteFile(*caFile, root.RootPEM(), 0o644); err != nil {
		return err
	}
	backends := map[string]*probetest.Server{}
	for _, mode := range []string{"good", "renewed", "plain"} {
		chain, err := root.Issue(probetest.Spec{CommonName: hostName, DNSNames: []string{hostName}, NotAfter: time.Now().Add(200 * 24 * time.Hour)})
		if err != nil {
			return err
		}
		srv, err := probetest.Start(probetest.Config{Chain: chain, NoSTARTTLS: mode == "plain", Domain: hostName})
		if err != nil {
			return err
		}
		defer srv.Close()
		backends[mode] = srv
	}

	front, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return err
	}
	context.AfterFunc(ctx, func() { front.Close() })
	fmt.Printf("ADDR=%s\n", front.Addr())

	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := front.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			return err
		}
		mode, err := os.ReadFile(*modeFile)
		backend, ok := backends[strings.TrimSpace(string(mode))]
		if err != nil || !ok {
			fmt.Fprintf(os.Stderr, "loopback-mx: mode file %s holds %q (%v); want good, renewed or plain\n", *modeFile, mode, err)
			c.Close()
			continue
		}
		wg.Add(1)
		go func() {
			defer wg.Done()
			relay(ctx, c, backend.Addr())
		}()
	}
}

// relay joins the client's connection to the backend's until either side
// closes or the program stops.
func relay(ctx context.Context, client net.Conn, backendAddr string) {
	defer client.Close()
	var d net.Dialer
	backend, err := d.DialContext(ctx, "tcp", backendAddr)
	if err != nil {
		return
	}
	defer backend.Close()
	stop := context.AfterFunc(ctx, func() { client.Close(); backend.Close() })
	defer stop()
	done := make(chan struct{}, 2)
	go func() { io.Copy(backend, client); done <- struct{}{} }()
	go func() { io.Copy(client, backend); done <- struct{}{} }()
	<-done
}
