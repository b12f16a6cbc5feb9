package probe

import (
	"net"
	"testing"
)

// RFC 5321 section 4.1.1.1: EHLO carries an FQDN, or an address literal when
// there is none. A short host name ("vm") is neither (issue 12).
func TestDefaultEHLONameIsAnFQDNOrAnAddressLiteral(t *testing.T) {
	t.Parallel()
	for host, want := range map[string]string{
		"vm": "", "localhost": "", "": "", "vm.": "", "bad_name!.test": "",
		"probe.contoso.test": "probe.contoso.test", "mx1.contoso.test.": "mx1.contoso.test.",
	} {
		if got := fqdnOrNothing(host); got != want {
			t.Errorf("fqdnOrNothing(%q) = %q, want %q", host, got, want)
		}
	}
	for _, tc := range []struct {
		addr net.Addr
		want string
	}{
		{&net.TCPAddr{IP: net.ParseIP("127.0.0.1"), Port: 40000}, "[127.0.0.1]"},
		{&net.TCPAddr{IP: net.ParseIP("::ffff:192.0.2.7"), Port: 40000}, "[192.0.2.7]"},
		{&net.TCPAddr{IP: net.ParseIP("::1"), Port: 40000}, "[IPv6:::1]"},
		{&net.TCPAddr{IP: net.ParseIP("fe80::1"), Port: 40000, Zone: "eth0"}, "[IPv6:fe80::1]"},
		{&net.UnixAddr{Name: "/run/x", Net: "unix"}, ""},
	} {
		got := addressLiteral(tc.addr)
		if got != tc.want {
			t.Errorf("addressLiteral(%v) = %q, want %q", tc.addr, got, tc.want)
		}
		if got != "" {
			if err := CheckEHLOName(got); err != nil {
				t.Errorf("addressLiteral(%v) = %q, which EHLO refuses: %v", tc.addr, got, err)
			}
		}
	}
}
