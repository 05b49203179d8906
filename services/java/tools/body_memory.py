"""Does the JVM survive N concurrent 16 MiB echoes with a given heap? (docs/reliability.md)

Usage (from services/java, after `mvn package`; the repository's .venv):
    ../../.venv/bin/python tools/body_memory.py --xmx 1g --transport http --senders 48

Starts the jar with the manifest's JVM flags but `-Xmx` (and `-Xms` at most 256m), waits for
`health`, sends `--senders` concurrent 16 MiB echoes (the peer suite's round, each sender its own
client), and prints whether the JVM is alive, the senders' problems and the peak RSS.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[3]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "tests" / "peers"))

import test_big_bodies as peers  # noqa: E402

from harness.contract.endpoint import Endpoint  # noqa: E402
from harness.contract.transports import make_client  # noqa: E402
from harness.processes.supervisor import free_port  # noqa: E402


def main() -> int:
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--xmx", default="1g", help="the JVM's -Xmx, e.g. 256m or 1g")
    p.add_argument("--transport", default="http", choices=["http", "zmq", "grpc"])
    p.add_argument("--senders", type=int, default=16)
    args = p.parse_args()
    xms = "256m" if args.xmx.endswith("g") or int(args.xmx[:-1]) >= 256 else args.xmx
    port = free_port()
    jvm = subprocess.Popen(["java", "-XX:+UseSerialGC", "-XX:CICompilerCount=2", f"-Xms{xms}", f"-Xmx{args.xmx}",
                            "-XX:+ExitOnOutOfMemoryError", "-jar", "target/bench-service.jar", args.transport,
                            "--host", "127.0.0.1", "--port", str(port)],
                           cwd=REPO / "services" / "java", stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    try:
        ep = Endpoint("java", args.transport, "127.0.0.1", port, "", "")
        deadline = time.monotonic() + 60
        while True:
            try:
                client = make_client(ep, timeout_s=1)
                ready = client.ready()
                client.close()
                if ready:
                    break
            except Exception:
                if time.monotonic() > deadline or jvm.poll() is not None:
                    print("the JVM did not start", file=sys.stderr)
                    return 2
                time.sleep(0.1)
        peers.SENDERS = args.senders
        body = bytes(range(256)) * (peers.LIMIT // 256)
        with peers.PeakRss(jvm.pid) as rss:
            problems = peers._echo_round(ep, body, "ok")
        state = "alive" if jvm.poll() is None else f"died (exit {jvm.returncode})"
        print(f"-Xmx{args.xmx} {args.transport} x {args.senders} senders: {state}, {len(problems)} problem(s), "
              f"peak RSS {rss.peak / 2**20:.0f} MiB")
        for line in problems[:3]:
            print(f"  {line}")
        return 0 if jvm.poll() is None and not problems else 1
    finally:
        jvm.terminate()
        jvm.wait(30)


if __name__ == "__main__":
    sys.exit(main())
