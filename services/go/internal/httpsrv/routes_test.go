package httpsrv

import (
	"testing"

	"interopbench/go/internal/core"
)

func TestLookup(t *testing.T) {
	svc := core.NewService(core.Settings{MaxBodyBytes: 100, MaxDiffTokens: 10})
	cases := []struct {
		method, path string
		length       int64
		status       int // 0: routed
		allow        string
	}{
		{"POST", "/echo", 5, 0, ""},
		{"POST", "/echo?x=1", -1, 0, ""},
		{"GET", "/health", -1, 0, ""},
		{"GET", "/echo", -1, 405, "POST"},
		{"PUT", "/diff", 2, 405, "POST"},
		{"POST", "/health", 0, 405, "GET"},
		{"GET", "/no/such/path", -1, 404, ""},
		{"POST", "/echo", 101, 413, ""},
	}
	for _, c := range cases {
		r, resp := Lookup(svc, c.method, c.path, c.length)
		switch {
		case c.status == 0 && (r == nil || resp != nil):
			t.Errorf("%s %s: not routed: %+v", c.method, c.path, resp)
		case c.status != 0 && (resp == nil || resp.Status != c.status || resp.Allow != c.allow || resp.ContentType != JSON):
			t.Errorf("%s %s: got %+v, want %d allow %q", c.method, c.path, resp, c.status, c.allow)
		case c.status == 413 && !resp.Close:
			t.Errorf("a 413 closes the connection")
		}
	}
}
