// Package httpsrv is the http transport (CONTRACT.md "http") on three servers: an event loop on
// gnet with its own HTTP/1.1 parser (the default, chosen by measurement: README.md "HTTP
// server"), fasthttp and net/http. All three share the routes.
package httpsrv

import (
	"context"
	"fmt"
	"net"
	"strings"
	"time"

	"interopbench/go/internal/core"
)

// Content types of replies.
const (
	JSON   = "application/json"
	Octets = "application/octet-stream"
)

// Timeouts of the servers: a request's headers (slowloris), its body, an idle keep-alive connection.
const (
	HeaderTimeout = 10 * time.Second
	BodyTimeout   = 2 * time.Minute
	IdleTimeout   = 5 * time.Minute
)

// Route is one path: its method, op and reply content type.
type Route struct {
	Method, Op, ContentType string
}

var routes = map[string]Route{
	"/echo":   {"POST", "echo", Octets},
	"/diff":   {"POST", "diff", JSON},
	"/health": {"GET", "health", JSON},
}

// Response is a complete response; Allow is set on a 405, Close closes the connection.
type Response struct {
	Status      int
	Body        []byte
	ContentType string
	Allow       string
	Close       bool
}

// Lookup finds the route of path (without its query); a nil route comes with the response to send.
func Lookup(svc *core.Service, method, path string, contentLength int64) (*Route, *Response) {
	if q := strings.IndexByte(path, '?'); q >= 0 {
		path = path[:q]
	}
	r, ok := routes[path]
	if !ok {
		return nil, &Response{Status: 404, ContentType: JSON, Body: core.ErrorBody(core.UnknownOp,
			fmt.Sprintf("unknown path '%s'; paths are /diff, /echo, /health", core.Printable(path)))}
	}
	if r.Method != method {
		return nil, &Response{Status: 405, ContentType: JSON, Allow: r.Method, Body: core.ErrorBody(core.BadRequest,
			fmt.Sprintf("method %s not allowed on %s; use %s", core.Printable(method), path, r.Method))}
	}
	if err := svc.CheckSize(contentLength); err != nil {
		return nil, TooLarge(err)
	}
	return &r, nil
}

// TooLarge is the 413 response; the connection is closed (the body is not read).
func TooLarge(err *core.Error) *Response {
	return &Response{Status: 413, ContentType: JSON, Body: err.Body(), Close: true}
}

// Malformed is the 400 response to a request the HTTP parser refused; closes the connection.
func Malformed(why string) *Response {
	return &Response{Status: 400, ContentType: JSON, Close: true,
		Body: core.ErrorBody(core.BadRequest, "malformed HTTP request: "+why)}
}

// Run runs the route's op on body.
func Run(svc *core.Service, r *Route, body []byte) Response {
	reply := svc.Handle(r.Op, body)
	if reply.OK() {
		return Response{Status: 200, Body: reply.Body, ContentType: r.ContentType}
	}
	return Response{Status: reply.Err.HTTPStatus(), Body: reply.Body, ContentType: JSON}
}

// Server is one of the HTTP servers.
type Server interface {
	// Serve answers on ln until ctx is done, then shuts down gracefully.
	Serve(ctx context.Context, ln net.Listener) error
}

// Servers are the names New knows.
var Servers = []string{"fasthttp", "gnet", "nethttp"}

// New is the server named name, one of Servers.
func New(name string, svc *core.Service) (Server, error) {
	switch name {
	case "fasthttp":
		return newFast(svc), nil
	case "nethttp":
		return &netHTTP{svc: svc}, nil
	case "gnet":
		return newLoop(svc), nil
	}
	return nil, fmt.Errorf("unknown --http-server %q; choose one of %s", name, strings.Join(Servers, ", "))
}
