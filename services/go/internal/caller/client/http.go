package client

import (
	"bufio"
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"time"

	"interopbench/go/internal/caller"
)

// rawHTTP is an HTTP/1.1 keep-alive client on one connection: the request (the same bytes
// every time) is built once and written in one call; the response is read into a reused
// buffer: status line, headers (Content-Length or chunked), body. A connection the server
// closes, or a reply with Connection: close, is replaced on the next call.
type rawHTTP struct {
	addr     string
	request  []byte
	blocking bool // BENCH_GO_HTTP=blocking: blocking system calls (blockingConn)
	timeout  time.Duration
	conn     conn
	r        *bufio.Reader
	body     []byte
	deadline deadline
}

func newHTTP(cfg *caller.Config, timeout time.Duration) *rawHTTP {
	t := cfg.Target
	addr := net.JoinHostPort(t.Host, strconv.Itoa(t.Port))
	head := fmt.Sprintf("POST /%s HTTP/1.1\r\nHost: %s\r\nContent-Type: application/octet-stream\r\n"+
		"Content-Length: %d\r\n\r\n", cfg.Request.Op, addr, len(cfg.Request.Body))
	return &rawHTTP{addr: addr, request: append([]byte(head), cfg.Request.Body...), timeout: timeout,
		deadline: deadline{timeout: timeout}}
}

// conn is a net.Conn or a blockingConn.
type conn interface {
	io.ReadWriteCloser
	SetDeadline(time.Time) error
}

func (c *rawHTTP) connect() error {
	var conn conn
	var err error
	if c.blocking {
		conn, err = dialBlocking(c.addr, c.timeout)
	} else {
		conn, err = dialTCP(c.addr)
	}
	if err != nil {
		return fmt.Errorf("http: connect %s: %w", c.addr, err)
	}
	c.conn = conn
	if c.r == nil {
		c.r = bufio.NewReaderSize(conn, 64<<10)
	} else {
		c.r.Reset(conn)
	}
	c.deadline.at = time.Time{}
	return nil
}

func (c *rawHTTP) Call() (caller.Reply, error) {
	if c.conn == nil {
		if err := c.connect(); err != nil {
			return caller.Reply{}, err
		}
	}
	if at, ok := c.deadline.next(time.Now()); ok {
		_ = c.conn.SetDeadline(at)
	}
	reply, keep, err := c.exchange()
	if err != nil {
		c.Close()
		return caller.Reply{}, err
	}
	if !keep {
		c.Close()
	}
	return reply, nil
}

func (c *rawHTTP) exchange() (caller.Reply, bool, error) {
	if err := request(c.conn, c.request); err != nil {
		return caller.Reply{}, false, fmt.Errorf("http: write: %w", err)
	}
	line, err := c.line()
	if err != nil {
		return caller.Reply{}, false, fmt.Errorf("http: reading the status line: %w", err)
	}
	// "HTTP/1.1 200 OK"
	if len(line) < 12 || !bytes.HasPrefix(line, []byte("HTTP/1.")) || line[8] != ' ' {
		return caller.Reply{}, false, fmt.Errorf("http: bad status line %q", clipBytes(line, 80))
	}
	code, err := strconv.Atoi(string(line[9:12]))
	if err != nil {
		return caller.Reply{}, false, fmt.Errorf("http: bad status line %q", clipBytes(line, 80))
	}
	keep := line[7] == '1' // HTTP/1.1 keeps the connection unless it says close
	length, chunked := -1, false
	for {
		h, err := c.line()
		if err != nil {
			return caller.Reply{}, false, fmt.Errorf("http: reading headers: %w", err)
		}
		if len(h) == 0 {
			break
		}
		colon := bytes.IndexByte(h, ':')
		if colon < 0 {
			return caller.Reply{}, false, fmt.Errorf("http: bad header line %q", clipBytes(h, 80))
		}
		name, value := h[:colon], bytes.TrimSpace(h[colon+1:])
		switch {
		case asciiEqualFold(name, "content-length"):
			n, err := strconv.Atoi(string(value))
			if err != nil || n < 0 {
				return caller.Reply{}, false, fmt.Errorf("http: bad Content-Length %q", value)
			}
			length = n
		case asciiEqualFold(name, "transfer-encoding"):
			chunked = bytes.Contains(bytes.ToLower(value), []byte("chunked"))
		case asciiEqualFold(name, "connection"):
			v := bytes.ToLower(value)
			if bytes.Contains(v, []byte("close")) {
				keep = false
			} else if bytes.Contains(v, []byte("keep-alive")) {
				keep = true
			}
		}
	}
	c.body = c.body[:0]
	switch {
	case chunked:
		if err := c.readChunked(); err != nil {
			return caller.Reply{}, false, err
		}
	case length >= 0:
		if cap(c.body) < length {
			c.body = make([]byte, length)
		}
		c.body = c.body[:length]
		if _, err := io.ReadFull(c.r, c.body); err != nil {
			return caller.Reply{}, false, fmt.Errorf("http: reading a %d-byte body: %w", length, err)
		}
	default: // no length: the body runs to the end of the connection
		b, err := io.ReadAll(c.r)
		if err != nil {
			return caller.Reply{}, false, fmt.Errorf("http: reading the body: %w", err)
		}
		c.body, keep = b, false
	}
	return caller.Reply{OK: code == 200, Status: strconv.Itoa(code), Body: c.body}, keep, nil
}

// line is one header line without its CRLF (valid until the next read).
func (c *rawHTTP) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		if errors.Is(err, bufio.ErrBufferFull) {
			return nil, errors.New("a header line over 64 KiB")
		}
		return nil, err
	}
	l = l[:len(l)-1]
	if n := len(l); n > 0 && l[n-1] == '\r' {
		l = l[:n-1]
	}
	return l, nil
}

func (c *rawHTTP) readChunked() error {
	for {
		l, err := c.line()
		if err != nil {
			return fmt.Errorf("http: reading a chunk size: %w", err)
		}
		if i := bytes.IndexByte(l, ';'); i >= 0 {
			l = l[:i]
		}
		n, err := strconv.ParseInt(string(bytes.TrimSpace(l)), 16, 64)
		if err != nil || n < 0 {
			return fmt.Errorf("http: bad chunk size %q", clipBytes(l, 40))
		}
		if n == 0 {
			for { // trailers, then the empty line
				t, err := c.line()
				if err != nil {
					return fmt.Errorf("http: reading trailers: %w", err)
				}
				if len(t) == 0 {
					return nil
				}
			}
		}
		start := len(c.body)
		c.body = append(c.body, make([]byte, n)...)
		if _, err := io.ReadFull(c.r, c.body[start:]); err != nil {
			return fmt.Errorf("http: reading a chunk: %w", err)
		}
		if _, err := c.line(); err != nil {
			return fmt.Errorf("http: reading a chunk's end: %w", err)
		}
	}
}

func (c *rawHTTP) Close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

func asciiEqualFold(b []byte, lower string) bool {
	if len(b) != len(lower) {
		return false
	}
	for i := range b {
		x := b[i]
		if 'A' <= x && x <= 'Z' {
			x += 'a' - 'A'
		}
		if x != lower[i] {
			return false
		}
	}
	return true
}

func clipBytes(b []byte, n int) []byte {
	if len(b) > n {
		return b[:n]
	}
	return b
}

// netHTTP is the same client on net/http (BENCH_GO_HTTP=nethttp), kept for the comparison in CALLER.md.
type netHTTP struct {
	client *http.Client
	url    string
	body   []byte
	buf    bytes.Buffer
}

func newNetHTTP(cfg *caller.Config, timeout time.Duration) *netHTTP {
	t := cfg.Target
	tr := &http.Transport{MaxIdleConns: 1, MaxIdleConnsPerHost: 1, DisableCompression: true,
		DialContext: (&net.Dialer{Timeout: connectTimeout}).DialContext}
	return &netHTTP{client: &http.Client{Transport: tr, Timeout: timeout},
		url:  "http://" + net.JoinHostPort(t.Host, strconv.Itoa(t.Port)) + "/" + cfg.Request.Op,
		body: cfg.Request.Body}
}

func (c *netHTTP) Call() (caller.Reply, error) {
	resp, err := c.client.Post(c.url, "application/octet-stream", bytes.NewReader(c.body))
	if err != nil {
		return caller.Reply{}, fmt.Errorf("http: %w", err)
	}
	defer resp.Body.Close()
	c.buf.Reset()
	if _, err := c.buf.ReadFrom(resp.Body); err != nil {
		return caller.Reply{}, fmt.Errorf("http: reading the body: %w", err)
	}
	return caller.Reply{OK: resp.StatusCode == 200, Status: strconv.Itoa(resp.StatusCode), Body: c.buf.Bytes()}, nil
}

func (c *netHTTP) Close() { c.client.CloseIdleConnections() }
