"""Terminal progress of a run: one line per cell, with elapsed and estimated remaining time."""

from __future__ import annotations

import time


class Progress:
    """Terminal progress: cell n of N, elapsed, estimated remaining."""

    def __init__(self, total: int, expected_s: float) -> None:
        self.total = total
        self.done = 0
        self.start = time.monotonic()
        self.expected_s = expected_s

    def line(self, text: str) -> None:
        """Print one progress line."""
        elapsed = time.monotonic() - self.start
        remaining = (elapsed / self.done * (self.total - self.done)) if self.done else self.expected_s
        print(f"[{self.done:>3}/{self.total} {mmss(elapsed)} elapsed, ~{mmss(remaining)} left] {text}", flush=True)


def mmss(s: float) -> str:
    return f"{int(s // 60)}m{int(s % 60):02d}s"
