package probe

import (
	"context"
	"sync"
)

// RunStream probes jobs as they arrive on the channel, at most
// Options.Concurrency at once and at most Options.AddressConcurrency of one
// destination address at once (politeness.go), and calls done with each
// job and its result as soon as it finishes, one call at a time. It keeps
// no results: memory stays flat in the number of jobs. A job that
// discovery failed (Job.Err) is reported as a DNS failure and never dialed.
// Each endpoint has its own timeout, Options.Timeout less the time its
// discovery's lookups took (Job.DNS).
//
// Jobs are read lazily: no further job is read while one is waiting for a
// worker, nor while more than a few × Concurrency wait for their busy
// address, so the producer feels backpressure.
//
// RunStream returns when jobs is closed and every job read has been
// reported, or once ctx is done: it then reads no more jobs (those still in
// the channel are left there, for the caller to account for), and every job
// already read that had not finished is reported with an "interrupted"
// error, without being dialed if it had not been yet.
func RunStream(ctx context.Context, jobs <-chan Job, opts Options, done func(job Job, r Result)) {
	stream(ctx, jobs, opts, func(_ int, job Job, r Result) {
		if done != nil {
			done(job, r)
		}
	})
}

// Run probes every job as RunStream does and returns the results in the
// order of jobs, whatever the order they finish in. When done is not nil
// it is called with each job's index and result as soon as that job
// finishes, one call at a time, for output that streams. Every job gets a
// result: when ctx ends first, the jobs not yet started are reported as
// interrupted, without being dialed.
func Run(ctx context.Context, jobs []Job, opts Options, done func(i int, r Result)) []Result {
	results := make([]Result, len(jobs))
	report := func(i int, r Result) {
		results[i] = r
		if done != nil {
			done(i, r)
		}
	}
	feed := make(chan Job)
	stop := make(chan struct{})
	go func() {
		defer close(feed)
		for _, job := range jobs {
			select {
			case feed <- job:
			case <-stop:
				return
			}
		}
	}()
	// stream numbers jobs in the order it reads them, which is the
	// feeder's: the n-th read is jobs[n].
	read := stream(ctx, feed, opts, func(n int, _ Job, r Result) { report(n, r) })
	close(stop)
	// Only when ctx ended: probeJob then dials nothing (awaitConnect) and
	// reports the job as interrupted.
	for i := read; i < len(jobs); i++ {
		report(i, probeJob(ctx, jobs[i], opts))
	}
	return results
}

// stream is RunStream, with each job's place in the input (how many were
// read before it) passed to done; it returns how many jobs it read.
func stream(ctx context.Context, jobs <-chan Job, opts Options, done func(n int, job Job, r Result)) (read int) {
	opts = opts.forRun()
	workers := opts.Concurrency
	if workers <= 0 {
		workers = DefaultConcurrency
	}
	perAddress := opts.AddressConcurrency
	if perAddress <= 0 {
		perAddress = DefaultAddressConcurrency
	}

	// A fixed pool of workers rather than a goroutine per job: a batch of
	// thousands then costs thousands of Results, not of stacks. The
	// workers only probe; which job runs when is decided below by this
	// goroutine alone, so that a worker is never held waiting for a busy
	// address.
	work := make(chan ticket)
	finished := make(chan string)
	var (
		wg        sync.WaitGroup
		reporting sync.Mutex
	)
	for range workers {
		wg.Go(func() {
			for t := range work {
				r := probeJob(ctx, t.job, opts)
				// The address's slot is freed before done is called:
				// slow output must not hold a server's slot.
				finished <- t.address
				reporting.Lock()
				done(t.n, t.job, r)
				reporting.Unlock()
			}
		})
	}

	q := newAddressQueue(perAddress)
	in, running := jobs, 0
	for in != nil || !q.idle() || running > 0 {
		if in != nil && ctx.Err() != nil {
			// Interrupted: read no more, and let every parked job
			// through at once; none of them will dial.
			in = nil
			q.unparkAll()
			// The loop's condition again: with nothing parked or
			// running, the select below would wait forever.
			continue
		}
		var (
			give chan<- ticket
			next ticket
		)
		if t, ok := q.next(); ok {
			give, next = work, t
		}
		// Read only when nothing waits for a worker and the parked jobs
		// are within bounds: the input's backpressure.
		take := in
		if give != nil || q.nParked >= maxParked(workers) {
			take = nil
		}
		var interrupted <-chan struct{}
		if in != nil {
			interrupted = ctx.Done()
		}
		select {
		case give <- next:
			q.taken()
			running++
		case job, ok := <-take:
			if !ok {
				in = nil
				continue
			}
			q.add(ticket{n: read, job: job, address: addressOf(job)})
			read++
		case address := <-finished:
			running--
			q.release(address)
		case <-interrupted:
			// Handled at the top of the loop.
		}
	}
	close(work)
	wg.Wait()
	return read
}

// probeJob probes one job: the endpoint within what its discovery left of
// the timeout, then its --tls-scan, if asked for.
func probeJob(ctx context.Context, job Job, opts Options) Result {
	if job.Err != nil {
		return failedResult(job)
	}
	// --timeout bounds an endpoint from DNS to QUIT: the probe gets what
	// discovery's lookups left of it. Measured from the lookups'
	// durations, not from a deadline set at discovery, which would run
	// out while a large batch waits for a worker.
	r := probe(ctx, job.Endpoint, opts, opts.timeout()-job.DNS)
	if r.Timings.DNS == 0 {
		r.Timings.DNS = job.DNS
	}
	if opts.TLSScan {
		// A budget of its own, --timeout again, so that the scan's many
		// handshakes do not eat into the probe's one.
		r.Scan = ScanTLS(ctx, &r, opts)
	}
	return r
}
