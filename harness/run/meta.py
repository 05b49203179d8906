"""Provenance of a run: versions, commit, machine, placement, scenario (results/<run>/meta.json).

Gathered by small `collect_*` functions; a fact that cannot be read is recorded as such,
never guessed.
"""

from __future__ import annotations

import os
import platform
import subprocess
import sys
import time
from importlib import metadata
from typing import TYPE_CHECKING, Any

from harness import REPO, __version__
from harness.contract.manifest import base_values, fill

if TYPE_CHECKING:
    from harness.contract.manifest import Service
    from harness.run.scenario import Scenario

LIBRARIES = ("locust", "gevent", "pyzmq", "redis", "celery", "kombu", "grpcio", "protobuf", "hdrhistogram",
             "matplotlib")


def _run(cmd: str, cwd: str | None = None) -> str:
    try:
        out = subprocess.run(cmd, shell=True, capture_output=True, text=True, timeout=30, cwd=cwd)
    except (OSError, subprocess.TimeoutExpired) as e:
        return f"unavailable: {e}"
    return (out.stdout + out.stderr).strip()


def collect_git() -> dict[str, Any]:
    """Commit and whether the work tree had changes."""
    return {"commit": _run("git rev-parse HEAD", cwd=str(REPO)),
            "dirty": bool(_run("git status --porcelain", cwd=str(REPO)))}


def _first_field(path: str, key: str) -> str:
    """The value of the first `key: value` line of a /proc file, or 'unknown'."""
    try:
        with open(path, encoding="utf-8") as f:
            for line in f:
                if line.startswith(key):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return "unknown"


def collect_machine() -> dict[str, Any]:
    """CPU model, cores, memory, kernel."""
    return {"cpu_model": _first_field("/proc/cpuinfo", "model name"), "cores": os.cpu_count(),
            "memory": _first_field("/proc/meminfo", "MemTotal"), "kernel": platform.release(),
            "platform": platform.platform(), "hostname": platform.node()}


def collect_python() -> dict[str, Any]:
    """CPython and the harness's key libraries."""
    libs = {}
    for name in LIBRARIES:
        try:
            libs[name] = metadata.version(name)
        except metadata.PackageNotFoundError:
            libs[name] = "not installed"
    return {"cpython": sys.version, "executable": sys.executable, "libraries": libs}


def collect_tools() -> dict[str, str]:
    """Versions of the external programs the harness itself runs (each service's come from its manifest)."""
    return {"redis-server": _run("redis-server --version"), "taskset": _run("taskset --version")}


def collect_services(services: list[Service]) -> dict[str, Any]:
    """Each service's runtime version, commands (flags included) and environment."""
    out = {}
    for s in services:
        command = fill(s.runtime_version, base_values())
        version = _run(command, cwd=str(s.folder)) if s.runtime_version else "not declared"
        tools = {name: _run(fill(cmd, base_values()), cwd=str(s.folder)) for name, cmd in s.versions.items()}
        out[s.name] = {"language": s.language, "runtime": version, "tools": tools, "commands": s.commands,
                       "env": s.env, "warmup_s": s.warmup_s, "unsupported": s.unsupported}
    return out


def collect_meta(scenario: Scenario, services: list[Service]) -> dict[str, Any]:
    """Everything meta.json records about a run."""
    return {
        "harness_version": __version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": collect_git(),
        "machine": collect_machine(),
        "harness_python": collect_python(),
        "tools": collect_tools(),
        "services": collect_services(services),
        "placement": scenario.placement,
        "placement_note": ("cores given to taskset -c; the load generator, the services and redis-server "
                           "share this machine's cores, so CPU per request is measured from /proc"),
        "scenario": {"name": scenario.name, "file": str(scenario.path), "seed": scenario.seed,
                     "content": scenario.raw},
    }
