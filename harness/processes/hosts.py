"""Services already running elsewhere, described in a hosts file (TOML).

The supervisor does not start them: it checks that each answers `health` and records what it
says (service, language, runtime version) with the run. Their CPU is not measured from here.

    [[endpoint]]
    service = "python"          # a service of services/ (its manifest names the language)
    transport = "http"
    host = "10.231.0.1"
    port = 8080

    [[endpoint]]
    service = "python"
    transport = "redis"
    redis_url = "redis://10.231.0.1:6379/0"
    queue = "bench:python"
"""

from __future__ import annotations

import json
import time
import tomllib
from pathlib import Path
from typing import Any

from harness.contract.endpoint import Endpoint
from harness.contract.transports import REGISTRY, TRANSPORTS, make_client
from harness.errors import HarnessError


def load_hosts(path: Path) -> dict[tuple[str, str], Endpoint]:
    """The endpoints of a hosts file, by (service, transport)."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except (OSError, tomllib.TOMLDecodeError) as err:
        raise HarnessError(f"hosts file {path}: {err}") from err
    out: dict[tuple[str, str], Endpoint] = {}
    for i, e in enumerate(data.get("endpoint", [])):
        t = e.get("transport")
        if t not in TRANSPORTS or not e.get("service"):
            raise HarnessError(f"{path}: endpoint {i + 1} needs service = \"...\" and transport = one of {TRANSPORTS}")
        kind = REGISTRY[t]
        if kind.broker:
            if not e.get("redis_url"):
                raise HarnessError(f"{path}: endpoint {i + 1} ({t}) needs redis_url and queue")
            fixed = "{unique}" not in kind.queue_pattern  # a queue named after the service alone is known
            queue = e.get("queue") or (kind.queue(e["service"], "") if fixed else "")
            if not queue:
                raise HarnessError(f"{path}: endpoint {i + 1} ({t}) needs queue = \"...\"")
            ep = Endpoint(e["service"], t, "", 0, e["redis_url"], queue)
        else:
            if not e.get("host") or not isinstance(e.get("port"), int):
                raise HarnessError(f"{path}: endpoint {i + 1} ({t}) needs host = \"...\" and port = <number>")
            ep = Endpoint(e["service"], t, e["host"], e["port"], "", "")
        out[(e["service"], t)] = ep
    return out


def check_external(endpoint: Endpoint, timeout_s: float = 30.0) -> dict[str, Any]:
    """Wait until the endpoint answers health; return what it said (gRPC answers only an Echo)."""
    deadline = time.monotonic() + timeout_s
    last = ""
    while True:
        client = make_client(endpoint, timeout_s=2.0)
        try:
            reply = client.call("health", b"")
            if reply.ok:
                if not REGISTRY[endpoint.transport].health_object:
                    return {"answered": REGISTRY[endpoint.transport].health}
                health: dict[str, Any] = json.loads(reply.body)
                return health
            last = f"health answered {reply.error}"
        except Exception as e:  # not reachable yet
            last = f"{type(e).__name__}: {e}"
        finally:
            client.close()
        if time.monotonic() > deadline:
            raise HarnessError(f"{endpoint.service}/{endpoint.transport} at {endpoint.describe()} did not answer "
                               f"health within {timeout_s:.0f} s ({last}); is it running and reachable from here?")
        time.sleep(0.5)
