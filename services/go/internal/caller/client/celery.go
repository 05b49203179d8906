package client

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"time"
	"unicode/utf8"

	"interopbench/go/internal/caller"
)

// celeryClient sends the task bench.echo(text) or bench.diff(a, b) as a Celery task message
// of protocol v2, JSON serializer, as kombu's Redis transport writes it (a JSON envelope
// LPUSHed to the queue's list), and reads the result that Celery's Redis result backend
// PUBLISHes on celery-task-meta-<id>: each user PSUBSCRIBEs once, on its own connection, to
// its own task-id prefix. The previous task's result key is deleted in the next request's
// write (a plain Celery client's forget()).
type celeryClient struct {
	cmd, sub *resp
	queue    []byte
	task     string
	prefix   string
	pattern  []byte
	head     [][]byte // the envelope's parts around each task id
	seq      int64
	lastKey  []byte
	timeout  time.Duration
	buildErr error
	msg      []byte
	deadline deadline
	subDL    deadline
}

func newCelery(cfg *caller.Config, user int, timeout time.Duration) caller.Client {
	cmd, err := newResp(cfg.Target.RedisURL)
	if err != nil {
		return failing{err}
	}
	sub, _ := newResp(cfg.Target.RedisURL)
	c := &celeryClient{cmd: cmd, sub: sub, queue: []byte(cfg.Target.Queue), task: "bench." + cfg.Request.Op,
		prefix: fmt.Sprintf("go-%s-%d-", callerTag(), user), timeout: timeout,
		deadline: deadline{timeout: timeout + 5*time.Second}, subDL: deadline{timeout: timeout}}
	c.pattern = []byte("celery-task-meta-" + c.prefix + "*")
	c.head, c.buildErr = celeryEnvelope(cfg, c.task)
	return c
}

// celeryEnvelope is the task message split at each place where the task id goes (keys in
// kombu's order, the body base64 of [args, kwargs, embed]).
func celeryEnvelope(cfg *caller.Config, task string) ([][]byte, error) {
	var args []any
	switch cfg.Request.Op {
	case "echo":
		if !utf8.Valid(cfg.Request.Body) {
			return nil, fmt.Errorf("celery: bench.echo takes text; the cell's body is not UTF-8")
		}
		args = []any{string(cfg.Request.Body)}
	case "diff":
		var doc struct {
			A *[]string `json:"a"`
			B *[]string `json:"b"`
		}
		if err := json.Unmarshal(cfg.Request.Body, &doc); err != nil || doc.A == nil || doc.B == nil {
			return nil, fmt.Errorf("celery: bench.diff takes the body's a and b, lists of strings")
		}
		args = []any{*doc.A, *doc.B}
	}
	embed := map[string]any{"callbacks": nil, "errbacks": nil, "chain": nil, "chord": nil}
	payload, err := json.Marshal([]any{args, map[string]any{}, embed})
	if err != nil {
		return nil, err
	}
	queue, _ := json.Marshal(cfg.Target.Queue)
	const id = "\x00"
	env := `{"body": "` + base64.StdEncoding.EncodeToString(payload) + `", "content-encoding": "utf-8", ` +
		`"content-type": "application/json", "headers": {"lang": "py", "task": "` + task + `", "id": "` + id +
		`", "shadow": null, "eta": null, "expires": null, "group": null, "group_index": null, "retries": 0, ` +
		`"timelimit": [null, null], "root_id": "` + id + `", "parent_id": null, "argsrepr": "", ` +
		`"kwargsrepr": "{}", "origin": "bench-go-caller", "ignore_result": false}, "properties": ` +
		`{"correlation_id": "` + id + `", "reply_to": "", "delivery_mode": 2, "delivery_info": ` +
		`{"exchange": "", "routing_key": ` + string(queue) + `}, "priority": 0, "body_encoding": "base64", ` +
		`"delivery_tag": "` + id + `"}}`
	return bytes.Split([]byte(env), []byte(id)), nil
}

func (c *celeryClient) connect() error {
	if err := c.cmd.connect(); err != nil {
		return err
	}
	if err := c.sub.connect(); err != nil {
		c.cmd.close()
		return err
	}
	_ = c.sub.conn.SetDeadline(time.Now().Add(connectTimeout))
	c.sub.command("PSUBSCRIBE", c.pattern)
	if err := c.sub.flush(); err != nil {
		c.close()
		return err
	}
	if _, err := c.sub.reply(); err != nil {
		c.close()
		return fmt.Errorf("celery: PSUBSCRIBE %s: %w", c.pattern, err)
	}
	c.deadline.at, c.subDL.at = time.Time{}, time.Time{}
	c.lastKey = nil
	return nil
}

func (c *celeryClient) close() {
	c.cmd.close()
	c.sub.close()
}

func (c *celeryClient) Call() (caller.Reply, error) {
	if c.buildErr != nil {
		return caller.Reply{}, c.buildErr
	}
	if c.cmd.conn == nil {
		if err := c.connect(); err != nil {
			return caller.Reply{}, err
		}
	}
	now := time.Now()
	if at, ok := c.deadline.next(now); ok {
		_ = c.cmd.conn.SetDeadline(at)
	}
	if at, ok := c.subDL.next(now); ok {
		_ = c.sub.conn.SetDeadline(at)
	}
	reply, err := c.exchange()
	if err != nil {
		c.close()
		return caller.Reply{}, err
	}
	return reply, nil
}

func (c *celeryClient) exchange() (caller.Reply, error) {
	c.seq++
	id := strconv.AppendInt([]byte(c.prefix), c.seq, 10)
	c.msg = c.msg[:0]
	for i, part := range c.head {
		if i > 0 {
			c.msg = append(c.msg, id...)
		}
		c.msg = append(c.msg, part...)
	}
	c.cmd.command("LPUSH", c.queue, c.msg)
	replies := 1
	if c.lastKey != nil {
		c.cmd.command("DEL", c.lastKey)
		replies++
	}
	if err := c.cmd.flush(); err != nil {
		return caller.Reply{}, err
	}
	for ; replies > 0; replies-- {
		if _, err := c.cmd.reply(); err != nil {
			return caller.Reply{}, fmt.Errorf("celery: LPUSH %s: %w", c.queue, err)
		}
	}
	channel := append([]byte("celery-task-meta-"), id...)
	c.lastKey = channel
	for {
		v, err := c.sub.reply()
		if err != nil {
			return caller.Reply{}, fmt.Errorf("celery: no result for %s %s within %s: %w", c.task, id, c.timeout, err)
		}
		if len(v.array) != 4 || string(v.array[0].str) != "pmessage" {
			continue
		}
		if !bytes.Equal(v.array[2].str, channel) {
			continue // another task's (a result after a timeout)
		}
		return c.result(v.array[3].str)
	}
}

func (c *celeryClient) result(doc []byte) (caller.Reply, error) {
	var meta struct {
		Status string          `json:"status"`
		Result json.RawMessage `json:"result"`
	}
	if err := json.Unmarshal(doc, &meta); err != nil {
		return caller.Reply{}, fmt.Errorf("celery: the result document is not JSON: %q", clipBytes(doc, 120))
	}
	if meta.Status != "SUCCESS" {
		return caller.Reply{OK: false, Status: meta.Status, Body: meta.Result}, nil
	}
	if c.task == "bench.echo" {
		var s string
		if err := json.Unmarshal(meta.Result, &s); err != nil {
			return caller.Reply{OK: true, Status: "SUCCESS", Body: meta.Result}, nil // wrong: not a str
		}
		return caller.Reply{OK: true, Status: "SUCCESS", Body: []byte(s)}, nil
	}
	var list []json.RawMessage
	if err := json.Unmarshal(meta.Result, &list); err != nil {
		return caller.Reply{OK: true, Status: "SUCCESS", Body: meta.Result}, nil // wrong: not a list
	}
	ops, err := caller.OpcodesFromJSONList(list)
	if err != nil {
		return caller.Reply{OK: true, Status: "SUCCESS", Body: meta.Result}, nil // wrong: not opcodes
	}
	return caller.Reply{OK: true, Status: "SUCCESS", HasOpcodes: true, Opcodes: ops}, nil
}

func (c *celeryClient) Close() { c.close() }
