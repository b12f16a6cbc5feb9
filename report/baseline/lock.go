package baseline

import (
	"context"
	"fmt"
	"os"
	"time"
)

// lockPollInterval is how often a run waiting for the lock tries again.
// The lock is held only while a baseline is read, compared and written,
// milliseconds, so waiting runs get it soon.
const lockPollInterval = 20 * time.Millisecond

// fileLock is an exclusive lock on a file of its own beside the baseline.
// The baseline itself cannot carry the lock: it is replaced by a rename, and
// a lock on the old file would not exclude a run that opens the new one.
type fileLock struct{ f *os.File }

// acquireLock waits for the exclusive lock on path, creating the file, until
// ctx is done. Polling with a non-blocking lock keeps the wait
// interruptible (Ctrl-C, the run's deadline).
func acquireLock(ctx context.Context, path string) (*fileLock, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("baseline lock: %w", err)
	}
	for {
		ok, err := tryLock(f)
		if err != nil {
			f.Close()
			return nil, fmt.Errorf("baseline lock %s: %w", path, err)
		}
		if ok {
			return &fileLock{f: f}, nil
		}
		select {
		case <-ctx.Done():
			f.Close()
			return nil, fmt.Errorf("baseline lock %s: another run holds it: %w", path, ctx.Err())
		case <-time.After(lockPollInterval):
		}
	}
}

// release gives the lock up; closing the file releases it on every system.
func (l *fileLock) release() { l.f.Close() }
