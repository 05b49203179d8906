"""A plain Celery 5.7 client for CeleryWorkerTest: JSON requests on stdin, one JSON reply per line.

usage: python celery_client.py REDIS_URL QUEUE < requests

Requests: {"call": task, "args": [...], "kwargs": {...}} sends the task and waits for it
(`send_task(...).get()`); {"send": task, "args": [...]} only sends it; {"get": id} waits for
the result of a task sent earlier. Replies: {"id": ..., "ok": value} or {"id": ..., "exc_type",
"exc_module", "message"} (the exception `.get()` raised), or {"id": ..., "sent": true}.
"""

from __future__ import annotations

import json
import sys

from celery import Celery
from celery.result import AsyncResult


def main() -> int:
    redis_url, queue = sys.argv[1], sys.argv[2]
    app = Celery("java-test-client", broker=redis_url, backend=redis_url)
    app.conf.update(task_serializer="json", result_serializer="json", accept_content=["json"],
                    result_accept_content=["json"], broker_connection_retry_on_startup=True)
    for line in sys.stdin:
        if not line.strip():
            continue
        req = json.loads(line)
        if "get" in req:
            result = AsyncResult(req["get"], app=app)
        else:
            name = req.get("call") or req["send"]
            result = app.send_task(name, args=req.get("args", []), kwargs=req.get("kwargs", {}), queue=queue)
            if "send" in req:
                print(json.dumps({"id": result.id, "sent": True}), flush=True)
                continue
        try:
            value = result.get(timeout=10)
            reply = {"id": result.id, "ok": value}
        except Exception as e:  # the task's exception as Celery rebuilt it
            reply = {"id": result.id, "exc_type": type(e).__name__, "exc_module": type(e).__module__,
                     "message": str(e)}
        print(json.dumps(reply), flush=True)
    return 0


if __name__ == "__main__":
    sys.exit(main())
