package main

import (
	"context"
	"strings"

	"github.com/starttls-probe/starttls-probe/probe"
)

// validatePolicy checks --domain and --no-policy.
func (cfg *config) validatePolicy() error {
	if cfg.domain == "" {
		return nil
	}
	host, port, err := probe.ParseTarget(cfg.domain)
	if err != nil || port != 0 || (probe.Endpoint{Host: host}).HostIsIP() {
		return usagef("give the mail domain the hosts receive for, e.g. --domain contoso.com", "--domain %q is not a domain name", cfg.domain)
	}
	if cfg.noPolicy {
		return usagef("give one of them", "--domain and --no-policy conflict: --domain asks for the domain's policy")
	}
	if cfg.mx {
		return usagef("leave out --domain: each --mx target is its own mail domain", "--domain and --mx conflict")
	}
	cfg.domain = strings.TrimSuffix(host, ".")
	return nil
}

// scopePolicy makes --domain the mail domain of every host target, whose
// policy then applies to it; --mx targets get their own in discovery.
func (cfg *config) scopePolicy(endpoints []probe.Endpoint) {
	if cfg.domain == "" {
		return
	}
	for i := range endpoints {
		endpoints[i].Domain = cfg.domain
	}
}

// observePolicies looks up the published policies of the jobs' domains
// before anything is probed, so that every output (each JSONL line too)
// is judged under them; nil with --no-policy.
func (cfg *config) observePolicies(ctx context.Context, jobs []probe.Job, opts probe.Options) []probe.DomainPolicy {
	if cfg.noPolicy {
		return nil
	}
	return probe.ObservePolicies(ctx, jobs, opts)
}
