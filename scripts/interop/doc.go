// Package interop runs the built starttls-probe binary against real mail
// servers on loopback and asserts what it reports: Postfix, in each of its TLS
// setups, started with scripts/postfix/postfix.sh; aiosmtpd, OpenSMTPD, Exim,
// chasquid, Courier, Sendmail and Dovecot, unpacked from Debian's packages by
// servers.sh, and maddy and Mailpit, built from their Go modules by
// servers.sh, each run in the foreground under a configuration its test
// writes. The package has no code
// of its own: everything is in its tests.
package interop
