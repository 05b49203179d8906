package httpsrv

import (
	"context"
	"errors"
	"io"
	"log/slog"
	"net"
	"net/http"
	"time"

	"interopbench/go/internal/core"
)

type netHTTP struct {
	svc *core.Service
}

func (n *netHTTP) ServeHTTP(w http.ResponseWriter, req *http.Request) {
	route, resp := Lookup(n.svc, req.Method, req.URL.RequestURI(), req.ContentLength)
	if resp == nil {
		limit := int64(n.svc.Settings.MaxBodyBytes)
		body, err := io.ReadAll(io.LimitReader(req.Body, limit+1))
		switch {
		case err != nil:
			resp = Malformed("cannot read the body: " + err.Error())
		case int64(len(body)) > limit:
			resp = TooLarge(n.svc.CheckSize(int64(len(body))))
		default:
			r := Run(n.svc, route, body)
			resp = &r
		}
	}
	h := w.Header()
	h["Content-Type"] = []string{resp.ContentType}
	if resp.Allow != "" {
		h["Allow"] = []string{resp.Allow}
	}
	if resp.Close {
		h["Connection"] = []string{"close"}
	}
	w.WriteHeader(resp.Status)
	if _, err := w.Write(resp.Body); err != nil {
		slog.Debug("write failed", "err", err)
	}
}

func (n *netHTTP) Serve(ctx context.Context, ln net.Listener) error {
	srv := &http.Server{Handler: n, IdleTimeout: IdleTimeout, ReadHeaderTimeout: HeaderTimeout}
	done := make(chan error, 1)
	go func() { done <- srv.Serve(ln) }()
	select {
	case err := <-done:
		return err
	case <-ctx.Done():
		sctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		err := srv.Shutdown(sctx)
		if errors.Is(err, http.ErrServerClosed) {
			return nil
		}
		return err
	}
}
