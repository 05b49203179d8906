package locust

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"runtime"
	"syscall"
	"time"

	zmq "github.com/pebbe/zmq4"
)

// Version is the Locust version a worker announces in client_ready (the pinned Locust).
const Version = "2.47.0"

// Message is one message of Locust's channel.
type Message struct {
	Type   string
	Data   any
	NodeID string
}

// EncodeMessage is the frame of m: the msgpack array [type, data, node_id].
func EncodeMessage(m Message) ([]byte, error) {
	return Encode(nil, []any{m.Type, m.Data, m.NodeID})
}

// DecodeMessage reads a frame written by Locust's Message.serialize.
func DecodeMessage(frame []byte) (Message, error) {
	v, err := Decode(frame)
	if err != nil {
		return Message{}, err
	}
	a, ok := v.([]any)
	if !ok || len(a) != 3 {
		return Message{}, fmt.Errorf("a Locust message is [type, data, node_id], not %T", v)
	}
	t, ok := a[0].(string)
	if !ok {
		return Message{}, fmt.Errorf("a Locust message's type is a str, not %T", a[0])
	}
	id, _ := a[2].(string)
	return Message{Type: t, Data: a[1], NodeID: id}, nil
}

// NodeID is a worker id as Locust makes them: <hostname>_<32 hex digits>.
func NodeID() string {
	host, err := os.Hostname()
	if err != nil || host == "" {
		host = "localhost"
	}
	var b [16]byte
	_, _ = rand.Read(b[:])
	return host + "_" + hex.EncodeToString(b[:])
}

// Channel is a DEALER connected to the master's ROUTER, its identity the node id. It is not
// safe for concurrent use: one goroutine owns it (and is locked to its OS thread, as a
// ZeroMQ socket wants).
type Channel struct {
	Endpoint string
	NodeID   string
	sock     *zmq.Socket
}

// Dial connects to tcp://host:port (ZeroMQ connects in the background: nothing fails here
// when no master listens yet).
func Dial(host string, port int, nodeID string) (*Channel, error) {
	runtime.LockOSThread()
	c := &Channel{Endpoint: fmt.Sprintf("tcp://%s:%d", host, port), NodeID: nodeID}
	return c, c.open()
}

func (c *Channel) open() error {
	s, err := zmq.NewSocket(zmq.DEALER)
	if err != nil {
		return fmt.Errorf("zmq socket: %w", err)
	}
	for _, set := range []func() error{
		func() error { return s.SetIdentity(c.NodeID) },
		func() error { return s.SetLinger(0) },
		func() error { return s.SetTcpKeepalive(1) },
		func() error { return s.SetSndtimeo(time.Second) },
		func() error { return s.SetRcvtimeo(50 * time.Millisecond) },
		func() error { return s.Connect(c.Endpoint) },
	} {
		if err := set(); err != nil {
			s.Close()
			return fmt.Errorf("connecting to the Locust master at %s: %w", c.Endpoint, err)
		}
	}
	c.sock = s
	return nil
}

// Reconnect replaces the connection (the master's `reconnect`).
func (c *Channel) Reconnect() error {
	c.sock.Close()
	time.Sleep(100 * time.Millisecond) // let the master's ROUTER see the old connection close
	return c.open()
}

// Send sends one message (up to 1 s when the master's queue is full).
func (c *Channel) Send(typ string, data any) error {
	frame, err := EncodeMessage(Message{typ, data, c.NodeID})
	if err != nil {
		return err
	}
	_, err = c.sock.SendBytes(frame, 0)
	return err
}

// ErrNoMessage: nothing arrived within the receive timeout (50 ms).
var ErrNoMessage = errors.New("no message")

// Recv waits up to 50 ms for a message. A frame that is not a Locust message is an error
// (the caller logs it and goes on).
func (c *Channel) Recv() (Message, error) {
	frame, err := c.sock.RecvBytes(0)
	if err != nil {
		if zmq.AsErrno(err) == zmq.Errno(syscall.EAGAIN) || zmq.AsErrno(err) == zmq.Errno(syscall.EINTR) {
			return Message{}, ErrNoMessage
		}
		return Message{}, err
	}
	return DecodeMessage(frame)
}

// Close closes the socket.
func (c *Channel) Close() {
	if c.sock != nil {
		c.sock.Close()
		c.sock = nil
	}
}
