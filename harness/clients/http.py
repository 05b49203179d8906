"""HTTP/1.1 keep-alive client on a plain socket.

Small on purpose: the load generator spends its CPU on this loop, and a general-purpose
library costs several times more per request. It speaks just what the contract needs:
`POST /<op>` and `GET /health`, replies with Content-Length or chunked bodies, and a
connection the server closes (it reconnects on the next call).
"""

from __future__ import annotations

import socket
from typing import Any

from harness.clients.base import Reply, error_reply
from harness.errors import ClientError

_MAX_HEADER = 64 * 1024


class HttpClient:
    """One keep-alive connection to a service's http transport."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0) -> None:
        self.host = host
        self.port = port
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = bytearray()
        self._host_header = f"Host: {host}:{port}\r\n".encode()

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection((self.host, self.port), timeout=self.timeout_s)
        except OSError as e:
            raise ClientError(f"http: cannot connect to {self.host}:{self.port}: {e}") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf.clear()
        return sock

    def request(self, method: str, path: str, body: bytes = b"",
                headers: dict[str, str] | None = None) -> tuple[int, dict[str, str], bytes]:
        """One raw HTTP exchange: (status, lower-cased headers, body)."""
        head = [f"{method} {path} HTTP/1.1\r\n".encode(), self._host_header]
        if method != "GET" or body:
            head.append(f"Content-Length: {len(body)}\r\n".encode())
        for k, v in (headers or {}).items():
            head.append(f"{k}: {v}\r\n".encode())
        head.append(b"\r\n")
        data = b"".join(head) + body if len(body) < 65536 else None
        for attempt in (0, 1):
            reused = self._sock is not None
            sock = self._sock or self._connect()
            try:
                if data is not None:
                    sock.sendall(data)
                else:
                    sock.sendall(b"".join(head))
                    try:
                        sock.sendall(body)
                    except OSError:
                        pass  # the server may answer (413) and close before reading a large body
                return self._read_response(method)
            except (ConnectionError, _Closed) as e:
                self.close()
                # A kept-alive connection the server closed while idle: retry once on a new one.
                if not reused or attempt == 1:
                    raise ClientError(f"http: connection to {self.host}:{self.port} failed: {e}") from e
            except OSError as e:
                self.close()
                raise ClientError(f"http: {method} {path} on {self.host}:{self.port}: {e}") from e
        raise ClientError("http: unreachable")  # pragma: no cover

    def call(self, op: str, body: bytes) -> Reply:
        """POST /<op> (GET /health for `health`) and map the reply onto the contract."""
        if op == "health":
            status, _, data = self.request("GET", "/health")
        else:
            status, _, data = self.request("POST", "/" + op, body)
        if status == 200:
            return Reply(ok=True, body=data, status=status)
        return error_reply(data, status=status, fallback=f"http_{status}")

    def ready(self) -> bool:
        """True when GET /health answers 200."""
        return self.call("health", b"").ok

    def close(self) -> None:
        """Close the connection (the next call opens a new one)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf.clear()

    # -- reading ---------------------------------------------------------------------------

    def _fill(self) -> None:
        assert self._sock is not None
        try:
            chunk = self._sock.recv(262144)
        except TimeoutError as e:
            self.close()
            raise ClientError(f"http: no reply from {self.host}:{self.port} within {self.timeout_s} s") from e
        if not chunk:
            raise _Closed("connection closed by the server")
        self._buf += chunk

    def _read_until(self, marker: bytes) -> bytes:
        while True:
            i = self._buf.find(marker)
            if i >= 0:
                out = bytes(self._buf[: i + len(marker)])
                del self._buf[: i + len(marker)]
                return out
            if len(self._buf) > _MAX_HEADER:
                raise ClientError("http: header section too large")
            self._fill()

    def _read_exact(self, n: int) -> bytes:
        while len(self._buf) < n:
            self._fill()
        out = bytes(self._buf[:n])
        del self._buf[:n]
        return out

    def _read_response(self, method: str) -> tuple[int, dict[str, str], bytes]:
        head = self._read_until(b"\r\n\r\n")
        if not head.startswith(b"HTTP/1."):
            self.close()
            raise ClientError(f"http: not an HTTP status line: {head[:80]!r}")
        status = int(head[9:12])
        lower = head.lower()  # one pass in C; only the headers the client acts on are looked up
        headers = _LazyHeaders(head)
        if method == "HEAD" or status in (204, 304) or 100 <= status < 200:
            body = b""
        elif b"\r\ntransfer-encoding:" in lower and b"chunked" in _header(lower, b"transfer-encoding"):
            body = self._read_chunked()
        elif (i := lower.find(b"\r\ncontent-length:")) >= 0:
            body = self._read_exact(int(lower[i + 17:lower.index(b"\r\n", i + 2)]))
        else:
            body = self._read_to_close()
        if b"\r\nconnection: close" in lower or head.startswith(b"HTTP/1.0"):
            self.close()
        return status, headers, body

    def _read_chunked(self) -> bytes:
        out = bytearray()
        while True:
            size_line = self._read_until(b"\r\n")
            size = int(size_line.split(b";")[0].strip(), 16)
            if size == 0:
                self._read_until(b"\r\n")  # no trailers expected
                return bytes(out)
            out += self._read_exact(size)
            self._read_exact(2)

    def _read_to_close(self) -> bytes:
        try:
            while True:
                self._fill()
        except _Closed:
            pass
        out = bytes(self._buf)
        self.close()
        return out


class _Closed(Exception):
    """The server closed the connection."""


def _header(lower_head: bytes, name: bytes) -> bytes:
    i = lower_head.find(b"\r\n" + name + b":")
    return b"" if i < 0 else lower_head[i + len(name) + 3:lower_head.index(b"\r\n", i + 2)].strip()


class _LazyHeaders(dict[str, str]):
    """Response headers, lower-cased, parsed only when someone looks at them (conformance does)."""

    def __init__(self, head: bytes) -> None:
        super().__init__()
        self._head: bytes | None = head

    def _parse(self) -> None:
        if self._head is not None:
            for line in self._head[:-4].split(b"\r\n")[1:]:
                k, _, v = line.partition(b":")
                super().__setitem__(k.strip().lower().decode("latin-1"), v.strip().decode("latin-1"))
            self._head = None

    def __getitem__(self, key: str) -> str:
        self._parse()
        return super().__getitem__(key)

    def __contains__(self, key: object) -> bool:
        self._parse()
        return super().__contains__(key)

    def get(self, key: str, default: Any = None) -> Any:
        self._parse()
        return super().get(key, default)

    def __repr__(self) -> str:
        self._parse()
        return super().__repr__()
