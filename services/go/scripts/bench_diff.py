"""Go's difflib port against CPython's difflib on the same input, both pinned to core 1.

    python3 scripts/bench_diff.py [--python PYTHON]

Times SequenceMatcher(None, a, b).get_opcodes() in CPython (best of 10, process CPU time) and
core.Opcodes in Go (`go test -bench BenchmarkDiffVectors`, its cpu-ms/op metric, best of 5) on
the shared vectors lines-5000 (5,000 and 5,002 tokens), lines-3000 and html-large, and prints
the ratio. Run from services/go.
"""

from __future__ import annotations

import argparse
import re
import subprocess
import sys
from pathlib import Path

HERE = Path(__file__).resolve().parent.parent
VECTORS = HERE.parent.parent / "contract" / "vectors" / "diff.json"
NAMES = ("lines-5000", "lines-3000", "html-large")
PY = """
import difflib, json, sys, time
vs = {v["name"]: v for v in json.load(open(sys.argv[1]))["vectors"]}
for name in sys.argv[2:]:
    a, b = vs[name]["a"], vs[name]["b"]
    times = []
    for _ in range(10):
        t = time.process_time()
        difflib.SequenceMatcher(None, a, b).get_opcodes()
        times.append(time.process_time() - t)
    best = min(times)
    print(name, len(a), len(b), best * 1e3)
"""


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--python", default=sys.executable, help="the CPython to compare with")
    args = ap.parse_args()
    py = subprocess.run(["taskset", "-c", "1", args.python, "-c", PY, str(VECTORS), *NAMES],
                        capture_output=True, text=True, check=True).stdout
    version = subprocess.run([args.python, "-c", "import platform; print(platform.python_version())"],
                             capture_output=True, text=True, check=True).stdout.strip()
    go = subprocess.run(["taskset", "-c", "1", "go", "test", "-run", "^$", "-bench", "BenchmarkDiffVectors",
                         "-count", "5", "./internal/core"], cwd=HERE, capture_output=True, text=True, check=True).stdout
    go_ms: dict[str, float] = {}
    for m in re.finditer(r"BenchmarkDiffVectors/(\S+)\s+\d+\s+\d+ ns/op\s+([\d.]+) cpu-ms/op", go):
        name = m.group(1) if m.group(1) in NAMES else re.sub(r"-\d+$", "", m.group(1))
        go_ms[name] = min(go_ms.get(name, float("inf")), float(m.group(2)))
    print("uptime:", subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip())
    for line in py.split("\n"):
        if not line:
            continue
        name, la, lb, ms = line.split()
        print(f"{name:11s} {la:>5s}+{lb:<5s} tokens  CPython {version} {float(ms):8.2f} ms  Go {go_ms[name]:7.2f} ms  "
              f"{float(ms) / go_ms[name]:5.1f}x faster")
    return 0


if __name__ == "__main__":
    sys.exit(main())
