"""Command line: `python -m bench_service <transport> [options]`.

Logs its effective configuration at start, serves until SIGTERM, then exits 0.
"""

from __future__ import annotations

import argparse
import logging
import os
import sys
from collections.abc import Sequence

from bench_service.ops import MAX_BODY_BYTES, MAX_DIFF_TOKENS, Service, Settings, runtime_version

TRANSPORTS = ("http", "zmq", "redis", "grpc", "celery")
DEFAULT_WORKERS = {"http": 1, "zmq": 1, "redis": 2, "grpc": 4, "celery": 1}
log = logging.getLogger("bench_service")


def _positive(text: str) -> int:
    try:
        value = int(text)
    except ValueError as e:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {text!r}") from e
    if value < 1:
        raise argparse.ArgumentTypeError(f"expected a positive integer, got {value}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the service command."""
    from bench_service.http_server import DEFAULT_SERVER, SERVERS

    p = argparse.ArgumentParser(prog="python -m bench_service",
                                description="The interop-bench Python service (contract/CONTRACT.md).")
    p.add_argument("transport", choices=TRANSPORTS)
    p.add_argument("--host", default="127.0.0.1", help="listen address (http, zmq, grpc)")
    p.add_argument("--port", type=int, default=0, help="listen port (http, zmq, grpc); required for those")
    p.add_argument("--redis-url", default=None, help="redis URL (redis, celery), e.g. redis://127.0.0.1:6379/0")
    p.add_argument("--queue", default=None, help="queue key (redis) or celery queue name (celery)")
    p.add_argument("--workers", type=_positive, default=None,
                   help="threads serving requests; default per transport: "
                   + ", ".join(f"{k} {v}" for k, v in DEFAULT_WORKERS.items()))
    p.add_argument("--max-body-bytes", type=_positive, default=MAX_BODY_BYTES)
    p.add_argument("--max-diff-tokens", type=_positive, default=MAX_DIFF_TOKENS)
    p.add_argument("--http-server", choices=sorted(SERVERS), default=DEFAULT_SERVER,
                   help="HTTP server (measured in README.md; keep the default for benchmarks)")
    p.add_argument("--grpc-server", choices=["threads", "aio"], default="threads",
                   help="gRPC server: grpcio's thread pool or grpc.aio (measured in README.md; keep the "
                   "default for benchmarks)")
    return p


def _check_args(p: argparse.ArgumentParser, args: argparse.Namespace) -> None:
    if args.transport in ("http", "zmq", "grpc") and not (0 < args.port < 65536):
        p.error(f"{args.transport} needs --port between 1 and 65535, e.g. --port 8080")
    if args.transport in ("redis", "celery"):
        if not args.redis_url:
            p.error(f"{args.transport} needs --redis-url, e.g. --redis-url redis://127.0.0.1:6379/0")
        if not args.queue:
            example = "bench.python" if args.transport == "celery" else "bench:python"
            p.error(f"{args.transport} needs --queue, e.g. --queue {example}")


def main(argv: Sequence[str] | None = None) -> int:
    """Parse arguments, log the configuration, serve until SIGTERM; returns the exit code."""
    p = build_parser()
    args = p.parse_args(argv)
    _check_args(p, args)
    if args.workers is None:
        args.workers = DEFAULT_WORKERS[args.transport]
    logging.basicConfig(level=logging.INFO, stream=sys.stderr,
                        format="%(asctime)s %(levelname)s %(name)s: %(message)s")
    try:
        settings = Settings.from_env(max_body_bytes=args.max_body_bytes,
                                     max_diff_tokens=args.max_diff_tokens)
    except ValueError as e:
        p.error(str(e))
    service = Service(settings)
    config = {
        "transport": args.transport, "pid": os.getpid(), "runtime": runtime_version(),
        "workers": args.workers, "max_body_bytes": settings.max_body_bytes,
        "max_diff_tokens": settings.max_diff_tokens, "test_hooks": settings.test_hooks,
        "extra_work_us": settings.extra_work_us,
    }
    if args.transport in ("http", "zmq", "grpc"):
        config.update(host=args.host, port=args.port)
    else:
        config.update(redis_url=args.redis_url, queue=args.queue)
    if args.transport == "http":
        config["http_server"] = args.http_server
    if args.transport == "grpc":
        config["grpc_server"] = args.grpc_server
    log.info("starting: %s", " ".join(f"{k}={v}" for k, v in config.items()))

    if args.transport == "http":
        from bench_service import http_server
        http_server.serve(service, args.host, args.port, args.workers, args.http_server)
    elif args.transport == "zmq":
        from bench_service import zmq_server
        zmq_server.serve(service, args.host, args.port)
    elif args.transport == "redis":
        from bench_service import redis_worker
        redis_worker.serve(service, args.redis_url, args.queue, args.workers)
    elif args.transport == "grpc":
        from bench_service import grpc_server
        if args.grpc_server == "aio":
            grpc_server.serve_aio(service, args.host, args.port)
        else:
            grpc_server.serve(service, args.host, args.port, args.workers)
    else:
        from bench_service import celery_app
        celery_app.serve(service, args.redis_url, args.queue, args.workers)
    log.info("stopped: transport=%s", args.transport)
    return 0
