// Package caller is the Go load generator of contract/LOADGEN.md: the cell a master hands a
// worker (`bench_config`), the plan's phases and arrival schedule, the users that call the
// service with Go's clients (package client), and the results in the harness's histograms.
package caller

import (
	"encoding/json"
	"fmt"
	"math"
	"strings"
)

// Protocol is the version of contract/LOADGEN.md this caller speaks.
const Protocol = 1

// LateNanos: a wake-up or a queued slot more than 5 ms after its due time is late.
const LateNanos = 5_000_000

// Target is where the service's transport is reached.
type Target struct {
	Service, Transport, Host string
	Port                     int
	RedisURL, Queue          string
}

// Opcode is one of difflib's opcodes: [tag, i1, i2, j1, j2].
type Opcode struct {
	Tag            string
	I1, I2, J1, J2 int64
}

// Request is the one request a cell sends again and again, with what its reply must be.
type Request struct {
	Op      string
	Body    []byte
	Opcodes []Opcode // diff: the expected opcodes
}

// PhaseSpec is one phase of the plan; Rate 0 is closed loop; DurationS may be +Inf (the UI).
type PhaseSpec struct {
	Name      string
	DurationS float64
	Rate      float64
	Measured  bool
}

// Plan is the phases, the loop kind and the arrival process.
type Plan struct {
	Phases   []PhaseSpec
	OpenLoop bool
	Arrival  string // "constant" or "poisson"
	Seed     int64
}

// Config is a worker's `bench_config`.
type Config struct {
	Cell, Name     string
	Index, Workers int
	TimeoutS       float64
	Target         Target
	Request        Request
	Plan           Plan
}

// ProtocolOf is the `protocol` of a bench_config's data (-1 when missing).
func ProtocolOf(data any) int64 {
	m, _ := data.(map[string]any)
	if p, ok := m["protocol"].(int64); ok {
		return p
	}
	return -1
}

// ParseConfig reads bench_config's data (as locust.Decode returns it).
func ParseConfig(data any) (*Config, error) {
	m, ok := data.(map[string]any)
	if !ok {
		return nil, fmt.Errorf("bench_config data is a %T, not a map", data)
	}
	if p := ProtocolOf(data); p != Protocol {
		return nil, fmt.Errorf("bench_config speaks load-generator protocol %d; this caller speaks %d "+
			"(contract/LOADGEN.md)", p, Protocol)
	}
	f := fields{m: m}
	c := &Config{Cell: f.str("cell"), Name: f.str("name"), Index: int(f.int("index")),
		Workers: int(f.int("workers")), TimeoutS: f.num("timeout_s")}
	t := fields{m: f.mapOf("target"), where: "target."}
	c.Target = Target{Service: t.str("service"), Transport: t.str("transport"), Host: t.optStr("host"),
		Port: int(t.optInt("port")), RedisURL: t.optStr("redis_url"), Queue: t.optStr("queue")}
	r := fields{m: f.mapOf("request"), where: "request."}
	c.Request = Request{Op: r.str("op"), Body: r.bytes("body")}
	if ops, ok := r.m["opcodes"].([]any); ok {
		parsed, err := opcodesOf(ops)
		if err != nil {
			return nil, fmt.Errorf("bench_config request.opcodes: %w", err)
		}
		c.Request.Opcodes = parsed
	}
	p := fields{m: f.mapOf("plan"), where: "plan."}
	c.Plan = Plan{OpenLoop: p.bool("open_loop"), Arrival: p.str("arrival"), Seed: p.int("seed")}
	phases, _ := p.m["phases"].([]any)
	for i, x := range phases {
		pm, ok := x.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("bench_config plan.phases[%d] is not a map", i)
		}
		ph := fields{m: pm, where: fmt.Sprintf("plan.phases[%d].", i)}
		spec := PhaseSpec{Name: ph.str("name"), DurationS: ph.num("duration_s"), Measured: ph.bool("measured")}
		if pm["rate"] != nil {
			spec.Rate = ph.num("rate")
		}
		c.Plan.Phases = append(c.Plan.Phases, spec)
	}
	if f.err == nil {
		f.err = firstErr(t.err, r.err, p.err)
	}
	if f.err != nil {
		return nil, f.err
	}
	if len(c.Plan.Phases) == 0 {
		return nil, fmt.Errorf("bench_config plan has no phases")
	}
	if c.Plan.Arrival != "constant" && c.Plan.Arrival != "poisson" {
		return nil, fmt.Errorf("bench_config plan.arrival is %q; LOADGEN.md knows \"constant\" and \"poisson\"",
			c.Plan.Arrival)
	}
	if c.TimeoutS <= 0 || math.IsNaN(c.TimeoutS) {
		c.TimeoutS = 10
	}
	switch c.Request.Op {
	case "echo":
	case "diff":
		if c.Request.Opcodes == nil {
			return nil, fmt.Errorf("bench_config: a diff request needs request.opcodes (the expected reply)")
		}
	default:
		return nil, fmt.Errorf("bench_config request.op is %q; this caller sends echo and diff", c.Request.Op)
	}
	return c, nil
}

func firstErr(errs ...error) error {
	for _, e := range errs {
		if e != nil {
			return e
		}
	}
	return nil
}

func opcodesOf(list []any) ([]Opcode, error) {
	out := make([]Opcode, 0, len(list))
	for i, x := range list {
		o, ok := x.([]any)
		if !ok || len(o) != 5 {
			return nil, fmt.Errorf("opcode %d is not [tag, i1, i2, j1, j2]", i)
		}
		tag, ok := o[0].(string)
		if !ok {
			return nil, fmt.Errorf("opcode %d: the tag is not a string", i)
		}
		var n [4]int64
		for k := 0; k < 4; k++ {
			v, ok := o[k+1].(int64)
			if !ok {
				return nil, fmt.Errorf("opcode %d: index %d is not an integer", i, k+1)
			}
			n[k] = v
		}
		out = append(out, Opcode{tag, n[0], n[1], n[2], n[3]})
	}
	return out, nil
}

// ParseOpcodesJSON reads the http/zmq/redis diff reply body {"opcodes": [[tag, i1, i2, j1, j2], ...]}.
func ParseOpcodesJSON(body []byte) ([]Opcode, error) {
	var doc struct {
		Opcodes []json.RawMessage `json:"opcodes"`
	}
	if err := json.Unmarshal(body, &doc); err != nil {
		return nil, err
	}
	if doc.Opcodes == nil {
		return nil, fmt.Errorf("no \"opcodes\" key")
	}
	return OpcodesFromJSONList(doc.Opcodes)
}

// OpcodesFromJSONList reads opcodes from JSON arrays [tag, i1, i2, j1, j2].
func OpcodesFromJSONList(list []json.RawMessage) ([]Opcode, error) {
	out := make([]Opcode, 0, len(list))
	for i, raw := range list {
		var parts []json.RawMessage
		if err := json.Unmarshal(raw, &parts); err != nil || len(parts) != 5 {
			return nil, fmt.Errorf("opcode %d is not [tag, i1, i2, j1, j2]", i)
		}
		var o Opcode
		if err := json.Unmarshal(parts[0], &o.Tag); err != nil {
			return nil, fmt.Errorf("opcode %d: the tag is not a string", i)
		}
		for k, dst := range []*int64{&o.I1, &o.I2, &o.J1, &o.J2} {
			if err := json.Unmarshal(parts[k+1], dst); err != nil {
				return nil, fmt.Errorf("opcode %d: index %d is not an integer", i, k+1)
			}
		}
		out = append(out, o)
	}
	return out, nil
}

// fields reads typed values from a decoded msgpack map, remembering the first error.
type fields struct {
	m     map[string]any
	where string
	err   error
}

func (f *fields) fail(key, want string) {
	if f.err == nil {
		f.err = fmt.Errorf("bench_config %s%s: want %s, got %T", f.where, key, want, f.m[key])
	}
}

func (f *fields) str(key string) string {
	s, ok := f.m[key].(string)
	if !ok {
		f.fail(key, "a string")
	}
	return s
}

func (f *fields) optStr(key string) string {
	if f.m[key] == nil {
		return ""
	}
	return f.str(key)
}

func (f *fields) int(key string) int64 {
	switch v := f.m[key].(type) {
	case int64:
		return v
	case float64:
		if v == math.Trunc(v) {
			return int64(v)
		}
	}
	f.fail(key, "an integer")
	return 0
}

func (f *fields) optInt(key string) int64 {
	if f.m[key] == nil {
		return 0
	}
	return f.int(key)
}

func (f *fields) num(key string) float64 {
	switch v := f.m[key].(type) {
	case int64:
		return float64(v)
	case float64:
		return v
	}
	f.fail(key, "a number")
	return 0
}

func (f *fields) bool(key string) bool {
	b, ok := f.m[key].(bool)
	if !ok {
		f.fail(key, "a boolean")
	}
	return b
}

func (f *fields) bytes(key string) []byte {
	switch v := f.m[key].(type) {
	case []byte:
		return v
	case string: // a master that sent str for bin: the bytes of the text
		return []byte(v)
	}
	f.fail(key, "bytes")
	return nil
}

func (f *fields) mapOf(key string) map[string]any {
	m, ok := f.m[key].(map[string]any)
	if !ok {
		f.fail(key, "a map")
		return map[string]any{}
	}
	return m
}

// String is the config in one log line.
func (c *Config) String() string {
	var ph []string
	for _, p := range c.Plan.Phases {
		ph = append(ph, fmt.Sprintf("%s %gs rate=%g measured=%v", p.Name, p.DurationS, p.Rate, p.Measured))
	}
	return fmt.Sprintf("cell=%s name=%s index=%d/%d target=%s %s:%d%s%s op=%s body=%dB timeout_s=%g "+
		"open_loop=%v arrival=%s seed=%d phases=[%s]", c.Cell, c.Name, c.Index, c.Workers, c.Target.Transport,
		c.Target.Host, c.Target.Port, c.Target.RedisURL, c.Target.Queue, c.Request.Op, len(c.Request.Body),
		c.TimeoutS, c.Plan.OpenLoop, c.Plan.Arrival, c.Plan.Seed, strings.Join(ph, ", "))
}
