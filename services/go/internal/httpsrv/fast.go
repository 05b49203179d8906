package httpsrv

import (
	"context"
	"errors"
	"net"
	"time"

	"github.com/valyala/fasthttp"

	"interopbench/go/internal/core"
)

type fast struct {
	svc *core.Service
	srv *fasthttp.Server
}

func newFast(svc *core.Service) *fast {
	f := &fast{svc: svc}
	f.srv = &fasthttp.Server{
		Handler: f.handle,
		// the body limit plus a little: a Content-Length over the limit is refused before the
		// body is read (ErrBodyTooLarge, answered 413 by errorHandler)
		MaxRequestBodySize:            svc.Settings.MaxBodyBytes,
		ErrorHandler:                  f.errorHandler,
		Name:                          "bench-go",
		NoDefaultDate:                 true,
		NoDefaultContentType:          true,
		DisableHeaderNamesNormalizing: false,
		// a request begun must be read within HeaderTimeout of its first byte (slowloris),
		// its body within BodyTimeout; an idle keep-alive connection waits up to IdleTimeout
		ReadTimeout: HeaderTimeout,
		IdleTimeout: IdleTimeout,
		HeaderReceived: func(*fasthttp.RequestHeader) fasthttp.RequestConfig {
			return fasthttp.RequestConfig{ReadTimeout: BodyTimeout}
		},
		ReadBufferSize:  16 * 1024,
		CloseOnShutdown: true,
	}
	return f
}

func (f *fast) handle(ctx *fasthttp.RequestCtx) {
	route, resp := Lookup(f.svc, string(ctx.Method()), string(ctx.Path()), int64(ctx.Request.Header.ContentLength()))
	if resp == nil {
		r := Run(f.svc, route, ctx.Request.Body())
		resp = &r
	}
	write(ctx, resp)
}

func write(ctx *fasthttp.RequestCtx, r *Response) {
	ctx.SetStatusCode(r.Status)
	ctx.Response.Header.SetContentType(r.ContentType)
	if r.Allow != "" {
		ctx.Response.Header.Set("Allow", r.Allow)
	}
	if r.Close {
		ctx.SetConnectionClose()
	}
	ctx.SetBody(r.Body)
}

// errorHandler answers what fasthttp could not parse: a body over the limit is 413, the rest 400.
func (f *fast) errorHandler(ctx *fasthttp.RequestCtx, err error) {
	if errors.Is(err, fasthttp.ErrBodyTooLarge) {
		size := int64(ctx.Request.Header.ContentLength())
		if size <= int64(f.svc.Settings.MaxBodyBytes) {
			size = int64(f.svc.Settings.MaxBodyBytes) + 1 // chunked: at least one byte over
		}
		write(ctx, TooLarge(f.svc.CheckSize(size)))
		return
	}
	write(ctx, Malformed(err.Error()))
}

func (f *fast) Serve(ctx context.Context, ln net.Listener) error {
	done := make(chan error, 1)
	go func() { done <- f.srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		return f.srv.ShutdownWithContext(sctx)
	}
}
