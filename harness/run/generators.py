"""The load generators of one cell: a Locust process (and its workers), started, watched and stopped.

Without workers, one headless Locust process runs Python's users itself. With workers, a
Locust master and `workers` local Python worker processes (plus `remote_workers` started on
other hosts with `python -m harness worker`) follow contract/LOADGEN.md. A caller of another
language (a manifest's `[caller]`) is a master and that caller's worker process: started for the
cell, or a resident process of the run told the master's port (harness/run/residents.py). Every process
is pinned to the scenario's load-generator cores, logs to results/<run>/logs/, and is stopped
with its whole process group.
"""

from __future__ import annotations

import json
import math
import os
import shlex
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from harness import REPO
from harness.contract.manifest import Service, base_values, fill
from harness.errors import HarnessError
from harness.loadgen.protocol import WORKER_CLASS, CellFile
from harness.processes import forkserver
from harness.processes.supervisor import Proc, free_port, spawn, stop_groups, tree_cpu_seconds
from harness.run.residents import Residents

LOCUSTFILE = REPO / "harness" / "loadgen" / "locustfile.py"
START_TIMEOUT_S = 120.0
"""How long a cell's Locust test may take to start (workers joining included)."""
RESULTS_IN_GRACE_S = 0.3
"""How long a cell's own caller process gets to exit on SIGTERM once the results are in."""
EXIT_GRACE_S = 90.0
"""How long after its plan a Locust process may take to write its results and exit."""


def locust_args(*args: str) -> list[str]:
    """The arguments of a Locust process with the harness's locustfile."""
    return ["-f", str(LOCUSTFILE), "--loglevel", "WARNING", "--skip-log-setup", *args]


def locust_argv(*args: str) -> list[str]:
    """The command line of a Locust process with the harness's locustfile."""
    return [sys.executable, "-m", "locust", *locust_args(*args)]


def spawn_locust(name: str, args: list[str], log_path: Path, cores: str | None) -> Proc:
    """Start `python -m locust ARGS` (the harness's locustfile in ARGS): forked from the fork server
    (harness/processes/zygote.py, Locust imported once per run), or fresh with BENCH_FORKSERVER=0."""
    if not forkserver.enabled():
        return spawn(name, [sys.executable, "-m", "locust", *args], log_path, cwd=REPO, cores=cores)
    log_path.parent.mkdir(parents=True, exist_ok=True)
    shown = shlex.join([sys.executable, "-m", "locust", *args])
    with open(log_path, "ab") as log:
        log.write(f"# {time.strftime('%Y-%m-%d %H:%M:%S')} forked: {shown}\n".encode())
    child = forkserver.server().spawn(args, log_path, REPO, dict(os.environ), cores)
    return Proc(name=name, popen=child, log_path=log_path, command=shown)


@dataclass
class Generators:
    """A cell's Locust processes, the one that writes the results first."""

    procs: list[Proc]
    cell: CellFile
    run_time_s: int
    workers: list[Proc] | None = None
    resident: bool = False
    """The worker is a resident caller: it outlives the cell (not stopped here), and any exit is a death."""
    caller: Proc | None = None
    """The cell's own process of a caller of another language (in `procs`); the others are Locust's."""

    @property
    def main(self) -> Proc:
        """The process that writes the phases and the results (the master, or the only process)."""
        return self.procs[0]

    def alive(self) -> bool:
        """Whether the main process still runs."""
        return self.main.alive()

    def cpu_seconds(self) -> float:
        """CPU seconds so far of the processes that make the calls: the workers (a master only
        orchestrates: heartbeats and stats), or the one local Locust process."""
        return sum(tree_cpu_seconds(p.pid) for p in (self.workers or [self.main]))

    def wait_phases(self) -> list[float]:
        """The phase boundaries (this host's monotonic clock), once the test has started."""
        path = Path(self.cell.phases)
        deadline = time.monotonic() + START_TIMEOUT_S
        while not path.exists():
            if not self.main.alive():
                raise HarnessError(f"locust exited with code {self.main.popen.returncode} before starting; "
                                   f"log {self.main.log_path}:\n{self.main.log_tail(10)}")
            if time.monotonic() > deadline:
                raise HarnessError(f"locust did not start its test within {START_TIMEOUT_S:.0f} s; "
                                   f"log {self.main.log_path}:\n{self.main.log_tail(10)}")
            time.sleep(0.02)
        phases = json.loads(path.read_text(encoding="utf-8"))["phases"]
        times = [p["start"] for p in phases]
        if phases and phases[-1]["end"] is not None:
            times.append(phases[-1]["end"])
        return times

    def wait_results(self) -> dict[str, Any]:
        """The merged `bench_results` (LOADGEN.md): as soon as the main process has written them, or it exited.

        The results file is written atomically, so a file that exists is whole; the processes are
        stopped afterwards (`stop`) rather than waited for, because Locust's own stop and quit
        sleep in whole seconds.
        """
        path = Path(self.cell.results)
        deadline = time.monotonic() + self.run_time_s + EXIT_GRACE_S
        while not path.exists() and self.main.popen.poll() is None:
            if time.monotonic() > deadline:
                raise HarnessError(f"locust did not finish {EXIT_GRACE_S:.0f} s after its plan; "
                                   f"log {self.main.log_path}:\n{self.main.log_tail(10)}")
            time.sleep(0.02)
        code = self.main.popen.poll()
        if not path.exists():
            raise HarnessError(f"wrote no results (exit {code}); log {self.main.log_path}:\n{self.main.log_tail(10)}")
        data: dict[str, Any] = json.loads(path.read_text(encoding="utf-8"))
        return data

    def died(self) -> str:
        """Why a worker process failed during the cell (it exited with an error or was killed), or ''."""
        for w in self.workers or []:
            code = w.popen.poll()
            if code is not None and (code != 0 or self.resident):
                return (f"the load generator {w.name} exited with code {code} during the cell; "
                        f"log {w.log_path}:\n{w.log_tail(10)}")
        return ""

    def stop(self, grace_s: float = 5.0) -> None:
        """Stop every process (and its children), side by side; SIGKILL after `grace_s`."""
        stop_groups([p.popen for p in self.procs], grace_s=grace_s)

    def finish(self) -> None:
        """Stop the processes once the results are in: Locust's at once, a caller's after RESULTS_IN_GRACE_S.

        Nothing is left for them to do. A Locust process's own quit sleeps (0.5 s for a master)
        and would be paid by every cell, so it is killed; a caller of another language (a fresh one
        per cell) has had the master's `quit` and gets a short grace to exit by itself, not the time
        a JVM or a BEAM takes to shut down when it is slow to.
        """
        stop_groups([p.popen for p in self.procs if p is not self.caller], grace_s=0.0)
        if self.caller is not None:
            stop_groups([self.caller.popen], grace_s=RESULTS_IN_GRACE_S)


def start_generators(cell: CellFile, path: Path, users: int, placement: dict[str, str], logs: Path,
                     workers: int = 0, remote_workers: int = 0, master_bind: str = "127.0.0.1",
                     master_port: int = 0, caller: Service | None = None,
                     residents: Residents | None = None) -> Generators:
    """Write the cell file and start the cell's Locust process(es); `caller`: a manifest's caller drives it
    (its resident process from `residents` when its manifest has a `resident_command`)."""
    cid = cell.config.cell
    cores = placement.get("loadgen")
    run_time = math.ceil(cell.config.plan.total_s + 0.5)  # Locust takes whole seconds
    spawn_rate = str(max(users, 1) * 10)
    if caller is not None and caller.caller is not None:
        cell.workers = 1
        cell.write(path)
        port = free_port()
        master = locust_args("--master", "--headless", "--expect-workers", "1", "--expect-workers-max-wait", "60",
                             "--master-bind-host", "127.0.0.1", "--master-bind-port", str(port), "-u", str(users),
                             "-r", spawn_rate, "-t", f"{run_time + 30}s", "--only-summary", "--stop-timeout", "5",
                             "--bench-cell", str(path), WORKER_CLASS)
        # The caller first: its ZeroMQ socket connects as soon as the master binds, so the master finds
        # it ready on its first look (Locust's master looks for workers once a second); a caller waits
        # BENCH_MASTER_TIMEOUT_S (10 s, LOADGEN.md) for a master, far longer than one takes to start.
        transport_env = caller.caller.env_for(cell.config.target.transport)
        if residents is not None and caller.caller.resident_command:
            worker = residents.session(caller, transport_env, cores, port, cell.config.target.transport)
            main = spawn_locust(f"locust-master:{cid}", master, logs / f"locust-{cid}.master.log", cores)
            return Generators([main], cell, run_time + 30, workers=[worker], resident=True)
        command = fill(caller.caller.command, {**base_values(), "master_host": "127.0.0.1", "master_port": str(port)})
        worker = spawn(f"{caller.name}-caller:{cid}", command, logs / f"caller-{cid}.log", cwd=caller.folder,
                       env={**caller.env, **transport_env}, cores=cores)
        main = spawn_locust(f"locust-master:{cid}", master, logs / f"locust-{cid}.master.log", cores)
        return Generators([main, worker], cell, run_time + 30, workers=[worker], caller=worker)
    cell.write(path)
    if not workers and not remote_workers:
        args = locust_args("--headless", "-u", str(users), "-r", spawn_rate, "-t", f"{run_time + 30}s",
                           "--only-summary", "--stop-timeout", "5", "--web-host", "127.0.0.1", "--bench-cell",
                           str(path), WORKER_CLASS)
        return Generators([spawn_locust(f"locust:{cid}", args, logs / f"locust-{cid}.log", cores)], cell,
                          run_time + 30)
    expected = workers + remote_workers
    port = master_port or free_port()
    master = locust_args("--master", "--headless", "--expect-workers", str(expected), "--expect-workers-max-wait",
                         "60", "--master-bind-host", master_bind, "--master-bind-port", str(port), "-u", str(users),
                         "-r", spawn_rate, "-t", f"{run_time + 30}s", "--only-summary", "--stop-timeout", "5",
                         "--bench-cell", str(path), WORKER_CLASS)
    procs = [spawn_locust(f"locust-master:{cid}", master, logs / f"locust-{cid}.master.log", cores)]
    for k in range(workers):
        args = locust_args("--worker", "--master-host", "127.0.0.1", "--master-port", str(port))
        procs.append(spawn_locust(f"locust-worker{k}:{cid}", args, logs / f"locust-{cid}.worker{k}.log", cores))
    return Generators(procs, cell, run_time + 30, workers=procs[1:])
