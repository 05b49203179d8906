"""How long the JIT takes to settle: p50 latency per second of a 64 B HTTP echo from a cold JVM.

Usage (from services/java, after `mvn package`):
    /work/main/.venv/bin/python tools/jit_settle.py [--seconds 60] [--out settle.csv]

Starts the jar with the manifest's JVM flags (service.toml, transport http) pinned to core 1,
and as soon as /health answers sends 64 B `POST /echo` requests back to back on one keep-alive
connection from this process (pinned to core 0; CPython has no JIT, so the client's own cost is
flat from the first request). Prints per second: requests and p50/p99 latency in microseconds,
then the settle second: the first second after which every per-second p50 stays within 10% of
the final p50 (the median of the last 10 seconds' p50s), and the same for a 5-second rolling
median of the p50s (robust to a second disturbed by other processes). The JVM also runs with
-XX:+PrintCompilation, and the tool counts JIT compilations per second of the run: on a shared
machine the latency can be disturbed by other processes, the compilation count cannot.
warmup_s in service.toml must be at least the settle second.
"""

from __future__ import annotations

import argparse
import os
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent))
from http_cpu import SERVICE, free_port, jvm_flags  # noqa: E402

BODY = b"0123456789abcdef" * 4


def connect(port: int, proc: subprocess.Popen[bytes]) -> socket.socket:
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"server exited early with {proc.returncode}")
        try:
            s = socket.create_connection(("127.0.0.1", port), timeout=5)
            s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
            return s
        except OSError:
            time.sleep(0.01)
    raise SystemExit("server not listening in time")


def roundtrip(s: socket.socket, request: bytes) -> bytes:
    s.sendall(request)
    buf = b""
    while b"\r\n\r\n" not in buf:
        chunk = s.recv(65536)
        if not chunk:
            raise SystemExit("connection closed by the server")
        buf += chunk
    head, _, rest = buf.partition(b"\r\n\r\n")
    length = 0
    for line in head.split(b"\r\n")[1:]:
        name, _, value = line.partition(b":")
        if name.strip().lower() == b"content-length":
            length = int(value)
    while len(rest) < length:
        rest += s.recv(65536)
    if not head.startswith(b"HTTP/1.1 200"):
        raise SystemExit(f"unexpected reply: {head[:80]!r}")
    return rest


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    p.add_argument("--seconds", type=int, default=60)
    p.add_argument("--out", type=Path, default=None, help="also write second,requests,p50_us,p99_us as CSV")
    args = p.parse_args()
    os.sched_setaffinity(0, {0})
    port = free_port()
    jar = str(SERVICE / "target/bench-service.jar")
    cmd = ["taskset", "-c", "1", "java", *jvm_flags(), "-XX:+PrintCompilation", "-jar", jar,
           "http", "--host", "127.0.0.1", "--port", str(port)]
    print("service:", " ".join(cmd))
    log = tempfile.TemporaryFile()
    spawned = time.perf_counter_ns()
    proc = subprocess.Popen(cmd, stdout=log, stderr=subprocess.DEVNULL, start_new_session=True)
    request = (f"POST /echo HTTP/1.1\r\nHost: x\r\nContent-Type: application/octet-stream\r\n"
               f"Content-Length: {len(BODY)}\r\n\r\n").encode() + BODY
    per_second: list[list[int]] = [[] for _ in range(args.seconds)]
    try:
        s = connect(port, proc)
        start = time.perf_counter_ns()
        offset_ms = (start - spawned) / 1e6
        end = start + args.seconds * 1_000_000_000
        clock = time.perf_counter_ns
        while True:
            t0 = clock()
            if t0 >= end:
                break
            if roundtrip(s, request) != BODY:
                raise SystemExit("echo mismatch")
            per_second[(t0 - start) // 1_000_000_000].append((clock() - t0) // 1000)
        s.close()
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(10)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait()
    compiles = [0] * args.seconds
    before_load = 0
    log.seek(0)
    for line in log.read().decode(errors="replace").splitlines():
        first = line.split(None, 1)[0] if line.strip() else ""
        if not first.isdigit():
            continue
        sec = int((int(first) - offset_ms) // 1000)
        if sec < 0:
            before_load += 1
        elif sec < args.seconds:
            compiles[sec] += 1
    rows = []
    print(f"JIT compilations before the first request: {before_load}")
    print(f"{'second':>6} {'requests':>9} {'p50_us':>7} {'p99_us':>7} {'jit_compiles':>12}")
    for sec, lat in enumerate(per_second):
        lat.sort()
        p50 = lat[len(lat) // 2]
        p99 = lat[min(len(lat) - 1, int(len(lat) * 0.99))]
        rows.append((sec, len(lat), p50, p99, compiles[sec]))
        print(f"{sec:6d} {len(lat):9d} {p50:7d} {p99:7d} {compiles[sec]:12d}")
    final = statistics.median(r[2] for r in rows[-10:])
    settle = 0
    for sec, _, p50, _, _ in rows:
        if abs(p50 - final) > 0.10 * final:
            settle = sec + 1
    smooth_settle = 0
    for sec in range(len(rows)):
        window = [r[2] for r in rows[max(0, sec - 2):sec + 3]]
        if abs(statistics.median(window) - final) > 0.10 * final:
            smooth_settle = sec + 1
    quiet = 0
    for sec, *_, n in rows[:-1]:  # the last second overlaps the JVM's shutdown, which compiles too
        if n > 5:
            quiet = sec + 1
    print(f"final p50 {final:.0f} us; p50 stays within 10% of it from second {settle} on")
    print(f"5-second rolling median of p50 stays within 10% of it from second {smooth_settle} on")
    print(f"JIT: at most 5 compilations per second from second {quiet} on")
    if args.out:
        args.out.write_text("second,requests,p50_us,p99_us,jit_compiles\n"
                            + "".join(",".join(map(str, r)) + "\n" for r in rows))
    return 0


if __name__ == "__main__":
    sys.exit(main())
