package probe

import (
	"fmt"
	"net"
	"net/netip"
	"strconv"
	"strings"
	"time"
)

// Endpoint is one (host, port) to probe.
type Endpoint struct {
	// Target is the target as the user wrote it, for display.
	Target string
	// Host is a DNS name or an IP address literal (IPv6 without brackets).
	Host string
	Port int
	// AsPort, when set, is the well-known port this endpoint is probed and
	// judged as (25, 587, 465, 2525) though it listens on Port: the demo
	// serves the roles of 25, 587 and 2525 on free loopback ports.
	AsPort int
	// Address, when set, is the IP address to dial; name resolution is
	// skipped.
	Address string
	// Implicit starts TLS at once instead of using STARTTLS.
	Implicit bool
	// DefaultPort is true when nobody asked for this port: it came from
	// the default list (25, 587, 2525), not from -p, host:port or a port
	// in a line of -f. Connecting to it may take at most
	// DefaultPortConnectTimeout. A connect failure stays an Error in
	// PhaseConnect: refused is errors.Is(err, syscall.ECONNREFUSED),
	// filtered (no answer) is a net.Error whose Timeout() is true.
	DefaultPort bool
	// Domain is the mail domain whose published policy (MTA-STS, DANE,
	// TLS-RPT) applies to this endpoint: the domain of an --mx target, or
	// --domain for a host target; "" for none (policy.go).
	Domain string
}

// DefaultPortConnectTimeout bounds the connect to a port nobody asked for
// (Endpoint.DefaultPort): a filtered default port costs 3 s, not the whole
// --timeout. Once connected, the dialogue has the rest of the timeout. A
// TCP handshake that has not completed in 3 s is lost packets or a
// firewall dropping them: the first SYN retransmission comes after 1 s.
const DefaultPortConnectTimeout = 3 * time.Second

// ServicePort is the well-known port whose rules apply to this endpoint:
// AsPort when set, else Port.
func (e Endpoint) ServicePort() int {
	if e.AsPort != 0 {
		return e.AsPort
	}
	return e.Port
}

// HostIsIP reports whether Host is an IP address literal.
func (e Endpoint) HostIsIP() bool {
	_, err := netip.ParseAddr(e.Host)
	return err == nil
}

// String is host:port, with brackets around IPv6 literals.
func (e Endpoint) String() string { return net.JoinHostPort(e.Host, strconv.Itoa(e.Port)) }

// defaultPorts are the ports probed when a target names none: a new slice
// each time, so no caller can change another's defaults.
func defaultPorts() []int { return []int{25, 587, 2525} }

// implicitTLSPort is the submissions port (RFC 8314), where TLS starts at once.
const implicitTLSPort = 465

// portNames are the service names accepted in place of a port number. They
// are fixed here rather than read from /etc/services, which many containers
// lack.
var portNames = map[string]int{
	"smtp":        25,
	"submission":  587,
	"submissions": 465,
	"smtps":       465,
}

// ParsePort parses a port number (1-65535) or one of the SMTP service names
// smtp, submission, submissions and smtps.
func ParsePort(s string) (int, error) {
	if p, ok := portNames[strings.ToLower(s)]; ok {
		return p, nil
	}
	n, err := strconv.Atoi(s)
	if err != nil {
		if strings.Trim(s, "0123456789") == "" && s != "" {
			return 0, fmt.Errorf("port %q out of range 1-65535", s)
		}
		return 0, fmt.Errorf("unknown port %q (use a number or smtp, submission, submissions)", s)
	}
	if n < 1 || n > 65535 {
		return 0, fmt.Errorf("port %d out of range 1-65535", n)
	}
	return n, nil
}

// ParseTarget splits a target into host and port: "host", "host:port",
// "192.0.2.1", "192.0.2.1:25", "2001:db8::1", "[2001:db8::1]" or
// "[2001:db8::1]:25". port is 0 when the target names none.
func ParseTarget(s string) (host string, port int, err error) {
	if strings.TrimSpace(s) == "" {
		return "", 0, fmt.Errorf("empty target")
	}
	if strings.ContainsAny(s, " \t\r\n/@") {
		return "", 0, fmt.Errorf("malformed target %q: want host, host:port or [IPv6]:port", s)
	}
	host, portStr := s, ""
	switch {
	case strings.HasPrefix(s, "["):
		end := strings.Index(s, "]")
		if end < 0 {
			return "", 0, fmt.Errorf("malformed target %q: missing ]", s)
		}
		host = s[1:end]
		rest := s[end+1:]
		if rest != "" {
			if !strings.HasPrefix(rest, ":") {
				return "", 0, fmt.Errorf("malformed target %q: want [IPv6]:port", s)
			}
			portStr = rest[1:]
			if portStr == "" {
				return "", 0, fmt.Errorf("malformed target %q: empty port", s)
			}
		}
		if a, err := netip.ParseAddr(host); err != nil || !a.Is6() {
			return "", 0, fmt.Errorf("malformed target %q: %q is not an IPv6 address", s, host)
		}
	case strings.Count(s, ":") > 1:
		// A bare IPv6 address; a port needs brackets.
		if _, err := netip.ParseAddr(s); err != nil {
			return "", 0, fmt.Errorf("malformed target %q: write IPv6 with a port as [address]:port", s)
		}
	case strings.Contains(s, ":"):
		host, portStr, _ = strings.Cut(s, ":")
		if portStr == "" {
			return "", 0, fmt.Errorf("malformed target %q: empty port", s)
		}
	}
	if portStr != "" {
		if port, err = ParsePort(portStr); err != nil {
			return "", 0, fmt.Errorf("target %q: %w", s, err)
		}
	}
	if _, err := netip.ParseAddr(host); err == nil {
		return host, port, nil
	}
	if err := checkHostname(host); err != nil {
		return "", 0, fmt.Errorf("malformed target %q: %w", s, err)
	}
	return strings.TrimSuffix(host, "."), port, nil
}

// checkHostname accepts what can appear in an MX or A record owner name:
// letters, digits, hyphens and underscores in labels of at most 63
// characters, at most 253 in all.
func checkHostname(h string) error {
	h = strings.TrimSuffix(h, ".")
	if h == "" {
		return fmt.Errorf("empty host name")
	}
	if len(h) > 253 {
		return fmt.Errorf("host name longer than 253 characters")
	}
	for _, label := range strings.Split(h, ".") {
		if label == "" || len(label) > 63 {
			return fmt.Errorf("bad label %q in host name", label)
		}
		for _, c := range label {
			ok := c == '-' || c == '_' || ('0' <= c && c <= '9') || ('a' <= c && c <= 'z') || ('A' <= c && c <= 'Z')
			if !ok {
				return fmt.Errorf("character %q not allowed in a host name", c)
			}
		}
	}
	return nil
}

// Endpoints expands targets into endpoints: a target with a port gives one,
// a target without gives one per port in ports, or per default port
// (marked DefaultPort) when ports is empty. Port 465 is implicit TLS;
// implicit forces it on every port.
func Endpoints(targets []string, ports []int, implicit bool) ([]Endpoint, error) {
	defaulted := len(ports) == 0
	if defaulted {
		ports = defaultPorts()
	}
	var eps []Endpoint
	for _, t := range targets {
		host, port, err := ParseTarget(t)
		if err != nil {
			return nil, err
		}
		tports, asked := ports, !defaulted
		if port != 0 {
			tports, asked = []int{port}, true
		}
		for _, p := range tports {
			eps = append(eps, Endpoint{Target: t, Host: host, Port: p, Implicit: implicit || p == implicitTLSPort, DefaultPort: !asked})
		}
	}
	return eps, nil
}
