// Package interop runs the built starttls-probe binary against a real Postfix
// on loopback and asserts what it reports for each of Postfix's TLS setups.
// The package has no code of its own: everything is in its tests, which start
// a throwaway instance with scripts/postfix/postfix.sh.
package interop
