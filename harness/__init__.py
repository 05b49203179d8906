"""interop-bench: what it costs to cross a language boundary.

The harness discovers language services (services/*/service.toml), proves them identical
(`check`), measures them (`bench`) and renders what it measured (`report`).
"""

from __future__ import annotations

from pathlib import Path

__version__ = "0.1.0"

REPO = Path(__file__).resolve().parent.parent
"""The repository root: contract/, services/, scenarios/ and results/ live here."""
