package client

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"strconv"
	"sync"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/credentials/insecure"
	"google.golang.org/grpc/status"

	"interopbench/go/internal/benchpb"
	"interopbench/go/internal/caller"
)

// maxMessage is what the contract's servers accept and send: 16 MiB + 64 KiB.
const maxMessage = 16<<20 + 64<<10

// grpcClient calls bench.v1.Bench/Echo or /Diff on its own grpc-go connection (HTTP/2, one
// per user, as each of Python's users has its own channel). A status other than OK is a
// reply with an error status (wrong), except UNAVAILABLE, DEADLINE_EXCEEDED and CANCELLED,
// which mean no reply came (an error).
type grpcClient struct {
	shared  bool // BENCH_GO_GRPC=shared: every user on one ClientConn per target
	target  string
	timeout time.Duration
	conn    *grpc.ClientConn
	stub    benchpb.BenchClient
	echo    *benchpb.Blob
	diff    *benchpb.DiffRequest
	err     error
}

func newGRPC(cfg *caller.Config, timeout time.Duration) *grpcClient {
	t := cfg.Target
	c := &grpcClient{target: net.JoinHostPort(t.Host, strconv.Itoa(t.Port)), timeout: timeout,
		shared: os.Getenv("BENCH_GO_GRPC") == "shared"}
	if cfg.Request.Op == "echo" {
		c.echo = &benchpb.Blob{Data: cfg.Request.Body}
	} else {
		var doc struct {
			A *[]string `json:"a"`
			B *[]string `json:"b"`
		}
		if err := json.Unmarshal(cfg.Request.Body, &doc); err != nil || doc.A == nil || doc.B == nil {
			c.err = fmt.Errorf("grpc: Diff takes the body's a and b, lists of strings")
		} else {
			c.diff = &benchpb.DiffRequest{A: *doc.A, B: *doc.B}
		}
	}
	return c
}

// sharedConns are the ClientConns of BENCH_GO_GRPC=shared, by target, with their users.
var sharedConns = struct {
	sync.Mutex
	conns map[string]*grpc.ClientConn
	users map[string]int
}{conns: map[string]*grpc.ClientConn{}, users: map[string]int{}}

func (c *grpcClient) connect() error {
	if !c.shared {
		conn, err := c.dial()
		if err != nil {
			return err
		}
		c.conn, c.stub = conn, benchpb.NewBenchClient(conn)
		return nil
	}
	sharedConns.Lock()
	defer sharedConns.Unlock()
	conn := sharedConns.conns[c.target]
	if conn == nil {
		var err error
		if conn, err = c.dial(); err != nil {
			return err
		}
		sharedConns.conns[c.target] = conn
	}
	sharedConns.users[c.target]++
	c.conn, c.stub = conn, benchpb.NewBenchClient(conn)
	return nil
}

func (c *grpcClient) dial() (*grpc.ClientConn, error) {
	conn, err := grpc.NewClient("passthrough:///"+c.target,
		grpc.WithTransportCredentials(insecure.NewCredentials()),
		// fixed flow-control windows turn off grpc-go's BDP estimation, whose PING after
		// received data costs a frame and a wake-up per call at this rate of small calls
		grpc.WithInitialWindowSize(maxMessage), grpc.WithInitialConnWindowSize(maxMessage),
		grpc.WithDefaultCallOptions(grpc.MaxCallRecvMsgSize(maxMessage), grpc.MaxCallSendMsgSize(maxMessage)))
	if err != nil {
		return nil, fmt.Errorf("grpc: %s: %w", c.target, err)
	}
	return conn, nil
}

func (c *grpcClient) Call() (caller.Reply, error) {
	if c.err != nil {
		return caller.Reply{}, c.err
	}
	if c.conn == nil {
		if err := c.connect(); err != nil {
			return caller.Reply{}, err
		}
	}
	ctx, cancel := context.WithTimeout(context.Background(), c.timeout)
	defer cancel()
	if c.echo != nil {
		r, err := c.stub.Echo(ctx, c.echo)
		if err != nil {
			return c.failed(err)
		}
		return caller.Reply{OK: true, Status: "OK", Body: r.GetData()}, nil
	}
	r, err := c.stub.Diff(ctx, c.diff)
	if err != nil {
		return c.failed(err)
	}
	ops := make([]caller.Opcode, len(r.GetOpcodes()))
	for i, o := range r.GetOpcodes() {
		ops[i] = caller.Opcode{Tag: o.GetTag(), I1: int64(o.GetI1()), I2: int64(o.GetI2()), J1: int64(o.GetJ1()),
			J2: int64(o.GetJ2())}
	}
	return caller.Reply{OK: true, Status: "OK", HasOpcodes: true, Opcodes: ops}, nil
}

func (c *grpcClient) failed(err error) (caller.Reply, error) {
	s := status.Convert(err)
	switch s.Code() {
	case codes.Unavailable, codes.DeadlineExceeded, codes.Canceled:
		return caller.Reply{}, fmt.Errorf("grpc: %s: %s: %s", c.target, s.Code(), s.Message())
	}
	return caller.Reply{OK: false, Status: s.Code().String(), Body: []byte(s.Message())}, nil
}

func (c *grpcClient) Close() {
	if c.conn == nil {
		return
	}
	if c.shared {
		sharedConns.Lock()
		sharedConns.users[c.target]--
		if sharedConns.users[c.target] == 0 {
			_ = c.conn.Close()
			delete(sharedConns.conns, c.target)
		}
		sharedConns.Unlock()
	} else {
		_ = c.conn.Close()
	}
	c.conn = nil
}
