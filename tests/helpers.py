"""Small helpers the harness's tests share (pytest puts this folder on sys.path)."""

from __future__ import annotations

import time

import psutil


def alive(pids: list[int]) -> list[int]:
    """The processes of `pids` that still run (zombies, already dead, do not count)."""
    out = []
    for pid in pids:
        try:
            if psutil.Process(pid).status() != psutil.STATUS_ZOMBIE:
                out.append(pid)
        except psutil.NoSuchProcess:
            pass
    return out


def assert_all_gone(pids: list[int], timeout_s: float) -> None:
    """Every process of `pids` has exited within `timeout_s` (polled, no fixed sleep); else name the survivors."""
    deadline = time.monotonic() + timeout_s
    while (left := alive(pids)) and time.monotonic() < deadline:
        time.sleep(0.05)
    described = []
    for pid in left:
        try:
            described.append(" ".join(psutil.Process(pid).cmdline()))
        except psutil.NoSuchProcess:
            pass
    assert not described, f"left behind after {timeout_s} s: {described}"
