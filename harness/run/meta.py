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

if TYPE_CHECKING:
    from harness.contract.manifest import Service
    from harness.run.runner import Scenario

LIBRARIES = ("locust", "gevent", "pyzmq", "redis", "celery", "kombu", "grpcio", "protobuf", "hdrhistogram",
             "matplotlib", "gunicorn", "waitress", "uvicorn")


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


def collect_machine() -> dict[str, Any]:
    """CPU model, cores, memory, kernel."""
    model = "unknown"
    try:
        for line in open("/proc/cpuinfo", encoding="utf-8"):
            if line.startswith("model name"):
                model = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    mem = "unknown"
    try:
        for line in open("/proc/meminfo", encoding="utf-8"):
            if line.startswith("MemTotal"):
                mem = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    return {"cpu_model": model, "cores": os.cpu_count(), "memory": mem, "kernel": platform.release(),
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
    """Versions of the external programs the services run on."""
    return {
        "redis-server": _run("redis-server --version"),
        "java": _run("java -version 2>&1 | head -3") if _has("java") else "not installed",
        "otp": _run("erl -noshell -eval 'io:format(\"~s ~s\", [erlang:system_info(otp_release), "
                    "erlang:system_info(version)]), halt().'") if _has("erl") else "not installed",
    }


def _has(program: str) -> bool:
    from shutil import which

    return which(program) is not None


def collect_services(services: list[Service]) -> dict[str, Any]:
    """Each service's runtime version, commands (flags included) and environment."""
    out = {}
    for s in services:
        from harness.contract.manifest import fill

        command = fill(s.runtime_version, {"python": sys.executable, "repo": str(REPO)})
        version = _run(command, cwd=str(s.folder)) if s.runtime_version else "not declared"
        out[s.name] = {"language": s.language, "runtime": version, "commands": s.commands, "env": s.env,
                       "warmup_s": s.warmup_s, "unsupported": s.unsupported}
    return out


def collect_meta(scenario: Scenario, services: list[Service]) -> dict[str, Any]:
    """Everything meta.json records about a run."""
    return {
        "harness_version": __version__,
        "started": time.strftime("%Y-%m-%dT%H:%M:%S%z"),
        "git": collect_git(),
        "machine": collect_machine(),
        "python": collect_python(),
        "tools": collect_tools(),
        "services": collect_services(services),
        "placement": scenario.placement,
        "placement_note": ("cores given to taskset -c; the load generator, the services and redis-server "
                           "share this machine's cores, so CPU per request is measured from /proc"),
        "scenario": {"name": scenario.name, "file": str(scenario.path), "seed": scenario.seed,
                     "content": scenario.raw},
    }
