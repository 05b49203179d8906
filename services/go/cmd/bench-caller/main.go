// Command bench-caller is Go as the calling side of interop-bench: a Locust worker
// (contract/LOADGEN.md) that joins the harness's Locust master and calls the cell's service
// over http, zmq, redis, grpc or celery with Go's clients.
//
//	bench-caller --master-host 127.0.0.1 --master-port 5557
//
// Environment: BENCH_MASTER_TIMEOUT_S (default 10): exit non-zero after that long without a
// word from the master; BENCH_CALLER_CPU=1: report this process's CPU seconds at each phase
// boundary in bench_results (for hosts the harness cannot sample); BENCH_GO_HTTP=nethttp: the
// http client on net/http instead of the raw keep-alive client (CALLER.md compares them);
// BENCH_GO_CPUPROFILE=PREFIX: write a pprof CPU profile of the whole run to PREFIX.<pid>.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"runtime/pprof"
	"strconv"
	"syscall"
	"time"

	"interopbench/go/internal/caller/client"
	"interopbench/go/internal/caller/worker"
)

func main() {
	os.Exit(run())
}

func run() int {
	fs := flag.NewFlagSet("bench-caller", flag.ContinueOnError)
	host := fs.String("master-host", "127.0.0.1", "the Locust master's address (its --master-bind-host)")
	port := fs.Int("master-port", 5557, "the Locust master's port (its --master-bind-port)")
	name := fs.String("caller", "go", "the caller's name in bench_hello and bench_results")
	if err := fs.Parse(os.Args[1:]); err != nil {
		return 2
	}
	if fs.NArg() > 0 {
		fmt.Fprintf(os.Stderr, "bench-caller: unexpected arguments %q; it takes --master-host and --master-port\n",
			fs.Args())
		return 2
	}
	timeout := 10 * time.Second
	if v := os.Getenv("BENCH_MASTER_TIMEOUT_S"); v != "" {
		s, err := strconv.ParseFloat(v, 64)
		if err != nil || s <= 0 {
			fmt.Fprintf(os.Stderr, "bench-caller: BENCH_MASTER_TIMEOUT_S=%q is not a number of seconds > 0\n", v)
			return 2
		}
		timeout = time.Duration(s * float64(time.Second))
	}
	if prefix := os.Getenv("BENCH_GO_CPUPROFILE"); prefix != "" {
		f, err := os.Create(fmt.Sprintf("%s.%d", prefix, os.Getpid()))
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench-caller: BENCH_GO_CPUPROFILE: %v\n", err)
			return 2
		}
		defer f.Close()
		if err := pprof.StartCPUProfile(f); err != nil {
			fmt.Fprintf(os.Stderr, "bench-caller: BENCH_GO_CPUPROFILE: %v\n", err)
			return 2
		}
		defer pprof.StopCPUProfile()
	}
	logger := log.New(os.Stderr, "bench-caller: ", log.LstdFlags|log.Lmicroseconds)
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	err := worker.Run(ctx, worker.Options{MasterHost: *host, MasterPort: *port, MasterTimeout: timeout,
		Caller: *name, NewClient: client.New, SampleCPU: os.Getenv("BENCH_CALLER_CPU") == "1", Log: logger})
	if err != nil {
		fmt.Fprintf(os.Stderr, "bench-caller: %v\n", err)
		return 1
	}
	return 0
}
