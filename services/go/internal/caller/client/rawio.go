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
type rawConn struct {
	c  net.Conn
	rc syscall.RawConn
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

func (r *rawConn) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	var n int
	var errno syscall.Errno
	err := r.rc.Read(func(fd uintptr) bool {
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

func (r *rawConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		var errno syscall.Errno
		var n int
		err := r.rc.Write(func(fd uintptr) bool {
			n0, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&p[done])),
				uintptr(len(p)-done))
			if e == syscall.EAGAIN {
				return false // the send buffer is full: wait for writability
			}
			n, errno = int(n0), e
			return true
		})
		if err != nil {
			return done, err
		}
		if errno == syscall.EINTR {
			continue
		}
		if errno != 0 {
			return done, errno
		}
		done += n
	}
	return done, nil
}

func (r *rawConn) Close() error                       { return r.c.Close() }
func (r *rawConn) LocalAddr() net.Addr                { return r.c.LocalAddr() }
func (r *rawConn) RemoteAddr() net.Addr               { return r.c.RemoteAddr() }
func (r *rawConn) SetDeadline(t time.Time) error      { return r.c.SetDeadline(t) }
func (r *rawConn) SetReadDeadline(t time.Time) error  { return r.c.SetReadDeadline(t) }
func (r *rawConn) SetWriteDeadline(t time.Time) error { return r.c.SetWriteDeadline(t) }
