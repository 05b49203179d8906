package client

import (
	"bytes"
	"errors"
	"io"
	"net"
	"os"
	"testing"
	"time"
)

// rawConn against a real listener: echoed bytes, a peer that closes, a silent peer and a
// deadline, a write larger than the socket buffers.
func TestRawConn(t *testing.T) {
	big := bytes.Repeat([]byte("0123456789abcdef"), 1<<16) // 1 MiB: more than one write's worth
	cases := []struct {
		name  string
		serve func(net.Conn)
		check func(*testing.T, *rawConn)
	}{
		{"echo of 1 MiB", func(c net.Conn) { _, _ = io.Copy(c, c) }, func(t *testing.T, r *rawConn) {
			go func() { _, _ = r.Write(big) }()
			got := make([]byte, len(big))
			if _, err := io.ReadFull(r, got); err != nil || !bytes.Equal(got, big) {
				t.Fatalf("echo: %v", err)
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
