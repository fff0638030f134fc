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
from collections.abc import Callable
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Any

from .checks.auth import VERIFY_MODES, AuthWeights
from .checks.impersonation import ImpersonationWeights
from .errors import ConfigError
from .message import BodyLimits

PACKAGE_DATA = Path(__file__).resolve().parent / "data"
PACKAGED_CONFIG = PACKAGE_DATA / "spoofguard.toml"
BUILTIN_RULES = PACKAGE_DATA / "rules"
BUILTIN_LISTS = {
    "impersonated": PACKAGE_DATA / "lists" / "impersonated_domains.txt",
    "freemail": PACKAGE_DATA / "lists" / "freemail_domains.txt",
}
SYSTEM_CONFIG = Path("/etc/spoofguard/spoofguard.toml")
ENV_VAR = "SPOOFGUARD_CONFIG"
LOG_LEVELS = ("debug", "info", "warning", "error")


def _check(fn: Callable[[Any], str | None]) -> dict[str, Any]:
    """Attach a validator returning a problem description (or None) to a field."""
    return {"check": fn}


def _fraction(v: float) -> str | None:
    return None if 0 <= v <= 1 else "must be between 0 and 1"


def _positive(v: Any) -> str | None:
    return None if v > 0 else "must be greater than 0"


def _one_of(*choices: str) -> Callable[[Any], str | None]:
    return lambda v: None if v in choices else f"must be one of: {', '.join(choices)}"


def _socket(v: str) -> str | None:
    if v.startswith("unix:") and len(v) > 5:
        return None
    if v.startswith(("inet:", "inet6:")):
        port, _, host = v.split(":", 1)[1].partition("@")
        if port.isdigit() and 0 < int(port) < 65536:
            return None
    return "must be 'inet:PORT@HOST', 'inet6:PORT@HOST' or 'unix:PATH'"


def _cidrs(v: tuple[str, ...]) -> str | None:
    for item in v:
        try:
            ipaddress.ip_network(item, strict=False)
        except ValueError:
            return f"{item!r} is not an IP network (CIDR)"
    return None


def _ips(v: tuple[str, ...]) -> str | None:
    for item in v:
        try:
            ipaddress.ip_address(item)
        except ValueError:
            return f"{item!r} is not an IP address"
    return None


@dataclass(frozen=True)
class MilterSection:
    socket: str = field(default="inet:8895@127.0.0.1", metadata=_check(_socket))
    name: str = "spoofguard"
    timeout: int = field(default=600, metadata=_check(_positive))


@dataclass(frozen=True)
class AnalysisSection:
    body_in_memory: int = field(default=2 * 1024 * 1024, metadata=_check(lambda v: None if v >= 1024 else "must be at least 1024 bytes"))
    max_body: int = field(default=64 * 1024 * 1024, metadata=_check(lambda v: None if v >= 1024 else "must be at least 1024 bytes"))
    spool_dir: str = ""  # "" : the system's temporary directory
    budget: float = field(default=5.0, metadata=_check(_positive))
    lookup_timeout: float = field(default=2.0, metadata=_check(_positive))
    lookup_workers: int = field(default=32, metadata=_check(lambda v: None if 1 <= v <= 1024 else "must be between 1 and 1024"))

    def body_limits(self) -> BodyLimits:
        return BodyLimits(self.body_in_memory, self.max_body, self.spool_dir or None)


@dataclass(frozen=True)
class PolicySection:
    tag: float = 4.0
    quarantine: float = 8.0
    reject: float = 15.0
    reject_enabled: bool = False
    require_content_and_sender_risk: bool = True
    min_sender_risk: float = field(default=2.0, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    on_error: str = field(default="accept", metadata=_check(_one_of("accept", "tempfail")))
    dry_run: bool = False
    judge_local_submissions: bool = False
    trust_authenticated_lists: bool = True


@dataclass(frozen=True)
class ActionsSection:
    subject_prefix: str = "[SUSPICIOUS] "
    reject_reply: str = "Message refused as likely spoofed intimidation or extortion"


@dataclass(frozen=True)
class DnsSection:
    nameservers: tuple[str, ...] = field(default=(), metadata=_check(_ips))
    port: int = field(default=53, metadata=_check(lambda v: None if 0 < v < 65536 else "must be a port number"))
    timeout: float = field(default=2.0, metadata=_check(_positive))


@dataclass(frozen=True)
class RulesSection:
    files: tuple[str, ...] = ("builtin",)


@dataclass(frozen=True)
class ContentSection:
    enabled: bool = True
    co_occurrence_bonus: float = field(default=0.75, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    threat_bonus: float = field(default=1.5, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    reported_factor: float = field(default=0.25, metadata=_check(_fraction))
    frame_factor: float = field(default=0.5, metadata=_check(_fraction))
    frame_cues: int = field(default=2, metadata=_check(lambda v: None if 1 <= v <= 3 else "must be 1, 2 or 3"))
    evasion_weight: float = field(default=1.0, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    crypto_address_weight: float = field(default=2.0, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    ransom_weight: float = field(default=1.5, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    engine: str = field(default="auto", metadata=_check(_one_of("auto", "python", "hyperscan")))
    max_text: int = field(default=1_000_000, metadata=_check(lambda v: None if v >= 1000 else "must be at least 1000 characters"))
    unscanned_text_weight: float = field(default=2.0, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    read_pdf: bool = True
    pdf_timeout: float = field(default=5.0, metadata=_check(_positive))


def _zone(v: str) -> str | None:
    return None if _DOMAIN.fullmatch(v.lower().rstrip(".")) else f"{v!r} is not a DNS zone name"


@dataclass(frozen=True)
class DnsListSection:
    """One DNS block- or allowlist: ``[[checks.ip_reputation.dnsbl]]``."""

    zone: str = field(metadata={**_check(_zone), "required": True})
    name: str = ""  # short name for signals; default: the zone's first label
    weight: float = 1.0  # for a listing code without a weight of its own
    codes: dict[str, str] = field(default_factory=dict)  # "127.0.0.2" = "SBL", ranges a-b
    weights: dict[str, float] = field(default_factory=dict)  # meaning -> weight
    bitmask: bool = False
    allowlist: bool = False
    ipv6: bool = True


@dataclass(frozen=True)
class IpReputationSection:
    enabled: bool = True
    allow: tuple[str, ...] = field(default=(), metadata=_check(_cidrs))
    deny: tuple[str, ...] = field(default=(), metadata=_check(_cidrs))
    allow_files: tuple[str, ...] = ()
    deny_files: tuple[str, ...] = ()
    allow_weight: float = -5.0
    deny_weight: float = 6.0
    no_ptr_weight: float = 1.0
    ptr_mismatch_weight: float = 0.5
    dnsbl: tuple[DnsListSection, ...] = ()
    asn_zone: str = "origin.asn.cymru.com"
    asn6_zone: str = "origin6.asn.cymru.com"
    asn_weights: dict[str, float] = field(default_factory=dict)  # "AS64500" = 2.0


def _thresholds(v: dict[str, float]) -> str | None:
    for days in v:
        try:
            if float(days) <= 0:
                return f"{days!r}: days must be greater than 0"
        except ValueError:
            return f"{days!r} is not a number of days"
    return None


@dataclass(frozen=True)
class AgeZoneSection:
    """One DNS age zone: ``[[checks.domain_age.zone]]``."""

    zone: str = field(metadata={**_check(_zone), "required": True})
    name: str = ""  # short name for signals; default: the zone's first label
    prefix: str = field(default="127.0.2.", metadata=_check(lambda v: None if v.startswith("127.") and v.endswith(".") else "must look like '127.0.2.'"))
    unit: str = field(default="hours", metadata=_check(_one_of("hours", "days")))


@dataclass(frozen=True)
class DomainAgeSection:
    enabled: bool = True
    # younger than N days -> weight; the youngest band that applies counts
    thresholds: dict[str, float] = field(default_factory=lambda: {"7": 3.0, "30": 1.5, "90": 0.5}, metadata=_check(_thresholds))
    unknown_weight: float = 0.0
    changed_days: float = field(default=7.0, metadata=_check(_positive))
    changed_weight: float = 1.0
    allowlist: tuple[str, ...] = field(default=(), metadata=_check(lambda v: _domains(v)))
    rdap: bool = True
    rdap_timeout: float = field(default=4.0, metadata=_check(_positive))
    rdap_per_server: int = field(default=2, metadata=_check(lambda v: None if 1 <= v <= 64 else "must be between 1 and 64"))
    rdap_overrides: dict[str, str] = field(default_factory=dict, metadata=_check(lambda v: next(
        (f"{tld}: {url!r} is not an http(s) URL" for tld, url in v.items() if not url.startswith(("https://", "http://"))), None)))
    rdap_bootstrap: str = ""  # a dns.json to use instead of state.dir's or the packaged one
    whois: bool = True
    whois_timeout: float = field(default=4.0, metadata=_check(_positive))
    whois_servers: dict[str, str] = field(default_factory=dict)  # tld -> host[:port]
    cache_days: float = field(default=7.0, metadata=_check(_positive))
    zone: tuple[AgeZoneSection, ...] = ()
    # A lookalike domain (impersonation.lookalike_domain) younger than this many days adds
    # young_lookalike_weight; one older than established_lookalike_years adds the (negative)
    # established_lookalike_weight, never more than the lookalike signal itself.
    young_lookalike_days: float = field(default=30.0, metadata=_check(_positive))
    young_lookalike_weight: float = field(default=1.5, metadata=_check(lambda v: None if v >= 0 else "must not be negative"))
    established_lookalike_years: float = field(default=5.0, metadata=_check(_positive))
    established_lookalike_weight: float = field(default=-2.5, metadata=_check(lambda v: None if v <= 0 else "must not be positive"))


@dataclass(frozen=True)
class StateSection:
    dir: str = "/var/lib/spoofguard"  # lookup cache, refreshed RDAP bootstrap


@dataclass(frozen=True)
class CacheSection:
    backend: str = field(default="sqlite", metadata=_check(_one_of("sqlite", "redis", "memory", "none")))
    path: str = ""  # SQLite file; default: <state.dir>/cache.sqlite
    redis_url: str = field(default="redis://127.0.0.1:6379/0", metadata=_check(lambda v: None if v.startswith(("redis://", "rediss://", "unix://")) else "must be a redis://, rediss:// or unix:// URL"))
    max_entries: int = field(default=200_000, metadata=_check(lambda v: None if v >= 100 else "must be at least 100"))
    warn_interval: float = field(default=60.0, metadata=_check(_positive))  # seconds between repeats of "cache unavailable"


def _domains(v: tuple[str, ...]) -> str | None:
    for item in v:
        if not _DOMAIN.fullmatch(item.lower().rstrip(".")):
            return f"{item!r} is not a domain name"
    return None


_DOMAIN = re.compile(r"(?:[a-z0-9_](?:[a-z0-9_-]{0,61}[a-z0-9])?\.)+(?:xn--[a-z0-9-]+|[a-z]{2,63})")


@dataclass(frozen=True)
class AuthSection:
    enabled: bool = True
    # The id in the Authentication-Results we add; empty: this host's name.
    authserv_id: str = ""
    # Upstream hosts whose Authentication-Results are trusted when the message came from
    # network.trusted_networks; empty: only authserv_id.
    trusted_authserv_ids: tuple[str, ...] = ()
    trusted_arc_sealers: tuple[str, ...] = field(default=(), metadata=_check(_domains))
    verify: str = field(default="auto", metadata=_check(_one_of(*VERIFY_MODES)))
    add_header: bool = True
    weights: AuthWeights = AuthWeights()


@dataclass(frozen=True)
class ImpersonationSection:
    enabled: bool = True
    own_domains: tuple[str, ...] = field(default=(), metadata=_check(_domains))
    protected_domain_files: tuple[str, ...] = ("builtin",)
    freemail_files: tuple[str, ...] = ("builtin",)
    weights: ImpersonationWeights = ImpersonationWeights()


@dataclass(frozen=True)
class ChecksSection:
    auth: AuthSection = AuthSection()
    impersonation: ImpersonationSection = ImpersonationSection()
    content: ContentSection = ContentSection()
    ip_reputation: IpReputationSection = IpReputationSection()
    domain_age: DomainAgeSection = DomainAgeSection()


@dataclass(frozen=True)
class NetworkSection:
    # Your own relays in front of this host (CIDR): their Authentication-Results are
    # trusted and their clients are not judged as impostors.
    trusted_networks: tuple[str, ...] = field(default=(), metadata=_check(_cidrs))


def _listen(v: str) -> str | None:
    if not v:
        return None
    host, sep, port = v.rpartition(":")
    if sep and host and port.isdigit() and 0 < int(port) < 65536:
        return None
    return "must be HOST:PORT, e.g. 127.0.0.1:9464 (empty: off)"


@dataclass(frozen=True)
class MetricsSection:
    listen: str = field(default="", metadata=_check(_listen))  # "127.0.0.1:9464"; empty: off


@dataclass(frozen=True)
class LogSection:
    level: str = field(default="info", metadata=_check(_one_of(*LOG_LEVELS)))
    format: str = field(default="text", metadata=_check(_one_of("text", "json")))
    target: str = field(default="stderr", metadata=_check(_one_of("stderr", "syslog")))


@dataclass(frozen=True)
class Settings:
    path: Path
    milter: MilterSection = MilterSection()
    analysis: AnalysisSection = AnalysisSection()
    policy: PolicySection = PolicySection()
    actions: ActionsSection = ActionsSection()
    dns: DnsSection = DnsSection()
    network: NetworkSection = NetworkSection()
    state: StateSection = StateSection()
    cache: CacheSection = CacheSection()
    rules: RulesSection = RulesSection()
    checks: ChecksSection = ChecksSection()
    metrics: MetricsSection = MetricsSection()
    log: LogSection = LogSection()

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
    settings: Settings = _build(Settings, data, path, "", preset={"path": path.resolve()})
    policy = settings.policy
    if not policy.tag < policy.quarantine:
        raise ConfigError(path, "policy.quarantine", "must be greater than policy.tag")
    if policy.reject_enabled and not policy.quarantine < policy.reject:
        raise ConfigError(path, "policy.reject", "must be greater than policy.quarantine")
    if "\n" in settings.actions.subject_prefix or "\r" in settings.actions.subject_prefix:
        raise ConfigError(path, "actions.subject_prefix", "must be one line")
    settings.rule_files()  # fail now, not at the first message, on a missing rule file
    imp = settings.checks.impersonation
    settings.list_files("checks.impersonation.protected_domain_files", imp.protected_domain_files, "impersonated")
    settings.list_files("checks.impersonation.freemail_files", imp.freemail_files, "freemail")
    return settings


# Keys that are gone, and what replaced them: an upgrade names the fix, not just the error.
_RENAMED = {
    "analysis.scan_cap": "no longer exists: every text part is read wherever it sits; "
    "use analysis.body_in_memory (bytes kept in memory) and checks.content.max_text",
}


def _build(cls: type, table: Any, path: Path, prefix: str, preset: dict[str, Any] | None = None) -> Any:
    if not isinstance(table, dict):
        raise ConfigError(path, prefix.rstrip("."), "must be a table")
    hints = typing.get_type_hints(cls)
    known = {f.name: f for f in fields(cls) if not (preset and f.name in preset)}
    for key in table:
        if key not in known:
            hint = _RENAMED.get(prefix + key)
            raise ConfigError(path, prefix + key, hint or f"unknown key (known: {', '.join(sorted(known))})")
    values: dict[str, Any] = dict(preset or {})
    for name, spec in known.items():
        key = prefix + name
        if name not in table:
            if spec.metadata.get("required"):
                raise ConfigError(path, key, "missing")
            continue
        hint = hints[name]
        raw = table[name]
        if _is_section(hint):
            values[name] = _build(hint, raw, path, key + ".")
            continue
        value = _coerce(raw, hint, path, key)
        check = spec.metadata.get("check")
        problem = check(value) if check else None
        if problem:
            raise ConfigError(path, key, problem)
        values[name] = value
    return cls(**values)


def _is_section(hint: Any) -> bool:
    return isinstance(hint, type) and hasattr(hint, "__dataclass_fields__")


def _coerce(raw: Any, hint: Any, path: Path, key: str) -> Any:
    origin = typing.get_origin(hint)
    args = typing.get_args(hint)
    if origin is tuple and args and _is_section(args[0]):  # an array of tables: [[key]]
        if not isinstance(raw, list):
            raise ConfigError(path, key, f"must be an array of tables ([[{key}]]), got {_toml_type(raw)}")
        return tuple(_build(args[0], item, path, f"{key}[{i}].") for i, item in enumerate(raw))
    if origin is dict:
        if not isinstance(raw, dict):
            raise ConfigError(path, key, f"must be a table, got {_toml_type(raw)}")
        return {str(k): _coerce(v, args[1], path, f"{key}.{k}") for k, v in raw.items()}
    if origin is tuple:
        if not isinstance(raw, list) or not all(isinstance(v, str) for v in raw):
            raise ConfigError(path, key, f"must be a list of strings, got {_toml_type(raw)}")
        return tuple(raw)
    if hint is bool:
        if not isinstance(raw, bool):
            raise ConfigError(path, key, f"must be true or false, got {_toml_type(raw)}")
        return raw
    if hint is int:
        if isinstance(raw, bool) or not isinstance(raw, int):
            raise ConfigError(path, key, f"must be an integer, got {_toml_type(raw)}")
        return raw
    if hint is float:
        if isinstance(raw, bool) or not isinstance(raw, (int, float)):
            raise ConfigError(path, key, f"must be a number, got {_toml_type(raw)}")
        return float(raw)
    if hint is str:
        if not isinstance(raw, str):
            raise ConfigError(path, key, f"must be a string, got {_toml_type(raw)}")
        return raw
    raise ConfigError(path, key, f"unsupported setting type {hint}")  # a bug in this module


def _toml_type(value: Any) -> str:
    names = {bool: "a boolean", int: "an integer", float: "a number", str: "a string", list: "an array", dict: "a table"}
    return names.get(type(value), type(value).__name__)

