package exporter

import (
	"strings"
	"testing"
	"time"
)

func TestParseConfig(t *testing.T) {
	for _, tc := range []struct {
		name, yaml, err string
	}{
		{"empty", "", "the file is empty"},
		{"no module", "modules: {}\n", "no module"},
		{"unknown top-level key", "modules:\n  a: {}\nallowed: [x]\n", "field allowed not found"},
		{"unknown module key", "modules:\n  a:\n    port: [25]\n", "field port not found"},
		{"negative timeout", "modules:\n  a:\n    timeout: -1s\n", "negative"},
		{"bad timeout", "modules:\n  a:\n    timeout: soon\n", "soon"},
		{"bad ip_protocol", "modules:\n  a:\n    ip_protocol: tcp\n", `ip_protocol "tcp"`},
		{"bad allowed target", "modules:\n  a: {}\nallowed_targets: ['mail.contoso.com/25']\n", "neither a host-name glob"},
		{"character class", "modules:\n  a: {}\nallowed_targets: ['mx[0-9].contoso.com']\n", "neither a host-name glob"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			if _, err := ParseConfig([]byte(tc.yaml)); err == nil || !strings.Contains(err.Error(), tc.err) {
				t.Errorf("error %v, want one saying %q", err, tc.err)
			}
		})
	}
	cfg, err := ParseConfig([]byte("modules:\n  a:\n    ports: [25, submission]\n    warn_days: 0\n  b:\n    timeout: 3s\n"))
	if err != nil {
		t.Fatal(err)
	}
	a, b := cfg.Modules["a"], cfg.Modules["b"]
	if strings.Join(a.Ports, ",") != "25,submission" || a.WarnDays == nil || *a.WarnDays != 0 || a.CritDays != nil {
		t.Errorf("module a: %+v", a)
	}
	if a.Timeout != DefaultTimeout || b.Timeout != 3*time.Second {
		t.Errorf("timeouts %s and %s, want the default and 3s", a.Timeout, b.Timeout)
	}
}

func TestAllowedTargets(t *testing.T) {
	f, err := newTargetFilter([]string{"*.contoso.com", "Contoso.com.", "192.0.2.0/24", "2001:db8::/32", "198.51.100.7"})
	if err != nil {
		t.Fatal(err)
	}
	for target, want := range map[string]bool{
		"mail.contoso.com":      true,
		"MAIL.Contoso.COM:587":  true,
		"contoso.com":           true,
		"contoso.com.":          true,
		"a.b.contoso.com":       true, // path.Match's * does not stop at dots
		"contoso.com.evil.test": false,
		"evilcontoso.com":       false,
		"192.0.2.55":            true,
		"192.0.2.55:25":         true,
		"192.0.3.1":             false,
		"[2001:db8::25]:25":     true,
		"2001:db9::1":           false,
		"198.51.100.7":          true,
		"198.51.100.8":          false,
		"::ffff:192.0.2.9":      true,
		"not a host":            false,
	} {
		if got, why := f.allows(target); got != want {
			t.Errorf("%s: allowed %v (%s), want %v", target, got, why, want)
		} else if !got && why == "" {
			t.Errorf("%s: refused without a reason", target)
		}
	}
	var none *targetFilter
	if ok, _ := none.allows("anything.test"); !ok {
		t.Error("without allowed_targets every target is allowed")
	}
}
