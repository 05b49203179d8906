"""Starts and stops service processes and the harness's own redis-server.

Each process runs in its own session (so its whole group can be stopped), logs to a file,
is optionally pinned to cores with `taskset`, and is polled for readiness against a deadline
while the supervisor watches for an early exit. Stopping is SIGTERM, a wait, then SIGKILL of
the group.
"""

from __future__ import annotations

import functools
import os
import shlex
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import psutil

from harness.contract.endpoint import Endpoint
from harness.contract.manifest import Service, base_values, fill
from harness.contract.transports import get as get_transport
from harness.errors import HarnessError, ServiceStartError


def free_port(host: str = "127.0.0.1") -> int:
    """A TCP port on `host` that was free a moment ago (the kernel's choice)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def taskset_prefix(cores: str | None) -> list[str]:
    """`taskset -c CORES` when pinning is asked for and possible, else nothing."""
    if not cores or shutil.which("taskset") is None:
        return []
    return ["taskset", "-c", cores]


class Child(Protocol):
    """What the supervisor needs of a started process: `subprocess.Popen`, or a process forked by
    the Locust fork server (`harness.processes.forkserver.ForkedChild`)."""

    @property
    def pid(self) -> int: ...  # noqa: D102

    @property
    def returncode(self) -> int | Any: ...  # noqa: D102

    def poll(self) -> int | None: ...  # noqa: D102

    def wait(self, timeout: float | None = None) -> int: ...  # noqa: D102


@dataclass
class Proc:
    """A process the supervisor started, with its log file."""

    name: str
    popen: Child
    log_path: Path
    command: str

    @property
    def pid(self) -> int:
        """The process id of the group leader."""
        return self.popen.pid

    def alive(self) -> bool:
        """True while the process has not exited."""
        return self.popen.poll() is None

    def log_tail(self, lines: int = 20) -> str:
        """The last lines of the process's log, for error messages."""
        try:
            text = self.log_path.read_text(encoding="utf-8", errors="replace")
        except OSError:
            return ""
        return "\n".join(text.splitlines()[-lines:])

    def cpu_seconds(self) -> float:
        """User + system CPU seconds of the whole process tree (live processes and reaped children)."""
        return tree_cpu_seconds(self.pid)

    def stop(self, grace_s: float = 5.0) -> None:
        """SIGTERM the process group, wait up to `grace_s`, then SIGKILL it."""
        stop_group(self.popen, grace_s)


def process_tree(pid: int) -> list[psutil.Process]:
    """`pid` and all its descendants; empty if it has exited."""
    try:
        root = psutil.Process(pid)
        return [root, *root.children(recursive=True)]
    except psutil.NoSuchProcess:
        return []


def tree_rss_bytes(pid: int) -> int:
    """Resident memory of `pid` and all its descendants, in bytes."""
    total = 0
    for p in process_tree(pid):
        try:
            total += p.memory_info().rss
        except psutil.NoSuchProcess:
            continue
    return total


def tree_cpu_seconds(pid: int) -> float:
    """CPU seconds of `pid` and all its descendants, every thread counted, exited ones too.

    Live threads are read from /proc/<pid>/task/<tid>/schedstat (nanoseconds of CPU time, far
    finer than the 10 ms ticks of /proc/<pid>/stat); threads that have exited (a server with a
    thread per connection) are gone from task/, so their share is the process's ticks in
    /proc/<pid>/stat minus its live threads' ticks. Where schedstat is missing, psutil's ticks.
    """
    total = 0.0
    for p in process_tree(pid):
        ns = _process_cpu_ns(p.pid)
        if ns is not None:
            total += ns / 1e9
            continue
        try:
            t = p.cpu_times()
        except psutil.NoSuchProcess:
            continue
        total += t.user + t.system
    return total


_TICK_NS = 1e9 / os.sysconf("SC_CLK_TCK")


def _stat_ticks(path: str) -> int:
    """utime + stime (clock ticks) of a /proc/.../stat file."""
    with open(path, "rb") as f:
        fields = f.read().rsplit(b")", 1)[1].split()
    return int(fields[11]) + int(fields[12])  # fields 14 and 15 of proc(5), counted after the command


def _process_cpu_ns(pid: int) -> int | None:
    try:
        tids = os.listdir(f"/proc/{pid}/task")
        process_ticks = _stat_ticks(f"/proc/{pid}/stat")
    except (OSError, ValueError, IndexError):
        return None
    live_ns = live_ticks = 0
    for tid in tids:
        try:
            with open(f"/proc/{pid}/task/{tid}/schedstat", "rb") as f:
                ns = int(f.read().split(b" ", 1)[0])
            ticks = _stat_ticks(f"/proc/{pid}/task/{tid}/stat")
        except (OSError, ValueError, IndexError):
            continue  # a thread that exited meanwhile: its time is in the process's ticks
        live_ns += ns
        live_ticks += ticks
    return live_ns + int(max(process_ticks - live_ticks, 0) * _TICK_NS)


def stop_group(popen: Child, grace_s: float = 5.0) -> None:
    """Stop a process started with start_new_session: SIGTERM, wait, SIGKILL of the group."""
    if popen.poll() is not None:
        _kill_group(popen.pid, signal.SIGKILL)  # leftovers of an exited leader
        return
    _kill_group(popen.pid, signal.SIGTERM)
    try:
        popen.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass
    _kill_group(popen.pid, signal.SIGKILL)
    try:
        popen.wait(timeout=grace_s)
    except subprocess.TimeoutExpired:
        pass


def stop_groups(popens: list[Child], grace_s: float = 5.0) -> None:
    """`stop_group` for several processes at once: SIGTERM to every group, one shared grace, SIGKILL.

    A cell's Locust master and its caller each take a while to exit (Locust's quit sleeps 0.5 s,
    a JVM runs its shutdown hooks); stopping them side by side costs the slower one, not the sum.
    """
    for popen in popens:
        _kill_group(popen.pid, signal.SIGTERM)
    deadline = time.monotonic() + grace_s
    for popen in popens:
        try:
            popen.wait(timeout=max(deadline - time.monotonic(), 0.01))
        except subprocess.TimeoutExpired:
            pass
    for popen in popens:
        _kill_group(popen.pid, signal.SIGKILL)  # what is left of each group
        try:
            popen.wait(timeout=grace_s)
        except subprocess.TimeoutExpired:
            pass


def _kill_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


def spawn(name: str, argv: list[str] | str, log_path: Path, cwd: Path | None = None,
          env: dict[str, str] | None = None, cores: str | None = None, stdin_pipe: bool = False) -> Proc:
    """Start a process in its own session, stdout and stderr to `log_path`; its standard input is
    empty, or with `stdin_pipe` a pipe (`popen.stdin`) the caller writes to."""
    log_path.parent.mkdir(parents=True, exist_ok=True)
    if isinstance(argv, str):
        full = [*taskset_prefix(cores), "/bin/sh", "-c", f"exec {argv}"]
        shown = argv
    else:
        full = [*taskset_prefix(cores), *argv]
        shown = shlex.join(argv)
    merged = dict(os.environ)
    merged.update(env or {})
    with open(log_path, "ab") as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} started: {shown}\n".encode())
        log.flush()
        try:
            popen = subprocess.Popen(full, cwd=cwd, env=merged, stdout=log, stderr=subprocess.STDOUT,
                                     stdin=subprocess.PIPE if stdin_pipe else subprocess.DEVNULL,
                                     start_new_session=True)
        except OSError as e:
            raise ServiceStartError(f"{name}: could not start {shown!r}: {e}") from e
    return Proc(name=name, popen=popen, log_path=log_path, command=shown)


def wait_ready(proc: Proc, probe: Callable[[], bool], timeout_s: float) -> float:
    """Poll `probe` until it returns True; fail early if the process exits. Returns seconds waited."""
    start = time.monotonic()
    deadline = start + timeout_s
    delay = 0.02
    last_error = ""
    while True:
        if not proc.alive():
            raise ServiceStartError(
                f"{proc.name} exited with code {proc.popen.returncode} before it was ready.\n"
                f"command: {proc.command}\nlast lines of {proc.log_path}:\n{proc.log_tail()}")
        try:
            if probe():
                return time.monotonic() - start
        except Exception as e:  # any failure of the probe means "not ready yet"
            last_error = f"{type(e).__name__}: {e}"
        if time.monotonic() > deadline:
            proc.stop()
            raise ServiceStartError(
                f"{proc.name} was not ready after {timeout_s:.0f} s (last probe error: {last_error or 'none'}).\n"
                f"command: {proc.command}\nlast lines of {proc.log_path}:\n{proc.log_tail()}\n"
                "Run the command by hand to see why, or raise the readiness timeout.")
        time.sleep(delay)
        delay = min(delay * 1.5, 0.25)


@dataclass
class RedisServer:
    """The harness's private redis-server: a free port on 127.0.0.1, no persistence."""

    proc: Proc
    port: int
    log_dir: Path | None = None
    cores: str | None = None

    @property
    def url(self) -> str:
        """The redis:// URL of database 0."""
        return f"redis://127.0.0.1:{self.port}/0"

    def cpu_seconds(self) -> float:
        """CPU seconds redis-server has used so far."""
        return self.proc.cpu_seconds()

    def stop(self) -> None:
        """Stop the server (its data is never written to disk)."""
        self.proc.stop()

    def restart(self, down_s: float = 0.0) -> float:
        """Stop the server keeping its data (`SHUTDOWN SAVE`), wait `down_s`, start it again on
        the same port, as a broker restart does. Returns the seconds it was unreachable."""
        import redis

        if self.log_dir is None:
            raise HarnessError("this RedisServer was not made by start_redis(): it cannot be restarted")
        t0 = time.monotonic()
        # A raw socket: redis-py would retry the command when the server closes the connection.
        # SHUTDOWN SAVE writes dump.rdb to log_dir, which the new server loads.
        with socket.create_connection(("127.0.0.1", self.port), timeout=10) as s:
            s.sendall(b"SHUTDOWN SAVE\r\n")
            while s.recv(4096):  # EOF when the server has exited (an error reply would come first)
                pass
        self.proc.popen.wait(timeout=30)
        time.sleep(down_s)
        argv = _redis_argv(redis_server_path(), self.port, self.log_dir)
        self.proc = spawn(f"redis-server:{self.port}", argv, self.log_dir / f"redis-{self.port}.log",
                          cores=self.cores)
        client = redis.Redis(host="127.0.0.1", port=self.port, socket_timeout=1, socket_connect_timeout=1)
        try:
            wait_ready(self.proc, functools.partial(_ping, client), timeout_s=10)
        finally:
            client.close()
        return time.monotonic() - t0

    def pause(self, seconds: float) -> None:
        """Freeze the server (SIGSTOP) for `seconds`, then let it go on (SIGCONT): a stalled broker."""
        os.kill(self.proc.pid, signal.SIGSTOP)
        try:
            time.sleep(seconds)
        finally:
            os.kill(self.proc.pid, signal.SIGCONT)


def _ping(client: Any) -> bool:
    return bool(client.ping())


def redis_server_path() -> str:
    """Path of redis-server, or a HarnessError saying how to install it."""
    path = shutil.which("redis-server")
    if path is None:
        raise HarnessError("redis-server is not installed: run `make setup` (as root it runs "
                           "`apt-get install -y redis-server`), or install Debian's redis-server package")
    return path


def _redis_argv(exe: str, port: int, log_dir: Path) -> list[str]:
    return [exe, "--port", str(port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no",
            "--protected-mode", "yes", "--daemonize", "no", "--loglevel", "warning", "--dir", str(log_dir)]


def start_redis(log_dir: Path, cores: str | None = None, attempts: int = 3) -> RedisServer:
    """Start a private redis-server on a free port, retrying if the port was taken meanwhile."""
    import redis

    exe = redis_server_path()
    last: Exception | None = None
    for _ in range(attempts):
        port = free_port()
        argv = _redis_argv(exe, port, log_dir)
        proc = spawn(f"redis-server:{port}", argv, log_dir / f"redis-{port}.log", cores=cores)
        client = redis.Redis(host="127.0.0.1", port=port, socket_timeout=1, socket_connect_timeout=1)
        try:
            wait_ready(proc, functools.partial(_ping, client), timeout_s=10)
            return RedisServer(proc=proc, port=port, log_dir=log_dir, cores=cores)
        except ServiceStartError as e:
            last = e
            proc.stop()
        finally:
            client.close()
    raise HarnessError(f"could not start redis-server after {attempts} attempts: {last}")


@dataclass
class Supervisor:
    """Owns every process of a run: starts them, and stops all of them on `close()`."""

    log_dir: Path
    host: str = "127.0.0.1"
    redis_cores: str | None = None
    procs: list[Proc] = field(default_factory=list)
    redis: RedisServer | None = None
    extra_env: dict[str, str] = field(default_factory=dict)

    def ensure_redis(self) -> RedisServer:
        """The private redis-server, started on first use."""
        if self.redis is None or not self.redis.proc.alive():
            self.redis = start_redis(self.log_dir, cores=self.redis_cores)
            self.procs.append(self.redis.proc)
        return self.redis

    def start(self, svc: Service, transport: str, cores: str | None = None,
              ready_timeout_s: float = 60.0, attempts: int = 3, queue: str | None = None) -> tuple[Proc, Endpoint]:
        """Start one transport of one service and wait until it answers `health`.

        `queue` reuses a queue key (to restart a worker where a killed one left off).
        """
        from harness.contract.transports import make_client

        if transport not in svc.commands:
            raise HarnessError(f"{svc.name} does not serve {transport}: {svc.gap(transport)}")
        missing = svc.missing_programs()
        if missing:
            raise HarnessError(f"{svc.name} needs {', '.join(missing)} on PATH: run `make setup`")
        kind = get_transport(transport)
        redis_url = self.ensure_redis().url if kind.broker else ""
        if queue is None:
            queue = kind.queue(svc.name, f"{os.getpid()}:{time.time_ns()}")
        last: Exception | None = None
        for _ in range(attempts):
            port = free_port(self.host)
            values = {**base_values(), "host": self.host, "port": str(port), "redis_url": redis_url,
                      "queue": queue}
            command = fill(svc.commands[transport], values)
            env = {**svc.env, **self.extra_env}
            proc = spawn(f"{svc.name}/{transport}", command,
                         self.log_dir / f"{svc.name}-{transport}.log", cwd=svc.folder, env=env, cores=cores)
            endpoint = Endpoint(svc.name, transport, self.host, port, redis_url, queue)
            client = make_client(endpoint, timeout_s=2.0)
            try:
                wait_ready(proc, client.ready, ready_timeout_s)
                self.procs.append(proc)
                return proc, endpoint
            except ServiceStartError as e:
                last = e
                proc.stop()
                # A port taken between our check and the service's bind is worth a retry.
                if "in use" not in proc.log_tail().lower():
                    raise
            finally:
                client.close()
        raise ServiceStartError(f"{svc.name}/{transport}: gave up after {attempts} attempts: {last}")

    def stop(self, proc: Proc) -> None:
        """Stop one process and forget it."""
        proc.stop()
        if proc in self.procs:
            self.procs.remove(proc)

    def close(self) -> None:
        """Stop every process this supervisor started, services first, redis-server last."""
        for proc in reversed(self.procs):
            proc.stop()
        self.procs.clear()
        if self.redis is not None:
            self.redis.stop()  # a restarted redis-server is a new process, not in `procs`
        self.redis = None

    def __enter__(self) -> Supervisor:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
