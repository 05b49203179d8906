"""Manifest parsing and validation."""

from __future__ import annotations

from pathlib import Path

import pytest

from harness.contract.manifest import discover, fill, load_manifest, select
from harness.contract.transports import TRANSPORTS
from harness.errors import ManifestError

GOOD = """
name = "demo"
language = "Demo"
build = ["make"]
warmup_s = 3
[transports.http]
command = "./demo http --host {host} --port {port}"
[transports.redis]
command = "./demo redis --redis-url {redis_url} --queue {queue}"
[unsupported]
grpc = "no HTTP/2 stack"
"""


def write(tmp_path: Path, text: str, folder: str = "demo") -> Path:
    path = tmp_path / "services" / folder / "service.toml"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text)
    return path


def test_good_manifest(tmp_path: Path) -> None:
    svc = load_manifest(write(tmp_path, GOOD))
    assert svc.name == "demo" and svc.language == "Demo"
    assert svc.transports == ["http", "redis"]
    assert svc.build == ["make"] and svc.warmup_s == 3.0
    assert svc.gap("grpc") == "no HTTP/2 stack"
    assert svc.gap("zmq") == "not listed in the manifest"
    assert svc.gap("http") is None


@pytest.mark.parametrize("text, message", [
    (GOOD.replace('name = "demo"', 'name = "other"'), "must equal the folder name"),
    (GOOD.replace('language = "Demo"\n', ""), "'language' is required"),
    (GOOD.replace("[transports.redis]", "[transports.carrier-pigeon]"), "unknown transport 'carrier-pigeon'"),
    (GOOD.replace("{queue}", "{queue_name}"), "uses {queue_name}"),
    (GOOD.replace('grpc = "no HTTP/2 stack"', 'http = "why"'), "both served and listed"),
    (GOOD.replace('build = ["make"]', 'build = "make"'), "'build' must be a list of strings"),
    ("flavour = 'blue'\n" + GOOD, "unknown keys ['flavour']"),
    ("colour = 'blue'\n" + GOOD, "give a hex colour"),
    ("role = 'judge'\n" + GOOD, "role = 'judge'"),
    ("name = [", "not valid TOML"),
    ('name = "demo"\nlanguage = "Demo"\n', "no [transports.<name>] table"),
])
def test_bad_manifests_say_what_to_fix(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ManifestError) as e:
        load_manifest(write(tmp_path, text))
    assert message in str(e.value)


def test_fill_leaves_other_braces_alone() -> None:
    cmd = "erl -eval '{ok, _} = application:ensure_all_started(bench)' -port {port} {host}"
    assert fill(cmd, {"port": "1234", "host": "127.0.0.1"}) == (
        "erl -eval '{ok, _} = application:ensure_all_started(bench)' -port 1234 127.0.0.1")


def test_discover_and_select(tmp_path: Path) -> None:
    write(tmp_path, GOOD)
    write(tmp_path, GOOD.replace('name = "demo"', 'name = "second"'), folder="second")
    found = discover(tmp_path)
    assert list(found) == ["demo", "second"]
    assert [s.name for s in select(["second"], tmp_path)] == ["second"]
    with pytest.raises(ManifestError, match="unknown service.*available: demo, second"):
        select(["nope"], tmp_path)


def test_repository_manifests_are_valid() -> None:
    found = discover()
    assert "python" in found
    for svc in found.values():
        for t in TRANSPORTS:
            # Every transport is either served or a gap with a reason: never hidden.
            assert (t in svc.commands) != (svc.gap(t) is not None)
        # What meta.json and the report take from a manifest is there (a table placed too early swallows keys).
        assert svc.runtime_version and svc.colour, svc.name


def test_a_caller_may_warm_some_transports_longer(tmp_path: Path) -> None:
    text = GOOD + '\n[caller]\ncommand = "./demo caller {master_host} {master_port}"\nwarmup_s = 2\n' \
        'transport_warmup_s = { redis = 6 }\n'
    caller = load_manifest(write(tmp_path, text)).caller
    assert caller is not None
    assert caller.warmup_for("redis") == 6.0 and caller.warmup_for("http") == 2.0
    for bad, says in [("{ smoke = 1 }", "unknown transports"), ("{ redis = -1 }", "seconds >= 0"),
                      ('"six"', "maps a transport")]:
        with pytest.raises(ManifestError, match=says):
            load_manifest(write(tmp_path, text.replace("{ redis = 6 }", bad)))


def test_a_callers_cells_get_its_transports_warmup(tmp_path: Path) -> None:
    from harness import REPO
    from harness.run.runner import Runner
    from harness.run.scenario import cell_specs, load_scenario

    text = GOOD + '\n[caller]\ncommand = "./demo caller {master_host} {master_port}"\nwarmup_s = 2\n' \
        'transports = ["http", "redis"]\ntransport_warmup_s = { redis = 6 }\n'
    demo = load_manifest(write(tmp_path, text))
    sc = load_scenario(REPO / "scenarios" / "quick.toml")
    runner = Runner(sc, tmp_path / "out")
    runner.callers = {"demo": demo}
    for transport, want in [("http", 2.0), ("redis", 6.0)]:
        specs = runner._caller_specs(cell_specs(sc, transport, sc.warmup_s), transport)
        assert specs and all(s.caller == "demo" for s in specs)
        assert {s.plan.phases[0].duration_s for s in specs} == {max(want, sc.warmup_s)}


def test_without_the_harness_caller_the_service_warmup_goes_to_the_first_cell(tmp_path: Path) -> None:
    from harness import REPO
    from harness.run.runner import Runner
    from harness.run.scenario import cell_specs, load_scenario

    text = GOOD + '\n[caller]\ncommand = "./demo caller {master_host} {master_port}"\nwarmup_s = 1\n'
    demo = load_manifest(write(tmp_path, text))
    sc = load_scenario(REPO / "scenarios" / "quick.toml")
    runner = Runner(sc, tmp_path / "out")
    runner.callers = {"demo": demo}  # no "python": nothing else warms the service up
    specs = runner._caller_specs(cell_specs(sc, "http", 7.0), "http")
    assert [s.plan.phases[0].duration_s for s in specs][:2] == [7.0, 1.0]


def test_a_caller_may_have_more_environment_in_one_transports_cells(tmp_path: Path) -> None:
    text = GOOD + '\n[caller]\ncommand = "./demo caller {master_host} {master_port}"\n' \
        '[caller.transport_env.redis]\nJIT = "fast"\n'
    caller = load_manifest(write(tmp_path, text)).caller
    assert caller is not None
    assert caller.env_for("redis") == {"JIT": "fast"} and caller.env_for("http") == {}
    with pytest.raises(ManifestError, match="unknown transports"):
        load_manifest(write(tmp_path, text.replace("transport_env.redis", "transport_env.smoke")))
    with pytest.raises(ManifestError, match="each a string"):
        load_manifest(write(tmp_path, text.replace('"fast"', "1")))


def test_a_resident_caller_gets_each_masters_port_on_stdin_not_in_its_command(tmp_path: Path) -> None:
    text = GOOD + '\n[caller]\ncommand = "./demo caller {master_host} {master_port}"\n' \
        'resident_command = "./demo caller {master_host} --master-port stdin"\n'
    caller = load_manifest(write(tmp_path, text)).caller
    assert caller is not None and caller.resident_command == "./demo caller {master_host} --master-port stdin"
    plain = load_manifest(write(tmp_path, GOOD + '\n[caller]\ncommand = "./c {master_port}"\n')).caller
    assert plain is not None and plain.resident_command == ""
    for bad, says in [('"./demo caller {master_port}"', "uses {master_port}; it is started once"),
                      ('"./demo {port}"', "uses {port}"), ("3", "must be a string")]:
        with pytest.raises(ManifestError, match=says):
            load_manifest(write(tmp_path, text.replace('"./demo caller {master_host} --master-port stdin"', bad)))
