package probe

import (
	"fmt"
	"net/netip"
	"strings"

	"golang.org/x/time/rate"
)

// Politeness at scale (issue 14): a run of a million endpoints must not
// open 64 connections at once to one MX, nor a burst of thousands of new
// connections a second from one host.
//
// Two bounds, both for the whole run:
//   - Options.AddressConcurrency: at most that many endpoints of one
//     destination address are probed at once. An endpoint holds its
//     address's slot from its first connection to the end of its
//     --tls-scan, so the slot covers all of its connections: the probe's,
//     the second one of the TLS-required test (a server that ended the
//     session, Courier's refusal after MAIL), and the scan's. The probe's
//     own connections follow one another, never overlap.
//   - Options.ConnectRate: new TCP connections per second, every one the
//     run opens (probe, reconnects, scan), through one golang.org/x/time
//     limiter with a burst of 1, so that they come evenly spaced.
//
// The scan's parallel handshakes keep their own bound per address,
// Options.ScanConnections, shared by the endpoints of that address that
// are scanning at the same time. So one address sees at most
// AddressConcurrency connections without --tls-scan, and at most
// AddressConcurrency-1+ScanConnections with it (one endpoint scanning, the
// others each on their one probe connection): 5 at the defaults.

// DefaultAddressConcurrency is how many endpoints of one address are probed
// at once: two, so that a server's ports 25 and 587 go together, and far
// below the per-client connection limits of Postfix (anvil's
// smtpd_client_connection_count_limit, 50) and Exchange
// (MaxInboundConnectionPerSource, 20).
const DefaultAddressConcurrency = 2

// parkedPerWorker bounds the jobs the scheduler holds back because their
// address is busy: at most parkedPerWorker × Concurrency, 2,048 Jobs at the
// default concurrency, about half a megabyte. Beyond that it stops reading
// its input, so a producer still feels backpressure and memory stays flat
// in the number of jobs. Generous, because input often comes grouped by
// address (a target file sorted by host, --mx listing each host's
// addresses together): with 20 endpoints per address in a row, as in
// scripts/bench, 8 × 64 parked jobs would span only 28 addresses, 56 slots
// for 64 workers, and the run would go slower than its concurrency. Input
// with longer runs of one address (one host's thousand ports) still goes
// at that address's pace until the runs mix again.
const parkedPerWorker = 32

// maxParked is the parked bound for a run of workers.
func maxParked(workers int) int { return parkedPerWorker * workers }

// addressOf is the destination address a job's connections go to, the key
// of its AddressConcurrency slot: the address dialed, else the host (an
// address literal, or a name the probe resolves itself). "" for a job
// that is never dialed (discovery failed): it needs no slot.
func addressOf(job Job) string {
	if job.Err != nil {
		return ""
	}
	host := job.Endpoint.Address
	if host == "" {
		host = job.Endpoint.Host
	}
	if a, err := netip.ParseAddr(host); err == nil {
		return a.Unmap().WithZone("").String()
	}
	return strings.ToLower(strings.TrimSuffix(host, "."))
}

// ticket is a job on its way through the scheduler: n is its place in the
// input, address its AddressConcurrency key.
type ticket struct {
	n       int
	job     Job
	address string
}

// addressQueue admits tickets to the workers with at most per of one
// address running at once. A ticket whose address is busy is parked in
// that address's queue, in input order, and becomes ready as soon as one
// of its address's tickets is released: the worker that would have waited
// for it takes another address's job instead. Not safe for concurrent use:
// the scheduler's one goroutine owns it.
type addressQueue struct {
	per     int
	running map[string]int
	parked  map[string][]ticket
	nParked int
	// ready tickets hold their address's slot and wait for a worker.
	ready []ticket
}

func newAddressQueue(per int) *addressQueue {
	return &addressQueue{per: per, running: map[string]int{}, parked: map[string][]ticket{}}
}

// add takes a ticket from the input: ready when its address has a free
// slot, else parked.
func (q *addressQueue) add(t ticket) {
	if t.address != "" && q.running[t.address] >= q.per {
		q.parked[t.address] = append(q.parked[t.address], t)
		q.nParked++
		return
	}
	if t.address != "" {
		q.running[t.address]++
	}
	q.ready = append(q.ready, t)
}

// release frees a finished ticket's slot, and hands it at once to the
// address's first parked ticket, if any.
func (q *addressQueue) release(address string) {
	if address == "" {
		return
	}
	if waiting := q.parked[address]; len(waiting) > 0 {
		q.ready = append(q.ready, waiting[0])
		waiting[0] = ticket{}
		if len(waiting) == 1 {
			delete(q.parked, address)
		} else {
			q.parked[address] = waiting[1:]
		}
		q.nParked--
		return
	}
	if q.running[address]--; q.running[address] <= 0 {
		delete(q.running, address)
	}
}

// unparkAll makes every parked ticket ready, slot or not: once the run is
// interrupted nothing more is dialed, and each is reported as interrupted.
func (q *addressQueue) unparkAll() {
	for address, waiting := range q.parked {
		for _, t := range waiting {
			t.address = "" // holds no slot: release must not count it
			q.ready = append(q.ready, t)
		}
		delete(q.parked, address)
	}
	q.nParked = 0
}

// next is the first ready ticket; ok is false when none is.
func (q *addressQueue) next() (t ticket, ok bool) {
	if len(q.ready) == 0 {
		return ticket{}, false
	}
	return q.ready[0], true
}

// taken drops the ticket next returned: a worker has it.
func (q *addressQueue) taken() {
	q.ready[0] = ticket{}
	q.ready = q.ready[1:]
}

// idle says nothing is ready or parked.
func (q *addressQueue) idle() bool { return len(q.ready) == 0 && q.nParked == 0 }

// newConnectLimiter is Options.ConnectRate as a limiter: a burst of 1, so
// that connections are spread evenly over each second rather than opened
// in a burst at its start.
func newConnectLimiter(perSecond float64) *rate.Limiter {
	return rate.NewLimiter(rate.Limit(perSecond), 1)
}

// forRun fills in what a run shares across its endpoints: the EHLO name,
// read once; the scan's per-address slots; the connection rate limiter.
func (o Options) forRun() Options {
	if o.EHLOName == "" && !o.hostNameRead {
		// Once for the run, not twice per endpoint: it reads the kernel's
		// host name each time. When it is no FQDN, each connection says
		// its address literal, and hostNameRead keeps sessions from
		// reading it again.
		o.EHLOName, o.hostNameRead = DefaultEHLOName(), true
	}
	if o.TLSScan && o.scanSlots == nil {
		// One bound per address for the whole run: the ports of one
		// server share it.
		o.scanSlots = newAddressSlots(o.ScanConnections)
	}
	return o.withConnectLimiter()
}

// withConnectLimiter makes the rate limiter when ConnectRate asks for one
// and none is shared yet (Probe or ScanTLS called on their own).
func (o Options) withConnectLimiter() Options {
	if o.ConnectRate > 0 && o.connects == nil {
		o.connects = newConnectLimiter(o.ConnectRate)
	}
	return o
}

// awaitConnect is called before each new connection: it refuses once ctx
// is done (so that an interrupted run dials nothing more, whatever the
// dialer does with a done context) and waits for the rate limiter, with
// the endpoint's clock stopped.
func (s *session) awaitConnect() error {
	if err := s.ctx.Err(); err != nil {
		return err
	}
	if s.opts.connects == nil {
		return nil
	}
	if s.budget == nil {
		// Not reached: within makes a budget whenever there is a limiter.
		return s.opts.connects.Wait(s.ctx)
	}
	if err := s.budget.await(s.opts.connects); err != nil {
		if ctxErr := s.ctx.Err(); ctxErr != nil {
			return ctxErr
		}
		return fmt.Errorf("waiting for the connection rate limit: %w", err)
	}
	return nil
}
