"""The harness's side of the Locust fork server (`harness.processes.zygote`).

`ForkServer.spawn` starts a Locust process as `spawn(... python -m locust ARGS ...)` would, but
forked from a process that has Locust imported already, which saves each cell about a second of
the load generator's CPU before its test starts. What it returns, a `ForkedChild`, is used where
a `subprocess.Popen` is: `pid` (the leader of its own process group), `poll`, `wait`,
`returncode`. The server's first use starts it; `BENCH_FORKSERVER=0` turns it off (every Locust
process is then started fresh).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import threading
import time
from pathlib import Path
from typing import IO, Any

from harness import REPO
from harness.errors import HarnessError

START_TIMEOUT_S = 60.0


def parse_cores(cores: str) -> set[int]:
    """`taskset -c` syntax ("0", "0-1,3") as a set of CPU numbers."""
    cpus: set[int] = set()
    for part in cores.split(","):
        part = part.strip()
        if "-" in part:
            lo, hi = part.split("-", 1)
            cpus.update(range(int(lo), int(hi) + 1))
        elif part:
            cpus.add(int(part))
    if not cpus:
        raise ValueError(f"no CPU in {cores!r}")
    return cpus


class ForkedChild:
    """A process the fork server forked, with `subprocess.Popen`'s ways of waiting for it."""

    def __init__(self, server: ForkServer, pid: int) -> None:
        self.server = server
        self.pid = pid
        self.returncode: int | None = None

    def poll(self) -> int | None:
        """The exit code once the process has exited (negative: the signal that killed it), else None."""
        if self.returncode is None:
            self.returncode = self.server.exit_code(self.pid)
        return self.returncode

    def wait(self, timeout: float | None = None) -> int:
        """Wait for the exit; `subprocess.TimeoutExpired` after `timeout` seconds."""
        deadline = None if timeout is None else time.monotonic() + timeout
        while self.poll() is None:
            if deadline is not None and time.monotonic() >= deadline:
                raise subprocess.TimeoutExpired(f"pid {self.pid}", timeout or 0.0)
            with self.server.changed:
                self.server.changed.wait(0.05 if deadline is None else max(0.0, min(0.05, deadline - time.monotonic())))
        assert self.returncode is not None
        return self.returncode


class ForkServer:
    """One `python -m harness.processes.zygote` process, started on first use, forking Locust processes."""

    def __init__(self) -> None:
        self.proc: subprocess.Popen[bytes] | None = None
        self.lock = threading.Lock()  # one request at a time
        self.changed = threading.Condition()
        self.exits: dict[int, int] = {}
        self.replies: list[dict[str, Any]] = []
        self.log: IO[bytes] | None = None
        self.reader: threading.Thread | None = None

    def _start(self, log_path: Path) -> subprocess.Popen[bytes]:
        if self.proc is not None and self.proc.poll() is None:
            return self.proc
        log_path.parent.mkdir(parents=True, exist_ok=True)
        self.log = open(log_path, "ab")  # noqa: SIM115 (kept open for the server's life)
        self.proc = subprocess.Popen([sys.executable, "-m", "harness.processes.zygote"], cwd=REPO,
                                     stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=self.log,
                                     start_new_session=True)
        self.reader = threading.Thread(target=self._read, args=(self.proc,), name="forkserver-reader", daemon=True)
        self.reader.start()
        self._reply(START_TIMEOUT_S, log_path, expect="ready")
        return self.proc

    def _read(self, proc: subprocess.Popen[bytes]) -> None:
        assert proc.stdout is not None
        for line in proc.stdout:
            try:
                msg = json.loads(line)
            except ValueError:
                continue
            with self.changed:
                if "exit" in msg:
                    self.exits[int(msg["exit"])] = int(msg["code"])
                else:
                    self.replies.append(msg)
                self.changed.notify_all()
        with self.changed:
            self.changed.notify_all()

    def _reply(self, timeout_s: float, log_path: Path, expect: str) -> dict[str, Any]:
        deadline = time.monotonic() + timeout_s
        with self.changed:
            while not self.replies:
                if self.proc is None or self.proc.poll() is not None or time.monotonic() > deadline:
                    raise HarnessError(f"the Locust fork server did not answer (log {log_path}); "
                                       "BENCH_FORKSERVER=0 starts every Locust process fresh instead")
                self.changed.wait(0.05)
            msg = self.replies.pop(0)
        if expect not in msg:
            raise HarnessError(f"the Locust fork server could not start a process: {msg.get('error', msg)}")
        return msg

    def exit_code(self, pid: int) -> int | None:
        """The exit code of a forked child that has exited, else None."""
        with self.changed:
            if pid in self.exits:
                return self.exits[pid]
        if self.proc is not None and self.proc.poll() is not None:
            # the server is gone: its children were reparented; one that is gone has exited
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                return -9
        return None

    def spawn(self, args: list[str], log_path: Path, cwd: Path, env: dict[str, str],
              cores: str | None) -> ForkedChild:
        """Fork `python -m locust ARGS` (the environment `env`, pinned to `cores`, output to `log_path`)."""
        with self.lock:
            proc = self._start(log_path.parent / "forkserver.log")
            assert proc.stdin is not None
            req = {"args": args, "cwd": str(cwd), "env": env, "log": str(log_path), "cores": cores}
            try:
                proc.stdin.write((json.dumps(req) + "\n").encode())
                proc.stdin.flush()
            except OSError as e:
                raise HarnessError(f"the Locust fork server is gone ({e}); BENCH_FORKSERVER=0 starts every "
                                   "Locust process fresh instead") from e
            msg = self._reply(10.0, log_path.parent / "forkserver.log", expect="pid")
        return ForkedChild(self, int(msg["pid"]))

    def close(self) -> None:
        """End the server (its children, each in its own session, are stopped by their owners)."""
        if self.proc is not None:
            if self.proc.stdin is not None:
                try:
                    self.proc.stdin.close()
                except OSError:
                    pass
            try:
                self.proc.wait(timeout=5)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
            if self.reader is not None:
                self.reader.join(timeout=5)  # it ends at the server's end of output
                self.reader = None
            if self.proc.stdout is not None:
                self.proc.stdout.close()
            self.proc = None
        if self.log is not None:
            self.log.close()
            self.log = None


_SERVER: ForkServer | None = None


def enabled() -> bool:
    """Whether Locust processes are forked from the server (`BENCH_FORKSERVER`, default on)."""
    return os.environ.get("BENCH_FORKSERVER", "1") not in ("0", "false", "no", "off")


def server() -> ForkServer:
    """The process's one fork server (closed at exit)."""
    global _SERVER
    if _SERVER is None:
        import atexit

        _SERVER = ForkServer()
        atexit.register(_SERVER.close)
    return _SERVER
