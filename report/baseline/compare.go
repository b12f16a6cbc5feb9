package baseline

import (
	"fmt"
	"strings"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
	"github.com/starttls-probe/starttls-probe/report"
)

// observation is what this run saw of one endpoint, in the baseline's
// terms.
type observation struct {
	entry Entry
	// reached is true when the probe got far enough to say whether
	// STARTTLS is offered, or got a certificate.
	reached bool
	// hasLeaf is true when a certificate was presented.
	hasLeaf bool
}

func observe(ep *report.Endpoint, now time.Time) observation {
	r := &ep.Result
	e := Entry{Host: r.Endpoint.Host, Address: r.Address, Port: r.Endpoint.Port, RecordedAt: now.UTC()}
	ehloRead := r.EHLO != nil && r.EHLO.Code == 250
	if r.Mode == probe.ModeSTARTTLS && ehloRead {
		e.STARTTLSOffered = r.STARTTLSOffered
	}
	leaf := ep.Leaf()
	if leaf != nil {
		e.SHA1 = leaf.SHA1
		e.Subject = leaf.Subject
		e.Issuer = leaf.Issuer
		e.NotAfter = leaf.NotAfter
	}
	return observation{entry: e, reached: ehloRead || leaf != nil, hasLeaf: leaf != nil}
}

// compare adds the baseline check to each endpoint of s and returns the
// entries to keep, and whether they differ from entries. Entries of
// endpoints this run did not probe are kept as they are.
func compare(entries []Entry, s *report.Summary, opts Options) ([]Entry, bool) {
	byKey := map[key]int{}
	// byName finds a recorded address of the same host and port, for an
	// endpoint whose address changed (DNS moved, a node replaced): it is
	// compared with what was recorded there, not silently recorded anew.
	byName := map[key]int{}
	for i, e := range entries {
		byKey[e.key()] = i
		if _, ok := byName[e.nameKey()]; !ok {
			byName[e.nameKey()] = i
		}
	}
	next := append([]Entry(nil), entries...)
	changed := false
	for i := range s.Endpoints {
		ep := &s.Endpoints[i]
		obs := observe(ep, s.Now)
		idx, known := byKey[obs.entry.key()]
		moved := false
		if !known {
			idx, moved = byName[obs.entry.nameKey()]
			known = moved
		}
		var old Entry
		if known {
			old = next[idx]
		}
		c, record := judge(ep, old, known, obs, opts)
		if moved {
			c.Message += fmt.Sprintf(" (compared with what %s presented: the address is now %s)", old.Address, obs.entry.Address)
		}
		// Accepting the run's state records a moved endpoint at its new
		// address, whatever the comparison said.
		if record || (opts.Update && moved) {
			if known && !moved {
				next[idx] = obs.entry
			} else {
				byKey[obs.entry.key()] = len(next)
				next = append(next, obs.entry)
			}
			changed = true
		}
		ep.Checks = append(ep.Checks, c)
	}
	s.Restate()
	if opts.Update {
		var pruned bool
		next, pruned = forgetUnseenAddresses(next, s)
		changed = changed || pruned
	}
	return next, changed
}

// forgetUnseenAddresses drops the entries of each host and port this run
// probed at addresses it no longer saw (DNS moved, a node retired), so that
// accepting a run's state does not keep old addresses forever. Hosts and
// ports the run did not probe, or probed at no address, keep their entries:
// one file may serve several cron jobs.
func forgetUnseenAddresses(entries []Entry, s *report.Summary) ([]Entry, bool) {
	seen := map[key]map[string]bool{}
	for _, ep := range s.Endpoints {
		if ep.Result.Address == "" {
			continue
		}
		k := Entry{Host: ep.Result.Endpoint.Host, Port: ep.Result.Endpoint.Port}.nameKey()
		if seen[k] == nil {
			seen[k] = map[string]bool{}
		}
		seen[k][ep.Result.Address] = true
	}
	kept := entries[:0]
	for _, e := range entries {
		if addrs, probed := seen[e.nameKey()]; !probed || addrs[e.Address] {
			kept = append(kept, e)
		}
	}
	return kept, len(kept) < len(entries)
}

// judge is the baseline check of one endpoint, and whether its observation
// is to be recorded.
func judge(ep *report.Endpoint, old Entry, known bool, obs observation, opts Options) (report.Check, bool) {
	c := report.Check{ID: CheckID}
	name := ep.Name()
	now := obs.entry
	accepted := "; accepted as the new baseline (--update-baseline)"
	// The warning repeats on every run until accepted: say how.
	const toAccept = "; if the change is intended, run once with --update-baseline to accept it"
	switch {
	case !obs.reached:
		c.Status, c.Message = report.Skipped, "nothing to compare: the probe did not get as far as EHLO or a certificate"
		return c, false

	case !known:
		c.Status, c.Message = report.OK, "recorded as the baseline: "+describe(now, ep.Result.Mode)
		return c, true

	case ep.Result.Mode == probe.ModeSTARTTLS && old.STARTTLSOffered && !now.STARTTLSOffered:
		c.Status = report.Critical
		c.Message = fmt.Sprintf("STARTTLS lost on %s: offered when the baseline was recorded on %s (certificate %s), not offered now",
			name, old.RecordedAt.Format(time.DateOnly), orNone(old.SHA1))
		if opts.Update {
			c.Status, c.Message = report.OK, c.Message+accepted
		} else {
			c.Message += toAccept
		}
		return c, opts.Update

	case obs.hasLeaf && old.SHA1 == "":
		// Recorded when nothing was presented: gaining TLS loses nothing
		// worth an alert, and from now on the certificate is watched.
		c.Status, c.Message = report.OK, "recorded as the baseline: "+describe(now, ep.Result.Mode)+" (none was presented when the baseline was recorded)"
		return c, true

	case obs.hasLeaf && old.SHA1 != now.SHA1:
		c.Status = report.Warning
		c.Message = fmt.Sprintf("certificate changed on %s: %s → %s (%s; baseline recorded on %s)",
			name, old.SHA1, now.SHA1, certificateChanges(old, now), old.RecordedAt.Format(time.DateOnly))
		if opts.Update {
			c.Status, c.Message = report.OK, c.Message+accepted
		} else {
			c.Message += toAccept
		}
		return c, opts.Update

	case !obs.hasLeaf && old.SHA1 != "":
		// STARTTLS still offered, but no certificate came: the handshake
		// check says why; there is nothing to compare.
		c.Status, c.Message = report.Skipped, "no certificate to compare with the baseline's "+old.SHA1
		return c, false

	default:
		c.Status, c.Message = report.OK, fmt.Sprintf("unchanged since %s: %s", old.RecordedAt.Format(time.DateOnly), describe(now, ep.Result.Mode))
		if opts.Update && old.STARTTLSOffered != now.STARTTLSOffered {
			return c, true
		}
		return c, false
	}
}

// certificateChanges names what differs between the recorded and the
// presented certificate besides the thumbprint ("expires: 2026-01-10 →
// 2027-01-10; same subject and issuer"): a renewal shows as such, and no
// field is printed as "A → A".
func certificateChanges(old, now Entry) string {
	var changed, same []string
	for _, f := range []struct{ name, noun, old, now string }{
		{"subject", "subject", old.Subject, now.Subject},
		{"issuer", "issuer", old.Issuer, now.Issuer},
		{"expires", "expiry", old.NotAfter.Format(time.DateOnly), now.NotAfter.Format(time.DateOnly)},
	} {
		if f.old == f.now {
			same = append(same, f.noun)
		} else {
			changed = append(changed, fmt.Sprintf("%s: %s → %s", f.name, f.old, f.now))
		}
	}
	switch len(same) {
	case 0:
	case 1:
		changed = append(changed, "same "+same[0])
	default:
		changed = append(changed, "same "+strings.Join(same[:len(same)-1], ", ")+" and "+same[len(same)-1])
	}
	return strings.Join(changed, "; ")
}

// describe is the recorded state in a few words.
func describe(e Entry, mode probe.Mode) string {
	switch {
	case e.SHA1 != "":
		return fmt.Sprintf("certificate %s (%s, expires %s)", e.SHA1, e.Subject, e.NotAfter.Format(time.DateOnly))
	case mode == probe.ModeSTARTTLS && !e.STARTTLSOffered:
		return "STARTTLS not offered"
	default:
		return "no certificate presented"
	}
}

func orNone(sha1 string) string {
	if sha1 == "" {
		return "none"
	}
	return sha1
}
