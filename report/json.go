package report

import (
	"crypto/tls"
	"crypto/x509"
	"encoding/json"
	"github.com/starttls-probe/starttls-probe/report/dotnetname"
	"io"
	"math"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// The JSON document's shape. Field names are a public interface (scripts
// read them): add fields, never rename or remove. README.md documents it.
type (
	jsonDocument struct {
		Tool    string       `json:"tool"`
		Version string       `json:"version"`
		Status  Status       `json:"status"`
		Checked time.Time    `json:"checked_at"`
		Results []jsonResult `json:"results"`
	}
	jsonResult struct {
		Target          string           `json:"target"`
		Host            string           `json:"host"`
		Address         string           `json:"address"`
		Port            int              `json:"port"`
		ServicePort     int              `json:"service_port"`
		Mode            probe.Mode       `json:"mode"`
		Status          Status           `json:"status"`
		ExpectedName    string           `json:"expected_name"`
		Error           *jsonError       `json:"error"`
		Banner          *jsonReply       `json:"banner"`
		EHLO            *jsonReply       `json:"ehlo"`
		STARTTLSOffered bool             `json:"starttls_offered"`
		STARTTLSReply   *jsonReply       `json:"starttls_reply"`
		EHLOAfterTLS    *jsonReply       `json:"ehlo_after_tls"`
		TLS             *jsonTLS         `json:"tls"`
		Chain           []jsonCert       `json:"chain"`
		Checks          []Check          `json:"checks"`
		Server          Server           `json:"server"`
		Connector       string           `json:"connector,omitempty"`
		TLSRequired     *jsonTLSRequired `json:"tls_required"`
		Diagnosis       []Diagnosis      `json:"diagnosis"`
		TimingsMS       jsonTimings      `json:"timings_ms"`
		Transcript      []jsonTranscript `json:"transcript,omitempty"`
	}
	jsonError struct {
		Phase   probe.Phase `json:"phase"`
		Message string      `json:"message"`
	}
	jsonReply struct {
		Code         int      `json:"code"`
		EnhancedCode string   `json:"enhanced_code"`
		Lines        []string `json:"lines"`
	}
	jsonTLS struct {
		Version     string `json:"version"`
		CipherSuite string `json:"cipher_suite"`
		ServerName  string `json:"server_name"`
	}
	jsonCert struct {
		Subject            string    `json:"subject"`
		Issuer             string    `json:"issuer"`
		SANs               []string  `json:"sans"`
		Serial             string    `json:"serial"`
		NotBefore          time.Time `json:"not_before"`
		NotAfter           time.Time `json:"not_after"`
		DaysLeft           int       `json:"days_left"`
		SHA1               string    `json:"sha1"`
		SHA256             string    `json:"sha256"`
		Key                string    `json:"key"`
		SignatureAlgorithm string    `json:"signature_algorithm"`
		SelfSigned         bool      `json:"self_signed"`
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

// JSON writes the summary as one indented JSON document.
func JSON(w io.Writer, s Summary) error {
	doc := jsonDocument{Tool: s.Tool, Version: s.Version, Status: s.Status, Checked: s.Now.UTC(), Results: []jsonResult{}}
	for _, ep := range s.Endpoints {
		doc.Results = append(doc.Results, toJSONResult(ep, s.Now, s.Verbose))
	}
	enc := json.NewEncoder(w)
	enc.SetIndent("", "  ")
	// Keep < and > as they are: tls_certificate_name ("<I>…<S>…") is read
	// and pasted by people, and this JSON never lands in HTML.
	enc.SetEscapeHTML(false)
	return enc.Encode(doc)
}

func toJSONResult(ep Endpoint, now time.Time, verbose bool) jsonResult {
	r := ep.Result
	out := jsonResult{
		Target:          r.Endpoint.Target,
		Host:            r.Endpoint.Host,
		Address:         r.Address,
		Port:            r.Endpoint.Port,
		ServicePort:     r.Endpoint.Role(),
		Mode:            r.Mode,
		Status:          ep.Status,
		ExpectedName:    ep.ExpectedName,
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
		TimingsMS: jsonTimings{
			DNS: ms(r.Timings.DNS), Connect: ms(r.Timings.Connect), Banner: ms(r.Timings.Banner),
			EHLO: ms(r.Timings.EHLO), STARTTLS: ms(r.Timings.STARTTLS), Handshake: ms(r.Timings.Handshake),
			PostTLS: ms(r.Timings.PostTLS), Total: ms(r.Timings.Total),
		},
	}
	if r.Error != nil {
		out.Error = &jsonError{Phase: r.Error.Phase, Message: r.Error.Err.Error()}
	}
	if r.TLS != nil {
		out.TLS = &jsonTLS{Version: TLSVersionName(r.TLS.Version), CipherSuite: tls.CipherSuiteName(r.TLS.CipherSuite), ServerName: r.TLS.ServerName}
	}
	for _, c := range r.Chain {
		out.Chain = append(out.Chain, toJSONCert(c, now))
	}
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

func toJSONCert(c *x509.Certificate, now time.Time) jsonCert {
	sans := SANs(c)
	if sans == nil {
		sans = []string{}
	}
	return jsonCert{
		Subject:            c.Subject.String(),
		Issuer:             c.Issuer.String(),
		SANs:               sans,
		Serial:             Serial(c),
		NotBefore:          c.NotBefore.UTC(),
		NotAfter:           c.NotAfter.UTC(),
		DaysLeft:           DaysLeft(c, now),
		SHA1:               SHA1(c),
		SHA256:             SHA256(c),
		Key:                KeyDescription(c),
		SignatureAlgorithm: c.SignatureAlgorithm.String(),
		SelfSigned:         IsSelfSigned(c),
		TLSCertificateName: dotnetname.TLSCertificateName(c),
	}
}

// ms is a duration in milliseconds, to the microsecond.
func ms(d time.Duration) float64 { return math.Round(float64(d)/1e3) / 1e3 }

// jsonTLSRequired is the "tls_required" object: the verdict with the
// server's exact reply.
type jsonTLSRequired struct {
	Required TLSRequired `json:"required"`
	Reply    *jsonReply  `json:"reply"`
	Error    *jsonError  `json:"error"`
	// SessionEnded: the server ended the session in answer to the test.
	SessionEnded bool `json:"session_ended"`
	// Transcript is the test's own connection, with -v, when the server
	// ended it; otherwise its lines are in the result's transcript.
	Transcript []jsonTranscript `json:"transcript,omitempty"`
}

func toJSONTLSRequired(ep Endpoint) *jsonTLSRequired {
	t := ep.Result.TLSRequired
	if t == nil {
		return nil
	}
	out := &jsonTLSRequired{Required: ep.RequiresTLS, Reply: toJSONReply(t.Mail), SessionEnded: t.SessionEnded}
	if t.Error != nil {
		out.Error = &jsonError{Phase: t.Error.Phase, Message: t.Error.Err.Error()}
	}
	return out
}

// toJSONDiagnoses keeps empty lists as [] rather than null, so that scripts
// can iterate without a check.
func toJSONDiagnoses(ds []Diagnosis) []Diagnosis {
	out := make([]Diagnosis, len(ds))
	for i, d := range ds {
		if d.Fix == nil {
			d.Fix = []string{}
		}
		out[i] = d
	}
	return out
}
