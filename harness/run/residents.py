"""Resident callers: one caller process serving a run's cells one after another (contract/LOADGEN.md).

A manifest's `[caller] resident_command` starts a Locust worker that reads each cell's master
port from its standard input, one line per cell, instead of a fresh process per cell: a JIT
runtime keeps what it compiled, and no cell pays the runtime's start. The process lives for
the run (its stdin closes when the harness ends, even when the harness is killed, and the
caller then exits) and is started again when it died, or when a cell wants another
environment (`[caller.transport_env]`: JIT flags for one transport's cells).
"""

from __future__ import annotations

import subprocess
from dataclasses import dataclass, field
from pathlib import Path
from typing import IO

from harness.contract.manifest import Service, base_values, fill
from harness.processes.supervisor import Proc, spawn, stop_groups


@dataclass
class _Resident:
    proc: Proc
    env: dict[str, str]
    stdin: IO[bytes]
    transports: set[str] = field(default_factory=set)


@dataclass
class Residents:
    """The run's resident caller processes, at most one per caller; `close` stops them all."""

    logs: Path
    _running: dict[str, _Resident] = field(default_factory=dict)
    _started: dict[str, int] = field(default_factory=dict)

    def served(self, caller: Service, env: dict[str, str], transport: str) -> bool:
        """Whether the process that the caller's next session with `env` would use is running and has
        already served a cell over `transport` (its JIT has compiled that transport's client)."""
        r = self._running.get(caller.name)
        return r is not None and r.proc.alive() and r.env == env and transport in r.transports

    def session(self, caller: Service, env: dict[str, str], cores: str | None, master_port: int,
                transport: str) -> Proc:
        """The caller's resident process, told to join the master at `master_port` for a cell over
        `transport` (started first if it is not running, or runs with another environment than `env`)."""
        assert caller.caller is not None and caller.caller.resident_command
        r = self._running.get(caller.name)
        if r is not None and (not r.proc.alive() or r.env != env):
            self._stop(caller.name)
            r = None
        if r is None:
            n = self._started[caller.name] = self._started.get(caller.name, 0) + 1
            command = fill(caller.caller.resident_command, {**base_values(), "master_host": "127.0.0.1"})
            proc = spawn(f"{caller.name}-caller:resident{n}", command,
                         self.logs / f"caller-{caller.name}-resident{n}.log", cwd=caller.folder,
                         env={**caller.env, **env}, cores=cores, stdin_pipe=True)
            assert isinstance(proc.popen, subprocess.Popen) and proc.popen.stdin is not None
            r = self._running[caller.name] = _Resident(proc, dict(env), proc.popen.stdin)
        r.transports.add(transport)
        try:
            r.stdin.write(f"{master_port}\n".encode())
            r.stdin.flush()
        except (BrokenPipeError, OSError):
            pass  # it exited meanwhile: the cell sees it die (Generators.died)
        return r.proc

    def _stop(self, name: str) -> None:
        r = self._running.pop(name)
        try:
            r.stdin.close()  # end of input: the caller exits by itself
        except OSError:
            pass
        try:
            r.proc.popen.wait(timeout=2.0)
        except subprocess.TimeoutExpired:
            pass
        stop_groups([r.proc.popen], grace_s=2.0)

    def close(self) -> None:
        """Stop every resident process (end of input first, then SIGTERM/SIGKILL of what is left)."""
        for name in list(self._running):
            self._stop(name)
