"""Misbehaving HTTP responders for the caller tests: `wrong` answers every echo with one byte changed,
`stall` stops answering for 100 ms every 500 ms. Both answer GET /health, so the supervisor sees them ready.

    python tests/responders.py wrong|stall --host 127.0.0.1 --port N
"""

from __future__ import annotations

import argparse
import json
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any

STALL_EVERY_S = 0.5
STALL_FOR_S = 0.1


class Handler(BaseHTTPRequestHandler):
    """HTTP/1.1 keep-alive; the mode is the server's."""

    protocol_version = "HTTP/1.1"
    disable_nagle_algorithm = True  # headers and body are separate writes: no 40 ms delayed-ACK wait
    server: Any

    def log_message(self, format: str, *args: Any) -> None:
        """Quiet."""

    def _send(self, status: int, body: bytes, kind: str) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def do_GET(self) -> None:
        """Health: the contract's object."""
        self._send(200, json.dumps({"service": self.server.mode, "language": "Python", "runtime": "test",
                                    "ops": ["echo"]}).encode(), "application/json")

    def do_POST(self) -> None:
        """Echo, wrong or late."""
        body = self.rfile.read(int(self.headers.get("Content-Length", "0")))
        if self.server.mode == "wrong":
            body = body[:-1] + bytes([body[-1] ^ 0x01]) if body else b"x"
        elif self.server.mode == "stall":
            phase = (time.monotonic() - self.server.started) % STALL_EVERY_S
            if phase < STALL_FOR_S:
                time.sleep(STALL_FOR_S - phase)
        self._send(200, body, "application/octet-stream")


def main() -> None:
    """Serve until killed."""
    p = argparse.ArgumentParser()
    p.add_argument("mode", choices=["wrong", "stall"])
    p.add_argument("--host", default="127.0.0.1")
    p.add_argument("--port", type=int, required=True)
    a = p.parse_args()
    server = ThreadingHTTPServer((a.host, a.port), Handler)
    server.mode = a.mode  # type: ignore[attr-defined]
    server.started = time.monotonic()  # type: ignore[attr-defined]
    server.serve_forever()


if __name__ == "__main__":
    main()
