"""A resident caller for the tests (contract/LOADGEN.md, "A resident caller") built of Locust's own worker.

    python tests/resident_worker.py --master-host 127.0.0.1

Reads a master's port per line of standard input and runs the harness's Locust worker against
it (`python -m locust --worker`, a child process); a new line ends the previous worker first,
the end of input ends the last one and this process (exit 0). The harness's side of resident
callers is what this exercises: one long-lived process serving many cells, watched and stopped
by the harness.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent


def main() -> int:
    """Serve masters until the end of standard input."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--master-host", required=True)
    a = p.parse_args()
    worker: subprocess.Popen[bytes] | None = None
    for line in sys.stdin:
        if not line.strip():
            continue
        if worker is not None:
            worker.terminate()
            worker.wait()
        print(f"session: master port {line.strip()}", flush=True)
        worker = subprocess.Popen([sys.executable, "-m", "locust", "-f", str(REPO / "harness/loadgen/locustfile.py"),
                                   "--worker", "--master-host", a.master_host, "--master-port", line.strip(),
                                   "--loglevel", "WARNING", "--skip-log-setup"])
    if worker is not None:
        worker.terminate()
        worker.wait()
    print("end of input", flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
