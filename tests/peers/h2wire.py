"""Just enough HTTP/2 on a raw socket to misbehave: the client preface, frames, and HPACK
literals (RFC 9113, RFC 7541). No flow control and no decoding of header blocks: the abuse
clients in test_http2_abuse.py and test_slow_connections.py only need to write frames and to
read the server's frame types, stream ids and SETTINGS."""

from __future__ import annotations

import socket
import struct
import threading
import time
from dataclasses import dataclass

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"

DATA, HEADERS, PRIORITY, RST_STREAM, SETTINGS, PUSH_PROMISE, PING, GOAWAY, WINDOW_UPDATE = range(9)
END_STREAM, ACK, END_HEADERS = 0x1, 0x1, 0x4
SETTINGS_MAX_CONCURRENT_STREAMS = 0x3
CANCEL, REFUSED_STREAM, ENHANCE_YOUR_CALM = 0x8, 0x7, 0xB


def frame(kind: int, flags: int, stream: int, payload: bytes = b"") -> bytes:
    """One frame: 24-bit length, type, flags, 31-bit stream id, payload."""
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(">I", stream) + payload


def settings(values: dict[int, int] | None = None) -> bytes:
    """A SETTINGS frame (empty: the defaults)."""
    payload = b"".join(struct.pack(">HI", k, v) for k, v in (values or {}).items())
    return frame(SETTINGS, 0, 0, payload)


def rst_stream(stream: int, code: int = CANCEL) -> bytes:
    """RST_STREAM with an error code (CANCEL by default, what a client that gives up sends)."""
    return frame(RST_STREAM, 0, stream, struct.pack(">I", code))


def _hpack_int(value: int, prefix_bits: int, first: int = 0) -> bytes:
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first | value])
    out = [first | limit]
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def _literal(name: bytes, value: bytes) -> bytes:
    """A literal header field without indexing, new name, no Huffman coding."""
    return b"\x00" + _hpack_int(len(name), 7) + name + _hpack_int(len(value), 7) + value


def grpc_request_headers(authority: str, path: str = "/bench.v1.Bench/Echo") -> bytes:
    """The header block of a gRPC call: POST, http, the path, application/grpc, te: trailers."""
    return (b"\x83\x86"  # :method POST, :scheme http (static table 3 and 6)
            + b"\x04" + _hpack_int(len(path), 7) + path.encode()  # :path, name from the static table
            + b"\x01" + _hpack_int(len(authority), 7) + authority.encode()  # :authority
            + _literal(b"content-type", b"application/grpc") + _literal(b"te", b"trailers"))


def headers(stream: int, block: bytes, end_stream: bool = False) -> bytes:
    """A HEADERS frame carrying a whole header block."""
    return frame(HEADERS, END_HEADERS | (END_STREAM if end_stream else 0), stream, block)


@dataclass
class Frame:
    """A frame read from the server (its payload kept only for SETTINGS, RST_STREAM and GOAWAY)."""

    kind: int
    flags: int
    stream: int
    payload: bytes


class Conn:
    """A client connection that has sent the preface and its (empty) SETTINGS. A thread reads the
    server's frames until EOF, so that the writer never blocks on a full window, ACKs the
    server's SETTINGS, and keeps counts and the frames that tell what the server decided."""

    def __init__(self, host: str, port: int, timeout_s: float = 5.0) -> None:
        self.sock = socket.create_connection((host, port), timeout=timeout_s)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.sock.settimeout(None)
        self.frames: list[Frame] = []
        self.counts: dict[int, int] = {}
        self.ping_acks = 0
        self.closed = threading.Event()
        self.error = ""
        self._lock = threading.Lock()
        self.send(PREFACE + settings())
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()

    def send(self, data: bytes) -> bool:
        """Write whole frames (the reader's ACKs never land inside them); False once the server
        has closed or reset the connection."""
        try:
            with self._lock:
                self.sock.sendall(data)
            return True
        except OSError:
            return False

    def close(self) -> None:
        """Close the socket and let the reader end."""
        try:
            self.sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
        self.sock.close()
        self._thread.join(timeout=5)

    def _run(self) -> None:
        buf = bytearray()
        try:
            while True:
                chunk = self.sock.recv(65536)
                if not chunk:
                    break
                buf += chunk
                while len(buf) >= 9:
                    length = int.from_bytes(buf[:3], "big")
                    if len(buf) < 9 + length:
                        break
                    kind, flags = buf[3], buf[4]
                    stream = int.from_bytes(buf[5:9], "big") & 0x7FFFFFFF
                    payload = bytes(buf[9:9 + length]) if kind in (SETTINGS, RST_STREAM, GOAWAY) else b""
                    del buf[:9 + length]
                    self.counts[kind] = self.counts.get(kind, 0) + 1
                    if kind == SETTINGS and not flags & ACK:
                        self.send(frame(SETTINGS, ACK, 0))
                    elif kind == PING and flags & ACK:
                        self.ping_acks += 1
                    if kind in (SETTINGS, RST_STREAM, GOAWAY) and len(self.frames) < 100_000:
                        self.frames.append(Frame(kind, flags, stream, payload))
        except OSError as e:
            self.error = f"{type(e).__name__}: {e}"
        finally:
            self.closed.set()

    def ping(self, timeout_s: float = 10.0) -> bool:
        """PING and wait for its ACK: True when the server has read everything sent before it."""
        before = self.ping_acks
        if not self.send(frame(PING, 0, 0, b"peers2.0")):
            return False
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and not self.closed.is_set():
            if self.ping_acks > before:
                return True
            time.sleep(0.005)
        return self.ping_acks > before

    def server_settings(self, timeout_s: float = 5.0) -> dict[int, int]:
        """The values of the server's first SETTINGS frame (not an ACK); waits for it."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            for f in list(self.frames):
                if f.kind == SETTINGS and not f.flags & ACK:
                    return {int.from_bytes(f.payload[i:i + 2], "big"): int.from_bytes(f.payload[i + 2:i + 6], "big")
                            for i in range(0, len(f.payload) - 5, 6)}
            if self.closed.is_set():
                break
            time.sleep(0.01)
        raise AssertionError(f"no SETTINGS frame from the server within {timeout_s} s (read error: {self.error!r})")

    def rst_codes(self) -> dict[int, int]:
        """How many RST_STREAM frames the server sent, by error code."""
        out: dict[int, int] = {}
        for f in list(self.frames):
            if f.kind == RST_STREAM:
                code = int.from_bytes(f.payload[:4], "big")
                out[code] = out.get(code, 0) + 1
        return out

    def goaway(self) -> int | None:
        """The error code of the server's GOAWAY, or None when it sent none."""
        for f in list(self.frames):
            if f.kind == GOAWAY:
                return int.from_bytes(f.payload[4:8], "big")
        return None
