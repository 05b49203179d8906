"""gRPC client of `bench.v1.Bench` (contract/bench.proto).

Requests are serialized by hand so the client can send what the contract calls `op`
generically: an unknown op becomes a call of a method the service does not have.
Under gevent call `grpc.experimental.gevent.init_gevent()` first (the locustfile does).
"""

from __future__ import annotations

import json
from typing import Any

import grpc

from harness.clients.base import Reply
from harness.clients.pb import bench_pb2
from harness.errors import ClientError

MAX_MESSAGE = 16 * 1024 * 1024 + 64 * 1024



def contract_codes(statuses: dict[str, int | str]) -> dict[grpc.StatusCode, str]:
    """gRPC status -> contract error code, from the registry's contract error code -> status name."""
    return {getattr(grpc.StatusCode, str(status)): code for code, status in statuses.items()}


class NotExpressible(ClientError):
    """A request the transport cannot carry (e.g. a diff body that is not JSON, over gRPC)."""


class GrpcClient:
    """One channel to a service's grpc transport."""

    def __init__(self, host: str, port: int, timeout_s: float = 10.0,
                 statuses: dict[str, int | str] | None = None) -> None:
        self.pb = bench_pb2()
        self.codes = contract_codes(statuses or {})
        self.timeout_s = timeout_s
        self.target = f"{host}:{port}"
        self.channel = grpc.insecure_channel(self.target, options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE),
        ])
        self._methods: dict[str, Any] = {}

    def _method(self, name: str) -> Any:
        m = self._methods.get(name)
        if m is None:
            m = self.channel.unary_unary(f"/bench.v1.Bench/{name}", request_serializer=None,
                                         response_deserializer=None)
            self._methods[name] = m
        return m

    def raw(self, method: str, payload: bytes) -> bytes:
        """Call `method` with an already serialized request; return the serialized reply."""
        data: bytes = self._method(method)(payload, timeout=self.timeout_s)
        return data

    def call(self, op: str, body: bytes) -> Reply:
        """Echo/Diff by their contract names; any other op calls a method of that name."""
        pb = self.pb
        if op == "echo":
            method, payload = "Echo", pb.Blob(data=body).SerializeToString()
        elif op == "diff":
            method, payload = "Diff", self.diff_request(body)
        elif op == "health":
            method, payload = "Echo", pb.Blob(data=b"").SerializeToString()
        else:
            method, payload = op[:1].upper() + op[1:], b""
        try:
            data = self.raw(method, payload)
        except grpc.RpcError as e:
            code = e.code()
            if code == grpc.StatusCode.DEADLINE_EXCEEDED or code == grpc.StatusCode.UNAVAILABLE:
                raise ClientError(f"grpc: {self.target} {method}: {code.name}: {e.details()}") from e
            details = e.details() or ""
            err = json.dumps({"error": self.codes.get(code, code.name), "message": details}).encode()
            return Reply(ok=False, body=err, error=self.contract_code(code), status=code.name)
        if method == "Echo":
            return Reply(ok=True, body=pb.Blob.FromString(data).data, status="OK")
        reply = pb.DiffReply.FromString(data)
        ops = [[o.tag, o.i1, o.i2, o.j1, o.j2] for o in reply.opcodes]
        return Reply(ok=True, opcodes=ops, status="OK")

    def contract_code(self, status: grpc.StatusCode) -> str:
        """The contract's error code for a gRPC status (CONTRACT.md's table), or `grpc_<NAME>` for any other."""
        return self.codes.get(status, f"grpc_{status.name}")

    def diff_request(self, body: bytes) -> bytes:
        """The DiffRequest for a JSON diff body, or NotExpressible when gRPC cannot carry it."""
        try:
            doc = json.loads(body)
        except ValueError as e:
            raise NotExpressible("grpc: the body is not JSON; gRPC carries only well-typed requests") from e
        if not isinstance(doc, dict):
            raise NotExpressible("grpc: the body is not a JSON object")
        try:
            data: bytes = self.pb.DiffRequest(a=doc["a"], b=doc["b"]).SerializeToString()
            return data
        except (KeyError, TypeError, ValueError) as e:
            raise NotExpressible(f"grpc: DiffRequest cannot hold this body: {e}") from e

    def ready(self) -> bool:
        """True when an empty Echo answers."""
        return self.call("health", b"").ok

    def close(self) -> None:
        """Close the channel."""
        self.channel.close()
