package celery

import (
	"context"
	"log/slog"
	"time"

	"github.com/redis/go-redis/v9"

	"interopbench/go/internal/core"
	"interopbench/go/internal/redisq"
)

// ResultExpires is how long a stored result lives (the Python service's result_expires).
const ResultExpires = 600 * time.Second

// Outcome says what to do with a message once its task ran: store Doc at Key and publish it,
// acknowledge only (Key empty: ignore_result), or move the message to the dead list (Dead).
type Outcome struct {
	Key  string
	Doc  []byte
	Dead string
}

// Handle decodes one message, runs its task and says what to store; it never panics.
func Handle(svc *core.Service, msg string, now time.Time) Outcome {
	d := Decode(msg)
	if d.Dead != "" {
		return Outcome{Dead: d.Dead}
	}
	var doc []byte
	if d.Bad != "" {
		doc = ValueError(d.Meta, core.BadRequest, d.Bad, now)
	} else {
		doc = runTask(svc, d, now)
	}
	if d.Meta.IgnoreResult {
		return Outcome{}
	}
	return Outcome{Key: d.Meta.ResultKey(), Doc: doc}
}

func runTask(svc *core.Service, d Decoded, now time.Time) (doc []byte) {
	defer func() {
		if p := recover(); p != nil {
			e := core.InternalError(d.Meta.Task, p)
			doc = ValueError(d.Meta, e.Code, e.Message, now)
		}
	}()
	result, registered, err := Run(svc, d.Meta.Task, d.Args, d.Kwargs)
	switch {
	case err != nil:
		return ValueError(d.Meta, err.Code, err.Message, now)
	case !registered:
		return NotRegistered(d.Meta, now)
	}
	return Success(d.Meta, result, now)
}

func badRequest(message string) *core.Error {
	return &core.Error{Code: core.BadRequest, Message: message}
}

// Run runs task on its arguments: the result as JSON, or registered false for an unknown task.
func Run(svc *core.Service, task string, args []any, kwargs map[string]any) ([]byte, bool, *core.Error) {
	switch task {
	case "bench.echo":
		text, ok := "", len(args) == 1 && len(kwargs) == 0
		if ok {
			text, ok = args[0].(string)
		}
		if !ok {
			return nil, true, badRequest("bench.echo takes one string argument")
		}
		if err := core.NoLoneSurrogates([]string{text}, "text"); err != nil {
			return nil, true, badRequest("the text holds a lone surrogate")
		}
		if _, err := svc.Echo([]byte(text)); err != nil {
			return nil, true, err
		}
		return core.AppendPyString(make([]byte, 0, len(text)+16), text), true, nil
	case "bench.diff":
		var a, b any
		switch {
		case len(args) == 2 && len(kwargs) == 0:
			a, b = args[0], args[1]
		case len(args) == 0 && len(kwargs) == 2 && has(kwargs, "a") && has(kwargs, "b"):
			a, b = kwargs["a"], kwargs["b"]
		default:
			return nil, true, badRequest("bench.diff takes two arguments a and b (arrays of strings)")
		}
		ta, err := tokens(a, "a")
		if err != nil {
			return nil, true, err
		}
		tb, err := tokens(b, "b")
		if err != nil {
			return nil, true, err
		}
		ops, err := svc.DiffTokens(ta, tb)
		if err != nil {
			return nil, true, err
		}
		return core.AppendOpcodes(make([]byte, 0, 2+len(ops)*28), ops), true, nil
	case "bench.health":
		if len(args) != 0 || len(kwargs) != 0 {
			return nil, true, badRequest("bench.health takes no arguments")
		}
		return svc.Health(), true, nil
	}
	return nil, false, nil
}

func has(m map[string]any, key string) bool {
	_, ok := m[key]
	return ok
}

func tokens(v any, name string) ([]string, *core.Error) {
	list, ok := v.([]any)
	if !ok {
		return nil, badRequest("'" + name + "' must be an array of strings")
	}
	out := make([]string, len(list))
	for i, x := range list {
		if out[i], ok = x.(string); !ok {
			return nil, badRequest("'" + name + "' must be an array of strings")
		}
	}
	if err := core.NoLoneSurrogates(out, name); err != nil {
		return nil, err
	}
	return out, nil
}

// Handler is the consumer's handler: SET the result with its expiry and PUBLISH it.
func Handler(svc *core.Service, dead string, expires time.Duration) redisq.Handler {
	return func(ctx context.Context, msg string, tx redis.Pipeliner) {
		o := Handle(svc, msg, time.Now())
		switch {
		case o.Dead != "":
			slog.Warn("celery message moved to the dead list", "bytes", len(msg), "why", o.Dead)
			tx.LPush(ctx, dead, msg)
		case o.Key != "":
			tx.Set(ctx, o.Key, o.Doc, expires)
			tx.Publish(ctx, o.Key, o.Doc)
		}
	}
}
