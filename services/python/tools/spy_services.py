"""Record a py-spy profile of every Python service process a harness run starts.

    python tools/spy_services.py --out DIR [--delay 6] [--duration 6] [--until-idle 120]

Watches /proc for `-m bench_service <transport>` processes started in this checkout's
services/python (the harness starts one per transport; other checkouts' are left alone). For
each new one it waits `--delay` seconds (the service's warm-up and the cell's unmeasured
phase), then runs `py-spy record --native --subprocesses -r 250 -d <duration> -f raw` on it
into DIR/<transport>-<pid>.txt. Run it beside `python -m harness bench --scenario
services/python/tools/fairness-profile-64B.toml`; it exits once no service process has been
seen for `--until-idle` seconds. `tools/profile_summary.py` reads the files.
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import time
from pathlib import Path

PY_SPY = Path(sys.executable).parent / "py-spy"


SERVICE_DIR = Path(__file__).resolve().parent.parent


def services() -> dict[int, str]:
    """The live `python -m bench_service <transport>` processes run from this checkout's
    services/python (other checkouts' services on the same machine are left alone): pid -> transport."""
    found = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            argv = (entry / "cmdline").read_bytes().split(b"\0")
            if b"bench_service" not in argv or (entry / "cwd").resolve() != SERVICE_DIR:
                continue
        except OSError:
            continue
        if b"bench_service" in argv and b"-m" in argv:
            i = argv.index(b"bench_service")
            if i + 1 < len(argv):
                found[int(entry.name)] = argv[i + 1].decode(errors="replace")
    return found


def main() -> int:
    """Watch for service processes and profile each one once."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--out", type=Path, required=True, help="folder for the profiles")
    p.add_argument("--delay", type=float, default=6, help="seconds after a service starts before recording")
    p.add_argument("--duration", type=int, default=6, help="seconds to record")
    p.add_argument("--until-idle", type=float, default=120, help="exit after this long with no service")
    args = p.parse_args()
    args.out.mkdir(parents=True, exist_ok=True)
    seen: dict[int, float | None] = {}
    spies: list[subprocess.Popen[bytes]] = []
    last_seen = time.monotonic()
    while time.monotonic() - last_seen < args.until_idle:
        now = time.monotonic()
        for pid, transport in services().items():
            last_seen = now
            first = seen.setdefault(pid, now)
            if first is not None and now - first >= args.delay:
                out = args.out / f"{transport}-{pid}.txt"
                cmd = [str(PY_SPY), "record", "--native", "--subprocesses", "-r", "250",
                       "-d", str(args.duration), "-f", "raw", "-o", str(out), "-p", str(pid)]
                spies.append(subprocess.Popen(cmd, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
                print(f"recording {transport} (pid {pid}) into {out}", file=sys.stderr, flush=True)
                seen[pid] = None
        time.sleep(0.2)
    for spy in spies:
        spy.wait()
    return 0


if __name__ == "__main__":
    sys.exit(main())
