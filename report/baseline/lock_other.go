//go:build !unix && !windows

package baseline

import (
	"errors"
	"os"
)

// tryLock has no file lock to take on this system: refusing is safer than
// letting two runs write the baseline at once.
func tryLock(*os.File) (bool, error) {
	return false, errors.New("file locking is not supported on this system")
}
