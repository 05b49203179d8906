package locust

import (
	"bytes"
	"encoding/hex"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"reflect"
	"runtime"
	"strings"
	"testing"
)

func TestRoundTrips(t *testing.T) {
	cases := []struct {
		name string
		in   any
		out  any // what Decode gives back (ints widen to int64, typed maps to map[string]any)
	}{
		{"nil", nil, nil},
		{"true", true, true},
		{"false", false, false},
		{"fixint", 7, int64(7)},
		{"negative fixint", -32, int64(-32)},
		{"int8", -33, int64(-33)},
		{"uint8", 200, int64(200)},
		{"uint16", 65535, int64(65535)},
		{"int16", -32768, int64(-32768)},
		{"uint32", int64(1) << 31, int64(1) << 31},
		{"int32", int64(math.MinInt32), int64(math.MinInt32)},
		{"int64", int64(math.MinInt64), int64(math.MinInt64)},
		{"uint64", uint64(math.MaxUint64), uint64(math.MaxUint64)},
		{"float", 1.5, 1.5},
		{"inf", math.Inf(1), math.Inf(1)},
		{"empty str", "", ""},
		{"str 31", strings.Repeat("a", 31), strings.Repeat("a", 31)},
		{"str 32", strings.Repeat("b", 32), strings.Repeat("b", 32)},
		{"str 256", strings.Repeat("c", 256), strings.Repeat("c", 256)},
		{"str 70000", strings.Repeat("d", 70000), strings.Repeat("d", 70000)},
		{"utf-8", "é€😀", "é€😀"},
		{"bin", []byte{0, 1, 255}, []byte{0, 1, 255}},
		{"bin 300", bytes.Repeat([]byte{9}, 300), bytes.Repeat([]byte{9}, 300)},
		{"bin 70000", bytes.Repeat([]byte{8}, 70000), bytes.Repeat([]byte{8}, 70000)},
		{"array", []any{1, "x", nil}, []any{int64(1), "x", nil}},
		{"array 16", make([]any, 16), make([]any, 16)},
		{"strings", []string{"a", "b"}, []any{"a", "b"}},
		{"map", map[string]any{"a": 1, "b": []any{}}, map[string]any{"a": int64(1), "b": []any{}}},
		{"int keys", map[int64]int64{3: 4, 1: 2}, map[any]any{int64(1): int64(2), int64(3): int64(4)}},
		{"str->int", map[string]int64{"BenchCell": 3}, map[string]any{"BenchCell": int64(3)}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			b, err := Encode(nil, c.in)
			if err != nil {
				t.Fatal(err)
			}
			got, err := Decode(b)
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, c.out) {
				t.Fatalf("round trip of %v: got %#v", c.in, got)
			}
		})
	}
}

func TestDecodeRefusesBadInput(t *testing.T) {
	for name, in := range map[string][]byte{
		"empty":          {},
		"truncated str":  {0xa5, 'a'},
		"truncated arr":  {0x92, 0x01},
		"trailing bytes": {0x01, 0x02},
		"never used":     {0xc1},
		"huge array":     {0xdd, 0xff, 0xff, 0xff, 0xff},
		"map key a list": {0x81, 0x90, 0x01},
	} {
		if v, err := Decode(in); err == nil {
			t.Errorf("%s: decoded %v, want an error", name, v)
		}
	}
}

func TestEncodeRefusesUnknownTypes(t *testing.T) {
	if _, err := Encode(nil, struct{}{}); err == nil {
		t.Fatal("a struct encoded")
	}
}

// python is the project's venv interpreter (the one with Locust's msgpack), or "" when absent.
func python(t *testing.T) string {
	t.Helper()
	_, file, _, _ := runtime.Caller(0)
	for dir := filepath.Dir(file); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		for _, p := range []string{filepath.Join(dir, ".venv/bin/python"), "/work/main/.venv/bin/python"} {
			if _, err := os.Stat(p); err == nil {
				if exec.Command(p, "-c", "import msgpack, hdrh").Run() == nil {
					return p
				}
			}
		}
	}
	t.Skip("no Python with msgpack and hdrh (the project's .venv: make setup)")
	return ""
}

// Locust's own serializer: msgpack.dumps with use_bin_type, read back with raw=False and
// strict_map_key=False (locust/rpc/protocol.py).
const pyMessages = `
import msgpack, sys
msgs = [
    ("spawn", {"timestamp": 1764589000.25, "user_classes_count": {"BenchCell": 32}, "host": "",
               "stop_timeout": 5.0, "parsed_options": {"users": 32, "tags": None, "headless": True,
               "exclude": [], "ratio": 0.5}}, "master"),
    ("bench_config", {"protocol": 1, "request": {"op": "echo", "body": bytes(range(256)), "expect": None,
                      "opcodes": [["equal", 0, 1, 0, 1]]}, "big": -2**40, "neg": -1}, "master"),
    ("ack", {"index": 0}, "host_0123"),
    ("heartbeat", None, "x"),
    ("stats", {"response_times": {1: 3, 250: 1}, "num_reqs_per_sec": {1764589000: 5000}}, "w"),
]
for m in msgs:
    sys.stdout.write(msgpack.dumps(m, use_bin_type=True).hex() + "\n")
`

func TestDecodesLocustsMessages(t *testing.T) {
	py := python(t)
	out, err := exec.Command(py, "-c", pyMessages).Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	want := []Message{
		{"spawn", map[string]any{"timestamp": 1764589000.25, "user_classes_count": map[string]any{"BenchCell": int64(32)},
			"host": "", "stop_timeout": 5.0, "parsed_options": map[string]any{"users": int64(32), "tags": nil,
				"headless": true, "exclude": []any{}, "ratio": 0.5}}, "master"},
		{"bench_config", map[string]any{"protocol": int64(1), "request": map[string]any{"op": "echo",
			"body": func() []byte {
				b := make([]byte, 256)
				for i := range b {
					b[i] = byte(i)
				}
				return b
			}(), "expect": nil, "opcodes": []any{[]any{"equal", int64(0), int64(1), int64(0), int64(1)}}},
			"big": int64(-1 << 40), "neg": int64(-1)}, "master"},
		{"ack", map[string]any{"index": int64(0)}, "host_0123"},
		{"heartbeat", nil, "x"},
		{"stats", map[string]any{"response_times": map[any]any{int64(1): int64(3), int64(250): int64(1)},
			"num_reqs_per_sec": map[any]any{int64(1764589000): int64(5000)}}, "w"},
	}
	if len(lines) != len(want) {
		t.Fatalf("python wrote %d messages", len(lines))
	}
	for i, l := range lines {
		frame, _ := hex.DecodeString(l)
		got, err := DecodeMessage(frame)
		if err != nil {
			t.Fatalf("message %d: %v", i, err)
		}
		if !reflect.DeepEqual(got, want[i]) {
			t.Errorf("message %d:\n got %#v\nwant %#v", i, got, want[i])
		}
	}
}

// What Locust's master reads back from our frames (msgpack.loads(raw=False, strict_map_key=False)).
const pyRead = `
import msgpack, sys
for line in sys.stdin:
    print(repr(msgpack.loads(bytes.fromhex(line.strip()), raw=False, strict_map_key=False)))
`

func TestLocustReadsOurMessages(t *testing.T) {
	py := python(t)
	msgs := []Message{
		{"client_ready", Version, "host_ab"},
		{"heartbeat", map[string]any{"state": "running", "current_cpu_usage": 12.5, "current_memory_usage": int64(1 << 33)}, "host_ab"},
		{"bench_results", map[string]any{"phases": []any{map[string]any{"rate": nil, "cells": map[string]any{}}},
			"cpu": []any{}, "body": []byte("hi")}, "host_ab"},
		{"stats", Report(nil, "n", "http", 2, "BenchCell"), "host_ab"},
	}
	var in strings.Builder
	for _, m := range msgs {
		b, err := EncodeMessage(m)
		if err != nil {
			t.Fatal(err)
		}
		in.WriteString(hex.EncodeToString(b) + "\n")
	}
	cmd := exec.Command(py, "-c", pyRead)
	cmd.Stdin = strings.NewReader(in.String())
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	got := strings.Split(strings.TrimSpace(string(out)), "\n")
	want := []string{
		`['client_ready', '2.47.0', 'host_ab']`,
		`['heartbeat', {'current_cpu_usage': 12.5, 'current_memory_usage': 8589934592, 'state': 'running'}, 'host_ab']`,
		`['bench_results', {'body': b'hi', 'cpu': [], 'phases': [{'cells': {}, 'rate': None}]}, 'host_ab']`,
	}
	for i, w := range want {
		if got[i] != w {
			t.Errorf("message %d: python read\n %s\nwant\n %s", i, got[i], w)
		}
	}
	if !strings.Contains(got[3], "'user_classes_count': {'BenchCell': 2}") ||
		!strings.Contains(got[3], "'response_times': {}") {
		t.Errorf("stats as python read it: %s", got[3])
	}
}
