package celery

import (
	"encoding/base64"
	"encoding/json"
	"strings"
	"testing"
	"time"

	"interopbench/go/internal/core"
)

func message(t *testing.T, task string, body string, mutate func(map[string]any)) string {
	t.Helper()
	env := map[string]any{
		"body":             base64.StdEncoding.EncodeToString([]byte(body)),
		"content-encoding": "utf-8",
		"content-type":     "application/json",
		"headers":          map[string]any{"lang": "py", "task": task, "id": "id-1", "group": nil},
		"properties":       map[string]any{"body_encoding": "base64", "delivery_tag": "x"},
	}
	if mutate != nil {
		mutate(env)
	}
	raw, err := json.Marshal(env)
	if err != nil {
		t.Fatal(err)
	}
	return string(raw)
}

var svc = core.NewService(core.Settings{MaxBodyBytes: core.MaxBodyBytes, MaxDiffTokens: core.MaxDiffTokens})
var when = time.Date(2026, 1, 2, 3, 4, 5, 123456789, time.UTC)

func result(t *testing.T, o Outcome) map[string]any {
	t.Helper()
	if o.Key != "celery-task-meta-id-1" {
		t.Fatalf("result key %q (dead: %q)", o.Key, o.Dead)
	}
	var doc map[string]any
	if err := json.Unmarshal(o.Doc, &doc); err != nil {
		t.Fatalf("result is not JSON: %v: %s", err, o.Doc)
	}
	if strings.ContainsFunc(string(o.Doc), func(r rune) bool { return r > 127 }) {
		t.Fatalf("result must be ASCII (ensure_ascii): %s", o.Doc)
	}
	return doc
}

func TestTasks(t *testing.T) {
	cases := []struct {
		name, task, body, status string
		result                   string // the "result" value as JSON
	}{
		{"echo", "bench.echo", `[["h\u00e9\ud83d\ude00"], {}, {}]`, "SUCCESS", `"hé😀"`},
		{"diff-args", "bench.diff", `[[["a", "b"], ["a", "c"]], {}, {}]`, "SUCCESS", `[["equal",0,1,0,1],["replace",1,2,1,2]]`},
		{"diff-kwargs", "bench.diff", `[[], {"a": ["x"], "b": []}, {}]`, "SUCCESS", `[["delete",0,1,0,0]]`},
		{"health", "bench.health", `[[], {}, {}]`, "SUCCESS", ""},
		{"echo-surrogate", "bench.echo", `[["a\ud800b"], {}, {}]`, "FAILURE", `{"exc_type":"ValueError","exc_message":["bad_request: the text holds a lone surrogate"],"exc_module":"builtins"}`},
		{"echo-no-arg", "bench.echo", `[[], {}, {}]`, "FAILURE", `{"exc_type":"ValueError","exc_message":["bad_request: bench.echo takes one string argument"],"exc_module":"builtins"}`},
		{"echo-number", "bench.echo", `[[42], {}, {}]`, "FAILURE", `{"exc_type":"ValueError","exc_message":["bad_request: bench.echo takes one string argument"],"exc_module":"builtins"}`},
		{"diff-one-arg", "bench.diff", `[[["a"]], {}, {}]`, "FAILURE", `{"exc_type":"ValueError","exc_message":["bad_request: bench.diff takes two arguments a and b (arrays of strings)"],"exc_module":"builtins"}`},
		{"diff-surrogate", "bench.diff", `[[["\udc00"], []], {}, {}]`, "FAILURE", `{"exc_type":"ValueError","exc_message":["bad_request: 'a' holds a string with a lone surrogate"],"exc_module":"builtins"}`},
		{"unknown", "bench.nope", `[[], {}, {}]`, "FAILURE", `{"exc_type":"NotRegistered","exc_message":["bench.nope"],"exc_module":"celery.exceptions"}`},
		{"body-not-triple", "bench.echo", `[[], {}]`, "FAILURE", `{"exc_type":"ValueError","exc_message":["bad_request: the message body is not [args, kwargs, embed]"],"exc_module":"builtins"}`},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			doc := result(t, Handle(svc, message(t, c.task, c.body, nil), when))
			if doc["status"] != c.status || doc["task_id"] != "id-1" || doc["date_done"] != "2026-01-02T03:04:05.123456+00:00" {
				t.Fatalf("document %v", doc)
			}
			if _, ok := doc["group_id"]; ok {
				t.Fatal("a null group is not written")
			}
			if c.result != "" {
				got, _ := json.Marshal(doc["result"])
				var want any
				_ = json.Unmarshal([]byte(c.result), &want)
				wantJSON, _ := json.Marshal(want)
				if string(got) != string(wantJSON) {
					t.Fatalf("result %s, want %s", got, wantJSON)
				}
			}
		})
	}
}

func TestRefusedMessages(t *testing.T) {
	pickle := message(t, "bench.echo", `x`, func(env map[string]any) { env["content-type"] = "application/x-python-serialize" })
	doc := result(t, Handle(svc, pickle, when))
	if msg, _ := json.Marshal(doc["result"]); !strings.Contains(string(msg), "bad_request: content type") {
		t.Fatalf("pickle: %s", msg)
	}
	for name, msg := range map[string]string{
		"not-json":   "{not json",
		"no-headers": `{"body": ""}`,
		"no-id":      message(t, "bench.echo", `[[], {}, {}]`, func(env map[string]any) { env["headers"] = map[string]any{"task": "bench.echo"} }),
		"bad-id":     message(t, "bench.echo", `[[], {}, {}]`, func(env map[string]any) { env["headers"] = map[string]any{"task": "bench.echo", "id": "\xed\xa0\x80"} }),
	} {
		if o := Handle(svc, msg, when); o.Dead == "" {
			t.Errorf("%s: not a dead letter: %+v", name, o)
		}
	}
	ignored := message(t, "bench.echo", `[["x"], {}, {}]`, func(env map[string]any) {
		env["headers"].(map[string]any)["ignore_result"] = true
	})
	if o := Handle(svc, ignored, when); o.Key != "" || o.Dead != "" {
		t.Errorf("ignore_result stores nothing: %+v", o)
	}
}

func TestDateDone(t *testing.T) {
	if got := DateDone(time.Date(2026, 1, 2, 3, 4, 5, 0, time.UTC)); got != "2026-01-02T03:04:05+00:00" {
		t.Fatal(got)
	}
	if got := DateDone(time.Date(2026, 1, 2, 3, 4, 5, 1000, time.UTC)); got != "2026-01-02T03:04:05.000001+00:00" {
		t.Fatal(got)
	}
}
