package core

import (
	"strings"
	"testing"
	"unicode/utf8"
)

func TestParseDiffRequestErrors(t *testing.T) {
	deep := strings.Repeat("[", MaxDepth+1) + strings.Repeat("]", MaxDepth+1)
	cases := []struct {
		name, body, want string // want: a fragment of the message
	}{
		{"empty", "", "empty body"},
		{"bom", "\ufeff{\"a\": [], \"b\": []}", "not valid JSON"},
		{"control-in-string", "{\"a\": [\"x\ty\"], \"b\": []}", "control character"},
		{"trailing", `{"a": [], "b": []} x`, "extra data"},
		{"not-object", `[1]`, "JSON object"},
		{"missing-b", `{"a": []}`, "both 'a' and 'b'"},
		{"a-number", `{"a": ["x", 1], "b": []}`, "'a' must be"},
		{"b-null", `{"a": [], "b": null}`, "'b' must be"},
		{"lone-high", `{"a": ["\ud800"], "b": []}`, "lone surrogate"},
		{"lone-low-in-b", `{"a": [], "b": ["x\udc00y"]}`, "lone surrogate"},
		{"reversed-pair", `{"a": ["\udc00\ud800"], "b": []}`, "lone surrogate"},
		{"bad-escape", `{"a": ["\q"], "b": []}`, "invalid escape"},
		{"short-unicode-escape", `{"a": ["\u12"], "b": []}`, "\\u escape"},
		{"deep", `{"a": [], "b": [], "x": ` + deep + `}`, "nested deeper"},
		{"leading-zero", `{"a": [], "b": [], "x": 01}`, "expected ','"},
		{"not-utf8", "{\"a\": [\"\xff\"], \"b\": []}", "UTF-8"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			_, _, err := ParseDiffRequest([]byte(c.body))
			if err == nil || err.Code != BadRequest || !strings.Contains(err.Message, c.want) {
				t.Fatalf("got %v, want bad_request with %q", err, c.want)
			}
		})
	}
}

func TestParseDiffRequestValues(t *testing.T) {
	a, b, err := ParseDiffRequest([]byte(`{"b": ["\ud83d\ude00", "\u00e9\n", "/\/"], "a": ["x"], "a": ["y"], "z": {"q": [1.5e3, true, null]}}`))
	if err != nil {
		t.Fatal(err)
	}
	if len(a) != 1 || a[0] != "y" {
		t.Fatalf("a repeated key keeps its last value: got %q", a)
	}
	if want := []string{"😀", "é\n", "//"}; strings.Join(b, "|") != strings.Join(want, "|") {
		t.Fatalf("b = %q, want %q", b, want)
	}
}

func TestAppendPyString(t *testing.T) {
	cases := []struct{ in, want string }{
		{"plain", `"plain"`},
		{"q\"b\\", `"q\"b\\"`},
		{"é", `"\u00e9"`},
		{"😀", `"\ud83d\ude00"`},
		{"\x00\n\t\x7f", `"\u0000\n\t\u007f"`},
		{"\xed\xa0\x80", `"\ud800"`}, // a lone surrogate kept by the parser
		{"\xff", `"\ufffd"`},
	}
	for _, c := range cases {
		if got := string(AppendPyString(nil, c.in)); got != c.want {
			t.Errorf("AppendPyString(%q) = %s, want %s", c.in, got, c.want)
		}
	}
}

func TestParseJSONLoneSurrogateIsInvalidUTF8(t *testing.T) {
	v, err := ParseJSON([]byte(`["a\ud800b", "\ud800\udc00"]`))
	if err != nil {
		t.Fatal(err)
	}
	l := v.([]any)
	if utf8.ValidString(l[0].(string)) {
		t.Fatal("a lone surrogate must decode to invalid UTF-8")
	}
	if l[1].(string) != "\U00010000" {
		t.Fatalf("a surrogate pair is one code point, got %q", l[1])
	}
}

func TestHandleUnknownOpAndInternal(t *testing.T) {
	svc := NewService(Settings{MaxBodyBytes: 10, MaxDiffTokens: 3, TestHooks: true})
	cases := []struct {
		op, body string
		want     Code
	}{
		{"frobnicate", "", UnknownOp},
		{"echo", "12345678901", TooLarge},
		{"diff", `{"a": ["x", "y"], "b": ["z", "w"]}`, TooLarge},
		{"diff", `{"a":["__bench_fault__:internal"],"b":[]}`, TooLarge}, // size first: 40 bytes > 10
	}
	for _, c := range cases {
		if r := svc.Handle(c.op, []byte(c.body)); r.Err != c.want {
			t.Errorf("%s %q: got %q, want %q", c.op, c.body, r.Err, c.want)
		}
	}
	svc = NewService(Settings{MaxBodyBytes: 1000, MaxDiffTokens: 3, TestHooks: true})
	if r := svc.Handle("diff", []byte(`{"a":["__bench_fault__:internal"],"b":[]}`)); r.Err != Internal {
		t.Errorf("the fault hook: got %q %s", r.Err, r.Body)
	}
	if r := svc.Handle("echo", []byte("ok")); !r.OK() {
		t.Error("the service serves on after an internal error")
	}
}
