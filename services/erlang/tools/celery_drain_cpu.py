"""Service CPU per Celery echo task, without a Celery client in the loop.

A real redis-server on a free port and the service's own celery command (from its
service.toml) are started on one core; kombu-shaped `bench.echo` messages (the envelope of
test/celery_interop.py's kombu capture: protocol v2, JSON, base64 body) are pushed onto the
service's queue from another core, and the service's CPU (utime+stime of its process, all
threads, from /proc) is read from the first push until every result key exists.
usage (from the repository root):
    /work/main/.venv/bin/python services/erlang/tools/celery_drain_cpu.py erlang 65536 500
    ... <service> <text bytes> <tasks> [--warmup N] [--service-dir DIR] [--cores 1] [--client-cores 0]
Prints one line: service, size, tasks, seconds, service µs/task, redis µs/task, load average.
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import random
import shlex
import socket
import string
import subprocess
import sys
import time
import tomllib
import uuid
from pathlib import Path

import redis

HZ = os.sysconf("SC_CLK_TCK")


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def cpu_s(pid: int) -> float:
    fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / HZ


def message(queue: str, text: str) -> tuple[str, bytes]:
    tid = str(uuid.uuid4())
    body = json.dumps([[text], {}, {"callbacks": None, "errbacks": None, "chain": None, "chord": None}])
    envelope = {
        "body": base64.b64encode(body.encode()).decode(),
        "content-encoding": "utf-8",
        "content-type": "application/json",
        "headers": {"lang": "py", "task": "bench.echo", "id": tid, "shadow": None, "eta": None,
                    "expires": None, "group": None, "group_index": None, "retries": 0,
                    "timelimit": [None, None], "root_id": tid, "parent_id": None,
                    "argsrepr": "('...',)", "kwargsrepr": "{}", "origin": "drain@bench",
                    "ignore_result": False, "replaced_task_nesting": 0, "stamped_headers": None,
                    "stamps": {}},
        "properties": {"correlation_id": tid, "reply_to": str(uuid.uuid4()), "delivery_mode": 2,
                       "delivery_info": {"exchange": "", "routing_key": queue}, "priority": 0,
                       "body_encoding": "base64", "delivery_tag": str(uuid.uuid4())},
    }
    return tid, json.dumps(envelope).encode()


def run_tasks(r: redis.Redis, queue: str, texts: list[str], timeout_s: float) -> None:
    ids = []
    pipe = r.pipeline(transaction=False)
    for text in texts:
        tid, msg = message(queue, text)
        ids.append(f"celery-task-meta-{tid}")
        pipe.lpush(queue, msg)
    pipe.execute()
    deadline = time.monotonic() + timeout_s
    while r.exists(*ids) < len(ids):
        if time.monotonic() > deadline:
            sys.exit(f"timeout: {r.exists(*ids)} of {len(ids)} results after {timeout_s} s")
        time.sleep(0.02)
    doc = json.loads(r.get(ids[-1]))
    if doc["status"] != "SUCCESS" or doc["result"] != texts[-1]:
        sys.exit(f"wrong result: {str(doc)[:200]}")


def main() -> None:
    ap = argparse.ArgumentParser()
    ap.add_argument("service")
    ap.add_argument("size", type=int)
    ap.add_argument("tasks", type=int)
    ap.add_argument("--warmup", type=int, default=200)
    ap.add_argument("--service-dir", type=Path, default=None)
    ap.add_argument("--cores", default="1")
    ap.add_argument("--client-cores", default="0")
    args = ap.parse_args()
    os.sched_setaffinity(0, {int(c) for c in args.client_cores.split(",")})
    sdir = (args.service_dir or Path("services") / args.service).resolve()
    manifest = tomllib.loads((sdir / "service.toml").read_text())
    rport = free_port()
    rproc = subprocess.Popen(["taskset", "-c", args.cores, "redis-server", "--port", str(rport),
                              "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
                             stdout=subprocess.DEVNULL)
    url = f"redis://127.0.0.1:{rport}/0"
    queue = f"bench.{args.service}"
    cmd = manifest["transports"]["celery"]["command"].format(
        python=sys.executable, redis_url=url, queue=queue, repo=Path.cwd())
    env = dict(os.environ, **{k: str(v) for k, v in manifest.get("env", {}).items()})
    log = open(f"/tmp/celery_drain_{args.service}_{rport}.log", "wb")
    svc = subprocess.Popen(["taskset", "-c", args.cores, *shlex.split(cmd)], cwd=sdir, env=env,
                           stdout=log, stderr=subprocess.STDOUT)
    try:
        r = redis.Redis(port=rport)
        for _ in range(100):
            try:
                r.ping()
                break
            except redis.ConnectionError:
                time.sleep(0.1)
        rng = random.Random(1)
        text = "".join(rng.choice(string.ascii_lowercase) for _ in range(args.size))
        run_tasks(r, queue, [text] * max(1, args.warmup), 300)
        redis_pid = rproc.pid
        c0, r0, t0 = cpu_s(svc.pid), cpu_s(redis_pid), time.monotonic()
        run_tasks(r, queue, [text] * args.tasks, 600)
        c1, r1, t1 = cpu_s(svc.pid), cpu_s(redis_pid), time.monotonic()
        load = os.getloadavg()[0]
        print(f"{args.service} size={args.size} tasks={args.tasks} {t1 - t0:.1f}s "
              f"service_us/task={(c1 - c0) * 1e6 / args.tasks:.0f} "
              f"redis_us/task={(r1 - r0) * 1e6 / args.tasks:.0f} load={load:.1f}")
    finally:
        svc.terminate()
        try:
            svc.wait(20)
        except subprocess.TimeoutExpired:
            svc.kill()
        rproc.terminate()
        rproc.wait(10)


if __name__ == "__main__":
    main()
