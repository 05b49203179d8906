package httpsrv

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"syscall"
	"testing"
	"time"

	"interopbench/go/internal/core"
)

const testLimit = 1 << 20

// startLoop serves the event-loop server on a free port until the test ends; tune may shorten
// its deadlines.
func startLoop(t *testing.T, tune func(*loopServer)) string {
	t.Helper()
	s := newLoop(core.NewService(core.Settings{MaxBodyBytes: testLimit, MaxDiffTokens: 100000}))
	if tune != nil {
		tune(s)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := ln.Addr().String()
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- s.Serve(ctx, ln) }()
	t.Cleanup(func() {
		cancel()
		if err := <-done; err != nil {
			t.Errorf("Serve: %v", err)
		}
	})
	select {
	case <-s.ready: // gnet has bound addr
	case err := <-done:
		t.Fatalf("Serve: %v", err)
	case <-time.After(10 * time.Second):
		t.Fatal("the server did not start within 10 s")
	}
	return addr
}

// peer is a raw connection whose replies are read by net/http's parser.
type peer struct {
	t *testing.T
	c net.Conn
	r *bufio.Reader
}

func dial(t *testing.T, addr string) *peer {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return &peer{t, c, bufio.NewReader(c)}
}

func (p *peer) send(s string) {
	p.t.Helper()
	if _, err := p.c.Write([]byte(s)); err != nil {
		p.t.Fatal(err)
	}
}

// reply reads one response to a request of method; its body is read in full.
func (p *peer) reply(method string) (*http.Response, []byte) {
	p.t.Helper()
	_ = p.c.SetReadDeadline(time.Now().Add(10 * time.Second))
	resp, err := http.ReadResponse(p.r, &http.Request{Method: method})
	if err != nil {
		p.t.Fatalf("no response: %v", err)
	}
	body, err := io.ReadAll(resp.Body)
	if err != nil {
		p.t.Fatalf("body: %v", err)
	}
	return resp, body
}

// closedWithin: the server closes the connection (EOF or reset) within d.
func (p *peer) closedWithin(d time.Duration) bool {
	_ = p.c.SetReadDeadline(time.Now().Add(d))
	_, err := p.r.ReadByte()
	var ne net.Error
	return err != nil && !(errors.As(err, &ne) && ne.Timeout())
}

func post(path, body string) string {
	return fmt.Sprintf("POST %s HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", path, len(body), body)
}

func errorCode(t *testing.T, body []byte) string {
	t.Helper()
	var e struct{ Error, Message string }
	if err := json.Unmarshal(body, &e); err != nil || e.Message == "" {
		t.Fatalf("not an error body: %q", body)
	}
	return e.Error
}

func TestLoopAnswers(t *testing.T) {
	addr := startLoop(t, nil)
	cases := []struct {
		name, request, method string
		status                int
		body, code, allow     string
	}{
		{"echo", post("/echo", "hello"), "POST", 200, "hello", "", ""},
		{"empty echo", post("/echo", ""), "POST", 200, "", "", ""},
		{"query", post("/echo?x=1", "q"), "POST", 200, "q", "", ""},
		{"diff", post("/diff", `{"a": ["x", "y"], "b": ["x"]}`), "POST", 200,
			`{"opcodes": [["equal", 0, 1, 0, 1], ["delete", 1, 2, 1, 1]]}`, "", ""},
		{"bad diff", post("/diff", `{"a": 1}`), "POST", 400, "", "bad_request", ""},
		{"chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nhi\r\n1;e=1\r\n!\r\n0\r\nT: 1\r\n\r\n",
			"POST", 200, "hi!", "", ""},
		{"405", "GET /echo HTTP/1.1\r\nHost: x\r\n\r\n", "GET", 405, "", "bad_request", "POST"},
		{"405 with a body", post("/health", "ignored"), "POST", 405, "", "bad_request", "GET"},
		{"404", post("/nowhere", "abc"), "POST", 404, "", "unknown_op", ""},
		{"HEAD", "HEAD /health HTTP/1.1\r\nHost: x\r\n\r\n", "HEAD", 405, "", "", "GET"},
	}
	c := dial(t, addr) // one connection for all: each answer leaves it ready for the next
	for _, tc := range cases {
		c.send(tc.request)
		resp, body := c.reply(tc.method)
		if resp.StatusCode != tc.status || resp.Header.Get("Allow") != tc.allow || resp.Close {
			t.Errorf("%s: status %d allow %q close %v", tc.name, resp.StatusCode, resp.Header.Get("Allow"), resp.Close)
		}
		switch {
		case tc.code != "":
			if got := errorCode(t, body); got != tc.code || resp.Header.Get("Content-Type") != JSON {
				t.Errorf("%s: error %q, content type %q", tc.name, got, resp.Header.Get("Content-Type"))
			}
		case string(body) != tc.body:
			t.Errorf("%s: body %q, want %q", tc.name, body, tc.body)
		}
	}
}

func TestLoopPipelinedAroundAnOffloadedDiff(t *testing.T) {
	addr := startLoop(t, nil)
	a := make([]string, 3000)
	for i := range a {
		a[i] = fmt.Sprintf("token-%d", i%50)
	}
	doc, _ := json.Marshal(map[string][]string{"a": a, "b": a[:2000]})
	if len(doc) <= offloadBytes {
		t.Fatalf("the diff body (%d bytes) must be over offloadBytes", len(doc))
	}
	c := dial(t, addr)
	c.send(post("/echo", "first") + post("/diff", string(doc)) + post("/echo", "third") +
		"GET /health HTTP/1.1\r\nHost: x\r\n\r\n")
	if _, body := c.reply("POST"); string(body) != "first" {
		t.Fatalf("reply 1: %q", body)
	}
	if _, body := c.reply("POST"); !bytes.HasPrefix(body, []byte(`{"opcodes": [["equal", 0, 2000, 0, 2000]`)) {
		t.Fatalf("reply 2: %.80q", body)
	}
	if _, body := c.reply("POST"); string(body) != "third" {
		t.Fatalf("reply 3: %q", body)
	}
	if resp, _ := c.reply("GET"); resp.StatusCode != 200 {
		t.Fatalf("reply 4: %d", resp.StatusCode)
	}
}

func TestLoopExpectContinue(t *testing.T) {
	addr := startLoop(t, nil)
	c := dial(t, addr)
	c.send("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 5\r\n\r\n")
	if resp, _ := c.reply("POST"); resp.StatusCode != 100 {
		t.Fatalf("want 100 Continue first, got %d", resp.StatusCode)
	}
	c.send("12345")
	if resp, body := c.reply("POST"); resp.StatusCode != 200 || string(body) != "12345" {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
	// over the limit: the 413 at once, no 100
	c.send(fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n", testLimit+1))
	if resp, body := c.reply("POST"); resp.StatusCode != 413 || errorCode(t, body) != "too_large" || !resp.Close {
		t.Fatalf("%d %q", resp.StatusCode, body)
	}
}

func TestLoopTooLargeLingers(t *testing.T) {
	addr := startLoop(t, nil)
	for _, chunked := range []bool{false, true} {
		c := dial(t, addr)
		body := strings.Repeat("x", testLimit+1)
		req := fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
		if chunked {
			req = fmt.Sprintf("POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n%x\r\n%s\r\n0\r\n\r\n",
				len(body), body)
		}
		sent := make(chan error, 1)
		go func() { _, err := c.c.Write([]byte(req)); sent <- err }()
		// the whole body is sent, read and dropped by the server; then the 413 is read
		if err := <-sent; err != nil {
			t.Fatalf("chunked %v: the server did not read the refused body: %v", chunked, err)
		}
		resp, reply := c.reply("POST")
		if resp.StatusCode != 413 || errorCode(t, reply) != "too_large" || !resp.Close {
			t.Fatalf("chunked %v: %d %q", chunked, resp.StatusCode, reply)
		}
		if !c.closedWithin(10 * time.Second) {
			t.Fatalf("chunked %v: not closed after the 413", chunked)
		}
	}
}

func TestLoopMalformedClosesOnlyItsConnection(t *testing.T) {
	addr := startLoop(t, nil)
	good := dial(t, addr)
	good.send(post("/echo", "before"))
	good.reply("POST")
	for _, bad := range []string{"\x00\x01 / HTTP/1.1\r\n\r\n", "GET / HTTP/9.9\r\nHost: x\r\n\r\n",
		"POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\n"} {
		c := dial(t, addr)
		c.send(bad)
		resp, body := c.reply("GET")
		if resp.StatusCode < 400 || errorCode(t, body) != "bad_request" || !resp.Close {
			t.Errorf("%q: %d %q", bad, resp.StatusCode, body)
		}
		if !c.closedWithin(10 * time.Second) {
			t.Errorf("%q: not closed", bad)
		}
	}
	good.send(post("/echo", "after"))
	if _, body := good.reply("POST"); string(body) != "after" {
		t.Fatalf("the good connection: %q", body)
	}
}

func TestLoopConnectionPersistence(t *testing.T) {
	addr := startLoop(t, nil)
	cases := []struct {
		name, request string
		header        string // the Connection header of the reply, but close (net/http takes it for resp.Close)
		closed        bool
	}{
		{"1.1", "GET /health HTTP/1.1\r\nHost: x\r\n\r\n", "", false},
		{"1.1 close", "GET /health HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", "", true},
		{"1.0", "GET /health HTTP/1.0\r\n\r\n", "", true},
		{"1.0 keep-alive", "GET /health HTTP/1.0\r\nConnection: keep-alive\r\n\r\n", "keep-alive", false},
	}
	for _, tc := range cases {
		c := dial(t, addr)
		c.send(tc.request)
		resp, _ := c.reply("GET")
		if resp.StatusCode != 200 || resp.Header.Get("Connection") != tc.header || resp.Close != tc.closed {
			t.Errorf("%s: %d, Connection %q", tc.name, resp.StatusCode, resp.Header.Get("Connection"))
		}
		wait := 300 * time.Millisecond
		if tc.closed {
			wait = 5 * time.Second
		}
		if got := c.closedWithin(wait); got != tc.closed {
			t.Errorf("%s: closed %v, want %v", tc.name, got, tc.closed)
		}
	}
}

func TestLoopPeerThatDoesNotRead(t *testing.T) {
	var srv *loopServer
	addr := startLoop(t, func(s *loopServer) { s.outboundCap, s.sendBuffer, srv = 256<<10, 64<<10, s })
	// a small receive buffer, so that the replies pile up in the server
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = conn.Close() })
	c := &peer{t, conn, bufio.NewReader(conn)}
	body := strings.Repeat("b", 300<<10)
	const n = 12 // 3.5 MiB of replies, before the peer reads any: under maxPending, over outboundCap
	go func() {
		for range n {
			if _, err := conn.Write([]byte(post("/echo", body))); err != nil {
				return
			}
		}
	}()
	time.Sleep(500 * time.Millisecond)
	for i := range n {
		if resp, got := c.reply("POST"); resp.StatusCode != 200 || string(got) != body {
			t.Fatalf("reply %d: %d, %d bytes", i, resp.StatusCode, len(got))
		}
	}
	if srv.waited.Load() == 0 {
		t.Fatal("the connection never waited for its peer to read: the test did not reach outboundCap")
	}
}

func TestLoopPeerThatPipelinesPastTheBound(t *testing.T) {
	addr := startLoop(t, func(s *loopServer) { s.outboundCap, s.sendBuffer = 256<<10, 64<<10 })
	d := net.Dialer{Control: func(_, _ string, rc syscall.RawConn) error {
		return rc.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.SOL_SOCKET, syscall.SO_RCVBUF, 64<<10) })
	}}
	conn, err := d.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer func() { _ = conn.Close() }()
	body := post("/echo", strings.Repeat("p", 900<<10))
	total := 0
	_ = conn.SetWriteDeadline(time.Now().Add(10 * time.Second))
	for total < 4*pendingRequests*testLimit { // never reading: past maxPending, the server closes
		k, err := conn.Write([]byte(body))
		var ne net.Error
		switch total += k; {
		case errors.As(err, &ne) && ne.Timeout():
			t.Fatalf("after %d bytes the server neither read nor closed", total)
		case err != nil:
			return // closed by the server
		}
	}
	t.Fatalf("%d bytes pipelined without reading and the connection is still open", total)
}

func TestLoopDeadlines(t *testing.T) {
	addr := startLoop(t, func(s *loopServer) {
		s.headerTimeout, s.bodyTimeout, s.idleTimeout = 400*time.Millisecond, 800*time.Millisecond, 2*time.Second
	})
	slowHead, slowBody, quiet, idle := dial(t, addr), dial(t, addr), dial(t, addr), dial(t, addr)
	slowHead.send("POST /echo HTTP/1.1\r\nHost: x\r\n")
	slowBody.send("POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc")
	quiet.send(post("/echo", "one"))
	quiet.reply("POST")
	t0 := time.Now()
	if !slowHead.closedWithin(2 * time.Second) {
		t.Error("an unfinished head outlived the header timeout")
	}
	if !slowBody.closedWithin(2 * time.Second) {
		t.Error("an unfinished body outlived the body timeout")
	}
	// idle past the header and body timeouts: still served, its request in two writes
	time.Sleep(time.Until(t0.Add(time.Second)))
	quiet.send("POST /ec")
	time.Sleep(100 * time.Millisecond)
	quiet.send("ho HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\n\r\ntwo")
	if _, body := quiet.reply("POST"); string(body) != "two" {
		t.Fatalf("quiet: %q", body)
	}
	if !idle.closedWithin(4 * time.Second) {
		t.Error("an idle connection outlived the idle timeout")
	}
}
