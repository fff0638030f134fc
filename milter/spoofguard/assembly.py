"""Turn validated settings into a ready Analyzer: the one place checks are wired up.

Everything expensive (rule compilation, list parsing, resolver set-up) happens here, once
per start or reload, never per message.
"""

from __future__ import annotations

import ipaddress
import logging
import socket
import threading
from pathlib import Path

from .age.bootstrap import RdapBootstrap, load_bootstrap
from .age.rdap import RdapClient
from .age.registry import DAY, RegistryLookup, RegistryTtls
from .age.whois import WhoisClient
from .age.zones import AgeZone
from .auth.domains import load_domain_list, organizational_domain
from .checks import Check, CheckOrderError
from .checks.auth import AuthCheck, AuthSettings
from .checks.content import ContentCheck, ContentSettings
from .checks.domain_age import AgeGrade, DomainAgeCheck, DomainAgeSettings
from .checks.impersonation import ImpersonationCheck, ImpersonationSettings
from .checks.ip_reputation import IpReputationCheck, IpReputationSettings
from .config import Settings
from .content.extract import TextLimits
from .core import Analyzer
from .errors import ConfigError
from .lookups.dns import DnsClient, DnsSettings
from .lookups.dnsbl import DnsList, parse_codes
from .lookups.store import CacheSettings, GuardedStore, open_store
from .policy import Policy
from .received import IPNetwork
from .rules import load_rule_files

log = logging.getLogger(__name__)


def build_policy(settings: Settings) -> Policy:
    p = settings.policy
    return Policy(
        tag=p.tag,
        quarantine=p.quarantine,
        reject=p.reject if p.reject_enabled else None,
        require_content_and_sender_risk=p.require_content_and_sender_risk,
        min_sender_risk=p.min_sender_risk,
        on_error="tempfail" if p.on_error == "tempfail" else "accept",
        dry_run=p.dry_run,
        judge_local_submissions=p.judge_local_submissions,
        trust_authenticated_lists=p.trust_authenticated_lists,
    )


def build_dns(settings: Settings) -> DnsClient:
    d = settings.dns
    return DnsClient(DnsSettings(nameservers=d.nameservers, port=d.port, timeout=d.timeout), store=build_store(settings))


_stores: dict[CacheSettings, GuardedStore | None] = {}
_stores_lock = threading.Lock()


def build_store(settings: Settings) -> GuardedStore | None:
    """The shared lookup cache; opened once per distinct cache configuration, so a reload
    that leaves ``[cache]`` alone keeps the same database connection."""
    c = settings.cache
    state = settings.resolve(settings.state.dir)
    cache = CacheSettings(
        backend=c.backend,
        path=settings.resolve(c.path) if c.path else state / "cache.sqlite",
        redis_url=c.redis_url,
        max_entries=c.max_entries,
        warn_interval=c.warn_interval,
    )
    with _stores_lock:
        if cache not in _stores:
            if cache.backend == "sqlite" and cache.path is not None:
                try:
                    cache.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
                except OSError as exc:
                    log.warning("cannot create %s (%s); the cache will miss until it exists", cache.path.parent, exc.strerror)
            _stores[cache] = open_store(cache)
        return _stores[cache]


def build_analyzer(settings: Settings, *, offline: bool = False) -> Analyzer:
    """Offline: checks that need the network report so and score nothing."""
    dns = None if offline else build_dns(settings)
    trusted = _networks(settings.network.trusted_networks)
    checks: list[Check] = []
    auth = settings.checks.auth
    if auth.enabled:
        authserv_id = (auth.authserv_id or socket.gethostname()).lower()
        checks.append(
            AuthCheck(
                AuthSettings(
                    authserv_id=authserv_id,
                    trusted_authserv_ids=frozenset(i.lower() for i in auth.trusted_authserv_ids) or frozenset({authserv_id}),
                    trusted_networks=trusted,
                    trusted_arc_sealers=frozenset(d.lower().rstrip(".") for d in auth.trusted_arc_sealers),
                    verify=auth.verify,
                    add_header=auth.add_header,
                    weights=auth.weights,
                ),
                dns,
                settings.analysis.lookup_timeout,
            )
        )
    imp = settings.checks.impersonation
    if imp.enabled:
        protected = {organizational_domain(d) for d in imp.own_domains}
        for path in settings.list_files("checks.impersonation.protected_domain_files", imp.protected_domain_files, "impersonated"):
            protected |= load_domain_list(path)
        freemail: set[str] = set()
        for path in settings.list_files("checks.impersonation.freemail_files", imp.freemail_files, "freemail"):
            freemail |= load_domain_list(path)
        checks.append(
            ImpersonationCheck(
                ImpersonationSettings(frozenset(protected), frozenset(freemail), trusted, imp.weights)
            )
        )
    content = settings.checks.content
    if content.enabled:
        rules = load_rule_files(settings.rule_files())
        try:
            checks.append(ContentCheck(rules, ContentSettings(
                co_occurrence_bonus=content.co_occurrence_bonus, threat_bonus=content.threat_bonus,
                evasion_weight=content.evasion_weight,
                crypto_address_weight=content.crypto_address_weight, ransom_weight=content.ransom_weight,
                reported_factor=content.reported_factor,
                frame_factor=content.frame_factor, frame_cues=content.frame_cues, engine=content.engine,
                unscanned_text_weight=content.unscanned_text_weight,
                text_limits=TextLimits(content.max_text, content.read_pdf, pdf_timeout=content.pdf_timeout))))
        except RuntimeError as exc:  # engine = "hyperscan" where it is not installed
            raise ConfigError(settings.path, "checks.content.engine", str(exc)) from None
    ipr = settings.checks.ip_reputation
    if ipr.enabled:
        allow = _networks(ipr.allow) + _network_files(settings, "allow_files", ipr.allow_files)
        deny = _networks(ipr.deny) + _network_files(settings, "deny_files", ipr.deny_files)
        checks.append(
            IpReputationCheck(
                IpReputationSettings(
                    allow=allow,
                    deny=deny,
                    allow_weight=ipr.allow_weight,
                    deny_weight=ipr.deny_weight,
                    no_ptr_weight=ipr.no_ptr_weight,
                    ptr_mismatch_weight=ipr.ptr_mismatch_weight,
                    lists=_dns_lists(settings),
                    trusted_networks=trusted,
                    asn_zone=ipr.asn_zone,
                    asn6_zone=ipr.asn6_zone,
                    asn_weights=_asn_weights(settings),
                ),
                dns,
            )
        )
    age = settings.checks.domain_age
    if age.enabled:
        checks.append(_domain_age_check(settings, dns))
    try:
        return Analyzer(checks, build_policy(settings))
    except CheckOrderError as exc:
        raise ConfigError(settings.path, f"checks.{exc.check}.enabled", exc.problem) from None


def _domain_age_check(settings: Settings, dns: DnsClient | None) -> DomainAgeCheck:
    age = settings.checks.domain_age
    grades = tuple(sorted((AgeGrade(float(days), weight) for days, weight in age.thresholds.items()), key=lambda g: g.days))
    own = {organizational_domain(d) for d in settings.checks.impersonation.own_domains}
    zones = []
    for index, zone in enumerate(age.zone):
        name = zone.zone.lower().rstrip(".")
        zones.append(AgeZone(zone.name or name.split(".")[0], name, zone.prefix, zone.unit))
        if [z.name for z in zones].count(zones[-1].name) > 1:
            raise ConfigError(settings.path, f"checks.domain_age.zone[{index}].name", f"two zones are named {zones[-1].name!r}")
    registry = None
    if dns is not None:
        rdap = whois = None
        if age.rdap:
            overrides = dict(age.rdap_overrides)
            try:
                if age.rdap_bootstrap:
                    bootstrap = RdapBootstrap.load(settings.resolve(age.rdap_bootstrap), overrides)
                else:
                    bootstrap = load_bootstrap(settings.resolve(settings.state.dir), overrides)
            except (OSError, ValueError) as exc:
                raise ConfigError(settings.path, "checks.domain_age.rdap_bootstrap", str(exc)) from None
            rdap = RdapClient(bootstrap, timeout=age.rdap_timeout, per_server=age.rdap_per_server)
        if age.whois:
            whois = WhoisClient(dict(age.whois_servers), timeout=age.whois_timeout)
        registry = RegistryLookup(rdap, whois, build_store(settings), RegistryTtls(found=age.cache_days * DAY))
    return DomainAgeCheck(
        DomainAgeSettings(
            grades=grades,
            unknown_weight=age.unknown_weight,
            changed_days=age.changed_days,
            changed_weight=age.changed_weight,
            never_age=frozenset(own | {organizational_domain(d) for d in age.allowlist}),
            zones=tuple(zones),
            lookup_timeout=max(age.rdap_timeout, age.whois_timeout),
            young_lookalike_days=age.young_lookalike_days,
            young_lookalike_weight=age.young_lookalike_weight,
            established_lookalike_years=age.established_lookalike_years,
            established_lookalike_weight=age.established_lookalike_weight,
        ),
        registry,
        dns,
    )


def _networks(items: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    return tuple(ipaddress.ip_network(item, strict=False) for item in items)


def _network_files(settings: Settings, key: str, files: tuple[str, ...]) -> tuple[IPNetwork, ...]:
    """CIDR files: one network per line, ``#`` comments; read on start and on every reload."""
    networks: list[IPNetwork] = []
    for name in files:
        path = settings.resolve(name)
        try:
            lines = Path(path).read_text(encoding="utf-8").splitlines()
        except OSError as exc:
            raise ConfigError(settings.path, f"checks.ip_reputation.{key}", f"cannot read {path}: {exc.strerror}") from exc
        for number, line in enumerate(lines, 1):
            entry = line.split("#", 1)[0].strip()
            if not entry:
                continue
            try:
                networks.append(ipaddress.ip_network(entry, strict=False))
            except ValueError:
                raise ConfigError(path, f"line {number}", f"{entry!r} is not an IP network (CIDR)") from None
    return tuple(networks)


def _dns_lists(settings: Settings) -> tuple[DnsList, ...]:
    lists = []
    for index, section in enumerate(settings.checks.ip_reputation.dnsbl):
        key = f"checks.ip_reputation.dnsbl[{index}]"
        try:
            codes = parse_codes(section.codes, section.bitmask)
        except ValueError as exc:
            raise ConfigError(settings.path, f"{key}.codes", str(exc)) from None
        meanings = {meaning for _, _, meaning in codes}
        for meaning in section.weights:
            if meaning not in meanings:
                raise ConfigError(settings.path, f"{key}.weights.{meaning}", "not a meaning listed in codes")
        zone = section.zone.lower().rstrip(".")
        lists.append(DnsList(section.name or zone.split(".")[0], zone, section.weight, codes,
                             dict(section.weights), section.bitmask, section.allowlist, section.ipv6))
    names = [lst.name for lst in lists]
    for name in names:
        if names.count(name) > 1:
            raise ConfigError(settings.path, "checks.ip_reputation.dnsbl", f"two lists are named {name!r}; set name")
    return tuple(lists)


def _asn_weights(settings: Settings) -> dict[int, float]:
    weights = {}
    for label, weight in settings.checks.ip_reputation.asn_weights.items():
        number = label.upper().removeprefix("AS")
        if not number.isdigit():
            raise ConfigError(settings.path, f"checks.ip_reputation.asn_weights.{label}", "must be an AS number such as AS64500")
        weights[int(number)] = weight
    return weights
