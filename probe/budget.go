package probe

import (
	"context"
	"sync"
	"time"

	"golang.org/x/time/rate"
)

// within bounds ctx by d of the endpoint's own time. Without a rate limit
// that is context.WithTimeout; with one, a budget whose clock stops while a
// connection waits for the limiter, so that waiting in line for the rate
// never turns into a timeout: --timeout is the time the endpoint had to
// answer, not the time it was kept waiting by our own politeness.
func (o Options) within(ctx context.Context, d time.Duration) (context.Context, *budget, context.CancelFunc) {
	if o.connects == nil {
		ctx, cancel := context.WithTimeout(ctx, d)
		return ctx, nil, cancel
	}
	b := newBudget(ctx, d)
	return b, b, b.cancel
}

// budget is an endpoint's time as a context: it ends with
// context.DeadlineExceeded once its duration has run on its own clock, or
// with its parent. The clock stops while any of its connections waits for
// the rate limiter (await), and Deadline moves later by that wait.
type budget struct {
	parent     context.Context
	done       chan struct{}
	timer      *time.Timer
	stopParent func() bool

	mu       sync.Mutex
	deadline time.Time     // while the clock runs
	left     time.Duration // while it is stopped (waiting > 0)
	waiting  int
	err      error
}

func newBudget(parent context.Context, d time.Duration) *budget {
	b := &budget{parent: parent, done: make(chan struct{}), deadline: time.Now().Add(d)}
	b.timer = time.AfterFunc(d, b.expire)
	b.stopParent = context.AfterFunc(parent, func() { b.end(parent.Err()) })
	return b
}

// expire ends the budget when its timer fires, unless the clock was
// stopped or moved meanwhile (the timer and await race: the state under
// the lock decides).
func (b *budget) expire() {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil || b.waiting > 0 || time.Now().Before(b.deadline) {
		return
	}
	b.err = context.DeadlineExceeded
	close(b.done)
}

func (b *budget) end(err error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.err != nil {
		return
	}
	b.err = err
	close(b.done)
}

func (b *budget) cancel() {
	b.timer.Stop()
	b.stopParent()
	b.end(context.Canceled)
}

// await waits for lim with the clock stopped. It waits on the parent, not
// on the budget: the limiter refuses up front a wait longer than its
// context's deadline, and the budget's deadline is exactly what the wait
// must not be held to.
func (b *budget) await(lim *rate.Limiter) error {
	b.mu.Lock()
	if b.err != nil {
		err := b.err
		b.mu.Unlock()
		return err
	}
	if b.waiting == 0 {
		b.left = time.Until(b.deadline)
		b.timer.Stop()
	}
	b.waiting++
	b.mu.Unlock()

	err := lim.Wait(b.parent)

	b.mu.Lock()
	if b.waiting--; b.waiting == 0 && b.err == nil {
		b.deadline = time.Now().Add(b.left)
		b.timer.Reset(b.left)
	}
	b.mu.Unlock()
	if err != nil && b.parent.Err() != nil {
		// Ended now rather than when AfterFunc's goroutine runs, so that
		// the caller's Err() already says interrupted.
		b.end(b.parent.Err())
	}
	return err
}

func (b *budget) Deadline() (time.Time, bool) {
	b.mu.Lock()
	dl := b.deadline
	if b.waiting > 0 {
		dl = time.Now().Add(b.left)
	}
	b.mu.Unlock()
	if parent, ok := b.parent.Deadline(); ok && parent.Before(dl) {
		dl = parent
	}
	return dl, true
}

func (b *budget) Done() <-chan struct{} { return b.done }

func (b *budget) Err() error {
	b.mu.Lock()
	defer b.mu.Unlock()
	return b.err
}

func (b *budget) Value(key any) any { return b.parent.Value(key) }
