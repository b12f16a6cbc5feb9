package probe_test

import (
	"reflect"
	"strings"
	"testing"

	"github.com/starttls-probe/starttls-probe/probe"
)

func TestParseTarget(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		host     string
		port     int
		errorHas string // "" when the target is valid
	}{
		{in: "mail.contoso.com", host: "mail.contoso.com"},
		{in: "mail.contoso.com.", host: "mail.contoso.com"},
		{in: "MAIL.Contoso.COM", host: "MAIL.Contoso.COM"},
		{in: "_dmarc-test.contoso.com", host: "_dmarc-test.contoso.com"},
		{in: "EXCH01", host: "EXCH01"},
		{in: "mail.contoso.com:587", host: "mail.contoso.com", port: 587},
		{in: "mail.contoso.com:submission", host: "mail.contoso.com", port: 587},
		{in: "mail.contoso.com:SMTPS", host: "mail.contoso.com", port: 465},
		{in: "192.0.2.10", host: "192.0.2.10"},
		{in: "192.0.2.10:2525", host: "192.0.2.10", port: 2525},
		{in: "2001:db8::25", host: "2001:db8::25"},
		{in: "[2001:db8::25]", host: "2001:db8::25"},
		{in: "[2001:db8::25]:465", host: "2001:db8::25", port: 465},
		{in: "[2001:db8::25]:smtp", host: "2001:db8::25", port: 25},
		{in: "::1", host: "::1"},
		// The ends of what a name may hold: z and Z, a 63-character label,
		// 253 characters in all.
		{in: "zz.ZZ.test", host: "zz.ZZ.test"},
		{in: strings.Repeat("a", 63) + ".contoso.com", host: strings.Repeat("a", 63) + ".contoso.com"},
		{in: strings.Repeat("abcdefghi.", 25) + "com", host: strings.Repeat("abcdefghi.", 25) + "com"},

		{in: "", errorHas: "empty target"},
		{in: "   ", errorHas: "empty target"},
		{in: "mail.contoso.com:", errorHas: "empty port"},
		{in: "mail.contoso.com:0", errorHas: "out of range"},
		{in: "mail.contoso.com:65536", errorHas: "out of range"},
		{in: "mail.contoso.com:99999999999999999999", errorHas: "out of range"},
		{in: "mail.contoso.com:-1", errorHas: "port -1 out of range"},
		{in: "mail.contoso.com:imap", errorHas: "unknown port"},
		{in: "mail.contoso.com:25:26", errorHas: "malformed target"},
		{in: "[2001:db8::25", errorHas: "missing ]"},
		{in: "[2001:db8::25]25", errorHas: "want [IPv6]:port"},
		{in: "[2001:db8::25]:", errorHas: "empty port"},
		{in: "[192.0.2.10]:25", errorHas: "not an IPv6 address"},
		{in: "[mail.contoso.com]:25", errorHas: "not an IPv6 address"},
		{in: "2001:db8::25:587x", errorHas: "write IPv6 with a port as [address]:port"},
		{in: "smtp://mail.contoso.com", errorHas: "malformed target"},
		{in: "admin@contoso.com", errorHas: "malformed target"},
		{in: "mail contoso.com", errorHas: "malformed target"},
		{in: "mail..contoso.com", errorHas: "bad label"},
		{in: ".contoso.com", errorHas: "bad label"},
		{in: "mail.contoso.com..", errorHas: "bad label"},
		{in: "*.contoso.com", errorHas: "not allowed in a host name"},
		{in: "mail.contoso.com\x1b[31m", errorHas: "not allowed in a host name"},
		{in: strings.Repeat("a", 64) + ".contoso.com", errorHas: "bad label"},
		{in: strings.Repeat("abcdefghi.", 26) + "com", errorHas: "longer than 253"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			host, port, err := probe.ParseTarget(tc.in)
			if tc.errorHas != "" {
				if err == nil {
					t.Fatalf("ParseTarget(%q) = %q, %d, nil; want an error containing %q", tc.in, host, port, tc.errorHas)
				}
				if !strings.Contains(err.Error(), tc.errorHas) {
					t.Fatalf("ParseTarget(%q) error = %q; want it to contain %q", tc.in, err, tc.errorHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("ParseTarget(%q) error = %v", tc.in, err)
			}
			if host != tc.host || port != tc.port {
				t.Fatalf("ParseTarget(%q) = %q, %d; want %q, %d", tc.in, host, port, tc.host, tc.port)
			}
		})
	}
}

func TestParsePort(t *testing.T) {
	t.Parallel()
	tests := []struct {
		in       string
		want     int
		errorHas string
	}{
		{in: "25", want: 25},
		{in: "1", want: 1},
		{in: "65535", want: 65535},
		{in: "0587", want: 587},
		{in: "smtp", want: 25},
		{in: "Submission", want: 587},
		{in: "submissions", want: 465},
		{in: "smtps", want: 465},
		{in: "0", errorHas: "out of range 1-65535"},
		{in: "65536", errorHas: "out of range 1-65535"},
		{in: "123456789012345678901234567890", errorHas: "out of range 1-65535"},
		{in: "-25", errorHas: "port -25 out of range"},
		{in: "", errorHas: "unknown port"},
		{in: "pop3", errorHas: "unknown port"},
		{in: "25x", errorHas: "unknown port"},
	}
	for _, tc := range tests {
		t.Run(tc.in, func(t *testing.T) {
			t.Parallel()
			got, err := probe.ParsePort(tc.in)
			if tc.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorHas) {
					t.Fatalf("ParsePort(%q) = %d, %v; want an error containing %q", tc.in, got, err, tc.errorHas)
				}
				return
			}
			if err != nil || got != tc.want {
				t.Fatalf("ParsePort(%q) = %d, %v; want %d", tc.in, got, err, tc.want)
			}
		})
	}
}

func TestEndpoints(t *testing.T) {
	t.Parallel()
	tests := []struct {
		name     string
		targets  []string
		ports    []int
		implicit bool
		want     []probe.Endpoint
		errorHas string
	}{
		{
			name:    "default ports",
			targets: []string{"mail.contoso.com"},
			want: []probe.Endpoint{
				{Target: "mail.contoso.com", Host: "mail.contoso.com", Port: 25, DefaultPort: true},
				{Target: "mail.contoso.com", Host: "mail.contoso.com", Port: 587, DefaultPort: true},
				{Target: "mail.contoso.com", Host: "mail.contoso.com", Port: 2525, DefaultPort: true},
			},
		},
		{
			name:    "a port in the target is asked for, beside defaults",
			targets: []string{"mail.contoso.com:587", "192.0.2.10"},
			want: []probe.Endpoint{
				{Target: "mail.contoso.com:587", Host: "mail.contoso.com", Port: 587},
				{Target: "192.0.2.10", Host: "192.0.2.10", Port: 25, DefaultPort: true},
				{Target: "192.0.2.10", Host: "192.0.2.10", Port: 587, DefaultPort: true},
				{Target: "192.0.2.10", Host: "192.0.2.10", Port: 2525, DefaultPort: true},
			},
		},
		{
			name:    "port 465 is implicit TLS",
			targets: []string{"192.0.2.10"},
			ports:   []int{587, 465},
			want: []probe.Endpoint{
				{Target: "192.0.2.10", Host: "192.0.2.10", Port: 587},
				{Target: "192.0.2.10", Host: "192.0.2.10", Port: 465, Implicit: true},
			},
		},
		{
			name:    "a port in the target overrides the port list",
			targets: []string{"[2001:db8::25]:2525", "mx.contoso.com"},
			ports:   []int{25},
			want: []probe.Endpoint{
				{Target: "[2001:db8::25]:2525", Host: "2001:db8::25", Port: 2525},
				{Target: "mx.contoso.com", Host: "mx.contoso.com", Port: 25},
			},
		},
		{
			name:     "implicit forces TLS on every port",
			targets:  []string{"mail.contoso.com:smtp"},
			implicit: true,
			want:     []probe.Endpoint{{Target: "mail.contoso.com:smtp", Host: "mail.contoso.com", Port: 25, Implicit: true}},
		},
		{
			name:     "one bad target fails the lot",
			targets:  []string{"mail.contoso.com", "mail.contoso.com:70000"},
			errorHas: `target "mail.contoso.com:70000": port 70000 out of range`,
		},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := probe.Endpoints(tc.targets, tc.ports, tc.implicit)
			if tc.errorHas != "" {
				if err == nil || !strings.Contains(err.Error(), tc.errorHas) {
					t.Fatalf("Endpoints() = %v, %v; want an error containing %q", got, err, tc.errorHas)
				}
				return
			}
			if err != nil {
				t.Fatalf("Endpoints() error = %v", err)
			}
			if !reflect.DeepEqual(got, tc.want) {
				t.Fatalf("Endpoints() =\n%+v\nwant\n%+v", got, tc.want)
			}
		})
	}
}

func TestEndpointRoleAndString(t *testing.T) {
	t.Parallel()
	ep := probe.Endpoint{Host: "2001:db8::25", Port: 40025}
	if got := ep.String(); got != "[2001:db8::25]:40025" {
		t.Errorf("String() = %q, want [2001:db8::25]:40025", got)
	}
	if !ep.HostIsIP() {
		t.Errorf("HostIsIP() = false for %q", ep.Host)
	}
	if got := ep.ServicePort(); got != 40025 {
		t.Errorf("ServicePort() without AsPort = %d, want the port 40025", got)
	}
	ep.AsPort = 587
	if got := ep.ServicePort(); got != 587 {
		t.Errorf("ServicePort() = %d, want AsPort 587", got)
	}
	if (probe.Endpoint{Host: "mail.contoso.test"}).HostIsIP() {
		t.Errorf("HostIsIP() = true for a name")
	}
}
