package probe

// The guard, for the external tests: they need probetest, which imports
// probe, so they cannot live in this package.
var (
	CheckCommand         = checkCommand
	WriteCommands        = writeCommands
	ErrCommandLineBreak  = errCommandLineBreak
	ErrCommandNotAllowed = errCommandNotAllowed
)

// MaxParked is how many jobs RunStream holds back for busy addresses before
// it stops reading, for the test of its backpressure.
var MaxParked = maxParked

// Held is how many certificates t holds, for the test of its bound.
func (t *CertificateTable) Held() int { return len(t.window.held) }
