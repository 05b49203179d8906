package client

import (
	"fmt"
	"io"
	"net"
	"os"
	"syscall"
	"time"
	"unsafe"
)

// rawConn is a TCP connection still in Go's netpoller (deadlines, waiting for readiness) whose
// reads and writes are raw system calls (syscall.RawConn with RawSyscall). A net.Conn's Read
// and Write enter the runtime's syscall state: the scheduler's monitor (sysmon) then keeps its
// 20 µs tick to retake the P of a goroutine blocked in a syscall, and wakes up about once every
// four requests on the caller's own core (strace -c of a saturated caller: 9,717 nanosleeps
// against 35,477 writes). The socket is non-blocking, so these calls never block and need not
// tell the scheduler. BENCH_GO_RAWIO=0 uses the net.Conn's own Read and Write instead.
//
// A request (Send, through request) is sent by the Read that follows it, which then waits for
// the reply before its first read: Send keeps the bytes, and Read writes them after the
// netpoller has forgotten any earlier readiness, so the readiness that ends the wait is the
// reply's. Reading at once after a write, as net.Conn does, costs a read that fails with
// EAGAIN on nearly every request (the reply is not there yet); wrk avoids it by reading only
// when epoll says so. Writing first
// and then waiting would lose a reply that the netpoller saw between the write and the wait
// (the wait starts by clearing readiness). This fits request and reply only: what is read after
// a Send must be what the Send asked for. A peer may say something unasked and nothing after
// (a ZMTP server's greeting and READY, sent before it reads ours): such a handshake uses Write,
// which writes at once, and the Read after it reads first. Close sends a request no Read took.
// One goroutine uses a rawConn at a time.
type rawConn struct {
	c       net.Conn
	rc      syscall.RawConn
	out     []byte // the bytes of the last Send (its own copy)
	pending bool   // out is not sent yet: the next Read (or Write, Send, Close) sends it
}

// dialTCP connects to addr within connectTimeout: a rawConn, or the plain net.Conn with BENCH_GO_RAWIO=0.
func dialTCP(addr string) (net.Conn, error) {
	nc, err := net.DialTimeout("tcp", addr, connectTimeout)
	if err != nil || os.Getenv("BENCH_GO_RAWIO") == "0" {
		return nc, err
	}
	raw, err := newRawConn(nc)
	if err != nil {
		nc.Close()
		return nil, err
	}
	return raw, nil
}

func newRawConn(c net.Conn) (*rawConn, error) {
	sc, ok := c.(syscall.Conn)
	if !ok {
		return nil, fmt.Errorf("%T has no raw file descriptor", c)
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil, err
	}
	return &rawConn{c: c, rc: rc}, nil
}

// Read reads what is there; after a Send it first sends that request and waits for the reply.
func (r *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	send := r.takePending()
	var n int
	var errno, sendErrno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
		if send != nil {
			w, e := writeSome(fd, send)
			send = send[w:]
			if e != 0 || len(send) > 0 {
				sendErrno = e
				return true // failed, or the send buffer is full: finish the write outside
			}
			send = nil
			return false // sent: wait in the netpoller for the reply
		}
		n0, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		if e == syscall.EAGAIN {
			return false // wait in the netpoller for readability
		}
		n, errno = int(n0), e
		return true
	})
	if err != nil {
		return 0, err // a deadline passed, or the connection was closed
	}
	if sendErrno != 0 {
		return 0, fmt.Errorf("write: %w", sendErrno)
	}
	if send != nil { // the rest of a long request, waiting for room; then read as usual
		if _, err := r.writeAll(send); err != nil {
			return 0, fmt.Errorf("write: %w", err)
		}
		return r.Read(p)
	}
	if errno == syscall.EINTR {
		return r.Read(p)
	}
	if errno != 0 {
		return 0, errno
	}
	if n == 0 {
		return 0, io.EOF
	}
	return n, nil
}

// Write writes p at once (after a request still pending), waiting for room as needed.
func (r *rawConn) Write(p []byte) (int, error) {
	if err := r.flush(); err != nil {
		return 0, err
	}
	return r.writeAll(p)
}

// Send keeps a copy of the request p for the next Read to write before it waits for the reply
// (a request still pending is written first).
func (r *rawConn) Send(p []byte) error {
	if err := r.flush(); err != nil {
		return err
	}
	r.out = append(r.out[:0], p...)
	r.pending = true
	return nil
}

// request writes p, a request whose reply is read next: a rawConn sends it from that read
// (rawConn.Send), any other connection at once.
func request(w io.Writer, p []byte) error {
	if r, ok := w.(*rawConn); ok {
		return r.Send(p)
	}
	_, err := w.Write(p)
	return err
}

func (r *rawConn) takePending() []byte {
	if !r.pending {
		return nil
	}
	r.pending = false
	return r.out
}

// flush sends a pending write, waiting for room in the send buffer as needed.
func (r *rawConn) flush() error {
	if send := r.takePending(); send != nil {
		if _, err := r.writeAll(send); err != nil {
			return fmt.Errorf("write: %w", err)
		}
	}
	return nil
}

// writeSome writes as much of p as the send buffer takes now: bytes written and the errno (0,
// or 0 with fewer bytes than p when the buffer is full).
func writeSome(fd uintptr, p []byte) (int, syscall.Errno) {
	done := 0
	for done < len(p) {
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[done])), uintptr(len(p)-done))
		switch e {
		case 0:
			done += int(n)
		case syscall.EINTR:
		case syscall.EAGAIN:
			return done, 0
		default:
			return done, e
		}
	}
	return done, 0
}

// writeAll writes all of p, waiting in the netpoller for writability when the buffer is full.
func (r *rawConn) writeAll(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		var errno syscall.Errno
		err := r.rc.Write(func(fd uintptr) bool {
			n, e := writeSome(fd, p[done:])
			done += n
			if e != 0 {
				errno = e
				return true
			}
			return done == len(p) // false: the buffer is full, wait for room
		})
		if err != nil {
			return done, err
		}
		if errno != 0 {
			return done, errno
		}
	}
	return done, nil
}

// Close sends what the send buffer takes of a write that no Read took (such as a last command
// before the connection goes), without waiting, then closes.
func (r *rawConn) Close() error {
	if send := r.takePending(); send != nil {
		_ = r.rc.Write(func(fd uintptr) bool {
			writeSome(fd, send)
			return true
		})
	}
	return r.c.Close()
}

func (r *rawConn) LocalAddr() net.Addr                { return r.c.LocalAddr() }
func (r *rawConn) RemoteAddr() net.Addr               { return r.c.RemoteAddr() }
func (r *rawConn) SetDeadline(t time.Time) error      { return r.c.SetDeadline(t) }
func (r *rawConn) SetReadDeadline(t time.Time) error  { return r.c.SetReadDeadline(t) }
func (r *rawConn) SetWriteDeadline(t time.Time) error { return r.c.SetWriteDeadline(t) }
