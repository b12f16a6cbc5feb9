package probe

// The guard, for the external tests: they need probetest, which imports
// probe, so they cannot live in this package.
var (
	CheckCommand         = checkCommand
	WriteCommands        = writeCommands
	ErrCommandLineBreak  = errCommandLineBreak
	ErrCommandNotAllowed = errCommandNotAllowed
)
