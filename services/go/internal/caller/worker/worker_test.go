package worker

import (
	"context"
	"io"
	"log"
	"strconv"
	"strings"
	"testing"
	"time"

	zmq "github.com/pebbe/zmq4"

	"interopbench/go/internal/caller"
	"interopbench/go/internal/locust"
)

// A ROUTER playing Locust's master (the messages of locust/runners.py's MasterRunner, as
// contract/LOADGEN.md lists them) drives a real worker over ZeroMQ.

type master struct {
	t    *testing.T
	sock *zmq.Socket
	port int
	peer string
}

func newMaster(t *testing.T) *master {
	t.Helper()
	s, err := zmq.NewSocket(zmq.ROUTER)
	if err != nil {
		t.Fatal(err)
	}
	_ = s.SetLinger(0)
	_ = s.SetRcvtimeo(100 * time.Millisecond)
	if err := s.Bind("tcp://127.0.0.1:*"); err != nil {
		t.Fatal(err)
	}
	ep, _ := s.GetLastEndpoint()
	port, _ := strconv.Atoi(ep[strings.LastIndex(ep, ":")+1:])
	t.Cleanup(func() { s.Close() })
	return &master{t: t, sock: s, port: port}
}

// expect reads messages until one of type typ (heartbeats and stats are answered or skipped).
func (m *master) expect(typ string) locust.Message {
	m.t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for time.Now().Before(deadline) {
		frames, err := m.sock.RecvMessageBytes(0)
		if err != nil {
			continue
		}
		msg, err := locust.DecodeMessage(frames[1])
		if err != nil {
			m.t.Fatalf("the worker sent a frame that is not a Locust message: %v", err)
		}
		m.peer = string(frames[0])
		if msg.NodeID != m.peer {
			m.t.Fatalf("node id %q in the message, identity %q", msg.NodeID, m.peer)
		}
		if msg.Type == "heartbeat" {
			m.send("heartbeat", nil)
		}
		if msg.Type == typ {
			return msg
		}
	}
	m.t.Fatalf("no %s from the worker within 10 s", typ)
	return locust.Message{}
}

func (m *master) send(typ string, data any) {
	m.t.Helper()
	frame, err := locust.EncodeMessage(locust.Message{Type: typ, Data: data, NodeID: "master"})
	if err != nil {
		m.t.Fatal(err)
	}
	if _, err := m.sock.SendMessage(m.peer, frame); err != nil {
		m.t.Fatal(err)
	}
}

// join answers the worker's client_ready with ack and waits for its bench_hello.
func (m *master) join() {
	m.t.Helper()
	m.expect("client_ready")
	m.send("ack", map[string]any{"index": int64(0)})
	m.expect("bench_hello")
}

type right struct{ body []byte }

func (r right) Call() (caller.Reply, error) {
	time.Sleep(time.Millisecond)
	return caller.Reply{OK: true, Body: r.body}, nil
}
func (right) Close() {}

func run(t *testing.T, m *master, timeout time.Duration) chan error {
	done := make(chan error, 1)
	go func() {
		done <- Run(context.Background(), Options{MasterHost: "127.0.0.1", MasterPort: m.port, MasterTimeout: timeout,
			Caller: "go", Log: log.New(io.Discard, "", 0),
			NewClient: func(cfg *caller.Config, _ int) caller.Client { return right{cfg.Request.Body} }})
	}()
	return done
}

func configData(protocol int64) map[string]any {
	return map[string]any{"protocol": protocol, "cell": "go.x.http.echo-64B.r0", "name": "x_http_echo_64B",
		"index": int64(0), "workers": int64(1), "timeout_s": 2.0,
		"target":  map[string]any{"service": "x", "transport": "http", "host": "127.0.0.1", "port": int64(9)},
		"request": map[string]any{"op": "echo", "body": []byte("hello"), "expect": nil, "opcodes": nil},
		"plan": map[string]any{"phases": []any{
			map[string]any{"name": "warmup", "duration_s": 0.1, "rate": nil, "measured": false},
			map[string]any{"name": "measure", "duration_s": 0.4, "rate": nil, "measured": true}},
			"open_loop": false, "arrival": "constant", "seed": int64(1), "slo": nil}}
}

func TestAWholeTestThenQuit(t *testing.T) {
	m := newMaster(t)
	done := run(t, m, 10*time.Second)
	if v := m.expect("client_ready").Data; v != locust.Version {
		t.Fatalf("client_ready %v", v)
	}
	m.send("ack", map[string]any{"index": int64(0)})
	hello := m.expect("bench_hello").Data.(map[string]any)
	if hello["protocol"] != int64(1) || hello["caller"] != "go" {
		t.Fatalf("bench_hello %v", hello)
	}
	// spawn and bench_start before bench_config: kept until it comes
	m.send("spawn", map[string]any{"timestamp": 1.0, "user_classes_count": map[string]any{"BenchCell": int64(2)},
		"host": "", "stop_timeout": int64(0), "parsed_options": map[string]any{}})
	m.expect("spawning")
	m.send("bench_start", map[string]any{"start_wall": float64(time.Now().UnixNano())/1e9 + 0.1})
	m.send("bench_config", configData(1))
	done2 := m.expect("spawning_complete").Data.(map[string]any)
	if done2["user_count"] != int64(2) {
		t.Fatalf("spawning_complete %v", done2)
	}
	time.Sleep(700 * time.Millisecond)
	m.send("stop", nil)
	res := m.expect("bench_results").Data.(map[string]any)
	phases := res["phases"].([]any)
	if len(phases) != 2 || res["caller"] != "go" || res["protocol"] != int64(1) {
		t.Fatalf("bench_results %v", res)
	}
	cell := phases[1].(map[string]any)["cells"].(map[string]any)["x_http_echo_64B"].(map[string]any)
	if n := cell["requests"].(int64); n < 100 || cell["wrong"] != int64(0) {
		t.Fatalf("measured cell %v", cell)
	}
	m.expect("client_stopped")
	m.expect("client_ready")
	m.send("quit", nil)
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("quit: %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker did not exit 5 s after quit")
	}
}

func TestASilentMasterEndsTheWorker(t *testing.T) {
	m := newMaster(t)
	done := run(t, m, 500*time.Millisecond)
	m.expect("client_ready")
	m.send("ack", map[string]any{"index": int64(0)})
	m.expect("bench_hello") // and nothing more from the master
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "silent") {
			t.Fatalf("exit %v", err)
		}
	case <-time.After(5 * time.Second):
		t.Fatal("the worker ran on 5 s after its master fell silent")
	}
}

func TestAnotherProtocolIsRefused(t *testing.T) {
	m := newMaster(t)
	done := run(t, m, 10*time.Second)
	m.join()
	m.send("bench_config", configData(2))
	exc := m.expect("exception").Data.(map[string]any)
	if !strings.Contains(exc["msg"].(string), "protocol 2; this caller speaks protocol 1") {
		t.Fatalf("exception %v", exc)
	}
	if err := <-done; err == nil {
		t.Fatal("the worker went on with a config of another protocol")
	}
}

// The master answers every bench_hello with a bench_config, so a repeat can come after
// bench_start and before spawn (seen on a loaded machine): the started test must keep its plan.
func TestARepeatedConfigAfterTheStartIsIgnored(t *testing.T) {
	m := newMaster(t)
	done := run(t, m, 10*time.Second)
	m.join()
	m.send("bench_config", configData(1))
	m.send("bench_start", map[string]any{"start_wall": float64(time.Now().UnixNano())/1e9 + 0.1})
	m.send("bench_config", configData(1))
	m.send("spawn", map[string]any{"timestamp": 1.0, "user_classes_count": map[string]any{"BenchCell": int64(2)},
		"host": "", "stop_timeout": int64(0), "parsed_options": map[string]any{}})
	m.expect("spawning_complete")
	time.Sleep(700 * time.Millisecond)
	m.send("stop", nil)
	res := m.expect("bench_results").Data.(map[string]any)
	cells := res["phases"].([]any)[1].(map[string]any)["cells"].(map[string]any)
	cell, ok := cells["x_http_echo_64B"].(map[string]any)
	if !ok || cell["requests"].(int64) < 100 {
		t.Fatalf("the measured phase after a repeated bench_config: %v", cells)
	}
	m.send("quit", nil)
	if err := <-done; err != nil {
		t.Fatalf("quit: %v", err)
	}
}
