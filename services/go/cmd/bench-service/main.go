// Command bench-service is the Go service of interop-bench (contract/CONTRACT.md):
//
//	bin/bench-service <http|zmq|redis|grpc|celery> [options]
//
// It logs its effective configuration, serves until SIGTERM or SIGINT, then stops the
// transport gracefully and exits 0. Usage errors exit 2, a transport that cannot start 1.
package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"log/slog"
	"net"
	"os"
	"os/signal"
	"runtime"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"time"

	"interopbench/go/internal/celery"
	"interopbench/go/internal/core"
	"interopbench/go/internal/grpcsrv"
	"interopbench/go/internal/httpsrv"
	"interopbench/go/internal/redisq"
	"interopbench/go/internal/zmqsrv"
)

const usage = `usage: bin/bench-service <transport> [options]
  transport            one of http, zmq, redis, grpc, celery
  --host H             listen address (http, zmq, grpc); default 127.0.0.1
  --port P             listen port (http, zmq, grpc); required for those
  --redis-url U        redis URL (redis, celery), e.g. redis://127.0.0.1:6379/0
  --queue Q            queue key (redis, celery), e.g. bench:go; celery: bench.go
  --workers N          consumers, each with its own connection (redis, celery); default 2
  --result-expires S   celery: seconds a stored result lives; default 600
  --max-body-bytes N   default 16777216
  --max-diff-tokens N  default 100000
  --http-server S      gnet (default, see README.md), fasthttp or nethttp
Environment: BENCH_TEST_HOOKS=1, BENCH_EXTRA_WORK_US=N (CONTRACT.md "Test hooks").`

type options struct {
	transport, host, redisURL, queue, httpServer string
	port, workers, maxBody, maxTokens, expires   int
}

func parse(args []string) (*options, error) {
	transports := map[string]bool{"http": true, "zmq": true, "redis": true, "grpc": true, "celery": true}
	if len(args) == 0 {
		return nil, errors.New("missing the transport")
	}
	o := &options{transport: args[0]}
	if !transports[o.transport] {
		return nil, fmt.Errorf("unknown transport %q; choose one of http, zmq, redis, grpc, celery", args[0])
	}
	fs := flag.NewFlagSet("bench-service", flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	fs.StringVar(&o.host, "host", "127.0.0.1", "")
	fs.IntVar(&o.port, "port", 0, "")
	fs.StringVar(&o.redisURL, "redis-url", "", "")
	fs.StringVar(&o.queue, "queue", "", "")
	fs.IntVar(&o.workers, "workers", 2, "")
	fs.IntVar(&o.expires, "result-expires", int(celery.ResultExpires/time.Second), "")
	fs.IntVar(&o.maxBody, "max-body-bytes", core.MaxBodyBytes, "")
	fs.IntVar(&o.maxTokens, "max-diff-tokens", core.MaxDiffTokens, "")
	fs.StringVar(&o.httpServer, "http-server", "gnet", "")
	if err := fs.Parse(args[1:]); err != nil {
		return nil, err
	}
	if fs.NArg() > 0 {
		return nil, fmt.Errorf("unexpected argument %q", fs.Arg(0))
	}
	for name, v := range map[string]int{"workers": o.workers, "result-expires": o.expires,
		"max-body-bytes": o.maxBody, "max-diff-tokens": o.maxTokens} {
		if v < 1 {
			return nil, fmt.Errorf("--%s expects a positive integer, got %d", name, v)
		}
	}
	switch o.transport {
	case "http", "zmq", "grpc":
		if o.port < 1 || o.port > 65535 {
			return nil, fmt.Errorf("%s needs --port between 1 and 65535, e.g. --port 8080", o.transport)
		}
	default:
		if o.redisURL == "" {
			return nil, fmt.Errorf("%s needs --redis-url, e.g. --redis-url redis://127.0.0.1:6379/0", o.transport)
		}
		if o.queue == "" {
			example := "bench:go"
			if o.transport == "celery" {
				example = "bench.go"
			}
			return nil, fmt.Errorf("%s needs --queue, e.g. --queue %s", o.transport, example)
		}
	}
	if !slices.Contains(httpsrv.Servers, o.httpServer) {
		return nil, fmt.Errorf("unknown --http-server %q; choose one of %s", o.httpServer, strings.Join(httpsrv.Servers, ", "))
	}
	return o, nil
}

func main() {
	slog.SetDefault(slog.New(slog.NewTextHandler(os.Stderr, nil)))
	o, err := parse(os.Args[1:])
	var settings core.Settings
	if err == nil {
		settings, err = core.SettingsFromEnv(o.maxBody, o.maxTokens)
	}
	if err != nil {
		fmt.Fprintf(os.Stderr, "error: %v\n%s\n", err, usage)
		os.Exit(2)
	}
	svc := core.NewService(settings)
	attrs := []any{"transport", o.transport, "pid", os.Getpid(), "runtime", core.Runtime(),
		"gomaxprocs", runtime.GOMAXPROCS(0), "gogc", os.Getenv("GOGC"), "max_body_bytes", settings.MaxBodyBytes,
		"max_diff_tokens", settings.MaxDiffTokens, "test_hooks", settings.TestHooks, "extra_work_us", settings.ExtraWorkUs}
	if o.transport == "redis" || o.transport == "celery" {
		attrs = append(attrs, "redis_url", o.redisURL, "queue", o.queue, "workers", o.workers)
	} else {
		attrs = append(attrs, "host", o.host, "port", o.port)
	}
	if o.transport == "http" {
		attrs = append(attrs, "http_server", o.httpServer)
	}
	slog.Info("starting", attrs...)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	if err := serve(ctx, o, svc); err != nil {
		fmt.Fprintf(os.Stderr, "error: cannot serve %s: %v\n", o.transport, err)
		os.Exit(1)
	}
	slog.Info("stopped", "transport", o.transport)
}

func listen(o *options) (net.Listener, error) {
	addr := net.JoinHostPort(o.host, strconv.Itoa(o.port))
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		return nil, fmt.Errorf("cannot listen on %s: %w; is the port in use by another program?", addr, err)
	}
	return ln, nil
}

func serve(ctx context.Context, o *options, svc *core.Service) error {
	switch o.transport {
	case "http":
		srv, err := httpsrv.New(o.httpServer, svc)
		if err != nil {
			return err
		}
		ln, err := listen(o)
		if err != nil {
			return err
		}
		slog.Info("http listening", "addr", ln.Addr().String(), "server", o.httpServer)
		return srv.Serve(ctx, ln)
	case "grpc":
		ln, err := listen(o)
		if err != nil {
			return err
		}
		return grpcsrv.Serve(ctx, svc, ln)
	case "zmq":
		return zmqsrv.Serve(ctx, svc, o.host, o.port)
	case "redis", "celery":
		var c *redisq.Consumer
		var err error
		if o.transport == "redis" {
			c, err = redisq.NewConsumer(o.redisURL, o.queue, o.workers, nil)
			if err == nil {
				c.SetHandler(redisq.QueueHandler(svc, c.Dead))
			}
		} else {
			c, err = redisq.NewConsumer(o.redisURL, o.queue, o.workers, nil)
			if err == nil {
				c.SetHandler(celery.Handler(svc, c.Dead, time.Duration(o.expires)*time.Second))
			}
		}
		if err != nil {
			return err
		}
		return c.Run(ctx)
	}
	return fmt.Errorf("unknown transport %q", o.transport)
}
