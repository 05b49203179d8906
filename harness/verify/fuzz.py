"""Fuzzing: malformed input over every service x transport (`python -m harness fuzz`).

For each cell the service is started through the Supervisor (test hooks off), inputs come
from `harness.verify.fuzzgen` (seeded, so seed + index reproduce one), each is sent and judged:

* good: answered `ok` where the input is valid (echo returns its bytes, diff returns
  difflib's opcodes), answered with an acceptable contract error (on http with the matching
  status), closed cleanly by the server (transport-level garbage), an HTTP 4xx to raw
  garbage, a malformed redis header landing in `<queue>:dead`;
* FAILURE: the service died, an answer that is neither of the above (including `internal`,
  which no input may cause with the hooks off, and any HTTP 5xx but 501/505), no answer and
  no close within the timeout, or the probe (an echo sent after every 5th input and after
  every transport-level input, on the same connection or socket) not answered correctly.
"""

from __future__ import annotations

import json
import re
import socket
import time
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, cast

from harness.clients import Reply
from harness.clients.base import error_code
from harness.contract.endpoint import Endpoint
from harness.contract.manifest import Service
from harness.contract.transports import get as get_transport
from harness.contract.transports import make_client
from harness.errors import ClientError, HarnessError
from harness.processes.supervisor import Proc, Supervisor
from harness.verify.fuzzgen import Input, generate

PROBE_EVERY = 5
RAW_TIMEOUT_S = 5.0
STALL_S = 2.0
WEDGED_AFTER = 3
_SAFE_PATH = re.compile(r"^[A-Za-z0-9._~-]*$")
_H2_FORBIDDEN = re.compile(r"[\x00\r\n]")
"""Characters no HTTP/2 field value may hold (RFC 9113 8.2.1): a gRPC method name with one is a
malformed request, which a server resets with PROTOCOL_ERROR rather than answering UNIMPLEMENTED."""


@dataclass
class CellResult:
    """Inputs tried, outcomes and failures of one service x transport."""

    service: str
    transport: str
    seed: int
    inputs: int = 0
    probes: int = 0
    seconds: float = 0.0
    outcomes: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    failures: list[dict[str, Any]] = field(default_factory=list)
    error: str | None = None

    @property
    def ok(self) -> bool:
        """True when the cell ran and nothing failed."""
        return self.error is None and not self.failures

    def to_json(self) -> dict[str, Any]:
        """The cell as it goes into summary.json."""
        return {"service": self.service, "transport": self.transport, "seed": self.seed, "inputs": self.inputs,
                "probes": self.probes, "seconds": round(self.seconds, 2), "outcomes": dict(self.outcomes),
                "categories": dict(self.categories), "failures": self.failures, "error": self.error}


class _Fail(Exception):
    """An input's answer that is a failure; the message says what came back."""


class CellFuzzer:
    """Sends the inputs of one running endpoint and judges each."""

    def __init__(self, endpoint: Endpoint, proc: Proc, seed: int, timeout_s: float = 10.0) -> None:
        self.ep = endpoint
        self.proc = proc
        self.seed = seed
        self.timeout_s = timeout_s
        self.result = CellResult(endpoint.service, endpoint.transport, seed)
        self.client: Any = make_client(endpoint, timeout_s=timeout_s)  # each transport's own client
        self.dealer: Any = make_client(endpoint, timeout_s=timeout_s, variant="dealer") \
            if endpoint.transport == "zmq" else None
        self.stalls: list[tuple[socket.socket, float]] = []
        self.dead_expected = 0
        self.probes_failed_in_a_row = 0
        if endpoint.transport == "redis":
            self.dead_key = f"{endpoint.queue}:dead"
            self.dead_before = int(cast(Any, self.client).r.llen(self.dead_key))  # a RedisQueueClient

    # -- driving ------------------------------------------------------------------------------

    def run(self, indices: list[int], progress: Callable[[str], None] | None = None) -> CellResult:
        """Send every input of `indices`, probing as it goes; stops early only if the service dies."""
        start = time.monotonic()
        last_report = start
        try:
            for n, i in enumerate(indices):
                inp = generate(self.seed, self.ep.transport, i)
                self.result.inputs += 1
                self.result.categories[inp.category] += 1
                sender = self.client
                try:
                    outcome, sender = self.send(inp)
                    self.result.outcomes[outcome] += 1
                except _Fail as e:
                    self.result.outcomes["FAIL"] += 1
                    self.fail(inp, str(e))
                except (OSError, ClientError) as e:  # e.g. a connection refused: the service is in trouble
                    self.result.outcomes["FAIL"] += 1
                    self.fail(inp, f"{type(e).__name__}: {e}")
                self._expire_stalls()
                if not self.proc.alive():
                    self.fail(inp, f"the service process exited (code {self.proc.popen.returncode}); "
                                   f"log: {self.proc.log_path}")
                    break
                if inp.kind != "op" or n % PROBE_EVERY == PROBE_EVERY - 1 or n == len(indices) - 1:
                    self.probe(inp, sender)
                    if self.probes_failed_in_a_row >= WEDGED_AFTER:
                        self.fail(inp, f"the service stopped answering ({WEDGED_AFTER} probes in a row failed): "
                                       f"cell stopped after {n + 1} inputs; log: {self.proc.log_path}")
                        break
                if progress and time.monotonic() - last_report > 10:
                    last_report = time.monotonic()
                    progress(f"{n + 1}/{len(indices)} inputs, {len(self.result.failures)} failures")
            self._expire_stalls(force=True)
            if self.proc.alive():
                self.final_checks()
        finally:
            self._expire_stalls(force=True)
            self.client.close()
            if self.dealer is not None:
                self.dealer.close()
        self.result.seconds = time.monotonic() - start
        return self.result

    def fail(self, inp: Input, detail: str) -> None:
        """Record a failure with its reproducer."""
        self.result.failures.append({"seed": self.seed, "index": inp.index, "category": inp.category,
                                     "input": inp.head(), "detail": detail[:500]})

    def probe(self, after: Input, client: Any) -> None:
        """An echo on the connection that carried the input must come back intact."""
        self.result.probes += 1
        body = f"probe after {after.index}".encode()
        try:
            reply = client.call("echo", body)
            if not (reply.ok and reply.body == body):
                raise _Fail(f"ok={reply.ok} error={reply.error} body={reply.body[:80]!r}")
        except (ClientError, _Fail) as e:
            client.close()
            self.fail(after, f"the probe echo after this input was not answered correctly: {e}")
            self.probes_failed_in_a_row += 1
            return
        self.probes_failed_in_a_row = 0
        if self.dead_expected:
            self._check_dead()

    def send(self, inp: Input) -> tuple[str, Any]:
        """Send one input; return its (good) outcome and the client a probe should use."""
        kind = inp.kind
        if kind == "op":
            if self.ep.transport == "redis" and not _header_ok(inp.op):
                return self._redis_raw(inp.op.encode("utf-8", "surrogatepass") + b" 1 k\n" + inp.body), self.client
            return self._op(inp), self.client
        if kind in ("http_raw", "zmtp_raw"):
            return self._raw(inp), self.client
        if kind in ("http_stall", "zmtp_stall"):
            self._stall(inp.body)
            return "stalled", self.client
        if kind == "zmq_frames":
            client = self.dealer if (not inp.frames or inp.index % 2 == 0) else self.client
            return self._frames(inp, client), client
        if kind == "redis_raw":
            return self._redis_raw(inp.body), self.client
        if kind == "grpc_raw":
            return self._grpc_raw(inp), self.client
        if kind == "h2_raw":
            return self._h2_raw(inp), self.client
        if kind == "celery_task":
            return self._celery(inp), self.client
        raise ValueError(f"unknown input kind {kind}")

    # -- op-level -----------------------------------------------------------------------------

    def _op(self, inp: Input) -> str:
        try:
            reply: Reply = self.client.call(inp.op, inp.body)
        except ClientError as e:
            if type(e).__name__ == "NotExpressible":
                return "not_expressible"
            self.client.close()
            raise _Fail(f"no answer: {e}") from e
        except Exception:  # a request the client library refuses to build (e.g. a grpc method name)
            if self.ep.transport in ("grpc", "celery"):
                return "not_expressible"
            raise
        return self._judge(inp, reply)

    def _judge(self, inp: Input, reply: Reply) -> str:
        accept = inp.accept
        lenient_http = self.ep.transport == "http" and inp.category == "unknown_op" and not _SAFE_PATH.match(inp.op)
        if reply.ok:
            if "ok" not in accept and not lenient_http:
                raise _Fail(f"answered ok, expected {'/'.join(accept)}: {reply.body[:80]!r}")
            if inp.echo and reply.body != inp.body:
                raise _Fail(f"echo returned {len(reply.body)} bytes, not the {len(inp.body)} sent: {reply.body[:40]!r}")
            if inp.opcodes is not None and inp.op == "diff":
                try:
                    got = reply.diff_opcodes()
                except ValueError as e:
                    raise _Fail(f"diff reply is not opcodes: {e}") from e
                if got not in inp.opcodes:
                    raise _Fail(f"wrong opcodes {str(got)[:200]}; expected {str(inp.opcodes[0])[:200]}")
            return "ok"
        code = reply.error or "?"
        if (self.ep.transport == "grpc" and inp.category == "unknown_op" and _H2_FORBIDDEN.search(inp.op)
                and "RST_STREAM with error code 1" in reply.error_message()):
            return "rst_stream"
        if lenient_http and (code in ("bad_request", "unknown_op") or
                             (isinstance(reply.status, int) and 400 <= reply.status < 500)):
            return f"error:{code}" if code in ("bad_request", "unknown_op") else f"http_{reply.status}"
        if code not in accept:
            raise _Fail(f"answered error {code!r} (status {reply.status}), expected {'/'.join(accept)}: "
                        f"{reply.body[:120]!r}")
        statuses = get_transport(self.ep.transport).statuses
        if statuses and reply.status != statuses.get(code):
            raise _Fail(f"error {code} with {self.ep.transport} status {reply.status}, the contract says "
                        f"{statuses.get(code)}")
        return f"error:{code}"

    # -- raw sockets --------------------------------------------------------------------------

    def _raw(self, inp: Input) -> str:
        data, closed = raw_exchange(self.ep.host, self.ep.port, inp.body, RAW_TIMEOUT_S)
        if self.ep.transport == "zmq":
            if closed:
                return "closed"
            raise _Fail(f"the server neither closed the connection nor went on within {RAW_TIMEOUT_S:.0f} s "
                        f"after the client's EOF (received {data[:40]!r})")
        if data.startswith(b"HTTP/1."):
            statuses = [int(s) for s in re.findall(rb"HTTP/1\.[01] (\d{3})", data)]
            bad = [s for s in statuses if s >= 500 and s not in (501, 505)]
            if bad:
                raise _Fail(f"answered HTTP {bad[0]}: {data[:160]!r}")
            return f"http_{statuses[0] // 100}xx" if statuses else "http_other"
        if data:
            if inp.category == "http_09":
                return "http09_reply"
            raise _Fail(f"answered something that is not HTTP: {data[:80]!r}")
        if closed:
            return "closed"
        raise _Fail(f"neither answered nor closed within {RAW_TIMEOUT_S:.0f} s after the client's EOF")

    def _stall(self, data: bytes) -> None:
        sock = socket.create_connection((self.ep.host, self.ep.port), timeout=self.timeout_s)
        try:
            sock.sendall(data)
        except OSError:
            sock.close()
            return
        self.stalls.append((sock, time.monotonic() + STALL_S))

    def _expire_stalls(self, force: bool = False) -> None:
        now = time.monotonic()
        keep = []
        for sock, deadline in self.stalls:
            if force or now >= deadline:
                sock.close()
            else:
                keep.append((sock, deadline))
        self.stalls = keep

    # -- zmq frames ---------------------------------------------------------------------------

    def _frames(self, inp: Input, client: Any) -> str:
        try:
            got = client.send_frames(inp.frames)
        except ClientError as e:
            raise _Fail(f"no answer: {e}") from e
        if len(got) != 2:
            raise _Fail(f"reply of {len(got)} frames: {[f[:40] for f in got[:3]]}")
        status, body = got
        if status == b"ok" and "ok" in inp.accept:
            if inp.echo and body != inp.frames[1]:
                raise _Fail("echo returned other bytes")
            return "ok"
        if status == b"error":
            code = error_code(body)
            if code in inp.accept:
                return f"error:{code}"
        raise _Fail(f"answered [{status[:20]!r}, {body[:100]!r}], expected {'/'.join(inp.accept)}")

    # -- redis --------------------------------------------------------------------------------

    def _redis_raw(self, message: bytes) -> str:
        self.client.push_raw(message)
        self.dead_expected += 1
        return "dead_letter"

    def _check_dead(self) -> None:
        want = self.dead_before + self.dead_expected
        deadline = time.monotonic() + 5
        have = int(self.client.r.llen(self.dead_key))
        while have < want and time.monotonic() < deadline:
            time.sleep(0.01)
            have = int(self.client.r.llen(self.dead_key))
        if have < want:
            self.result.failures.append({"seed": self.seed, "index": -1, "category": "redis_dead_list",
                                         "input": "", "detail": f"{self.dead_key} holds {have - self.dead_before} "
                                         f"malformed messages, {self.dead_expected} were pushed"})
        self.dead_before, self.dead_expected = have, 0

    def final_checks(self) -> None:
        """Transport invariants at the end of a cell (redis: nothing left in processing)."""
        if self.ep.transport == "redis":
            self._check_dead()
            left = int(self.client.r.llen(f"{self.ep.queue}:processing"))
            if left:
                self.result.failures.append({"seed": self.seed, "index": -1, "category": "redis_processing",
                                             "input": "", "detail": f"{left} messages left in :processing"})

    # -- grpc ---------------------------------------------------------------------------------

    def _grpc_raw(self, inp: Input) -> str:
        import grpc

        pb = self.client.pb
        expect_ok: Any = None
        if inp.op == "Echo":
            try:
                expect_ok = pb.Blob.FromString(inp.body).data
            except Exception:
                expect_ok = None
        elif inp.op == "Diff":
            try:
                req = pb.DiffRequest.FromString(inp.body)
                expect_ok = [list(o) for o in _difflib_opcodes(list(req.a), list(req.b))]
            except Exception:
                expect_ok = None
        try:
            data = self.client.raw(inp.op, inp.body)
        except grpc.RpcError as e:
            code = e.code()
            if code in (grpc.StatusCode.DEADLINE_EXCEEDED, grpc.StatusCode.UNAVAILABLE):
                raise _Fail(f"no answer: {code.name}: {e.details()}") from e
            name = self.client.contract_code(code)
            allowed = inp.accept or (("bad_request",) if expect_ok is None else ("ok",))
            if name in allowed:
                return f"error:{name}"
            raise _Fail(f"status {code.name} ({e.details()!r}), expected {'/'.join(allowed)}") from e
        except Exception:
            return "not_expressible"
        if inp.accept and "ok" not in inp.accept:
            raise _Fail(f"answered OK, expected {'/'.join(inp.accept)}")
        if expect_ok is None:
            raise _Fail("answered OK to a payload that is not a valid protobuf message of the request type")
        if inp.op == "Echo":
            got: Any = pb.Blob.FromString(data).data
        else:
            got = [[o.tag, o.i1, o.i2, o.j1, o.j2] for o in pb.DiffReply.FromString(data).opcodes]
        if got != expect_ok:
            raise _Fail(f"answered {str(got)[:120]}, expected {str(expect_ok)[:120]}")
        return "ok"

    def _h2_raw(self, inp: Input) -> str:
        """Malformed HTTP/2 on a fresh connection: answered with GOAWAY or RST_STREAM, or closed; a
        fresh grpcio client's Echo then succeeds."""
        data, closed = raw_exchange(self.ep.host, self.ep.port, inp.body, RAW_TIMEOUT_S)
        types = _h2_frame_types(data)
        if 7 in types:
            outcome = "goaway"
        elif 3 in types:
            outcome = "rst_stream"
        elif closed:
            outcome = "closed"
        else:
            raise _Fail(f"neither GOAWAY, RST_STREAM nor a close within {RAW_TIMEOUT_S:.0f} s "
                        f"(frame types {types[:10]})")
        fresh = make_client(self.ep, timeout_s=self.timeout_s)
        try:
            reply = fresh.call("echo", b"after h2")
        except ClientError as e:
            raise _Fail(f"a fresh client's Echo afterwards failed: {e}") from e
        finally:
            fresh.close()
        if not (reply.ok and reply.body == b"after h2"):
            raise _Fail(f"a fresh client's Echo afterwards: ok={reply.ok} error={reply.error}")
        return outcome

    # -- celery -------------------------------------------------------------------------------

    def _celery(self, inp: Input) -> str:
        from celery.exceptions import TimeoutError as CeleryTimeout

        from harness.clients.celery import CeleryClient

        try:
            res = self.client.app.send_task(inp.method, args=inp.args, queue=self.ep.queue)
        except Exception:
            return "not_expressible"
        try:
            value = res.get(timeout=self.timeout_s, propagate=True)
        except CeleryTimeout as e:
            raise _Fail(f"no result within {self.timeout_s:.0f} s") from e
        except Exception as e:
            reply = CeleryClient.error_reply(inp.method, e)
            if "failure" in inp.accept or reply.error in inp.accept:
                return f"error:{reply.error}"
            raise _Fail(f"failed with {reply.status}: {str(e)[:160]}, expected {'/'.join(inp.accept)}") from e
        finally:
            res.forget()
        if "ok" in inp.accept and value == inp.args[0]:
            return "ok"
        raise _Fail(f"succeeded with {str(value)[:80]!r}, expected {'/'.join(inp.accept)}")


def _difflib_opcodes(a: list[str], b: list[str]) -> list[list[Any]]:
    import difflib

    return [list(o) for o in difflib.SequenceMatcher(None, a, b).get_opcodes()]


def _h2_frame_types(data: bytes) -> list[int]:
    """The types of the complete HTTP/2 frames at the start of `data` (a server sends no preface)."""
    types, pos = [], 0
    while pos + 9 <= len(data):
        length = int.from_bytes(data[pos:pos + 3], "big")
        if pos + 9 + length > len(data):
            break
        types.append(data[pos + 3])
        pos += 9 + length
    return types


def _header_ok(op: str) -> bool:
    """Whether `<op> <id> <key>` is a header the redis transport can parse."""
    try:
        op.encode("ascii")
    except UnicodeEncodeError:
        return False
    return bool(op) and " " not in op and "\n" not in op and len(op) < 900


def raw_exchange(host: str, port: int, data: bytes, timeout_s: float) -> tuple[bytes, bool]:
    """Send `data` on a new TCP connection, half-close, read until EOF or `timeout_s`.

    Returns what was received and whether the server closed (EOF or reset) in time.
    """
    sock = socket.create_connection((host, port), timeout=timeout_s)
    got = bytearray()
    deadline = time.monotonic() + timeout_s
    try:
        try:
            sock.sendall(data)
            sock.shutdown(socket.SHUT_WR)
        except TimeoutError:
            return bytes(got), False
        except OSError:
            pass  # the server closed early (reset, broken pipe, not connected): read what it said
        while True:
            left = deadline - time.monotonic()
            if left <= 0:
                return bytes(got), False
            sock.settimeout(left)
            try:
                chunk = sock.recv(65536)
            except TimeoutError:
                return bytes(got), False
            except OSError:
                return bytes(got), True  # reset
            if not chunk:
                return bytes(got), True
            got += chunk
            if len(got) > 1 << 20:
                return bytes(got), True
    finally:
        sock.close()


def fuzz_cell(sup: Supervisor, svc: Service, transport: str, n: int, seed: int,
              indices: list[int] | None = None, progress: Callable[[str], None] | None = None) -> CellResult:
    """Start `svc`'s `transport`, send `n` inputs (or just `indices`), stop it; the cell's result."""
    try:
        proc, endpoint = sup.start(svc, transport)
    except HarnessError as e:
        return CellResult(svc.name, transport, seed, error=str(e))
    try:
        return CellFuzzer(endpoint, proc, seed).run(indices if indices is not None else list(range(n)), progress)
    finally:
        sup.stop(proc)


def format_cell(r: CellResult) -> str:
    """The lines printed for one cell."""
    if r.error:
        return f"{r.service}/{r.transport}: ERROR {r.error}"
    outcomes = ", ".join(f"{k} {v}" for k, v in sorted(r.outcomes.items()))
    lines = [f"{r.service}/{r.transport}: {r.inputs} inputs, {r.probes} probes, {r.seconds:.1f} s; "
             f"{len(r.failures)} failures; {outcomes}"]
    for f in r.failures[:30]:
        lines.append(f"  FAIL seed {f['seed']} index {f['index']} [{f['category']}] {f['input']}\n"
                     f"       -> {f['detail']}\n"
                     f"       reproduce: python -m harness fuzz {r.service} -t {r.transport} --seed {f['seed']} "
                     f"--index {f['index']}")
    if len(r.failures) > 30:
        lines.append(f"  ... and {len(r.failures) - 30} more (summary.json has them all)")
    return "\n".join(lines)


def write_summary(out: Path, results: list[CellResult], args: dict[str, Any]) -> Path:
    """results/fuzz-<time>/summary.json."""
    out.mkdir(parents=True, exist_ok=True)
    path = out / "summary.json"
    doc = {"args": args, "ok": all(r.ok for r in results), "cells": [r.to_json() for r in results]}
    path.write_text(json.dumps(doc, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path
