"""Manifest discovery and validation: services/*/service.toml (and the floors' harness/floor/**/service.toml).

Nothing here names a language: a service is whatever folder has a valid manifest, and
everything the harness needs to know about it (commands, colours, system packages, clean
steps, versions for meta.json) comes from that manifest (contract/CONTRACT.md, "The service
manifest").
"""

from __future__ import annotations

import re
import shutil
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from harness import REPO
from harness.contract.transports import TRANSPORTS
from harness.errors import ManifestError

PLACEHOLDERS = ("host", "port", "redis_url", "queue", "python", "repo")
"""What the harness fills into manifest commands; `{python}` is the harness's own interpreter."""
CALLER_PLACEHOLDERS = ("master_host", "master_port", "python", "repo")
"""What the harness fills into a caller's command (contract/LOADGEN.md, "Starting a generator")."""
_KNOWN_KEYS = {"name", "language", "build", "test", "requires", "warmup_s", "runtime_version",
               "env", "transports", "unsupported", "role", "colour", "reference", "setup", "clean", "system",
               "versions", "caller"}
ROLES = ("service", "floor")
"""service: a language service of the matrix; floor: a responder that does no work (each transport's floor)."""
FLOORS = REPO / "harness" / "floor"
_COLOUR = re.compile(r"^#[0-9a-fA-F]{6}$")


@dataclass(frozen=True)
class Caller:
    """A service's load generator in its own language: a Locust worker (contract/LOADGEN.md)."""

    command: str
    requires: list[str] = field(default_factory=list)
    warmup_s: float = 0.0
    transports: list[str] = field(default_factory=list)
    transport_warmup_s: dict[str, float] = field(default_factory=dict)
    transport_env: dict[str, dict[str, str]] = field(default_factory=dict)
    resident_command: str = ""
    """A command that serves every cell of a run from one process, each master's port on a line of
    its standard input (contract/LOADGEN.md, "A resident caller"); empty: `command` per cell."""

    def env_for(self, transport: str) -> dict[str, str]:
        """More environment of this caller's process in cells over `transport` (e.g. JIT flags)."""
        return dict(self.transport_env.get(transport, {}))

    def warmup_for(self, transport: str) -> float:
        """The least warm-up of this caller's cells over `transport` (a JIT warms some clients slower)."""
        return self.transport_warmup_s.get(transport, self.warmup_s)

    def missing_programs(self) -> list[str]:
        """Programs the caller requires that are not on PATH."""
        return [p for p in self.requires if shutil.which(p) is None]


@dataclass(frozen=True)
class Service:
    """One language service, as its manifest describes it."""

    name: str
    language: str
    folder: Path
    build: list[str]
    test: list[str]
    requires: list[str]
    warmup_s: float
    runtime_version: str
    env: dict[str, str]
    commands: dict[str, str]
    unsupported: dict[str, str] = field(default_factory=dict)
    role: str = "service"
    colour: str = ""
    reference: bool = False
    setup: list[str] = field(default_factory=list)
    clean: list[str] = field(default_factory=list)
    system: dict[str, str] = field(default_factory=dict)
    versions: dict[str, str] = field(default_factory=dict)
    caller: Caller | None = None

    @property
    def transports(self) -> list[str]:
        """Transports served, in contract order."""
        return [t for t in TRANSPORTS if t in self.commands]

    def gap(self, transport: str) -> str | None:
        """Why `transport` is not served, or None when it is."""
        if transport in self.commands:
            return None
        return self.unsupported.get(transport, "not listed in the manifest")

    def missing_programs(self) -> list[str]:
        """Programs the manifest requires that are not on PATH."""
        return [p for p in self.requires if shutil.which(p) is None]


def _str_list(data: dict[str, Any], key: str, path: Path) -> list[str]:
    value = data.get(key, [])
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ManifestError(f"{path}: '{key}' must be a list of strings, e.g. {key} = [\"make\"]")
    return list(value)


def load_manifest(path: Path) -> Service:
    """Parse and validate one service.toml; raise ManifestError saying how to fix it."""
    try:
        data = tomllib.loads(path.read_text(encoding="utf-8"))
    except tomllib.TOMLDecodeError as e:
        raise ManifestError(f"{path}: not valid TOML ({e}); fix the syntax and run "
                            "`python -m harness services` again") from e
    unknown = set(data) - _KNOWN_KEYS
    if unknown:
        raise ManifestError(f"{path}: unknown keys {sorted(unknown)}; known keys are {sorted(_KNOWN_KEYS)}")
    for key in ("name", "language"):
        if not isinstance(data.get(key), str) or not data[key]:
            raise ManifestError(f"{path}: '{key}' is required and must be a non-empty string")
    name = data["name"]
    role = data.get("role", "service")
    if role not in ROLES:
        raise ManifestError(f"{path}: role = {role!r}; it is one of {', '.join(ROLES)} (default service)")
    if role == "service" and name != path.parent.name:
        raise ManifestError(f"{path}: name = {name!r} must equal the folder name {path.parent.name!r}")
    transports = data.get("transports", {})
    if not isinstance(transports, dict) or not transports:
        raise ManifestError(f"{path}: no [transports.<name>] table; a service serves at least one of "
                            f"{', '.join(TRANSPORTS)}")
    commands: dict[str, str] = {}
    for t, table in transports.items():
        if t not in TRANSPORTS:
            raise ManifestError(f"{path}: unknown transport {t!r}; the contract's transports are "
                                f"{', '.join(TRANSPORTS)}")
        if not isinstance(table, dict) or not isinstance(table.get("command"), str):
            raise ManifestError(f"{path}: [transports.{t}] needs command = \"...\"")
        _check_placeholders(path, t, table["command"])
        commands[t] = table["command"]
    unsupported = data.get("unsupported", {})
    if not isinstance(unsupported, dict) or not all(isinstance(v, str) and v for v in unsupported.values()):
        raise ManifestError(f"{path}: [unsupported] maps a transport to its reason, e.g. grpc = \"no HTTP/2\"")
    both = set(unsupported) & set(commands)
    if both:
        raise ManifestError(f"{path}: {sorted(both)} both served and listed under [unsupported]; keep one")
    bad = set(unsupported) - set(TRANSPORTS)
    if bad:
        raise ManifestError(f"{path}: [unsupported] names unknown transports {sorted(bad)}")
    env = data.get("env", {})
    if not isinstance(env, dict) or not all(isinstance(v, str) for v in env.values()):
        raise ManifestError(f"{path}: [env] maps variable names to string values")
    warmup = data.get("warmup_s", 1)
    if not isinstance(warmup, int | float) or warmup < 0:
        raise ManifestError(f"{path}: warmup_s must be a number of seconds >= 0")
    colour = data.get("colour", "")
    if colour and not (isinstance(colour, str) and _COLOUR.match(colour)):
        raise ManifestError(f"{path}: colour = {colour!r}; give a hex colour such as \"#3572A5\"")
    system = _str_table(data, "system", path, "a program (or a path pattern) to the Debian packages that provide it")
    versions = _str_table(data, "versions", path, "a tool's name to a command printing its version")
    caller = _caller(data.get("caller"), path, list(commands))
    return Service(
        name=name,
        language=data["language"],
        folder=path.parent,
        build=_str_list(data, "build", path),
        test=_str_list(data, "test", path),
        requires=_str_list(data, "requires", path),
        warmup_s=float(warmup),
        runtime_version=str(data.get("runtime_version", "")),
        env=dict(env),
        commands=commands,
        unsupported=dict(unsupported),
        role=role,
        colour=colour,
        reference=bool(data.get("reference", False)),
        setup=_str_list(data, "setup", path),
        clean=_str_list(data, "clean", path),
        system=system,
        versions=versions,
        caller=caller,
    )


def _caller(table: Any, path: Path, served: list[str]) -> Caller | None:
    if table is None:
        return None
    if not isinstance(table, dict) or not isinstance(table.get("command"), str):
        raise ManifestError(f"{path}: [caller] needs command = \"...\" (a Locust worker; contract/LOADGEN.md)")
    for name in _PLACEHOLDER.findall(table["command"]):
        if name not in CALLER_PLACEHOLDERS:
            raise ManifestError(f"{path}: [caller] uses {{{name}}}; the harness fills in only "
                                f"{', '.join('{' + p + '}' for p in CALLER_PLACEHOLDERS)}")
    resident = table.get("resident_command", "")
    if not isinstance(resident, str):
        raise ManifestError(f"{path}: [caller] resident_command must be a string (a command reading each "
                            "master's port from standard input; contract/LOADGEN.md \"A resident caller\")")
    for name in _PLACEHOLDER.findall(resident):
        if name not in CALLER_PLACEHOLDERS or name == "master_port":
            raise ManifestError(f"{path}: [caller] resident_command uses {{{name}}}; it is started once, before "
                                "any master, so the harness fills in only {master_host}, {python}, {repo} "
                                "(each master's port comes on its standard input)")
    transports = _str_list(table, "transports", path) or [t for t in TRANSPORTS if t in served]
    bad = [t for t in transports if t not in TRANSPORTS]
    if bad:
        raise ManifestError(f"{path}: [caller] transports names unknown transports {bad}")
    warmup = table.get("warmup_s", 0)
    if not isinstance(warmup, int | float) or warmup < 0:
        raise ManifestError(f"{path}: [caller] warmup_s must be a number of seconds >= 0")
    per = table.get("transport_warmup_s", {})
    if not isinstance(per, dict) or not all(isinstance(v, int | float) and v >= 0 for v in per.values()):
        raise ManifestError(f"{path}: [caller] transport_warmup_s maps a transport to seconds >= 0, "
                            "e.g. {{ grpc = 6 }}")
    bad = [t for t in per if t not in TRANSPORTS]
    if bad:
        raise ManifestError(f"{path}: [caller] transport_warmup_s names unknown transports {bad}")
    env = table.get("transport_env", {})
    if not isinstance(env, dict) or not all(
            isinstance(v, dict) and all(isinstance(k, str) and isinstance(x, str) for k, x in v.items())
            for v in env.values()):
        raise ManifestError(f"{path}: [caller.transport_env] maps a transport to a table of environment "
                            "variables, each a string, e.g. [caller.transport_env.grpc] NAME = \"value\"")
    bad = [t for t in env if t not in TRANSPORTS]
    if bad:
        raise ManifestError(f"{path}: [caller.transport_env] names unknown transports {bad}")
    unknown = set(table) - {"command", "requires", "warmup_s", "transports", "transport_warmup_s", "transport_env",
                            "resident_command"}
    if unknown:
        raise ManifestError(f"{path}: [caller] has unknown keys {sorted(unknown)}; it takes command, requires, "
                            "warmup_s, transport_warmup_s, transport_env, transports, resident_command")
    return Caller(command=table["command"], requires=_str_list(table, "requires", path), warmup_s=float(warmup),
                  transports=transports, transport_warmup_s={t: float(v) for t, v in per.items()},
                  transport_env={t: dict(v) for t, v in env.items()}, resident_command=resident)


def _str_table(data: dict[str, Any], key: str, path: Path, meaning: str) -> dict[str, str]:
    value = data.get(key, {})
    if not isinstance(value, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in value.items()):
        raise ManifestError(f"{path}: [{key}] maps {meaning}, each a string")
    return dict(value)


_PLACEHOLDER = re.compile(r"\{([a-z_]+)\}")


def _check_placeholders(path: Path, transport: str, command: str) -> None:
    for field_name in _PLACEHOLDER.findall(command):
        if field_name not in PLACEHOLDERS:
            raise ManifestError(f"{path}: [transports.{transport}] uses {{{field_name}}}; the harness fills in "
                                f"only {', '.join('{' + p + '}' for p in PLACEHOLDERS)}")


def discover(root: Path | None = None) -> dict[str, Service]:
    """Every services/*/service.toml under `root` (default: the repository), by name."""
    base = (root or REPO) / "services"
    found: dict[str, Service] = {}
    for manifest in sorted(base.glob("*/service.toml")):
        svc = load_manifest(manifest)
        if svc.role != "service":
            raise ManifestError(f"{manifest}: role = {svc.role!r} belongs under {FLOORS}, not services/")
        found[svc.name] = svc
    return found


def discover_floors(folder: Path = FLOORS) -> list[Service]:
    """Every manifest with role = "floor" under `folder`: the responders measured as each transport's floor."""
    floors = [load_manifest(m) for m in sorted(folder.glob("**/service.toml"))]
    return [f for f in floors if f.role == "floor"]


def callers(services: dict[str, Service] | None = None) -> dict[str, Caller]:
    """Every service's caller, by the service's name (the harness's own Locust users are not among them)."""
    found = services if services is not None else discover()
    return {name: s.caller for name, s in found.items() if s.caller is not None}


def reference_service(services: dict[str, Service] | None = None) -> Service:
    """The service whose manifest says `reference = true` (the contract's reference implementation)."""
    found = services if services is not None else discover()
    refs = [s for s in found.values() if s.reference]
    if len(refs) != 1:
        raise ManifestError(f"{len(refs)} services say reference = true ({', '.join(s.name for s in refs) or 'none'}); "
                            "exactly one manifest must")
    return refs[0]


def select(names: list[str] | None, root: Path | None = None) -> list[Service]:
    """The named services (all when `names` is empty), or a ManifestError naming the choices."""
    found = discover(root)
    if not found:
        raise ManifestError("no services found: add services/<name>/service.toml (see contract/CONTRACT.md)")
    if not names:
        return list(found.values())
    missing = [n for n in names if n not in found]
    if missing:
        raise ManifestError(f"unknown service(s) {', '.join(missing)}; available: {', '.join(found)}")
    return [found[n] for n in names]


def select_with_floors(names: list[str] | None) -> list[Service]:
    """The named services and floors (all of both when `names` is empty): what `build` and `clean` act on.

    A floor is built like a service (its binaries are measured in every run), but is never part of the matrix.
    """
    floors = discover_floors()
    floor_names = {f.name for f in floors}
    wanted = [n for n in names or [] if n not in floor_names]
    services = select(wanted) if wanted or not names else []
    return [*services, *(f for f in floors if not names or f.name in names)]


def base_values() -> dict[str, str]:
    """The placeholders every manifest command can use: the harness's interpreter and the repository root."""
    import sys

    return {"python": sys.executable, "repo": str(REPO)}


def fill(command: str, values: dict[str, str]) -> str:
    """A manifest command with its `{placeholder}`s filled in; other braces are left alone."""
    return _PLACEHOLDER.sub(lambda m: values.get(m.group(1), m.group(0)), command)
