package probe

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/netip"
	"os"
	"reflect"
	"strings"
	"syscall"
)

// ErrKind names the Go type (or the sentinel value) one link of an error
// chain was, for ErrRecord.
type ErrKind string

// The kinds an ErrRecord rebuilds. Each is a type or a value report (or
// main) looks for with errors.Is or errors.As; "" is any other link, kept as
// its text.
const (
	KindText            ErrKind = ""
	KindOpError         ErrKind = "net.OpError"
	KindSyscallError    ErrKind = "os.SyscallError"
	KindErrno           ErrKind = "syscall.Errno"
	KindDNSError        ErrKind = "net.DNSError"
	KindAlertError      ErrKind = "tls.AlertError"
	KindReceivedAlert   ErrKind = "tls.alert"
	KindRecordHeader    ErrKind = "tls.RecordHeaderError"
	KindReplyError      ErrKind = "probe.ReplyError"
	KindNullMXError     ErrKind = "probe.NullMXError"
	KindNoAddressError  ErrKind = "probe.NoAddressError"
	KindCanceled        ErrKind = "context.Canceled"
	KindDeadline        ErrKind = "context.DeadlineExceeded"
	KindEOF             ErrKind = "io.EOF"
	KindUnexpectedEOF   ErrKind = "io.ErrUnexpectedEOF"
	KindOSDeadline      ErrKind = "os.ErrDeadlineExceeded"
	KindNetClosed       ErrKind = "net.ErrClosed"
	KindReplyTooLong    ErrKind = "probe.errReplyTooLong"
	KindCommandBreak    ErrKind = "probe.errCommandLineBreak"
	KindCommandRefused  ErrKind = "probe.errCommandNotAllowed"
	maxErrorChainLength         = 32
)

// sentinels are the error values checked by identity (errors.Is): a link
// that is one of them is recorded by kind alone and decoded to the value
// itself.
var sentinels = []struct {
	kind ErrKind
	err  error
}{
	{KindCanceled, context.Canceled},
	{KindDeadline, context.DeadlineExceeded},
	{KindEOF, io.EOF},
	{KindUnexpectedEOF, io.ErrUnexpectedEOF},
	{KindOSDeadline, os.ErrDeadlineExceeded},
	{KindNetClosed, net.ErrClosed},
	{KindReplyTooLong, errReplyTooLong},
	{KindCommandBreak, errCommandLineBreak},
	{KindCommandRefused, errCommandNotAllowed},
}

// errnoNames are the socket errors whose numbers differ between systems
// (ECONNREFUSED is 111 on Linux, 61 on macOS): they are recorded by name
// too, so that a shard's result merged on another system still satisfies
// errors.Is(err, syscall.ECONNREFUSED) there.
var errnoNames = map[string]syscall.Errno{
	"ECONNREFUSED":  syscall.ECONNREFUSED,
	"ECONNRESET":    syscall.ECONNRESET,
	"ECONNABORTED":  syscall.ECONNABORTED,
	"ETIMEDOUT":     syscall.ETIMEDOUT,
	"EHOSTUNREACH":  syscall.EHOSTUNREACH,
	"ENETUNREACH":   syscall.ENETUNREACH,
	"ENETDOWN":      syscall.ENETDOWN,
	"EPIPE":         syscall.EPIPE,
	"EADDRNOTAVAIL": syscall.EADDRNOTAVAIL,
	"EADDRINUSE":    syscall.EADDRINUSE,
	"EACCES":        syscall.EACCES,
	"EPERM":         syscall.EPERM,
	"EMFILE":        syscall.EMFILE,
	"ENFILE":        syscall.ENFILE,
	"ENOBUFS":       syscall.ENOBUFS,
	"EINTR":         syscall.EINTR,
}

// ErrRecord is one link of an error chain, with what it wraps: its text
// and, for the kinds report tells apart (ErrKind), the fields those checks
// read. Decoded, every link has the same Error() text as the original, and
// errors.Is and errors.As find the same kinds with the same fields.
//
// A link of any other type (a fmt.Errorf wrapper, or a type of another
// package) keeps its text and what it wraps, and decodes to a value of this
// package that only says that text; if the original was a net.Error, its
// Timeout() and Temporary() answers are kept, and if it had an Is method,
// which of the sentinels above it matched. So errors.As for such a type
// finds nothing after a round trip: add a kind when report starts to look
// for one.
//
// Fields are shared between kinds where they mean the same: Net is
// OpError.Net or NoAddressError.Network, Name is the name looked up
// (DNSError.Name, NoAddressError.Host, NullMXError.Domain).
type ErrRecord struct {
	Kind ErrKind `json:"kind,omitempty"`
	// Message is the link's Error() text, in RawMessage instead when it
	// is not UTF-8 (ReplyRecord).
	Message    string `json:"message"`
	RawMessage []byte `json:"raw_message,omitempty"`

	// net.OpError, and Net for probe.NoAddressError.
	Op     string      `json:"op,omitempty"`
	Net    string      `json:"net,omitempty"`
	Source *AddrRecord `json:"source,omitempty"`
	Addr   *AddrRecord `json:"addr,omitempty"`
	// os.SyscallError.
	Syscall string `json:"syscall,omitempty"`
	// syscall.Errno: the number on the system that recorded it, and its
	// name when it is one of errnoNames.
	Errno     uint64 `json:"errno,omitempty"`
	ErrnoName string `json:"errno_name,omitempty"`
	// tls.AlertError and crypto/tls's received alert.
	Alert uint8 `json:"alert,omitempty"`
	// tls.RecordHeaderError (its Conn is not kept: it is closed by then).
	Msg          string `json:"msg,omitempty"`
	RecordHeader []byte `json:"record_header,omitempty"`
	// net.DNSError, and Name for probe.NullMXError and
	// probe.NoAddressError.
	DNSErr      string `json:"dns_err,omitempty"`
	Name        string `json:"name,omitempty"`
	Server      string `json:"server,omitempty"`
	IsTimeout   bool   `json:"is_timeout,omitempty"`
	IsTemporary bool   `json:"is_temporary,omitempty"`
	IsNotFound  bool   `json:"is_not_found,omitempty"`
	// probe.ReplyError.
	Code         int      `json:"code,omitempty"`
	EnhancedCode string   `json:"enhanced_code,omitempty"`
	Lines        []string `json:"lines,omitempty"`
	RawLines     [][]byte `json:"raw_lines,omitempty"`
	// A link of another type: its net.Error answers, when it is one, and
	// the sentinels its Is method matched.
	Timeout   *bool     `json:"timeout,omitempty"`
	Temporary *bool     `json:"temporary,omitempty"`
	Is        []ErrKind `json:"is,omitempty"`

	// Wrapped are what the link's Unwrap returns: one error, or several
	// for fmt.Errorf with more than one %w.
	Wrapped []ErrRecord `json:"wrapped,omitempty"`
}

// AddrRecord is a net.Addr of a *net.OpError.
type AddrRecord struct {
	Network string `json:"network"`
	Address string `json:"address"`
}

// NewErrRecord records err and the chain it wraps; nil for nil.
func NewErrRecord(err error) *ErrRecord {
	if err == nil {
		return nil
	}
	rec := newErrRecord(err, 0)
	return &rec
}

func newErrRecord(err error, depth int) ErrRecord {
	var rec ErrRecord
	rec.Message, rec.RawMessage = textOrRaw(err.Error())
	for _, s := range sentinels {
		if err == s.err {
			rec.Kind = s.kind
			return rec
		}
	}
	var wrapped []error
	switch e := err.(type) {
	case *net.OpError:
		rec.Kind, rec.Op, rec.Net = KindOpError, e.Op, e.Net
		rec.Source, rec.Addr = newAddrRecord(e.Source), newAddrRecord(e.Addr)
		wrapped = []error{e.Err}
	case *os.SyscallError:
		rec.Kind, rec.Syscall = KindSyscallError, e.Syscall
		wrapped = []error{e.Err}
	case syscall.Errno:
		rec.Kind, rec.Errno = KindErrno, uint64(e)
		for name, n := range errnoNames {
			if n == e {
				rec.ErrnoName = name
			}
		}
	case *net.DNSError:
		rec.Kind, rec.DNSErr, rec.Name, rec.Server = KindDNSError, e.Err, e.Name, e.Server
		rec.IsTimeout, rec.IsTemporary, rec.IsNotFound = e.IsTimeout, e.IsTemporary, e.IsNotFound
		wrapped = []error{e.UnwrapErr}
	case tls.AlertError:
		rec.Kind, rec.Alert = KindAlertError, uint8(e)
	case receivedAlert:
		// A record read back and written again (a merge of merges).
		rec.Kind, rec.Alert = KindReceivedAlert, uint8(e)
	case tls.RecordHeaderError:
		rec.Kind, rec.Msg, rec.RecordHeader = KindRecordHeader, e.Msg, e.RecordHeader[:]
	case *ReplyError:
		rec.Kind, rec.Code, rec.EnhancedCode = KindReplyError, e.Code, e.EnhancedCode
		rec.Lines, rec.RawLines = linesOrRaw(e.Lines)
	case *NullMXError:
		rec.Kind, rec.Name = KindNullMXError, e.Domain
	case *NoAddressError:
		rec.Kind, rec.Name, rec.Net = KindNoAddressError, e.Host, e.Network
	default:
		if n, ok := receivedAlertNumber(err); ok {
			rec.Kind, rec.Alert = KindReceivedAlert, n
			break
		}
		if ne, ok := err.(net.Error); ok {
			timeout, temporary := ne.Timeout(), ne.Temporary()
			rec.Timeout, rec.Temporary = &timeout, &temporary
		}
		if is, ok := err.(interface{ Is(error) bool }); ok {
			for _, s := range sentinels {
				if is.Is(s.err) {
					rec.Is = append(rec.Is, s.kind)
				}
			}
		}
		switch u := err.(type) {
		case interface{ Unwrap() error }:
			wrapped = []error{u.Unwrap()}
		case interface{ Unwrap() []error }:
			wrapped = u.Unwrap()
		}
	}
	if depth+1 >= maxErrorChainLength {
		return rec
	}
	for _, w := range wrapped {
		if w != nil {
			rec.Wrapped = append(rec.Wrapped, newErrRecord(w, depth+1))
		}
	}
	return rec
}

// receivedAlertNumber reads crypto/tls's unexported alert type, which a TLS
// alert the server sent arrives as inside a *net.OpError "remote error";
// report prints its number with %d.
func receivedAlertNumber(err error) (uint8, bool) {
	t := reflect.TypeOf(err)
	if t.PkgPath() != "crypto/tls" || t.Name() != "alert" || t.Kind() != reflect.Uint8 {
		return 0, false
	}
	return uint8(reflect.ValueOf(err).Uint()), true
}

func newAddrRecord(a net.Addr) *AddrRecord {
	if a == nil {
		return nil
	}
	if v := reflect.ValueOf(a); v.Kind() == reflect.Pointer && v.IsNil() {
		return nil
	}
	return &AddrRecord{Network: a.Network(), Address: a.String()}
}

// Err rebuilds the error; nil for a nil record. It fails on a record no
// encoder of this version writes: an unknown kind, a record header that is
// not 5 bytes, a chain deeper than it keeps.
func (rec *ErrRecord) Err() (error, error) {
	if rec == nil {
		return nil, nil
	}
	return rec.decode(0)
}

func (rec *ErrRecord) decode(depth int) (error, error) {
	if depth >= maxErrorChainLength {
		return nil, fmt.Errorf("error chain longer than %d links", maxErrorChainLength)
	}
	wrapped := make([]error, 0, len(rec.Wrapped))
	for i := range rec.Wrapped {
		w, err := rec.Wrapped[i].decode(depth + 1)
		if err != nil {
			return nil, err
		}
		wrapped = append(wrapped, w)
	}
	// single is the one error a link of a kind that wraps one wraps:
	// net.OpError and os.SyscallError always do (their Error() reads it),
	// net.DNSError at most one.
	single := func() (error, error) {
		switch {
		case len(wrapped) == 1:
			return wrapped[0], nil
		case len(wrapped) == 0 && rec.Kind == KindDNSError:
			return nil, nil
		}
		return nil, fmt.Errorf("a %s wraps one error, not %d", rec.Kind, len(wrapped))
	}
	decoded, err := rec.decodeKind(wrapped, single)
	if err != nil {
		return nil, err
	}
	// A rebuilt type computes its text from its fields; should that ever
	// differ from the text recorded (another Go version words it another
	// way), the recorded text wins and the rebuilt value stays reachable.
	if decoded.Error() != rec.text() {
		decoded = &recordedError{msg: rec.text(), wrapped: []error{decoded}}
	}
	return decoded, nil
}

func (rec *ErrRecord) decodeKind(wrapped []error, single func() (error, error)) (error, error) {
	for _, s := range sentinels {
		if rec.Kind == s.kind {
			return s.err, nil
		}
	}
	switch rec.Kind {
	case KindText:
		plain := &recordedError{msg: rec.text(), wrapped: wrapped}
		for _, kind := range rec.Is {
			s, ok := sentinelOf(kind)
			if !ok {
				return nil, fmt.Errorf("error matches %q, which is no sentinel error", kind)
			}
			plain.is = append(plain.is, s)
		}
		if rec.Timeout == nil && rec.Temporary == nil {
			return plain, nil
		}
		return &recordedNetError{recordedError: plain, timeout: rec.Timeout != nil && *rec.Timeout,
			temporary: rec.Temporary != nil && *rec.Temporary}, nil
	case KindOpError:
		inner, err := single()
		return &net.OpError{Op: rec.Op, Net: rec.Net, Source: rec.Source.addr(), Addr: rec.Addr.addr(), Err: inner}, err
	case KindSyscallError:
		inner, err := single()
		return &os.SyscallError{Syscall: rec.Syscall, Err: inner}, err
	case KindErrno:
		if n, ok := errnoNames[rec.ErrnoName]; ok {
			return n, nil
		}
		return syscall.Errno(rec.Errno), nil
	case KindDNSError:
		inner, err := single()
		return &net.DNSError{UnwrapErr: inner, Err: rec.DNSErr, Name: rec.Name, Server: rec.Server,
			IsTimeout: rec.IsTimeout, IsTemporary: rec.IsTemporary, IsNotFound: rec.IsNotFound}, err
	case KindAlertError:
		return tls.AlertError(rec.Alert), nil
	case KindReceivedAlert:
		return receivedAlert(rec.Alert), nil
	case KindRecordHeader:
		e := tls.RecordHeaderError{Msg: rec.Msg}
		if len(rec.RecordHeader) != len(e.RecordHeader) {
			return nil, fmt.Errorf("TLS record header of %d bytes, want %d", len(rec.RecordHeader), len(e.RecordHeader))
		}
		copy(e.RecordHeader[:], rec.RecordHeader)
		return e, nil
	case KindReplyError:
		return &ReplyError{Code: rec.Code, EnhancedCode: rec.EnhancedCode, Lines: linesOf(rec.Lines, rec.RawLines)}, nil
	case KindNullMXError:
		return &NullMXError{Domain: rec.Name}, nil
	case KindNoAddressError:
		return &NoAddressError{Host: rec.Name, Network: rec.Net}, nil
	}
	return nil, fmt.Errorf("unknown error kind %q", rec.Kind)
}

// text is the link's Error() text.
func (rec *ErrRecord) text() string { return textOf(rec.Message, rec.RawMessage) }

func sentinelOf(kind ErrKind) (error, bool) {
	for _, s := range sentinels {
		if s.kind == kind {
			return s.err, true
		}
	}
	return nil, false
}

// addr rebuilds a TCP or UDP address as the net type it was, anything else
// as its network and text.
func (a *AddrRecord) addr() net.Addr {
	if a == nil {
		return nil
	}
	if ap, err := netip.ParseAddrPort(a.Address); err == nil {
		switch {
		case strings.HasPrefix(a.Network, "tcp"):
			return net.TCPAddrFromAddrPort(ap)
		case strings.HasPrefix(a.Network, "udp"):
			return net.UDPAddrFromAddrPort(ap)
		}
	}
	return recordedAddr{network: a.Network, address: a.Address}
}

// recordedAddr is an address of another network, as its text.
type recordedAddr struct{ network, address string }

func (a recordedAddr) Network() string { return a.network }
func (a recordedAddr) String() string  { return a.address }

// recordedError stands for a link of a type the record does not rebuild
// (ErrRecord): its text, what it wrapped, and the sentinels it matched.
type recordedError struct {
	msg     string
	wrapped []error
	is      []error
}

func (e *recordedError) Error() string   { return e.msg }
func (e *recordedError) Unwrap() []error { return e.wrapped }
func (e *recordedError) Is(target error) bool {
	for _, s := range e.is {
		if target == s {
			return true
		}
	}
	return false
}

// recordedNetError is a recordedError that was a net.Error: report tells a
// filtered port from another failure by Timeout().
type recordedNetError struct {
	*recordedError
	timeout, temporary bool
}

func (e *recordedNetError) Timeout() bool   { return e.timeout }
func (e *recordedNetError) Temporary() bool { return e.temporary }

// receivedAlert stands for crypto/tls's unexported alert type (see
// receivedAlertNumber): the same number, which fmt's %d prints, and the
// same text; like the original it is not a tls.AlertError, which crypto/tls
// returns only for QUIC.
type receivedAlert uint8

func (a receivedAlert) Error() string { return tls.AlertError(a).Error() }
