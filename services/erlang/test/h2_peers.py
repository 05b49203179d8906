"""The Erlang grpc transport against real HTTP/2 and gRPC peers.

h2spec (RFC 9113 / RFC 7541 conformance) runs against the Erlang service and, with the same
command, against the Python service's grpcio server; Erlang must pass at least as many
cases, must still be running afterwards and must answer a grpcio Echo. grpcurl (grpc-go)
calls Echo and Diff; grpc-java (test/GrpcJavaPeer.java on the Java service's shaded jar,
which `make build` builds) calls Echo up to 16 MiB, Diff and two error statuses. h2spec and
grpcurl are built into .build/bin by scripts/ensure-go-tools.sh, which this script runs when
they are missing.

Run: .venv/bin/python test/h2_peers.py  (exit status 0 when all pass)."""
from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
import time
import xml.etree.ElementTree as ET
from collections.abc import Iterator
from pathlib import Path

import grpc
from support import REPO, Checks, free_port, service, stop, wait_for

check = Checks()
BIN = REPO / ".build" / "bin"
H2SPEC_TIMEOUT_S = 900
MAX_MESSAGE = 16 * 1024 * 1024 + 64 * 1024


def ensure_tools() -> None:
    if not ((BIN / "h2spec").exists() and (BIN / "grpcurl").exists()):
        subprocess.run(["bash", str(REPO / "scripts" / "ensure-go-tools.sh")], check=True,
                       timeout=1800)


def echo(port: int, data: bytes = b"ping") -> bytes | None:
    """The data of an Echo through grpcio, or None when it fails."""
    sys.path.insert(0, str(REPO))
    from harness.clients.pb import bench_pb2

    pb = bench_pb2()
    with grpc.insecure_channel(f"127.0.0.1:{port}", options=[
            ("grpc.max_send_message_length", MAX_MESSAGE),
            ("grpc.max_receive_message_length", MAX_MESSAGE)]) as channel:
        call = channel.unary_unary("/bench.v1.Bench/Echo", request_serializer=None,
                                   response_deserializer=None)
        try:
            reply = call(pb.Blob(data=data).SerializeToString(), timeout=5)
        except grpc.RpcError:
            return None
        return bytes(pb.Blob.FromString(reply).data)


@contextlib.contextmanager
def python_service() -> Iterator[int]:
    """The Python service's grpcio server (the harness's command) on a free port."""
    port = free_port()
    folder = REPO / "services" / "python"
    with tempfile.TemporaryDirectory() as tmp:
        log = Path(tmp) / "python.log"
        with open(log, "wb") as out:
            proc = subprocess.Popen(
                [sys.executable, "-m", "bench_service", "grpc", "--host", "127.0.0.1",
                 "--port", str(port)], cwd=folder, stdout=out, stderr=subprocess.STDOUT,
                start_new_session=True, env={**os.environ, "BENCH_TEST_HOOKS": "1"})
        try:
            wait_for(lambda: echo(port) == b"ping", 30, proc, log)
            yield port
        finally:
            stop(proc)


def start_h2spec(port: int, report: Path) -> subprocess.Popen:
    return subprocess.Popen([str(BIN / "h2spec"), "-h", "127.0.0.1", "-p", str(port),
                             "-j", str(report)], stdout=subprocess.DEVNULL,
                            stderr=subprocess.DEVNULL)


# Characters XML 1.0 does not allow. h2spec writes a failed case's actual bytes into its report
# unescaped, so a peer that answered with a control byte (as a server's debug data may hold)
# makes the report unreadable (seen once in CI: "not well-formed (invalid token)").
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def h2spec_counts(report: Path) -> tuple[int, int, list[str]]:
    """(cases, passed, names of the failed) from h2spec's JUnit report."""
    text = _NOT_XML.sub("\ufffd", report.read_bytes().decode("utf-8", errors="replace"))
    try:
        cases = ET.fromstring(text.encode()).iter("testcase")
    except ET.ParseError as e:
        line = text.splitlines()[e.position[0] - 1] if e.position[0] <= len(text.splitlines()) else ""
        raise SystemExit(f"h2spec's report {report} is not XML ({e}); that line: {line[:300]!r}") from e
    total, failed = 0, []
    for case in cases:
        total += 1
        if case.find("failure") is not None or case.find("error") is not None:
            failed.append(f"{case.get('package')}: {case.get('classname')}")
        elif case.find("skipped") is not None:
            failed.append(f"{case.get('package')}: {case.get('classname')} (skipped)")
    return total, total - len(failed), failed


def grpcurl(port: int, method: str, request: dict) -> dict | None:
    out = subprocess.run(
        [str(BIN / "grpcurl"), "-plaintext", "-import-path", str(REPO / "contract"),
         "-proto", "bench.proto", "-d", json.dumps(request), f"127.0.0.1:{port}",
         f"bench.v1.Bench/{method}"], capture_output=True, text=True, timeout=30)
    if out.returncode != 0:
        print(f"  grpcurl {method}: {' '.join(out.stderr.split())}", flush=True)
        return None
    result: dict = json.loads(out.stdout)
    return result


def grpc_java(port: int) -> None:
    jar = REPO / "services" / "java" / "target" / "bench-service.jar"
    if not jar.exists() or shutil.which("java") is None:
        check(False, f"grpc-java peer: needs java and {jar} (build the Java service: make build)")
        return
    out = subprocess.run(["java", "-cp", str(jar), str(Path(__file__).parent / "GrpcJavaPeer.java"),
                          str(port)], capture_output=True, text=True, timeout=180)
    print(out.stdout + out.stderr[-2000:], end="", flush=True)
    check(out.returncode == 0 and "FAIL" not in out.stdout, "grpc-java peer: every call answered as expected")


def main() -> int:
    ensure_tools()
    with tempfile.TemporaryDirectory() as tmp, \
            service("grpc", ready=lambda p: echo(p) == b"ping") as (port, log), \
            python_service() as py_port:
        erl_report, py_report = Path(tmp) / "erlang.xml", Path(tmp) / "python.xml"
        t0 = time.monotonic()
        runs = [start_h2spec(port, erl_report), start_h2spec(py_port, py_report)]
        for proc in runs:
            try:
                proc.wait(H2SPEC_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                proc.kill()
                proc.wait()
        erl, py = h2spec_counts(erl_report), h2spec_counts(py_report)
        print(f"h2spec ({time.monotonic() - t0:.0f} s): erlang {erl[1]}/{erl[0]} passed, "
              f"grpcio (python service) {py[1]}/{py[0]} passed", flush=True)
        for name in erl[2]:
            print("  erlang fails:", name)
        check(erl[0] > 100 and erl[0] == py[0], f"h2spec ran the same cases ({erl[0]}, {py[0]})")
        check(erl[1] >= py[1], f"erlang passes {erl[1]} h2spec cases, grpcio {py[1]}")
        check(echo(port, b"after h2spec") == b"after h2spec", "a grpcio Echo after h2spec")
        check("crash" not in log.read_text().lower(), "no crash report in the service log")

        got = grpcurl(port, "Echo", {"data": "aGk="})
        check(got == {"data": "aGk="}, f"grpcurl Echo: {got}")
        got = grpcurl(port, "Diff", {"a": ["x", "y"], "b": ["x", "z"]})
        want = {"opcodes": [{"tag": "equal", "i2": 1, "j2": 1},
                            {"tag": "replace", "i1": 1, "i2": 2, "j1": 1, "j2": 2}]}
        check(got == want, f"grpcurl Diff: {got}")
        check(grpcurl(port, "Diff", {"a": ["__bench_fault__:internal"], "b": []}) is None,
              "grpcurl Diff with the internal hook fails")
        grpc_java(port)
    print(f"{check.count} checks, {len(check.failures)} failed")
    return 1 if check.failures else 0


if __name__ == "__main__":
    sys.exit(main())
