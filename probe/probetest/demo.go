package probetest

import (
	"crypto/x509"
	"fmt"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// DemoName is the name the demo's mail host is expected to present.
const DemoName = "mail.contoso.test"

// Demo is a loopback mail host that looks like a typical Exchange server:
// a CA-issued certificate on its "25" listener, a certificate for another
// name on its "587" listener and Exchange's default self-signed certificate
// on its "2525" listener. Each listener runs on a free port.
type Demo struct {
	Endpoints []probe.Endpoint
	// Root is the demo's private root CA, to trust as --ca-file would.
	Root *x509.Certificate
	// Policy serves DemoDomain's published policy (demo_policy.go); the
	// endpoints are its MX.
	Policy  DemoPolicy
	servers []*Server
	closers []func()
}

// Close stops the demo's servers.
func (d *Demo) Close() {
	for _, s := range d.servers {
		s.Close()
	}
	for _, c := range d.closers {
		c()
	}
}

// StartDemo starts the demo's three listeners.
func StartDemo() (*Demo, error) {
	root, err := NewRootCA("Contoso Test Root CA")
	if err != nil {
		return nil, err
	}
	issuing, err := root.NewIntermediate("Contoso Issuing CA 1")
	if err != nil {
		return nil, err
	}
	good, err := issuing.Issue(Spec{
		CommonName: DemoName,
		DNSNames:   []string{DemoName, "autodiscover.contoso.test"},
		NotAfter:   time.Now().Add(200 * 24 * time.Hour),
		RSABits:    2048,
	})
	if err != nil {
		return nil, err
	}
	other, err := issuing.Issue(Spec{
		CommonName: "legacy.contoso.test",
		DNSNames:   []string{"legacy.contoso.test"},
		NotAfter:   time.Now().Add(21 * 24 * time.Hour),
		RSABits:    2048,
	})
	if err != nil {
		return nil, err
	}
	// Exchange's default certificate, made when Exchange was installed
	// 400 days ago.
	exchange := Exchange{Server: "EXCH01", Domain: "contoso.test"}
	defaultCert, err := ExchangeDefaultCertificate(exchange.Server, exchange.Domain, time.Now().AddDate(0, 0, -400))
	if err != nil {
		return nil, err
	}
	banner := exchange.Banner()
	d := &Demo{Root: root.Cert}
	if err := d.startPolicy(issuing, good); err != nil {
		d.Close()
		return nil, fmt.Errorf("demo: %w", err)
	}
	for _, l := range []struct {
		role  int
		chain *Chain
		auth  []string
	}{
		{25, good, nil},
		// Client Frontend offers AUTH once TLS is up (BasicAuthRequireTLS).
		{587, other, []string{"LOGIN"}},
		{2525, defaultCert, nil},
	} {
		s, err := Start(Config{Chain: l.chain, Domain: exchange.FQDN(), Banner: banner, AuthMechanisms: l.auth})
		if err != nil {
			d.Close()
			return nil, fmt.Errorf("demo: %w", err)
		}
		d.servers = append(d.servers, s)
		d.Endpoints = append(d.Endpoints, probe.Endpoint{
			Target:  DemoName,
			Host:    DemoName,
			Address: s.IP(),
			Port:    s.Port(),
			AsPort:  l.role,
			Domain:  DemoDomain,
		})
	}
	return d, nil
}
