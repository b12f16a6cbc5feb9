//go:build unix

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
