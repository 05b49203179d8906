package httpsrv

import (
	"bytes"
	"fmt"
	"strconv"
)

// Limits of the event-loop server's parser (fasthttp's ReadBufferSize is the same 16 KiB).
const (
	MaxHeadBytes   = 16 * 1024 // request line and header fields
	maxHeaderCount = 128
	maxChunkLines  = 16 * 1024 // a chunk-size line with its extensions; the trailer section
)

// httpError is a request the parser refuses: the status and why, for the error body.
type httpError struct {
	status int
	why    string
}

func (e *httpError) Error() string { return fmt.Sprintf("%d %s", e.status, e.why) }

func refuse(status int, format string, args ...any) *httpError {
	return &httpError{status, fmt.Sprintf(format, args...)}
}

// reqHead is a parsed request head (RFC 9112 sections 3 and 5). method and target are views
// into the buffer the head was parsed from.
type reqHead struct {
	method, target []byte
	minor          int   // HTTP/1.<minor>: 0 or 1
	contentLength  int64 // -1: none
	huge           bool  // Content-Length too long to parse: over any limit
	chunked        bool
	close          bool // the connection ends after the response
	expect100      bool
}

// tchar is RFC 9110's token character set (methods, field names).
var tchar [256]bool

func init() {
	for c := '0'; c <= '9'; c++ {
		tchar[c] = true
	}
	for c := 'a'; c <= 'z'; c++ {
		tchar[c] = true
		tchar[c-'a'+'A'] = true
	}
	for _, c := range "!#$%&'*+-.^_`|~" {
		tchar[c] = true
	}
}

// fieldByte is a byte allowed in a field value: VCHAR, obs-text, SP and HTAB.
func fieldByte(c byte) bool { return c >= 0x20 && c != 0x7f || c == '\t' }

// parseHead parses the request head at the start of buf into h. It returns the head's length
// (its final CRLF included), or 0 and nil when buf holds only part of a head; an error is a
// request that cannot be served, whatever follows. Empty lines before the request line are
// skipped (RFC 9112 section 2.2).
func parseHead(buf []byte, h *reqHead) (int, *httpError) {
	start := 0
	for len(buf)-start >= 2 && buf[start] == '\r' && buf[start+1] == '\n' {
		start += 2
	}
	lineEnd := bytes.IndexByte(buf[start:], '\n')
	if lineEnd < 0 {
		if len(buf) >= MaxHeadBytes { // the empty lines count: a peer sending only CRLFs is cut off
			return 0, refuse(414, "the request line is longer than %d bytes", MaxHeadBytes)
		}
		return 0, nil
	}
	lineEnd += start
	if err := parseRequestLine(buf[start:lineEnd], h); err != nil {
		return 0, err
	}
	end := bytes.Index(buf[lineEnd-1:], []byte("\r\n\r\n")) // from the request line's CR
	if end < 0 {
		if bytes.Contains(buf[lineEnd+1:], []byte("\n\n")) || bytes.Contains(buf[lineEnd+1:], []byte("\n\r\n")) {
			return 0, refuse(400, "a header line ends in a bare LF; end lines with CRLF")
		}
		if len(buf) >= MaxHeadBytes {
			return 0, refuse(431, "the header section is longer than %d bytes", MaxHeadBytes)
		}
		return 0, nil
	}
	end += lineEnd - 1 + 4
	if end > MaxHeadBytes {
		return 0, refuse(431, "the header section is longer than %d bytes", MaxHeadBytes)
	}
	if err := parseFields(buf[lineEnd+1:end-2], h); err != nil {
		return 0, err
	}
	return end, nil
}

// parseRequestLine parses `method SP target SP HTTP/1.x` with its CR (the LF is cut off).
func parseRequestLine(line []byte, h *reqHead) *httpError {
	if len(line) == 0 || line[len(line)-1] != '\r' {
		return refuse(400, "the request line ends in a bare LF; end it with CRLF")
	}
	line = line[:len(line)-1]
	sp := bytes.IndexByte(line, ' ')
	if sp <= 0 {
		return refuse(400, "the request line is not `METHOD /path HTTP/1.1`")
	}
	h.method = line[:sp]
	for _, c := range h.method {
		if !tchar[c] {
			return refuse(400, "the method holds the byte 0x%02x, which is not a token character", c)
		}
	}
	rest := line[sp+1:]
	sp = bytes.IndexByte(rest, ' ')
	if sp <= 0 {
		return refuse(400, "the request line is not `METHOD /path HTTP/1.1` (one space between its parts)")
	}
	h.target = rest[:sp]
	for _, c := range h.target {
		if c <= ' ' || c == 0x7f {
			return refuse(400, "the request target holds the control byte 0x%02x", c)
		}
	}
	if h.target[0] != '/' {
		if h.target = originForm(h.target); h.target == nil {
			return refuse(400, "the request target is neither /path nor http://host/path")
		}
	}
	v := rest[sp+1:]
	switch {
	case string(v) == "HTTP/1.1":
		h.minor = 1
	case string(v) == "HTTP/1.0":
		h.minor = 0
	case len(v) == 8 && string(v[:5]) == "HTTP/" && isDigit(v[5]) && v[6] == '.' && isDigit(v[7]):
		return refuse(505, "HTTP version %s is not supported; use HTTP/1.1 or HTTP/1.0", v)
	default:
		return refuse(400, "the request line does not end with HTTP/1.1 or HTTP/1.0")
	}
	return nil
}

// originForm is the path and query of an absolute-form target (http://host/path?q), "/" when
// it has no path, or nil when it is not one (RFC 9112 section 3.2.2).
func originForm(t []byte) []byte {
	i := bytes.Index(t, []byte("://"))
	if i <= 0 {
		return nil
	}
	for _, c := range t[:i] {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z') {
			return nil
		}
	}
	rest := t[i+3:]
	if j := bytes.IndexAny(rest, "/?"); j >= 0 {
		if rest[j] == '?' {
			return append([]byte("/"), rest[j:]...)
		}
		return rest[j:]
	}
	return []byte("/")
}

func isDigit(c byte) bool { return c >= '0' && c <= '9' }

// parseFields parses the header fields (each line with its CRLF) and sets h's framing and
// connection fields.
func parseFields(fields []byte, h *reqHead) *httpError {
	h.contentLength, h.huge, h.chunked, h.expect100 = -1, false, false, false
	keepAlive, closeConn, hosts, count, te := false, false, 0, 0, false
	for len(fields) > 0 {
		nl := bytes.IndexByte(fields, '\n')
		line := fields[:nl]
		fields = fields[nl+1:]
		if len(line) == 0 || line[len(line)-1] != '\r' {
			return refuse(400, "a header line ends in a bare LF; end lines with CRLF")
		}
		line = line[:len(line)-1]
		if count++; count > maxHeaderCount {
			return refuse(431, "more than %d header fields", maxHeaderCount)
		}
		if line[0] == ' ' || line[0] == '\t' {
			return refuse(400, "a header line begins with whitespace (obsolete line folding)")
		}
		colon := bytes.IndexByte(line, ':')
		if colon <= 0 {
			return refuse(400, "a header line has no `name:`")
		}
		name := line[:colon]
		for _, c := range name {
			if !tchar[c] {
				return refuse(400, "a header name holds the byte 0x%02x, which is not a token character", c)
			}
		}
		value := line[colon+1:]
		for _, c := range value {
			if !fieldByte(c) {
				return refuse(400, "the value of %s holds the control byte 0x%02x", name, c)
			}
		}
		value = bytes.Trim(value, " \t")
		switch {
		case equalFold(name, "content-length"):
			n, huge, ok := parseLength(value)
			if !ok {
				return refuse(400, "Content-Length %q is not a number of bytes", value)
			}
			if h.contentLength >= 0 && (n != h.contentLength || huge != h.huge) {
				return refuse(400, "two different Content-Length values")
			}
			h.contentLength, h.huge = n, huge
		case equalFold(name, "transfer-encoding"):
			if err := parseCodings(value, te); err != nil {
				return err
			}
			te = true
		case equalFold(name, "connection"):
			forTokens(value, func(t []byte) {
				switch {
				case equalFold(t, "close"):
					closeConn = true
				case equalFold(t, "keep-alive"):
					keepAlive = true
				}
			})
		case equalFold(name, "expect"):
			if !equalFold(value, "100-continue") {
				return refuse(417, "Expect %q is not supported; only 100-continue is", value)
			}
			h.expect100 = true
		case equalFold(name, "host"):
			hosts++
		}
	}
	if te {
		switch {
		case h.minor == 0:
			return refuse(400, "Transfer-Encoding in an HTTP/1.0 request")
		case h.contentLength >= 0 || h.huge:
			return refuse(400, "both Content-Length and Transfer-Encoding; send one of them")
		}
		h.chunked = true
	}
	if h.minor == 1 && hosts != 1 {
		return refuse(400, "an HTTP/1.1 request needs exactly one Host header, it has %d", hosts)
	}
	h.close = closeConn || h.minor == 0 && !keepAlive
	if h.minor == 0 {
		h.expect100 = false
	}
	return nil
}

// parseLength parses a Content-Length value: 1*DIGIT. huge: too many digits for an int64.
func parseLength(v []byte) (n int64, huge, ok bool) {
	if len(v) == 0 {
		return 0, false, false
	}
	for _, c := range v {
		if !isDigit(c) {
			return 0, false, false
		}
	}
	n, err := strconv.ParseInt(string(v), 10, 64)
	if err != nil {
		return 0, true, true
	}
	return n, false, true
}

// parseCodings checks a Transfer-Encoding value: chunked, once and last, is the only coding
// served (RFC 9112 section 6.1). seen: an earlier Transfer-Encoding line (it had chunked).
func parseCodings(v []byte, seen bool) *httpError {
	var codings [][]byte
	forTokens(v, func(t []byte) { codings = append(codings, t) })
	if len(codings) == 0 {
		return refuse(400, "an empty Transfer-Encoding")
	}
	for _, c := range codings {
		if !equalFold(c, "chunked") {
			return refuse(501, "Transfer-Encoding %q is not supported; only chunked is", c)
		}
	}
	if seen || len(codings) > 1 {
		return refuse(400, "chunked applied more than once")
	}
	return nil
}

// forTokens calls f on each element of a comma-separated list, without its whitespace.
func forTokens(v []byte, f func([]byte)) {
	for len(v) > 0 {
		var t []byte
		if i := bytes.IndexByte(v, ','); i >= 0 {
			t, v = v[:i], v[i+1:]
		} else {
			t, v = v, nil
		}
		if t = bytes.Trim(t, " \t"); len(t) > 0 {
			f(t)
		}
	}
}

// equalFold compares b with the lower-case ASCII s, ignoring b's case.
func equalFold(b []byte, s string) bool {
	if len(b) != len(s) {
		return false
	}
	for i := range len(b) {
		c := b[i]
		if c >= 'A' && c <= 'Z' {
			c += 'a' - 'A'
		}
		if c != s[i] {
			return false
		}
	}
	return true
}

// Chunk decoder states.
const (
	chunkSize    = iota // the hex digits of a chunk-size
	chunkExt            // after the digits: extensions up to CR
	chunkSizeLF         // the LF of the size line
	chunkData           // the chunk's data
	chunkDataCR         // the CRLF after the data
	chunkDataLF         //
	trailerStart        // the start of a trailer line, or the final CRLF
	trailerName         // a trailer field's name
	trailerValue        // its value up to CR
	trailerLF           // the LF of a trailer line
	trailerEndLF        // the LF of the final CRLF
	chunkDone           //
)

// chunkDecoder decodes a chunked body (RFC 9112 section 7.1) as its bytes arrive, free of I/O.
type chunkDecoder struct {
	state   int
	size    int64 // the chunk being read: its size, then what is left of it
	digits  int
	lineLen int // bytes of the current size line, or of the trailer section
}

// reset readies d for a new body.
func (d *chunkDecoder) reset() { *d = chunkDecoder{} }

// feed decodes p, appending the chunks' data to body, at most limit bytes of it in all. It
// returns how much of p it consumed; done when the body ended there (what follows is the next
// request). A body over limit is a 413.
func (d *chunkDecoder) feed(p []byte, body *[]byte, limit int) (n int, done bool, err *httpError) {
	for n < len(p) {
		c := p[n]
		switch d.state {
		case chunkSize:
			v := hexValue(c)
			switch {
			case v >= 0:
				d.digits++
				d.size = d.size<<4 | int64(v)
				if d.digits > 15 || int64(len(*body))+d.size > int64(limit) {
					return n, false, refuse(413, "the chunked body is over the limit of %d bytes", limit)
				}
			case d.digits == 0:
				return n, false, refuse(400, "a chunk size is not hexadecimal (byte 0x%02x)", c)
			case c == '\r':
				d.state = chunkSizeLF
			case c == ';' || c == ' ' || c == '\t':
				d.state = chunkExt
			default:
				return n, false, refuse(400, "a chunk size is not hexadecimal (byte 0x%02x)", c)
			}
		case chunkExt:
			if err := d.valueByte(c, chunkSizeLF, "a chunk extension"); err != nil {
				return n, false, err
			}
		case chunkSizeLF:
			if c != '\n' {
				return n, false, refuse(400, "a chunk size line does not end with CRLF")
			}
			d.lineLen, d.digits = 0, 0
			if d.size == 0 {
				d.state = trailerStart
			} else {
				d.state = chunkData
			}
			n++
			continue
		case chunkData:
			take := min(int64(len(p)-n), d.size)
			*body = append(*body, p[n:n+int(take)]...)
			n += int(take)
			if d.size -= take; d.size == 0 {
				d.state = chunkDataCR
			}
			continue
		case chunkDataCR, chunkDataLF:
			if c != "\r\n"[d.state-chunkDataCR] {
				return n, false, refuse(400, "a chunk's data is not followed by CRLF")
			}
			if d.state++; d.state > chunkDataLF {
				d.state = chunkSize
			}
		case trailerStart:
			switch {
			case c == '\r':
				d.state = trailerEndLF
			case tchar[c]:
				d.state = trailerName
			default:
				return n, false, refuse(400, "a trailer line does not begin with a field name")
			}
		case trailerName:
			switch {
			case c == ':':
				d.state = trailerValue
			case !tchar[c]:
				return n, false, refuse(400, "a trailer name holds the byte 0x%02x, which is not a token character", c)
			}
		case trailerValue:
			if err := d.valueByte(c, trailerLF, "a trailer value"); err != nil {
				return n, false, err
			}
		case trailerLF, trailerEndLF:
			if c != '\n' {
				return n, false, refuse(400, "a trailer line does not end with CRLF")
			}
			if d.state == trailerEndLF {
				d.state = chunkDone
				return n + 1, true, nil
			}
			d.state = trailerStart
		}
		n++
		if d.lineLen++; d.lineLen > maxChunkLines {
			return n, false, refuse(400, "a chunk size line or the trailer section is longer than %d bytes", maxChunkLines)
		}
	}
	return n, false, nil
}

// valueByte takes one byte of a value that runs to CR (then the state is next).
func (d *chunkDecoder) valueByte(c byte, next int, what string) *httpError {
	switch {
	case c == '\r':
		d.state = next
	case !fieldByte(c):
		return refuse(400, "%s holds the control byte 0x%02x", what, c)
	}
	return nil
}

func hexValue(c byte) int {
	switch {
	case c >= '0' && c <= '9':
		return int(c - '0')
	case c >= 'a' && c <= 'f':
		return int(c-'a') + 10
	case c >= 'A' && c <= 'F':
		return int(c-'A') + 10
	}
	return -1
}
