"""A Locust fork server: imports Locust once, then forks one Locust process per request.

Importing Locust (gevent, Flask, requests, grpc) takes about a second of CPU, and every cell
starts a Locust process of its own (docs/architecture.md): that second was paid once per cell,
on the load generator's core, before the test could start. This process pays it once per run.

It is started by `harness.processes.forkserver.ForkServer` as `python -m harness.processes.zygote`
and speaks JSON lines: it reads a request per line on stdin,
`{"args": [...], "cwd": ..., "env": {...}, "log": ..., "cores": "0" | null}`, forks, and answers
`{"pid": N}` (or `{"error": "..."}`) on stdout; when a child exits it writes
`{"exit": N, "code": C}` (C negative: killed by signal -C). The child is what
`python -m locust ARGS` would be: its own session, pinned to `cores`, the environment given,
stdin from /dev/null and stdout and stderr appended to `log`. End of input ends the server
(its children run on; the harness stops each by its process group).

Only Locust and the clients' libraries are imported here, never the harness's locustfile: its
event listeners and its cell are the child's own.
"""

from __future__ import annotations

# isort: skip_file
# Locust first: it monkey-patches the standard library (gevent) as it is imported, before
# anything else imports ssl or socket.
import locust.main

import json
import os
import signal
import sys
import traceback
from typing import Any

import gevent
import grpc  # noqa: F401  (imported only: the child's locustfile initialises it for gevent)
from gevent import monkey

from harness.processes.forkserver import parse_cores

_select = monkey.get_original("select", "select")
_waitpid = monkey.get_original("os", "waitpid")
_fork = monkey.get_original("os", "fork")
_signal = monkey.get_original("signal", "signal")


def _send(msg: dict[str, Any]) -> None:
    data = (json.dumps(msg) + "\n").encode()
    while data:
        data = data[os.write(1, data):]


def _child(req: dict[str, Any], wakeup: tuple[int, int]) -> None:
    """In the forked child: become `python -m locust ARGS` and never return."""
    code = 1
    try:
        signal.set_wakeup_fd(-1)
        for fd in wakeup:
            os.close(fd)
        _signal(signal.SIGCHLD, signal.SIG_DFL)
        _signal(signal.SIGINT, signal.default_int_handler)
        _signal(signal.SIGTERM, signal.SIG_DFL)
        os.setsid()
        if req.get("cores"):
            os.sched_setaffinity(0, parse_cores(req["cores"]))
        log = os.open(req["log"], os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
        null = os.open(os.devnull, os.O_RDONLY)
        os.dup2(null, 0)
        os.dup2(log, 1)
        os.dup2(log, 2)
        os.close(null)
        os.close(log)
        os.chdir(req["cwd"])
        os.environ.clear()
        os.environ.update(req["env"])
        gevent.reinit()
        # The event loop caches its clock, last read when the server went idle (minutes ago, maybe):
        # a timer set now against that stale clock would fire at once.
        gevent.get_hub().loop.update_now()
        sys.argv = ["locust", *req["args"]]
        try:
            locust.main.main()
            code = 0
        except SystemExit as e:
            code = e.code if isinstance(e.code, int) else (0 if e.code is None else 1)
    except BaseException:
        traceback.print_exc()
    finally:
        try:
            sys.stdout.flush()
            sys.stderr.flush()
        finally:
            os._exit(code)


def _reap() -> None:
    while True:
        try:
            pid, status = _waitpid(-1, os.WNOHANG)
        except ChildProcessError:
            return
        if pid == 0:
            return
        code = os.waitstatus_to_exitcode(status)
        _send({"exit": pid, "code": code})


def serve() -> None:
    """Answer requests until stdin closes."""
    wakeup = os.pipe()
    for fd in wakeup:
        os.set_blocking(fd, False)
    signal.set_wakeup_fd(wakeup[1])
    _signal(signal.SIGCHLD, lambda *_: None)  # a handler, so that SIGCHLD writes to the wakeup pipe
    _signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C is the harness's to handle; it closes our stdin
    pending = b""
    _send({"ready": os.getpid()})
    while True:
        try:
            readable, _, _ = _select([0, wakeup[0]], [], [])
        except InterruptedError:
            continue
        if wakeup[0] in readable:
            try:
                while os.read(wakeup[0], 512):
                    pass
            except BlockingIOError:
                pass
            _reap()
        if 0 not in readable:
            continue
        chunk = os.read(0, 65536)
        if not chunk:
            return
        pending += chunk
        while b"\n" in pending:
            line, pending = pending.split(b"\n", 1)
            try:
                req = json.loads(line)
                sys.stdout.flush()
                sys.stderr.flush()
                pid = _fork()
            except Exception as e:  # a bad request or a failed fork: say so, keep serving
                _send({"error": f"{type(e).__name__}: {e}"})
                continue
            if pid == 0:
                _child(req, wakeup)
            _send({"pid": pid})
        _reap()


if __name__ == "__main__":
    serve()
