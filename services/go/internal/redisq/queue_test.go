package redisq

import (
	"strings"
	"testing"
)

func TestParseHeader(t *testing.T) {
	cases := []struct {
		msg  string
		ok   bool
		want Header
	}{
		{"echo id-1 reply:1\nbody", true, Header{"echo", "id-1", "reply:1", 18}},
		{"diff r k\n", true, Header{"diff", "r", "k", 9}},
		{"frob r k\nx", true, Header{"frob", "r", "k", 9}}, // an unknown op is answered, not dead
		{"no newline at all", false, Header{}},
		{"echo only-two\nbody", false, Header{}},
		{"echo a b c d\nbody", false, Header{}},
		{"\xff\xfe x y\nbody", false, Header{}},
		{"echo  double-space\n", false, Header{}},
		{"echo a \n", false, Header{}},
		{" a b\n", false, Header{}},
		{strings.Repeat("x", 2000) + "\n", false, Header{}},
		{"echo a " + strings.Repeat("k", 1010) + "\n", true, Header{"echo", "a", strings.Repeat("k", 1010), 1018}},
		{"echo a " + strings.Repeat("k", 1020) + "\n", false, Header{}},
	}
	for _, c := range cases {
		h, ok := ParseHeader(c.msg)
		if ok != c.ok || (ok && h != c.want) {
			t.Errorf("ParseHeader(%.40q) = %+v, %v; want %+v, %v", c.msg, h, ok, c.want, c.ok)
		}
	}
}
