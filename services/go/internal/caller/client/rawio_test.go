package client

import (
	"bytes"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"strings"
	"testing"
	"time"
)

// rawConn against a real listener: requests and replies, a peer that closes, a silent peer and
// a deadline, a write larger than the socket buffers, a write that no read follows.
func TestRawConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than one write's worth
	lastWords := make(chan string, 1)
	cases := []struct {
		name  string
		serve func(net.Conn)
		check func(*testing.T, *rawConn)
	}{
		{"1 MiB, then its length", func(c net.Conn) {
			n, _ := io.CopyN(io.Discard, c, int64(len(big)))
			_, _ = fmt.Fprintf(c, "%08d", n)
		}, func(t *testing.T, r *rawConn) {
			if err := r.Send(big); err != nil {
				t.Fatalf("send: %v", err)
			}
			got := make([]byte, 8)
			if _, err := io.ReadFull(r, got); err != nil || string(got) != fmt.Sprintf("%08d", len(big)) {
				t.Fatalf("the reply to 1 MiB: %q, %v", got, err)
			}
		}},
		{"10,000 requests and replies", func(c net.Conn) {
			b := make([]byte, 5)
			for {
				if _, err := io.ReadFull(c, b); err != nil {
					return
				}
				_, _ = c.Write(bytes.ToUpper(b))
			}
		}, func(t *testing.T, r *rawConn) {
			got := make([]byte, 5)
			for i := 0; i < 10000; i++ {
				want := fmt.Sprintf("%05d", i%100000)
				req := []byte("ab" + want[2:])
				_ = request(r, req)
				copy(req, "zzzzz") // Send keeps its own copy
				if _, err := io.ReadFull(r, got); err != nil || string(got) != strings.ToUpper("ab"+want[2:]) {
					t.Fatalf("reply %d: %q, %v", i, got, err)
				}
			}
		}},
		{"the peer greets first", func(c net.Conn) {
			_, _ = c.Write([]byte("hello"))
			b := make([]byte, 2)
			if _, err := io.ReadFull(c, b); err == nil {
				_, _ = c.Write(b)
			}
		}, func(t *testing.T, r *rawConn) {
			time.Sleep(50 * time.Millisecond) // the greeting is there before the request
			_ = r.SetDeadline(time.Now().Add(2 * time.Second))
			_ = r.Send([]byte("ok"))
			got := make([]byte, 7)
			if _, err := io.ReadFull(r, got); err != nil || string(got) != "hellook" {
				t.Fatalf("greeting and reply: %q, %v", got, err)
			}
		}},
		{"the peer says all first, then only reads (a handshake: Write)", func(c net.Conn) {
			_, _ = c.Write([]byte("greeting+ready"))
			_, _ = io.Copy(io.Discard, c)
		}, func(t *testing.T, r *rawConn) {
			time.Sleep(50 * time.Millisecond) // all of it is there before our greeting
			_ = r.SetDeadline(time.Now().Add(2 * time.Second))
			if n, err := r.Write([]byte("ours")); n != 4 || err != nil {
				t.Fatalf("write: %d, %v", n, err)
			}
			got := make([]byte, 14)
			if _, err := io.ReadFull(r, got); err != nil || string(got) != "greeting+ready" {
				t.Fatalf("the peer's greeting after our write: %q, %v", got, err)
			}
		}},
		{"peer closes", func(c net.Conn) { c.Close() }, func(t *testing.T, r *rawConn) {
			if _, err := r.Read(make([]byte, 8)); !errors.Is(err, io.EOF) {
				t.Fatalf("read after the peer closed: %v, want EOF", err)
			}
		}},
		{"silent peer, deadline", func(c net.Conn) { time.Sleep(2 * time.Second); c.Close() }, func(t *testing.T, r *rawConn) {
			_ = r.SetDeadline(time.Now().Add(100 * time.Millisecond))
			t0 := time.Now()
			if _, err := r.Read(make([]byte, 8)); !errors.Is(err, os.ErrDeadlineExceeded) {
				t.Fatalf("read from a silent peer: %v, want a deadline error", err)
			}
			if d := time.Since(t0); d > time.Second {
				t.Fatalf("the deadline took %v", d)
			}
		}},
		{"a write that no read follows", func(c net.Conn) {
			b, _ := io.ReadAll(c)
			lastWords <- string(b)
		}, func(t *testing.T, r *rawConn) {
			_ = r.Send([]byte("DEL key\r\n"))
			_ = r.Close()
			select {
			case got := <-lastWords:
				if got != "DEL key\r\n" {
					t.Fatalf("the peer read %q, want the last write", got)
				}
			case <-time.After(2 * time.Second):
				t.Fatal("the peer never saw the connection close")
			}
		}},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			defer ln.Close()
			go func() {
				if c, err := ln.Accept(); err == nil {
					tc.serve(c)
				}
			}()
			c, err := dialTCP(ln.Addr().String())
			if err != nil {
				t.Fatal(err)
			}
			defer c.Close()
			r, ok := c.(*rawConn)
			if !ok {
				t.Fatalf("dialTCP gave a %T, want a *rawConn", c)
			}
			tc.check(t, r)
		})
	}
}
