"""Conformance: every vector of contract/vectors/ over one service x transport.

A check passes when every diff reply equals difflib's opcodes, every echo returns its bytes,
every error vector gets its error code (and the transport's status for it), the request
after each error is answered correctly on the same connection, and the transport's own
rules hold (zmq frame counts and DEALER peers, http 404/405, the redis dead list).
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from harness.clients import Client, Reply
from harness.clients.base import error_code
from harness.contract.endpoint import Endpoint
from harness.contract.transports import get as get_transport
from harness.contract.transports import make_client
from harness.contract.vectors import diff_vectors, echo_vectors, error_vectors
from harness.errors import ClientError

PROBE = b"probe after an error"


@dataclass
class Failure:
    """One failed check: which vector, what was expected, what came back."""

    name: str
    expected: str
    actual: str

    def __str__(self) -> str:
        return f"{self.name}: expected {self.expected}; got {self.actual}"


@dataclass
class CheckResult:
    """The outcome of conformance for one service x transport."""

    service: str
    transport: str
    passed: int = 0
    skipped: int = 0
    failures: list[Failure] = field(default_factory=list)
    error: str | None = None
    seconds: float = 0.0

    @property
    def ok(self) -> bool:
        """True when everything passed and the service could be started."""
        return self.error is None and not self.failures

    def summary(self) -> str:
        """A short cell text for the matrix."""
        if self.error is not None:
            return "ERROR"
        if self.failures:
            return f"FAIL {len(self.failures)}/{self.passed + len(self.failures)}"
        return f"ok {self.passed}"


def _short(data: Any, limit: int = 160) -> str:
    if isinstance(data, bytes | str | list) and len(data) > limit:
        return repr(data[:limit])[:limit] + f"... ({len(data)} items)"
    text = repr(data)
    return text if len(text) <= limit else text[:limit] + f"... ({len(text)} chars)"


class Checker:
    """Runs the checks of one endpoint, collecting failures instead of stopping at the first."""

    def __init__(self, endpoint: Endpoint, timeout_s: float = 30.0, progress: Callable[[str], None] | None = None):
        self.endpoint = endpoint
        self.timeout_s = timeout_s
        self.result = CheckResult(endpoint.service, endpoint.transport)
        self.progress = progress or (lambda _msg: None)

    def expect(self, name: str, cond: bool, expected: str, actual: object) -> bool:
        """Record one check; `actual` is formatted only when the check fails."""
        if cond:
            self.result.passed += 1
        else:
            self.result.failures.append(Failure(name, expected, actual if isinstance(actual, str) else _short(actual)))
        return cond

    def _call(self, client: Client, name: str, op: str, body: bytes) -> Reply | None:
        try:
            return client.call(op, body)
        except ClientError as e:
            if type(e).__name__ == "NotExpressible":
                self.result.skipped += 1
                return None
            self.result.failures.append(Failure(name, "a reply", f"{type(e).__name__}: {e}"))
            client.close()
            return None

    def run(self) -> CheckResult:
        """All checks for this endpoint."""
        start = time.monotonic()
        client = make_client(self.endpoint, timeout_s=self.timeout_s)
        try:
            self.check_health(client)
            self.check_diffs(client)
            self.check_echoes(client)
            self.check_errors(client)
            extra = getattr(self, f"check_{self.endpoint.transport}", None)
            if extra is not None:
                extra(client)
        finally:
            client.close()
        self.result.seconds = time.monotonic() - start
        return self.result

    def check_health(self, client: Client) -> None:
        """`health` answers with the contract's keys."""
        reply = self._call(client, "health", "health", b"")
        if reply is None:
            return
        kind = get_transport(self.endpoint.transport)
        if not kind.health_object:
            self.expect("health", reply.ok, f"an answer to {kind.health}", _short(reply))
            return
        doc: Any = None
        try:
            doc = json.loads(reply.body)
        except ValueError:
            pass
        keys = {"service", "language", "runtime", "ops"}
        self.expect("health", reply.ok and isinstance(doc, dict) and keys <= set(doc),
                    f"ok and a JSON object with {sorted(keys)}", _short(reply.body))

    def check_diffs(self, client: Client) -> None:
        """Every diff vector."""
        self.progress("diff vectors")
        for v in diff_vectors():
            reply = self._call(client, f"diff/{v.name}", "diff", v.body())
            if reply is None:
                continue
            if not reply.ok:
                self.expect(f"diff/{v.name}", False, "ok", f"error {reply.error}: {reply.error_message()}")
                continue
            try:
                got = reply.diff_opcodes()
            except ValueError as e:
                self.expect(f"diff/{v.name}", False, "a JSON opcodes reply", str(e))
                continue
            if got != v.opcodes:
                self.expect(f"diff/{v.name}", False, _short(v.opcodes), got)
            else:
                self.result.passed += 1

    def check_echoes(self, client: Client) -> None:
        """Every echo vector."""
        self.progress("echo vectors")
        for v in echo_vectors():
            reply = self._call(client, f"echo/{v.name}", "echo", v.body)
            if reply is None:
                continue
            self.expect(f"echo/{v.name}", reply.ok and reply.body == v.body, f"ok and {len(v.body)} identical bytes",
                        f"ok={reply.ok} error={reply.error} {len(reply.body)} bytes {_short(reply.body[:80])}")

    def check_errors(self, client: Client) -> None:
        """Every error vector this transport can carry, each followed by a good request."""
        self.progress("error vectors")
        t = self.endpoint.transport
        for v in error_vectors():
            if not v.applies_to(t):
                self.result.skipped += 1
                continue
            reply = self._call(client, f"error/{v.name}", v.op, v.body)
            if reply is not None:
                self.expect(f"error/{v.name}", not reply.ok and reply.error == v.error, f"error {v.error}",
                            f"ok={reply.ok} error={reply.error} {_short(reply.body[:120])}")
                statuses = get_transport(t).statuses
                if statuses:
                    self.expect(f"error/{v.name}/status", reply.status == statuses[v.error],
                                f"{t} status {statuses[v.error]}", f"{t} status {reply.status}")
            self.check_next_good(client, f"error/{v.name}/next")

    def check_next_good(self, client: Client, name: str) -> None:
        """The request after a bad one is answered correctly."""
        reply = self._call(client, name, "echo", PROBE)
        if reply is not None:
            self.expect(name, reply.ok and reply.body == PROBE, "the next echo answered",
                        f"ok={reply.ok} error={reply.error}")

    # -- transport-specific rules ---------------------------------------------------------------

    def check_http(self, client: Client) -> None:
        """405 with Allow on a wrong method; 404 on an unknown path; keep-alive."""
        from harness.clients.http import HttpClient

        assert isinstance(client, HttpClient)
        status, headers, body = client.request("GET", "/echo")
        self.expect("http/405-get-echo", status == 405 and "allow" in headers, "405 with an Allow header",
                    f"{status} {headers}")
        status, headers, body = client.request("PUT", "/diff", b"{}")
        self.expect("http/405-put-diff", status == 405, "405", f"{status}")
        status, headers, body = client.request("POST", "/health")
        self.expect("http/405-post-health", status == 405, "405", f"{status}")
        status, headers, body = client.request("GET", "/no/such/path")
        code = error_code(body)
        self.expect("http/404-unknown-path", status == 404 and code == "unknown_op", "404 unknown_op",
                    f"{status} {code}")
        self.check_next_good(client, "http/after-405-404")

    def check_zmq(self, client: Client) -> None:
        """DEALER peers, wrong frame counts answered bad_request, then the next request served."""
        from harness.clients.zmq import ZmqClient

        dealer = ZmqClient(self.endpoint.host, self.endpoint.port, self.timeout_s, socket_type="dealer")
        try:
            for v in diff_vectors()[:20]:
                reply = self._call(dealer, f"zmq/dealer/diff/{v.name}", "diff", v.body())
                if reply is not None:
                    self.expect(f"zmq/dealer/diff/{v.name}", reply.ok and reply.diff_opcodes() == v.opcodes,
                                "the vector's opcodes", _short(reply.body))
            for sock, label in ((client, "req"), (dealer, "dealer")):
                assert isinstance(sock, ZmqClient)
                for frames in ([b"echo"], [b"echo", b"x", b"y"], [b"diff", b"{}", b"", b""]):
                    name = f"zmq/{label}/{len(frames)}-frames"
                    try:
                        got = sock.send_frames(frames)
                    except ClientError as e:
                        self.expect(name, False, "an error reply", str(e))
                        continue
                    code = error_code(got[1]) if len(got) == 2 else None
                    self.expect(name, len(got) == 2 and got[0] == b"error" and code == "bad_request",
                                "[error, bad_request]", _short(got))
                    self.check_next_good(sock, name + "/next")
        finally:
            dealer.close()

    def check_redis(self, client: Client) -> None:
        """Unparseable headers go to <queue>:dead; nothing stays in <queue>:processing."""
        from harness.clients.redisq import RedisQueueClient

        assert isinstance(client, RedisQueueClient)
        q = self.endpoint.queue
        dead_before = client.r.llen(f"{q}:dead")
        bad = [b"no newline at all", b"echo only-two\nbody", b"echo a b c d\nbody", b"\xff\xfe x y\nbody",
               b"echo  double-space\n", b"x" * 2000 + b"\n"]
        for m in bad:
            client.push_raw(m)
        self.check_next_good(client, "redis/after-dead-letters")
        deadline = time.monotonic() + 5
        while client.r.llen(f"{q}:dead") < dead_before + len(bad) and time.monotonic() < deadline:
            time.sleep(0.02)
        dead = client.r.lrange(f"{q}:dead", 0, -1)
        self.expect("redis/dead-list", all(m in dead for m in bad), f"all {len(bad)} malformed messages in {q}:dead",
                    f"{len(dead)} there: {_short(dead)}")
        processing = client.r.llen(f"{q}:processing")
        self.expect("redis/processing-empty", processing == 0, f"{q}:processing empty when idle",
                    f"{processing} left")
        ttl = client.r.ttl(client.reply_key)
        self.expect("redis/reply-key-consumed", ttl in (-2, -1) or 0 < ttl <= 60, "reply key gone or expiring",
                    f"ttl {ttl}")


    def check_celery(self, client: Client) -> None:
        """What only Celery's JSON arguments can carry: text with a lone surrogate, wrong argument counts."""
        from harness.clients.celery import CeleryClient

        assert isinstance(client, CeleryClient)
        cases: list[tuple[str, str, list[Any]]] = [
            ("celery/echo-lone-surrogate", "bench.echo", ["a\ud800b"]),
            ("celery/diff-lone-surrogate", "bench.diff", [["\udc00"], []]),
            ("celery/echo-no-argument", "bench.echo", []),
            ("celery/echo-two-arguments", "bench.echo", ["a", "b"]),
            ("celery/echo-not-text", "bench.echo", [42]),
            ("celery/diff-one-argument", "bench.diff", [["a"]]),
        ]
        for name, task, args in cases:
            try:
                value = client.task(task, args)
                self.expect(name, False, "a bad_request failure", f"SUCCESS {_short(value)}")
            except Exception as e:  # the task's failure, rebuilt by Celery
                reply = CeleryClient.error_reply(task, e)
                self.expect(name, reply.error == "bad_request", "a bad_request failure",
                            f"{type(e).__name__}: {str(e)[:120]}")
            self.check_next_good(client, name + "/next")


def check_endpoint(endpoint: Endpoint, progress: Callable[[str], None] | None = None) -> CheckResult:
    """Run every conformance check against an already running endpoint."""
    return Checker(endpoint, progress=progress).run()
