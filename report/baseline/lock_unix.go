//go:build unix

// AIX is unix to the build tags but golang.org/x/sys/unix has no Flock
// there, so this file does not build for GOOS=aix: AIX is unsupported
// (README, "Install"). Supporting it would mean fcntl locks (unix.FcntlFlock),
// which a process's second open of the same file silently drops.

package baseline

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// tryLock takes flock(2)'s exclusive lock without waiting; false means
// another process holds it.
func tryLock(f *os.File) (bool, error) {
	err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB)
	if errors.Is(err, unix.EWOULDBLOCK) {
		return false, nil
	}
	return err == nil, err
}
