package core

import (
	"fmt"
	"testing"
)

// Cases checked by hand against CPython 3.11's difflib (the shared vectors cover the rest).
func TestOpcodesSmall(t *testing.T) {
	cases := []struct {
		a, b []string
		want string
	}{
		{nil, nil, "[]"},
		{[]string{"a"}, nil, "[{delete 0 1 0 0}]"},
		{nil, []string{"a"}, "[{insert 0 0 0 1}]"},
		{[]string{"a", "b", "c"}, []string{"a", "x", "c"}, "[{equal 0 1 0 1} {replace 1 2 1 2} {equal 2 3 2 3}]"},
		// ties: the earliest longest block in a, then in b
		{[]string{"a", "a", "a"}, []string{"a", "a"}, "[{equal 0 2 0 2} {delete 2 3 2 2}]"},
		// code points, not normalised: precomposed é and e + U+0301 differ
		{[]string{"\u00e9"}, []string{"e\u0301"}, "[{replace 0 1 0 1}]"},
	}
	for _, c := range cases {
		if got := fmt.Sprint(Opcodes(c.a, c.b)); got != c.want {
			t.Errorf("Opcodes(%q, %q) = %s, want %s", c.a, c.b, got, c.want)
		}
	}
}

func BenchmarkOpcodes5000(b *testing.B) {
	a, bb := make([]string, 5000), make([]string, 5000)
	for i := range a {
		a[i] = fmt.Sprintf("line %d", (i*7919)%1000)
		bb[i] = fmt.Sprintf("line %d", (i*104729)%1000)
	}
	for b.Loop() {
		Opcodes(a, bb)
	}
}
