package exporter

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net/netip"
	"os"
	"path"
	"sort"
	"strings"
	"time"

	"go.yaml.in/yaml/v3"

	"github.com/starttls-probe/starttls-probe/probe"
)

// Config is the --config.file: the modules a scrape can name, and the
// targets it may probe.
type Config struct {
	Modules map[string]Module `yaml:"modules"`
	// AllowedTargets, when set, limits /probe to targets that match one
	// entry: a host-name glob (*.contoso.com, with * and ? as path.Match
	// reads them, without case) or an address prefix (192.0.2.0/24, 2001:db8::/32, or one
	// address). A name is matched as written in the target, before DNS.
	AllowedTargets []string `yaml:"allowed_targets"`
}

// Module is a named set of the command line's options. Pointer fields
// tell "not set" (the command line's default) from a zero value.
type Module struct {
	// Ports are numbers or service names, as -p takes them.
	Ports              []string `yaml:"ports"`
	ImplicitTLS        bool     `yaml:"implicit_tls"`
	Name               string   `yaml:"name"`
	Thumbprint         string   `yaml:"thumbprint"`
	TLSCertificateName string   `yaml:"tls_certificate_name"`
	CAFile             string   `yaml:"ca_file"`
	WarnDays           *int     `yaml:"warn_days"`
	CritDays           *int     `yaml:"crit_days"`
	EHLO               string   `yaml:"ehlo"`
	SNI                string   `yaml:"sni"`
	NoSNI              bool     `yaml:"no_sni"`
	TLSRequiredTest    *bool    `yaml:"tls_required_test"`
	RCPTTest           string   `yaml:"rcpt_test"`
	MX                 bool     `yaml:"mx"`
	AllAddresses       bool     `yaml:"all_addresses"`
	// IPProtocol is ip4 or ip6 to resolve and dial one family only, empty
	// for both.
	IPProtocol string        `yaml:"ip_protocol"`
	Resolver   string        `yaml:"resolver"`
	Timeout    time.Duration `yaml:"timeout"`
	// Domain and NoPolicy are --domain and --no-policy: the MTA-STS, DANE
	// and TLS-RPT policy the hosts are judged under.
	Domain   string `yaml:"domain"`
	NoPolicy bool   `yaml:"no_policy"`
	// TLSScan, ScanConnections, As and TLSDomain are --tls-scan,
	// --scan-connections, --as and --tls-domain.
	TLSScan         bool   `yaml:"tls_scan"`
	ScanConnections int    `yaml:"scan_connections"`
	As              string `yaml:"as"`
	TLSDomain       string `yaml:"tls_domain"`
}

// DefaultTimeout is a module's timeout when it sets none: under
// Prometheus' default scrape timeout of 10 s, less the offset.
const DefaultTimeout = 9 * time.Second

// ParseConfig reads a config, refusing keys it does not know: a
// misspelled option (warn_day) would otherwise be ignored without a word
// and the module probe with a default the admin did not choose.
func ParseConfig(data []byte) (*Config, error) {
	dec := yaml.NewDecoder(bytes.NewReader(data))
	dec.KnownFields(true)
	var cfg Config
	if err := dec.Decode(&cfg); err != nil {
		if errors.Is(err, io.EOF) {
			return nil, errors.New("the file is empty: it needs a modules: mapping")
		}
		return nil, err
	}
	if len(cfg.Modules) == 0 {
		return nil, errors.New("no module: the file needs a modules: mapping of at least one name")
	}
	for name, m := range cfg.Modules {
		if name == "" {
			return nil, errors.New("a module has an empty name")
		}
		switch m.IPProtocol {
		case "", "ip4", "ip6":
		default:
			return nil, fmt.Errorf("module %s: ip_protocol %q: want ip4, ip6, or nothing for both", name, m.IPProtocol)
		}
		if m.Timeout < 0 {
			return nil, fmt.Errorf("module %s: timeout %s is negative", name, m.Timeout)
		}
		if m.Timeout == 0 {
			m.Timeout = DefaultTimeout
			cfg.Modules[name] = m
		}
	}
	if _, err := newTargetFilter(cfg.AllowedTargets); err != nil {
		return nil, err
	}
	return &cfg, nil
}

// LoadConfig reads and parses the file at path.
func LoadConfig(file string) (*Config, []byte, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, nil, err
	}
	cfg, err := ParseConfig(data)
	if err != nil {
		return nil, nil, fmt.Errorf("%s: %w", file, err)
	}
	return cfg, data, nil
}

// ModuleNames are the config's module names, sorted.
func (c *Config) ModuleNames() []string {
	names := make([]string, 0, len(c.Modules))
	for n := range c.Modules {
		names = append(names, n)
	}
	sort.Strings(names)
	return names
}

// targetFilter is allowed_targets, parsed.
type targetFilter struct {
	globs    []string
	prefixes []netip.Prefix
}

func newTargetFilter(entries []string) (*targetFilter, error) {
	if len(entries) == 0 {
		return nil, nil
	}
	f := &targetFilter{}
	for _, e := range entries {
		e = strings.TrimSpace(e)
		if p, err := netip.ParsePrefix(e); err == nil {
			f.prefixes = append(f.prefixes, p.Masked())
			continue
		}
		if a, err := netip.ParseAddr(strings.Trim(e, "[]")); err == nil {
			f.prefixes = append(f.prefixes, netip.PrefixFrom(a, a.BitLen()))
			continue
		}
		glob := strings.ToLower(strings.TrimSuffix(e, "."))
		// Host-name characters and the wildcards * and ? only: no
		// character classes, whose mistakes path.Match reports only
		// when a name reaches them.
		if glob == "" || strings.Trim(glob, "abcdefghijklmnopqrstuvwxyz0123456789-_.*?") != "" {
			return nil, fmt.Errorf("allowed_targets: %q is neither a host-name glob (*.contoso.com) nor an address prefix (192.0.2.0/24)", e)
		}
		f.globs = append(f.globs, glob)
	}
	return f, nil
}

// allows says whether target may be probed, and if not, why.
func (f *targetFilter) allows(target string) (bool, string) {
	if f == nil {
		return true, ""
	}
	host, _, err := probe.ParseTarget(target)
	if err != nil {
		return false, fmt.Sprintf("target %q is not a host, host:port or address", target)
	}
	if a, err := netip.ParseAddr(strings.Trim(host, "[]")); err == nil {
		a = a.Unmap()
		for _, p := range f.prefixes {
			if p.Contains(a) {
				return true, ""
			}
		}
		return false, fmt.Sprintf("address %s is in none of allowed_targets' prefixes", a)
	}
	name := strings.ToLower(strings.TrimSuffix(host, "."))
	for _, g := range f.globs {
		if ok, _ := path.Match(g, name); ok {
			return true, ""
		}
	}
	return false, fmt.Sprintf("host %s matches none of allowed_targets' names", name)
}
