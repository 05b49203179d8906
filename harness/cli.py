"""The command line: `python -m harness <command>`.

services   the discovered manifests, their transports and gaps
setup      run the manifests' setup steps (their dependencies, into the harness's environment)
build      run the manifests' build steps
clean      run the manifests' clean steps
unit       run the manifests' own unit tests
check      conformance of every vector over every transport
bench      run a scenario's matrix into results/<run>/ and write its report
report     (re)write results/<run>/index.html
compare    per-cell changes between two runs
selfbench  the harness's own benchmark: client cost per transport, overhead against wrk
fuzz       malformed input over every service x transport
up         start services and print their endpoints (Ctrl-C stops them)
ui         start services and the Locust web UI on 127.0.0.1:8089
"""

from __future__ import annotations

import argparse
import functools
import json
import os
import signal
import subprocess
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from harness import REPO
from harness.contract.endpoint import Endpoint
from harness.contract.manifest import Service, discover, select, select_with_floors
from harness.contract.transports import TRANSPORTS
from harness.errors import HarnessError
from harness.loadgen.protocol import HARNESS_CALLER
from harness.processes.supervisor import Proc

RESULTS = REPO / "results"


def cmd_services(args: argparse.Namespace) -> int:
    """Print the service x transport table, with the reason for every gap."""
    found = discover()
    if not found:
        print("no services: add services/<name>/service.toml (see contract/CONTRACT.md)")
        return 1
    width = max(len(n) for n in found) + 2
    print("service".ljust(width) + "language".ljust(10) + "".join(t.ljust(8) for t in TRANSPORTS))
    gaps: list[str] = []
    for svc in found.values():
        row = svc.name.ljust(width) + svc.language.ljust(10)
        for t in TRANSPORTS:
            row += ("yes" if t in svc.commands else "-").ljust(8)
            if t not in svc.commands:
                gaps.append(f"  {svc.name}/{t}: {svc.gap(t)}")
        print(row)
        missing = svc.missing_programs()
        if missing:
            gaps.append(f"  {svc.name}: needs {', '.join(missing)} on PATH (run `make setup`)")
    if gaps:
        print("\ngaps:")
        print("\n".join(gaps))
    return 0


def _run_steps(svc: Service, steps: list[str], what: str, log: Path | None = None) -> bool:
    """Run manifest steps in the service's folder; with `log`, their output goes there and one line each here."""
    from harness.contract.manifest import base_values, fill

    values = base_values()
    for step in steps:
        command = fill(step, values)
        t0 = time.monotonic()
        if log is None:
            print(f"[{svc.name}] {what}: {command}", flush=True)
            code = subprocess.call(command, shell=True, cwd=svc.folder)
        else:
            print(f"{what}: {svc.name}: {command} ... ", end="", flush=True)
            with log.open("a", encoding="utf-8") as out:
                out.write(f"=== {time.strftime('%Y-%m-%dT%H:%M:%S')} {svc.name} {what}: {command}\n")
                out.flush()
                code = subprocess.call(command, shell=True, cwd=svc.folder, stdout=out, stderr=subprocess.STDOUT)
        if code != 0:
            tail = "".join(log.read_text(encoding="utf-8").splitlines(keepends=True)[-25:]) if log else ""
            print(("FAILED\n" if log else "") + tail + f"[{svc.name}] {what} FAILED (exit {code}) after "
                  f"{time.monotonic() - t0:.1f} s: {command}\n  run it by hand in {svc.folder} to see why",
                  file=sys.stderr)
            return False
        print("ok" if log else f"[{svc.name}] {what} ok in {time.monotonic() - t0:.1f} s", flush=True)
    return True


def _setup_stamp(svc: Service) -> str:
    """A digest of what a service's setup reads: its manifest and the files its steps name."""
    import hashlib

    h = hashlib.sha256((svc.folder / "service.toml").read_bytes())
    for step in svc.setup:
        for word in step.split():
            path = svc.folder / word
            if path.is_file():
                h.update(path.read_bytes())
    return h.hexdigest()


def cmd_setup(args: argparse.Namespace) -> int:
    """Run each manifest's `setup` steps (quietly, into the log) when what they read has changed."""
    log = Path(args.log) if args.log else REPO / ".build" / "setup.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    stamps = Path(sys.prefix) / ".setup-stamps"
    stamps.mkdir(exist_ok=True)
    for svc in select(args.services):
        if not svc.setup:
            continue
        stamp, digest = stamps / svc.name, _setup_stamp(svc)
        if stamp.exists() and stamp.read_text() == digest:
            continue
        if not _run_steps(svc, svc.setup, "setup", log=log):
            return 1
        stamp.write_text(digest)
    return 0


def cmd_clean(args: argparse.Namespace) -> int:
    """Run each manifest's `clean` steps (build outputs of every service)."""
    failed = [s.name for s in select_with_floors(args.services) if not _run_steps(s, s.clean, "clean")]
    return 1 if failed else 0


def cmd_build(args: argparse.Namespace) -> int:
    """Run every selected manifest's build steps (with --log, their output goes there, one line a step here)."""
    log = Path(args.log) if args.log else None
    if log:
        log.parent.mkdir(parents=True, exist_ok=True)
    failed = [s.name for s in select_with_floors(args.services) if not _run_steps(s, s.build, "build", log=log)]
    if failed:
        print(f"build failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_unit(args: argparse.Namespace) -> int:
    """Run every selected manifest's own unit tests."""
    failed = [s.name for s in select(args.services) if not _run_steps(s, s.test, "test")]
    if failed:
        print(f"unit tests failed for: {', '.join(failed)}", file=sys.stderr)
        return 1
    return 0


def cmd_check(args: argparse.Namespace) -> int:
    """Conformance of every vector over every selected service x transport; exit 1 on any failure."""
    from harness.processes.supervisor import Supervisor
    from harness.verify.conformance import CheckResult, check_endpoint

    services = select(args.services)
    transports = args.transport or list(TRANSPORTS)
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad:
        raise HarnessError(f"unknown transport(s) {bad}; choose from {', '.join(TRANSPORTS)}")
    log_dir = RESULTS / "check-logs"
    results: dict[tuple[str, str], CheckResult | str] = {}
    with Supervisor(log_dir, extra_env={"BENCH_TEST_HOOKS": "1"}) as sup:
        for svc in services:
            for t in transports:
                if t not in svc.commands:
                    results[(svc.name, t)] = f"gap: {svc.gap(t)}"
                    continue
                print(f"{svc.name}/{t}: starting", flush=True)
                try:
                    proc, endpoint = sup.start(svc, t)
                except HarnessError as e:
                    res = CheckResult(svc.name, t, error=str(e))
                    results[(svc.name, t)] = res
                    print(f"{svc.name}/{t}: ERROR {e}", flush=True)
                    continue
                res = check_endpoint(endpoint, progress=functools.partial(_say, f"{svc.name}/{t}"))
                if not proc.alive():
                    res.error = (f"the service exited during the check (code {proc.popen.returncode}); "
                                 f"log: {proc.log_path}")
                sup.stop(proc)
                results[(svc.name, t)] = res
                print(f"{svc.name}/{t}: {res.summary()} ({res.passed} passed, {res.skipped} not applicable, "
                      f"{len(res.failures)} failed, {res.seconds:.1f} s)", flush=True)
    return _print_check_matrix(services, transports, results)


def _say(prefix: str, message: str) -> None:
    print(f"{prefix}: {message}", flush=True)


def _print_check_matrix(services: list[Service], transports: list[str],
                        results: Mapping[tuple[str, str], object]) -> int:
    from harness.verify.conformance import CheckResult

    width = max(13, max(len(s.name) for s in services) + 2)
    print("\n" + "conformance".ljust(width) + "".join(t.ljust(14) for t in transports))
    failed = False
    for svc in services:
        row = svc.name.ljust(width)
        for t in transports:
            r = results.get((svc.name, t))
            if isinstance(r, CheckResult):
                row += r.summary().ljust(14)
                failed |= not r.ok
            else:
                row += "gap".ljust(14)
        print(row)
    for (name, t), r in results.items():
        if isinstance(r, CheckResult) and not r.ok:
            print(f"\n{name}/{t}:")
            if r.error:
                print(f"  {r.error}")
            for f in r.failures[:40]:
                print(f"  - {f}")
            if len(r.failures) > 40:
                print(f"  ... and {len(r.failures) - 40} more")
        elif isinstance(r, str):
            print(f"{name}/{t}: {r}")
    print("\n" + ("conformance FAILED" if failed else "conformance passed"))
    return 1 if failed else 0


def cmd_bench(args: argparse.Namespace) -> int:
    """Run a scenario and write its report."""
    from harness.report.page import write_report
    from harness.run.runner import Runner
    from harness.run.scenario import load_scenario, new_run_dir

    scenario = load_scenario(Path(args.scenario).resolve())
    if args.services:
        scenario.services = args.services
    if args.transport:
        scenario.transports = args.transport
    out = Path(args.out).resolve() if args.out else new_run_dir(RESULTS, scenario)
    if out.exists() and any(out.iterdir()):
        raise HarnessError(f"{out} already holds a run; results are never overwritten: choose another --out")
    external = None
    if args.hosts:
        from harness.processes.hosts import load_hosts

        external = load_hosts(Path(args.hosts))
    runner = Runner(scenario, out, workers=args.workers, remote_workers=args.remote_workers,
                    master_bind=args.master_bind_host, master_port=args.master_port, external=external)
    runner.run()
    index = write_report(out)
    failed = [c for c in runner.cells if c.status == "failed"]
    print(f"\nreport: {index}")
    if failed:
        print(f"{len(failed)} cell(s) failed; their reasons are in the report and in {out / 'cells.json'}")
    return 130 if runner.interrupted else 0


def _resolve_run(name: str) -> Path:
    p = Path(name)
    if p.is_dir():
        return p.resolve()
    if (RESULTS / name).is_dir():
        return RESULTS / name
    if name == "latest":
        runs = sorted(d for d in RESULTS.glob("*") if (d / "cells.json").exists())
        if runs:
            return runs[-1]
    raise HarnessError(f"no run {name!r}: give a folder under results/ (or 'latest'); runs: "
                       + ", ".join(d.name for d in sorted(RESULTS.glob("*")) if (d / "cells.json").exists()))


def cmd_report(args: argparse.Namespace) -> int:
    """(Re)write a run's report."""
    from harness.report.page import write_report

    run = _resolve_run(args.run)
    print(write_report(run))
    if args.compare:
        from harness.results.compare import write_compare_report

        other = _resolve_run(args.compare)
        write_report(other)
        print(write_compare_report(run, other))
    return 0


def cmd_compare(args: argparse.Namespace) -> int:
    """Per-cell changes between two runs."""
    from harness.results.compare import compare_runs

    chart = Path(args.chart).resolve() if args.chart else None
    return compare_runs(_resolve_run(args.run_a), _resolve_run(args.run_b), args.fail_on_regression, chart)


def cmd_selfbench(args: argparse.Namespace) -> int:
    """The harness's own benchmark: client cost per transport and overhead against wrk."""
    from harness.run.selfbench import run_selfbench

    out = Path(args.out).resolve() if args.out else RESULTS / time.strftime("selfbench-%Y%m%d-%H%M%S")
    if (out / "selfbench.json").exists() or (out / "cells").is_dir():
        print(f"selfbench: {out} holds an earlier selfbench, whose cells would be taken as done; "
              "give a new --out, or remove that folder", file=sys.stderr)
        return 2
    run_selfbench(out, users=args.users, duration_s=args.duration_s, service=args.service,
                  caller=args.caller or HARNESS_CALLER, native=not args.no_native, native_only=args.native_only,
                  rounds=args.rounds, warmup_s=args.warmup_s, transport_env=not args.no_transport_env)
    print(f"\nresults: {out / 'selfbench.json'}")
    return 0


def cmd_fuzz(args: argparse.Namespace) -> int:
    """Malformed input over every selected service x transport; exit 1 on any failure."""
    from harness.processes.supervisor import Supervisor
    from harness.verify.fuzz import CellResult, format_cell, fuzz_cell, write_summary

    os.environ.pop("BENCH_TEST_HOOKS", None)  # the hooks must be off: `internal` is then always a bug
    services = select(args.services)
    transports = args.transport or list(TRANSPORTS)
    out = RESULTS / time.strftime("fuzz-%Y%m%d-%H%M%S")
    results: list[CellResult] = []
    with Supervisor(out / "logs") as sup:
        for svc in services:
            for t in transports:
                if t not in svc.commands:
                    print(f"{svc.name}/{t}: gap: {svc.gap(t)}", flush=True)
                    continue
                n = args.celery_inputs if t == "celery" and args.celery_inputs is not None else args.inputs
                print(f"{svc.name}/{t}: {len(args.index) if args.index else n} inputs, seed {args.seed}", flush=True)
                res = fuzz_cell(sup, svc, t, n, args.seed, indices=args.index,
                                progress=functools.partial(_say, f"{svc.name}/{t}"))
                results.append(res)
                print(format_cell(res), flush=True)
    path = write_summary(out, results, {"services": [s.name for s in services], "transports": transports,
                                        "inputs": args.inputs, "celery_inputs": args.celery_inputs,
                                        "seed": args.seed, "index": args.index})
    failed = [r for r in results if not r.ok]
    print(f"\nsummary: {path}")
    print(f"fuzz FAILED in {len(failed)} of {len(results)} cells" if failed else f"fuzz passed: {len(results)} cells")
    return 1 if failed else 0


def cmd_worker(args: argparse.Namespace) -> int:
    """A remote worker: one Locust worker process per cell, restarted until Ctrl-C (or --cells)."""
    from harness.processes.supervisor import spawn, stop_group
    from harness.run.generators import locust_argv

    log_dir = RESULTS / "worker-logs"
    argv = locust_argv("--worker", "--master-host", args.master_host, "--master-port", str(args.master_port))
    done = 0
    print(f"worker for master {args.master_host}:{args.master_port}; Ctrl-C stops it", flush=True)
    try:
        while not args.cells or done < args.cells:
            proc = spawn("locust-worker", argv, log_dir / f"worker-{done}.log", cwd=REPO, cores=args.cores)
            try:
                code = proc.popen.wait()
            finally:
                stop_group(proc.popen)
            done += 1
            print(f"cell {done}: worker exited with code {code}", flush=True)
            time.sleep(0.5)
    except KeyboardInterrupt:
        pass
    return 0


def _start_all(services: list[Service], transports: list[str], log_dir: Path, cores: str | None):
    from harness.processes.supervisor import Supervisor

    sup = Supervisor(log_dir)
    endpoints = []
    for svc in services:
        for t in transports:
            if t not in svc.commands:
                continue
            try:
                _, ep = sup.start(svc, t, cores=cores)
            except HarnessError as e:
                print(f"{svc.name}/{t}: not started: {e}", file=sys.stderr)
                continue
            print(f"{svc.name}/{t}: {ep.describe()}", flush=True)
            endpoints.append(ep)
    return sup, endpoints


def cmd_up(args: argparse.Namespace) -> int:
    """Start services and keep them running until Ctrl-C."""
    sup, endpoints = _start_all(select(args.services), args.transport or list(TRANSPORTS),
                                RESULTS / "up-logs", None)
    try:
        print(json.dumps([e.__dict__ for e in endpoints], indent=1))
        print("running; Ctrl-C stops every process", flush=True)
        while True:
            time.sleep(3600)
    except KeyboardInterrupt:
        pass
    finally:
        sup.close()
    return 0


def cmd_ui(args: argparse.Namespace) -> int:
    """Start services and the Locust web UI: a class per service x transport x payload, or one caller's cell."""
    from harness.processes.supervisor import spawn, stop_group
    from harness.run.generators import locust_argv
    from harness.run.scenario import load_scenario

    scenario = load_scenario(Path(args.scenario).resolve())
    logs = RESULTS / "ui-logs"
    sup, endpoints = _start_all(select(args.services), args.transport or list(TRANSPORTS), logs,
                                scenario.placement.get("services"))
    cores = scenario.placement.get("loadgen")
    procs = []
    try:
        if args.caller and args.caller != HARNESS_CALLER:
            procs = _ui_with_caller(args, scenario.payloads, endpoints, logs, cores)
        else:
            ui_file = logs / "ui.json"
            ui_file.write_text(json.dumps({"targets": [e.__dict__ for e in endpoints], "payloads": scenario.payloads}))
            argv = locust_argv("--web-host", args.host, "--web-port", str(args.port), "--class-picker",
                               "--bench-ui", str(ui_file))
            procs = [spawn("locust-ui", argv, logs / "locust.log", cwd=REPO, cores=cores)]
        gen = procs[0]
        print(f"Locust web UI: http://{args.host}:{args.port}/  (log: {gen.log_path}); Ctrl-C stops everything",
              flush=True)
        while all(p.alive() for p in procs):
            time.sleep(0.5)
        dead = next(p for p in procs if not p.alive())
        print(f"{dead.name} exited with code {dead.popen.returncode}; see {dead.log_path}", file=sys.stderr)
    except KeyboardInterrupt:
        pass
    finally:
        for p in procs:
            stop_group(p.popen)
        sup.close()
    return 0


def _ui_with_caller(args: argparse.Namespace, payloads: list[dict[str, object]], endpoints: list[Endpoint],
                    logs: Path, cores: str | None) -> list[Proc]:
    """A Locust master with its web UI and one caller's worker, driving one target (--target) with one payload."""
    from harness.contract.manifest import base_values, fill
    from harness.loadgen.payloads import make_payload, user_class_name
    from harness.loadgen.protocol import WORKER_CLASS, CellConfig, CellFile, Plan
    from harness.processes.supervisor import free_port, spawn
    from harness.run.generators import locust_argv
    from harness.run.runner import resolve_callers

    caller = resolve_callers([args.caller])[args.caller]
    assert caller is not None and caller.caller is not None
    wanted = args.target or (f"{endpoints[0].service}/{endpoints[0].transport}" if endpoints else "")
    target = next((e for e in endpoints if f"{e.service}/{e.transport}" == wanted), None)
    if target is None or target.transport not in caller.caller.transports:
        raise HarnessError(f"--target {wanted!r}: give service/transport of a started service that the {args.caller} "
                           f"caller calls ({', '.join(caller.caller.transports)}); started: "
                           + ", ".join(f"{e.service}/{e.transport}" for e in endpoints))
    spec = next((p for p in payloads if p["name"] == args.payload), payloads[0]) if args.payload else payloads[0]
    payload = make_payload(dict(spec))
    name = user_class_name(target.service, target.transport, payload.name)
    # A day of one measured closed-loop phase: the person at the browser starts and stops it.
    config = CellConfig(cell=f"{args.caller}.{target.service}.{target.transport}.{payload.name}.ui", name=name,
                        target=target, request=payload.request(), plan=Plan.closed(0.0, 86_400.0))
    cell = CellFile(config, results=str(logs / "ui.results.json"), phases=str(logs / "ui.phases.json"), workers=1)
    cell.write(logs / "ui.cell.json")
    port = free_port()
    master = locust_argv("--master", "--web-host", args.host, "--web-port", str(args.port), "--master-bind-host",
                         "127.0.0.1", "--master-bind-port", str(port), "--bench-cell", str(logs / "ui.cell.json"),
                         WORKER_CLASS)
    procs = [spawn("locust-ui-master", master, logs / "locust.log", cwd=REPO, cores=cores)]
    command = fill(caller.caller.command, {**base_values(), "master_host": "127.0.0.1", "master_port": str(port)})
    procs.append(spawn(f"{args.caller}-caller", command, logs / f"caller-{args.caller}.log", cwd=caller.folder,
                       env=caller.env, cores=cores))
    print(f"caller {args.caller} drives {payload.name} on {wanted}; press Start in the UI", flush=True)
    return procs


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of every subcommand."""
    p = argparse.ArgumentParser(prog="python -m harness", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="command", required=True)
    s = sub.add_parser("services", help="list services, transports and gaps")
    s.set_defaults(fn=cmd_services)
    for name, fn, text in (("build", cmd_build, "run manifests' build steps"),
                           ("unit", cmd_unit, "run manifests' own unit tests"),
                           ("clean", cmd_clean, "run manifests' clean steps")):
        s = sub.add_parser(name, help=text)
        s.add_argument("services", nargs="*", metavar="SERVICE")
        if name == "build":
            s.add_argument("--log", help="send the steps' output to this file (one line a step on the terminal)")
        s.set_defaults(fn=fn)
    s = sub.add_parser("setup", help="run manifests' setup steps (make setup calls it)")
    s.add_argument("services", nargs="*", metavar="SERVICE")
    s.add_argument("--log", help="where the steps' output goes (default .build/setup.log)")
    s.set_defaults(fn=cmd_setup)
    s = sub.add_parser("check", help="conformance of every vector over every transport")
    s.add_argument("services", nargs="*", metavar="SERVICE")
    s.add_argument("--transport", "-t", action="append", choices=TRANSPORTS)
    s.set_defaults(fn=cmd_check)
    s = sub.add_parser("bench", help="run a scenario and write its report")
    s.add_argument("--scenario", default=str(REPO / "scenarios" / "quick.toml"))
    s.add_argument("--out", help="results folder (default results/<time>-<scenario>)")
    s.add_argument("services", nargs="*", metavar="SERVICE", help="only these services")
    s.add_argument("--transport", "-t", action="append", choices=TRANSPORTS)
    s.add_argument("--workers", type=int, default=0,
                   help="run Locust as a master and N local worker processes (histograms merged exactly)")
    s.add_argument("--remote-workers", type=int, default=0, metavar="M",
                   help="also wait for M workers started on other hosts with `python -m harness worker`")
    s.add_argument("--master-bind-host", default="127.0.0.1",
                   help="where the master listens for workers (default 127.0.0.1; for remote workers an address "
                   "of this host)")
    s.add_argument("--master-port", type=int, default=0,
                   help="the master's port (default: a free one; give one for remote workers)")
    s.add_argument("--hosts", metavar="FILE", help="services already running elsewhere (docs/distributed.md): "
                   "checked for health, not started")
    s.set_defaults(fn=cmd_bench)
    s = sub.add_parser("worker", help="a load-generator worker for a master on another host (restarts per cell)")
    s.add_argument("--master-host", required=True)
    s.add_argument("--master-port", type=int, required=True)
    s.add_argument("--cores", help="taskset -c cores for the worker (default: any)")
    s.add_argument("--cells", type=int, default=0, help="stop after this many cells (default: until Ctrl-C)")
    s.set_defaults(fn=cmd_worker)
    s = sub.add_parser("report", help="write results/<run>/index.html")
    s.add_argument("run", nargs="?", default="latest")
    s.add_argument("--compare", metavar="RUN_B",
                   help="also write <RUN_B>/compare-<RUN>.html: both runs side by side, RUN_B's changes marked")
    s.set_defaults(fn=cmd_report)
    s = sub.add_parser("compare", help="per-cell changes between two runs")
    s.add_argument("run_a")
    s.add_argument("run_b")
    s.add_argument("--fail-on-regression", type=float, metavar="PCT", default=None,
                   help="exit 1 when a metric of a cell worsens beyond the noise by more than PCT percent")
    s.add_argument("--chart", help="where to write the chart (default: <run B>/compare-<run A>.png)")
    s.set_defaults(fn=cmd_compare)
    s = sub.add_parser("selfbench", help="the harness's own benchmark (docs/performance.md)")
    s.add_argument("--users", type=int, default=32, help="users saturating the load generator (default 32)")
    s.add_argument("--duration-s", type=float, default=5.0, help="measured seconds per cell (default 5)")
    s.add_argument("--service", default="", help="the service whose http transport wrk and the harness share "
                   "(default: the manifest with reference = true)")
    s.add_argument("--caller", default="", help="measure this caller (a manifest's [caller]) instead of the "
                   "harness's own users; the comparison with wrk is the harness's only")
    s.add_argument("--out", help="results folder (default results/selfbench-<time>)")
    s.add_argument("--native-only", action="store_true",
                   help="only the native load: nginx and every http service under wrk, CPU per request vs nginx's")
    s.add_argument("--no-native", action="store_true", help="skip the native load (nginx and the http services)")
    s.add_argument("--rounds", type=int, default=3, help="native load: rounds per server, in turns (default 3)")
    s.add_argument("--warmup-s", type=float, default=None,
                   help="unmeasured seconds before each client-rate cell (default: the caller's own warmup_s, at "
                   "least 1; a JIT caller's steady state wants more, e.g. 15)")
    s.add_argument("--no-transport-env", action="store_true",
                   help="run the caller without its manifest's [caller.transport_env] (settings for a run's short "
                   "cells, such as Java's C1-only JIT for gRPC); with a long --warmup-s: its steady state")
    s.set_defaults(fn=cmd_selfbench)
    s = sub.add_parser("fuzz", help="malformed input over every service x transport (docs/reliability.md)")
    s.add_argument("services", nargs="*", metavar="SERVICE")
    s.add_argument("--transport", "-t", action="append", choices=TRANSPORTS)
    s.add_argument("--inputs", type=int, default=10_000, help="inputs per cell (default 10000)")
    s.add_argument("--celery-inputs", type=int, default=None, help="inputs per celery cell (default: --inputs)")
    s.add_argument("--seed", type=int, default=1, help="the generator's seed (default 1)")
    s.add_argument("--index", type=int, action="append", help="only this input (repeatable): a reproducer")
    s.set_defaults(fn=cmd_fuzz)
    for name, fn, text in (("up", cmd_up, "start services until Ctrl-C"), ("ui", cmd_ui, "Locust web UI")):
        s = sub.add_parser(name, help=text)
        s.add_argument("services", nargs="*", metavar="SERVICE")
        s.add_argument("--transport", "-t", action="append", choices=TRANSPORTS)
        if name == "ui":
            s.add_argument("--scenario", default=str(REPO / "scenarios" / "quick.toml"))
            s.add_argument("--caller", default="", help="drive with this caller's workers (a manifest's [caller]); "
                           "default: the harness's own users, one class per service x transport x payload")
            s.add_argument("--target", default="", help="with --caller: service/transport to drive (default: first)")
            s.add_argument("--payload", default="", help="with --caller: the scenario payload to send (default: first)")
            s.add_argument("--host", default="127.0.0.1")
            s.add_argument("--port", type=int, default=8089)
        s.set_defaults(fn=fn)
    return p


def _interrupt(signum: int, frame: object) -> None:
    raise KeyboardInterrupt


def main(argv: list[str] | None = None) -> int:
    """Entry point: parse, run, and turn HarnessError into a message without a traceback."""
    args = build_parser().parse_args(argv)
    os.environ.setdefault("PYTHONUNBUFFERED", "1")
    # SIGTERM takes the same way out as Ctrl-C, so every command's clean-up (the Supervisor
    # stopping what it started) runs: Python's default would exit without running it.
    signal.signal(signal.SIGTERM, _interrupt)
    try:
        return int(args.fn(args))
    except HarnessError as e:
        print(f"error: {e}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
