"""Prints the Debian packages that are missing: the harness's own, and each manifest's [system] table.

Run by scripts/setup.sh with the system's python3 (3.11: tomllib, no third-party module).
A manifest's `[system]` maps a program on PATH, or a path pattern (a library folder), to the
Debian package(s) that provide it (contract/CONTRACT.md, "The service manifest").
"""

from __future__ import annotations

import glob
import shutil
import sys
import tomllib
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent

HARNESS = {
    "redis-server": "redis-server",  # the private broker of the queue transports
    "taskset": "util-linux",  # placement
    "wrk": "wrk",  # selfbench's reference load and the peer tests
    "/usr/sbin/nginx": "nginx-light",  # selfbench's native reference server (harness/run/native.py)
    "ab": "apache2-utils",  # ApacheBench, a peer in the tests
    "curl": "curl",  # a peer in the tests
    "chromium": "chromium",  # the report's browser test
    "go": "golang-go",  # builds the peer tools h2spec and grpcurl (scripts/ensure-go-tools.sh)
}
"""What the harness itself runs, whatever the services."""


def present(what: str) -> bool:
    """A program on PATH, or (for a path pattern) at least one match on disk."""
    if what.startswith("/"):
        return bool(glob.glob(what))
    return shutil.which(what) is not None


def manifests() -> list[Path]:
    """Every service and floor manifest of the repository."""
    return sorted([*REPO.glob("services/*/service.toml"), *REPO.glob("harness/floor/**/service.toml")])


def missing() -> list[str]:
    """Debian packages to install, each once, in order."""
    needs = dict(HARNESS)
    for path in manifests():
        table = tomllib.loads(path.read_text(encoding="utf-8")).get("system", {})
        needs.update({str(k): str(v) for k, v in table.items()})
    out: list[str] = []
    for what, packages in needs.items():
        if not present(what):
            out += [p for p in packages.split() if p not in out]
    return out


if __name__ == "__main__":
    print(" ".join(missing()))
    sys.exit(0)
