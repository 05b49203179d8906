"""The ZeroMQ transport with real pyzmq REQ and DEALER peers."""

from __future__ import annotations

import json
from collections.abc import Iterator
from pathlib import Path

import pytest
import zmq

from tests.support import body_of, diff_body, free_port, load_vectors, service_argv, started, stop, wait_until


@pytest.fixture(scope="module")
def endpoint(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    port = free_port()
    log: Path = tmp_path_factory.mktemp("zmq") / "service.log"
    addr = f"tcp://127.0.0.1:{port}"
    with started(service_argv("zmq", "--port", str(port)), log, {"BENCH_TEST_HOOKS": "1"}) as proc:
        ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()

        def ready() -> bool:
            s: zmq.Socket[bytes]
            with ctx.socket(zmq.REQ) as s:
                s.setsockopt(zmq.LINGER, 0)
                s.connect(addr)
                s.send_multipart([b"health", b""])
                if not s.poll(500):
                    return False
                status, body = s.recv_multipart()
                return status == b"ok" and json.loads(body)["language"] == "Python"

        wait_until(ready, "zmq service", proc, log=log)
        yield addr
        assert stop(proc) == 0, log.read_text()


@pytest.fixture
def req(endpoint: str) -> Iterator[zmq.Socket[bytes]]:
    s: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.REQ) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 30_000)
        s.connect(endpoint)
        yield s


@pytest.fixture
def dealer(endpoint: str) -> Iterator[zmq.Socket[bytes]]:
    s: zmq.Socket[bytes]
    with zmq.Context.instance().socket(zmq.DEALER) as s:
        s.setsockopt(zmq.LINGER, 0)
        s.setsockopt(zmq.RCVTIMEO, 30_000)
        s.connect(endpoint)
        yield s


def test_vectors_over_req(req: zmq.Socket[bytes]) -> None:
    for vector in load_vectors("diff"):
        req.send_multipart([b"diff", diff_body(vector)])
        status, body = req.recv_multipart()
        assert status == b"ok" and json.loads(body) == {"opcodes": vector["opcodes"]}, vector["name"]
    for vector in load_vectors("echo"):
        req.send_multipart([b"echo", body_of(vector)])
        assert req.recv_multipart() == [b"ok", body_of(vector)], vector["name"]


def test_error_vectors_then_good_request(req: zmq.Socket[bytes]) -> None:
    for vector in load_vectors("errors"):
        req.send_multipart([vector["op"].encode(), body_of(vector)])
        status, body = req.recv_multipart()
        assert status == b"error" and json.loads(body)["error"] == vector["error"], vector["name"]
        req.send_multipart([b"echo", b"next"])
        assert req.recv_multipart() == [b"ok", b"next"]


@pytest.mark.parametrize("frames", [[b"echo"], [b"echo", b"x", b"y"], [], [b"", b"", b""]])
def test_wrong_frame_count_is_bad_request(dealer: zmq.Socket[bytes], frames: list[bytes]) -> None:
    dealer.send_multipart([b"", *frames])
    empty, status, body = dealer.recv_multipart()
    assert (empty, status) == (b"", b"error")
    assert json.loads(body)["error"] == "bad_request"
    dealer.send_multipart([b"", b"echo", b"after"])
    assert dealer.recv_multipart() == [b"", b"ok", b"after"]


def test_dealer_without_delimiter_is_answered(dealer: zmq.Socket[bytes]) -> None:
    dealer.send_multipart([b"echo", b"x"])
    status, body = dealer.recv_multipart()
    assert status == b"error" and json.loads(body)["error"] == "bad_request"
    dealer.send_multipart([b"", b"echo", b"after"])
    assert dealer.recv_multipart() == [b"", b"ok", b"after"]


def test_many_dealers_pipelined(endpoint: str) -> None:
    ctx: zmq.Context[zmq.Socket[bytes]] = zmq.Context.instance()
    sockets = [ctx.socket(zmq.DEALER) for _ in range(20)]
    try:
        for i, s in enumerate(sockets):
            s.setsockopt(zmq.LINGER, 0)
            s.setsockopt(zmq.RCVTIMEO, 30_000)
            s.connect(endpoint)
            for j in range(10):
                s.send_multipart([b"", b"echo", f"{i}:{j}".encode()])
        for i, s in enumerate(sockets):
            got = [s.recv_multipart() for _ in range(10)]
            assert got == [[b"", b"ok", f"{i}:{j}".encode()] for j in range(10)]
    finally:
        for s in sockets:
            s.close()
