package caller

import (
	"encoding/hex"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"interopbench/go/internal/locust"
)

// repo is the repository root (the harness's Python code is there), or "" when not found.
func repo() string {
	_, file, _, _ := runtime.Caller(0)
	for dir := filepath.Dir(file); dir != "/" && dir != "."; dir = filepath.Dir(dir) {
		if _, err := os.Stat(filepath.Join(dir, "harness", "loadgen", "protocol.py")); err == nil {
			return dir
		}
	}
	return ""
}

func venvPython(t *testing.T, root string) string {
	t.Helper()
	for _, p := range []string{filepath.Join(root, ".venv/bin/python"), "/work/main/.venv/bin/python"} {
		if _, err := os.Stat(p); err == nil {
			return p
		}
	}
	t.Skip("no project .venv (make setup)")
	return ""
}

// The master's bench_config, as the harness's own protocol.py builds it and Locust packs it.
const pyConfig = `
import msgpack, sys
from harness.contract.endpoint import Endpoint
from harness.loadgen import protocol as lp
diff = lp.Request("diff", b'{"a": ["x"], "b": ["x", "y"]}', [["equal", 0, 1, 0, 1], ["insert", 1, 1, 1, 2]])
echo = lp.Request("echo", bytes(range(256)))
ep = Endpoint(service="python", transport="redis", host="", port=0, redis_url="redis://127.0.0.1:6390/0",
              queue="bench:q")
for req, plan in ((echo, lp.Plan.closed(2.0, 5.0)), (diff, lp.Plan.open(1.0, 3.0, 250.0, "poisson", 7).share(2, 1)),
                  (echo, lp.Plan.endless())):
    c = lp.CellConfig(cell="go.python.redis.x.r0", name="python_redis_x", target=ep, request=req, plan=plan)
    print(msgpack.dumps(("bench_config", c.to_message(), "master"), use_bin_type=True).hex())
`

func TestParsesTheHarnesssConfig(t *testing.T) {
	root := repo()
	if root == "" {
		t.Skip("not inside the repository")
	}
	cmd := exec.Command(venvPython(t, root), "-c", pyConfig)
	cmd.Dir = root
	cmd.Stderr = os.Stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatal(err)
	}
	lines := strings.Fields(string(out))
	var cfgs []*Config
	for _, l := range lines {
		frame, _ := hex.DecodeString(l)
		m, err := locust.DecodeMessage(frame)
		if err != nil {
			t.Fatal(err)
		}
		c, err := ParseConfig(m.Data)
		if err != nil {
			t.Fatal(err)
		}
		cfgs = append(cfgs, c)
	}
	closed, open, endless := cfgs[0], cfgs[1], cfgs[2]
	if closed.Target.RedisURL != "redis://127.0.0.1:6390/0" || closed.Target.Queue != "bench:q" ||
		len(closed.Request.Body) != 256 || closed.Request.Body[255] != 255 || closed.TimeoutS != 10 {
		t.Fatalf("closed: %s", closed)
	}
	if closed.Plan.OpenLoop || len(closed.Plan.Phases) != 2 || closed.Plan.Phases[0].Measured ||
		closed.Plan.Phases[1].DurationS != 5 || closed.Plan.Phases[1].Rate != 0 {
		t.Fatalf("closed plan: %+v", closed.Plan)
	}
	// the master's share for worker 1 of 2: half the rate, seed * 1000 + index
	if !open.Plan.OpenLoop || open.Plan.Arrival != "poisson" || open.Plan.Seed != 7001 ||
		open.Plan.Phases[1].Rate != 125 || len(open.Request.Opcodes) != 2 ||
		open.Request.Opcodes[1] != (Opcode{"insert", 1, 1, 1, 2}) {
		t.Fatalf("open: %s %+v", open, open.Request.Opcodes)
	}
	if d := endless.Plan.Phases[0].DurationS; d < 1e300 {
		t.Fatalf("endless plan's phase lasts %g s", d)
	}
}

func TestRefusesConfigs(t *testing.T) {
	good := func() map[string]any {
		return map[string]any{"protocol": int64(1), "cell": "c", "name": "n", "index": int64(0),
			"workers": int64(1), "timeout_s": 10.0,
			"target":  map[string]any{"service": "s", "transport": "http", "host": "127.0.0.1", "port": int64(1)},
			"request": map[string]any{"op": "echo", "body": []byte("x"), "expect": nil, "opcodes": nil},
			"plan": map[string]any{"phases": []any{map[string]any{"name": "m", "duration_s": 1.0, "rate": nil,
				"measured": true}}, "open_loop": false, "arrival": "constant", "seed": int64(1), "slo": nil}}
	}
	if _, err := ParseConfig(good()); err != nil {
		t.Fatal(err)
	}
	for name, change := range map[string]func(m map[string]any){
		"protocol 2":     func(m map[string]any) { m["protocol"] = int64(2) },
		"no target":      func(m map[string]any) { delete(m, "target") },
		"unknown op":     func(m map[string]any) { m["request"].(map[string]any)["op"] = "health" },
		"diff, no ops":   func(m map[string]any) { m["request"].(map[string]any)["op"] = "diff" },
		"bad arrival":    func(m map[string]any) { m["plan"].(map[string]any)["arrival"] = "bursty" },
		"no phases":      func(m map[string]any) { m["plan"].(map[string]any)["phases"] = []any{} },
		"port as string": func(m map[string]any) { m["target"].(map[string]any)["port"] = "80" },
	} {
		m := good()
		change(m)
		if _, err := ParseConfig(m); err == nil {
			t.Errorf("%s: accepted", name)
		} else if name == "protocol 2" && !strings.Contains(err.Error(), "protocol 2; this caller speaks 1") {
			t.Errorf("protocol 2: %v", err)
		}
	}
}
