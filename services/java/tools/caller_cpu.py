"""CPU per request of the Java caller (the Locust worker of `bench.caller`), per transport and client.

Usage (from services/java, after `mvn package`):
    ../../.venv/bin/python tools/caller_cpu.py --transport http --clients socket,jdk,netty --users 8 --seconds 10

For each client: start the responder pinned to core 1 (`taskset -c 1`; the floor responder of
`harness/floor/responders.py` by default, `--responder native` for the C floor, `--responder NAME` for a service), a
redis-server on core 1 for redis, the harness's own Locust master (harness/loadgen/locustfile.py,
started by src/test/resources/bench/caller/real_master.py as a run starts it; closed loop, a
warm-up then one measured phase) on core 1, then the caller pinned to core 0 (`taskset -c 0 java <manifest flags> -jar
target/bench-service.jar caller ...`) with `BENCH_CALLER_CPU=1`, so that it reports its own CPU
seconds (all threads, from the JVM) at each phase boundary in `bench_results.cpu`. Prints per
client: requests/s of the measured phase, the caller's CPU microseconds per request, and what
that makes per caller core (1e6 / µs), plus the core's utilisation.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import shlex
import socket
import subprocess
import sys
import tempfile
import time
import tomllib
from pathlib import Path

HERE = Path(__file__).resolve().parent
SERVICE = HERE.parent
REPO = SERVICE.parent.parent
PYTHON = Path(sys.executable)  # the harness's interpreter: run this script with it
MASTER = SERVICE / "src/test/resources/bench/caller/real_master.py"  # the harness's own master, as a run starts it
BODY = b"0123456789abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ-_"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def jvm_flags(section: str = "caller") -> list[str]:
    """The JVM flags of the manifest's caller (or a transport's) command: everything between `java` and `-jar`."""
    m = tomllib.loads((SERVICE / "service.toml").read_text())
    words = shlex.split(m["caller"]["command"] if section == "caller" else m["transports"][section]["command"])
    return words[1:words.index("-jar")]


def start(cmd: list[str], log: Path, cwd: Path = REPO, env: dict[str, str] | None = None) -> subprocess.Popen[bytes]:
    return subprocess.Popen(cmd, cwd=cwd, stdout=log.open("wb"), stderr=subprocess.STDOUT, start_new_session=True,
                            env={**os.environ, **(env or {})})


def stop(p: subprocess.Popen[bytes]) -> None:
    if p.poll() is None:
        p.terminate()
        try:
            p.wait(5)
        except subprocess.TimeoutExpired:
            p.kill()
            p.wait()


def wait_port(port: int, proc: subprocess.Popen[bytes], seconds: float = 30) -> None:
    deadline = time.monotonic() + seconds
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"the responder exited early ({proc.returncode}); see its log")
        try:
            with socket.create_connection(("127.0.0.1", port), timeout=0.5):
                return
        except OSError:
            time.sleep(0.1)
    raise SystemExit(f"nothing listens on port {port} after {seconds} s")


def responder(kind: str, transport: str, port: int, redis_url: str, queue: str, log: Path) -> subprocess.Popen[bytes]:
    where = ["--redis-url", redis_url, "--queue", queue] if transport in ("redis", "celery") else \
        ["--host", "127.0.0.1", "--port", str(port)]
    if kind == "floor":
        cmd = [str(PYTHON), str(REPO / "harness/floor/responders.py"), transport, *where]
        cwd = REPO
    elif kind == "native":  # the C floor selfbench measures against (`python -m harness build floor`)
        binary = REPO / f"harness/floor/bin/floor-{transport}"
        if not binary.exists():
            raise SystemExit(f"{binary} is missing: run `python -m harness build floor` in the repository")
        cmd, cwd = [str(binary), *where], REPO
    else:  # a service: its manifest's command for the transport (built with `python -m harness build NAME`)
        folder = REPO / "services" / kind
        m = tomllib.loads((folder / "service.toml").read_text())
        if transport not in m.get("transports", {}):
            raise SystemExit(f"services/{kind}/service.toml has no [transports.{transport}]")
        line = m["transports"][transport]["command"].format(
            host="127.0.0.1", port=port, redis_url=redis_url, queue=queue, python=PYTHON, repo=REPO)
        cmd, cwd = shlex.split(line), folder
    return start(["taskset", "-c", "1", *cmd], log, cwd)


def one(args: argparse.Namespace, client: str, logs: Path) -> dict[str, float]:
    t = args.transport
    port, master_port = free_port(), free_port()
    procs: list[subprocess.Popen[bytes]] = []
    redis_url, queue = "", ""
    try:
        if t in ("redis", "celery"):
            rport = free_port()
            procs.append(start(["taskset", "-c", "1", "redis-server", "--port", str(rport), "--bind", "127.0.0.1",
                                "--save", "", "--appendonly", "no"], logs / "redis.log"))
            wait_port(rport, procs[-1])
            redis_url, queue = f"redis://127.0.0.1:{rport}/0", ("bench.floor" if t == "celery" else "bench:floor")
        procs.append(responder(args.responder, t, port, redis_url, queue, logs / f"responder-{client}.log"))
        if t in ("http", "zmq", "grpc"):
            wait_port(port, procs[-1])
        else:
            time.sleep(3 if t == "celery" else 1)
        config = {"protocol": 1, "cell": f"java.{args.responder}.{t}.echo-64B.r0", "name": f"{args.responder}_{t}",
                  "index": 0, "workers": 1, "timeout_s": 10.0,
                  "target": {"service": args.responder, "transport": t, "host": "127.0.0.1", "port": port,
                             "redis_url": redis_url, "queue": queue},
                  "request": {"op": "echo", "body_b64": base64.b64encode(BODY).decode(), "expect": None,
                              "opcodes": None},
                  "plan": {"phases": [{"name": "warmup", "duration_s": args.warmup, "rate": None, "measured": False},
                                      {"name": "measure", "duration_s": args.seconds, "rate": None, "measured": True}],
                           "open_loop": False, "arrival": "constant", "seed": 1, "slo": None}}
        cell_dir = logs / f"cell-{client}"
        procs.append(start(["taskset", "-c", "1", str(PYTHON), str(MASTER), "--config", json.dumps(config),
                            "--dir", str(cell_dir), "--port", str(master_port), "--users", str(args.users)],
                           logs / f"master-{client}.log"))
        caller = start(["taskset", "-c", "0", "java", *jvm_flags(), *args.java_opt, "-jar", str(args.jar), "caller",
                        "--master-host", "127.0.0.1", "--master-port", str(master_port),
                        *(["--http-client", client] if t == "http" else []),
                        *(["--zmq-client", client] if t == "zmq" and client != "default" else []),
                        *(["--grpc-client", client] if t == "grpc" and client != "default" else []),
                        "--grpc-channel", args.grpc_channel], logs / f"caller-{client}.log", SERVICE,
                       {"BENCH_CALLER_CPU": "1"})
        procs.append(caller)
        rc = caller.wait(args.warmup + args.seconds + 60)
        if rc != 0:
            tail = "\n".join((logs / f"caller-{client}.log").read_text(errors="replace").splitlines()[-12:])
            raise SystemExit(f"the caller exited {rc}; the end of its log:\n{tail}")
        r = json.loads((cell_dir / "results.json").read_text())["workers"][0]
        phase = r["phases"][1]
        cpu = r["cpu"][2] - r["cpu"][1]
        cell = phase["cells"].get(f"{args.responder}_{t}")
        if cell is None:  # not one reply within the measured phase (a cold JVM on a loaded machine)
            return {"req_s": 0.0, "cpu_us": float("nan"), "per_core": 0.0, "util": cpu / args.seconds, "bad": 0,
                    "p50": float("nan")}
        n = cell["requests"]
        return {"req_s": n / args.seconds, "cpu_us": cpu * 1e6 / n, "per_core": n / cpu, "util": cpu / args.seconds,
                "bad": cell["errors"] + cell["wrong"], "p50": cell["latency_us"]["p50"]}
    finally:
        for p in reversed(procs):
            stop(p)


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--transport", default="http", choices=["http", "zmq", "redis", "grpc", "celery"])
    p.add_argument("--clients", default="",
                   help="clients to compare: http socket,jdk,netty (default socket); zmq zmtp,jeromq (default zmtp); "
                        "grpc async,blocking (default async)")
    p.add_argument("--grpc-channel", default="user", choices=["user", "shared"])
    p.add_argument("--responder", default="floor",
                   help="floor (default): harness/floor/responders.py (Python); native: the C floor of "
                        "harness/floor/bin (what selfbench uses); or a service under services/ (python, java, go, "
                        "erlang: its manifest's command)")
    p.add_argument("--users", type=int, default=8)
    p.add_argument("--logs", type=Path, help="keep the processes' logs in this folder (default: a temporary one)")
    p.add_argument("--jar", type=Path, default=SERVICE / "target/bench-service.jar",
                   help="the caller's jar (default target/bench-service.jar; another build to compare with)")
    p.add_argument("--java-opt", action="append", default=[], metavar="FLAG",
                   help="an extra JVM flag for the caller after the manifest's (repeatable), e.g. "
                        "-XX:TieredStopAtLevel=1 or -XX:StartFlightRecording=filename=/tmp/c.jfr")
    p.add_argument("--seconds", type=float, default=10.0, help="measured phase")
    p.add_argument("--warmup", type=float, default=10.0, help="unmeasured warm-up phase (JIT)")
    a = p.parse_args()
    a.clients = a.clients or {"http": "socket", "zmq": "zmtp", "grpc": "async"}.get(a.transport, "default")
    a.jar = a.jar.resolve()
    if not (SERVICE / "target/bench-service.jar").exists() or not a.jar.exists():
        raise SystemExit("target/bench-service.jar is missing: run `mvn -q package -DskipTests` in services/java")
    load = os.getloadavg()[0]
    print(f"# {a.transport}, {a.users} users, responder {a.responder}, grpc channel {a.grpc_channel}, "
          f"{a.warmup:g} s warm-up + {a.seconds:g} s; load average {load:.2f}")
    print("client   req/s     caller CPU us/req   req/s per caller core   core util   p50 us   errors+wrong")
    with tempfile.TemporaryDirectory(prefix="caller-cpu-") as d:
        logs = a.logs or Path(d)
        logs.mkdir(parents=True, exist_ok=True)
        for client in a.clients.split(","):
            r = one(a, client, logs)
            print(f"{client:8} {r['req_s']:9.0f} {r['cpu_us']:12.2f} {r['per_core']:22.0f} {r['util']:12.2f}"
                  f" {r['p50']:8.0f} {r['bad']:8.0f}", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
