package httpsrv

import (
	"strings"
	"testing"
)

func TestParseHead(t *testing.T) {
	const ok = 0
	cases := []struct {
		name, in string
		status   int   // ok: parsed; -1: incomplete
		length   int   // the head's length when parsed (0: all of in)
		cl       int64 // Content-Length, -1 none
		chunked  bool
		close    bool
		expect   bool
		target   string
	}{
		{"post", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\n", ok, 0, 5, false, false, false, "/echo"},
		{"body follows", "POST /echo HTTP/1.1\r\nHost: x\r\nContent-Length: 2\r\n\r\nhi", ok, 51, 2, false, false, false, "/echo"},
		{"empty lines first", "\r\n\r\nGET /health HTTP/1.1\r\nHost: x\r\n\r\n", ok, 0, -1, false, false, false, "/health"},
		{"http10 closes", "GET /health HTTP/1.0\r\n\r\n", ok, 0, -1, false, true, false, "/health"},
		{"http10 keep-alive", "GET /health HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", ok, 0, -1, false, false, false, "/health"},
		{"close token", "GET / HTTP/1.1\r\nHost: x\r\nConnection: te, close\r\n\r\n", ok, 0, -1, false, true, false, "/"},
		{"chunked", "POST /echo HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: Chunked\r\n\r\n", ok, 0, -1, true, false, false, "/echo"},
		{"expect", "POST /echo HTTP/1.1\r\nHost: x\r\nExpect: 100-Continue\r\nContent-Length: 9\r\n\r\n", ok, 0, 9, false, false, true, "/echo"},
		{"expect ignored in 1.0", "POST /echo HTTP/1.0\r\nExpect: 100-continue\r\nContent-Length: 9\r\n\r\n", ok, 0, 9, false, true, false, "/echo"},
		{"absolute form", "GET http://h:1/health?x HTTP/1.1\r\nHost: h\r\n\r\n", ok, 0, -1, false, false, false, "/health?x"},
		{"absolute no path", "GET http://h HTTP/1.1\r\nHost: h\r\n\r\n", ok, 0, -1, false, false, false, "/"},
		{"same length twice", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\ncontent-length: 3\r\n\r\n", ok, 0, 3, false, false, false, "/e"},
		{"value whitespace", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length:\t 3 \r\n\r\n", ok, 0, 3, false, false, false, "/e"},
		{"incomplete line", "POST /ec", -1, 0, 0, false, false, false, ""},
		{"incomplete head", "POST /echo HTTP/1.1\r\nHost: x\r\n", -1, 0, 0, false, false, false, ""},
		{"no host", "GET /health HTTP/1.1\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"two hosts", "GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"bare LF line", "GET / HTTP/1.1\n\n", 400, 0, 0, false, false, false, ""},
		{"bare LF header", "GET / HTTP/1.1\r\nHost: x\n\n", 400, 0, 0, false, false, false, ""},
		{"no version", "POST /echo\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"double space", "POST  /echo  HTTP/1.1\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"extra part", "POST /echo HTTP/1.1 extra\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"method byte", "P\xffST /echo HTTP/1.1\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"control in target", "GET /a\x01b HTTP/1.1\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"version 9.9", "POST /echo HTTP/9.9\r\n\r\n", 505, 0, 0, false, false, false, ""},
		{"http09", "GET /health\r\n", 400, 0, 0, false, false, false, ""},
		{"folding", "GET / HTTP/1.1\r\nHost: x\r\n folded\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"NUL in value", "GET / HTTP/1.1\r\nHost: x\x00y\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"bad length", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 1e3\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"signed length", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: +5\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"empty length", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: \r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"two lengths", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 0\r\nContent-Length: 5\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"length and chunked", "POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 4\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"chunked not last", "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n", 501, 0, 0, false, false, false, ""},
		{"chunked twice", "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"unknown coding", "POST /e HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n", 501, 0, 0, false, false, false, ""},
		{"chunked in 1.0", "POST /e HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400, 0, 0, false, false, false, ""},
		{"expect other", "POST /e HTTP/1.1\r\nHost: x\r\nExpect: 200-ok\r\n\r\n", 417, 0, 0, false, false, false, ""},
		{"long line", "POST /" + strings.Repeat("e", MaxHeadBytes), 414, 0, 0, false, false, false, ""},
		{"only empty lines", strings.Repeat("\r\n", MaxHeadBytes/2), 414, 0, 0, false, false, false, ""},
		{"long head", "POST /e HTTP/1.1\r\nX-Big: " + strings.Repeat("v", MaxHeadBytes), 431, 0, 0, false, false, false, ""},
		{"many fields", "POST /e HTTP/1.1\r\nHost: x\r\n" + strings.Repeat("X-H: v\r\n", maxHeaderCount) + "\r\n", 431, 0, 0, false, false, false, ""},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			var h reqHead
			n, err := parseHead([]byte(c.in), &h)
			switch {
			case c.status > 0:
				if err == nil || err.status != c.status || err.why == "" {
					t.Fatalf("got %d, %v; want status %d", n, err, c.status)
				}
			case c.status < 0:
				if err != nil || n != 0 {
					t.Fatalf("got %d, %v; want incomplete", n, err)
				}
			default:
				want := c.length
				if want == 0 {
					want = len(c.in)
				}
				if err != nil || n != want {
					t.Fatalf("got %d, %v; want %d", n, err, want)
				}
				if h.contentLength != c.cl || h.chunked != c.chunked || h.close != c.close ||
					h.expect100 != c.expect || string(h.target) != c.target {
					t.Fatalf("got %+v (target %q)", h, h.target)
				}
			}
		})
	}
}

func TestParseHeadHugeLength(t *testing.T) {
	var h reqHead
	_, err := parseHead([]byte("POST /e HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999999999999999999\r\n\r\n"), &h)
	if err != nil || !h.huge {
		t.Fatalf("a length past int64 is parsed as huge (a 413), got %v %+v", err, h)
	}
}

func TestChunkDecoder(t *testing.T) {
	cases := []struct {
		name, in string
		body     string
		rest     string // what follows the body
		status   int    // 0: decoded; -1: incomplete
	}{
		{"two chunks", "3\r\nabc\r\n1\r\nd\r\n0\r\n\r\n", "abcd", "", 0},
		{"next request", "3\r\nabc\r\n0\r\n\r\nGET /", "abc", "GET /", 0},
		{"hex and extension", "A;name=\"v\"\r\n0123456789\r\n0 ; last\r\n\r\n", "0123456789", "", 0},
		{"trailer", "2\r\nhi\r\n0\r\nX-Sum: 1\r\nX-B: 2\r\n\r\n", "hi", "", 0},
		{"empty", "0\r\n\r\n", "", "", 0},
		{"incomplete data", "5\r\nhel", "", "", -1},
		{"not hex", "zz\r\nhello\r\n0\r\n\r\n", "", "", 400},
		{"no CRLF after data", "5\r\nhelloXX0\r\n\r\n", "", "", 400},
		{"negative", "-1\r\n\r\n", "", "", 400},
		{"empty size", "\r\n\r\n", "", "", 400},
		{"control in extension", "3;ext=\x01\r\nabc\r\n0\r\n\r\n", "", "", 400},
		{"bad trailer name", "0\r\nTrailer\xff: x\r\n\r\n", "", "", 400},
		{"bare LF", "3\nabc\r\n0\r\n\r\n", "", "", 400},
		{"over the limit", "11\r\n" + strings.Repeat("x", 17) + "\r\n0\r\n\r\n", "", "", 413},
		{"over in sum", "9\r\n123456789\r\n8\r\n12345678\r\n0\r\n\r\n", "", "", 413},
		{"huge size", "ffffffffffffffffff\r\nab\r\n", "", "", 413},
		{"long extension", "1;" + strings.Repeat("e", maxChunkLines) + "\r\n", "", "", 400},
	}
	for _, c := range cases {
		for _, split := range []int{0, 1} { // all at once, then one byte per feed
			t.Run(c.name, func(t *testing.T) {
				var d chunkDecoder
				var body []byte
				in := []byte(c.in)
				used, done, status := 0, false, 0
				for used < len(in) && !done && status == 0 {
					end := len(in)
					if split == 1 {
						end = used + 1
					}
					n, fin, err := d.feed(in[used:end], &body, 16)
					used, done = used+n, fin
					if err != nil {
						status = err.status
					}
				}
				switch {
				case c.status == -1 && (done || status != 0):
					t.Fatalf("split %d: want incomplete, got done %v status %d", split, done, status)
				case c.status > 0 && status != c.status:
					t.Fatalf("split %d: want %d, got %d (body %q)", split, c.status, status, body)
				case c.status == 0 && (!done || status != 0 || string(body) != c.body || c.in[used:] != c.rest):
					t.Fatalf("split %d: got done %v status %d body %q rest %q", split, done, status, body, c.in[used:])
				}
			})
		}
	}
}
