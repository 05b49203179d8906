"""HTTP servers for the service. `uvicorn` (httptools + uvloop, ASGI) is the production choice;
the others exist so that `tools/compare_http_servers.py` can measure them (README.md)."""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from typing import Any

from bench_service.http_app import AsgiApp, RsgiApp, WsgiApp
from bench_service.ops import Service

log = logging.getLogger(__name__)

DEFAULT_SERVER = "uvicorn"
KEEP_ALIVE_S = 75  # uvicorn's default of 5 s would drop load-generator connections between cells
HEADER_TIMEOUT_S = 10  # from a request's first byte to the end of its header section (slowloris)


def guarded_httptools() -> type[asyncio.Protocol]:
    """uvicorn's httptools protocol with the two timers uvicorn lacks (README.md "Timeouts").

    uvicorn arms its keep-alive timer only after a response, and has no header timeout: a
    connection that never sends a byte, or one that dribbles a header line forever (slowloris),
    was kept for good. Here a new connection gets the same idle timer as one between requests
    (KEEP_ALIVE_S), and a header section not complete HEADER_TIMEOUT_S after its first byte
    closes the connection.
    """
    from uvicorn.protocols.http.httptools_impl import HttpToolsProtocol

    class GuardedHttpToolsProtocol(HttpToolsProtocol):
        _header_timer: asyncio.TimerHandle | None = None

        def connection_made(self, transport: asyncio.Transport) -> None:  # type: ignore[override]
            super().connection_made(transport)
            # uvicorn's own keep-alive timer: data_received cancels it, the end of a response re-arms it
            self.timeout_keep_alive_task = self.loop.call_later(self.timeout_keep_alive,
                                                                self.timeout_keep_alive_handler)

        def on_message_begin(self) -> None:
            super().on_message_begin()
            self._cancel_header_timer()
            self._header_timer = self.loop.call_later(HEADER_TIMEOUT_S, self.timeout_keep_alive_handler)

        def on_headers_complete(self) -> None:
            self._cancel_header_timer()
            super().on_headers_complete()

        def connection_lost(self, exc: Exception | None) -> None:
            self._cancel_header_timer()
            super().connection_lost(exc)

        def _cancel_header_timer(self) -> None:
            if self._header_timer is not None:
                self._header_timer.cancel()
                self._header_timer = None

    return GuardedHttpToolsProtocol


def serve_uvicorn(service: Service, host: str, port: int, workers: int, proxy_headers: bool = False) -> None:
    """Serve the ASGI app with uvicorn, httptools parser (with a header timeout), uvloop, one process.

    `proxy_headers` is uvicorn's default (on): it wraps the app in ProxyHeadersMiddleware,
    which reads X-Forwarded-* on every request; nothing here runs behind a proxy, so it is off.
    """
    import uvicorn

    config = uvicorn.Config(
        AsgiApp(service), host=host, port=port, http=guarded_httptools(), loop="uvloop", lifespan="off",
        access_log=False, server_header=False, date_header=False, log_level="info", backlog=2048,
        timeout_keep_alive=KEEP_ALIVE_S, proxy_headers=proxy_headers,
    )
    # uvicorn re-raises the captured SIGTERM after its graceful shutdown; with a no-op handler
    # installed beforehand that re-raise is harmless and the process exits 0.
    signal.signal(signal.SIGTERM, lambda signum, frame: None)
    uvicorn.Server(config).run()


def serve_uvicorn_proxy_headers(service: Service, host: str, port: int, workers: int) -> None:
    """uvicorn as above with its default `proxy_headers=True`, kept to measure what it costs."""
    serve_uvicorn(service, host, port, workers, proxy_headers=True)


def _serve_granian(interface: str, app: Any, host: str, port: int) -> None:
    from granian.constants import HTTPModes, Interfaces, Loops
    from granian.http import HTTP1Settings
    from granian.server import Server

    server = Server(
        "bench_service", address=host, port=port, interface=Interfaces(interface), workers=1,
        runtime_threads=1, loop=Loops.uvloop, http=HTTPModes.http1, websockets=False, backlog=2048,
        http1_settings=HTTP1Settings(header_read_timeout=HEADER_TIMEOUT_S * 1000),
        log_access=False, respawn_failed_workers=False,
    )
    # The worker process is forked, so the app object built here is inherited, not re-imported.
    server.serve(target_loader=lambda *args, **kwargs: app, wrap_loader=False)


def serve_granian_rsgi(service: Service, host: str, port: int, workers: int) -> None:
    """Serve the RSGI app with granian (Rust HTTP, tokio + the asyncio loop), one worker process."""
    _serve_granian("rsgi", RsgiApp(service), host, port)


def serve_granian_asgi(service: Service, host: str, port: int, workers: int) -> None:
    """Serve the ASGI app with granian, one worker process."""
    _serve_granian("asginl", AsgiApp(service), host, port)


def serve_waitress(service: Service, host: str, port: int, workers: int) -> None:
    """Serve the WSGI app with waitress (`workers` threads)."""
    import waitress.server

    server = waitress.server.create_server(
        WsgiApp(service), host=host, port=port, threads=max(1, workers), ident="",
        max_request_body_size=service.settings.max_body_bytes + 1, backlog=2048,
        clear_untrusted_proxy_headers=True,
    )

    def stop(signum: int, frame: Any) -> None:
        raise SystemExit(0)

    signal.signal(signal.SIGTERM, stop)
    try:
        server.run()
    finally:
        server.close()


def _serve_gunicorn(worker_class: str, service: Service, host: str, port: int, workers: int) -> None:
    from gunicorn.app.base import BaseApplication

    class _App(BaseApplication):
        def load_config(self) -> None:
            settings = {"bind": f"{host}:{port}", "workers": 1, "worker_class": worker_class,
                        "threads": max(1, workers), "keepalive": 75, "accesslog": None,
                        "backlog": 2048, "worker_connections": 1000}
            for key, value in settings.items():
                self.cfg.set(key, value)

        def load(self) -> WsgiApp:
            return WsgiApp(service)

    _App().run()


def serve_gunicorn_gthread(service: Service, host: str, port: int, workers: int) -> None:
    """Serve the WSGI app with gunicorn, one gthread worker process with `workers` threads."""
    _serve_gunicorn("gthread", service, host, port, workers)


def serve_gunicorn_gevent(service: Service, host: str, port: int, workers: int) -> None:
    """Serve the WSGI app with gunicorn, one gevent worker process."""
    _serve_gunicorn("gevent", service, host, port, workers)


SERVERS: dict[str, Callable[[Service, str, int, int], None]] = {
    "uvicorn": serve_uvicorn,
    "uvicorn-proxy-headers": serve_uvicorn_proxy_headers,
    "granian-rsgi": serve_granian_rsgi,
    "granian-asgi": serve_granian_asgi,
    "waitress": serve_waitress,
    "gunicorn-gthread": serve_gunicorn_gthread,
    "gunicorn-gevent": serve_gunicorn_gevent,
}


def serve(service: Service, host: str, port: int, workers: int, server: str = DEFAULT_SERVER) -> None:
    """Serve HTTP on host:port with the named server until SIGTERM."""
    SERVERS[server](service, host, port, workers)
