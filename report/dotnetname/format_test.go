package dotnetname

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/asn1"
	"encoding/hex"
	"math/big"
	"testing"
	"time"
)

// The test names are built byte by byte: encoding/asn1 sorts SET OF
// members, and multi-valued RDNs must keep the order under test.

// derTLV is one DER element.
func derTLV(tag byte, content ...[]byte) []byte {
	var body []byte
	for _, c := range content {
		body = append(body, c...)
	}
	n := len(body)
	switch {
	case n < 0x80:
		return append([]byte{tag, byte(n)}, body...)
	case n < 0x100:
		return append([]byte{tag, 0x81, byte(n)}, body...)
	default:
		return append([]byte{tag, 0x82, byte(n >> 8), byte(n)}, body...)
	}
}

// derName is an RDNSequence; derRDN is one RDN SET, its attributes in the order
// given.
func derName(rdns ...[]byte) []byte { return derTLV(0x30, rdns...) }
func derRDN(attrs ...[]byte) []byte { return derTLV(0x31, attrs...) }

// derATV is one attribute: its type and the complete DER of its value.
func derATV(t testing.TB, dotted string, value []byte) []byte {
	t.Helper()
	o, err := x509.ParseOID(dotted)
	if err != nil {
		t.Fatal(err)
	}
	content, err := o.MarshalBinary()
	if err != nil {
		t.Fatal(err)
	}
	return derTLV(0x30, derTLV(asn1.TagOID, content), value)
}

func derString(tag int, s string) []byte { return derTLV(byte(tag), []byte(s)) }

func derHex(t testing.TB, s string) []byte {
	t.Helper()
	b, err := hex.DecodeString(s)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

const (
	oidCN    = "2.5.4.3"
	oidC     = "2.5.4.6"
	oidL     = "2.5.4.7"
	oidST    = "2.5.4.8"
	oidO     = "2.5.4.10"
	oidOU    = "2.5.4.11"
	oidSN    = "2.5.4.5"
	oidEmail = "1.2.840.113549.1.9.1"
	oidDC    = "0.9.2342.19200300.100.1.25"
)

// TestFormatFromDotNetTests replays dotnet/runtime's own expectations
// (src/libraries/System.Security.Cryptography/tests/X509Certificates/
// X500DistinguishedNameTests.cs), which run on Windows too. Their forward
// (non-reversed) strings are given here reversed, as Subject shows them.
func TestFormatFromDotNetTests(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, der, want string }{
		{"multi-valued RDN keeps its order", "30223120300C060355040313054A616D65733010060355040A13094D6963726F736F6674", "CN=James + O=Microsoft"},
		{"unknown OID", "30183116301406052901020203130B496E76616C6964204F6964", "OID.1.1.1.2.2.3=Invalid Oid"},
		{"NumericString, reversed", "30283117301506052901020203120C313233203635342037383930310D300B0603550403130454657374", "CN=Test, OID.1.1.1.2.2.3=123 654 7890"},
		{"unsorted multi-valued SET", "301C311A300B060355040B13047A7A7A7A300B060355040B130461616161", "OU=zzzz + OU=aaaa"},
		{"leading space", "3017311530130603550403130C20436F6D6D6F6E204E616D65", `CN=" Common Name"`},
		{"leading TAB", "30233121301F06035504031E1800090043006F006D006D006F006E0020004E0061006D0065", "CN=\"\tCommon Name\""},
		{"leading LF", "30233121301F06035504031E18000A0043006F006D006D006F006E0020004E0061006D0065", "CN=\"\nCommon Name\""},
		{"leading VT", "30233121301F06035504031E18000B0043006F006D006D006F006E0020004E0061006D0065", "CN=\"\vCommon Name\""},
		{"leading CR", "30233121301F06035504031E18000D0043006F006D006D006F006E0020004E0061006D0065", "CN=\"\rCommon Name\""},
		{"leading en quad is not quoted", "30233121301F06035504031E1820020043006F006D006D006F006E0020004E0061006D0065", "CN=\u2002Common Name"},
		{"trailing space", "3017311530130603550403130C436F6D6D6F6E204E616D6520", `CN="Common Name "`},
		{"trailing TAB", "30233121301F06035504031E180043006F006D006D006F006E0020004E0061006D00650009", "CN=\"Common Name\t\""},
		{"trailing en quad is not quoted", "30233121301F06035504031E180043006F006D006D006F006E0020004E0061006D00652002", "CN=Common Name\u2002"},
		{"empty", "300B3109300706035504031300", `CN=""`},
		{"comma", "3016311430120603550403130B436F6D6D6F6E2C4E616D65", `CN="Common,Name"`},
		{"plus", "3016311430120603550403130B436F6D6D6F6E2B4E616D65", `CN="Common+Name"`},
		{"equals", "3016311430120603550403130B436F6D6D6F6E3D4E616D65", `CN="Common=Name"`},
		{"inner LF", "3021311F301D06035504031E160043006F006D006D006F006E000A004E0061006D0065", "CN=\"Common\nName\""},
		{"inner CR is not quoted", "3021311F301D06035504031E160043006F006D006D006F006E000D004E0061006D0065", "CN=Common\rName"},
		{"less-than", "3021311F301D06035504031E160043006F006D006D006F006E003C004E0061006D0065", `CN="Common<Name"`},
		{"greater-than", "3021311F301D06035504031E160043006F006D006D006F006E003E004E0061006D0065", `CN="Common>Name"`},
		{"number sign", "3021311F301D06035504031E160043006F006D006D006F006E0023004E0061006D0065", `CN="Common#Name"`},
		{"semicolon", "3021311F301D06035504031E160043006F006D006D006F006E003B004E0061006D0065", `CN="Common;Name"`},
		{"inner quote doubled", "3021311F301D06035504031E160043006F006D006D006F006E0022004E0061006D0065", `CN="Common""Name"`},
		{"leading quote", "30233121301F06035504031E1800220043006F006D006D006F006E0020004E0061006D0065", `CN="""Common Name"`},
		{"trailing quote", "30233121301F06035504031E180043006F006D006D006F006E0020004E0061006D00650022", `CN="Common Name"""`},
		{"T61 names (dotnet/runtime#25195)",
			"308186310b3009060355040613024a50310f300d060355040813064d69796167" +
				"69311830160603550407130f53656e64616920497a756d692d6b753117301506" +
				"0355040a140e47726170654369747920696e632e311a3018060355040b141154" +
				"6f6f6c7320446576656c6f706d656e74311730150603550403140e4772617065" +
				"4369747920696e632e",
			"CN=GrapeCity inc., OU=Tools Development, O=GrapeCity inc., L=Sendai Izumi-ku, S=Miyagi, C=JP"},
		{"T61 Latin-1, email and serial number",
			"3081B5310B300906035504061302444B312D302B060355040A14244865646562" +
				"792773204DF862656C68616E64656C202F2F204356523A313334373139363731" +
				"2F302D060355040314264865646562792773204DF862656C68616E64656C202D" +
				"2053616C6773616664656C696E67656E311E301C06092A864886F70D01090116" +
				"0F76686D407573652E746573742E646B312630240603550405131D4356523A31" +
				"333437313936372D5549443A313231323132313231323132",
			"SERIALNUMBER=CVR:13471967-UID:121212121212, E=vhm@use.test.dk, CN=Hedeby's M\u00f8belhandel - Salgsafdelingen, O=Hedeby's M\u00f8belhandel // CVR:13471967, C=DK"},
		{"T61 valid UTF-8", "300D310B300906035504061402C2A2", "C=\u00a2"},
		{"T61 invalid UTF-8 is Latin-1", "300E310C300A06035504071403C2A2F8", "L=\u00c2\u00a2\u00f8"},
		{"www.microsoft.com EV subject",
			"3082010F31133011060B2B0601040182373C02010313025553311B3019060B2B" +
				"0601040182373C0201020C0A57617368696E67746F6E311D301B060355040F13" +
				"1450726976617465204F7267616E697A6174696F6E3112301006035504051309" +
				"363030343133343835310B3009060355040613025553310E300C06035504110C" +
				"0539383035323113301106035504080C0A57617368696E67746F6E3110300E06" +
				"035504070C075265646D6F6E643118301606035504090C0F31204D6963726F73" +
				"6F667420576179311E301C060355040A0C154D6963726F736F667420436F7270" +
				"6F726174696F6E310E300C060355040B0C054D53434F4D311A30180603550403" +
				"0C117777772E6D6963726F736F66742E636F6D",
			// The test's own expectation up to SERIALNUMBER; Windows 8.1
			// continued with the unknown OIDs, as its comment records.
			"CN=www.microsoft.com, OU=MSCOM, O=Microsoft Corporation, STREET=1 Microsoft Way, " +
				"L=Redmond, S=Washington, PostalCode=98052, C=US, SERIALNUMBER=600413485, " +
				"OID.2.5.4.15=Private Organization, OID.1.3.6.1.4.1.311.60.2.1.2=Washington, " +
				"OID.1.3.6.1.4.1.311.60.2.1.3=US"},
		{"invalid DER (one byte short)", "3017311530130603550403130C436F6D6D6F6E204E616D65", ""},
		{"empty name", "3000", ""},
		{"trailing bytes", "300B310930070603550403130000", ""},
		{"not a SEQUENCE", "310B3109300706035504031300", ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Format(derHex(t, tc.der)); got != tc.want {
				t.Errorf("DotNetName = %q\nwant         %q", got, tc.want)
			}
		})
	}
}

// TestFormatNonStringValues follows Format_ComponentWithNonStringContent
// and Format_MultiValueComponentWithNonStringContent in dotnet/runtime, and
// CertNameToStr's rule that encoded blobs and OCTET STRINGs print as hex.
func TestFormatNonStringValues(t *testing.T) {
	t.Parallel()
	type attr struct{ oid, der string }
	cases := []struct {
		name  string
		attrs []attr // one RDN each, in encoded order
		want  string // reversed, as Subject shows it
	}{
		{"SEQUENCE", []attr{{oidCN, "3000"}}, "CN=#3000"},
		{"OBJECT IDENTIFIER under SERIALNUMBER", []attr{{oidSN, "0603550406"}}, "SERIALNUMBER=#0603550406"},
		{"SET under an unknown type", []attr{{"0.0", "31020500"}}, "OID.0.0=#31020500"},
		{"OCTET STRING loses its tag", []attr{{oidCN, "04023000"}}, "CN=#3000"},
		{"only one OCTET STRING layer is stripped", []attr{{oidCN, "040404023000"}}, "CN=#04023000"},
		{"BIT STRING keeps its tag", []attr{{oidCN, "0303003000"}}, "CN=#0303003000"},
		{"NULL", []attr{{oidST, "0500"}}, "S=#0500"},
		{"BOOLEAN", []attr{{oidST, "0101FF"}}, "S=#0101FF"},
		{"two blobs", []attr{{oidCN, "0101FF"}, {oidST, "3000"}}, "S=#3000, CN=#0101FF"},
		{"strings among blobs", []attr{{oidCN, "0C02504A"}, {oidST, "3000"}, {"0.0", "0C024141"}}, "OID.0.0=AA, S=#3000, CN=PJ"},
		{"a text value starting with # is quoted", []attr{{oidCN, "0C03233030"}, {oidST, "3000"}}, `S=#3000, CN="#00"`},
		{"context-specific tag", []attr{{oidCN, "800141"}}, "CN=#800141"},
		{"NUL inside a string makes it a blob", []attr{{oidCN, "0C0461620063"}}, "CN=#0C0461620063"},
		{"trailing NUL makes it a blob", []attr{{oidCN, "1303616200"}}, "CN=#1303616200"},
		{"VisibleString", []attr{{oidCN, "1A036D6169"}}, "CN=mai"},
		{"UniversalString", []attr{{oidCN, "1C080000006100000062"}}, "CN=ab"},
		{"BMPString surrogate pair", []attr{{oidCN, "1E04D83DDE00"}}, "CN=\U0001F600"},
		{"BMPString of odd length fails the name", []attr{{oidO, "0C0178"}, {oidCN, "1E03004100"}}, ""},
		{"BMPString with a lone surrogate fails the name", []attr{{oidCN, "1E02D83D"}}, ""},
		{"invalid UTF8String fails the name", []attr{{oidCN, "0C02C328"}}, ""},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			var rdns [][]byte
			for _, a := range tc.attrs {
				rdns = append(rdns, derRDN(derATV(t, a.oid, derHex(t, a.der))))
			}
			if got := Format(derName(rdns...)); got != tc.want {
				t.Errorf("DotNetName = %q, want %q", got, tc.want)
			}
		})
	}

	t.Run("multi-valued RDNs with blobs", func(t *testing.T) {
		t.Parallel()
		der := derName(
			derRDN(derATV(t, oidCN, derHex(t, "3000")), derATV(t, oidST, derHex(t, "3100"))),
			derRDN(derATV(t, oidSN, derHex(t, "0C0430313233")), derATV(t, oidO, derHex(t, "31055050505050")), derATV(t, "2.5.4.9", derHex(t, "0C075441434F434154"))),
		)
		// dotnet/runtime expects the forward form
		// "CN=#3000 + S=#3100, SERIALNUMBER=0123 + O=#31055050505050 + STREET=TACOCAT".
		const want = "SERIALNUMBER=0123 + O=#31055050505050 + STREET=TACOCAT, CN=#3000 + S=#3100"
		if got := Format(der); got != want {
			t.Errorf("DotNetName = %q, want %q", got, want)
		}
	})
}

func TestFormatOrderingAndLabels(t *testing.T) {
	t.Parallel()
	cases := []struct {
		name string
		rdns [][]byte
		want string
	}{
		{
			// As Windows PowerShell prints github.com's 2018 EV certificate:
			// S for the state, SERIALNUMBER, unknown EV OIDs with "OID.".
			name: "github.com EV subject",
			rdns: [][]byte{
				derRDN(derATV(t, "2.5.4.15", derString(asn1.TagPrintableString, "Private Organization"))),
				derRDN(derATV(t, "1.3.6.1.4.1.311.60.2.1.3", derString(asn1.TagPrintableString, "US"))),
				derRDN(derATV(t, "1.3.6.1.4.1.311.60.2.1.2", derString(asn1.TagPrintableString, "Delaware"))),
				derRDN(derATV(t, oidSN, derString(asn1.TagPrintableString, "5157550"))),
				derRDN(derATV(t, oidC, derString(asn1.TagPrintableString, "US"))),
				derRDN(derATV(t, oidST, derString(asn1.TagPrintableString, "California"))),
				derRDN(derATV(t, oidL, derString(asn1.TagPrintableString, "San Francisco"))),
				derRDN(derATV(t, oidO, derString(asn1.TagPrintableString, "GitHub, Inc."))),
				derRDN(derATV(t, oidCN, derString(asn1.TagPrintableString, "github.com"))),
			},
			want: `CN=github.com, O="GitHub, Inc.", L=San Francisco, S=California, C=US, SERIALNUMBER=5157550, ` +
				`OID.1.3.6.1.4.1.311.60.2.1.2=Delaware, OID.1.3.6.1.4.1.311.60.2.1.3=US, OID.2.5.4.15=Private Organization`,
		},
		{
			name: "domain components and e-mail",
			rdns: [][]byte{
				derRDN(derATV(t, oidDC, derString(asn1.TagIA5String, "test"))),
				derRDN(derATV(t, oidDC, derString(asn1.TagIA5String, "contoso"))),
				derRDN(derATV(t, oidCN, derString(asn1.TagUTF8String, "Contoso Issuing CA 1"))),
				derRDN(derATV(t, oidEmail, derString(asn1.TagIA5String, "pki@contoso.test"))),
			},
			want: "E=pki@contoso.test, CN=Contoso Issuing CA 1, DC=contoso, DC=test",
		},
		{
			name: "every named label",
			rdns: [][]byte{
				derRDN(derATV(t, "2.5.4.12", derString(asn1.TagUTF8String, "t")), derATV(t, "2.5.4.42", derString(asn1.TagUTF8String, "g")),
					derATV(t, "2.5.4.43", derString(asn1.TagUTF8String, "i")), derATV(t, "2.5.4.4", derString(asn1.TagUTF8String, "sn")),
					derATV(t, "2.5.4.9", derString(asn1.TagUTF8String, "street")), derATV(t, "2.5.4.13", derString(asn1.TagUTF8String, "d")),
					derATV(t, "2.5.4.17", derString(asn1.TagUTF8String, "p")), derATV(t, "2.5.4.18", derString(asn1.TagUTF8String, "b")),
					derATV(t, "2.5.4.20", derString(asn1.TagPrintableString, "1")), derATV(t, "2.5.4.24", derString(asn1.TagNumericString, "2")),
					derATV(t, "2.5.4.46", derString(asn1.TagPrintableString, "q"))),
			},
			want: "T=t + G=g + I=i + SN=sn + STREET=street + Description=d + PostalCode=p + POBox=b + Phone=1 + X21Address=2 + dnQualifier=q",
		},
		{
			name: "unknown types, including unstructuredName and a large arc",
			rdns: [][]byte{
				derRDN(derATV(t, "1.2.840.113549.1.9.2", derString(asn1.TagIA5String, "router.contoso.test"))),
				derRDN(derATV(t, "2.25.340282366920938463463374607431768211455", derString(asn1.TagUTF8String, "x"))),
			},
			want: "OID.2.25.340282366920938463463374607431768211455=x, OID.1.2.840.113549.1.9.2=router.contoso.test",
		},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			if got := Format(derName(tc.rdns...)); got != tc.want {
				t.Errorf("DotNetName = %q\nwant         %q", got, tc.want)
			}
		})
	}
}

// issueNamed makes a real certificate with the given subject, signed by a
// throwaway CA named issuer.
func issueNamed(t testing.TB, issuer, subject pkix.Name) *x509.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	now := time.Now()
	ca := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: issuer, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		BasicConstraintsValid: true, IsCA: true, KeyUsage: x509.KeyUsageCertSign}
	caDER, err := x509.CreateCertificate(rand.Reader, ca, ca, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		t.Fatal(err)
	}
	leaf := &x509.Certificate{SerialNumber: big.NewInt(2), Subject: subject, NotBefore: now.Add(-time.Hour), NotAfter: now.Add(time.Hour),
		DNSNames: []string{"mail.contoso.com"}}
	der, err := x509.CreateCertificate(rand.Reader, leaf, caCert, key.Public(), key)
	if err != nil {
		t.Fatal(err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		t.Fatal(err)
	}
	return cert
}

// kbIssuer and kbSubject rebuild the example of KB 2989382 ("<I>CN=...,
// OU=..., O=..., C=US<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location,
// S=location, C=US"), with a made-up CA in place of the dots.
func kbIssuer() pkix.Name {
	return pkix.Name{CommonName: "Contoso Issuing CA", OrganizationalUnit: []string{"PKI"}, Organization: []string{"Contoso, Ltd"}, Country: []string{"US"}}
}

func kbSubject() pkix.Name {
	return pkix.Name{CommonName: "mail.contoso.com", OrganizationalUnit: []string{"IT"}, Organization: []string{"contoso"},
		Locality: []string{"location"}, Province: []string{"location"}, Country: []string{"US"}}
}

const kbTLSCertificateName = `<I>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd", C=US<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location, S=location, C=US`

func TestTLSCertificateNameOfKBExample(t *testing.T) {
	t.Parallel()
	cert := issueNamed(t, kbIssuer(), kbSubject())
	if got := TLSCertificateName(cert); got != kbTLSCertificateName {
		t.Errorf("TLSCertificateName = %q\nwant                 %q", got, kbTLSCertificateName)
	}
	// Go's own rendering is a different format: the reason this file exists.
	if cert.Subject.String() == Format(cert.RawSubject) {
		t.Errorf("pkix.Name.String() already gives %q; the formatter would be redundant", cert.Subject.String())
	}
}

func FuzzFormat(f *testing.F) {
	f.Add(derHex(f, "30223120300C060355040313054A616D65733010060355040A13094D6963726F736F6674"))
	f.Add(derHex(f, "3021311F301D06035504031E160043006F006D006D006F006E0022004E0061006D0065"))
	f.Add(derHex(f, "300E310C300A06035504071403C2A2F8"))
	f.Add(issueNamed(f, kbIssuer(), kbSubject()).RawSubject)
	f.Fuzz(func(t *testing.T, raw []byte) {
		printed := Format(raw)
		// Every printed name must read back unchanged, or comparing it with
		// --tls-certificate-name would report a mismatch for a match.
		back, err := canonicalDisplayName(printed)
		if err != nil {
			t.Fatalf("DotNetName printed %q, which does not read back: %v", printed, err)
		}
		if back != printed {
			t.Fatalf("DotNetName printed %q, which reads back as %q", printed, back)
		}
		tn, err := ParseTLSCertificateName("<I>" + printed + "<S>" + printed)
		if err != nil || tn.Issuer != printed || tn.Subject != printed {
			t.Fatalf("<I>%s<S>%s reads back as %+v, %v", printed, printed, tn, err)
		}
	})
}
