"""The gRPC transport with a real grpcio client."""

from __future__ import annotations

import socket
import struct
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import grpc
import pytest

from tests.support import body_of, free_port, load_vectors, service_argv, started, stop, wait_until

CODES = {
    "bad_request": grpc.StatusCode.INVALID_ARGUMENT,
    "unknown_op": grpc.StatusCode.UNIMPLEMENTED,
    "too_large": grpc.StatusCode.RESOURCE_EXHAUSTED,
    "internal": grpc.StatusCode.INTERNAL,
}
MAX = 16 * 1024 * 1024 + 64 * 1024


@pytest.fixture(scope="module")
def grpc_port(tmp_path_factory: pytest.TempPathFactory) -> Iterator[int]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("grpc") / "service.log"
    with started(service_argv("grpc", "--port", str(port)), log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        echo = raw(ch, "Echo")
        wait_until(lambda: echo(b"", timeout=1) == b"", "grpc service", proc, log=log)
        ch.close()
        yield port
        assert stop(proc) == 0, log.read_text()


@pytest.fixture(scope="module")
def channel(grpc_port: int) -> Iterator[grpc.Channel]:
    ch = grpc.insecure_channel(f"127.0.0.1:{grpc_port}", options=[
        ("grpc.max_receive_message_length", MAX), ("grpc.max_send_message_length", MAX)])
    yield ch
    ch.close()


def raw(ch: grpc.Channel, method: str) -> Any:
    """A unary callable sending and receiving raw bytes."""
    return ch.unary_unary(f"/bench.v1.Bench/{method}", request_serializer=None, response_deserializer=None)


def pb() -> Any:
    from bench_service._pb import bench_pb2

    return bench_pb2


def test_vectors(channel: grpc.Channel) -> None:
    m = pb()
    diff, echo = raw(channel, "Diff"), raw(channel, "Echo")
    for vector in load_vectors("diff"):
        reply = m.DiffReply.FromString(diff(m.DiffRequest(a=vector["a"], b=vector["b"]).SerializeToString()))
        got = [[o.tag, o.i1, o.i2, o.j1, o.j2] for o in reply.opcodes]
        assert got == vector["opcodes"], vector["name"]
    for vector in load_vectors("echo"):
        reply = m.Blob.FromString(echo(m.Blob(data=body_of(vector)).SerializeToString()))
        assert reply.data == body_of(vector), vector["name"]


def test_any_layer_error_vectors(channel: grpc.Channel) -> None:
    m = pb()
    import json

    echo = raw(channel, "Echo")
    for vector in load_vectors("errors"):
        if vector["layer"] not in ("any", "op"):
            continue
        if vector["layer"] == "op":
            request, method = b"", vector["op"]
        elif vector["op"] == "echo":
            request, method = m.Blob(data=body_of(vector)).SerializeToString(), "Echo"
        else:
            doc = json.loads(body_of(vector))
            request, method = m.DiffRequest(a=doc["a"], b=doc["b"]).SerializeToString(), "Diff"
        with pytest.raises(grpc.RpcError) as e:
            raw(channel, method)(request, timeout=30)
        assert e.value.code() == CODES[vector["error"]], vector["name"]
        assert echo(b"\n\x02ok", timeout=5) == b"\n\x02ok"


@pytest.mark.parametrize("request_bytes", [
    b"\n\x01\xff",  # a: one string, not UTF-8
    b"\n\x03\xed\xa0\x80",  # a: an UTF-8-encoded surrogate
    b"\xff\xff\xff",  # not a protobuf message
])
def test_malformed_diff_is_invalid_argument(channel: grpc.Channel, request_bytes: bytes) -> None:
    with pytest.raises(grpc.RpcError) as e:
        raw(channel, "Diff")(request_bytes, timeout=5)
    assert e.value.code() == grpc.StatusCode.INVALID_ARGUMENT
    assert e.value.details()
    assert raw(channel, "Echo")(b"", timeout=5) == b""


def _read_frame(sock: socket.socket, kind: int, ack: bool) -> bytes:
    """Read frames until one of `kind` with (or without) the ACK flag; its payload."""
    buf = b""
    deadline = time.monotonic() + 5
    while time.monotonic() < deadline:
        while len(buf) >= 9 and len(buf) >= 9 + int.from_bytes(buf[:3], "big"):
            length, got, flags = int.from_bytes(buf[:3], "big"), buf[3], buf[4]
            payload, buf = buf[9:9 + length], buf[9 + length:]
            if got == kind and bool(flags & 1) == ack:
                return payload
        chunk = sock.recv(65536)
        assert chunk, f"the server closed the connection before a frame of type {kind}"
        buf += chunk
    raise AssertionError(f"no frame of type {kind} from the server within 5 s")


def _server_settings(sock: socket.socket) -> dict[int, int]:
    """The values of the server's first SETTINGS frame, by id."""
    payload = _read_frame(sock, 4, ack=False)
    return dict(struct.unpack(">HI", payload[i:i + 6]) for i in range(0, len(payload), 6))


def test_settings_limit_concurrent_streams(grpc_port: int) -> None:
    """SETTINGS_MAX_CONCURRENT_STREAMS is advertised (grpcio sends none by default, and h2spec or a
    stream flood then opens streams without limit; tests/peers/test_http2_abuse.py)."""
    from bench_service.grpc_server import MAX_CONCURRENT_STREAMS

    with socket.create_connection(("127.0.0.1", grpc_port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        assert _server_settings(sock).get(0x3) == MAX_CONCURRENT_STREAMS == 100


def test_half_a_preface_is_closed_after_the_handshake_timeout(grpc_port: int) -> None:
    from bench_service.grpc_server import HANDSHAKE_TIMEOUT_S

    with socket.create_connection(("127.0.0.1", grpc_port), timeout=HANDSHAKE_TIMEOUT_S + 5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n")
        t0 = time.monotonic()
        try:
            while sock.recv(65536):
                pass
        except ConnectionResetError:
            pass
        took = time.monotonic() - t0
    assert HANDSHAKE_TIMEOUT_S - 1 < took < HANDSHAKE_TIMEOUT_S + 3, f"closed after {took:.1f} s"


def _headers_frame(stream: int, authority: str) -> bytes:
    """HEADERS (END_HEADERS, no END_STREAM) opening a call to Echo: HPACK literals, no Huffman."""
    def literal(name: bytes, value: bytes) -> bytes:
        return b"\x00" + bytes([len(name)]) + name + bytes([len(value)]) + value

    path = b"/bench.v1.Bench/Echo"
    block = (b"\x83\x86" + b"\x04" + bytes([len(path)]) + path + b"\x01" + bytes([len(authority)])
             + authority.encode() + literal(b"content-type", b"application/grpc")
             + literal(b"te", b"trailers"))
    return len(block).to_bytes(3, "big") + b"\x01\x04" + stream.to_bytes(4, "big") + block


def test_calls_that_never_send_their_message_hold_up_no_other(grpc_port: int, channel: grpc.Channel) -> None:
    """Streams opened and left without a message do not stop another client's calls. Each holds a
    thread of grpcio's pool until its message comes: 20 of them held the pool of 4 threads the
    service had, and no other call was answered."""
    with socket.create_connection(("127.0.0.1", grpc_port), timeout=5) as sock:
        sock.sendall(b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n" + b"\x00\x00\x00\x04\x00\x00\x00\x00\x00")
        _server_settings(sock)
        sock.sendall(b"\x00\x00\x00\x04\x01\x00\x00\x00\x00"  # SETTINGS ACK
                     + b"".join(_headers_frame(1 + 2 * i, f"127.0.0.1:{grpc_port}") for i in range(20)))
        sock.sendall(b"\x00\x00\x08\x06\x00\x00\x00\x00\x00" + b"12345678")  # PING: when its ACK comes,
        _read_frame(sock, 6, ack=True)  # the server has read every HEADERS before it
        m = pb()
        reply = raw(channel, "Echo")(m.Blob(data=b"still served").SerializeToString(), timeout=5)
        assert m.Blob.FromString(reply).data == b"still served"
