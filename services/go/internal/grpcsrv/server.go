// Package grpcsrv is the grpc transport (CONTRACT.md "grpc") on grpc-go, with the messages
// generated from contract/bench.proto (internal/benchpb, by scripts/build.sh).
//
// Requests reach the handlers as raw bytes (a codec of this package) so that a message that
// cannot be parsed, such as a string field that is not UTF-8, is INVALID_ARGUMENT: grpc-go
// itself would answer INTERNAL for a codec error.
package grpcsrv

import (
	"context"
	"fmt"
	"log/slog"
	"net"
	"time"

	"google.golang.org/grpc"
	"google.golang.org/grpc/codes"
	"google.golang.org/grpc/keepalive"
	"google.golang.org/grpc/status"
	"google.golang.org/protobuf/proto"

	"interopbench/go/internal/benchpb"
	"interopbench/go/internal/core"
)

// Limits of the server (as the Java service's).
const (
	MessageSlack         = 64 * 1024
	MaxConcurrentStreams = 100
	MaxHeaderListBytes   = 8 * 1024
)

// raw is a request as it came off the wire.
type raw struct{ b []byte }

// codec unmarshals into *raw by copying and marshals proto messages.
type codec struct{}

func (codec) Name() string { return "proto" }

func (codec) Marshal(v any) ([]byte, error) {
	m, ok := v.(proto.Message)
	if !ok {
		return nil, fmt.Errorf("grpcsrv codec: cannot marshal %T", v)
	}
	return proto.Marshal(m)
}

func (codec) Unmarshal(data []byte, v any) error {
	r, ok := v.(*raw)
	if !ok {
		return fmt.Errorf("grpcsrv codec: cannot unmarshal into %T", v)
	}
	r.b = append([]byte(nil), data...)
	return nil
}

func statusOf(e *core.Error) error {
	c := codes.Internal
	switch e.Code {
	case core.BadRequest:
		c = codes.InvalidArgument
	case core.UnknownOp:
		c = codes.Unimplemented
	case core.TooLarge:
		c = codes.ResourceExhausted
	}
	return status.Error(c, e.Message)
}

type handlers struct{ svc *core.Service }

func (h handlers) echo(req []byte) (out proto.Message, err error) {
	defer recoverInternal("echo", &err)
	var m benchpb.Blob
	if e := proto.Unmarshal(req, &m); e != nil {
		return nil, status.Error(codes.InvalidArgument, "Blob cannot be parsed: "+e.Error())
	}
	if e := h.svc.CheckSize(int64(len(m.Data))); e != nil {
		return nil, statusOf(e)
	}
	h.svc.ExtraWork()
	return &m, nil
}

func (h handlers) diff(req []byte) (out proto.Message, err error) {
	defer recoverInternal("diff", &err)
	if e := h.svc.CheckSize(int64(len(req))); e != nil {
		return nil, statusOf(e)
	}
	var m benchpb.DiffRequest
	if e := proto.Unmarshal(req, &m); e != nil {
		return nil, status.Error(codes.InvalidArgument, "DiffRequest cannot be parsed: "+e.Error())
	}
	ops, e := h.svc.DiffTokens(m.A, m.B)
	if e != nil {
		return nil, statusOf(e)
	}
	reply := &benchpb.DiffReply{Opcodes: make([]*benchpb.Opcode, len(ops))}
	for i, o := range ops {
		reply.Opcodes[i] = &benchpb.Opcode{Tag: o.Tag, I1: int32(o.I1), I2: int32(o.I2), J1: int32(o.J1), J2: int32(o.J2)}
	}
	return reply, nil
}

func recoverInternal(op string, err *error) {
	if p := recover(); p != nil {
		*err = statusOf(core.InternalError(op, p))
	}
}

func method(name string, run func(handlers, []byte) (proto.Message, error)) grpc.MethodDesc {
	return grpc.MethodDesc{MethodName: name, Handler: func(srv any, ctx context.Context, dec func(any) error,
		_ grpc.UnaryServerInterceptor) (any, error) {
		var r raw
		if err := dec(&r); err != nil {
			return nil, err
		}
		return run(srv.(handlers), r.b)
	}}
}

// desc is benchpb's service description with handlers taking raw requests.
var desc = grpc.ServiceDesc{
	ServiceName: benchpb.Bench_ServiceDesc.ServiceName,
	HandlerType: (*any)(nil),
	Methods: []grpc.MethodDesc{
		method("Echo", handlers.echo),
		method("Diff", handlers.diff),
	},
	Metadata: benchpb.Bench_ServiceDesc.Metadata,
}

// Serve answers on ln until ctx is done, then stops gracefully.
func Serve(ctx context.Context, svc *core.Service, ln net.Listener) error {
	max := svc.Settings.MaxBodyBytes + MessageSlack
	s := grpc.NewServer(
		grpc.ForceServerCodec(codec{}),
		grpc.MaxRecvMsgSize(max),
		grpc.MaxSendMsgSize(max),
		grpc.MaxConcurrentStreams(MaxConcurrentStreams),
		grpc.MaxHeaderListSize(MaxHeaderListBytes),
		grpc.ConnectionTimeout(10*time.Second),
		grpc.KeepaliveParams(keepalive.ServerParameters{MaxConnectionIdle: 5 * time.Minute}),
	)
	s.RegisterService(&desc, handlers{svc})
	slog.Info("grpc listening", "addr", ln.Addr().String(), "max_message", max)
	done := make(chan error, 1)
	go func() { done <- s.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		stopped := make(chan struct{})
		go func() { s.GracefulStop(); close(stopped) }()
		select {
		case <-stopped:
		case <-time.After(5 * time.Second):
			s.Stop()
		}
		return nil
	}
}
