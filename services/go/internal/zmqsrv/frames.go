// Package zmqsrv is the zmq transport (CONTRACT.md "zmq"): a ROUTER socket serving REQ and
// DEALER clients alike, on libzmq through github.com/pebbe/zmq4 (README.md "ZeroMQ binding").
package zmqsrv

import (
	"fmt"

	"interopbench/go/internal/core"
)

var (
	statusOK    = []byte("ok")
	statusError = []byte("error")
)

// Reply computes the reply frames to frames as a ROUTER received them (identity first):
// [identity, "", op, body] is answered [identity, "", status, body]; any other shape is
// bad_request, and without an empty delimiter the reply is [identity, "error", body].
func Reply(svc *core.Service, frames [][]byte) [][]byte {
	delim := -1
	for i := 1; i < len(frames); i++ {
		if len(frames[i]) == 0 {
			delim = i
			break
		}
	}
	if delim < 0 {
		return [][]byte{frames[0], statusError, core.ErrorBody(core.BadRequest,
			`missing the empty delimiter frame; send ["", op, body] from a DEALER`)}
	}
	out := make([][]byte, 0, delim+3)
	out = append(out, frames[:delim+1]...)
	if n := len(frames) - delim - 1; n != 2 {
		return append(out, statusError, core.ErrorBody(core.BadRequest, fmt.Sprintf("expected 2 frames [op, body], got %d", n)))
	}
	r := svc.Handle(string(frames[delim+1]), frames[delim+2])
	if r.OK() {
		return append(out, statusOK, r.Body)
	}
	return append(out, statusError, r.Body)
}
