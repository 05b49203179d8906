// The grpc floor: unary /bench.v1.Bench/Echo over HTTP/2 with prior knowledge (h2c), the request
// message sent back as it came (architecture.md, measurement rule 5).
//
// It is its own minimal HTTP/2 server on x/net's frame reader/writer and HPACK decoder: one
// goroutine per connection reads frames and answers, and writes are buffered and flushed when
// no more input is waiting, so a burst of requests costs one write. It speaks what gRPC clients
// need: SETTINGS and their ACK, PING ACKs, WINDOW_UPDATE in both directions (large receive
// windows, so a request needs none; a reply waits for the peer's window), RST_STREAM, GOAWAY,
// CONTINUATION, trailers with grpc-status. Any other method is UNIMPLEMENTED; a message over
// 16 MiB + 64 KiB is RESOURCE_EXHAUSTED; a malformed or compressed message is INTERNAL.
//
// Usage: floor-grpc --host H --port P
package main

import (
	"bufio"
	"bytes"
	"encoding/binary"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"strconv"

	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

const (
	echoPath      = "/bench.v1.Bench/Echo"
	maxMessage    = 16*1024*1024 + 64*1024 // CONTRACT.md, grpc: the largest message served
	streamWindow  = 1 << 25                // > maxMessage + 5: a request never waits for a stream WINDOW_UPDATE
	connWindow    = 1 << 30                // refilled when half of it is used
	maxReadFrame  = 1 << 20
	prefaceLength = len(http2.ClientPreface)
)

// Header blocks encoded once, without the dynamic table (so they never depend on the decoder's state):
// ":status: 200" (static index 8), "content-type: application/grpc" (literal, name index 31, not indexed).
var (
	responseHead = append([]byte{0x88, 0x0f, 0x10, 16}, "application/grpc"...)
	trailersOK   = literal(nil, "grpc-status", "0")
)

// literal appends a header field as a literal with a new name, not indexed (RFC 7541, 6.2.2).
func literal(b []byte, name, value string) []byte {
	b = append(b, 0x00)
	b = appendString(b, name)
	return appendString(b, value)
}

func appendString(b []byte, s string) []byte {
	n := len(s)
	if n < 127 {
		b = append(b, byte(n))
	} else {
		b = append(b, 127)
		for n -= 127; n >= 128; n >>= 7 {
			b = append(b, byte(n&0x7f|0x80))
		}
		b = append(b, byte(n))
	}
	return append(b, s...)
}

// trailersOnly is a whole reply of one HEADERS frame: the status and the error.
func trailersOnly(status int, message string) []byte {
	b := append([]byte(nil), responseHead...)
	b = literal(b, "grpc-status", strconv.Itoa(status))
	return literal(b, "grpc-message", message)
}

var (
	unimplemented = trailersOnly(12, "unknown method: the floor serves only "+echoPath)
	tooLarge      = trailersOnly(8, "the message is over 16 MiB + 64 KiB")
	malformed     = trailersOnly(13, "the request is not one uncompressed gRPC message")
)

type stream struct {
	id      uint32
	echo    bool   // :path is Echo
	closed  bool   // answered early (too large): further DATA is dropped
	body    []byte // the request as received: 5-byte prefix + message
	pending []byte // reply bytes the peer's window has not let out yet
	sendWin int64
}

type conn struct {
	nc         net.Conn
	br         *bufio.Reader
	bw         *bufio.Writer
	fr         *http2.Framer
	streams    map[uint32]*stream
	peerWindow int64 // the peer's SETTINGS_INITIAL_WINDOW_SIZE
	sendWin    int64 // the connection's send window
	peerFrame  int   // the peer's SETTINGS_MAX_FRAME_SIZE
	received   int64 // DATA bytes since the last connection WINDOW_UPDATE
}

func main() {
	host := flag.String("host", "127.0.0.1", "address to bind")
	port := flag.Int("port", 0, "port to bind")
	flag.Parse()
	ln, err := net.Listen("tcp", net.JoinHostPort(*host, strconv.Itoa(*port)))
	if err != nil {
		fmt.Fprintf(os.Stderr, "floor-grpc: %v\n", err)
		os.Exit(1)
	}
	fmt.Printf("floor grpc (Go, own HTTP/2 on x/net's framer) on %s\n", ln.Addr())
	for {
		nc, err := ln.Accept()
		if err != nil {
			fmt.Fprintf(os.Stderr, "floor-grpc: accept: %v\n", err)
			continue
		}
		go serve(nc)
	}
}

func serve(nc net.Conn) {
	defer nc.Close()
	if tc, ok := nc.(*net.TCPConn); ok {
		tc.SetNoDelay(true)
	}
	c := &conn{nc: nc, br: bufio.NewReaderSize(nc, 64*1024), bw: bufio.NewWriterSize(nc, 64*1024),
		streams: map[uint32]*stream{}, peerWindow: 65535, sendWin: 65535, peerFrame: 16384}
	preface := make([]byte, prefaceLength)
	if _, err := io.ReadFull(c.br, preface); err != nil || !bytes.Equal(preface, []byte(http2.ClientPreface)) {
		c.bw.WriteString("HTTP/1.1 505 HTTP Version Not Supported\r\nConnection: close\r\nContent-Length: 0\r\n\r\n")
		c.bw.Flush()
		return
	}
	c.fr = http2.NewFramer(c.bw, c.br)
	c.fr.ReadMetaHeaders = hpack.NewDecoder(4096, nil)
	c.fr.MaxHeaderListSize = 1 << 20
	c.fr.SetMaxReadFrameSize(maxReadFrame)
	c.fr.WriteSettings(http2.Setting{ID: http2.SettingInitialWindowSize, Val: streamWindow},
		http2.Setting{ID: http2.SettingMaxFrameSize, Val: maxReadFrame})
	c.fr.WriteWindowUpdate(0, connWindow-65535)
	if err := c.loop(); err != nil && !errors.Is(err, io.EOF) && !errors.Is(err, net.ErrClosed) {
		var ce http2.ConnectionError
		code := http2.ErrCodeProtocol
		if errors.As(err, &ce) {
			code = http2.ErrCode(ce)
		}
		c.fr.WriteGoAway(0, code, []byte(err.Error()))
		c.bw.Flush()
	}
}

func (c *conn) loop() error {
	for {
		if c.br.Buffered() == 0 {
			if err := c.bw.Flush(); err != nil {
				return err
			}
		}
		f, err := c.fr.ReadFrame()
		if err != nil {
			var se http2.StreamError
			if errors.As(err, &se) {
				c.fr.WriteRSTStream(se.StreamID, se.Code)
				delete(c.streams, se.StreamID)
				continue
			}
			return err
		}
		switch f := f.(type) {
		case *http2.MetaHeadersFrame:
			id := f.StreamID
			if s := c.streams[id]; s != nil { // trailers of a request: the end of its stream
				if f.StreamEnded() {
					c.finish(s)
				}
				continue
			}
			s := &stream{id: id, echo: f.PseudoValue("path") == echoPath, sendWin: c.peerWindow}
			c.streams[id] = s
			if f.StreamEnded() {
				c.finish(s)
			}
		case *http2.DataFrame:
			c.received += int64(f.Length)
			if c.received >= connWindow/2 {
				c.fr.WriteWindowUpdate(0, uint32(c.received))
				c.received = 0
			}
			s := c.streams[f.StreamID]
			if s == nil || s.closed {
				continue
			}
			if len(s.body)+len(f.Data()) > maxMessage+5 {
				s.closed = true
				s.body = nil
				c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: tooLarge, EndHeaders: true,
					EndStream: true})
				c.fr.WriteRSTStream(s.id, http2.ErrCodeNo)
				delete(c.streams, s.id)
				continue
			}
			s.body = append(s.body, f.Data()...)
			if f.StreamEnded() {
				c.finish(s)
			}
		case *http2.WindowUpdateFrame:
			if f.StreamID == 0 {
				c.sendWin += int64(f.Increment)
				for _, s := range c.streams {
					if s.pending != nil {
						c.send(s)
					}
				}
			} else if s := c.streams[f.StreamID]; s != nil {
				s.sendWin += int64(f.Increment)
				if s.pending != nil {
					c.send(s)
				}
			}
		case *http2.SettingsFrame:
			if f.IsAck() {
				continue
			}
			f.ForeachSetting(func(st http2.Setting) error {
				switch st.ID {
				case http2.SettingInitialWindowSize:
					delta := int64(st.Val) - c.peerWindow
					c.peerWindow = int64(st.Val)
					for _, s := range c.streams {
						s.sendWin += delta
					}
				case http2.SettingMaxFrameSize:
					c.peerFrame = int(st.Val)
				}
				return nil
			})
			c.fr.WriteSettingsAck()
			for _, s := range c.streams {
				if s.pending != nil {
					c.send(s)
				}
			}
		case *http2.PingFrame:
			if !f.IsAck() {
				c.fr.WritePing(true, f.Data)
			}
		case *http2.RSTStreamFrame:
			delete(c.streams, f.StreamID)
		case *http2.GoAwayFrame:
			c.bw.Flush()
			return nil
		}
	}
}

// finish answers a request whose stream has ended.
func (c *conn) finish(s *stream) {
	switch {
	case !s.echo:
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: unimplemented, EndHeaders: true,
			EndStream: true})
		delete(c.streams, s.id)
	case len(s.body) < 5 || s.body[0] != 0 || int(binary.BigEndian.Uint32(s.body[1:5])) != len(s.body)-5:
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: malformed, EndHeaders: true,
			EndStream: true})
		delete(c.streams, s.id)
	default: // Echo(Blob) returns Blob: the request message is the reply message, byte for byte
		c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: responseHead, EndHeaders: true})
		s.pending = s.body
		s.body = nil
		c.send(s)
	}
}

// send writes as much of a stream's reply as the windows allow, then its trailers.
func (c *conn) send(s *stream) {
	for len(s.pending) > 0 {
		n := int64(len(s.pending))
		n = min(n, c.sendWin, s.sendWin, int64(c.peerFrame))
		if n <= 0 {
			return // wait for a WINDOW_UPDATE
		}
		c.fr.WriteData(s.id, false, s.pending[:n])
		s.pending = s.pending[n:]
		c.sendWin -= n
		s.sendWin -= n
	}
	c.fr.WriteHeaders(http2.HeadersFrameParam{StreamID: s.id, BlockFragment: trailersOK, EndHeaders: true,
		EndStream: true})
	delete(c.streams, s.id)
}
