"""A minimal Redis (RESP2) connection for the queue client's hot path.

redis-py spends most of a queue round trip in its own machinery (command objects, response
callbacks); the load generator cannot afford that per request. This speaks just what the
queue client sends: commands as arrays of bulk strings, replies of every RESP2 type.
"""

from __future__ import annotations

import socket
from typing import Any
from urllib.parse import urlparse

from harness.errors import ClientError


class RespError(ClientError):
    """An error reply from Redis (`-ERR ...`)."""


class RespConnection:
    """One connection to Redis, commands sent raw, replies parsed from a buffer."""

    def __init__(self, url: str, timeout_s: float) -> None:
        u = urlparse(url)
        self.address = (u.hostname or "127.0.0.1", u.port or 6379)
        self.db = int((u.path or "/0").lstrip("/") or 0)
        self.timeout_s = timeout_s
        self._sock: socket.socket | None = None
        self._buf = bytearray()

    def _connect(self) -> socket.socket:
        try:
            sock = socket.create_connection(self.address, timeout=self.timeout_s)
        except OSError as e:
            raise ClientError(f"redis: cannot connect to {self.address[0]}:{self.address[1]}: {e}") from e
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self._sock = sock
        self._buf.clear()
        if self.db:
            self.execute([b"SELECT", str(self.db).encode()])
        return sock

    @staticmethod
    def encode(args: list[bytes]) -> bytes:
        """One command as a RESP array of bulk strings."""
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            out.append(b"$%d\r\n" % len(a))
            out.append(a)
            out.append(b"\r\n")
        return b"".join(out)

    def execute(self, *commands: list[bytes]) -> list[Any]:
        """Send the commands in one write (a pipeline) and read one reply for each."""
        sock = self._sock or self._connect()
        try:
            sock.sendall(b"".join(self.encode(c) for c in commands))
            return [self._read() for _ in commands]
        except TimeoutError as e:
            self.close()
            raise ClientError(f"redis: no reply within {self.timeout_s} s") from e
        except OSError as e:
            self.close()
            raise ClientError(f"redis: {e}") from e

    def _line(self) -> bytes:
        assert self._sock is not None
        while True:
            i = self._buf.find(b"\r\n")
            if i >= 0:
                line = bytes(self._buf[:i])
                del self._buf[:i + 2]
                return line
            self._fill()

    def _fill(self) -> None:
        assert self._sock is not None
        chunk = self._sock.recv(262144)
        if not chunk:
            self.close()
            raise ClientError("redis: connection closed by the server")
        self._buf += chunk

    def _read(self) -> Any:
        line = self._line()
        kind, rest = line[:1], line[1:]
        if kind == b"+":
            return rest
        if kind == b"-":
            raise RespError(f"redis: {rest.decode('utf-8', 'replace')}")
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            while len(self._buf) < n + 2:
                self._fill()
            data = bytes(self._buf[:n])
            del self._buf[:n + 2]
            return data
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self._read() for _ in range(n)]
        self.close()
        raise ClientError(f"redis: unexpected reply {line[:60]!r}")

    def close(self) -> None:
        """Close the socket (the next command reconnects)."""
        if self._sock is not None:
            try:
                self._sock.close()
            finally:
                self._sock = None
                self._buf.clear()
