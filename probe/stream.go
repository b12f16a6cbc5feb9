package probe

import (
	"context"
	"sync"
)

// Run probes every job (at most Options.Concurrency at a time) and returns
// the results in the order of jobs, whatever the order they finish in. Jobs
// come from Discover, or are endpoints as they are (Job{Endpoint: ep}). A
// job that discovery failed is reported as a DNS failure and never dialed.
// Each endpoint has its own timeout, Options.Timeout less the time its
// discovery's lookups took (Job.DNS); Run returns when every job has
// finished or ctx is done. When done is not nil it is called with each
// job's index and result as soon as that job finishes, one call at a time,
// for output that streams.
func Run(ctx context.Context, jobs []Job, opts Options, done func(i int, r Result)) []Result {
	results := make([]Result, len(jobs))
	limit := opts.Concurrency
	if limit <= 0 {
		limit = DefaultConcurrency
	}
	limit = min(limit, len(jobs))
	timeout := opts.Timeout
	if timeout <= 0 {
		timeout = DefaultTimeout
	}
	if opts.EHLOName == "" {
		// Once for the run, not twice per endpoint: it reads the kernel's
		// host name each time.
		opts.EHLOName = DefaultEHLOName()
	}
	if opts.TLSScan && opts.scanSlots == nil {
		// One bound per address for the whole run: the ports of one
		// server share it.
		opts.scanSlots = newAddressSlots(opts.ScanConnections)
	}
	// A fixed pool of workers rather than a goroutine per job: a batch of
	// thousands then costs thousands of Results, not of stacks.
	next := make(chan int)
	var (
		wg     sync.WaitGroup
		report sync.Mutex
	)
	for range limit {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				var r Result
				if jobs[i].Err != nil {
					r = failedResult(jobs[i])
				} else {
					// --timeout bounds an endpoint from DNS to QUIT:
					// the probe gets what discovery's lookups left of
					// it. Measured from the lookups' durations, not
					// from a deadline set at discovery, which would run
					// out while a large batch waits for a worker.
					jobCtx, cancel := context.WithTimeout(ctx, timeout-jobs[i].DNS)
					r = Probe(jobCtx, jobs[i].Endpoint, opts)
					cancel()
					if r.Timings.DNS == 0 {
						r.Timings.DNS = jobs[i].DNS
					}
					if opts.TLSScan {
						// A budget of its own, --timeout again, so
						// that the scan's many handshakes do not eat
						// into the probe's one.
						r.Scan = ScanTLS(ctx, &r, opts)
					}
				}
				results[i] = r
				if done != nil {
					report.Lock()
					done(i, r)
					report.Unlock()
				}
			}
		}()
	}
	for i := range jobs {
		next <- i
	}
	close(next)
	wg.Wait()
	return results
}
