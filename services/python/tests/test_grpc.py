"""The gRPC transport with a real grpcio client."""

from __future__ import annotations

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
def channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("grpc") / "service.log"
    with started(service_argv("grpc", "--port", str(port)), log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        ch = grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_receive_message_length", MAX), ("grpc.max_send_message_length", MAX)])
        echo = raw(ch, "Echo")
        wait_until(lambda: echo(b"", timeout=1) == b"", "grpc service", proc, log=log)
        yield ch
        ch.close()
        assert stop(proc) == 0, log.read_text()


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
