// Package client holds the Go caller's clients, one per user, each sending the cell's one
// request and reading its reply (CONTRACT.md "Transports"): http (a raw HTTP/1.1 keep-alive
// client over net.Conn, or net/http with BENCH_GO_HTTP=nethttp), zmq (a ZMTP 3.0 DEALER over
// net.Conn, or with BENCH_GO_ZMQ=libzmq a DEALER of github.com/pebbe/zmq4), redis (RESP over net.Conn: LPUSH
// and BRPOP in one write), celery (a protocol v2 task message LPUSHed as kombu's Redis
// transport writes it, the result from the Redis backend's PUBLISH) and grpc (grpc-go).
package client

import (
	"fmt"
	"os"
	"time"

	"interopbench/go/internal/caller"
)

// connectTimeout bounds a connection attempt.
const connectTimeout = 2 * time.Second

// deadlineSlack: a connection's deadline is moved only when it would move by more than this,
// so that a request does not pay a timer update (a request's timeout is timeout_s minus at
// most this).
const deadlineSlack = 10 * time.Millisecond

// New is user's client for cfg's target (it connects on its first Call).
func New(cfg *caller.Config, user int) caller.Client {
	timeout := time.Duration(cfg.TimeoutS * float64(time.Second))
	switch cfg.Target.Transport {
	case "http":
		switch os.Getenv("BENCH_GO_HTTP") {
		case "nethttp":
			return newNetHTTP(cfg, timeout)
		case "blocking":
			ensureProcs(user + 4)
			c := newHTTP(cfg, timeout)
			c.blocking = true
			return c
		}
		return newHTTP(cfg, timeout)
	case "zmq":
		if os.Getenv("BENCH_GO_ZMQ") == "libzmq" {
			return newZMQ(cfg, timeout)
		}
		return newZMTP(cfg, timeout)
	case "redis":
		return newRedisQueue(cfg, user, timeout)
	case "celery":
		return newCelery(cfg, user, timeout)
	case "grpc":
		return newGRPC(cfg, timeout)
	}
	return failing{fmt.Errorf("the Go caller has no client for transport %q (http, zmq, redis, celery, grpc)",
		cfg.Target.Transport)}
}

// failing is the client of an unknown transport: every call is an error that says why.
type failing struct{ err error }

func (f failing) Call() (caller.Reply, error) { return caller.Reply{}, f.err }
func (f failing) Close()                      {}

// deadline keeps a connection's deadline at about now + timeout, moving it only past deadlineSlack.
type deadline struct {
	timeout time.Duration
	at      time.Time
}

// next is the deadline to set for a request starting now, or the zero time when the current one will do.
func (d *deadline) next(now time.Time) (time.Time, bool) {
	want := now.Add(d.timeout)
	if want.Sub(d.at) < deadlineSlack {
		return time.Time{}, false
	}
	d.at = want.Add(deadlineSlack)
	return d.at, true
}
