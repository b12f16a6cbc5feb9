// Package dotnetname formats, parses and compares X.500 distinguished names
// the way Windows .NET prints them, and with them Exchange's
// -TlsCertificateName values ("<I>issuer<S>subject"). It is the part of
// starttls-probe that other Exchange tools may want, so it imports nothing
// of this module (scripts/check-imports.sh checks).
package dotnetname

import (
	"crypto/x509"
	"encoding/asn1"
	"errors"
	"fmt"
	"strings"
	"unicode/utf16"
	"unicode/utf8"
)

// This file renders certificate names the way Exchange sees them. Exchange
// runs on Windows, where X509Certificate2.Subject and .Issuer come from
// crypt32's CertNameToStr(CERT_X500_NAME_STR | CERT_NAME_STR_REVERSE_FLAG);
// Set-ReceiveConnector -TlsCertificateName wants "<I>" + Issuer + "<S>" +
// Subject in exactly that form. Go's pkix.Name.String() is RFC 2253 (ST=,
// backslash escapes, emailAddress as an OID) and loses multi-valued RDNs, so
// the raw DER is parsed here instead.
//
// The rules, with their sources:
//   - RDNs last first, ", " between them, " + " between the attributes of a
//     multi-valued RDN, which keep their encoded order (CertNameToStr docs;
//     dotnet/runtime X500NameEncoder.ManagedDecode.cs; its test
//     PrintMultiComponentRdn expects "CN=James + O=Microsoft" both ways).
//   - Labels are the X.500 keys of Windows' RDN OID group (CertStrToName
//     docs, Wine's crypt32 oid.c, dotnet/runtime OidLookup.cs): S for
//     stateOrProvinceName, E for emailAddress; any other type is
//     "OID.<dotted>" (test PrintUnknownOidRdn: "OID.1.1.1.2.2.3=Invalid Oid").
//   - A value is quoted when it is empty, starts or ends with space, TAB, LF,
//     VT, FF or CR, or contains , + = " LF < > # ;  and a quote inside is
//     doubled (X500NameEncoder.NeedsQuoting: "\r is NOT in this list, because
//     it isn't in Windows").
//   - A value that is not a character string is "#" and the upper-case hex of
//     its whole DER encoding, never quoted; an OCTET STRING loses its own tag
//     and length once (CertNameToStr docs: CERT_RDN_ENCODED_BLOB and
//     CERT_RDN_OCTET_STRING "are formatted in hexadecimal"; dotnet/runtime
//     test Format_ComponentWithNonStringContent: "CN=#3000" for a SEQUENCE,
//     "CN=#3000" for OCTET STRING 04023000, "CN=#0303003000" for a BIT
//     STRING, "S=#0500" for NULL).
//   - Windows decodes 8-bit string types byte for byte (Latin-1) and tries
//     TeletexString as UTF-8 first (CERT_RDN_DISABLE_IE4_UTF8_FLAG docs).
//   - Since MS09-056 Windows hands a string holding a NUL character over as
//     an encoded blob (Chromium's x509_certificate_win.cc notes it for the
//     CN), so such a value is rendered as hex too.
//   - A name that cannot be decoded at all renders as "" (.NET: "Windows
//     compat: return ''"); so does a string whose bytes do not fit its type
//     (odd-length BMPString, invalid UTF-8 in a UTF8String), which .NET
//     fails to decode.

// DotNetName renders a DER-encoded X.501 Name (a certificate's RawSubject or
// RawIssuer) as Windows .NET's X509Certificate2.Subject shows it, or "" when
// it cannot be decoded.
func Format(rawName []byte) string {
	name, err := renderDotNetName(rawName)
	if err != nil {
		return ""
	}
	return name
}

// TLSCertificateName is the value Set-ReceiveConnector -TlsCertificateName
// takes to name this certificate: "<I>" + issuer + "<S>" + subject.
func TLSCertificateName(c *x509.Certificate) string {
	return "<I>" + Format(c.RawIssuer) + "<S>" + Format(c.RawSubject)
}

// nameAttribute is one attribute of an RDN, ready to print.
type nameAttribute struct {
	label string
	value string
	// hex marks a value printed as "#" and hex digits, which is never quoted.
	hex bool
}

// rdnSequence is a name as RDNs in encoded order, each with its attributes in
// encoded order.
type rdnSequence [][]nameAttribute

var errNotDER = errors.New("not a DER-encoded name")

func renderDotNetName(raw []byte) (string, error) {
	rdns, err := parseRDNSequence(raw)
	if err != nil {
		return "", err
	}
	return rdns.String(), nil
}

// String renders the name last RDN first, as CERT_NAME_STR_REVERSE_FLAG does.
func (rdns rdnSequence) String() string {
	var b strings.Builder
	for i := len(rdns) - 1; i >= 0; i-- {
		if i != len(rdns)-1 {
			b.WriteString(", ")
		}
		for j, a := range rdns[i] {
			if j > 0 {
				b.WriteString(" + ")
			}
			b.WriteString(a.label)
			b.WriteByte('=')
			b.WriteString(quoteNameValue(a.value, a.hex))
		}
	}
	return b.String()
}

func parseRDNSequence(raw []byte) (rdnSequence, error) {
	name, err := parseElement(raw, asn1.TagSequence, true)
	if err != nil {
		return nil, err
	}
	var rdns rdnSequence
	for rest := name.Bytes; len(rest) > 0; {
		var set asn1.RawValue
		if rest, err = asn1.Unmarshal(rest, &set); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotDER, err)
		}
		if set.Class != asn1.ClassUniversal || set.Tag != asn1.TagSet || !set.IsCompound {
			return nil, fmt.Errorf("%w: RDN is not a SET", errNotDER)
		}
		rdn, err := parseRDN(set.Bytes)
		if err != nil {
			return nil, err
		}
		rdns = append(rdns, rdn)
	}
	return rdns, nil
}

// parseElement reads exactly one element of the given universal tag.
func parseElement(der []byte, tag int, compound bool) (asn1.RawValue, error) {
	var v asn1.RawValue
	rest, err := asn1.Unmarshal(der, &v)
	switch {
	case err != nil:
		return v, fmt.Errorf("%w: %w", errNotDER, err)
	case len(rest) > 0:
		return v, fmt.Errorf("%w: %d bytes after the element", errNotDER, len(rest))
	case v.Class != asn1.ClassUniversal || v.Tag != tag || v.IsCompound != compound:
		return v, fmt.Errorf("%w: unexpected tag %d", errNotDER, v.Tag)
	}
	return v, nil
}

// parseRDN reads the AttributeTypeAndValue sequences of one RDN SET. Their
// order is kept: Windows does not sort a multi-valued RDN.
func parseRDN(set []byte) ([]nameAttribute, error) {
	var attrs []nameAttribute
	for rest := set; len(rest) > 0; {
		var atv asn1.RawValue
		var err error
		if rest, err = asn1.Unmarshal(rest, &atv); err != nil {
			return nil, fmt.Errorf("%w: %w", errNotDER, err)
		}
		if atv.Class != asn1.ClassUniversal || atv.Tag != asn1.TagSequence || !atv.IsCompound {
			return nil, fmt.Errorf("%w: attribute is not a SEQUENCE", errNotDER)
		}
		a, err := parseAttribute(atv.Bytes)
		if err != nil {
			return nil, err
		}
		attrs = append(attrs, a)
	}
	return attrs, nil
}

func parseAttribute(atv []byte) (nameAttribute, error) {
	var typ asn1.RawValue
	rest, err := asn1.Unmarshal(atv, &typ)
	if err != nil {
		return nameAttribute{}, fmt.Errorf("%w: %w", errNotDER, err)
	}
	if typ.Class != asn1.ClassUniversal || typ.Tag != asn1.TagOID || typ.IsCompound {
		return nameAttribute{}, fmt.Errorf("%w: attribute type is not an OID", errNotDER)
	}
	var oid x509.OID
	if err := oid.UnmarshalBinary(typ.Bytes); err != nil {
		return nameAttribute{}, fmt.Errorf("%w: attribute type: %w", errNotDER, err)
	}
	var val asn1.RawValue
	rest, err = asn1.Unmarshal(rest, &val)
	if err != nil {
		return nameAttribute{}, fmt.Errorf("%w: %w", errNotDER, err)
	}
	if len(rest) > 0 {
		return nameAttribute{}, fmt.Errorf("%w: attribute has more than a type and a value", errNotDER)
	}
	value, hex, err := attributeValueText(val)
	if err != nil {
		return nameAttribute{}, err
	}
	return nameAttribute{label: labelForOID(oid.String()), value: value, hex: hex}, nil
}

// attributeValueText decodes a character string, or writes any other value
// in hexadecimal (hex true).
func attributeValueText(v asn1.RawValue) (text string, hex bool, err error) {
	if v.Class != asn1.ClassUniversal || v.IsCompound {
		return hexValue(v.FullBytes), true, nil
	}
	switch v.Tag {
	case asn1.TagOctetString:
		return hexValue(v.Bytes), true, nil
	case asn1.TagUTF8String:
		if !utf8.Valid(v.Bytes) {
			return "", false, fmt.Errorf("%w: UTF8String is not UTF-8", errNotDER)
		}
		text = string(v.Bytes)
	case asn1.TagT61String:
		text = string(v.Bytes)
		if !utf8.Valid(v.Bytes) {
			text = latin1(v.Bytes)
		}
	case asn1.TagNumericString, asn1.TagPrintableString, asn1.TagIA5String,
		tagVideotexString, tagGraphicString, tagVisibleString, tagGeneralString:
		text = latin1(v.Bytes)
	case asn1.TagBMPString:
		if text, err = decodeBMP(v.Bytes); err != nil {
			return "", false, err
		}
	case tagUniversalString:
		if text, err = decodeUniversal(v.Bytes); err != nil {
			return "", false, err
		}
	default:
		return hexValue(v.FullBytes), true, nil
	}
	if strings.ContainsRune(text, 0) {
		return hexValue(v.FullBytes), true, nil
	}
	return text, false, nil
}

// Universal string tags encoding/asn1 has no names for.
const (
	tagVideotexString  = 21
	tagGraphicString   = 25
	tagVisibleString   = 26
	tagGeneralString   = 27
	tagUniversalString = 28
)

func hexValue(b []byte) string { return fmt.Sprintf("#%X", b) }

func latin1(b []byte) string {
	r := make([]rune, len(b))
	for i, c := range b {
		r[i] = rune(c)
	}
	return string(r)
}

func decodeBMP(b []byte) (string, error) {
	if len(b)%2 != 0 {
		return "", fmt.Errorf("%w: BMPString of odd length", errNotDER)
	}
	units := make([]uint16, len(b)/2)
	for i := range units {
		units[i] = uint16(b[2*i])<<8 | uint16(b[2*i+1])
	}
	// .NET's decoder refuses an unpaired surrogate.
	for i := 0; i < len(units); i++ {
		switch u := units[i]; {
		case isHighSurrogate(u) && i+1 < len(units) && isLowSurrogate(units[i+1]):
			i++
		case isHighSurrogate(u) || isLowSurrogate(u):
			return "", fmt.Errorf("%w: BMPString with an unpaired surrogate", errNotDER)
		}
	}
	return string(utf16.Decode(units)), nil
}

func isHighSurrogate(u uint16) bool { return u >= 0xD800 && u <= 0xDBFF }
func isLowSurrogate(u uint16) bool  { return u >= 0xDC00 && u <= 0xDFFF }

func decodeUniversal(b []byte) (string, error) {
	if len(b)%4 != 0 {
		return "", fmt.Errorf("%w: UniversalString length not a multiple of 4", errNotDER)
	}
	r := make([]rune, len(b)/4)
	for i := range r {
		c := rune(uint32(b[4*i])<<24 | uint32(b[4*i+1])<<16 | uint32(b[4*i+2])<<8 | uint32(b[4*i+3]))
		if !utf8.ValidRune(c) {
			return "", fmt.Errorf("%w: UniversalString with an invalid character", errNotDER)
		}
		r[i] = c
	}
	return string(r), nil
}

// quoteNameValue quotes a value by the CertNameToStr rules; hex values are
// printed as they are.
func quoteNameValue(v string, hex bool) string {
	if hex || !needsQuoting(v) {
		return v
	}
	return `"` + strings.ReplaceAll(v, `"`, `""`) + `"`
}

func needsQuoting(v string) bool {
	if v == "" {
		return true
	}
	first, _ := utf8.DecodeRuneInString(v)
	last, _ := utf8.DecodeLastRuneInString(v)
	return isQuotableSpace(first) || isQuotableSpace(last) || strings.ContainsAny(v, ",+=\"\n<>#;")
}

// isQuotableSpace is the white space Windows quotes at either end: space and
// TAB to CR, not the rest of Unicode's.
func isQuotableSpace(r rune) bool { return r == ' ' || (r >= '\t' && r <= '\r') }

// nameAttributeTypes pairs the attribute types Windows names with their
// X.500 keys, in its spelling.
func nameAttributeTypes() [][2]string {
	return [][2]string{
		{"2.5.4.3", "CN"},
		{"2.5.4.7", "L"},
		{"2.5.4.10", "O"},
		{"2.5.4.11", "OU"},
		{"1.2.840.113549.1.9.1", "E"},
		{"2.5.4.6", "C"},
		{"2.5.4.8", "S"},
		{"2.5.4.9", "STREET"},
		{"2.5.4.12", "T"},
		{"2.5.4.42", "G"},
		{"2.5.4.43", "I"},
		{"2.5.4.4", "SN"},
		{"0.9.2342.19200300.100.1.25", "DC"},
		{"2.5.4.5", "SERIALNUMBER"},
		{"2.5.4.13", "Description"},
		{"2.5.4.17", "PostalCode"},
		{"2.5.4.18", "POBox"},
		{"2.5.4.20", "Phone"},
		{"2.5.4.24", "X21Address"},
		{"2.5.4.46", "dnQualifier"},
		{"2.23.133.2.1", "TPMManufacturer"},
		{"2.23.133.2.2", "TPMModel"},
		{"2.23.133.2.3", "TPMVersion"},
	}
}

// labelForOID is the X.500 key Windows prints for an attribute type.
func labelForOID(oid string) string {
	for _, t := range nameAttributeTypes() {
		if t[0] == oid {
			return t[1]
		}
	}
	return "OID." + oid
}
