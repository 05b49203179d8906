package client

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"io"
	"net"
	"net/url"
	"os"
	"strconv"
	"time"

	"interopbench/go/internal/caller"
)

// resp is a minimal RESP2 connection to Redis: commands appended to one buffer and written in
// one call (a pipeline), replies read from a buffered reader.
type resp struct {
	addr, password string
	db             int
	conn           net.Conn
	r              *bufio.Reader
	out            []byte
}

// parseRedisURL reads redis://[:password@]host:port[/db].
func parseRedisURL(raw string) (addr, password string, db int, err error) {
	u, err := url.Parse(raw)
	if err != nil || u.Scheme != "redis" || u.Host == "" {
		return "", "", 0, fmt.Errorf("redis: %q is not redis://host:port/db", raw)
	}
	addr = u.Host
	if u.Port() == "" {
		addr = net.JoinHostPort(u.Hostname(), "6379")
	}
	if p, ok := u.User.Password(); ok {
		password = p
	}
	if len(u.Path) > 1 {
		db, err = strconv.Atoi(u.Path[1:])
		if err != nil {
			return "", "", 0, fmt.Errorf("redis: the database in %q is not a number", raw)
		}
	}
	return addr, password, db, nil
}

func newResp(rawURL string) (*resp, error) {
	addr, password, db, err := parseRedisURL(rawURL)
	if err != nil {
		return nil, err
	}
	return &resp{addr: addr, password: password, db: db}, nil
}

func (c *resp) connect() error {
	conn, err := dialTCP(c.addr)
	if err != nil {
		return fmt.Errorf("redis: connect %s: %w", c.addr, err)
	}
	c.conn = conn
	c.r = bufio.NewReaderSize(conn, 64<<10)
	_ = conn.SetDeadline(time.Now().Add(connectTimeout))
	n := 0
	if c.password != "" {
		c.command("AUTH", []byte(c.password))
		n++
	}
	if c.db != 0 {
		c.command("SELECT", []byte(strconv.Itoa(c.db)))
		n++
	}
	if n > 0 {
		if err := c.flush(); err != nil {
			c.close()
			return err
		}
		for ; n > 0; n-- {
			if _, err := c.reply(); err != nil {
				c.close()
				return err
			}
		}
	}
	_ = conn.SetDeadline(time.Time{})
	return nil
}

func (c *resp) close() {
	if c.conn != nil {
		_ = c.conn.Close()
		c.conn = nil
	}
}

// command appends one command to the pipeline.
func (c *resp) command(name string, args ...[]byte) {
	c.out = append(c.out, '*')
	c.out = strconv.AppendInt(c.out, int64(1+len(args)), 10)
	c.out = append(c.out, "\r\n$"...)
	c.out = strconv.AppendInt(c.out, int64(len(name)), 10)
	c.out = append(c.out, "\r\n"...)
	c.out = append(c.out, name...)
	c.out = append(c.out, "\r\n"...)
	for _, a := range args {
		c.out = append(c.out, '$')
		c.out = strconv.AppendInt(c.out, int64(len(a)), 10)
		c.out = append(c.out, "\r\n"...)
		c.out = append(c.out, a...)
		c.out = append(c.out, "\r\n"...)
	}
}

func (c *resp) flush() error {
	err := request(c.conn, c.out)
	c.out = c.out[:0]
	if err != nil {
		return fmt.Errorf("redis: write: %w", err)
	}
	return nil
}

// respValue is one reply: an integer, a bulk string (nil for a null bulk), an array (nil
// for a null array) or a status; an error reply is a Go error.
type respValue struct {
	str   []byte
	array []respValue
	null  bool
	n     int64
}

func (c *resp) line() ([]byte, error) {
	l, err := c.r.ReadSlice('\n')
	if err != nil {
		return nil, err
	}
	if len(l) < 3 || l[len(l)-2] != '\r' {
		return nil, fmt.Errorf("redis: bad reply line %q", clipBytes(l, 80))
	}
	return l[:len(l)-2], nil
}

// reply reads one reply. Bulk strings are copied (they outlive the reader's buffer).
func (c *resp) reply() (respValue, error) {
	l, err := c.line()
	if err != nil {
		return respValue{}, err
	}
	switch l[0] {
	case '+':
		return respValue{str: append([]byte(nil), l[1:]...)}, nil
	case '-':
		return respValue{}, fmt.Errorf("redis: %s", l[1:])
	case ':':
		n, err := strconv.ParseInt(string(l[1:]), 10, 64)
		return respValue{n: n}, err
	case '$':
		n, err := strconv.Atoi(string(l[1:]))
		if err != nil {
			return respValue{}, fmt.Errorf("redis: bad bulk length %q", l)
		}
		if n < 0 {
			return respValue{null: true}, nil
		}
		b := make([]byte, n+2)
		if _, err := io.ReadFull(c.r, b); err != nil {
			return respValue{}, err
		}
		return respValue{str: b[:n]}, nil
	case '*':
		n, err := strconv.Atoi(string(l[1:]))
		if err != nil {
			return respValue{}, fmt.Errorf("redis: bad array length %q", l)
		}
		if n < 0 {
			return respValue{null: true}, nil
		}
		a := make([]respValue, n)
		for i := range a {
			if a[i], err = c.reply(); err != nil {
				return respValue{}, err
			}
		}
		return respValue{array: a}, nil
	}
	return respValue{}, fmt.Errorf("redis: unknown reply type %q", l)
}

// callerTag is what makes this process's keys unique: pid and 8 random hex digits.
func callerTag() string {
	var b [4]byte
	_, _ = rand.Read(b[:])
	return strconv.Itoa(os.Getpid()) + "-" + hex.EncodeToString(b[:])
}

var clientArg, skipArg = []byte("REPLY"), []byte("SKIP")

// redisQueue LPUSHes `<op> <request-id> <reply-key>\n<body>` to the service's queue and
// BRPOPs the reply `<status> <request-id>\n<body>` from the user's own reply key, both
// commands in one write (the LPUSH's reply skipped). A reply to another request id (left by
// a call that timed out) is skipped.
type redisQueue struct {
	c        *resp
	queue    []byte
	key      []byte
	op, body []byte
	seq      int64
	timeout  time.Duration
	block    []byte // BRPOP's timeout argument, seconds
	msg      []byte
	deadline deadline
}

func newRedisQueue(cfg *caller.Config, user int, timeout time.Duration) caller.Client {
	c, err := newResp(cfg.Target.RedisURL)
	if err != nil {
		return failing{err}
	}
	return &redisQueue{c: c, queue: []byte(cfg.Target.Queue),
		key: []byte(fmt.Sprintf("bench:reply:go:%s:%d", callerTag(), user)), op: []byte(cfg.Request.Op),
		body: cfg.Request.Body, timeout: timeout,
		block:    strconv.AppendFloat(nil, max(timeout.Seconds(), 0.001), 'f', 3, 64),
		deadline: deadline{timeout: timeout + 5*time.Second}}
}

func (q *redisQueue) Call() (caller.Reply, error) {
	if q.c.conn == nil {
		if err := q.c.connect(); err != nil {
			return caller.Reply{}, err
		}
		q.deadline.at = time.Time{}
	}
	if at, ok := q.deadline.next(time.Now()); ok {
		_ = q.c.conn.SetDeadline(at)
	}
	reply, err := q.exchange()
	if err != nil {
		q.c.close()
		return caller.Reply{}, err
	}
	return reply, nil
}

func (q *redisQueue) exchange() (caller.Reply, error) {
	q.seq++
	id := strconv.AppendInt(nil, q.seq, 10)
	q.msg = append(q.msg[:0], q.op...)
	q.msg = append(q.msg, ' ')
	q.msg = append(q.msg, id...)
	q.msg = append(q.msg, ' ')
	q.msg = append(q.msg, q.key...)
	q.msg = append(q.msg, '\n')
	q.msg = append(q.msg, q.body...)
	// CLIENT REPLY SKIP: Redis sends no reply to the LPUSH, so the one read after this write
	// is the BRPOP's reply (the LPUSH's would come first, alone, and cost a read of its own)
	q.c.command("CLIENT", clientArg, skipArg)
	q.c.command("LPUSH", q.queue, q.msg)
	q.c.command("BRPOP", q.key, q.block)
	if err := q.c.flush(); err != nil {
		return caller.Reply{}, err
	}
	for {
		v, err := q.c.reply()
		if err != nil {
			return caller.Reply{}, fmt.Errorf("redis: BRPOP %s: %w", q.key, err)
		}
		if v.null || len(v.array) != 2 {
			return caller.Reply{}, fmt.Errorf("redis: no reply to %s %s on %s within %s", q.op, id, q.queue, q.timeout)
		}
		msg := v.array[1].str
		nl := bytes.IndexByte(msg, '\n')
		sp := bytes.IndexByte(msg, ' ')
		if nl < 0 || sp < 0 || sp > nl {
			return caller.Reply{}, fmt.Errorf("redis: reply header is not '<status> <request-id>': %q",
				clipBytes(msg, 80))
		}
		status, rid := msg[:sp], msg[sp+1:nl]
		if bytes.Equal(rid, id) {
			return caller.Reply{OK: string(status) == "ok", Status: string(status), Body: msg[nl+1:]}, nil
		}
		// a stale reply: wait for ours
		q.c.command("BRPOP", q.key, q.block)
		if err := q.c.flush(); err != nil {
			return caller.Reply{}, err
		}
	}
}

func (q *redisQueue) Close() {
	if q.c.conn != nil {
		_ = q.c.conn.SetDeadline(time.Now().Add(time.Second))
		q.c.command("DEL", q.key)
		if q.c.flush() == nil {
			_, _ = q.c.reply()
		}
		q.c.close()
	}
}
