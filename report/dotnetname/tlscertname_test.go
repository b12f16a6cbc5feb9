package dotnetname

import (
	"strings"
	"testing"
)

func TestParseTLSCertificateNameTolerance(t *testing.T) {
	t.Parallel()
	canonical, err := ParseTLSCertificateName(kbTLSCertificateName)
	if err != nil {
		t.Fatal(err)
	}
	if canonical.String() != kbTLSCertificateName {
		t.Fatalf("canonical form %q differs from the input %q", canonical, kbTLSCertificateName)
	}
	same := []struct{ name, value string }{
		{"spaces around separators and equals", `  <I> CN = Contoso Issuing CA ,OU=PKI,  O = "Contoso, Ltd" , C=US <S>CN=mail.contoso.com,OU=IT,O=contoso,L=location,S=location,C=US  `},
		{"lower-case labels and markers", `<i>cn=Contoso Issuing CA, ou=PKI, o="Contoso, Ltd", c=US<s>cn=mail.contoso.com, ou=IT, o=contoso, l=location, s=location, c=US`},
		{"aliases and OID forms", `<I>OID.2.5.4.3=Contoso Issuing CA, 2.5.4.11=PKI, O="Contoso, Ltd", C=US<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location, ST=location, C=US`},
		{"needless quotes", `<I>CN="Contoso Issuing CA", OU=PKI, O="Contoso, Ltd", C="US"<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location, S=location, C=US`},
		{"semicolons between RDNs", `<I>CN=Contoso Issuing CA; OU=PKI; O="Contoso, Ltd"; C=US<S>CN=mail.contoso.com; OU=IT; O=contoso; L=location; S=location; C=US`},
	}
	for _, tc := range same {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTLSCertificateName(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if got != canonical {
				t.Errorf("read as %q, want %q", got, canonical)
			}
		})
	}
	different := []struct{ name, value string }{
		{"value case", `<I>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd", C=US<S>CN=MAIL.contoso.com, OU=IT, O=contoso, L=location, S=location, C=US`},
		{"RDN order", `<I>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd", C=US<S>CN=mail.contoso.com, O=contoso, OU=IT, L=location, S=location, C=US`},
		{"multi-valued instead of two RDNs", `<I>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd", C=US<S>CN=mail.contoso.com + OU=IT, O=contoso, L=location, S=location, C=US`},
		{"space inside a quoted value", `<I>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd ", C=US<S>CN=mail.contoso.com, OU=IT, O=contoso, L=location, S=location, C=US`},
		{"issuer and subject swapped", `<I>CN=mail.contoso.com, OU=IT, O=contoso, L=location, S=location, C=US<S>CN=Contoso Issuing CA, OU=PKI, O="Contoso, Ltd", C=US`},
	}
	for _, tc := range different {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			got, err := ParseTLSCertificateName(tc.value)
			if err != nil {
				t.Fatal(err)
			}
			if got == canonical {
				t.Errorf("%q reads the same as the KB example", tc.value)
			}
		})
	}
}

func TestParseTLSCertificateNameRejects(t *testing.T) {
	t.Parallel()
	cases := []struct{ name, value, wantErr string }{
		{"no <I>", `CN=mail.contoso.com`, "<I>"},
		{"no <S>", `<I>CN=Contoso CA`, "<S>"},
		{"<S> only inside quotes", `<I>CN="a<S>b"`, "<S>"},
		{"unknown label", `<I>CN=Contoso CA<S>FOO=bar`, "unknown attribute"},
		{"no closing quote", `<I>CN=Contoso CA<S>CN="mail`, "closing quote"},
		{"text after a quoted value", `<I>CN=Contoso CA<S>CN="mail" x`, "unexpected"},
		{"missing equals", `<I>CN=Contoso CA<S>mail.contoso.com`, "LABEL=value"},
		{"trailing separator", `<I>CN=Contoso CA<S>CN=mail,`, "LABEL=value"},
		{"bad hex", `<I>CN=Contoso CA<S>CN=#zz`, "hex digits"},
		{"bad OID", `<I>CN=Contoso CA<S>OID.1.=x`, "not an OID"},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			t.Parallel()
			_, err := ParseTLSCertificateName(tc.value)
			if err == nil || !strings.Contains(err.Error(), tc.wantErr) {
				t.Errorf("error = %v, want one mentioning %q", err, tc.wantErr)
			}
		})
	}
}

func TestParseTLSCertificateNameEdgeValues(t *testing.T) {
	t.Parallel()
	cases := []struct{ value, want string }{
		{`<I><S>`, `<I><S>`},
		{`<I>CN=<S>CN=""`, `<I>CN=""<S>CN=""`},
		{`<I>CN=# 30 00<S>CN="#3000"`, `<I>CN=#3000<S>CN="#3000"`},
		{`<I>CN=a"b<S>CN="a<S>b"`, `<I>CN="a""b"<S>CN="a<S>b"`},
		{`<I>CN=x + O=y<S>DC=contoso,DC=test`, `<I>CN=x + O=y<S>DC=contoso, DC=test`},
	}
	for _, tc := range cases {
		got, err := ParseTLSCertificateName(tc.value)
		if err != nil {
			t.Errorf("%q: %v", tc.value, err)
			continue
		}
		if got.String() != tc.want {
			t.Errorf("%q reads as %q, want %q", tc.value, got, tc.want)
		}
	}
}
