package client

import (
	"bytes"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"syscall"
	"testing"
	"time"

	"interopbench/go/internal/caller"
)

// Each client against the harness's floor responders (harness/floor/responders.py) and a real
// redis-server: right replies, and errors that say what happened when nobody answers.

func repoRoot(t *testing.T) (root, python string) {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	for dir := filepath.Dir(file); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "harness", "floor", "responders.py")); err == nil {
			for _, p := range []string{filepath.Join(dir, ".venv/bin/python"), "/work/main/.venv/bin/python"} {
				if _, err := os.Stat(p); err == nil {
					return dir, p
				}
			}
		}
	}
	t.Skip("not inside the repository with its .venv (make setup)")
	return "", ""
}

func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// start runs a server process for the test's lifetime, in its own process group.
func start(t *testing.T, name string, args ...string) {
	t.Helper()
	cmd := exec.Command(name, args...)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	var log bytes.Buffer
	cmd.Stdout, cmd.Stderr = &log, &log
	if err := cmd.Start(); err != nil {
		t.Skipf("%s: %v", name, err)
	}
	t.Cleanup(func() {
		_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGTERM)
		done := make(chan struct{})
		go func() { _ = cmd.Wait(); close(done) }()
		select {
		case <-done:
		case <-time.After(5 * time.Second):
			_ = syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL)
			<-done
		}
		if t.Failed() {
			t.Logf("%s log:\n%s", name, log.String())
		}
	})
}

func waitPort(t *testing.T, port int) {
	t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), 200*time.Millisecond)
		if err == nil {
			c.Close()
			return
		}
		time.Sleep(50 * time.Millisecond)
	}
	t.Fatalf("nothing listens on port %d after 20 s", port)
}

func cfgFor(target caller.Target, body []byte, timeoutS float64) *caller.Config {
	return &caller.Config{Name: "t", TimeoutS: timeoutS, Target: target,
		Request: caller.Request{Op: "echo", Body: body}}
}

func callRight(t *testing.T, c caller.Client, cfg *caller.Config, n int) {
	t.Helper()
	check := caller.NewCheck(cfg.Request)
	for i := 0; i < n; i++ {
		r, err := c.Call()
		if err != nil {
			t.Fatalf("call %d: %v", i, err)
		}
		if w := check.Wrong(&r); w != "" {
			t.Fatalf("call %d: %s", i, w)
		}
	}
}

func redisServer(t *testing.T) string {
	t.Helper()
	if _, err := exec.LookPath("redis-server"); err != nil {
		t.Skip("no redis-server (Debian redis-server)")
	}
	port := freePort(t)
	start(t, "redis-server", "--port", fmt.Sprint(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no")
	waitPort(t, port)
	return fmt.Sprintf("redis://127.0.0.1:%d/0", port)
}

func TestAgainstTheFloorResponders(t *testing.T) {
	root, py := repoRoot(t)
	responders := filepath.Join(root, "harness", "floor", "responders.py")
	body := bytes.Repeat([]byte("0123456789abcdef"), 4)
	big := bytes.Repeat([]byte("xyz"), 100_000) // 300 kB: many reads
	for _, transport := range []string{"http", "zmq", "zmq-libzmq"} {
		t.Run(transport, func(t *testing.T) {
			if transport == "zmq-libzmq" {
				t.Setenv("BENCH_GO_ZMQ", "libzmq")
				transport = "zmq"
			}
			port := freePort(t)
			start(t, py, responders, transport, "--host", "127.0.0.1", "--port", fmt.Sprint(port))
			waitPort(t, port)
			target := caller.Target{Service: "floor", Transport: transport, Host: "127.0.0.1", Port: port}
			for _, b := range [][]byte{body, big, {}} {
				cfg := cfgFor(target, b, 5)
				c := New(cfg, 1)
				callRight(t, c, cfg, 50)
				c.Close()
			}
		})
	}
	t.Run("redis", func(t *testing.T) {
		url := redisServer(t)
		start(t, py, responders, "redis", "--redis-url", url, "--queue", "bench:test")
		time.Sleep(500 * time.Millisecond) // the responder's BLMOVE loop starts
		cfg := cfgFor(caller.Target{Service: "floor", Transport: "redis", RedisURL: url, Queue: "bench:test"}, body, 5)
		c := New(cfg, 1)
		defer c.Close()
		callRight(t, c, cfg, 200)
	})
}

func TestNoReplyIsAnError(t *testing.T) {
	// a listener that accepts and never answers
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	go func() {
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			defer c.Close()
		}
	}()
	port := l.Addr().(*net.TCPAddr).Port
	closed := freePort(t)
	url := redisServer(t)
	for _, c := range []struct {
		name   string
		target caller.Target
		want   string
	}{
		{"http silent", caller.Target{Transport: "http", Host: "127.0.0.1", Port: port}, "i/o timeout"},
		{"http refused", caller.Target{Transport: "http", Host: "127.0.0.1", Port: closed}, "connection refused"},
		{"zmq refused", caller.Target{Transport: "zmq", Host: "127.0.0.1", Port: closed}, "connection refused"},
		{"zmq silent", caller.Target{Transport: "zmq", Host: "127.0.0.1", Port: port}, "greeting"},
		{"redis, no worker", caller.Target{Transport: "redis", RedisURL: url, Queue: "nobody"}, "no reply to echo"},
		{"redis bad url", caller.Target{Transport: "redis", RedisURL: "http://x", Queue: "q"}, "is not redis://"},
		{"celery, no worker", caller.Target{Transport: "celery", RedisURL: url, Queue: "bench.nobody"}, "no result for bench.echo"},
		{"grpc refused", caller.Target{Transport: "grpc", Host: "127.0.0.1", Port: closed}, "Unavailable"},
		{"unknown transport", caller.Target{Transport: "carrier-pigeon"}, "no client for transport"},
	} {
		t.Run(c.name, func(t *testing.T) {
			cfg := cfgFor(c.target, []byte("hi"), 0.3)
			cl := New(cfg, 1)
			defer cl.Close()
			t0 := time.Now()
			_, err := cl.Call()
			if err == nil || !strings.Contains(err.Error(), c.want) {
				t.Fatalf("error %v, want one saying %q", err, c.want)
			}
			if d := time.Since(t0); d > 3*time.Second {
				t.Fatalf("the call took %s with a 0.3 s timeout", d)
			}
		})
	}
}
