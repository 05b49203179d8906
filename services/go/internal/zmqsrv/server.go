package zmqsrv

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"syscall"

	zmq "github.com/pebbe/zmq4"

	"interopbench/go/internal/core"
)

// messageSlack is what a frame may carry over the body limit (the op and envelope frames).
const messageSlack = 64 * 1024

// Serve binds a ROUTER to tcp://host:port and answers until ctx is done. One loop computes the
// replies itself: the zmq transport of every language does (README.md).
func Serve(ctx context.Context, svc *core.Service, host string, port int) error {
	zctx, err := zmq.NewContext()
	if err != nil {
		return err
	}
	defer func() { _ = zctx.Term() }()
	sock, err := zctx.NewSocket(zmq.ROUTER)
	if err != nil {
		return err
	}
	defer func() { _ = sock.Close() }()
	// a peer announcing a frame over the limit is disconnected before libzmq allocates it
	for _, set := range []func() error{
		func() error { return sock.SetLinger(0) },
		func() error { return sock.SetMaxmsgsize(int64(svc.Settings.MaxBodyBytes) + messageSlack) },
		func() error { return sock.SetRcvhwm(10_000) },
		func() error { return sock.SetSndhwm(10_000) },
	} {
		if err := set(); err != nil {
			return err
		}
	}
	endpoint := fmt.Sprintf("tcp://%s:%d", host, port)
	if err := sock.Bind(endpoint); err != nil {
		return fmt.Errorf("cannot bind %s: %w; is the port in use by another program?", endpoint, err)
	}
	slog.Info("zmq ROUTER bound", "endpoint", endpoint)
	poller := zmq.NewPoller()
	poller.Add(sock, zmq.POLLIN)
	for ctx.Err() == nil {
		ready, err := poller.Poll(200e6) // 200 ms: a stop is noticed
		if err != nil {
			if errors.Is(err, zmq.Errno(syscall.EINTR)) {
				continue
			}
			return err
		}
		if len(ready) == 0 {
			continue
		}
		// drain what is there without polling again between messages
		for {
			frames, err := sock.RecvMessageBytes(zmq.DONTWAIT)
			if err != nil {
				if errors.Is(err, zmq.Errno(syscall.EAGAIN)) || errors.Is(err, zmq.Errno(syscall.EINTR)) {
					break
				}
				return err
			}
			if len(frames) == 0 {
				continue
			}
			if _, err := sock.SendMessageDontwait(Reply(svc, frames)); err != nil {
				// a peer gone or its queue full: the reply is dropped, the ROUTER serves on
				slog.Warn("zmq reply not sent", "err", err)
			}
		}
	}
	return nil
}
