package probe

import (
	"context"
	"hash"
	"hash/fnv"
	"iter"
	"maps"
	"net"
	"net/netip"
	"slices"
	"strconv"
	"strings"
	"sync"
)

// planQueue is how many jobs Plan holds ready for a consumer that is busy:
// enough that a worker finishing a probe finds the next job waiting, few
// enough that memory is the work in flight, never the input.
const planQueue = 64

// Plan is Discover for a batch of any length: it reads endpoints as they
// come and sends their jobs on the channel it returns as soon as each
// target is expanded, so that the first probe starts long before a file of
// a million targets has been read, and memory holds the work in flight
// rather than the input. At most opts.Concurrency targets are looked up at
// a time, each by the rules of Discover (the ports of one target, which
// arrive consecutively, share one address lookup, so round-robin DNS
// cannot split a host's ports; a host name's jobs go out once its last
// port has been read, that is when the next target's first endpoint or the
// end of the input comes; an address literal's at once). Jobs come out in
// no fixed order, each with its Place in the input's.
//
// Every job comes out once, however many targets lead to it:
//   - A target line given again (the same host, case aside, port and TLS
//     mode) is dropped before it is looked up: its jobs are the first's.
//   - Jobs that would dial the same thing (the same Key: address, port,
//     TLS mode, service port and SNI) come out first as a normal job and
//     then with Duplicate set, each with its own Target and Domain, for
//     the consumer to attribute the first's result to them without dialing
//     again: with --mx over many domains, a shared MX host is handshaken
//     once and reported for every domain that uses it. The normal job
//     always comes out before its duplicates.
//
// Only the jobs shard owns come out, duplicates included: shards split
// after discovery, so every shard reads all of endpoints and makes all of
// its lookups (see Shard).
//
// The channel is closed when every job has been sent, or when ctx is done
// (then at once, whatever is left unsent). The consumer reads it to the
// end or cancels ctx; Plan's reading of endpoints ends at the next
// endpoint after that, so an iterator blocked on a read holds only its own
// goroutine.
func Plan(ctx context.Context, endpoints iter.Seq[Endpoint], d Discovery, opts Options, shard Shard) <-chan Job {
	r := newDiscoverer(ctx, opts)
	groups := make(chan targetGroup)
	expanded := make(chan []Job)
	out := make(chan Job, planQueue)
	go func() {
		defer close(groups)
		readTargets(ctx, endpoints, shard, groups)
	}()
	var workers sync.WaitGroup
	for range opts.concurrency() {
		workers.Go(func() {
			for group := range groups {
				if ctx.Err() != nil {
					continue
				}
				jobs := r.expand(group.endpoints, d)
				for i := range jobs {
					jobs[i].Place = Place{Target: group.place, Job: i}
				}
				select {
				case expanded <- jobs:
				case <-ctx.Done():
				}
			}
		})
	}
	go func() {
		workers.Wait()
		close(expanded)
	}()
	go func() {
		defer close(out)
		emitJobs(ctx, expanded, shard, out)
	}()
	return out
}

// targetGroup is one target's endpoints, and the target's place among the
// targets read.
type targetGroup struct {
	place     int
	endpoints []Endpoint
}

// readTargets groups endpoints by target for expand, dropping target lines
// given again, and endpoints another shard owns whose address is known
// before any lookup. An address literal given again is dropped by emitJobs
// instead: it costs no lookup, and its Key, which emitJobs keeps anyway,
// tells the repeat (the address, port, TLS mode, service port, and an SNI
// that is the same for every literal), so a file of a million addresses
// needs one seen-set, not two.
func readTargets(ctx context.Context, endpoints iter.Seq[Endpoint], shard Shard, groups chan<- targetGroup) {
	seen := newSeenSet()
	var group []Endpoint
	sent := 0
	send := func() bool {
		if len(group) == 0 {
			return true
		}
		select {
		case groups <- targetGroup{place: sent, endpoints: group}:
			group = nil
			sent++
			return true
		case <-ctx.Done():
			return false
		}
	}
	for ep := range endpoints {
		if ctx.Err() != nil {
			return
		}
		lookup := needsLookup(ep)
		if !lookup && !shard.Owns(Job{Endpoint: ep}) {
			continue
		}
		if ep.Address != "" || lookup {
			if again, _ := seen.see(targetKey(ep), false); again {
				continue
			}
		}
		if len(group) > 0 && !sameTarget(group[len(group)-1], ep) && !send() {
			return
		}
		group = append(group, ep)
		// An endpoint that needs no lookup has no other ports to wait
		// for: it goes out at once.
		if !lookup && !send() {
			return
		}
	}
	send()
}

// targetKey is what makes a target line the same as another before any
// lookup: the host (case aside), port, TLS mode, service port and any
// address given.
func targetKey(ep Endpoint) string {
	return strings.ToLower(strings.TrimSuffix(ep.Host, ".")) + " " + strconv.Itoa(ep.Port) + " " + tlsMode(ep) +
		" as=" + strconv.Itoa(ep.ServicePort()) + " at=" + ep.Address
}

// emitJobs sends the jobs shard owns, marking those already sent as
// Duplicate, and dropping an address literal given again (a job from a
// literal whose Key a literal had before: the same line, perhaps spelled
// otherwise, as "::ffff:192.0.2.1" for "192.0.2.1"). It is one goroutine,
// so that a job's first comes out before its duplicates.
func emitJobs(ctx context.Context, expanded <-chan []Job, shard Shard, out chan<- Job) {
	seen := newSeenSet()
	for {
		var jobs []Job
		select {
		case js, ok := <-expanded:
			if !ok {
				return
			}
			jobs = js
		case <-ctx.Done():
			return
		}
		for _, j := range jobs {
			if !shard.Owns(j) {
				continue
			}
			if j.Err == nil || j.literal {
				again, literalBefore := seen.see(j.Key(), j.literal)
				if j.literal && literalBefore {
					continue
				}
				j.Duplicate = again && j.Err == nil
			}
			select {
			case out <- j:
			case <-ctx.Done():
				return
			}
		}
	}
}

// Key is the identity of what j dials: the address (canonical; the host
// name, lower-cased, for a job without one), port, TLS mode (STARTTLS or
// implicit), the service port it is judged as, and the SNI that goes on
// the wire, lower-cased since names are compared without case. Two jobs
// with one Key would make the same handshake and see the same answer. Jobs
// from Plan and Discover know the SNI their Options send (Options.SNI,
// NoSNI, or the host name); a Job made by hand is keyed with the SNI that
// Options{} would send.
func (j Job) Key() string {
	sni := j.serverName
	if !j.sniKnown {
		sni = wireServerName(j.Endpoint.Host, Options{})
	}
	return net.JoinHostPort(destination(j.Endpoint), strconv.Itoa(j.Endpoint.Port)) + " " + tlsMode(j.Endpoint) +
		" as=" + strconv.Itoa(j.Endpoint.ServicePort()) + " sni=" + strings.ToLower(sni)
}

func tlsMode(ep Endpoint) string {
	if ep.Implicit {
		return "implicit"
	}
	return "starttls"
}

// wireServerName is the SNI that opts send to host: none with NoSNI, and
// none for an IP literal, whether it is the host or Options.SNI, since
// crypto/tls sends no SNI for an address (RFC 6066 allows only host
// names). The probe's handshake sends what this says.
func wireServerName(host string, opts Options) string {
	name := host
	if opts.SNI != "" {
		name = opts.SNI
	}
	if opts.NoSNI {
		return ""
	}
	if _, err := netip.ParseAddr(strings.Trim(name, "[]")); err == nil {
		return ""
	}
	return name
}

// seenSet remembers keys by a 64-bit FNV-1a hash, not the strings. The
// lowest bit is a flag (a literal had the key), so 63 bits tell keys
// apart: two different keys would have to share them for one to be taken
// for the other; among a million keys the chance that any two do is about
// n²/2⁶⁴ = 5·10⁻⁸, and its cost would be one endpoint reported with
// another's result.
//
// The hashes are kept in a sorted slice, 8 bytes each, with the most
// recent (at most seenBatch) in a map that is merged into the slice when
// full. A map of them all took 9 bytes a slot at up to 7/8 full, and twice
// that while it grew: 19 MB live for a million keys, then 37 MB, which put
// a run over a 1,000,000-line file at 99 MB (issue 14: under 100 MB).
type seenSet struct {
	sorted []uint64
	recent map[uint64]struct{}
	// batch is how many hashes recent holds before they are merged.
	batch int
	h     hash.Hash64
	buf   []byte
}

// seenBatch is seenSet's batch: a merge moves the whole slice, so a
// million keys cost 16 merges of at most 8 MB each.
const seenBatch = 1 << 16

func newSeenSet() *seenSet {
	return &seenSet{recent: map[uint64]struct{}{}, batch: seenBatch, h: fnv.New64a()}
}

// see remembers key, flagged if flag is set now or was before, and says
// whether key was seen before and whether it was flagged then.
func (s *seenSet) see(key string, flag bool) (again, flagged bool) {
	s.buf = append(s.buf[:0], key...)
	s.h.Reset()
	s.h.Write(s.buf)
	sum := s.h.Sum64() &^ 1
	if s.has(sum | 1) {
		return true, true
	}
	again = s.has(sum)
	// A key flagged after it was seen unflagged keeps both hashes: the
	// flagged one is looked for first.
	if flag {
		s.add(sum | 1)
	} else if !again {
		s.add(sum)
	}
	return again, false
}

func (s *seenSet) has(v uint64) bool {
	if _, ok := s.recent[v]; ok {
		return true
	}
	_, ok := slices.BinarySearch(s.sorted, v)
	return ok
}

// add adds v, which the set does not hold, merging the recent hashes
// into the sorted slice when there are batch of them.
func (s *seenSet) add(v uint64) {
	s.recent[v] = struct{}{}
	if len(s.recent) < s.batch {
		return
	}
	merged := make([]uint64, 0, len(s.sorted)+len(s.recent))
	batch := slices.Sorted(maps.Keys(s.recent))
	i, j := 0, 0
	for i < len(s.sorted) && j < len(batch) {
		if s.sorted[i] < batch[j] {
			merged = append(merged, s.sorted[i])
			i++
		} else {
			merged = append(merged, batch[j])
			j++
		}
	}
	merged = append(append(merged, s.sorted[i:]...), batch[j:]...)
	s.sorted = merged
	clear(s.recent)
}
