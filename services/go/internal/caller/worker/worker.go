// Package worker is the Go caller as a Locust worker (contract/LOADGEN.md): it joins the
// master over Locust's channel, answers its messages in any order, sends heartbeats (1 s),
// bench_hello (0.5 s until the config came) and stats (3 s), and runs each test's users in a
// caller.Engine. One goroutine owns the channel; the users run in their own goroutines.
package worker

import (
	"context"
	"errors"
	"fmt"
	"log"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"interopbench/go/internal/caller"
	"interopbench/go/internal/locust"
)

// UserClass is the one user class a worker runs; Locust's spawn counts users of it.
const UserClass = "BenchCell"

const (
	heartbeatEvery  = time.Second
	helloEvery      = 500 * time.Millisecond
	statsEvery      = 3 * time.Second
	readyRetryEvery = time.Second // client_ready again until ack (a ROUTER may drop a reconnecting peer's first)
	// firstContact: how long the master may take to answer at all. The harness starts the
	// master and the caller together, and waits 60 s for bench_hello; a loaded machine can
	// take longer than BENCH_MASTER_TIMEOUT_S to start Locust's master.
	firstContact = 60 * time.Second
)

// Options configure a worker.
type Options struct {
	MasterHost    string
	MasterPort    int
	MasterTimeout time.Duration // silence of the master after which the worker gives up
	Caller        string        // the caller's name in bench_hello and bench_results
	NewClient     caller.NewClient
	SampleCPU     bool // BENCH_CALLER_CPU=1: own CPU seconds at each phase boundary in bench_results
	Log           *log.Logger
}

// Worker is one Locust worker process's state.
type Worker struct {
	o       Options
	ch      *locust.Channel
	log     *log.Logger
	backlog []locust.Message

	lastHeard, nextHeartbeat, nextHello, nextStats, nextReady time.Time
	acked, everHeard                                          bool
	state                                                     string
	cfg                                                       *caller.Config
	engine                                                    *caller.Engine
	pendingStart                                              *int64
	pendingUsers                                              int // -1: none
	lastSpawnTS                                               float64

	stopping     bool
	stopDone     <-chan struct{}
	stopDeadline time.Time

	cpu       *cpuMeter
	cpuSample chan []float64
	cpuCancel context.CancelFunc
}

// ErrQuit is Run's result after the master's quit.
var ErrQuit = errors.New("quit")

// Run serves the master until quit (nil), ctx's end (SIGTERM: nil) or a fatal error.
func Run(ctx context.Context, o Options) error {
	w := &Worker{o: o, log: o.Log, state: "ready", pendingUsers: -1, lastSpawnTS: -1, cpu: newCPUMeter()}
	ch, err := locust.Dial(o.MasterHost, o.MasterPort, locust.NodeID())
	if err != nil {
		return err
	}
	w.ch = ch
	defer ch.Close()
	w.lastHeard = time.Now()
	w.sendReady()
	for {
		if ctx.Err() != nil {
			w.log.Printf("signalled: stopping the users and leaving the master")
			w.stopEngine()
			_ = w.ch.Send("quit", nil)
			return nil
		}
		var m locust.Message
		var got bool
		if !w.stopping && len(w.backlog) > 0 {
			m, w.backlog, got = w.backlog[0], w.backlog[1:], true
		} else {
			m, err = w.ch.Recv()
			switch {
			case err == nil:
				w.lastHeard = time.Now()
				w.everHeard = true
				got = true
			case errors.Is(err, locust.ErrNoMessage):
			default:
				w.log.Printf("ignored a frame from the master: %v", err)
				w.lastHeard = time.Now()
			}
		}
		if got {
			if w.stopping && m.Type != "heartbeat" && m.Type != "ack" && m.Type != "quit" {
				w.backlog = append(w.backlog, m)
			} else if err := w.handle(m); err != nil {
				if errors.Is(err, ErrQuit) {
					return nil
				}
				return err
			}
		}
		if err := w.timers(); err != nil {
			return err
		}
		if w.stopping {
			select {
			case <-w.stopDone:
				w.finishStop()
			default:
				if time.Now().After(w.stopDeadline) {
					w.log.Printf("some users were still in a request %.0f s after stop", w.cfg.TimeoutS+1)
					w.finishStop()
				}
			}
		}
	}
}

func (w *Worker) send(typ string, data any) {
	if err := w.ch.Send(typ, data); err != nil {
		w.log.Printf("could not send %s to the master: %v", typ, err)
	}
}

func (w *Worker) sendReady() {
	w.send("client_ready", locust.Version)
	now := time.Now()
	w.nextReady = now.Add(readyRetryEvery)
	w.nextHeartbeat = now.Add(heartbeatEvery)
	w.nextStats = now.Add(statsEvery)
}

func (w *Worker) timers() error {
	now := time.Now()
	if !w.everHeard && now.Sub(w.lastHeard) > max(firstContact, w.o.MasterTimeout) {
		return fmt.Errorf("no Locust master answered at %s within %s; start the master first (locust --master "+
			"--master-bind-host %s --master-bind-port %d) or fix --master-host/--master-port", w.ch.Endpoint,
			max(firstContact, w.o.MasterTimeout), w.o.MasterHost, w.o.MasterPort)
	}
	if w.everHeard && now.Sub(w.lastHeard) > w.o.MasterTimeout {
		w.stopEngine()
		return fmt.Errorf("the Locust master at %s was silent for more than %s (BENCH_MASTER_TIMEOUT_S); "+
			"giving up (is the master running? it answers every heartbeat)", w.ch.Endpoint, w.o.MasterTimeout)
	}
	if !now.Before(w.nextHeartbeat) {
		w.nextHeartbeat = now.Add(heartbeatEvery)
		state := w.state
		if w.stopping {
			state = "stopping"
		}
		w.send("heartbeat", map[string]any{"state": state, "current_cpu_usage": w.cpu.percent(),
			"current_memory_usage": rssBytes()})
	}
	if !w.acked && !now.Before(w.nextReady) {
		w.send("client_ready", locust.Version)
		w.nextReady = now.Add(readyRetryEvery)
	}
	if w.acked && w.cfg == nil && !now.Before(w.nextHello) {
		w.nextHello = now.Add(helloEvery)
		w.send("bench_hello", map[string]any{"protocol": int64(caller.Protocol), "caller": w.o.Caller,
			"pid": int64(os.Getpid())})
	}
	if !now.Before(w.nextStats) {
		w.nextStats = now.Add(statsEvery)
		w.sendStats()
	}
	return nil
}

func (w *Worker) sendStats() {
	if w.engine != nil {
		w.send("stats", w.engine.UIReport(UserClass))
		return
	}
	w.send("stats", locust.Report(nil, "", "", 0, UserClass))
}

func (w *Worker) handle(m locust.Message) error {
	switch m.Type {
	case "ack":
		if !w.acked {
			idx := ""
			if d, ok := m.Data.(map[string]any); ok {
				idx = fmt.Sprintf(" (index %v)", d["index"])
			}
			w.log.Printf("the master acknowledged node %s%s", w.ch.NodeID, idx)
		}
		w.acked = true
		w.nextHello = time.Now()
	case "heartbeat", "spawning_complete":
	case "bench_config":
		return w.onConfig(m.Data)
	case "bench_start":
		w.onStart(m.Data)
	case "spawn":
		w.onSpawn(m.Data)
	case "stop":
		w.onStop()
	case "quit":
		w.log.Printf("quit from the master: exiting")
		w.stopEngine()
		return ErrQuit
	case "reconnect":
		w.log.Printf("reconnect from the master: replacing the connection")
		if err := w.ch.Reconnect(); err != nil {
			return fmt.Errorf("could not reconnect to the Locust master at %s: %w", w.ch.Endpoint, err)
		}
		w.lastHeard = time.Now()
		w.acked = false
		w.sendReady()
	default:
		w.log.Printf("ignored a %q message from the master", m.Type)
	}
	return nil
}

func (w *Worker) onConfig(data any) error {
	if p := caller.ProtocolOf(data); p != caller.Protocol {
		msg := fmt.Sprintf("bench_config has protocol %d; this caller speaks protocol %d (contract/LOADGEN.md)",
			p, caller.Protocol)
		w.send("exception", map[string]any{"msg": msg, "traceback": ""})
		return errors.New(msg)
	}
	c, err := caller.ParseConfig(data)
	if err != nil {
		msg := "bench_config refused: " + err.Error()
		w.send("exception", map[string]any{"msg": msg, "traceback": ""})
		return errors.New(msg)
	}
	if w.engine != nil && (w.engine.UserCount() > 0 || w.engine.Started()) {
		// The master answers every bench_hello, so a hello sent before the first config came
		// brings a second one, which may arrive after bench_start: the started test keeps its engine.
		w.log.Printf("bench_config once the test has started: ignored (the cell changes only between tests)")
		return nil
	}
	w.cfg = c
	w.log.Printf("bench_config: %s", c)
	w.engine = caller.NewEngine(c, w.o.NewClient)
	if w.pendingStart != nil {
		w.startEngine(*w.pendingStart)
		w.pendingStart = nil
	}
	if w.pendingUsers >= 0 {
		w.spawn(w.pendingUsers)
		w.pendingUsers = -1
	}
	return nil
}

func (w *Worker) onStart(data any) {
	d, _ := data.(map[string]any)
	var wall float64
	switch v := d["start_wall"].(type) {
	case float64:
		wall = v
	case int64:
		wall = float64(v)
	default:
		w.log.Printf("bench_start without a numeric start_wall: ignored")
		return
	}
	start := caller.MonoFromWall(wall) // the master's Unix time, once, to this process's monotonic clock
	w.log.Printf("bench_start: the plan starts in %d ms", (start-caller.Now())/1e6)
	if w.engine == nil {
		w.pendingStart = &start
		return
	}
	w.startEngine(start)
}

func (w *Worker) startEngine(start int64) {
	w.engine.Start(start)
	if w.o.SampleCPU {
		w.sampleCPUAt(w.engine.PhaseBounds())
	}
}

// sampleCPUAt records this process's CPU seconds at each bound (LOADGEN.md `cpu`, for
// generators on hosts the harness cannot sample).
func (w *Worker) sampleCPUAt(bounds []int64) {
	if w.cpuCancel != nil {
		w.cpuCancel()
	}
	ctx, cancel := context.WithCancel(context.Background())
	w.cpuCancel = cancel
	out := make(chan []float64, 1)
	w.cpuSample = out
	go func() {
		var got []float64
		defer func() { out <- got }()
		for _, b := range bounds {
			t := time.NewTimer(time.Duration(b - caller.Now()))
			select {
			case <-t.C:
			case <-ctx.Done():
				t.Stop()
				return
			}
			got = append(got, cpuSeconds())
		}
	}()
}

func (w *Worker) onSpawn(data any) {
	w.send("spawning", nil)
	job, _ := data.(map[string]any)
	counts, ok := job["user_classes_count"].(map[string]any)
	if !ok {
		w.log.Printf("spawn without user_classes_count: ignored")
		return
	}
	if ts, ok := job["timestamp"].(float64); ok {
		if ts <= w.lastSpawnTS {
			w.log.Printf("discarded a spawn message older than the previous one")
			return
		}
		w.lastSpawnTS = ts
	}
	n := 0
	for _, v := range counts {
		if c, ok := v.(int64); ok {
			n += int(c)
		}
	}
	w.state = "spawning"
	if w.engine == nil {
		w.pendingUsers = n
		return
	}
	w.spawn(n)
}

func (w *Worker) spawn(n int) {
	w.engine.SetUsers(n)
	w.send("spawning_complete", map[string]any{"user_classes_count": map[string]int64{UserClass: int64(n)},
		"user_count": int64(n)})
	w.state = "running"
	w.log.Printf("%d user(s) running", n)
}

func (w *Worker) onStop() {
	w.log.Printf("stop from the master")
	w.pendingUsers = -1
	if w.engine == nil {
		w.afterStop()
		return
	}
	w.engine.Stop()
	w.stopping = true
	w.stopDone = w.engine.Done()
	w.stopDeadline = time.Now().Add(time.Duration((w.cfg.TimeoutS + 1) * float64(time.Second)))
}

// finishStop: every user ended (or the deadline passed): results, then client_stopped and client_ready.
func (w *Worker) finishStop() {
	w.stopping = false
	w.sendStats()
	w.send("bench_results", w.results())
	w.engine = caller.NewEngine(w.cfg, w.o.NewClient)
	w.afterStop()
}

func (w *Worker) afterStop() {
	w.pendingStart = nil
	w.lastSpawnTS = -1
	w.send("client_stopped", nil)
	w.send("client_ready", locust.Version)
	w.state = "ready"
}

func (w *Worker) results() map[string]any {
	cpu := []any{}
	if w.cpuSample != nil {
		if w.cpuCancel != nil {
			w.cpuCancel()
		}
		for _, s := range <-w.cpuSample {
			cpu = append(cpu, s)
		}
		w.cpuSample, w.cpuCancel = nil, nil
	}
	return map[string]any{"index": int64(w.cfg.Index), "caller": w.o.Caller, "protocol": int64(caller.Protocol),
		"stopped_early": nil, "phases": w.engine.Results(), "cpu": cpu}
}

func (w *Worker) stopEngine() {
	if w.engine != nil {
		w.engine.Stop()
	}
}

// cpuSeconds is this process's CPU time (all threads), user + system.
func cpuSeconds() float64 {
	var ru syscall.Rusage
	if err := syscall.Getrusage(syscall.RUSAGE_SELF, &ru); err != nil {
		return 0
	}
	return float64(ru.Utime.Nano()+ru.Stime.Nano()) / 1e9
}

type cpuMeter struct {
	lastCPU  float64
	lastWall time.Time
}

func newCPUMeter() *cpuMeter { return &cpuMeter{lastCPU: cpuSeconds(), lastWall: time.Now()} }

// percent is the CPU used since the last call, in percent of one core (Locust's current_cpu_usage).
func (m *cpuMeter) percent() float64 {
	c, now := cpuSeconds(), time.Now()
	wall := now.Sub(m.lastWall).Seconds()
	pct := 0.0
	if wall > 0 {
		pct = 100 * (c - m.lastCPU) / wall
	}
	m.lastCPU, m.lastWall = c, now
	return float64(int64(pct*10+0.5)) / 10
}

// rssBytes is the resident memory (Locust's worker reports psutil's rss).
func rssBytes() int64 {
	b, err := os.ReadFile("/proc/self/statm")
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pages, _ := strconv.ParseInt(f[1], 10, 64)
	return pages * int64(os.Getpagesize())
}
