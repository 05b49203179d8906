package core

// JSON as Python's json module reads and writes it, for the contract: a strict parser (one
// document, whitespace " \t\n\r", no control characters inside strings, nesting at most
// MaxDepth) and writers in json.dumps' style (ensure_ascii: everything outside printable ASCII
// as \uXXXX, astral characters as surrogate pairs).
//
// A \uXXXX escape that yields a lone surrogate is kept in the decoded string as its 3-byte
// WTF-8 form, which is not valid UTF-8: since the parser only reads valid UTF-8, a decoded
// string is free of lone surrogates exactly when utf8.ValidString says so.

import (
	"errors"
	"fmt"
	"strconv"
	"unicode/utf16"
	"unicode/utf8"
)

// MaxDepth is the deepest nesting of arrays and objects the parser accepts.
const MaxDepth = 1000

type parser struct {
	s     []byte
	pos   int
	depth int
}

func (p *parser) fail(format string, args ...any) error {
	return fmt.Errorf("%s at byte %d", fmt.Sprintf(format, args...), p.pos)
}

func (p *parser) ws() {
	for p.pos < len(p.s) {
		switch p.s[p.pos] {
		case ' ', '\t', '\n', '\r':
			p.pos++
		default:
			return
		}
	}
}

// ParseJSON decodes one JSON document: map[string]any (a repeated key keeps its last value),
// []any, string, Number, bool or nil. The input must be valid UTF-8 (check it first).
func ParseJSON(doc []byte) (any, error) {
	p := &parser{s: doc}
	p.ws()
	if p.pos == len(p.s) {
		return nil, errors.New("empty document")
	}
	v, err := p.value()
	if err != nil {
		return nil, err
	}
	p.ws()
	if p.pos != len(p.s) {
		return nil, p.fail("extra data after the document")
	}
	return v, nil
}

// Number is a JSON number, kept as its text.
type Number string

func (p *parser) value() (any, error) {
	if p.pos >= len(p.s) {
		return nil, p.fail("unexpected end of document")
	}
	switch c := p.s[p.pos]; {
	case c == '{':
		return p.object()
	case c == '[':
		return p.array()
	case c == '"':
		return p.str()
	case c == 't':
		return true, p.literal("true")
	case c == 'f':
		return false, p.literal("false")
	case c == 'n':
		return nil, p.literal("null")
	case c == '-' || (c >= '0' && c <= '9'):
		return p.number()
	default:
		return nil, p.fail("unexpected character %q", c)
	}
}

func (p *parser) literal(word string) error {
	if len(p.s)-p.pos < len(word) || string(p.s[p.pos:p.pos+len(word)]) != word {
		return p.fail("expected %s", word)
	}
	p.pos += len(word)
	return nil
}

func (p *parser) enter() error {
	p.depth++
	if p.depth > MaxDepth {
		return p.fail("nested deeper than %d", MaxDepth)
	}
	p.pos++
	return nil
}

func (p *parser) object() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	m := map[string]any{}
	p.ws()
	if p.pos < len(p.s) && p.s[p.pos] == '}' {
		p.pos++
		p.depth--
		return m, nil
	}
	for {
		p.ws()
		if p.pos >= len(p.s) || p.s[p.pos] != '"' {
			return nil, p.fail("expected a property name in double quotes")
		}
		k, err := p.str()
		if err != nil {
			return nil, err
		}
		if err := p.colon(); err != nil {
			return nil, err
		}
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		m[k] = v
		more, err := p.next('}')
		if err != nil {
			return nil, err
		}
		if !more {
			p.depth--
			return m, nil
		}
	}
}

func (p *parser) colon() error {
	p.ws()
	if p.pos >= len(p.s) || p.s[p.pos] != ':' {
		return p.fail("expected ':'")
	}
	p.pos++
	p.ws()
	return nil
}

// next reads ',' (true) or the closing character (false) after a member.
func (p *parser) next(closing byte) (bool, error) {
	p.ws()
	if p.pos >= len(p.s) {
		return false, p.fail("unexpected end of document")
	}
	switch p.s[p.pos] {
	case ',':
		p.pos++
		p.ws()
		return true, nil
	case closing:
		p.pos++
		return false, nil
	}
	return false, p.fail("expected ',' or %q", closing)
}

func (p *parser) array() (any, error) {
	if err := p.enter(); err != nil {
		return nil, err
	}
	l := []any{}
	p.ws()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		p.depth--
		return l, nil
	}
	for {
		v, err := p.value()
		if err != nil {
			return nil, err
		}
		l = append(l, v)
		more, err := p.next(']')
		if err != nil {
			return nil, err
		}
		if !more {
			p.depth--
			return l, nil
		}
	}
}

// stringArray reads an array; ok is false (the value skipped) when it is not an array of strings.
func (p *parser) stringArray() (out []string, ok bool, err error) {
	if p.pos >= len(p.s) || p.s[p.pos] != '[' {
		_, err = p.value()
		return nil, false, err
	}
	if err := p.enter(); err != nil {
		return nil, false, err
	}
	out = []string{}
	ok = true
	p.ws()
	if p.pos < len(p.s) && p.s[p.pos] == ']' {
		p.pos++
		p.depth--
		return out, true, nil
	}
	for {
		if p.pos < len(p.s) && p.s[p.pos] == '"' {
			s, err := p.str()
			if err != nil {
				return nil, false, err
			}
			out = append(out, s)
		} else {
			if _, err := p.value(); err != nil {
				return nil, false, err
			}
			ok = false
		}
		more, err := p.next(']')
		if err != nil {
			return nil, false, err
		}
		if !more {
			p.depth--
			if !ok {
				return nil, false, nil
			}
			return out, true, nil
		}
	}
}

func (p *parser) number() (any, error) {
	start := p.pos
	if p.s[p.pos] == '-' {
		p.pos++
	}
	digits := func() int {
		n := 0
		for p.pos < len(p.s) && p.s[p.pos] >= '0' && p.s[p.pos] <= '9' {
			p.pos++
			n++
		}
		return n
	}
	if p.pos < len(p.s) && p.s[p.pos] == '0' {
		p.pos++
	} else if digits() == 0 {
		return nil, p.fail("expected a digit")
	}
	if p.pos < len(p.s) && p.s[p.pos] == '.' {
		p.pos++
		if digits() == 0 {
			return nil, p.fail("expected a digit after '.'")
		}
	}
	if p.pos < len(p.s) && (p.s[p.pos] == 'e' || p.s[p.pos] == 'E') {
		p.pos++
		if p.pos < len(p.s) && (p.s[p.pos] == '+' || p.s[p.pos] == '-') {
			p.pos++
		}
		if digits() == 0 {
			return nil, p.fail("expected a digit in the exponent")
		}
	}
	return Number(p.s[start:p.pos]), nil
}

func hex4(b []byte) (rune, bool) {
	if len(b) < 4 {
		return 0, false
	}
	v, err := strconv.ParseUint(string(b[:4]), 16, 32)
	return rune(v), err == nil
}

func (p *parser) str() (string, error) {
	p.pos++ // the opening quote
	start := p.pos
	// fast path: no escapes
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		if c == '"' {
			s := string(p.s[start:p.pos])
			p.pos++
			return s, nil
		}
		if c == '\\' {
			break
		}
		if c < 0x20 {
			return "", p.fail("invalid control character in a string")
		}
		p.pos++
	}
	buf := append([]byte(nil), p.s[start:p.pos]...)
	for p.pos < len(p.s) {
		c := p.s[p.pos]
		switch {
		case c == '"':
			p.pos++
			return string(buf), nil
		case c < 0x20:
			return "", p.fail("invalid control character in a string")
		case c != '\\':
			buf = append(buf, c)
			p.pos++
			continue
		}
		if p.pos+1 >= len(p.s) {
			break
		}
		e := p.s[p.pos+1]
		p.pos += 2
		switch e {
		case '"', '\\', '/':
			buf = append(buf, e)
		case 'b':
			buf = append(buf, '\b')
		case 'f':
			buf = append(buf, '\f')
		case 'n':
			buf = append(buf, '\n')
		case 'r':
			buf = append(buf, '\r')
		case 't':
			buf = append(buf, '\t')
		case 'u':
			r, ok := hex4(p.s[p.pos:])
			if !ok {
				return "", p.fail("invalid \\u escape")
			}
			p.pos += 4
			if utf16.IsSurrogate(r) && r < 0xdc00 && p.pos+1 < len(p.s) && p.s[p.pos] == '\\' && p.s[p.pos+1] == 'u' {
				if r2, ok := hex4(p.s[p.pos+2:]); ok && r2 >= 0xdc00 && r2 <= 0xdfff {
					p.pos += 6
					buf = utf8.AppendRune(buf, utf16.DecodeRune(r, r2))
					continue
				}
			}
			if utf16.IsSurrogate(r) {
				// a lone surrogate: its WTF-8 form (invalid UTF-8, see the file comment)
				buf = append(buf, 0xe0|byte(r>>12), 0x80|byte(r>>6)&0x3f, 0x80|byte(r)&0x3f)
			} else {
				buf = utf8.AppendRune(buf, r)
			}
		default:
			return "", p.fail("invalid escape '\\%c'", e)
		}
	}
	return "", p.fail("unterminated string")
}

// AppendPyString appends s as json.dumps (ensure_ascii) writes a str; bytes of s that are not
// UTF-8 (a lone surrogate in WTF-8 included) are written as the surrogate or as U+FFFD.
func AppendPyString(dst []byte, s string) []byte {
	const hex = "0123456789abcdef"
	esc := func(dst []byte, u uint16) []byte {
		return append(dst, '\\', 'u', hex[u>>12], hex[u>>8&15], hex[u>>4&15], hex[u&15])
	}
	dst = append(dst, '"')
	for i := 0; i < len(s); {
		c := s[i]
		if c >= 0x20 && c < 0x7f {
			if c == '"' || c == '\\' {
				dst = append(dst, '\\')
			}
			dst = append(dst, c)
			i++
			continue
		}
		if c < 0x80 {
			switch c {
			case '\n':
				dst = append(dst, '\\', 'n')
			case '\r':
				dst = append(dst, '\\', 'r')
			case '\t':
				dst = append(dst, '\\', 't')
			case '\b':
				dst = append(dst, '\\', 'b')
			case '\f':
				dst = append(dst, '\\', 'f')
			default:
				dst = esc(dst, uint16(c))
			}
			i++
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		if r == utf8.RuneError && n == 1 {
			if i+2 < len(s) && c == 0xed && s[i+1] >= 0xa0 && s[i+1] <= 0xbf && s[i+2] >= 0x80 && s[i+2] <= 0xbf {
				dst = esc(dst, uint16(0xd000|rune(s[i+1]&0x3f)<<6|rune(s[i+2]&0x3f)))
				i += 3
				continue
			}
			dst = esc(dst, 0xfffd)
			i++
			continue
		}
		if r >= 0x10000 {
			r1, r2 := utf16.EncodeRune(r)
			dst = esc(esc(dst, uint16(r1)), uint16(r2))
		} else {
			dst = esc(dst, uint16(r))
		}
		i += n
	}
	return append(dst, '"')
}
