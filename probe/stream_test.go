package probe_test

import (
	"context"
	"errors"
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/starttls-probe/starttls-probe/probe"
)

// The servers are politeness_test.go's watchedServer: they count their
// connections themselves.

// RunStream reports each job once, and reads its channel only as fast as
// it probes: the producer is never ahead by more than the workers, the
// jobs parked for the busy address, and the one in hand.
func TestRunStreamReadsLazily(t *testing.T) {
	t.Parallel()
	s := watchedServer(t, "127.0.0.1", &connWatch{}, heldFor(time.Millisecond))
	// Well beyond the bound (2 + 64 + 1), so that a RunStream that read
	// ahead would be seen.
	const n = 200
	opts := politeOptions()
	opts.Concurrency = 2
	bound := opts.Concurrency + probe.MaxParked(opts.Concurrency) + 1

	jobs := make(chan probe.Job)
	var sent atomic.Int32
	go func() {
		defer close(jobs)
		for i := range n {
			ep := endpointOf(s)
			ep.Target = fmt.Sprintf("mx%d.test", i)
			jobs <- probe.Job{Endpoint: ep}
			sent.Add(1)
		}
	}()
	seen := map[string]int{}
	ahead := 0
	probe.RunStream(context.Background(), jobs, opts, func(job probe.Job, r probe.Result) {
		if job.Endpoint != r.Endpoint {
			t.Errorf("done called with job %v and the result of %v", job.Endpoint, r.Endpoint)
		}
		if r.Error != nil {
			t.Errorf("%s: %v", r.Endpoint.Target, r.Error)
		}
		seen[job.Endpoint.Target]++
		ahead = max(ahead, int(sent.Load())-len(seen))
	})
	if len(seen) != n {
		t.Errorf("done called for %d distinct jobs, want %d", len(seen), n)
	}
	for target, calls := range seen {
		if calls != 1 {
			t.Errorf("done called %d times for %s, want once", calls, target)
		}
	}
	if ahead > bound {
		t.Errorf("the producer was %d jobs ahead of the results, want at most %d", ahead, bound)
	}
}

// Once ctx is done RunStream reads no more jobs, reports every job it had
// read (those not dialed yet as interrupted) and returns.
func TestRunStreamStopsReadingWhenCancelled(t *testing.T) {
	t.Parallel()
	watch := &connWatch{}
	s := watchedServer(t, "127.0.0.1", watch, heldFor(5*time.Millisecond))
	const n = 200
	opts := politeOptions()
	opts.Concurrency = 4
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()

	jobs := make(chan probe.Job)
	var sent atomic.Int32
	var producer sync.WaitGroup
	producer.Go(func() {
		for range n {
			select {
			case jobs <- probe.Job{Endpoint: endpointOf(s)}:
				sent.Add(1)
			case <-ctx.Done():
				return
			}
		}
		close(jobs)
	})
	reported, interrupted := 0, 0
	probe.RunStream(ctx, jobs, opts, func(job probe.Job, r probe.Result) {
		if reported++; reported == 3 {
			cancel()
		}
		if r.Error != nil {
			if !errors.Is(r.Error, context.Canceled) {
				t.Errorf("%s: %v, want an interruption or a complete result", r.Endpoint, r.Error)
			}
			interrupted++
		}
	})
	producer.Wait()
	if got := int(sent.Load()); reported != got {
		t.Errorf("%d jobs reported, %d read: want each job read reported once", reported, got)
	}
	if reported >= n {
		t.Errorf("all %d jobs were read despite the cancel", n)
	}
	if interrupted == 0 {
		t.Errorf("no job reported as interrupted: the cancel came before the parked jobs ran")
	}
	if _, total := watch.counts(); total > reported-interrupted+opts.Concurrency {
		t.Errorf("the server saw %d connections for %d complete results", total, reported-interrupted)
	}
}

// TestRunReturnsWhenCancelledWithNothingToDo: a run cancelled before it
// starts, with no job or with jobs still unread, returns at once; the loop
// once waited forever for a worker that had nothing to finish.
func TestRunReturnsWhenCancelledWithNothingToDo(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	returned := make(chan []probe.Result, 1)
	go func() {
		empty := probe.Run(ctx, nil, probe.Options{}, nil)
		unread := probe.Run(ctx, []probe.Job{{Endpoint: probe.Endpoint{Host: "127.0.0.1", Port: 9, Address: "127.0.0.1"}}}, probe.Options{}, nil)
		returned <- append(empty, unread...)
	}()
	select {
	case rs := <-returned:
		if len(rs) != 1 || rs[0].Error == nil {
			t.Errorf("results %+v, want the one job reported interrupted", rs)
		}
	case <-time.After(10 * time.Second):
		// Not a speed assertion: it hangs forever or returns at once.
		t.Fatal("Run did not return after its context was cancelled")
	}
}
