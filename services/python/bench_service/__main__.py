"""Entry point: `python -m bench_service <transport> [options]`."""

from __future__ import annotations

import sys

from bench_service.cli import main

if __name__ == "__main__":
    sys.exit(main())
