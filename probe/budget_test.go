package probe

import (
	"context"
	"errors"
	"strings"
	"testing"
	"time"

	"golang.org/x/time/rate"
)

// A budget's clock stops while it waits for the limiter: a 300 ms budget
// that waits 900 ms for its turn is still running after it, with about its
// 300 ms left, and then ends as a deadline.
func TestBudgetClockStopsWhileWaiting(t *testing.T) {
	t.Parallel()
	lim := rate.NewLimiter(rate.Every(900*time.Millisecond), 1)
	lim.Allow() // the one token is gone: the next waits 900 ms
	b := newBudget(context.Background(), 300*time.Millisecond)
	defer b.cancel()
	if err := b.await(lim); err != nil {
		t.Fatalf("await: %v", err)
	}
	if err := b.Err(); err != nil {
		t.Fatalf("after a 900 ms wait the 300 ms budget ended (%v): the wait was counted", err)
	}
	// An upper bound on what is left is safe under load: a slow machine
	// only leaves less.
	dl, _ := b.Deadline()
	if left := time.Until(dl); left > 300*time.Millisecond {
		t.Errorf("%s left after the wait, want at most the 300 ms there was before it", left)
	}
	select {
	case <-b.Done():
	case <-time.After(10 * time.Second):
		t.Fatal("the budget never ended")
	}
	if !errors.Is(b.Err(), context.DeadlineExceeded) {
		t.Errorf("ended with %v, want context.DeadlineExceeded", b.Err())
	}
}

// A budget ends with its parent, also while it waits for the limiter, and
// says so at once.
func TestBudgetEndsWithParentWhileWaiting(t *testing.T) {
	t.Parallel()
	lim := rate.NewLimiter(rate.Every(time.Hour), 1)
	lim.Allow()
	parent, cancel := context.WithCancel(context.Background())
	b := newBudget(parent, time.Minute)
	defer b.cancel()
	time.AfterFunc(50*time.Millisecond, cancel)
	if err := b.await(lim); err == nil {
		t.Fatal("await returned no error though the parent ended")
	}
	if !errors.Is(b.Err(), context.Canceled) {
		t.Errorf("the budget's Err is %v right after, want context.Canceled", b.Err())
	}
}

// A deadline says which timeout ran out: --timeout's when given, else the
// default the probe applied (Options.Timeout 0 means DefaultTimeout, not
// "no answer within 0s").
func TestDeadlineErrorNamesTheTimeoutApplied(t *testing.T) {
	t.Parallel()
	for given, want := range map[time.Duration]string{
		0:               "no answer within the " + DefaultTimeout.String() + " timeout",
		-time.Second:    "no answer within the " + DefaultTimeout.String() + " timeout",
		7 * time.Second: "no answer within the 7s timeout",
	} {
		s := &session{opts: Options{Timeout: given}}
		err := s.ctxError(PhaseBanner, context.DeadlineExceeded)
		if !errors.Is(err, context.DeadlineExceeded) || !strings.HasPrefix(err.Error(), want) {
			t.Errorf("Timeout %v: %v, want %q wrapping the deadline", given, err, want)
		}
	}
	if err := (&session{}).ctxError(PhaseBanner, context.Canceled); !errors.Is(err, context.Canceled) || !strings.HasPrefix(err.Error(), "interrupted") {
		t.Errorf("cancelled: %v, want interrupted", err)
	}
}
