"""The harness's one error family: every message says what went wrong and how to fix it."""

from __future__ import annotations


class HarnessError(Exception):
    """A problem the user can fix; printed without a traceback by the CLI."""


class ManifestError(HarnessError):
    """A services/<name>/service.toml that cannot be used."""


class ServiceStartError(HarnessError):
    """A service process that exited early or never became ready."""


class ClientError(HarnessError):
    """A transport call that failed below the contract (connection, timeout, framing)."""
