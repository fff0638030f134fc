"""Configuration: one TOML file, validated strictly at start-up and on reload.

Unknown keys, wrong types and impossible values stop start-up with one message naming the
file, the key and the problem, so a typo never silently falls back to a default.
"""

from __future__ import annotations

import glob
import ipaddress
import os
import re
import tomllib
import typing
from pathlib import Path
from typing import Annotated, Any, Literal, TypeVar

import msgspec

from .actions import ActionsSection
from .checks.registry import plugins
from .errors import ConfigError
from .lookups.dns import DnsSection
from .lookups.store import CacheSection
from .message import BodyLimits
from .policy import Policy
from .received import IPNetwork
from .sections import Networks, Positive, PositiveInt, Rule, Section, at_least, between

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
PACKAGED_CONFIG = PACKAGE_DATA / "spoofguard.toml"
BUILTIN_RULES = PACKAGE_DATA / "rules"
BUILTIN_LISTS = {
    "impersonated": PACKAGE_DATA / "lists" / "impersonated_domains.txt",
    "freemail": PACKAGE_DATA / "lists" / "freemail_domains.txt",
}
SYSTEM_CONFIG = Path("/etc/spoofguard/spoofguard.toml")
ENV_VAR = "SPOOFGUARD_CONFIG"
S = TypeVar("S", bound=Section)


def _socket(v: str) -> str | None:
    if v.startswith("unix:") and len(v) > 5:
        return None
    if v.startswith(("inet:", "inet6:")):
        port, _, host = v.split(":", 1)[1].partition("@")
        if port.isdigit() and 0 < int(port) < 65536:
            return None
    return "must be 'inet:PORT@HOST', 'inet6:PORT@HOST' or 'unix:PATH'"


def _listen(v: str) -> str | None:
    if not v:
        return None
    host, sep, port = v.rpartition(":")
    if sep and host and port.isdigit() and 0 < int(port) < 65536:
        return None
    return "must be HOST:PORT, e.g. 127.0.0.1:9464 (empty: off)"


class MilterSection(Section, frozen=True):
    socket: Annotated[str, Rule(_socket)] = "inet:8895@127.0.0.1"
    name: str = "spoofguard"
    timeout: PositiveInt = 600
    workers: Annotated[int, between(0, 256)] = 0  # processes on the one socket; 0: one per usable core


class AnalysisSection(Section, frozen=True):
    body_in_memory: Annotated[int, at_least(1024, " bytes")] = 2 * 1024 * 1024
    max_body: Annotated[int, at_least(1024, " bytes")] = 64 * 1024 * 1024
    spool_dir: str = ""  # "" : the system's temporary directory
    budget: Positive = 5.0
    lookup_timeout: Positive = 2.0
    lookup_workers: Annotated[int, between(1, 1024)] = 32

    def body_limits(self) -> BodyLimits:
        return BodyLimits(self.body_in_memory, self.max_body, self.spool_dir or None)


class RulesSection(Section, frozen=True):
    files: tuple[str, ...] = ("builtin",)


class StateSection(Section, frozen=True):
    dir: str = "/var/lib/spoofguard"  # lookup cache, refreshed RDAP bootstrap


class NetworkSection(Section, frozen=True):
    # Your own relays in front of this host (CIDR): their Authentication-Results are
    # trusted and their clients are not judged as impostors.
    trusted_networks: Networks = ()


class MetricsSection(Section, frozen=True):
    listen: Annotated[str, Rule(_listen)] = ""  # "127.0.0.1:9464"; empty: off


class LogSection(Section, frozen=True):
    level: Literal["debug", "info", "warning", "error"] = "info"
    format: Literal["text", "json"] = "text"
    target: Literal["stderr", "syslog"] = "stderr"


class Settings(Section, frozen=True):
    """The whole file. ``checks`` holds each registered check's own section by name."""

    milter: MilterSection = MilterSection()
    analysis: AnalysisSection = AnalysisSection()
    policy: Policy = Policy()
    actions: ActionsSection = ActionsSection()
    dns: DnsSection = DnsSection()
    network: NetworkSection = NetworkSection()
    state: StateSection = StateSection()
    cache: CacheSection = CacheSection()
    rules: RulesSection = RulesSection()
    checks: dict[str, Any] = {}
    metrics: MetricsSection = MetricsSection()
    log: LogSection = LogSection()
    path: Path = Path("spoofguard.toml")  # the file read; not a key of it

    def section(self, cls: type[S]) -> S:
        """A check's section by its class: ``settings.section(ContentSection)``."""
        for name, plugin in plugins().items():
            if plugin.section is cls:
                found = self.checks.get(name)
                return found if isinstance(found, cls) else cls()
        raise KeyError(f"{cls.__name__} is not a registered check's section")

    def resolve(self, name: str) -> Path:
        """A path from the config, relative to the config file's directory."""
        path = Path(name).expanduser()
        return path if path.is_absolute() else self.path.parent / path

    def list_files(self, key: str, entries: tuple[str, ...], builtin: str) -> list[Path]:
        """Domain list files: ``builtin`` is the shipped list; other paths must exist."""
        found = []
        for entry in entries:
            path = BUILTIN_LISTS[builtin] if entry == "builtin" else self.resolve(entry)
            if not path.is_file():
                raise ConfigError(self.path, key, f"list file {path} does not exist")
            found.append(path)
        return found

    def network_files(self, key: str, files: tuple[str, ...]) -> tuple[IPNetwork, ...]:
        """CIDR files: one network per line, ``#`` comments; read on start and on every reload."""
        found: list[IPNetwork] = []
        for name in files:
            path = self.resolve(name)
            try:
                lines = path.read_text(encoding="utf-8").splitlines()
            except OSError as exc:
                raise ConfigError(self.path, key, f"cannot read {path}: {exc.strerror}") from exc
            for number, line in enumerate(lines, 1):
                entry = line.split("#", 1)[0].strip()
                if not entry:
                    continue
                try:
                    found.append(ipaddress.ip_network(entry, strict=False))
                except ValueError:
                    raise ConfigError(path, f"line {number}", f"{entry!r} is not an IP network (CIDR)") from None
        return tuple(found)

    def rule_files(self) -> list[Path]:
        """``builtin`` is the packaged rule set; globs may match nothing, plain paths must exist."""
        found: list[Path] = []
        for entry in self.rules.files:
            if entry == "builtin":
                found.extend(sorted(BUILTIN_RULES.glob("*.toml")))
                continue
            target = self.resolve(entry)
            if glob.has_magic(str(target)):
                found.extend(sorted(Path(p) for p in glob.glob(str(target))))
            elif target.is_file():
                found.append(target)
            else:
                raise ConfigError(self.path, "rules.files", f"rule file {target} does not exist")
        return found


def locate(explicit: str | Path | None = None) -> Path:
    """``--config``, then ``$SPOOFGUARD_CONFIG``, then /etc/spoofguard, then the packaged default."""
    if explicit:
        return Path(explicit)
    if os.environ.get(ENV_VAR):
        return Path(os.environ[ENV_VAR])
    if SYSTEM_CONFIG.is_file():
        return SYSTEM_CONFIG
    return PACKAGED_CONFIG


def load(explicit: str | Path | None = None) -> Settings:
    path = locate(explicit)
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except FileNotFoundError as exc:
        raise ConfigError(path, "", "file not found") from exc
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from exc
    return parse(data, path)


def parse(data: dict[str, Any], path: Path) -> Settings:
    if "path" in data:
        raise ConfigError(path, "path", _unknown(Settings))
    settings = _convert(data, Settings, path, "")
    known = plugins()
    for name in settings.checks:
        if name not in known:
            raise ConfigError(path, f"checks.{name}", f"unknown key (known: {', '.join(sorted(known))})")
    sections = {name: _convert(settings.checks.get(name, {}), plugin.section, path, f"checks.{name}.")
                for name, plugin in known.items()}
    settings = msgspec.structs.replace(settings, checks=sections, path=path.resolve())
    settings.rule_files()  # fail now, not at the first message, on a missing rule file
    return settings


# Keys that are gone, and what replaced them: an upgrade names the fix, not just the error.
_RENAMED = {
    "analysis.scan_cap": "no longer exists: every text part is read wherever it sits; "
    "use analysis.body_in_memory (bytes kept in memory) and checks.content.max_text",
}

_WHERE = re.compile(r"^(?P<problem>.*) - at `\$(?P<where>[^`]*)`$", re.S)
_STEP = re.compile(r"\.([^.\[]+)|\[(\d+|\.\.\.)\]")
_EXPECTED = re.compile(r"^Expected `(?P<want>\w+)`, got `(?P<got>\w+)`$")
_NAMES = {"str": "a string", "int": "an integer", "float": "a number", "bool": "a boolean",
          "array": "an array", "object": "a table", "null": "nothing"}
_WANTS = {"str": "must be a string", "int": "must be an integer", "float": "must be a number",
          "bool": "must be true or false", "object": "must be a table"}


def _convert(table: Any, cls: type[S], path: Path, prefix: str) -> S:
    """msgspec's conversion, its errors turned into "file: dotted.key: problem"."""
    try:
        return msgspec.convert(table, cls)
    except msgspec.ValidationError as exc:
        key, problem = _explain(str(exc), cls, prefix)
        raise ConfigError(path, key, problem) from None


def _explain(error: str, root: type, prefix: str) -> tuple[str, str]:
    found = _WHERE.match(error)
    problem, where = (found["problem"], found["where"]) if found else (error, "")
    steps = [name or index for name, index in _STEP.findall(where)]
    hint = _walk(root, steps)  # the last step's type
    key = (prefix + "".join(f"[{s}]" if s.isdigit() else f".{s}" for s in steps if s != "...").lstrip(".")).strip(".")
    if (unknown := re.match(r"Object contains unknown field `(.+)`", problem)):
        key = f"{key}.{unknown[1]}".strip(".")
        return key, _RENAMED.get(key) or _unknown(hint)
    if (missing := re.match(r"Object missing required field `(.+)`", problem)):
        return f"{key}.{missing[1]}", "missing"
    if (rule := re.match(r"^(\w+): (.*)$", problem, re.S)):  # a Section's own value rule
        return f"{key}.{rule[1]}".strip("."), rule[2]
    if problem.startswith("Invalid enum value"):
        return key, f"must be one of: {', '.join(typing.get_args(_plain(hint)))}"
    expected = _EXPECTED.match(problem)
    if not expected:
        return key, problem
    must, got = _WANTS.get(expected["want"], "has the wrong type"), _NAMES.get(expected["got"], expected["got"])
    last = steps[-1] if steps else ""
    if last == "...":  # a value in a table of values
        return key, f"every value {must}, got {got}"
    if last.isdigit() and not _is_section(hint):  # an item of a list of strings
        return key.rsplit("[", 1)[0], "must be a list of strings, got an array holding " + got
    if typing.get_origin(_plain(hint)) is tuple:
        if _is_section(typing.get_args(_plain(hint))[0]):
            return key, f"must be an array of tables ([[{key}]]), got {got}"
        return key, f"must be a list of strings, got {got}"
    return key, f"{must}, got {got}"


def _walk(root: type, steps: list[str]) -> Any:
    """The type of the value at the end of ``steps``."""
    hint: Any = root
    for step in steps:
        plain = _plain(hint)
        args = typing.get_args(plain)
        if step == "...":
            hint = args[-1] if args else Any  # dict[str, V]
        elif step.isdigit():
            hint = args[0] if args else Any  # tuple[T, ...]
        elif _is_section(plain):
            hint = typing.get_type_hints(plain, include_extras=True).get(step, Any)
        else:
            hint = Any
    return hint


def _is_section(hint: Any) -> bool:
    plain = _plain(hint)
    return isinstance(plain, type) and issubclass(plain, msgspec.Struct)


def _plain(hint: Any) -> Any:
    """``Annotated[T, …]`` -> ``T``."""
    return typing.get_args(hint)[0] if typing.get_origin(hint) is Annotated else hint


def _unknown(section: Any) -> str:
    fields = sorted(set(getattr(_plain(section), "__struct_fields__", ())) - {"path"})
    return f"unknown key (known: {', '.join(fields)})"
