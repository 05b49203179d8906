package core

import (
	"encoding/base64"
	"encoding/json"
	"os"
	"path/filepath"
	"testing"

	"golang.org/x/sys/unix"
)

// The shared vectors of contract/vectors (generated from CPython's difflib).
var vectorsDir = filepath.Join("..", "..", "..", "..", "contract", "vectors")

type segments [][2]any

func (s segments) bytes(t *testing.T) []byte {
	var out []byte
	for _, seg := range s {
		raw, err := base64.StdEncoding.DecodeString(seg[0].(string))
		if err != nil {
			t.Fatal(err)
		}
		for n := int(seg[1].(float64)); n > 0; n-- {
			out = append(out, raw...)
		}
	}
	return out
}

func load[T any](t *testing.T, name string) []T {
	t.Helper()
	raw, err := os.ReadFile(filepath.Join(vectorsDir, name))
	if err != nil {
		t.Fatalf("read the shared vectors: %v", err)
	}
	var doc struct {
		Vectors []T `json:"vectors"`
	}
	if err := json.Unmarshal(raw, &doc); err != nil {
		t.Fatal(err)
	}
	return doc.Vectors
}

type diffVector struct {
	Name    string         `json:"name"`
	A       []string       `json:"a"`
	B       []string       `json:"b"`
	Opcodes [][5]any       `json:"opcodes"`
	Extra   map[string]any `json:"extra"`
}

func TestDiffVectors(t *testing.T) {
	vs := load[diffVector](t, "diff.json")
	if len(vs) < 50 {
		t.Fatalf("only %d diff vectors", len(vs))
	}
	svc := NewService(Settings{MaxBodyBytes: MaxBodyBytes, MaxDiffTokens: MaxDiffTokens})
	for _, v := range vs {
		t.Run(v.Name, func(t *testing.T) {
			req := map[string]any{"a": v.A, "b": v.B}
			for k, x := range v.Extra {
				req[k] = x
			}
			body, _ := json.Marshal(req)
			out, err := svc.Diff(body)
			if err != nil {
				t.Fatalf("error %v", err)
			}
			var got struct {
				Opcodes [][5]any `json:"opcodes"`
			}
			if e := json.Unmarshal(out, &got); e != nil {
				t.Fatalf("reply is not JSON: %v: %s", e, out)
			}
			want, _ := json.Marshal(v.Opcodes)
			have, _ := json.Marshal(got.Opcodes)
			if string(want) != string(have) {
				t.Fatalf("opcodes\n got %s\nwant %s", have, want)
			}
		})
	}
}

type errorVector struct {
	Name  string   `json:"name"`
	Op    string   `json:"op"`
	Body  segments `json:"body"`
	Error string   `json:"error"`
	Layer string   `json:"layer"`
}

func TestErrorVectors(t *testing.T) {
	svc := NewService(Settings{MaxBodyBytes: MaxBodyBytes, MaxDiffTokens: MaxDiffTokens, TestHooks: true})
	for _, v := range load[errorVector](t, "errors.json") {
		t.Run(v.Name, func(t *testing.T) {
			r := svc.Handle(v.Op, v.Body.bytes(t))
			if string(r.Err) != v.Error {
				t.Fatalf("got %q (%s), want %q", r.Err, r.Body, v.Error)
			}
			var doc map[string]any
			if err := json.Unmarshal(r.Body, &doc); err != nil || doc["error"] != v.Error || doc["message"] == "" {
				t.Fatalf("error body %s", r.Body)
			}
		})
	}
}

type echoVector struct {
	Name string   `json:"name"`
	Body segments `json:"body"`
}

func TestEchoVectors(t *testing.T) {
	svc := NewService(Settings{MaxBodyBytes: MaxBodyBytes, MaxDiffTokens: MaxDiffTokens})
	for _, v := range load[echoVector](t, "echo.json") {
		body := v.Body.bytes(t)
		if r := svc.Handle("echo", body); !r.OK() || string(r.Body) != string(body) {
			t.Errorf("%s: echo of %d bytes answered %q with %d bytes", v.Name, len(body), r.Err, len(r.Body))
		}
	}
}

// BenchmarkDiffVectors times Opcodes alone on the large shared vectors (scripts/bench_diff.py
// compares it with CPython's difflib on the same input).
func BenchmarkDiffVectors(b *testing.B) {
	t := &testing.T{}
	for _, v := range load[diffVector](t, "diff.json") {
		if v.Name != "lines-5000" && v.Name != "lines-3000" && v.Name != "html-large" {
			continue
		}
		b.Run(v.Name, func(b *testing.B) {
			// CPU time as well as wall time: on a shared machine the wall clock counts waiting
			start := processCPU()
			n := 0
			for b.Loop() {
				Opcodes(v.A, v.B)
				n++
			}
			b.ReportMetric(float64(processCPU()-start)/1e6/float64(n), "cpu-ms/op")
		})
	}
}

func processCPU() int64 {
	var ts unix.Timespec
	if err := unix.ClockGettime(unix.CLOCK_PROCESS_CPUTIME_ID, &ts); err != nil {
		panic(err)
	}
	return ts.Nano()
}
