package probe

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"time"
)

// MaxPolicySize caps the MTA-STS policy read. RFC 8461 3.3 leaves the
// limit to senders and says only that they "SHOULD" impose one. mox reads
// 64 KiB and fails a larger policy; foxcpp/go-mtasts (maddy) reads 64 KiB
// too. A policy is a few lines: 64 KiB is what senders accept, so more is
// recorded as Oversize and report fails it, as those senders do.
const MaxPolicySize = 64 << 10

// fetchPolicy GETs https://mta-sts.DOMAIN/.well-known/mta-sts.txt as a
// sender would, within ctx, recording the chain whatever its validity:
// report verifies it, so that a wrong certificate is shown, not only an
// error. Content-Type is recorded, not enforced: senders disagree (mox
// ignores it, go-mtasts refuses anything but text/plain), and report says
// which of them would refuse.
func fetchPolicy(ctx context.Context, domain string, opts Options) *PolicyFetch {
	host := "mta-sts." + domain
	f := &PolicyFetch{URL: "https://" + host + "/.well-known/mta-sts.txt"}
	start := time.Now()
	defer func() { f.Took = time.Since(start) }()
	var dialer net.Dialer
	transport := &http.Transport{
		DialContext: func(ctx context.Context, network, addr string) (net.Conn, error) {
			if opts.PolicyHTTPSAddr != "" {
				addr = opts.PolicyHTTPSAddr
			} else if opts.Resolver != nil {
				// --resolver answers for mta-sts.DOMAIN too.
				h, port, _ := net.SplitHostPort(addr)
				addrs, err := opts.Resolver.LookupNetIP(ctx, opts.network(), h)
				if err != nil {
					return nil, opts.namingResolver(err)
				}
				if len(addrs) == 0 {
					return nil, &NoAddressError{Host: h, Network: opts.network()}
				}
				addr = net.JoinHostPort(addrs[0].Unmap().String(), port)
			}
			conn, err := dialer.DialContext(ctx, network, addr)
			if err == nil {
				f.Addr = conn.RemoteAddr().String()
			}
			return conn, err
		},
		TLSClientConfig: &tls.Config{
			ServerName: host,
			// Skip verification: the chain must be kept even when wrong;
			// report verifies it against the system roots and --ca-file.
			InsecureSkipVerify: true,
			VerifyConnection: func(cs tls.ConnectionState) error {
				f.Chain = cs.PeerCertificates
				return nil
			},
		},
		DisableKeepAlives:     true,
		ResponseHeaderTimeout: opts.Timeout,
	}
	defer transport.CloseIdleConnections()
	client := &http.Client{
		Transport: transport,
		// RFC 8461 3.3: senders "MUST NOT follow HTTP redirects", so the
		// 3xx itself is the observation.
		CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
	}
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, f.URL, nil)
	if err != nil {
		f.Err = err
		return f
	}
	resp, err := client.Do(req)
	if resp == nil {
		f.Err = fmt.Errorf("GET %s: %w", f.URL, unwrapURLError(err))
		return f
	}
	defer resp.Body.Close()
	f.Status, f.ContentType, f.Location = resp.StatusCode, resp.Header.Get("Content-Type"), resp.Header.Get("Location")
	if resp.StatusCode != http.StatusOK {
		return f
	}
	body, err := io.ReadAll(io.LimitReader(resp.Body, MaxPolicySize+1))
	if err != nil {
		f.Err = fmt.Errorf("reading the policy: %w", err)
	}
	if len(body) > MaxPolicySize {
		body, f.Oversize = body[:MaxPolicySize], true
	}
	f.Body = body
	return f
}

// unwrapURLError drops *url.Error's "Get URL:" prefix, which the message
// already says.
func unwrapURLError(err error) error {
	if u := errors.Unwrap(err); u != nil {
		return u
	}
	return err
}
