package render

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"math"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// The JSON document's shape. Field names are a public interface (scripts
// read them): add fields, never rename or remove. README.md documents it.
type (
	jsonDocument struct {
		Tool    string        `json:"tool"`
		Version string        `json:"version"`
		Status  report.Status `json:"status"`
		Checked time.Time     `json:"checked_at"`
		Results []jsonResult  `json:"results"`
		// Consistency is every name and port reached at two or more
		// addresses, with what each address presents.
		Consistency []jsonAddressGroup `json:"consistency"`
		// CertificateGroups compare the certificates of each mail host
		// whose endpoints present two or more, one row per certificate.
		CertificateGroups []jsonCertificateGroup `json:"certificate_groups"`
		// Shared attributes endpoints probed once for another target
		// (--mx over domains that share MX hosts) to this one too.
		Shared []report.SharedEndpoint `json:"shared,omitempty"`
		// Policies are the mail domains' published policies
		// (json_policy.go).
		Policies []jsonPolicy `json:"policies,omitempty"`
	}
	jsonDiagnosis struct {
		report.Diagnosis
		Compare []jsonCertificateRow `json:"compare,omitempty"`
	}
	jsonCertificateRow struct {
		// Address, Port and ServicePort are the row's first place: rows
		// were one per endpoint before they became one per certificate
		// (count, places), and field names are never removed.
		Address     string `json:"address"`
		Port        int    `json:"port"`
		ServicePort int    `json:"service_port"`
		report.CertificateRow
	}
	jsonCertificateGroup struct {
		Name          string               `json:"name"`
		ReferenceSHA1 string               `json:"reference_sha1"`
		Certificates  []jsonCertificateRow `json:"certificates"`
	}
	jsonAddressGroup struct {
		Host    string            `json:"host"`
		Port    int               `json:"port"`
		Differs bool              `json:"differs"`
		Members []jsonGroupMember `json:"addresses"`
	}
	jsonGroupMember struct {
		Address            string     `json:"address"`
		STARTTLS           string     `json:"starttls"`
		LeafSHA1           string     `json:"leaf_sha1"`
		NotAfter           *time.Time `json:"not_after"`
		CertificateDiffers bool       `json:"certificate_differs"`
		STARTTLSDiffers    bool       `json:"starttls_differs"`
	}
	jsonResult struct {
		Target          string           `json:"target"`
		Host            string           `json:"host"`
		Address         string           `json:"address"`
		Port            int              `json:"port"`
		ServicePort     int              `json:"service_port"`
		Mode            probe.Mode       `json:"mode"`
		Status          report.Status    `json:"status"`
		ExpectedName    string           `json:"expected_name"`
		Error           *jsonError       `json:"error"`
		Banner          *jsonReply       `json:"banner"`
		EHLO            *jsonReply       `json:"ehlo"`
		STARTTLSOffered bool             `json:"starttls_offered"`
		STARTTLSReply   *jsonReply       `json:"starttls_reply"`
		EHLOAfterTLS    *jsonReply       `json:"ehlo_after_tls"`
		TLS             *jsonTLS         `json:"tls"`
		Chain           []jsonCert       `json:"chain"`
		Checks          []report.Check   `json:"checks"`
		Server          report.Server    `json:"server"`
		Connector       string           `json:"connector,omitempty"`
		TLSRequired     *jsonTLSRequired `json:"tls_required"`
		Diagnosis       []jsonDiagnosis  `json:"diagnosis"`
		TimingsMS       jsonTimings      `json:"timings_ms"`
		Transcript      []jsonTranscript `json:"transcript,omitempty"`
		// DANE and PolicyFindings: under a domain's policy (json_policy.go).
		DANE           *jsonDANE              `json:"dane,omitempty"`
		PolicyFindings []report.PolicyFinding `json:"policy_findings,omitempty"`
		// TLSScan is --tls-scan's findings, absent without it.
		TLSScan *jsonPosture `json:"tls_scan,omitempty"`
		// ExchangeOnline is --as exchange-online's view, absent without it.
		ExchangeOnline *jsonExchangeOnline `json:"exchange_online,omitempty"`
	}
	jsonError = report.Failure
	jsonReply struct {
		Code         int      `json:"code"`
		EnhancedCode string   `json:"enhanced_code"`
		Lines        []string `json:"lines"`
	}
	jsonTLS struct {
		Version     string `json:"version"`
		CipherSuite string `json:"cipher_suite"`
		ServerName  string `json:"server_name"`
		// KeyExchangeGroup is openssl's "Server Temp Key": "X25519MLKEM768",
		// "X25519", "P-256"; "" for RSA key exchange.
		KeyExchangeGroup string `json:"key_exchange_group"`
		// HandshakeComplete is false when the certificate arrived but
		// the handshake failed after it: version and cipher_suite are "".
		HandshakeComplete bool `json:"handshake_complete"`
	}
	jsonCert struct {
		Subject   string    `json:"subject"`
		Issuer    string    `json:"issuer"`
		SANs      []string  `json:"sans"`
		Serial    string    `json:"serial"`
		NotBefore time.Time `json:"not_before"`
		NotAfter  time.Time `json:"not_after"`
		DaysLeft  int       `json:"days_left"`
		SHA1      string    `json:"sha1"`
		SHA256    string    `json:"sha256"`
		// SPKISHA256 is the SHA-256 of the public key (DANE 3 1 1, pins).
		SPKISHA256         string `json:"spki_sha256"`
		Key                string `json:"key"`
		SignatureAlgorithm string `json:"signature_algorithm"`
		SelfSigned         bool   `json:"self_signed"`
		// TLSCertificateName is the value for Set-ReceiveConnector
		// -TlsCertificateName: "<I>" + issuer + "<S>" + subject, as .NET
		// prints names.
		TLSCertificateName string `json:"tls_certificate_name"`
	}
	jsonTimings struct {
		DNS       float64 `json:"dns"`
		Connect   float64 `json:"connect"`
		Banner    float64 `json:"banner"`
		EHLO      float64 `json:"ehlo"`
		STARTTLS  float64 `json:"starttls"`
		Handshake float64 `json:"handshake"`
		PostTLS   float64 `json:"post_tls"`
		Total     float64 `json:"total"`
	}
	jsonTranscript struct {
		AtMS float64         `json:"at_ms"`
		Dir  probe.Direction `json:"dir"`
		TLS  bool            `json:"tls"`
		Text string          `json:"text"`
	}
)

// JSON writes the summary as one indented JSON document. The results are
// encoded one at a time into the document around them, rather than the
// whole document at once: encoding/json builds a value's text in memory
// before writing it, and a run of 20,000 endpoints would hold all of it
// beside the endpoints themselves (issue 14: -o json under 150 MB).
func JSON(w io.Writer, s report.Summary) error {
	doc := jsonDocument{Tool: s.Tool, Version: s.Version, Status: s.Status, Checked: s.Now.UTC(),
		CertificateGroups: toJSONCertificateGroups(s.CertificateGroups), Policies: toJSONPolicies(s.Policies), Shared: s.Shared}
	for _, g := range s.Consistency {
		doc.Consistency = append(doc.Consistency, toJSONAddressGroup(g))
	}
	var enc resultEncoder
	return writeDocument(w, doc, len(s.Endpoints), func(i int) ([]byte, error) {
		return enc.encode(&s.Endpoints[i], s.Verbose)
	})
}

// resultEncoder encodes results as elements of the document's results list.
type resultEncoder struct {
	buf bytes.Buffer
	enc *json.Encoder
}

// encode returns the result's element, indented as Encode would indent it
// inside the document, without its final newline; valid until the next
// call.
func (e *resultEncoder) encode(ep *report.Endpoint, verbose bool) ([]byte, error) {
	if e.enc == nil {
		e.enc = newDocumentEncoder(&e.buf, "    ")
	}
	e.buf.Reset()
	if err := e.enc.Encode(toJSONResult(ep, verbose)); err != nil {
		return nil, err
	}
	return bytes.TrimSuffix(e.buf.Bytes(), []byte("\n")), nil
}

// writeDocument writes doc, its results list filled with n elements, the
// i-th as element(i) gives it (resultEncoder.encode).
func writeDocument(w io.Writer, doc jsonDocument, n int, element func(i int) ([]byte, error)) error {
	doc.Results = []jsonResult{}
	if doc.Consistency == nil {
		doc.Consistency = []jsonAddressGroup{}
	}
	if doc.CertificateGroups == nil {
		doc.CertificateGroups = []jsonCertificateGroup{}
	}
	var frame bytes.Buffer
	if err := newDocumentEncoder(&frame, "").Encode(doc); err != nil {
		return err
	}
	if n == 0 {
		_, err := w.Write(frame.Bytes())
		return err
	}
	// The frame holds "results": [] once, at the document's first level.
	const empty = "\n  \"results\": [],\n"
	head, tail, ok := bytes.Cut(frame.Bytes(), []byte(empty))
	if !ok {
		return fmt.Errorf("json: the document has no empty results list to fill")
	}
	out := bufio.NewWriterSize(w, 64<<10)
	out.Write(head)
	out.WriteString("\n  \"results\": [\n")
	for i := range n {
		b, err := element(i)
		if err != nil {
			return err
		}
		out.WriteString("    ")
		out.Write(b)
		// A comma after each element but the last, before its newline.
		if i < n-1 {
			out.WriteByte(',')
		}
		out.WriteByte('\n')
	}
	out.WriteString("  ],\n")
	out.Write(tail)
	return out.Flush()
}

// newDocumentEncoder indents as the JSON document is indented, each line
// after the first behind prefix.
func newDocumentEncoder(w io.Writer, prefix string) *json.Encoder {
	enc := json.NewEncoder(w)
	enc.SetIndent(prefix, "  ")
	// Keep < and > as they are: tls_certificate_name ("<I>…<S>…") is read
	// and pasted by people, and this JSON never lands in HTML.
	enc.SetEscapeHTML(false)
	return enc
}

func toJSONAddressGroup(g report.AddressGroup) jsonAddressGroup {
	jg := jsonAddressGroup{Host: g.Host, Port: g.Port, Differs: g.Differs}
	for _, m := range g.Members {
		jm := jsonGroupMember{Address: m.Address, STARTTLS: string(m.STARTTLS), LeafSHA1: m.LeafSHA1,
			CertificateDiffers: m.CertificateDiffers, STARTTLSDiffers: m.STARTTLSDiffers}
		if !m.NotAfter.IsZero() {
			jm.NotAfter = &m.NotAfter
		}
		jg.Members = append(jg.Members, jm)
	}
	return jg
}

func toJSONResult(ep *report.Endpoint, verbose bool) jsonResult {
	r := &ep.Result
	out := jsonResult{
		Target:          r.Endpoint.Target,
		Host:            r.Endpoint.Host,
		Address:         r.Address,
		Port:            r.Endpoint.Port,
		ServicePort:     ep.ServicePort,
		Mode:            r.Mode,
		Status:          ep.Status,
		ExpectedName:    ep.ExpectedName,
		Error:           ep.Failure,
		Banner:          toJSONReply(r.Banner),
		EHLO:            toJSONReply(r.EHLO),
		STARTTLSOffered: r.STARTTLSOffered,
		STARTTLSReply:   toJSONReply(r.STARTTLSReply),
		EHLOAfterTLS:    toJSONReply(r.EHLOAfterTLS),
		Chain:           []jsonCert{},
		Checks:          ep.Checks,
		Server:          ep.Server,
		Connector:       ep.Connector,
		TLSRequired:     toJSONTLSRequired(ep),
		Diagnosis:       toJSONDiagnoses(ep.Diagnoses),
		TLSScan:         toJSONPosture(ep.Posture),
		ExchangeOnline:  toJSONExchangeOnline(ep.ExchangeOnline),
		TimingsMS: jsonTimings{
			DNS: ms(r.Timings.DNS), Connect: ms(r.Timings.Connect), Banner: ms(r.Timings.Banner),
			EHLO: ms(r.Timings.EHLO), STARTTLS: ms(r.Timings.STARTTLS), Handshake: ms(r.Timings.Handshake),
			PostTLS: ms(r.Timings.PostTLS), Total: ms(r.Timings.Total),
		},
	}
	if t := ep.TLS; t != nil {
		out.TLS = &jsonTLS{Version: t.Version, CipherSuite: t.CipherSuite, ServerName: t.ServerName, KeyExchangeGroup: t.KeyExchange, HandshakeComplete: t.Complete}
	}
	for _, c := range ep.Chain {
		out.Chain = append(out.Chain, toJSONCert(c))
	}
	out.DANE, out.PolicyFindings = toJSONDANE(ep.DANE), ep.PolicyFindings
	if verbose {
		out.Transcript = toJSONTranscript(r.Transcript)
		if out.TLSRequired != nil {
			out.TLSRequired.Transcript = toJSONTranscript(r.TLSRequired.Transcript)
		}
	}
	return out
}

func toJSONTranscript(lines []probe.TranscriptLine) []jsonTranscript {
	var out []jsonTranscript
	for _, l := range lines {
		out = append(out, jsonTranscript{AtMS: ms(l.At), Dir: l.Dir, TLS: l.TLS, Text: l.Text})
	}
	return out
}

func toJSONReply(r *probe.Reply) *jsonReply {
	if r == nil {
		return nil
	}
	return &jsonReply{Code: r.Code, EnhancedCode: r.EnhancedCode(), Lines: r.Lines}
}

func toJSONCert(c *report.Certificate) jsonCert {
	sans := c.SANs
	if sans == nil {
		sans = []string{}
	}
	return jsonCert{
		Subject:            c.Subject,
		Issuer:             c.Issuer,
		SANs:               sans,
		Serial:             c.Serial,
		NotBefore:          c.NotBefore,
		NotAfter:           c.NotAfter,
		DaysLeft:           c.DaysLeft,
		SHA1:               c.SHA1,
		SHA256:             c.SHA256,
		SPKISHA256:         c.SPKISHA256,
		Key:                c.Key,
		SignatureAlgorithm: c.SignatureAlgorithm,
		SelfSigned:         c.SelfSigned,
		TLSCertificateName: c.TLSCertificateName,
	}
}

// ms is a duration in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// jsonTLSRequired is the "tls_required" object: the verdict with the
// server's exact reply.
type jsonTLSRequired struct {
	Required report.TLSRequired `json:"required"`
	// Reason says why required is "unknown".
	Reason string     `json:"reason,omitempty"`
	Reply  *jsonReply `json:"reply"`
	// RCPT is the reply to RCPT TO, with --rcpt-test.
	RCPT *jsonReply `json:"rcpt_reply,omitempty"`
	// STARTTLSRefusedAfter is the refusal STARTTLS met on the test's
	// connection after the test (Courier turns STARTTLS off once MAIL was
	// sent); STARTTLS was then probed on a new connection.
	STARTTLSRefusedAfter *jsonReply `json:"starttls_refused_after_test,omitempty"`
	Error                *jsonError `json:"error"`
	// SessionEnded: the server ended the session in answer to the test.
	SessionEnded bool `json:"session_ended"`
	// Transcript is the test's own connection, with -v, when the server
	// ended it; otherwise its lines are in the result's transcript.
	Transcript []jsonTranscript `json:"transcript,omitempty"`
}

func toJSONTLSRequired(ep *report.Endpoint) *jsonTLSRequired {
	t := ep.Result.TLSRequired
	if t == nil {
		return nil
	}
	return &jsonTLSRequired{Required: ep.TLSRequired, Reason: ep.TLSRequiredReason, Reply: toJSONReply(t.Mail), RCPT: toJSONReply(t.RCPT),
		STARTTLSRefusedAfter: toJSONReply(t.STARTTLSRefusedAfter), Error: ep.TLSRequiredFailure, SessionEnded: t.SessionEnded}
}

// toJSONDiagnoses keeps empty lists as [] rather than null, so that scripts
// can iterate without a check.
func toJSONDiagnoses(ds []report.Diagnosis) []jsonDiagnosis {
	out := make([]jsonDiagnosis, len(ds))
	for i, d := range ds {
		if d.Fix == nil {
			d.Fix = []string{}
		}
		out[i] = jsonDiagnosis{Diagnosis: d, Compare: toJSONCertificateRows(d.Compare)}
	}
	return out
}

func toJSONCertificateRows(rows []report.CertificateRow) []jsonCertificateRow {
	if len(rows) == 0 {
		return nil
	}
	out := make([]jsonCertificateRow, len(rows))
	for i, r := range rows {
		out[i].CertificateRow = r
		if len(r.Places) > 0 {
			out[i].Address, out[i].Port, out[i].ServicePort = r.Places[0].Address, r.Places[0].Port, r.Places[0].ServicePort
		}
	}
	return out
}

// toJSONCertificateGroups keeps an empty list as [], as consistency does.
func toJSONCertificateGroups(groups []report.CertificateGroup) []jsonCertificateGroup {
	out := make([]jsonCertificateGroup, 0, len(groups))
	for _, g := range groups {
		out = append(out, jsonCertificateGroup{Name: g.Name, ReferenceSHA1: g.ReferenceSHA1, Certificates: toJSONCertificateRows(g.Rows)})
	}
	return out
}
