"""The gRPC transport: `bench.v1.Bench/Echo` and `/Diff` from contract/bench.proto.

Handlers are registered with identity (de)serializers and parse the request themselves, so a
malformed message or a string that is not valid UTF-8 is INVALID_ARGUMENT rather than grpcio's
INTERNAL "exception deserializing". Stubs come from the manifest's build step (`_pb/`).

grpcio's threaded server gives a pool thread to each call as it opens, and the thread waits there
for the request message: four streams that never sent one (tests/peers/test_http2_abuse.py) held
a pool of four threads, and no other call was served. The pool's threads are made on demand
(the load of the README's measurement makes as many as it has calls in flight), and it may
grow to `HELD_CALLS_MAX` threads, so that it takes that many such streams (11 connections at
the stream limit) to stall the service. (`grpc.aio` has no thread per waiting call, but cost
1.8x the CPU per 64 B call here: README.md.)

HTTP/2 limits (README.md "HTTP/2 limits and timeouts"): at most `MAX_CONCURRENT_STREAMS` calls
per connection, advertised in SETTINGS_MAX_CONCURRENT_STREAMS (grpcio advertises none by
default); header blocks up to `MAX_METADATA_BYTES`; a connection that has not sent its preface
and SETTINGS within `HANDSHAKE_TIMEOUT_S` is closed, one with no call for `MAX_CONNECTION_IDLE_S`
is sent GOAWAY. grpc core bounds rapid resets itself (tests/peers/test_http2_abuse.py).
"""

from __future__ import annotations

import logging
import signal
import threading
from collections.abc import Callable
from concurrent import futures
from typing import Any

import grpc
from google.protobuf.message import DecodeError

from bench_service.ops import BAD_REQUEST, INTERNAL, TOO_LARGE, UNKNOWN_OP, BenchError, Service

try:
    from bench_service._pb import bench_pb2
except ImportError as e:  # pragma: no cover - depends on the build step
    raise ImportError("bench_service/_pb/bench_pb2.py is missing; run the build step of "
                      "services/python/service.toml (grpc_tools.protoc on contract/bench.proto)") from e

log = logging.getLogger(__name__)

SERVICE_NAME = "bench.v1.Bench"
MAX_MESSAGE_BYTES = 16 * 1024 * 1024 + 64 * 1024
MAX_CONCURRENT_STREAMS = 100
HELD_CALLS_MAX = 1024
MAX_METADATA_BYTES = 8 * 1024
HANDSHAKE_TIMEOUT_S = 10
MAX_CONNECTION_IDLE_S = 300
STATUS_OF_ERROR = {
    BAD_REQUEST: grpc.StatusCode.INVALID_ARGUMENT,
    UNKNOWN_OP: grpc.StatusCode.UNIMPLEMENTED,
    TOO_LARGE: grpc.StatusCode.RESOURCE_EXHAUSTED,
    INTERNAL: grpc.StatusCode.INTERNAL,
}


class BenchServicer:
    """Raw-bytes handlers of the Bench service, mapping contract errors to gRPC statuses."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def echo(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """`Echo(Blob) -> Blob`: the same bytes."""
        return self._guard(self._echo, request, context)

    def diff(self, request: bytes, context: grpc.ServicerContext) -> bytes:
        """`Diff(DiffRequest) -> DiffReply`: difflib opcodes."""
        return self._guard(self._diff, request, context)

    def _echo(self, request: bytes) -> bytes:
        blob = _parse(bench_pb2.Blob, request)
        data = self.service.echo(blob.data)
        return bench_pb2.Blob(data=data).SerializeToString()

    def _diff(self, request: bytes) -> bytes:
        self.service.check_size(len(request))
        req = _parse(bench_pb2.DiffRequest, request)
        opcodes = self.service.diff_tokens(list(req.a), list(req.b))
        reply = bench_pb2.DiffReply()
        add = reply.opcodes.add
        for tag, i1, i2, j1, j2 in opcodes:
            add(tag=tag, i1=i1, i2=i2, j1=j1, j2=j2)
        return reply.SerializeToString()

    @staticmethod
    def _guard(fn: Callable[[bytes], bytes], request: bytes, context: grpc.ServicerContext) -> bytes:
        try:
            return fn(request)
        except BenchError as e:
            context.abort(STATUS_OF_ERROR[e.code], e.message)
        except Exception as e:
            log.exception("internal error in gRPC handler")
            context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")
        raise AssertionError("unreachable: context.abort raises")


def _parse(message_type: Any, request: bytes) -> Any:
    try:
        return message_type.FromString(request)
    except DecodeError as e:
        raise BenchError(BAD_REQUEST, f"malformed {message_type.DESCRIPTOR.full_name}: {e}") from e


SERVER_OPTIONS = [
    ("grpc.max_receive_message_length", MAX_MESSAGE_BYTES),
    ("grpc.max_send_message_length", MAX_MESSAGE_BYTES),
    ("grpc.so_reuseport", 0),
    ("grpc.max_concurrent_streams", MAX_CONCURRENT_STREAMS),
    ("grpc.max_metadata_size", MAX_METADATA_BYTES),
    ("grpc.server_handshake_timeout_ms", HANDSHAKE_TIMEOUT_S * 1000),
    ("grpc.max_connection_idle_ms", MAX_CONNECTION_IDLE_S * 1000),
]


def build_server(service: Service, host: str, port: int, workers: int) -> tuple[grpc.Server, int]:
    """Create and start the server; returns it and the bound port."""
    servicer = BenchServicer(service)
    pool = futures.ThreadPoolExecutor(max_workers=max(workers, HELD_CALLS_MAX), thread_name_prefix="grpc")
    handlers = {
        "Echo": grpc.unary_unary_rpc_method_handler(servicer.echo),
        "Diff": grpc.unary_unary_rpc_method_handler(servicer.diff),
    }
    server = grpc.server(
        pool,
        handlers=[grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)],
        options=SERVER_OPTIONS,
    )
    address = f"{host}:{port}"
    try:
        bound = server.add_insecure_port(address)
    except RuntimeError as e:
        raise SystemExit(f"cannot bind {address}: {e}; is the port in use by another program?") from e
    if bound == 0:
        raise SystemExit(f"cannot bind {address}; is the port in use by another program?")
    server.start()
    return server, bound


class AioBenchServicer(BenchServicer):
    """The same handlers for `grpc.aio` (measured against the threaded server: README.md)."""

    async def echo_async(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        """`Echo` on the event loop."""
        return await self._guard_async(self._echo, request, context)

    async def diff_async(self, request: bytes, context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        """`Diff` on the event loop."""
        return await self._guard_async(self._diff, request, context)

    @staticmethod
    async def _guard_async(fn: Callable[[bytes], bytes], request: bytes,
                           context: grpc.aio.ServicerContext[bytes, bytes]) -> bytes:
        try:
            return fn(request)
        except BenchError as e:
            await context.abort(STATUS_OF_ERROR[e.code], e.message)
        except Exception as e:
            log.exception("internal error in gRPC handler")
            await context.abort(grpc.StatusCode.INTERNAL, f"internal error: {type(e).__name__}: {e}")
        raise AssertionError("unreachable: context.abort raises")


def serve_aio(service: Service, host: str, port: int) -> None:
    """Serve gRPC with `grpc.aio` on one event loop until SIGTERM (the measured alternative)."""
    import asyncio

    async def main() -> None:
        servicer = AioBenchServicer(service)
        handlers = {
            "Echo": grpc.unary_unary_rpc_method_handler(servicer.echo_async),
            "Diff": grpc.unary_unary_rpc_method_handler(servicer.diff_async),
        }
        server = grpc.aio.server(handlers=[grpc.method_handlers_generic_handler(SERVICE_NAME, handlers)],
                                 options=SERVER_OPTIONS)
        address = f"{host}:{port}"
        try:
            bound = server.add_insecure_port(address)
        except RuntimeError as e:
            raise SystemExit(f"cannot bind {address}: {e}; is the port in use by another program?") from e
        await server.start()
        log.info("grpc.aio serving %s on %s:%d", SERVICE_NAME, host, bound)
        stop = asyncio.Event()
        asyncio.get_running_loop().add_signal_handler(signal.SIGTERM, stop.set)
        await stop.wait()
        await server.stop(grace=1.0)

    asyncio.run(main())
    log.info("SIGTERM received, stopped")


def serve(service: Service, host: str, port: int, workers: int) -> None:
    """Serve gRPC on host:port until SIGTERM, on a pool of threads made on demand (at most
    max(`workers`, HELD_CALLS_MAX))."""
    stop = threading.Event()

    def on_term(signum: int, frame: Any) -> None:
        stop.set()

    signal.signal(signal.SIGTERM, on_term)
    server, bound = build_server(service, host, port, workers)
    log.info("grpc serving %s on %s:%d, threads on demand up to %d", SERVICE_NAME, host, bound,
             max(workers, HELD_CALLS_MAX))
    while not stop.wait(0.5):
        pass
    server.stop(grace=1.0).wait()
    log.info("SIGTERM received, stopped")
