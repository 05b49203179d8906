// Package celery is a Celery worker (CONTRACT.md "celery"): task message protocol v2 as kombu's
// Redis transport writes it, results where Celery's Redis result backend reads them.
package celery

import (
	"encoding/base64"
	"fmt"
	"strings"
	"time"
	"unicode/utf8"

	"interopbench/go/internal/core"
)

// ResultPrefix names result keys (and the channels a waiting client subscribes to).
const ResultPrefix = "celery-task-meta-"

// Meta is what a message says about its task.
type Meta struct {
	ID           string // never empty
	Task         string // "" when the headers have none
	IgnoreResult bool
	Group        string // headers.group, written as group_id
	ParentID     string
}

// ResultKey is celery-task-meta-<id>.
func (m Meta) ResultKey() string { return ResultPrefix + m.ID }

// Decoded is one message: a task with its arguments, or Bad (a FAILURE result is stored with
// Why), or, when even a task id is missing, Dead (the message goes to the dead list).
type Decoded struct {
	Meta   Meta
	Args   []any
	Kwargs map[string]any
	Bad    string
	Dead   string
}

// Decode decodes one message as kombu's Redis transport LPUSHed it: a JSON envelope
// {"body": base64([args, kwargs, embed]), "content-type", "content-encoding", "headers",
// "properties": {"body_encoding": "base64"}}. The envelope is read leniently (bytes that are
// not UTF-8 become U+FFFD), the body strictly.
func Decode(msg string) Decoded {
	doc, err := core.ParseJSON([]byte(strings.ToValidUTF8(msg, "\uFFFD")))
	if err != nil {
		return Decoded{Dead: "the envelope is not JSON: " + err.Error()}
	}
	env, _ := doc.(map[string]any)
	headers, _ := env["headers"].(map[string]any)
	if headers == nil {
		return Decoded{Dead: "no headers in the envelope (not a protocol v2 task message)"}
	}
	id, _ := headers["id"].(string)
	if id == "" {
		return Decoded{Dead: "no task id in the envelope's headers (not a protocol v2 task message)"}
	}
	if !utf8.ValidString(id) || strings.ContainsRune(id, utf8.RuneError) {
		return Decoded{Dead: "the task id is not valid Unicode, so it cannot name a result key"}
	}
	str := func(v any) string { s, _ := v.(string); return s }
	ignore, _ := headers["ignore_result"].(bool)
	d := Decoded{Meta: Meta{ID: id, Task: str(headers["task"]), IgnoreResult: ignore,
		Group: str(headers["group"]), ParentID: str(headers["parent_id"])}}
	bad := func(format string, args ...any) Decoded {
		d.Bad = fmt.Sprintf(format, args...)
		return d
	}
	if d.Meta.Task == "" {
		return bad("the message has no task name")
	}
	encoding := any("utf-8")
	if v, ok := env["content-encoding"]; ok {
		encoding = v
	}
	props, _ := env["properties"].(map[string]any)
	switch {
	case env["content-type"] != "application/json":
		return bad("content type %s is not accepted (JSON only)", describe(env["content-type"]))
	case encoding != "utf-8":
		return bad("content encoding %s is not accepted (utf-8 only)", describe(encoding))
	case props == nil || props["body_encoding"] != "base64":
		return bad("body encoding %s is not supported (base64 only)", describe(props["body_encoding"]))
	}
	body64, ok := env["body"].(string)
	if !ok {
		return bad(`the envelope has no string "body"`)
	}
	raw, err := base64.StdEncoding.DecodeString(body64)
	if err != nil {
		return bad("the message body is not valid base64")
	}
	if !utf8.Valid(raw) {
		return bad("the message body is not valid UTF-8")
	}
	body, err := core.ParseJSON(raw)
	if err != nil {
		return bad("the message body is not valid JSON: %v", err)
	}
	parts, _ := body.([]any)
	if len(parts) == 3 {
		args, ok1 := parts[0].([]any)
		kwargs, ok2 := parts[1].(map[string]any)
		if ok1 && ok2 {
			d.Args, d.Kwargs = args, kwargs
			return d
		}
	}
	return bad("the message body is not [args, kwargs, embed]")
}

func describe(v any) string {
	s, ok := v.(string)
	if !ok {
		return "(none)"
	}
	var sb strings.Builder
	sb.WriteByte('"')
	for i := 0; i < len(s) && i < 64; i++ {
		if c := s[i]; c >= 32 && c < 127 && c != '"' {
			sb.WriteByte(c)
		} else {
			sb.WriteByte('?')
		}
	}
	sb.WriteByte('"')
	return sb.String()
}

// DateDone is date_done as Celery writes it (isoformat of an aware UTC time), without the
// fraction when it is zero.
func DateDone(t time.Time) string {
	t = t.UTC().Truncate(time.Microsecond)
	if us := t.Nanosecond() / 1000; us != 0 {
		return t.Format("2006-01-02T15:04:05") + fmt.Sprintf(".%06d+00:00", us)
	}
	return t.Format("2006-01-02T15:04:05") + "+00:00"
}

// Success is the SUCCESS document with result, JSON already written in json.dumps' style.
func Success(m Meta, result []byte, done time.Time) []byte {
	return document(m, "SUCCESS", result, done)
}

// ValueError is the FAILURE document of a contract error: ValueError("<code>: <message>").
func ValueError(m Meta, code core.Code, message string, done time.Time) []byte {
	return exception(m, "ValueError", "builtins", string(code)+": "+message, done)
}

// NotRegistered is the FAILURE document of an unknown task as Celery 5.7's worker writes it.
func NotRegistered(m Meta, done time.Time) []byte {
	return exception(m, "NotRegistered", "celery.exceptions", m.Task, done)
}

func exception(m Meta, typ, module, message string, done time.Time) []byte {
	r := []byte(`{"exc_type": `)
	r = core.AppendPyString(r, typ)
	r = append(r, `, "exc_message": [`...)
	r = core.AppendPyString(r, message)
	r = append(r, `], "exc_module": `...)
	r = core.AppendPyString(r, module)
	return document(m, "FAILURE", append(r, '}'), done)
}

func document(m Meta, status string, result []byte, done time.Time) []byte {
	b := make([]byte, 0, 160+len(result))
	b = append(b, `{"status": "`...)
	b = append(b, status...)
	b = append(b, `", "result": `...)
	b = append(b, result...)
	b = append(b, `, "traceback": null, "children": [], "date_done": "`...)
	b = append(b, DateDone(done)...)
	b = append(b, '"')
	if m.Group != "" {
		b = core.AppendPyString(append(b, `, "group_id": `...), m.Group)
	}
	if m.ParentID != "" {
		b = core.AppendPyString(append(b, `, "parent_id": `...), m.ParentID)
	}
	b = core.AppendPyString(append(b, `, "task_id": `...), m.ID)
	return append(b, '}')
}
