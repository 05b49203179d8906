package client

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"strconv"
	"time"

	"interopbench/go/internal/caller"
)

// zmtpClient is a DEALER written here: ZMTP 3.0 with the NULL mechanism
// over a net.Conn (RFC 23/ZMTP), no libzmq and no I/O thread. A request is one write of
// three frames ["", op, body], the reply is read from a buffered reader: one write and one
// read per request, as the http client: half the CPU per request of pebbe/zmq4's DEALER
// (CALLER.md), which BENCH_GO_ZMQ=libzmq selects.
type zmtpClient struct {
	addr     string
	timeout  time.Duration
	request  []byte
	conn     net.Conn
	r        *bufio.Reader
	frames   [][]byte
	deadline deadline
}

func newZMTP(cfg *caller.Config, timeout time.Duration) *zmtpClient {
	t := cfg.Target
	var req []byte
	req = zmtpFrame(req, nil, true)
	req = zmtpFrame(req, []byte(cfg.Request.Op), true)
	req = zmtpFrame(req, cfg.Request.Body, false)
	return &zmtpClient{addr: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), timeout: timeout, request: req,
		deadline: deadline{timeout: timeout}}
}

func zmtpFrame(buf, body []byte, more bool) []byte {
	var flags byte
	if more {
		flags |= 0x01
	}
	if len(body) > 255 {
		buf = append(buf, flags|0x02)
		buf = binary.BigEndian.AppendUint64(buf, uint64(len(body)))
	} else {
		buf = append(buf, flags, byte(len(body)))
	}
	return append(buf, body...)
}

// zmtpGreeting is the 64-byte greeting of a ZMTP 3.0 client with the NULL mechanism.
func zmtpGreeting() []byte {
	g := make([]byte, 64)
	g[0], g[9] = 0xff, 0x7f
	g[10], g[11] = 3, 0
	copy(g[12:], "NULL")
	return g
}

// zmtpReady is the READY command of a DEALER.
func zmtpReady() []byte {
	body := []byte{5}
	body = append(body, "READY"...)
	body = append(body, 11)
	body = append(body, "Socket-Type"...)
	body = binary.BigEndian.AppendUint32(body, 6)
	body = append(body, "DEALER"...)
	return append([]byte{0x04, byte(len(body))}, body...)
}

func (c *zmtpClient) connect() error {
	conn, err := dialTCP(c.addr)
	if err != nil {
		return fmt.Errorf("zmq: connect %s: %w", c.addr, err)
	}
	_ = conn.SetDeadline(time.Now().Add(connectTimeout))
	c.conn, c.r = conn, bufio.NewReaderSize(conn, 64<<10)
	if _, err := conn.Write(append(zmtpGreeting(), zmtpReady()...)); err != nil {
		c.Close()
		return fmt.Errorf("zmq: greeting %s: %w", c.addr, err)
	}
	g := make([]byte, 64)
	if _, err := io.ReadFull(c.r, g); err != nil {
		c.Close()
		return fmt.Errorf("zmq: reading %s's greeting: %w", c.addr, err)
	}
	if g[0] != 0xff || g[9] != 0x7f || g[10] < 3 || string(g[12:16]) != "NULL" {
		c.Close()
		return fmt.Errorf("zmq: %s does not greet as ZMTP 3 with the NULL mechanism", c.addr)
	}
	for { // the peer's READY (any command before it is skipped)
		cmd, _, err := c.frame()
		if err != nil {
			c.Close()
			return fmt.Errorf("zmq: reading %s's READY: %w", c.addr, err)
		}
		if cmd {
			break
		}
	}
	_ = conn.SetDeadline(time.Time{})
	c.deadline.at = time.Time{}
	return nil
}

// frame reads one frame: whether it is a command, and whether more frames follow.
func (c *zmtpClient) frame() (cmd, more bool, err error) {
	flags, err := c.r.ReadByte()
	if err != nil {
		return false, false, err
	}
	var n uint64
	if flags&0x02 != 0 {
		var b [8]byte
		if _, err := io.ReadFull(c.r, b[:]); err != nil {
			return false, false, err
		}
		n = binary.BigEndian.Uint64(b[:])
	} else {
		b, err := c.r.ReadByte()
		if err != nil {
			return false, false, err
		}
		n = uint64(b)
	}
	if n > 1<<31 {
		return false, false, fmt.Errorf("a frame of %d bytes", n)
	}
	body := make([]byte, n)
	if _, err := io.ReadFull(c.r, body); err != nil {
		return false, false, err
	}
	if flags&0x04 != 0 {
		return true, false, nil
	}
	c.frames = append(c.frames, body)
	return false, flags&0x01 != 0, nil
}

func (c *zmtpClient) Call() (caller.Reply, error) {
	if c.conn == nil {
		if err := c.connect(); err != nil {
			return caller.Reply{}, err
		}
	}
	if at, ok := c.deadline.next(time.Now()); ok {
		_ = c.conn.SetDeadline(at)
	}
	if err := request(c.conn, c.request); err != nil {
		c.Close()
		return caller.Reply{}, fmt.Errorf("zmq: write %s: %w", c.addr, err)
	}
	c.frames = c.frames[:0]
	for {
		cmd, more, err := c.frame()
		if err != nil {
			c.Close()
			if errors.Is(err, errTimeout) || isTimeout(err) {
				return caller.Reply{}, fmt.Errorf("zmq: no reply from %s within %s", c.addr, c.timeout)
			}
			return caller.Reply{}, fmt.Errorf("zmq: reading %s's reply: %w", c.addr, err)
		}
		if cmd || more {
			continue // a command (PING) or a frame with more to come
		}
		break
	}
	f := c.frames
	if len(f) != 3 || len(f[0]) != 0 {
		c.Close()
		return caller.Reply{}, fmt.Errorf("zmq: a reply of %d frames from %s, not [\"\", status, body]", len(f), c.addr)
	}
	return caller.Reply{OK: string(f[1]) == "ok", Status: string(f[1]), Body: f[2]}, nil
}

func isTimeout(err error) bool {
	var ne net.Error
	return errors.As(err, &ne) && ne.Timeout()
}

func (c *zmtpClient) Close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}
