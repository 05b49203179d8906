"""The Python service of interop-bench: the contract's `echo` and `diff` over five transports."""

from __future__ import annotations

__all__ = ["__version__"]

__version__ = "0.1.0"
