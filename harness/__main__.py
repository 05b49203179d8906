"""`python -m harness`: the command line (see harness/cli.py)."""

from __future__ import annotations

import sys

from harness.cli import main

sys.exit(main())
