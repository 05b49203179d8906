"""When a phase is client-bound by CPU: the generator saturated while the service's side had room."""

from __future__ import annotations

import pytest

from harness.results.schema import Cpu
from harness.run.measure import saturation


def _cpu(loadgen: float, service: float | None, redis: float = 0.0) -> Cpu:
    return Cpu(wall_s=1.0, service_s=service, loadgen_s=loadgen, redis_s=redis, service_util=service,
               loadgen_util=loadgen, redis_util=redis)


@pytest.mark.parametrize(("loadgen", "service", "redis", "bound"), [
    (0.50, 0.95, 0.0, False),   # the service saturated, the generator had room
    (0.89, 0.40, 0.0, False),   # neither at the limit
    (0.94, 0.65, 0.0, True),    # the generator saturated, the service at 65 %: the generator's limit
    (0.94, 0.94, 0.0, False),   # both at the limit: the service's throughput, to within its headroom
    (0.96, 0.60, 0.35, False),  # a queue: the service and its redis-server fill the service's core
    (0.96, 0.60, 0.20, True),   # ... or do not
    (0.95, None, 0.0, True),    # a service on another host: only the generator's side is known
])
def test_saturation(loadgen: float, service: float | None, redis: float, bound: bool) -> None:
    reason = saturation(_cpu(loadgen, service, redis))
    assert bool(reason) is bound
    if bound:
        assert f"{loadgen:.0%}" in reason
