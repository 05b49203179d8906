package client

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"

	"interopbench/go/internal/caller"
)

// zmqClient is one DEALER per user, sending [b"", op, body] and reading [b"", status, body].
// Every ZeroMQ call is non-blocking: when the socket has nothing to read the user's goroutine
// parks in Go's netpoller on (a dup of) the socket's ZMQ_FD, which ZeroMQ signals, edge
// triggered, when the socket's events may have changed. A blocking zmq_recv would hold an OS
// thread per user in cgo and hand the Go scheduler's one P back and forth on every reply.
type zmqClient struct {
	endpoint string
	op, body []byte
	timeout  time.Duration
	sock     *zmq.Socket
	fd       *os.File
	raw      syscall.RawConn
	deadline deadline
}

func newZMQ(cfg *caller.Config, timeout time.Duration) *zmqClient {
	t := cfg.Target
	return &zmqClient{endpoint: "tcp://" + t.Host + ":" + strconv.Itoa(t.Port), op: []byte(cfg.Request.Op),
		body: cfg.Request.Body, timeout: timeout, deadline: deadline{timeout: timeout}}
}

func (c *zmqClient) connect() error {
	s, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		return fmt.Errorf("zmq: socket: %w", err)
	}
	fail := func(what string, err error) error {
		s.Close()
		return fmt.Errorf("zmq: %s %s: %w", what, c.endpoint, err)
	}
	if err := s.SetLinger(0); err != nil {
		return fail("linger", err)
	}
	if err := s.Connect(c.endpoint); err != nil {
		return fail("connect", err)
	}
	fd, err := s.GetFd()
	if err != nil {
		return fail("ZMQ_FD", err)
	}
	dup, err := syscall.Dup(fd) // ours to close; ZeroMQ closes its own
	if err != nil {
		return fail("dup ZMQ_FD", err)
	}
	if err := syscall.SetNonblock(dup, true); err != nil {
		syscall.Close(dup)
		return fail("nonblocking ZMQ_FD", err)
	}
	f := os.NewFile(uintptr(dup), "zmq-fd")
	raw, err := f.SyscallConn()
	if err != nil {
		f.Close()
		return fail("poll ZMQ_FD", err)
	}
	c.sock, c.fd, c.raw = s, f, raw
	c.deadline.at = time.Time{}
	return nil
}

var errAgain = zmq.Errno(syscall.EAGAIN)

func isAgain(err error) bool { return err != nil && zmq.AsErrno(err) == errAgain }

// wait parks until the socket has one of events (ZMQ_EVENTS), or the deadline passes.
func (c *zmqClient) wait(events zmq.State) error {
	var failed error
	err := c.raw.Read(func(uintptr) bool {
		ev, err := c.sock.GetEvents()
		if err != nil {
			failed = err
			return true
		}
		return ev&events != 0
	})
	if failed != nil {
		return failed
	}
	return err
}

func (c *zmqClient) Call() (caller.Reply, error) {
	if c.sock == nil {
		if err := c.connect(); err != nil {
			return caller.Reply{}, err
		}
	}
	if at, ok := c.deadline.next(time.Now()); ok {
		_ = c.fd.SetReadDeadline(at)
	}
	reply, err := c.exchange()
	if err != nil {
		// a late reply would be read as the next request's: start over on a new socket
		c.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return caller.Reply{}, fmt.Errorf("zmq: no reply from %s within %s", c.endpoint, c.timeout)
		}
		return caller.Reply{}, fmt.Errorf("zmq: %s: %w", c.endpoint, err)
	}
	return reply, nil
}

func (c *zmqClient) exchange() (caller.Reply, error) {
	for {
		_, err := c.sock.SendBytes(nil, zmq.SNDMORE|zmq.DONTWAIT)
		if err == nil {
			break
		}
		if !isAgain(err) { // no peer yet, or its queue is full: wait until the socket takes it
			return caller.Reply{}, err
		}
		if err := c.wait(zmq.POLLOUT); err != nil {
			return caller.Reply{}, err
		}
	}
	if _, err := c.sock.SendBytes(c.op, zmq.SNDMORE|zmq.DONTWAIT); err != nil {
		return caller.Reply{}, err
	}
	if _, err := c.sock.SendBytes(c.body, zmq.DONTWAIT); err != nil {
		return caller.Reply{}, err
	}
	for {
		frames, err := c.sock.RecvMessageBytes(zmq.DONTWAIT)
		if err == nil {
			if len(frames) != 3 || len(frames[0]) != 0 {
				return caller.Reply{}, fmt.Errorf("a reply of %d frames, not [\"\", status, body]", len(frames))
			}
			return caller.Reply{OK: string(frames[1]) == "ok", Status: string(frames[1]), Body: frames[2]}, nil
		}
		if !isAgain(err) {
			return caller.Reply{}, err
		}
		if err := c.wait(zmq.POLLIN); err != nil {
			return caller.Reply{}, err
		}
	}
}

func (c *zmqClient) Close() {
	if c.sock != nil {
		c.fd.Close()
		c.sock.Close()
		c.sock, c.fd, c.raw = nil, nil, nil
	}
}
