package client

import (
	"fmt"
	"io"
	"net"
	"runtime"
	"sync"
	"syscall"
	"time"
)

// blockingConn is a TCP socket used with blocking read(2) and write(2) outside Go's
// netpoller, the timeout in the kernel (SO_RCVTIMEO, SO_SNDTIMEO): a request costs a write
// and a read, where a net.Conn costs a write, a read that fails with EAGAIN, an epoll_wait
// when nothing else is runnable, and the read. Each user's goroutine then holds an OS
// thread while it waits, as a Java user thread does, so GOMAXPROCS is raised to the users
// plus a few (ensureProcs): a thread back from its read finds its own P free.
type blockingConn struct {
	fd int
}

func dialBlocking(addr string, timeout time.Duration) (*blockingConn, error) {
	ta, err := net.ResolveTCPAddr("tcp", addr)
	if err != nil {
		return nil, err
	}
	family, sa := syscall.AF_INET, syscall.Sockaddr(nil)
	if ip4 := ta.IP.To4(); ip4 != nil {
		a := &syscall.SockaddrInet4{Port: ta.Port}
		copy(a.Addr[:], ip4)
		sa = a
	} else {
		family = syscall.AF_INET6
		a := &syscall.SockaddrInet6{Port: ta.Port}
		copy(a.Addr[:], ta.IP.To16())
		sa = a
	}
	fd, err := syscall.Socket(family, syscall.SOCK_STREAM|syscall.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	tv := syscall.NsecToTimeval(int64(timeout))
	ct := syscall.NsecToTimeval(int64(connectTimeout))
	for _, set := range []func() error{
		func() error { return syscall.SetsockoptInt(fd, syscall.IPPROTO_TCP, syscall.TCP_NODELAY, 1) },
		func() error { return syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &ct) },
		func() error { return connectRetry(fd, sa) },
		func() error { return syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_SNDTIMEO, &tv) },
		func() error { return syscall.SetsockoptTimeval(fd, syscall.SOL_SOCKET, syscall.SO_RCVTIMEO, &tv) },
	} {
		if err := set(); err != nil {
			syscall.Close(fd)
			return nil, err
		}
	}
	return &blockingConn{fd: fd}, nil
}

func connectRetry(fd int, sa syscall.Sockaddr) error {
	for {
		err := syscall.Connect(fd, sa)
		if err != syscall.EINTR {
			if err == syscall.EAGAIN || err == syscall.EINPROGRESS {
				return fmt.Errorf("connect: timed out after %s", connectTimeout)
			}
			return err
		}
	}
}

var errTimeout = fmt.Errorf("i/o timeout")

func (c *blockingConn) Read(p []byte) (int, error) {
	for {
		n, err := syscall.Read(c.fd, p)
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return 0, errTimeout
		case err != nil:
			return 0, err
		case n == 0 && len(p) > 0:
			return 0, io.EOF
		}
		return n, nil
	}
}

func (c *blockingConn) Write(p []byte) (int, error) {
	done := 0
	for done < len(p) {
		n, err := syscall.Write(c.fd, p[done:])
		switch {
		case err == syscall.EINTR:
			continue
		case err == syscall.EAGAIN:
			return done, errTimeout
		case err != nil:
			return done, err
		}
		done += n
	}
	return done, nil
}

// SetDeadline does nothing: the socket's timeouts are set once, in the kernel.
func (c *blockingConn) SetDeadline(time.Time) error { return nil }

func (c *blockingConn) Close() error { return syscall.Close(c.fd) }

var procsMu sync.Mutex

// ensureProcs raises GOMAXPROCS to at least n (users blocked in read(2) each hold one).
func ensureProcs(n int) {
	procsMu.Lock()
	defer procsMu.Unlock()
	if runtime.GOMAXPROCS(0) < n {
		runtime.GOMAXPROCS(n)
	}
}
