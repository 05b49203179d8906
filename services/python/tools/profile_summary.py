"""Break a `py-spy record --native -f raw` profile down by where the CPU went.

    python tools/profile_summary.py PROFILE.txt [PROFILE.txt ...] [--top 12]

Each sample is charged to one part, found by walking its stack from the leaf towards the root:
a libc frame is a system call (or libc's own work) made by whatever called it; a frame of a
known native library (libuv/uvloop, llhttp/httptools, libzmq, grpc core, hiredis, granian's
Rust) is that library; a frame of the interpreter itself (ceval, object code, allocator) is
skipped, so interpreter time is charged to the Python package whose code it was running
(`bench_service` is our handler; `uvicorn`, `asyncio`, `zmq`, `redis`, `grpc`, `celery`,
`kombu` are the framework's Python). Prints one Markdown table per profile: part, samples, %,
then the hottest leaf frames. py-spy samples wall-clock time, so a thread blocked in
`epoll_wait`, `poll` or a condition wait is sampled too: those samples are counted apart
("idle") and the percentages are of the other samples, the ones that stand for CPU. Waits
py-spy cannot name (a bare libc address, often a futex) stay in "system calls and libc".
"""

from __future__ import annotations

import argparse
import re
import sys
from collections import Counter
from pathlib import Path

FRAME = re.compile(r"^(?P<func>.*) \((?P<where>[^()]*)\)$")
# native frames by the file or library py-spy names for them
NATIVE_PARTS = [
    (re.compile(r"^libc\.so|^libpthread|^ld-linux"), "system calls and libc"),
    (re.compile(r"^(loop|core|linux|stream|tcp|uv-common|handles|poll|timer|async|process|signal|"
                r"idle|check|prepare|threadpool|pipe|udp|fs|dns|server|cbhandles|sslproto|"
                r"thread|uv)\.c|uvloop|libuv"), "uvloop / libuv (C)"),
    (re.compile(r"^(parser|api|http|llhttp|url_parser)\.c|httptools"), "httptools / llhttp (C)"),
    (re.compile(r"_granian|granian|tokio|hyper|pyo3"), "granian (Rust)"),
    (re.compile(r"libzmq|zmq|^(socket|_zmq|_device|context|message|frame|utils|poll)\.c$"),
     "libzmq / pyzmq (C)"),
    (re.compile(r"cygrpc|libgrpc|grpc|\.cc$"), "grpc core (C/C++, Cython)"),
    (re.compile(r"hiredis"), "hiredis (C)"),
    (re.compile(r"_json|_pickle|msgpack"), "json / pickle (C)"),
]
IDLE = "idle (blocked in a wait)"
# a thread blocked in one of these is waiting, not running (py-spy --native samples it anyway)
WAITS = re.compile(r"^(epoll_wait|epoll_pwait|poll|ppoll|select|pselect|pthread_cond_wait|"
                   r"pthread_cond_timedwait|sem_wait|sem_timedwait|nanosleep|clock_nanosleep) \(")
PYTHON_FILE = re.compile(r"^(?P<path>.+\.py|<frozen [^>]+>):\d+$")


def part_of(frame: str) -> str | None:
    """The part a single frame belongs to, or None for an interpreter frame (charged upward)."""
    match = FRAME.match(frame)
    if match is None:
        return None
    where = match.group("where")
    py = PYTHON_FILE.match(where)
    if py is not None:
        path = py.group("path")
        if path.startswith("<frozen"):
            return "python stdlib"
        parts = Path(path).parts
        if "site-packages" in parts:
            parts = parts[parts.index("site-packages") + 1:]
        top = parts[0] if len(parts) > 1 else Path(parts[0]).stem
        return "bench_service (our handler)" if top == "bench_service" else top
    for pattern, part in NATIVE_PARTS:
        if pattern.search(where):
            return part
    return None


def summarise(path: Path) -> tuple[Counter[str], Counter[str], int]:
    """Samples per part and per leaf frame, and the total, of one collapsed-stack profile."""
    parts: Counter[str] = Counter()
    leaves: Counter[str] = Counter()
    total = 0
    for line in path.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        frames = stack.split(";")
        total += count
        if WAITS.match(frames[-1]):
            parts[IDLE] += count
            continue
        leaves[frames[-1]] += count
        for frame in reversed(frames):
            part = part_of(frame)
            if part is not None:
                parts[part] += count
                break
        else:
            parts["interpreter (no Python frame)"] += count
    return parts, leaves, total


def main() -> int:
    """Print the breakdown of every profile given."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("profiles", nargs="+", type=Path)
    p.add_argument("--top", type=int, default=12, help="hottest leaf frames to list")
    args = p.parse_args()
    for path in args.profiles:
        try:
            parts, leaves, total = summarise(path)
        except OSError as e:
            print(f"cannot read {path}: {e}; give the file written by py-spy record -f raw", file=sys.stderr)
            return 1
        if total == 0:
            print(f"{path}: no samples (was the process under load while py-spy ran?)", file=sys.stderr)
            continue
        idle = parts.pop(IDLE, 0)
        busy = total - idle
        print(f"\n{path.name}: {total} samples, {idle} idle (blocked in a wait), {busy} busy\n\n"
              "| part | samples | % of busy |\n|---|---:|---:|")
        for part, count in parts.most_common():
            print(f"| {part} | {count} | {100 * count / max(1, busy):.1f} |")
        print("\n| hottest busy leaf frames | % of busy |\n|---|---:|")
        for frame, count in leaves.most_common(args.top):
            print(f"| `{frame}` | {100 * count / max(1, busy):.1f} |")
    return 0


if __name__ == "__main__":
    sys.exit(main())
