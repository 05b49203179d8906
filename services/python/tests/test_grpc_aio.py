"""The `grpc.aio` server (`--grpc-server aio`, measured in README.md): the same answers as the
threaded one, so that the CPU comparison compares like with like."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import grpc
import pytest

from tests.support import body_of, free_port, load_vectors, service_argv, started, stop, wait_until
from tests.test_grpc import CODES, pb, raw


@pytest.fixture(scope="module")
def aio_channel(tmp_path_factory: pytest.TempPathFactory) -> Iterator[grpc.Channel]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("grpc-aio") / "service.log"
    argv = service_argv("grpc", "--port", str(port), "--grpc-server", "aio", "--max-body-bytes", "1024")
    with started(argv, log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        ch = grpc.insecure_channel(f"127.0.0.1:{port}")
        echo = raw(ch, "Echo")
        wait_until(lambda: echo(b"", timeout=1) == b"", "grpc.aio service", proc, log=log)
        yield ch
        ch.close()
        assert stop(proc) == 0, log.read_text()


def test_echo_vectors(aio_channel: grpc.Channel) -> None:
    m = pb()
    echo = raw(aio_channel, "Echo")
    for vector in load_vectors("echo"):
        data = body_of(vector)
        if len(data) > 1024:
            continue
        reply = m.Blob.FromString(echo(m.Blob(data=data).SerializeToString(), timeout=10))
        assert reply.data == data, vector.get("name")


def test_diff_and_errors(aio_channel: grpc.Channel) -> None:
    m = pb()
    diff, echo = raw(aio_channel, "Diff"), raw(aio_channel, "Echo")
    reply = m.DiffReply.FromString(diff(m.DiffRequest(a=["x"], b=["y"]).SerializeToString(), timeout=10))
    assert [op.tag for op in reply.opcodes] == ["replace"]
    with pytest.raises(grpc.RpcError) as bad:
        echo(b"\xff\xff\xff", timeout=10)
    assert bad.value.code() == CODES["bad_request"]
    with pytest.raises(grpc.RpcError) as big:
        echo(m.Blob(data=b"x" * 1025).SerializeToString(), timeout=10)
    assert big.value.code() == CODES["too_large"]
    assert m.Blob.FromString(echo(m.Blob(data=b"after").SerializeToString(), timeout=10)).data == b"after"
