package caller

import (
	"errors"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"interopbench/go/internal/caller/hdr"
)

// fake answers every call after delay with reply, or err; stall: a call made in the first
// 100 ms of every 500 ms waits until that window ends (every user at once, like the stalling
// responder of tests/responders.py).
type fake struct {
	delay time.Duration
	stall bool
	reply Reply
	err   error
	n     *atomic.Int64
}

func (f fake) Call() (Reply, error) {
	f.n.Add(1)
	d := f.delay
	if in := time.Duration(Now() % int64(500*time.Millisecond)); f.stall && in < 100*time.Millisecond {
		d += 100*time.Millisecond - in
	}
	time.Sleep(d)
	return f.reply, f.err
}

func (f fake) Close() {}

func config(open bool, rate float64, measure float64) *Config {
	return &Config{Cell: "go.fake.http.echo-64B.r0", Name: "fake_http_echo_64B", Workers: 1, TimeoutS: 1,
		Target:  Target{Service: "fake", Transport: "http"},
		Request: Request{Op: "echo", Body: []byte("hello")},
		Plan: Plan{OpenLoop: open, Arrival: "constant", Seed: 1, Phases: []PhaseSpec{
			{Name: "warmup", DurationS: 0.1, Rate: rate}, {Name: "measure", DurationS: measure, Rate: rate, Measured: true}}}}
}

func runEngine(t *testing.T, cfg *Config, users int, client Client) []any {
	t.Helper()
	e := NewEngine(cfg, func(*Config, int) Client { return client })
	e.SetUsers(users)
	e.Start(Now() + int64(10*time.Millisecond))
	total := 0.0
	for _, p := range cfg.Plan.Phases {
		total += p.DurationS
	}
	time.Sleep(time.Duration((total + 0.02) * float64(time.Second)))
	e.Stop()
	if !e.Wait(Now() + int64(2*time.Second)) {
		t.Fatal("users still running 2 s after stop")
	}
	return e.Results()
}

func cell(t *testing.T, phases []any, i int) map[string]any {
	t.Helper()
	cells := phases[i].(map[string]any)["cells"].(map[string]any)
	c, ok := cells["fake_http_echo_64B"].(map[string]any)
	if !ok {
		t.Fatalf("phase %d has no cell: %v", i, cells)
	}
	return c
}

func TestClosedLoopCountsRightWrongAndErrors(t *testing.T) {
	for _, c := range []struct {
		name               string
		client             fake
		wrong, errs, right bool
	}{
		{"right", fake{reply: Reply{OK: true, Body: []byte("hello")}}, false, false, true},
		{"wrong body", fake{reply: Reply{OK: true, Body: []byte("hellO")}}, true, false, false},
		{"error status", fake{reply: Reply{OK: false, Status: "500", Body: []byte(`{"error":"internal"}`)}}, true, false, false},
		{"no reply", fake{err: errors.New("connection refused")}, false, true, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			c.client.delay = time.Millisecond
			c.client.n = &atomic.Int64{}
			phases := runEngine(t, config(false, 0, 0.3), 2, c.client)
			m := cell(t, phases, 1)
			req := m["requests"].(int64)
			if req < 20 { // about 300 on an idle machine; loaded, a 1 ms sleep takes longer
				t.Fatalf("%d requests in 0.3 s with 2 users of 1 ms", req)
			}
			if (m["wrong"].(int64) == req) != c.wrong || (m["errors"].(int64) == req) != c.errs {
				t.Fatalf("requests %d wrong %d errors %d", req, m["wrong"], m["errors"])
			}
			samples := m["error_samples"].([]any)
			if c.right != (len(samples) == 0) || len(samples) > 5 {
				t.Fatalf("samples %v", samples)
			}
			if m["histogram"] != m["histogram_uncorrected"] {
				t.Fatal("closed loop: the two histograms differ")
			}
			h, err := hdr.Decode(m["histogram"].(string))
			if err != nil || h.Count() != req {
				t.Fatalf("histogram of %d values for %d requests (%v)", h.Count(), req, err)
			}
			if p50 := h.ValueAtPercentile(50); p50 < 1000 || p50 > 100_000 {
				t.Fatalf("p50 %d µs for 1 ms calls", p50)
			}
			if phases[0].(map[string]any)["measured"] != false || phases[1].(map[string]any)["rate"] != nil {
				t.Fatalf("phase fields %v", phases)
			}
		})
	}
}

func TestOpenLoopCorrectsForStalls(t *testing.T) {
	// 200 req/s, 4 users, 1 ms calls and the stalls: slots fall due while every user is busy,
	// and their latency counts from the due time
	f := fake{delay: time.Millisecond, stall: true, reply: Reply{OK: true, Body: []byte("hello")}, n: &atomic.Int64{}}
	phases := runEngine(t, config(true, 200, 1), 4, f)
	p := phases[1].(map[string]any)
	m := cell(t, phases, 1)
	if p["queued"].(int64) == 0 || p["issued"].(int64) < 100 {
		t.Fatalf("issued %d queued %d", p["issued"], p["queued"])
	}
	corrected, _ := hdr.Decode(m["histogram"].(string))
	uncorrected, _ := hdr.Decode(m["histogram_uncorrected"].(string))
	if corrected.Count() != uncorrected.Count() || corrected.Count() != m["requests"].(int64) {
		t.Fatalf("counts %d %d %d", corrected.Count(), uncorrected.Count(), m["requests"])
	}
	if c, u := corrected.ValueAtPercentile(90), uncorrected.ValueAtPercentile(90); c <= u {
		t.Fatalf("corrected p90 %d µs not above uncorrected %d µs", c, u)
	}
	if p["wakeup_lag_us"].(map[string]any)["count"].(float64) == 0 {
		t.Fatal("no wake-up recorded")
	}
}

func TestAStoppedPlanCountsDroppedSlots(t *testing.T) {
	// one user, 100 ms calls, 200 req/s: most slots are never taken before stop
	f := fake{delay: 100 * time.Millisecond, reply: Reply{OK: true, Body: []byte("hello")}, n: &atomic.Int64{}}
	phases := runEngine(t, config(true, 200, 0.5), 1, f)
	p := phases[1].(map[string]any)
	if p["dropped"].(int64) < 30 {
		t.Fatalf("dropped %d", p["dropped"])
	}
}

func TestCheck(t *testing.T) {
	long := []byte(strings.Repeat("abcdefgh", 20)) // 160 bytes: compared in samples
	mid := append([]byte(nil), long...)
	mid[100] = 'X' // outside the three samples: accepted, as Python's check does
	first := append([]byte(nil), long...)
	first[0] = 'X'
	ops := []Opcode{{"equal", 0, 1, 0, 1}, {"insert", 1, 1, 1, 2}}
	for _, c := range []struct {
		name  string
		req   Request
		reply Reply
		ok    bool
	}{
		{"echo", Request{Op: "echo", Body: []byte("x")}, Reply{OK: true, Body: []byte("x")}, true},
		{"echo error status", Request{Op: "echo", Body: []byte("x")}, Reply{OK: false, Body: []byte("x")}, false},
		{"echo length", Request{Op: "echo", Body: []byte("x")}, Reply{OK: true, Body: []byte("xx")}, false},
		{"long echo", Request{Op: "echo", Body: long}, Reply{OK: true, Body: long}, true},
		{"long echo, middle differs", Request{Op: "echo", Body: long}, Reply{OK: true, Body: mid}, true},
		{"long echo, first byte differs", Request{Op: "echo", Body: long}, Reply{OK: true, Body: first}, false},
		{"diff json", Request{Op: "diff", Opcodes: ops},
			Reply{OK: true, Body: []byte(`{"opcodes": [["equal", 0, 1, 0, 1], ["insert", 1, 1, 1, 2]]}`)}, true},
		{"diff json differs", Request{Op: "diff", Opcodes: ops},
			Reply{OK: true, Body: []byte(`{"opcodes": [["equal", 0, 1, 0, 1]]}`)}, false},
		{"diff not json", Request{Op: "diff", Opcodes: ops}, Reply{OK: true, Body: []byte(`nope`)}, false},
		{"diff values", Request{Op: "diff", Opcodes: ops}, Reply{OK: true, HasOpcodes: true, Opcodes: ops}, true},
		{"diff values differ", Request{Op: "diff", Opcodes: ops}, Reply{OK: true, HasOpcodes: true, Opcodes: ops[:1]}, false},
	} {
		ch := NewCheck(c.req)
		for i := 0; i < 2; i++ { // the second time from the checker's memory of good bodies
			if got := ch.Wrong(&c.reply); (got == "") != c.ok {
				t.Errorf("%s (%d): %q", c.name, i, got)
			}
		}
	}
}
