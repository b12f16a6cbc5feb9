package render

import (
	"fmt"
	"io"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/starttls-probe/starttls-probe/report"
)

// writePosture is the text report's "TLS scan" section, after the chain.
func writePosture(w io.Writer, p palette, ps *report.Posture) {
	if ps == nil {
		return
	}
	fmt.Fprintf(w, "  TLS scan (%d handshakes, %.1f s)\n", ps.Handshakes, ps.Duration.Seconds())
	tw := tabwriter.NewWriter(w, 0, 0, 2, ' ', 0)
	field := func(name, value string) { fmt.Fprintf(tw, "    %s\t%s\n", name, value) }
	if ps.Error != "" {
		field("stopped", Escape(ps.Error))
	}
	for _, v := range ps.Versions {
		field(v.Version, versionLine(v))
	}
	switch ps.Order {
	case "server":
		field("order", fmt.Sprintf("the server's preference picks the suite (read on %s)", ps.OrderVersion))
	case "client":
		field("order", fmt.Sprintf("every choice followed the client's order (read on %s): the client's order picks the suite, or the server's agrees with crypto/tls's, which offers suites in its fixed order only", ps.OrderVersion))
	default:
		field("order", "not told: no version accepted two suites")
	}
	var groups []string
	for _, g := range ps.Groups {
		groups = append(groups, g.Group+" "+g.State)
	}
	field("groups", strings.Join(groups, ", "))
	field("not testable", strings.Join(ps.Untestable, ", ")+": crypto/tls cannot offer them; "+ps.TLS13Note)
	for i, h := range ps.Certificates {
		name := ""
		if i == 0 {
			name = "certificates"
		}
		checked := ""
		if h.Checked {
			checked = ", the one checked above"
		}
		field(name, fmt.Sprintf("%s %s  %s, SHA-1 %s, %s (first on %s%s)", p.word(h.Status, 0), h.Certificate.Key,
			escapeName(h.Certificate.Subject), h.Certificate.SHA1, daysLeftText(h.Certificate), h.Negotiated, checked))
		for _, c := range h.Checks {
			if c.Status != report.OK && c.Status != report.Skipped {
				field("", fmt.Sprintf("  %s %s: %s", p.word(c.Status, 0), c.ID, Escape(c.Message)))
			}
		}
		field("", "  TlsCertificateName "+Escape(h.Certificate.TLSCertificateName))
		field("", "  OCSP "+stapleLine(h.OCSP))
	}
	if s := ps.WithoutSNI; s != nil {
		v := s.State
		switch {
		case s.Leaf == nil:
		case s.Differs:
			v = fmt.Sprintf("another certificate: %s, SHA-1 %s", escapeName(s.Leaf.Subject), s.Leaf.SHA1)
		default:
			v = "the same certificate"
		}
		field("without SNI", v)
	}
	tw.Flush()
}

func versionLine(v report.VersionPosture) string {
	line := v.State
	if v.Reason != "" {
		line += " (" + Escape(oneLineText(v.Reason)) + ")"
	}
	if len(v.Suites) > 0 {
		var suites []string
		for _, s := range v.Suites {
			if len(s.Weak) > 0 {
				suites = append(suites, s.Name+" ["+strings.Join(s.Weak, ", ")+"]")
			} else {
				suites = append(suites, s.Name)
			}
		}
		line += ": " + strings.Join(suites, ", ")
	}
	if v.CBCFirst {
		line += "; CBC first"
	}
	if v.State == "accepted" && !v.Complete {
		line += "; enumeration cut short, more may be accepted"
	}
	return line
}

func stapleLine(s report.OCSPStaple) string {
	switch {
	case !s.Stapled:
		return "nothing stapled"
	case s.Error != "":
		return "stapled, " + s.Status + ": " + Escape(s.Error)
	}
	line := fmt.Sprintf("stapled, %s, produced %s", s.Status, s.ProducedAt.Format(time.DateTime))
	if s.Status == "revoked" {
		line += ", revoked " + s.RevokedAt.Format(time.DateTime)
	}
	if !s.NextUpdate.IsZero() {
		line += ", next update " + s.NextUpdate.Format(time.DateTime)
	}
	if s.Stale {
		line += ", stale: the next update has passed"
	}
	return line
}

// oneLineText keeps a reason on its line.
func oneLineText(s string) string { return strings.Join(strings.Fields(s), " ") }

// The "tls_scan" object of a JSON result; README.md documents it.
type (
	jsonPosture struct {
		Versions     []jsonVersion  `json:"versions"`
		Order        string         `json:"order"`
		OrderVersion string         `json:"order_version"`
		Groups       []jsonGroup    `json:"groups"`
		Untestable   []string       `json:"not_testable"`
		TLS13Note    string         `json:"tls13_note"`
		Certificates []jsonHeldCert `json:"certificates"`
		WithoutSNI   *jsonSNI       `json:"without_sni"`
		Handshakes   int            `json:"handshakes"`
		DurationMS   float64        `json:"duration_ms"`
		Error        string         `json:"error,omitempty"`
	}
	jsonVersion struct {
		Version  string      `json:"version"`
		State    string      `json:"state"`
		Reason   string      `json:"reason,omitempty"`
		Suites   []jsonSuite `json:"suites"`
		Complete bool        `json:"complete"`
		CBCFirst bool        `json:"cbc_first"`
	}
	jsonSuite struct {
		Name string   `json:"name"`
		Weak []string `json:"weak"`
	}
	jsonGroup struct {
		Group   string `json:"group"`
		State   string `json:"state"`
		Version string `json:"version,omitempty"`
	}
	jsonHeldCert struct {
		Certificate       jsonCert          `json:"certificate"`
		Negotiated        string            `json:"negotiated"`
		Status            report.Status     `json:"status"`
		Checks            []report.Check    `json:"checks"`
		Checked           bool              `json:"checked"`
		MatchesThumbprint bool              `json:"matches_thumbprint"`
		OCSP              report.OCSPStaple `json:"ocsp"`
	}
	jsonSNI struct {
		State   string    `json:"state"`
		Differs bool      `json:"differs"`
		Leaf    *jsonCert `json:"leaf"`
	}
)

func toJSONPosture(ps *report.Posture) *jsonPosture {
	if ps == nil {
		return nil
	}
	out := &jsonPosture{Order: ps.Order, OrderVersion: ps.OrderVersion, Untestable: ps.Untestable, TLS13Note: ps.TLS13Note,
		Handshakes: ps.Handshakes, DurationMS: ms(ps.Duration), Error: ps.Error, Groups: []jsonGroup{}, Certificates: []jsonHeldCert{}}
	for _, v := range ps.Versions {
		jv := jsonVersion{Version: v.Version, State: v.State, Reason: v.Reason, Complete: v.Complete, CBCFirst: v.CBCFirst, Suites: []jsonSuite{}}
		for _, s := range v.Suites {
			weak := s.Weak
			if weak == nil {
				weak = []string{}
			}
			jv.Suites = append(jv.Suites, jsonSuite{Name: s.Name, Weak: weak})
		}
		out.Versions = append(out.Versions, jv)
	}
	for _, g := range ps.Groups {
		out.Groups = append(out.Groups, jsonGroup{Group: g.Group, State: g.State, Version: g.Version})
	}
	for _, h := range ps.Certificates {
		out.Certificates = append(out.Certificates, jsonHeldCert{Certificate: toJSONCert(h.Certificate), Negotiated: h.Negotiated,
			Status: h.Status, Checks: h.Checks, Checked: h.Checked, MatchesThumbprint: h.MatchesThumbprint, OCSP: h.OCSP})
	}
	if s := ps.WithoutSNI; s != nil {
		js := &jsonSNI{State: s.State, Differs: s.Differs}
		if s.Leaf != nil {
			c := toJSONCert(s.Leaf)
			js.Leaf = &c
		}
		out.WithoutSNI = js
	}
	return out
}

// writeExchangeOnline is the text report's "Exchange Online" section:
// each rule of the connector, and for each failure the deferral Exchange
// Online would log and the fix.
func writeExchangeOnline(w io.Writer, p palette, v *report.ExchangeOnlineView) {
	if v == nil || len(v.Requirements) == 0 {
		return
	}
	title := "  as Exchange Online's outbound connector would see it (TlsSettings " + v.TLSSettings
	if v.TLSDomain != "" {
		title += ", TlsDomain " + Escape(v.TLSDomain)
	}
	fmt.Fprintln(w, title+")")
	for _, req := range v.Requirements {
		fmt.Fprintf(w, "    %s %s: %s\n", p.word(req.Status, 8), Escape(req.Name), Escape(req.Message))
		for _, d := range req.Deferrals {
			fmt.Fprintf(w, "      Exchange Online logs: %s\n", d)
		}
		if len(req.Fix) > 0 {
			fmt.Fprintln(w, "      fix:")
			for _, line := range req.Fix {
				fmt.Fprintf(w, "        %s\n", escapeCommand(line))
			}
		}
	}
}

// jsonExchangeOnline is the "exchange_online" object of a JSON result.
type jsonExchangeOnline struct {
	TLSSettings  string                             `json:"tls_settings"`
	TLSDomain    string                             `json:"tls_domain"`
	Status       report.Status                      `json:"status"`
	Requirements []report.ExchangeOnlineRequirement `json:"requirements"`
}

func toJSONExchangeOnline(v *report.ExchangeOnlineView) *jsonExchangeOnline {
	if v == nil {
		return nil
	}
	out := &jsonExchangeOnline{TLSSettings: v.TLSSettings, TLSDomain: v.TLSDomain, Status: v.Status, Requirements: []report.ExchangeOnlineRequirement{}}
	for _, req := range v.Requirements {
		if req.Deferrals == nil {
			req.Deferrals = []string{}
		}
		if req.Fix == nil {
			req.Fix = []string{}
		}
		out.Requirements = append(out.Requirements, req)
	}
	return out
}
