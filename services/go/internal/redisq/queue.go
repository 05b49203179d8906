package redisq

import (
	"context"
	"strings"
	"time"

	"github.com/redis/go-redis/v9"

	"interopbench/go/internal/core"
)

// ReplyTTL is the reply key's expiry.
const ReplyTTL = 60 * time.Second

// headerScan is how far into a message its header's newline must be.
const headerScan = 1024

// Header is a parsed first line "<op> <request-id> <reply-key>\n".
type Header struct {
	Op, RequestID, ReplyKey string
	BodyStart               int
}

// ParseHeader parses the first line of msg: three non-empty fields separated by single spaces,
// ASCII, with its newline in the first 1024 bytes; ok is false for a dead letter.
func ParseHeader(msg string) (h Header, ok bool) {
	end := -1
	for i := 0; i < len(msg) && i < headerScan; i++ {
		if msg[i] == '\n' {
			end = i
			break
		}
		if msg[i] >= 0x80 {
			return h, false
		}
	}
	if end < 0 {
		return h, false
	}
	fields := strings.Split(msg[:end], " ")
	if len(fields) != 3 || fields[0] == "" || fields[1] == "" || fields[2] == "" {
		return h, false
	}
	return Header{fields[0], fields[1], fields[2], end + 1}, true
}

// QueueHandler answers one queue message: the reply, or the message to <queue>:dead.
func QueueHandler(svc *core.Service, dead string) Handler {
	return func(ctx context.Context, msg string, tx redis.Pipeliner) {
		h, ok := ParseHeader(msg)
		if !ok {
			tx.LPush(ctx, dead, msg)
			return
		}
		r := svc.Handle(h.Op, []byte(msg[h.BodyStart:]))
		status := "ok "
		if !r.OK() {
			status = "error "
		}
		out := make([]byte, 0, len(status)+len(h.RequestID)+1+len(r.Body))
		out = append(append(append(append(out, status...), h.RequestID...), '\n'), r.Body...)
		tx.LPush(ctx, h.ReplyKey, out)
		tx.Expire(ctx, h.ReplyKey, ReplyTTL)
	}
}
