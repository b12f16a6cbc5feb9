package probetest

import (
	"crypto/sha256"
	"encoding/hex"
	"fmt"
	"net/netip"

	"github.com/starttls-probe/starttls-probe/probe/probetest/dnstest"
)

// DemoDomain is the demo's mail domain, whose published policy the demo
// shows: MTA-STS in enforce mode, a TLSA 3 1 1 record for its MX and a
// TLS-RPT record.
const DemoDomain = "contoso.test"

// DemoPolicy is where the demo's policy is served, on loopback: the DNS
// server to give as probe.Options.ResolverAddr and the HTTPS server of
// mta-sts.contoso.test as probe.Options.PolicyHTTPSAddr.
type DemoPolicy struct {
	Resolver netip.AddrPort
	HTTPS    string
}

// startPolicy serves the demo domain's policy: its records from a
// loopback DNS server that sets AD, as a validating resolver on this
// machine would for a signed zone, and its MTA-STS policy over HTTPS with
// a certificate for mta-sts.contoso.test from the demo's CA.
func (d *Demo) startPolicy(issuing *CA, mx *Chain) error {
	web, err := issuing.Issue(Spec{CommonName: "mta-sts." + DemoDomain, DNSNames: []string{"mta-sts." + DemoDomain}, RSABits: 2048})
	if err != nil {
		return err
	}
	policy := StartPolicyServer(web)
	d.closers = append(d.closers, policy.Close)
	policy.Set(DemoDomain, PolicyResponse{ContentType: "text/plain",
		Body: "version: STSv1\r\nmode: enforce\r\nmx: " + DemoName + "\r\nmax_age: 604800\r\n"})
	spki := sha256.Sum256(mx.Leaf().RawSubjectPublicKeyInfo)
	dns, err := dnstest.Start(
		fmt.Sprintf(`_mta-sts.%s. 300 IN TXT "v=STSv1; id=20250101"`, DemoDomain),
		fmt.Sprintf(`_smtp._tls.%s. 300 IN TXT "v=TLSRPTv1; rua=mailto:tls-reports@%s"`, DemoDomain, DemoDomain),
		fmt.Sprintf("_25._tcp.%s. 300 IN TLSA 3 1 1 %s", DemoName, hex.EncodeToString(spki[:])),
	)
	if err != nil {
		return err
	}
	dns.SetAuthenticData(true)
	d.closers = append(d.closers, dns.Close)
	d.Policy = DemoPolicy{Resolver: dns.Addr(), HTTPS: policy.Addr()}
	return nil
}
