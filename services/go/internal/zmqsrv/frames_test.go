package zmqsrv

import (
	"encoding/json"
	"testing"

	"interopbench/go/internal/core"
)

func TestReply(t *testing.T) {
	svc := core.NewService(core.Settings{MaxBodyBytes: core.MaxBodyBytes, MaxDiffTokens: core.MaxDiffTokens})
	id := []byte("peer")
	cases := []struct {
		name   string
		frames [][]byte
		want   []string // frames of the reply; "bad_request" stands for an error body of that code
	}{
		{"req-echo", [][]byte{id, {}, []byte("echo"), []byte("hi")}, []string{"peer", "", "ok", "hi"}},
		{"unknown-op", [][]byte{id, {}, []byte("nope"), {}}, []string{"peer", "", "error", "unknown_op"}},
		{"one-frame", [][]byte{id, {}, []byte("echo")}, []string{"peer", "", "error", "bad_request"}},
		{"three-frames", [][]byte{id, {}, []byte("echo"), []byte("x"), []byte("y")}, []string{"peer", "", "error", "bad_request"}},
		{"no-delimiter", [][]byte{id, []byte("echo"), []byte("x")}, []string{"peer", "error", "bad_request"}},
		{"nested-envelope", [][]byte{id, []byte("hop"), {}, []byte("echo"), []byte("x")}, []string{"peer", "hop", "", "ok", "x"}},
	}
	for _, c := range cases {
		got := Reply(svc, c.frames)
		if len(got) != len(c.want) {
			t.Errorf("%s: %d frames %q, want %q", c.name, len(got), got, c.want)
			continue
		}
		for i, w := range c.want {
			g := string(got[i])
			if w == "bad_request" || w == "unknown_op" {
				var doc map[string]any
				if json.Unmarshal(got[i], &doc) != nil || doc["error"] != w {
					t.Errorf("%s: frame %d = %s, want an error body %s", c.name, i, g, w)
				}
			} else if g != w {
				t.Errorf("%s: frame %d = %q, want %q", c.name, i, g, w)
			}
		}
	}
}
