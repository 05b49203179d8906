package httpsrv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"runtime"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/panjf2000/gnet/v2"
	"golang.org/x/sys/unix"

	"interopbench/go/internal/core"
)

// The event-loop server's own limits and periods.
const (
	// offloadBytes: a diff body longer than this runs on its own goroutine, so that the event
	// loop goes on serving other connections; shorter ones run in the loop.
	offloadBytes = 16 * 1024
	// outboundCap: replies a peer has not read yet, beyond which its connection's requests are
	// not served until they drain (a pipelining peer that never reads cannot grow memory without
	// end: see maxPending).
	outboundCap = 4 << 20
	// pendingRequests: how many requests of the largest size a connection whose requests are not
	// being served may have buffered (maxPending).
	pendingRequests = 4
	// lingerTimeout: after an error reply that closes the connection, what the peer still sends
	// is read and dropped for this long, so that it reads the reply instead of a reset.
	lingerTimeout = 5 * time.Second
	// tick: the period of the deadline checks and of the wake-ups of waiting connections.
	tick = 100 * time.Millisecond
	// bigBody: a reply body longer than this is written from where it lies, not copied.
	bigBody = 64 * 1024
)

// phase is where a connection is in its request cycle.
type phase int32

const (
	idle     phase = iota // between requests: nothing buffered
	inHead                // a request has begun: its head is incomplete
	inBody                // its head is parsed: waiting for Content-Length bytes
	inChunks              // decoding a chunked body
	working               // a diff runs off the loop; nothing more is read until its reply
	writing               // replies over outboundCap wait for the peer to read them
	closing               // the last reply is queued: close once it is written
	draining              // an error reply went out: drop what comes until the peer closes
)

var continue100 = []byte("HTTP/1.1 100 Continue\r\n\r\n")

var (
	routeEcho   = routes["/echo"]
	routeDiff   = routes["/diff"]
	routeHealth = routes["/health"]
)

// gconn is one connection's state. Only the event loop touches it, except deadline and wake,
// which the ticker reads.
type gconn struct {
	c        gnet.Conn
	phase    phase
	head     reqHead
	isHEAD   bool      // a HEAD request: the reply has no body
	route    *Route    // the request's route, or nil with refusal
	refusal  *Response // a 404 or 405, answered once the body is read
	need     int       // inBody: the body's length
	chunks   chunkDecoder
	body     []byte // the chunked body
	out      []byte // replies gathered in one pass, written at once
	linger   bool   // closing: drain after the reply instead of closing
	closed   bool
	deadline atomic.Int64 // unix ns when the ticker closes the connection; 0: never
	wake     atomic.Bool  // the ticker should wake the connection (writing, closing)
}

// loopServer is the HTTP/1.1 server on gnet's event loops (README.md "HTTP server"): one
// loop per GOMAXPROCS, each parsing and answering its connections without a goroutine per
// connection; the deadlines of CONTRACT.md's slow peers come from a ticker.
type loopServer struct {
	gnet.BuiltinEventEngine
	svc   *core.Service
	eng   gnet.Engine
	ready chan struct{} // closed when gnet has bound the address
	now   atomic.Int64  // a clock of tick resolution, unix ns
	mu    sync.Mutex
	conns map[*gconn]struct{} // every open connection, for the ticker

	// the deadlines: HeaderTimeout, BodyTimeout, IdleTimeout and lingerTimeout (shorter in tests)
	headerTimeout, bodyTimeout, idleTimeout, linger time.Duration
	outboundCap                                     int          // outboundCap (smaller in tests)
	sendBuffer                                      int          // SO_SNDBUF; 0: the kernel's (tests set it)
	waited                                          atomic.Int64 // connections that waited for their peer to read
}

func newLoop(svc *core.Service) *loopServer {
	return &loopServer{svc: svc, ready: make(chan struct{}), conns: map[*gconn]struct{}{},
		headerTimeout: HeaderTimeout, bodyTimeout: BodyTimeout, idleTimeout: IdleTimeout, linger: lingerTimeout,
		outboundCap: outboundCap}
}

// Serve answers on ln's address until ctx is done. gnet binds its own socket, so ln is closed
// first and its address bound again at once (SO_REUSEADDR).
func (s *loopServer) Serve(ctx context.Context, ln net.Listener) error {
	addr := ln.Addr().String()
	if err := ln.Close(); err != nil {
		return err
	}
	loops := runtime.GOMAXPROCS(0)
	s.now.Store(time.Now().UnixNano())
	opts := []gnet.Option{gnet.WithMulticore(loops > 1), gnet.WithNumEventLoop(loops), gnet.WithReuseAddr(true),
		gnet.WithTicker(true), gnet.WithTCPNoDelay(gnet.TCPNoDelay), gnet.WithLogger(gnetLogger{})}
	if s.sendBuffer > 0 {
		opts = append(opts, gnet.WithSocketSendBuffer(s.sendBuffer))
	}
	done := make(chan error, 1)
	go func() { done <- gnet.Run(s, "tcp://"+addr, opts...) }()
	select {
	case err := <-done:
		return fmt.Errorf("cannot serve on %s: %w", addr, err)
	case <-ctx.Done():
	}
	select {
	case <-s.ready:
	case err := <-done:
		return err
	}
	sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	if err := s.eng.Stop(sctx); err != nil {
		return err
	}
	return <-done
}

// OnBoot keeps the engine, for Stop.
func (s *loopServer) OnBoot(eng gnet.Engine) gnet.Action {
	s.eng = eng
	close(s.ready)
	return gnet.None
}

// OnOpen gives the connection its state; an idle connection is closed after the idle timeout.
func (s *loopServer) OnOpen(c gnet.Conn) ([]byte, gnet.Action) {
	g := &gconn{c: c}
	g.deadline.Store(s.now.Load() + int64(s.idleTimeout))
	c.SetContext(g)
	s.mu.Lock()
	s.conns[g] = struct{}{}
	s.mu.Unlock()
	return nil, gnet.None
}

// OnClose forgets the connection.
func (s *loopServer) OnClose(c gnet.Conn, _ error) gnet.Action {
	if g, ok := c.Context().(*gconn); ok {
		g.closed = true
		s.mu.Lock()
		delete(s.conns, g)
		s.mu.Unlock()
	}
	return gnet.None
}

// OnTick advances the clock, closes connections past their deadline and wakes those waiting
// for their replies to drain.
func (s *loopServer) OnTick() (time.Duration, gnet.Action) {
	now := time.Now().UnixNano()
	s.now.Store(now)
	s.mu.Lock()
	for g := range s.conns {
		if d := g.deadline.Load(); d != 0 && now >= d {
			delete(s.conns, g)
			_ = g.c.Close()
		} else if g.wake.Swap(false) {
			_ = g.c.Wake(nil)
		}
	}
	s.mu.Unlock()
	return tick, gnet.None
}

// OnTraffic answers what has arrived.
func (s *loopServer) OnTraffic(c gnet.Conn) gnet.Action {
	return s.serve(c.Context().(*gconn))
}

// serve answers every complete request buffered on g, in order, and writes the replies at once.
func (s *loopServer) serve(g *gconn) gnet.Action {
	c := g.c
	for !g.closed {
		switch g.phase {
		case draining:
			_, _ = c.Discard(-1)
			return gnet.None
		case working:
			if c.InboundBuffered() > s.maxPending() {
				return gnet.Close // pipelined past any request while a diff runs
			}
			return s.flush(g, gnet.None)
		case writing, closing:
			if s.flush(g, gnet.None); g.closed {
				return gnet.None
			}
			switch {
			case g.phase == closing:
				_, _ = c.Discard(-1) // no request is served after the last
			case c.InboundBuffered() > s.maxPending():
				return gnet.Close // pipelined past any request while its replies wait
			}
			if pending := c.OutboundBuffered(); pending > s.outboundCap || g.phase == closing && pending > 0 {
				g.wake.Store(true)
				return gnet.None
			}
			if g.phase == writing {
				g.phase = idle
				continue
			}
			if !g.linger {
				return gnet.Close
			}
			_ = unix.Shutdown(c.Fd(), unix.SHUT_WR)
			g.phase = draining
			g.deadline.Store(s.now.Load() + int64(s.linger))
		case idle, inHead:
			n := c.InboundBuffered()
			if n == 0 {
				g.phase = idle
				g.deadline.Store(s.now.Load() + int64(s.idleTimeout))
				return s.flush(g, gnet.None)
			}
			if g.phase == idle {
				g.phase = inHead
				g.deadline.Store(s.now.Load() + int64(s.headerTimeout))
			}
			buf, _ := c.Peek(min(n, MaxHeadBytes))
			size, err := parseHead(buf, &g.head)
			switch {
			case err != nil:
				g.isHEAD = false
				s.refuseConn(g, err.status, Malformed(err.why))
			case size == 0:
				return s.flush(g, gnet.None)
			default:
				s.begin(g, size)
			}
		case inBody:
			if c.InboundBuffered() < g.need {
				return s.flush(g, gnet.None)
			}
			var body []byte
			if g.need > 0 {
				body, _ = c.Peek(g.need)
			}
			if s.respond(g, body); !g.closed {
				discard(c, g.need)
			}
		case inChunks:
			buf, _ := c.Peek(-1)
			if len(buf) == 0 {
				return s.flush(g, gnet.None)
			}
			used, done, err := g.chunks.feed(buf, &g.body, s.svc.Settings.MaxBodyBytes)
			discard(c, used)
			switch {
			case err != nil && err.status == 413:
				size := int64(s.svc.Settings.MaxBodyBytes) + 1 // at least one byte over
				s.refuseConn(g, 413, TooLarge(s.svc.CheckSize(size)))
			case err != nil:
				s.refuseConn(g, err.status, Malformed(err.why))
			case !done:
				return s.flush(g, gnet.None)
			default:
				s.respond(g, g.body)
				if cap(g.body) > bigBody {
					g.body = nil
				}
			}
		}
	}
	return gnet.None
}

// begin acts on a parsed head of size bytes: a body over the limit is refused before it is
// read; otherwise the body is awaited (after a 100 Continue, if asked for).
func (s *loopServer) begin(g *gconn, size int) {
	h, c := &g.head, g.c
	g.isHEAD = string(h.method) == "HEAD"
	g.route, g.refusal = s.route(h)
	if h.huge || h.contentLength > int64(s.svc.Settings.MaxBodyBytes) {
		length := h.contentLength
		if h.huge {
			length = 1<<63 - 1
		}
		s.refuseConn(g, 413, TooLarge(s.svc.CheckSize(length)))
		return
	}
	discard(c, size) // h.method and h.target are not valid after this
	g.deadline.Store(s.now.Load() + int64(s.bodyTimeout))
	if h.chunked {
		g.phase = inChunks
		g.chunks.reset()
		g.body = g.body[:0]
	} else {
		g.phase, g.need = inBody, int(max(h.contentLength, 0))
	}
	if h.expect100 && (h.chunked || g.need > 0) && c.InboundBuffered() == 0 {
		g.out = append(g.out, continue100...)
	}
}

// route is the request's route, or the 404 or 405 to answer.
func (s *loopServer) route(h *reqHead) (*Route, *Response) {
	path := h.target
	for i, c := range path {
		if c == '?' {
			path = path[:i]
			break
		}
	}
	var r *Route
	switch string(path) {
	case "/echo":
		r = &routeEcho
	case "/diff":
		r = &routeDiff
	case "/health":
		r = &routeHealth
	}
	if r != nil && string(h.method) == r.Method {
		return r, nil
	}
	_, resp := Lookup(s.svc, string(h.method), string(path), -1)
	return nil, resp
}

// respond answers the request whose body is body (a view into gnet's buffer, valid until
// the next Discard): in the loop, or for a long diff on a goroutine.
func (s *loopServer) respond(g *gconn, body []byte) {
	if g.refusal != nil {
		s.reply(g, g.refusal)
		g.refusal = nil
		return
	}
	if g.route.Op == "diff" && len(body) > offloadBytes {
		s.offload(g, append([]byte(nil), body...))
		return
	}
	r := Run(s.svc, g.route, body)
	s.reply(g, &r)
}

// offload runs a diff on its own goroutine; its reply is queued on the loop, which then goes
// on with what the connection sent meanwhile.
func (s *loopServer) offload(g *gconn, body []byte) {
	g.phase = working
	g.deadline.Store(0)
	route, head, isHEAD := g.route, g.head, g.isHEAD
	go func() {
		r := Run(s.svc, route, body)
		out := appendHead(nil, &r, head.minor, head.close || r.Close)
		if !isHEAD {
			out = append(out, r.Body...)
		}
		_ = g.c.AsyncWrite(out, func(c gnet.Conn, err error) error {
			if err != nil || g.closed {
				return nil
			}
			g.phase = idle
			s.after(g, head.close, r.Close)
			if s.serve(g) == gnet.Close {
				_ = c.Close()
			}
			return nil
		})
	}()
}

// reply queues r's response on g.out and moves g on.
func (s *loopServer) reply(g *gconn, r *Response) {
	closeConn := g.head.close || r.Close
	g.out = appendHead(g.out, r, g.head.minor, closeConn)
	switch {
	case g.isHEAD:
	case len(r.Body) > bigBody:
		_, _ = g.c.Writev([][]byte{g.out, r.Body})
		g.out = g.out[:0]
	default:
		g.out = append(g.out, r.Body...)
	}
	g.phase = idle
	s.after(g, g.head.close, r.Close)
}

// after moves g on after a reply: to close it (lingering after an error), to wait for the peer
// to read, or to the next request.
func (s *loopServer) after(g *gconn, closeConn, errorClose bool) {
	switch {
	case g.closed: // a write failed: gnet has closed it
	case errorClose:
		g.phase, g.linger = closing, true
	case closeConn:
		g.phase, g.linger = closing, false
	case g.c.OutboundBuffered() > s.outboundCap:
		g.phase = writing
		s.waited.Add(1)
	}
}

// refuseConn answers a request that cannot be served, and the connection closes after it.
func (s *loopServer) refuseConn(g *gconn, status int, r *Response) {
	r.Status = status
	r.Close = true
	g.refusal = nil
	s.reply(g, r)
}

// maxPending is the most a connection whose requests are not being served (a diff runs, or its
// replies wait) may have buffered: pendingRequests requests of the largest size. gnet has no way
// to stop reading a socket, so past that the connection is closed.
func (s *loopServer) maxPending() int {
	return pendingRequests * (MaxHeadBytes + s.svc.Settings.MaxBodyBytes)
}

// discard drops n bytes of what c has buffered (gnet's Discard drops everything when n is 0).
func discard(c gnet.Conn, n int) {
	if n > 0 {
		_, _ = c.Discard(n)
	}
}

// flush writes the gathered replies.
func (s *loopServer) flush(g *gconn, a gnet.Action) gnet.Action {
	if len(g.out) > 0 {
		_, _ = g.c.Write(g.out)
		g.out = g.out[:0]
	}
	return a
}

// appendHead appends the status line and header fields of r to b; minor is the request's
// HTTP/1.<minor>.
func appendHead(b []byte, r *Response, minor int, closeConn bool) []byte {
	b = append(b, "HTTP/1.1 "...)
	b = strconv.AppendInt(b, int64(r.Status), 10)
	b = append(b, ' ')
	b = append(b, reason(r.Status)...)
	b = append(b, "\r\nServer: bench-go\r\nContent-Type: "...)
	b = append(b, r.ContentType...)
	if r.Allow != "" {
		b = append(b, "\r\nAllow: "...)
		b = append(b, r.Allow...)
	}
	switch {
	case closeConn:
		b = append(b, "\r\nConnection: close"...)
	case minor == 0:
		b = append(b, "\r\nConnection: keep-alive"...)
	}
	b = append(b, "\r\nContent-Length: "...)
	b = strconv.AppendInt(b, int64(len(r.Body)), 10)
	return append(b, "\r\n\r\n"...)
}

func reason(status int) string {
	switch status {
	case 200:
		return "OK"
	case 400:
		return "Bad Request"
	case 404:
		return "Not Found"
	case 405:
		return "Method Not Allowed"
	case 413:
		return "Content Too Large"
	case 414:
		return "URI Too Long"
	case 417:
		return "Expectation Failed"
	case 431:
		return "Request Header Fields Too Large"
	case 500:
		return "Internal Server Error"
	case 501:
		return "Not Implemented"
	case 505:
		return "HTTP Version Not Supported"
	}
	return "Unknown"
}

// gnetLogger sends gnet's own log lines to slog; its debug and info lines are dropped.
type gnetLogger struct{}

func (gnetLogger) Debugf(string, ...any) {}
func (gnetLogger) Infof(string, ...any)  {}
func (gnetLogger) Warnf(format string, args ...any) {
	slog.Warn("gnet: " + fmt.Sprintf(format, args...))
}
func (gnetLogger) Errorf(format string, args ...any) {
	slog.Error("gnet: " + fmt.Sprintf(format, args...))
}
func (gnetLogger) Fatalf(format string, args ...any) {
	slog.Error("gnet: " + fmt.Sprintf(format, args...))
	panic(fmt.Sprintf(format, args...))
}
