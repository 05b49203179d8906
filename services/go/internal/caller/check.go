package caller

import (
	"bytes"
	"fmt"
	"slices"
)

// Reply is what a client read for one request. Body may point into the client's own buffer:
// it is valid until the client's next Call.
type Reply struct {
	OK      bool     // the transport's success status (http 200, zmq/redis "ok", grpc OK, celery SUCCESS)
	Status  string   // the status as the transport said it, for error samples
	Body    []byte   // the reply body (echo bytes, diff JSON, or an error body)
	Opcodes []Opcode // gRPC and Celery carry a diff's opcodes as values: set with HasOpcodes
	// HasOpcodes: Opcodes holds the reply's opcodes (no JSON to parse).
	HasOpcodes bool
}

// Client sends the cell's one request and reads its reply. An error means no reply came (a
// transport error or a timeout): the client then reconnects on its next Call.
type Client interface {
	Call() (Reply, error)
	Close()
}

// Check says whether replies are right (LOADGEN.md "What is right"). One per user.
type Check struct {
	req  Request
	good [][]byte // diff reply bodies already found right (up to 4), not parsed again
}

// NewCheck returns a checker of replies to req.
func NewCheck(req Request) *Check { return &Check{req: req} }

const sample = 16

// Wrong is "" when r is right, else what is wrong with it.
func (c *Check) Wrong(r *Reply) string {
	if !r.OK {
		return fmt.Sprintf("error reply (%s): %s", r.Status, clip(r.Body, 200))
	}
	if c.req.Op == "echo" {
		return c.wrongEcho(r.Body)
	}
	return c.wrongDiff(r)
}

func (c *Check) wrongEcho(got []byte) string {
	want := c.req.Body
	n := len(want)
	if len(got) != n {
		return fmt.Sprintf("echo reply of %d bytes, %d sent", len(got), n)
	}
	var same bool
	if n <= 64 {
		same = bytes.Equal(got, want)
	} else {
		h := n / 2
		same = bytes.Equal(got[:sample], want[:sample]) && bytes.Equal(got[h:h+sample], want[h:h+sample]) &&
			bytes.Equal(got[n-sample:], want[n-sample:])
	}
	if same {
		return ""
	}
	return "echo reply differs from the request: " + clip(got, 120)
}

func (c *Check) wrongDiff(r *Reply) string {
	ops := r.Opcodes
	if !r.HasOpcodes {
		for _, g := range c.good {
			if bytes.Equal(g, r.Body) {
				return ""
			}
		}
		var err error
		ops, err = ParseOpcodesJSON(r.Body)
		if err != nil {
			return fmt.Sprintf("diff reply is not {\"opcodes\": [[tag, i1, i2, j1, j2], ...]} (%v): %s", err,
				clip(r.Body, 120))
		}
		if slices.Equal(ops, c.req.Opcodes) {
			if len(c.good) < 4 {
				c.good = append(c.good, bytes.Clone(r.Body))
			}
			return ""
		}
	} else if slices.Equal(ops, c.req.Opcodes) {
		return ""
	}
	first := ""
	if len(ops) > 0 {
		first = fmt.Sprintf("; first %v", ops[0])
	}
	return fmt.Sprintf("diff reply has %d opcodes, not the expected %d%s", len(ops), len(c.req.Opcodes), first)
}

func clip(b []byte, n int) string {
	if len(b) > n {
		return fmt.Sprintf("%q...", b[:n])
	}
	return fmt.Sprintf("%q", b)
}
