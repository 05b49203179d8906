"""The HTTP face of the service: routing shared by an ASGI app and a WSGI app.

`POST /echo`, `POST /diff`, `GET /health`; 404 `unknown_op` for other paths, 405 with `Allow`
for a wrong method, 413 when `Content-Length` announces a body over the limit (answered
before reading it, then the connection is closed). The ASGI app is the one served in
production (see README.md for the measured server comparison); the WSGI app exists so that
WSGI servers can be measured against it with identical behaviour.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass
from typing import Any

from bench_service.ops import (
    BAD_REQUEST,
    INTERNAL,
    TOO_LARGE,
    UNKNOWN_OP,
    BenchError,
    Service,
    error_body,
)

JSON = b"application/json"
OCTETS = b"application/octet-stream"
STATUS_OF_ERROR = {BAD_REQUEST: 400, UNKNOWN_OP: 404, TOO_LARGE: 413, INTERNAL: 500}
REASONS = {200: "OK", 400: "Bad Request", 404: "Not Found", 405: "Method Not Allowed",
           413: "Content Too Large", 500: "Internal Server Error"}


@dataclass(frozen=True)
class Route:
    """One path of the HTTP transport: its method, the op it runs, the reply content type."""

    method: str
    op: str
    content_type: bytes


ROUTES = {
    "/echo": Route("POST", "echo", OCTETS),
    "/diff": Route("POST", "diff", JSON),
    "/health": Route("GET", "health", JSON),
}


@dataclass(frozen=True)
class Response:
    """A complete response: status, body, content type, extra headers, and whether to close."""

    status: int
    body: bytes
    content_type: bytes = JSON
    extra_headers: tuple[tuple[bytes, bytes], ...] = ()
    close: bool = False


def precheck(service: Service, method: str, path: str, content_length: int | None) -> Route | Response:
    """Resolve the route before any body is read; a `Response` means answer it and stop."""
    route = ROUTES.get(path)
    if route is None:
        return Response(404, error_body(UNKNOWN_OP, f"unknown path {path!r}; paths are "
                                        f"{', '.join(sorted(ROUTES))}"))
    if method != route.method:
        return Response(405, error_body(BAD_REQUEST, f"method {method} not allowed on {path}; use "
                                        f"{route.method}"),
                        extra_headers=((b"allow", route.method.encode()),))
    if content_length is not None and content_length > service.settings.max_body_bytes:
        return too_large(service, content_length)
    return route


def too_large(service: Service, size: int) -> Response:
    """The 413 response for a body of `size` bytes (or more); the connection is then closed."""
    try:
        service.check_size(size)
    except BenchError as e:
        return Response(413, e.body(), close=True)
    raise AssertionError("too_large called with a size under the limit")


def run(service: Service, route: Route, body: bytes) -> Response:
    """Run the route's op on the body and turn the result into a response."""
    code, reply = service.handle(route.op, body)
    if code is None:
        return Response(200, reply, route.content_type)
    return Response(STATUS_OF_ERROR.get(code, 500), reply)


def parse_content_length(raw: bytes | str | None) -> int | None:
    """The Content-Length value as an int, None when absent; a bad value counts as absent."""
    if raw is None:
        return None
    try:
        value = int(raw)
    except ValueError:
        return None
    return value if value >= 0 else None


ASGIReceive = Callable[[], Awaitable[dict[str, Any]]]
ASGISend = Callable[[dict[str, Any]], Awaitable[None]]


class AsgiApp:
    """The service as an ASGI 3 application (HTTP only; lifespan is not used)."""

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __call__(self, scope: dict[str, Any], receive: ASGIReceive, send: ASGISend) -> None:
        """Serve one HTTP request: route, check the size, read the body, run the op, reply."""
        if scope["type"] != "http":
            return
        content_length = None
        for name, value in scope["headers"]:
            if name == b"content-length":
                content_length = parse_content_length(value)
                break
        checked = precheck(self.service, scope["method"], scope["path"], content_length)
        if isinstance(checked, Response):
            await self._send(send, checked)
            return
        limit = self.service.settings.max_body_bytes
        message = await receive()
        body: bytes = message.get("body", b"")
        if message.get("more_body", False):
            chunks = [body]
            size = len(body)
            while message.get("more_body", False):
                message = await receive()
                chunk = message.get("body", b"")
                size += len(chunk)
                if size > limit:
                    await self._send(send, too_large(self.service, size))
                    return
                chunks.append(chunk)
            body = b"".join(chunks)
        await self._send(send, run(self.service, checked, body))

    @staticmethod
    async def _send(send: ASGISend, response: Response) -> None:
        headers = [(b"content-type", response.content_type),
                   (b"content-length", str(len(response.body)).encode())]
        headers.extend(response.extra_headers)
        # `response.close` is not honoured here: after a complete response uvicorn discards the
        # rest of an unread request body and keeps the connection, so a client that is still
        # sending an oversized body reads its 413 instead of a connection reset.
        await send({"type": "http.response.start", "status": response.status, "headers": headers})
        await send({"type": "http.response.body", "body": response.body})


class RsgiApp:
    """The same service as an RSGI application (granian's native interface, measured in README.md).

    RSGI hands the body over in one call (`await protocol()`) and takes the response as one
    `response_bytes` call with `str` headers: fewer Python-level messages than ASGI's
    receive/send dictionaries.
    """

    def __init__(self, service: Service) -> None:
        self.service = service

    async def __rsgi__(self, scope: Any, protocol: Any) -> None:
        """Serve one HTTP request the same way as `AsgiApp`."""
        if scope.proto != "http":
            return
        content_length = parse_content_length(scope.headers.get("content-length"))
        checked = precheck(self.service, scope.method, scope.path, content_length)
        if isinstance(checked, Response):
            self._respond(protocol, checked)
            return
        if content_length is not None:
            body: bytes = await protocol()
        else:  # chunked: count while reading, stop at the limit
            limit = self.service.settings.max_body_bytes
            chunks: list[bytes] = []
            size = 0
            async for chunk in protocol:
                size += len(chunk)
                if size > limit:
                    self._respond(protocol, too_large(self.service, size))
                    return
                chunks.append(chunk)
            body = b"".join(chunks)
        self._respond(protocol, run(self.service, checked, body))

    @staticmethod
    def _respond(protocol: Any, response: Response) -> None:
        headers = [("content-type", response.content_type.decode()),
                   ("content-length", str(len(response.body)))]
        headers.extend((k.decode(), v.decode()) for k, v in response.extra_headers)
        protocol.response_bytes(response.status, headers, response.body)


StartResponse = Callable[[str, list[tuple[str, str]]], Any]


class WsgiApp:
    """The same service as a WSGI application, for measuring WSGI servers against the ASGI one."""

    def __init__(self, service: Service) -> None:
        self.service = service

    def __call__(self, environ: dict[str, Any], start_response: StartResponse) -> Iterable[bytes]:
        """Serve one HTTP request the same way as `AsgiApp`."""
        content_length = parse_content_length(environ.get("CONTENT_LENGTH") or None)
        checked = precheck(self.service, environ["REQUEST_METHOD"], environ.get("PATH_INFO", ""),
                           content_length)
        if isinstance(checked, Response):
            return self._respond(start_response, checked)
        stream = environ["wsgi.input"]
        limit = self.service.settings.max_body_bytes
        if content_length is not None:
            body = stream.read(content_length) if content_length else b""
        else:  # chunked: read up to one byte past the limit
            body = stream.read(limit + 1)
            if len(body) > limit:
                return self._respond(start_response, too_large(self.service, len(body)))
        return self._respond(start_response, run(self.service, checked, body))

    @staticmethod
    def _respond(start_response: StartResponse, response: Response) -> list[bytes]:
        headers = [("Content-Type", response.content_type.decode()),
                   ("Content-Length", str(len(response.body)))]
        headers.extend((k.decode().title(), v.decode()) for k, v in response.extra_headers)
        if response.close:
            headers.append(("Connection", "close"))
        start_response(f"{response.status} {REASONS[response.status]}", headers)
        return [response.body]
