"""The protobuf messages of contract/bench.proto, generated on first use.

Generated code is a build output: it goes to .build/pb/ (git-ignored) and is regenerated
whenever bench.proto is newer than it.
"""

from __future__ import annotations

import importlib
import sys
from pathlib import Path
from types import ModuleType

from harness import REPO
from harness.errors import HarnessError

PROTO = REPO / "contract" / "bench.proto"
OUT = REPO / ".build" / "pb"


def bench_pb2() -> ModuleType:
    """The generated `bench_pb2` module (messages Blob, DiffRequest, Opcode, DiffReply)."""
    target = OUT / "bench_pb2.py"
    if not target.exists() or target.stat().st_mtime < PROTO.stat().st_mtime:
        _generate(target)
    if str(OUT) not in sys.path:
        sys.path.insert(0, str(OUT))
    return importlib.import_module("bench_pb2")


def _generate(target: Path) -> None:
    from grpc_tools import protoc

    OUT.mkdir(parents=True, exist_ok=True)
    code = protoc.main(["protoc", f"-I{PROTO.parent}", f"--python_out={OUT}", str(PROTO)])
    if code != 0 or not target.exists():
        raise HarnessError(f"could not generate Python code from {PROTO} (protoc exit {code}); "
                           "is grpcio-tools installed? run `make setup`")
