// svcload: a cheap load generator for measuring a service's CPU per request (not a caller:
// it does not speak LOADGEN.md). It drives one gRPC or ZeroMQ service with 64 B (or -size)
// echoes, closed loop (-users N, no wait) or open loop (-rate R req/s, constant), and reads the
// service's CPU (utime+stime of every thread, /proc/<pid>/task/*/stat) exactly at the start and
// end of each measured run. Per-thread figures show which threads the CPU went to (the JIT's
// compiler threads against the event loop). Build: go build -o svcload . (from this folder).
package main

import (
	"bytes"
	"context"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	zmq "github.com/pebbe/zmq4"
	"google.golang.org/grpc"
	"google.golang.org/grpc/credentials/insecure"
)

// rawCodec sends and receives a message's bytes as they are (the Blob is encoded by hand).
type rawCodec struct{}

func (rawCodec) Marshal(v any) ([]byte, error) { return *(v.(*[]byte)), nil }
func (rawCodec) Unmarshal(data []byte, v any) error {
	*(v.(*[]byte)) = append((*(v.(*[]byte)))[:0], data...)
	return nil
}
func (rawCodec) Name() string { return "proto" }

func blob(size int) []byte {
	data := bytes.Repeat([]byte("x"), size)
	msg := []byte{0x0a}
	n := uint64(size)
	for n >= 0x80 {
		msg = append(msg, byte(n)|0x80)
		n >>= 7
	}
	msg = append(msg, byte(n))
	return append(msg, data...)
}

type caller func(ctx context.Context) error

func grpcCallers(addr string, conns, users, size int) ([]caller, func(), error) {
	var cs []*grpc.ClientConn
	for i := 0; i < conns; i++ {
		c, err := grpc.NewClient(addr, grpc.WithTransportCredentials(insecure.NewCredentials()),
			grpc.WithDefaultCallOptions(grpc.ForceCodec(rawCodec{}), grpc.MaxCallRecvMsgSize(64<<20), grpc.MaxCallSendMsgSize(64<<20)))
		if err != nil {
			return nil, nil, err
		}
		cs = append(cs, c)
	}
	req := blob(size)
	var out []caller
	for u := 0; u < users; u++ {
		conn := cs[u%conns]
		var reply []byte
		out = append(out, func(ctx context.Context) error {
			if err := conn.Invoke(ctx, "/bench.v1.Bench/Echo", &req, &reply); err != nil {
				return err
			}
			if len(reply) != len(req) {
				return fmt.Errorf("reply of %d bytes, want %d", len(reply), len(req))
			}
			return nil
		})
	}
	return out, func() {
		for _, c := range cs {
			c.Close()
		}
	}, nil
}

func zmqCallers(addr string, users, size int) ([]caller, func(), error) {
	body := bytes.Repeat([]byte("x"), size)
	var socks []*zmq.Socket
	var out []caller
	for u := 0; u < users; u++ {
		s, err := zmq.NewSocket(zmq.DEALER)
		if err != nil {
			return nil, nil, err
		}
		s.SetLinger(0)
		if err := s.Connect("tcp://" + addr); err != nil {
			return nil, nil, err
		}
		socks = append(socks, s)
		out = append(out, func(ctx context.Context) error {
			if _, err := s.SendMessage("", "echo", body); err != nil {
				return err
			}
			parts, err := s.RecvMessageBytes(0)
			if err != nil {
				return err
			}
			if len(parts) != 3 || string(parts[1]) != "ok" || len(parts[2]) != size {
				return fmt.Errorf("bad reply: %d frames", len(parts))
			}
			return nil
		})
	}
	return out, func() {
		for _, s := range socks {
			s.Close()
		}
	}, nil
}

// threadCPU: ticks of utime+stime per thread name (threads of one name summed).
func threadCPU(pid int) (map[string]int64, int64) {
	out := map[string]int64{}
	var total int64
	dirs, _ := filepath.Glob(fmt.Sprintf("/proc/%d/task/*/stat", pid))
	for _, d := range dirs {
		b, err := os.ReadFile(d)
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		name := s[open+1 : close]
		f := strings.Fields(s[close+2:])
		u, _ := strconv.ParseInt(f[11], 10, 64)
		st, _ := strconv.ParseInt(f[12], 10, 64)
		out[name] += u + st
		total += u + st
	}
	return out, total
}

// procCPU: utime and stime of the whole process (all threads, live and dead) in ticks.
func procCPU(pid int) (int64, int64) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0, 0
	}
	s := string(b)
	f := strings.Fields(s[strings.LastIndexByte(s, ')')+2:])
	u, _ := strconv.ParseInt(f[11], 10, 64)
	st, _ := strconv.ParseInt(f[12], 10, 64)
	return u, st
}

type result struct {
	n, errs  int64
	lat      []time.Duration
	firstErr error
}

func run(callers []caller, rate float64, d time.Duration, record bool) result {
	ctx := context.Background()
	var n, errs atomic.Int64
	var mu sync.Mutex
	var lat []time.Duration
	var firstErr error
	stop := time.Now().Add(d)
	var wg sync.WaitGroup
	var due chan time.Time
	if rate > 0 {
		due = make(chan time.Time, 1<<16)
		go func() {
			start := time.Now()
			interval := time.Duration(float64(time.Second) / rate)
			for i := int64(0); ; i++ {
				t := start.Add(time.Duration(i) * interval)
				if t.After(stop) {
					close(due)
					return
				}
				if w := time.Until(t); w > 0 {
					time.Sleep(w)
				}
				due <- t
			}
		}()
	}
	for _, c := range callers {
		wg.Add(1)
		go func(c caller) {
			defer wg.Done()
			var mine []time.Duration
			for {
				var t0 time.Time
				if due != nil {
					t, ok := <-due
					if !ok {
						break
					}
					t0 = t
				} else {
					t0 = time.Now()
					if t0.After(stop) {
						break
					}
				}
				if err := c(ctx); err != nil {
					errs.Add(1)
					mu.Lock()
					if firstErr == nil {
						firstErr = err
					}
					mu.Unlock()
					continue
				}
				n.Add(1)
				if record {
					mine = append(mine, time.Since(t0))
				}
			}
			mu.Lock()
			lat = append(lat, mine...)
			mu.Unlock()
		}(c)
	}
	wg.Wait()
	return result{n.Load(), errs.Load(), lat, firstErr}
}

func pct(l []time.Duration, p float64) time.Duration {
	if len(l) == 0 {
		return 0
	}
	return l[int(float64(len(l)-1)*p)]
}

func main() {
	transport := flag.String("transport", "grpc", "grpc or zmq")
	addr := flag.String("addr", "", "host:port of the service")
	pid := flag.Int("pid", 0, "the service's process id (for its CPU)")
	users := flag.Int("users", 4, "concurrent requests")
	conns := flag.Int("conns", 1, "gRPC channels (users are spread over them)")
	size := flag.Int("size", 64, "echo body bytes")
	rate := flag.Float64("rate", 0, "open loop: requests/s (0: closed loop)")
	warm := flag.Duration("warmup", 20*time.Second, "unmeasured warm-up (closed loop, as fast as it goes)")
	dur := flag.Duration("duration", 5*time.Second, "measured seconds per run")
	reps := flag.Int("reps", 3, "measured runs")
	label := flag.String("label", "", "printed at the start of each line")
	threads := flag.Bool("threads", false, "print the CPU of each thread name per run")
	flag.Parse()
	if *addr == "" || *pid == 0 {
		fmt.Fprintln(os.Stderr, "svcload: give -addr host:port and -pid of the service")
		os.Exit(2)
	}
	var cs []caller
	var closeFn func()
	var err error
	if *transport == "grpc" {
		cs, closeFn, err = grpcCallers(*addr, *conns, *users, *size)
	} else {
		cs, closeFn, err = zmqCallers(*addr, *users, *size)
	}
	if err != nil {
		fmt.Fprintln(os.Stderr, "svcload:", err)
		os.Exit(1)
	}
	defer closeFn()
	if *warm > 0 {
		r := run(cs, 0, *warm, false)
		if r.errs > 0 {
			fmt.Fprintf(os.Stderr, "svcload: %d errors in the warm-up, first: %v\n", r.errs, r.firstErr)
			os.Exit(1)
		}
	}
	tick := 100.0 // USER_HZ
	for i := 0; i < *reps; i++ {
		t0, c0 := threadCPU(*pid)
		u0, s0 := procCPU(*pid)
		start := time.Now()
		r := run(cs, *rate, *dur, true)
		el := time.Since(start).Seconds()
		u1, s1 := procCPU(*pid)
		t1, _ := threadCPU(*pid)
		_ = c0
		sort.Slice(r.lat, func(a, b int) bool { return r.lat[a] < r.lat[b] })
		cpu := float64(u1-u0+s1-s0) / tick
		sys := float64(s1-s0) / tick
		fmt.Printf("%s transport=%s size=%d users=%d rate=%g run=%d req/s=%.0f cpu_us/req=%.1f (sys %.1f) p50_us=%d p99_us=%d errors=%d\n",
			*label, *transport, *size, *users, *rate, i+1, float64(r.n)/el, cpu*1e6/float64(r.n), sys*1e6/float64(r.n),
			pct(r.lat, 0.5).Microseconds(), pct(r.lat, 0.99).Microseconds(), r.errs)
		if *threads {
			var names []string
			for k := range t1 {
				names = append(names, k)
			}
			sort.Slice(names, func(a, b int) bool { return t1[names[a]]-t0[names[a]] > t1[names[b]]-t0[names[b]] })
			var parts []string
			for _, k := range names {
				if d := t1[k] - t0[k]; d > 0 {
					parts = append(parts, fmt.Sprintf("%s=%.1f", k, float64(d)*1e6/tick/float64(r.n)))
				}
			}
			fmt.Printf("    threads (us/req): %s\n", strings.Join(parts, " "))
		}
		if r.errs > 0 {
			fmt.Fprintf(os.Stderr, "svcload: first error: %v\n", r.firstErr)
		}
	}
}
