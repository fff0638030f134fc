"""Sender domain age: how recently the From, envelope and DKIM domains were registered,
re-registered or transferred.

Campaigns send from domains registered days before, or from abandoned domains someone has
just taken over (the registration date stays old; a recent ``transfer`` or
``reregistration`` event, or a DNS age zone listing, shows it). The youngest domain that
matters sets the grade. Unknown is unknown, never young: a registry that times out or
publishes no creation date moves nothing by default. Your own domains, the recipients'
domains and the allowlist are never aged: a new local domain must not count against its
own users.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from functools import partial
from typing import Annotated, Literal

import msgspec

from ...domains import domain_of, is_domain_name, organizational_domain
from ...errors import ConfigError
from ...lookups import LookupResult, LookupSession
from ...lookups.dns import Resolver
from ...message import Message, from_address
from ...sections import (
    Domains,
    NonNegative,
    NonPositive,
    Positive,
    Rule,
    Section,
    Zone,
    between,
    first_repeated,
    short_name,
    url,
)
from ...verdict import Signal, SignalKind
from .. import Facts, Findings, Stage
from ..auth.dkim import signature_tags
from ..auth.summary import AuthSummary
from ..impersonation.check import ImpersonationSection, NotedLookalike
from ..registry import CheckContext, CheckPlugin
from .bootstrap import RdapBootstrap, load_bootstrap
from .rdap import RdapClient
from .record import RESTARTING_EVENTS, Registration, RegistryStatus
from .registry import DAY, RegistryLookup, RegistryTtls
from .whois import WhoisClient
from .zones import AgeZone, ZoneAge, zone_age


@dataclass(frozen=True, slots=True)
class AgeGrade:
    days: float  # younger than this...
    weight: float  # ...scores this


def _thresholds(v: dict[str, float]) -> str | None:
    for days in v:
        try:
            if float(days) <= 0:
                return f"{days!r}: days must be greater than 0"
        except ValueError:
            return f"{days!r} is not a number of days"
    return None


def _urls(v: dict[str, str]) -> str | None:
    return next((f"{tld}: {problem}" for tld, u in v.items() if (problem := url(u))), None)


class AgeZoneSection(Section, frozen=True):
    """One DNS age zone: ``[[checks.domain_age.zone]]``."""

    zone: Zone  # required
    name: str = ""  # short name for signals; default: the zone's first label
    prefix: Annotated[str, Rule(lambda v: None if v.startswith("127.") and v.endswith(".") else "must look like '127.0.2.'")] = "127.0.2."
    unit: Literal["hours", "days"] = "hours"

    def age_zone(self) -> AgeZone:
        return AgeZone(short_name(self.name, self.zone), self.zone.lower().rstrip("."), self.prefix, self.unit)


class DomainAgeSection(Section, frozen=True):
    """``[checks.domain_age]``"""

    enabled: bool = True
    # younger than N days -> weight; the youngest band that applies counts
    thresholds: Annotated[dict[str, float], Rule(_thresholds)] = msgspec.field(
        default_factory=lambda: {"7": 3.0, "30": 1.5, "90": 0.5})
    unknown_weight: float = 0.0
    changed_days: Positive = 7.0
    changed_weight: float = 1.0
    allowlist: Domains = ()
    rdap: bool = True
    rdap_timeout: Positive = 4.0
    rdap_per_server: Annotated[int, between(1, 64)] = 2
    rdap_overrides: Annotated[dict[str, str], Rule(_urls)] = {}
    rdap_bootstrap: str = ""  # a dns.json to use instead of state.dir's or the packaged one
    whois: bool = True
    whois_timeout: Positive = 4.0
    whois_servers: dict[str, str] = {}  # tld -> host[:port]
    cache_days: Positive = 7.0
    zone: tuple[AgeZoneSection, ...] = ()
    # A lookalike domain (impersonation.lookalike_domain) younger than this many days adds
    # young_lookalike_weight; one older than established_lookalike_years adds the (negative)
    # established_lookalike_weight, never more than the lookalike signal itself.
    young_lookalike_days: Positive = 30.0
    young_lookalike_weight: NonNegative = 1.5
    established_lookalike_years: Positive = 5.0
    established_lookalike_weight: NonPositive = -2.5

    def __post_init__(self) -> None:
        super().__post_init__()
        repeated = first_repeated([short_name(zone.name, zone.zone) for zone in self.zone])
        if repeated:
            raise ValueError(f"zone: two zones are named {repeated!r}")

    @property
    def grades(self) -> tuple[AgeGrade, ...]:
        return tuple(sorted((AgeGrade(float(days), weight) for days, weight in self.thresholds.items()), key=lambda g: g.days))


@dataclass(frozen=True, slots=True)
class DomainAge:
    """What is known of one domain's age, ready to explain."""

    domain: str
    roles: tuple[str, ...]
    age_days: float | None = None
    basis: str = ""  # "registered 2026-11-20", "first seen about 5 hours ago (...)"
    source: str = ""
    changed_days: float | None = None
    unknown: str = ""  # why the age is not known
    temporary: bool = False  # the unknown may resolve on a retry
    notes: list[str] = field(default_factory=list)

    @property
    def label(self) -> str:
        return f"{' and '.join(self.roles)} domain {self.domain}"


class DomainAgeCheck:
    name = "domain_age"
    kind = SignalKind.SENDER_RISK
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ("auth", "impersonation")  # verified DKIM domains, and a lookalike whose age weighs in

    def __init__(self, section: DomainAgeSection, registry: RegistryLookup | None, dns: Resolver | None, *,
                 own_domains: tuple[str, ...] = (), clock: Callable[[], datetime] = lambda: datetime.now(UTC)) -> None:
        self.section = section
        self.grades = section.grades
        self.zones = tuple(zone.age_zone() for zone in section.zone)
        # your own domains and the allowlist, as organizational domains
        self.never_age = frozenset(organizational_domain(d) for d in own_domains + section.allowlist)
        self.lookup_timeout = max(section.rdap_timeout, section.whois_timeout)
        self.registry = registry  # None: offline
        self.dns = dns
        self.clock = clock

    @property
    def max_score(self) -> float:
        s = self.section
        return max([g.weight for g in self.grades] + [s.unknown_weight, s.changed_weight, 0.0])

    # -- which domains ---------------------------------------------------------------------

    def domains(self, message: Message, summary: AuthSummary | None = None, *,
                verified_only: bool = True) -> dict[str, tuple[str, ...]]:
        """Organizational domains to age, each with the roles it plays in the message: DKIM
        domains that verified (from ``summary``), or every signing domain before that is known."""
        if message.envelope.auth_user:
            return {}  # our own users' submissions
        roles: dict[str, list[str]] = {}

        def add(domain: str | None, role: str) -> None:
            if domain and is_domain_name(domain):
                roles.setdefault(organizational_domain(domain), []).append(role)

        add(domain_of(from_address(message) or ""), "From")
        add(domain_of(message.envelope.mail_from or ""), "envelope")
        if summary is not None and summary.verified and verified_only:
            for result in summary.dkim:
                if result.result == "pass":
                    add(result.domain, "DKIM")
        else:
            for tags in signature_tags(message):
                add(tags.domain, "DKIM")
        skip = self.never_age | {organizational_domain(d) for r in message.envelope.rcpts if (d := domain_of(r))}
        return {d: tuple(dict.fromkeys(r)) for d, r in roles.items() if d not in skip}

    # -- early lookups ---------------------------------------------------------------------

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        if stage is Stage.CONNECT or self.registry is None:
            return
        for domain in self.domains(message, verified_only=False):
            for key, fn in self._lookups(domain).items():
                lookups.start(key, fn, self.lookup_timeout)

    def _lookups(self, domain: str) -> dict[str, Callable[[], object]]:
        found: dict[str, Callable[[], object]] = {}
        if self.registry is not None:
            found[f"age:{domain}"] = partial(self.registry.lookup, domain)
        if self.dns is not None:
            for zone in self.zones:
                found[f"agezone:{zone.name}:{domain}"] = partial(zone_age, self.dns, zone, domain)
        return found

    # -- verdict ---------------------------------------------------------------------------

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        domains = self.domains(message, facts.get(AuthSummary))
        if not domains:
            return Findings()
        if self.registry is None:
            return Findings((Signal("domain_age.offline", 0.0, "offline: domain ages not looked up"),))
        ages = [self._age_of(domain, roles, lookups) for domain, roles in domains.items()]
        return Findings(tuple(self._signals(ages) + self._lookalike(facts.get(NotedLookalike), ages)))

    def _lookalike(self, noted: NotedLookalike | None, ages: list[DomainAge]) -> list[Signal]:
        """A lookalike registered days ago is made for this; one registered fifteen years ago
        is most likely a business of its own that happens to look alike."""
        if noted is None:
            return []
        domain, weight = noted.domain, noted.weight
        age = next((a for a in ages if a.domain == domain and a.age_days is not None), None)
        if age is None or age.age_days is None:
            return []
        s = self.section
        if age.age_days < s.young_lookalike_days and s.young_lookalike_weight:
            return [Signal("domain_age.young_lookalike", s.young_lookalike_weight,
                           f"the lookalike domain {domain} is {_span(age.age_days)} old ({age.basis})",
                           SignalKind.SENDER_RISK)]
        if age.age_days > s.established_lookalike_years * 365.25 and s.established_lookalike_weight:
            reduction = max(s.established_lookalike_weight, -weight)  # never below nothing
            return [Signal("domain_age.established_lookalike", reduction,
                           f"the lookalike domain {domain} has existed for {_span(age.age_days)} ({age.basis}): "
                           "an established name, not one made for this", SignalKind.INFO)]
        return []

    def _age_of(self, domain: str, roles: tuple[str, ...], lookups: LookupSession) -> DomainAge:
        fns = self._lookups(domain)
        age = DomainAge(domain, roles)
        got = lookups.result(f"age:{domain}", fns[f"age:{domain}"], self.lookup_timeout)
        age = self._from_registry(age, got)
        for zone in self.zones:
            key = f"agezone:{zone.name}:{domain}"
            listed = lookups.result(key, fns[key], self.lookup_timeout)
            age = self._from_zone(age, zone, listed)
        return age

    def _from_registry(self, age: DomainAge, got: LookupResult[object]) -> DomainAge:
        value = got.value
        if not got.ok or not isinstance(value, tuple):
            return _unknown(age, f"registry lookup: {got.reason}", temporary=True)
        registration, cached = value
        assert isinstance(registration, Registration)
        source = registration.source.upper() + (", cached" if cached else "")
        if registration.status is RegistryStatus.UNKNOWN:
            return _unknown(age, f"{registration.source.upper()}: {registration.reason}", temporary=True)
        if registration.status is RegistryStatus.NOT_FOUND:
            return _unknown(age, f"{registration.source.upper()}: the registry does not know the domain", source=source)
        if registration.status is RegistryStatus.NO_SERVICE:
            return _unknown(age, registration.reason or "no registry service for this TLD", source=source)
        started = registration.last(*RESTARTING_EVENTS)
        if started is None:
            return _unknown(age, f"{registration.source.upper()}: no creation date published", source=source)
        now = self.clock()
        action = next((a for a, when in registration.events if when == started and a in RESTARTING_EVENTS), "registration")
        changed = registration.last("last changed")
        return DomainAge(
            age.domain, age.roles,
            age_days=(now - started).total_seconds() / 86400,
            basis=f"{_PAST.get(action, action)} {started.date().isoformat()}",
            source=source,
            changed_days=(now - changed).total_seconds() / 86400 if changed else None,
        )

    def _from_zone(self, age: DomainAge, zone: AgeZone, got: LookupResult[object]) -> DomainAge:
        value = got.value
        if not got.ok or not isinstance(value, ZoneAge):
            age.notes.append(f"{zone.zone}: {got.reason}")
            return age
        if value.age_days is None:
            if value.status in ("unknown", "unusable"):
                age.notes.append(value.detail)
            return age
        if age.age_days is not None and age.age_days <= value.age_days:
            return age
        return DomainAge(age.domain, age.roles, age_days=value.age_days, basis=value.detail,
                         source=f"zone {zone.name}", changed_days=age.changed_days, notes=age.notes)

    def _signals(self, ages: list[DomainAge]) -> list[Signal]:
        s = self.section
        known = sorted((a for a in ages if a.age_days is not None), key=lambda a: a.age_days or 0.0)
        signals: list[Signal] = []
        youngest = known[0] if known else None
        grade = _grade(self.grades, youngest.age_days) if youngest and youngest.age_days is not None else None
        if youngest is not None and grade is not None:
            signals.append(Signal("domain_age.young", grade.weight,
                                  f"{youngest.label} {youngest.basis}, {_span(youngest.age_days)} ago, "
                                  f"younger than {grade.days:g} days ({youngest.source})", SignalKind.SENDER_RISK))
        for age in known:
            if age is youngest and grade is not None:
                continue
            signals.append(Signal("domain_age.age", 0.0, f"{age.label} {age.basis}, {_span(age.age_days)} ago ({age.source})"))
        for age in known:
            if age.changed_days is not None and age.changed_days < s.changed_days and s.changed_weight and grade is None:
                signals.append(Signal("domain_age.recently_changed", s.changed_weight,
                                      f"{age.label} registration changed {_span(age.changed_days)} ago ({age.source})",
                                      SignalKind.SENDER_RISK))
                break
        for age in ages:
            if age.age_days is not None:
                continue
            detail = f"{age.label}: age unknown, {age.unknown}"
            if s.unknown_weight:
                signals.append(Signal("domain_age.unknown", s.unknown_weight, detail, SignalKind.SENDER_RISK))
            elif age.temporary:
                top = max((g.weight for g in self.grades), default=0.0)
                signals.append(Signal.unknown("domain_age.unknown", detail, top, SignalKind.SENDER_RISK))
            else:
                signals.append(Signal("domain_age.unknown", 0.0, detail))
        for age in ages:
            for note in age.notes:
                signals.append(Signal("domain_age.zone_note", 0.0, f"{age.domain}: {note}"))
        return signals


_PAST = {"registration": "registered", "reregistration": "re-registered", "transfer": "transferred",
         "reinstantiation": "reinstated"}


def _unknown(age: DomainAge, reason: str, *, temporary: bool = False, source: str = "") -> DomainAge:
    return DomainAge(age.domain, age.roles, unknown=reason, temporary=temporary, source=source, notes=age.notes)


def _grade(grades: tuple[AgeGrade, ...], days: float) -> AgeGrade | None:
    for grade in sorted(grades, key=lambda g: g.days):
        if days < grade.days:
            return grade
    return None


def _span(days: float | None) -> str:
    if days is None:
        return "an unknown time"
    if days < 2:
        return f"{max(days * 24, 0):.0f} hours"
    if days < 730:
        return f"{days:.0f} days"
    return f"{days / 365.25:.0f} years"


def build(section: DomainAgeSection, context: CheckContext) -> DomainAgeCheck:
    settings = context.settings
    registry = None
    if context.dns is not None:
        rdap = whois = None
        if section.rdap:
            overrides = dict(section.rdap_overrides)
            try:
                if section.rdap_bootstrap:
                    bootstrap = RdapBootstrap.load(settings.resolve(section.rdap_bootstrap), overrides)
                else:
                    bootstrap = load_bootstrap(settings.resolve(settings.state.dir), overrides)
            except (OSError, ValueError) as exc:
                raise ConfigError(settings.path, "checks.domain_age.rdap_bootstrap", str(exc)) from None
            rdap = RdapClient(bootstrap, timeout=section.rdap_timeout, per_server=section.rdap_per_server)
        if section.whois:
            whois = WhoisClient(dict(section.whois_servers), timeout=section.whois_timeout)
        registry = RegistryLookup(rdap, whois, context.store(), RegistryTtls(found=section.cache_days * DAY))
    own = settings.section(ImpersonationSection).own_domains
    return DomainAgeCheck(section, registry, context.dns, own_domains=own)


SIGNALS = {
    "young": "the youngest From, envelope or DKIM domain is younger than a threshold",
    "age": "how old the domains are and where that is known from: weight 0",
    "recently_changed": "an old domain transferred or re-registered within changed_days",
    "unknown": "no registration date could be found (weight unknown_weight, 0 by default)",
    "young_lookalike": "a lookalike of a protected domain, registered recently",
    "established_lookalike": "a lookalike registered years ago: less likely an impostor's",
    "zone_note": "what a DNS age zone said about a domain",
    "offline": "offline: domain ages not looked up",
}

PLUGIN = CheckPlugin("domain_age", DomainAgeSection, build, SIGNALS)
