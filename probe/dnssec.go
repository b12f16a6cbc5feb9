package probe

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/netip"
	"strings"
	"time"

	"github.com/miekg/dns"
)

// DNSServer is the resolver the policy lookups asked: its answers' AD bit
// is the DNSSEC status, and report decides whether to trust it (only from
// loopback or from the server named with --resolver).
type DNSServer struct {
	Addr netip.AddrPort
	// Named is true when the user named it with --resolver; false when it
	// is the system's, the first nameserver of /etc/resolv.conf.
	Named bool
}

// DNSAnswer is one answer to a policy lookup, as the resolver gave it.
type DNSAnswer struct {
	// Name is the name asked, without the final dot.
	Name string
	// Rcode is the DNS response code (dns.RcodeSuccess, NameError,
	// ServerFailure ...); -1 when no answer came (Err says why).
	Rcode int
	// AD is the resolver's Authenticated Data bit: it validated the
	// answer with DNSSEC.
	AD bool
	// CheckingDisabledRcode is the response code of the same question
	// asked again with the CD bit, after a SERVFAIL: an answer then means
	// the data is there but fails validation (bogus); -1 when not asked.
	CheckingDisabledRcode int
	// ExtendedErrors are the EDNS extended error codes (RFC 8914) of the
	// answer: 6 is "DNSSEC Bogus".
	ExtendedErrors []uint16
	Err            error
}

// Found reports whether the answer holds records of the name.
func (a DNSAnswer) Found() bool { return a.Err == nil && a.Rcode == dns.RcodeSuccess }

// policyResolver asks one DNS server with the DO bit set, so that the AD
// bit of its answers can be read: net.Resolver hides it.
type policyResolver struct {
	server DNSServer
}

// newPolicyResolver uses opts.ResolverAddr (--resolver) when set, else the
// first nameserver of the system's resolv.conf.
func newPolicyResolver(opts Options) (*policyResolver, error) {
	if opts.ResolverAddr.IsValid() {
		return &policyResolver{server: DNSServer{Addr: opts.ResolverAddr, Named: true}}, nil
	}
	conf, err := dns.ClientConfigFromFile("/etc/resolv.conf")
	if err != nil {
		return nil, fmt.Errorf("reading the system's resolver from /etc/resolv.conf: %w", err)
	}
	for _, s := range conf.Servers {
		port := conf.Port
		if port == "" {
			port = "53"
		}
		if ap, err := netip.ParseAddrPort(net.JoinHostPort(s, port)); err == nil {
			return &policyResolver{server: DNSServer{Addr: ap}}, nil
		}
	}
	return nil, errors.New("no nameserver in /etc/resolv.conf")
}

// query asks name and qtype, with DO so that a validating resolver says
// with AD whether it validated. A SERVFAIL is asked again with CD, which
// tells a bogus answer (served with CD, refused without) from a failing
// server.
func (r *policyResolver) query(ctx context.Context, name string, qtype uint16) (DNSAnswer, []dns.RR) {
	ans := DNSAnswer{Name: strings.TrimSuffix(name, "."), Rcode: -1, CheckingDisabledRcode: -1}
	msg, err := r.exchange(ctx, name, qtype, false)
	if err != nil {
		ans.Err = err
		return ans, nil
	}
	ans.Rcode, ans.AD = msg.Rcode, msg.AuthenticatedData
	if opt := msg.IsEdns0(); opt != nil {
		for _, o := range opt.Option {
			if ede, ok := o.(*dns.EDNS0_EDE); ok {
				ans.ExtendedErrors = append(ans.ExtendedErrors, ede.InfoCode)
			}
		}
	}
	if msg.Rcode == dns.RcodeServerFailure {
		if cd, err := r.exchange(ctx, name, qtype, true); err == nil {
			ans.CheckingDisabledRcode = cd.Rcode
		}
		return ans, nil
	}
	var rrs []dns.RR
	for _, rr := range msg.Answer {
		if rr.Header().Rrtype == qtype && strings.EqualFold(rr.Header().Name, dns.Fqdn(name)) {
			rrs = append(rrs, rr)
		}
	}
	return ans, rrs
}

func (r *policyResolver) exchange(ctx context.Context, name string, qtype uint16, checkingDisabled bool) (*dns.Msg, error) {
	m := new(dns.Msg)
	m.SetQuestion(dns.Fqdn(name), qtype)
	m.SetEdns0(4096, true)
	// AD in a query asks for the AD bit in the answer (RFC 6840 5.7).
	m.AuthenticatedData = true
	m.CheckingDisabled = checkingDisabled
	c := &dns.Client{Net: "udp", Timeout: 5 * time.Second}
	in, _, err := c.ExchangeContext(ctx, m, r.server.Addr.String())
	if err == nil && in.Truncated {
		c.Net = "tcp"
		in, _, err = c.ExchangeContext(ctx, m, r.server.Addr.String())
	}
	if err != nil {
		return nil, fmt.Errorf("%s lookup of %s at %s: %w", dns.TypeToString[qtype], strings.TrimSuffix(name, "."), r.server.Addr, err)
	}
	return in, nil
}

// txt looks up the TXT records of name, each record's strings joined as
// RFC 7208 3.3 and RFC 8461 3.1 have it.
func (r *policyResolver) txt(ctx context.Context, name string) TXTAnswer {
	ans, rrs := r.query(ctx, name, dns.TypeTXT)
	t := TXTAnswer{DNSAnswer: ans}
	for _, rr := range rrs {
		t.Records = append(t.Records, strings.Join(rr.(*dns.TXT).Txt, ""))
	}
	return t
}

// validatingAncestor returns the closest ancestor of owner whose DS answer
// the resolver validated (AD), "" when none did on the way up. One there
// proves the resolver validates, so an answer below it without AD is
// insecure (an unsigned delegation on the way), not unknown.
func (r *policyResolver) validatingAncestor(ctx context.Context, owner string) string {
	labels := dns.SplitDomainName(owner)
	for i := 1; i < len(labels); i++ {
		if strings.HasPrefix(labels[i], "_") {
			// _25._tcp are not zone cuts: nothing to ask.
			continue
		}
		name := strings.Join(labels[i:], ".")
		if ans, _ := r.query(ctx, name, dns.TypeDS); ans.Err == nil && ans.AD {
			return name
		}
	}
	return ""
}
