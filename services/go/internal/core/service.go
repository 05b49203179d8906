// Package core holds the contract's operations free of I/O (contract/CONTRACT.md): limits,
// validation, test hooks and errors, the JSON of requests and replies, and the difflib port.
package core

import (
	"fmt"
	"log/slog"
	"os"
	"runtime"
	"strconv"
	"strings"
	"unicode/utf8"

	"golang.org/x/sys/unix"
)

// Defaults of the contract's limits.
const (
	MaxBodyBytes  = 16 * 1024 * 1024
	MaxDiffTokens = 100_000
	FaultToken    = "__bench_fault__:internal"
	Name          = "go"
	Language      = "Go"
)

// Ops are the operations of the message transports.
var Ops = []string{"echo", "diff", "health"}

// Code is a contract error code.
type Code string

// The contract's error codes.
const (
	BadRequest Code = "bad_request"
	UnknownOp  Code = "unknown_op"
	TooLarge   Code = "too_large"
	Internal   Code = "internal"
)

// HTTPStatus is the code's HTTP status.
func (c Code) HTTPStatus() int {
	switch c {
	case BadRequest:
		return 400
	case UnknownOp:
		return 404
	case TooLarge:
		return 413
	}
	return 500
}

// Error is a contract error: a code and a human-readable message.
type Error struct {
	Code    Code
	Message string
}

func (e *Error) Error() string { return string(e.Code) + ": " + e.Message }

// Body is the contract's error body {"error": code, "message": text}.
func (e *Error) Body() []byte { return ErrorBody(e.Code, e.Message) }

// ErrorBody is the JSON error body of code and message.
func ErrorBody(code Code, message string) []byte {
	b := make([]byte, 0, 32+len(message))
	b = append(b, `{"error": "`...)
	b = append(b, code...)
	b = append(b, `", "message": `...)
	b = AppendPyString(b, message)
	return append(b, '}')
}

func errf(code Code, format string, args ...any) *Error {
	return &Error{code, fmt.Sprintf(format, args...)}
}

// Settings are the limits and test hooks (CONTRACT.md "Limits" and "Test hooks").
type Settings struct {
	MaxBodyBytes  int
	MaxDiffTokens int
	TestHooks     bool  // BENCH_TEST_HOOKS=1: the fault token raises an internal error
	ExtraWorkUs   int64 // BENCH_EXTRA_WORK_US: busy-spin this long per echo and diff
}

// SettingsFromEnv reads BENCH_TEST_HOOKS and BENCH_EXTRA_WORK_US.
func SettingsFromEnv(maxBody, maxTokens int) (Settings, error) {
	s := Settings{MaxBodyBytes: maxBody, MaxDiffTokens: maxTokens, TestHooks: os.Getenv("BENCH_TEST_HOOKS") == "1"}
	if raw := strings.TrimSpace(os.Getenv("BENCH_EXTRA_WORK_US")); raw != "" {
		us, err := strconv.ParseInt(raw, 10, 64)
		if err != nil || us < 0 {
			return s, fmt.Errorf("BENCH_EXTRA_WORK_US must be an integer of microseconds >= 0, got %q", raw)
		}
		s.ExtraWorkUs = us
	}
	return s, nil
}

// Service runs the operations; safe for concurrent use.
type Service struct {
	Settings Settings
	health   []byte
}

// NewService is the service with these settings.
func NewService(s Settings) *Service {
	return &Service{Settings: s, health: HealthJSON()}
}

// Runtime is the runtime string of the health object, e.g. "go1.26.8".
func Runtime() string { return runtime.Version() }

// HealthJSON is the health object {"service", "language", "runtime", "ops"}.
func HealthJSON() []byte {
	b := []byte(`{"service": `)
	b = AppendPyString(b, Name)
	b = append(b, `, "language": `...)
	b = AppendPyString(b, Language)
	b = append(b, `, "runtime": `...)
	b = AppendPyString(b, Runtime())
	b = append(b, `, "ops": [`...)
	for i, op := range Ops {
		if i > 0 {
			b = append(b, ", "...)
		}
		b = AppendPyString(b, op)
	}
	return append(b, "]}"...)
}

// Health is the health object (shared: do not modify).
func (s *Service) Health() []byte { return s.health }

// CheckSize is too_large for a body of size bytes over the limit.
func (s *Service) CheckSize(size int64) *Error {
	if size > int64(s.Settings.MaxBodyBytes) {
		return errf(TooLarge, "body of %d bytes is over the limit of %d bytes", size, s.Settings.MaxBodyBytes)
	}
	return nil
}

// Echo is the echo operation.
func (s *Service) Echo(body []byte) ([]byte, *Error) {
	if err := s.CheckSize(int64(len(body))); err != nil {
		return nil, err
	}
	s.ExtraWork()
	return body, nil
}

// DiffTokens is the diff operation on validated tokens (token limit, fault hook, difflib).
func (s *Service) DiffTokens(a, b []string) ([]Opcode, *Error) {
	if total := len(a) + len(b); total > s.Settings.MaxDiffTokens {
		return nil, errf(TooLarge, "diff of %d tokens is over the limit of %d tokens", total, s.Settings.MaxDiffTokens)
	}
	if s.Settings.TestHooks && len(a) == 1 && a[0] == FaultToken {
		panic("test hook: deliberate internal fault")
	}
	s.ExtraWork()
	return Opcodes(a, b), nil
}

// Diff is the diff operation on a request body, with the checks in the contract's order.
func (s *Service) Diff(body []byte) ([]byte, *Error) {
	if err := s.CheckSize(int64(len(body))); err != nil {
		return nil, err
	}
	a, b, err := ParseDiffRequest(body)
	if err != nil {
		return nil, err
	}
	ops, err := s.DiffTokens(a, b)
	if err != nil {
		return nil, err
	}
	out := make([]byte, 0, 16+len(ops)*28)
	out = append(out, `{"opcodes": `...)
	out = AppendOpcodes(out, ops)
	return append(out, '}'), nil
}

// AppendOpcodes appends the opcodes list [["equal", 0, 1, 0, 1], ...].
func AppendOpcodes(b []byte, ops []Opcode) []byte {
	b = append(b, '[')
	for k, o := range ops {
		if k > 0 {
			b = append(b, ", "...)
		}
		b = append(b, `["`...)
		b = append(b, o.Tag...)
		b = append(b, `", `...)
		b = strconv.AppendInt(b, int64(o.I1), 10)
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(o.I2), 10)
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(o.J1), 10)
		b = append(b, ", "...)
		b = strconv.AppendInt(b, int64(o.J2), 10)
		b = append(b, ']')
	}
	return append(b, ']')
}

// ParseDiffRequest validates a diff body (after the size check): UTF-8, JSON, shape.
func ParseDiffRequest(body []byte) (a, b []string, e *Error) {
	if !utf8.Valid(body) {
		return nil, nil, errf(BadRequest, "body is not valid UTF-8 (byte %d)", firstInvalid(body))
	}
	p := &parser{s: body}
	p.ws()
	if p.pos == len(body) {
		return nil, nil, errf(BadRequest, "body is not valid JSON: empty body")
	}
	notJSON := func(err error) *Error { return errf(BadRequest, "body is not valid JSON: %v", err) }
	if body[p.pos] != '{' {
		if _, err := p.value(); err != nil {
			return nil, nil, notJSON(err)
		}
		if p.ws(); p.pos != len(body) {
			return nil, nil, notJSON(p.fail("extra data after the document"))
		}
		return nil, nil, errf(BadRequest, "body must be a JSON object with arrays 'a' and 'b'")
	}
	var aSeen, bSeen, aOK, bOK bool
	if err := p.enter(); err != nil {
		return nil, nil, notJSON(err)
	}
	p.ws()
	if p.pos < len(body) && body[p.pos] == '}' {
		p.pos++
	} else {
		for {
			p.ws()
			if p.pos >= len(body) || body[p.pos] != '"' {
				return nil, nil, notJSON(p.fail("expected a property name in double quotes"))
			}
			k, err := p.str()
			if err == nil {
				err = p.colon()
			}
			if err != nil {
				return nil, nil, notJSON(err)
			}
			switch k {
			case "a":
				aSeen = true
				a, aOK, err = p.stringArray()
			case "b":
				bSeen = true
				b, bOK, err = p.stringArray()
			default:
				_, err = p.value()
			}
			if err != nil {
				return nil, nil, notJSON(err)
			}
			more, err := p.next('}')
			if err != nil {
				return nil, nil, notJSON(err)
			}
			if !more {
				break
			}
		}
	}
	if p.ws(); p.pos != len(body) {
		return nil, nil, notJSON(p.fail("extra data after the document"))
	}
	switch {
	case !aSeen || !bSeen:
		return nil, nil, errf(BadRequest, "body must have both 'a' and 'b'")
	case !aOK:
		return nil, nil, errf(BadRequest, "'a' must be an array of strings")
	case !bOK:
		return nil, nil, errf(BadRequest, "'b' must be an array of strings")
	}
	if err := NoLoneSurrogates(a, "a"); err != nil {
		return nil, nil, err
	}
	if err := NoLoneSurrogates(b, "b"); err != nil {
		return nil, nil, err
	}
	return a, b, nil
}

// NoLoneSurrogates is bad_request when a decoded token holds a lone surrogate.
func NoLoneSurrogates(tokens []string, name string) *Error {
	for _, t := range tokens {
		if !utf8.ValidString(t) {
			return errf(BadRequest, "'%s' holds a string with a lone surrogate", name)
		}
	}
	return nil
}

func firstInvalid(b []byte) int {
	for i := 0; i < len(b); {
		r, n := utf8.DecodeRune(b[i:])
		if r == utf8.RuneError && n == 1 {
			return i
		}
		i += n
	}
	return -1
}

// Reply is the outcome of an operation on a byte transport.
type Reply struct {
	Body []byte
	Err  Code // "" when ok
}

// OK says whether the operation succeeded.
func (r Reply) OK() bool { return r.Err == "" }

// Handle runs op on body and never panics: a panic is logged and becomes internal.
func (s *Service) Handle(op string, body []byte) (r Reply) {
	defer func() {
		if p := recover(); p != nil {
			r = InternalReply(op, p)
		}
	}()
	var out []byte
	var err *Error
	switch op {
	case "echo":
		out, err = s.Echo(body)
	case "diff":
		out, err = s.Diff(body)
	case "health":
		out = s.health
	default:
		err = UnknownOpError(op)
	}
	if err != nil {
		return Reply{err.Body(), err.Code}
	}
	return Reply{Body: out}
}

// UnknownOpError is unknown_op for op.
func UnknownOpError(op string) *Error {
	return errf(UnknownOp, "unknown op '%s'; ops are %s", Printable(op), strings.Join(Ops, ", "))
}

// InternalReply logs an unexpected failure and is the internal error reply.
func InternalReply(op string, p any) Reply {
	e := InternalError(op, p)
	return Reply{e.Body(), Internal}
}

// InternalError logs a recovered panic p of op and is the internal error.
func InternalError(op string, p any) *Error {
	slog.Error("internal error", "op", Printable(op), "panic", fmt.Sprint(p))
	return errf(Internal, "internal error: %v", p)
}

// Printable is s cut to 200 bytes with control characters and invalid UTF-8 escaped.
func Printable(s string) string {
	cut := len(s) > 200
	if cut {
		s = s[:200]
	}
	var sb strings.Builder
	for i := 0; i < len(s); {
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			fmt.Fprintf(&sb, "\\x%02x", s[i])
		case r < 0x20 || r == 0x7f:
			fmt.Fprintf(&sb, "\\u%04x", r)
		default:
			sb.WriteString(s[i : i+n])
		}
		i += n
	}
	if cut {
		sb.WriteString("...")
	}
	return sb.String()
}

// ExtraWork burns Settings.ExtraWorkUs microseconds of this thread's CPU (BENCH_EXTRA_WORK_US).
func (s *Service) ExtraWork() {
	if s.Settings.ExtraWorkUs > 0 {
		BusySpin(s.Settings.ExtraWorkUs)
	}
}

// BusySpin burns us microseconds of CPU time of the calling thread.
func BusySpin(us int64) {
	runtime.LockOSThread()
	defer runtime.UnlockOSThread()
	var ts unix.Timespec
	if unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) != nil {
		return
	}
	deadline := ts.Nano() + us*1000
	for unix.ClockGettime(unix.CLOCK_THREAD_CPUTIME_ID, &ts) == nil && ts.Nano() < deadline {
	}
}
