"""Connecting-IP reputation: local allow/deny lists, DNS block- and allowlists, origin AS,
and forward-confirmed reverse DNS.

The IP judged is the client's, or behind your own relays the first hop from outside them.
Lookups start at connect, all in parallel, so by end-of-message their answers are usually
in. Private, loopback and link-local addresses are never looked up: their DNS says
nothing about the sender and would leak internal addresses to resolvers.
"""

from __future__ import annotations

import ipaddress
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass
from enum import StrEnum
from functools import partial

from ...lookups import LookupResult, LookupSession
from ...lookups.dns import DnsAnswer, DnsStatus, Resolver
from ...lookups.dnsbl import (
    DnsList,
    DnsListHealth,
    ListHealth,
    addresses,
    parse_codes,
    probe,
    reverse_labels,
    unusable_reason,
)
from ...lookups.ratelimit import RateLimitedLog
from ...message import Message
from ...received import IPAddress, IPNetwork, networks, parse_ip, relay_ip
from ...sections import Networks, Section, Zone, first_repeated, short_name
from ...verdict import Signal, SignalKind
from .. import Facts, Findings, Stage
from ..registry import CheckContext, CheckPlugin

log = logging.getLogger(__name__)

_NEVER_LOOKED_UP = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
    )
)
MAX_PTR_NAMES = 3  # as SpamAssassin and Postfix do: a PTR set larger than this is abuse


class DnsListSection(Section, frozen=True):
    """One DNS block- or allowlist: ``[[checks.ip_reputation.dnsbl]]``."""

    zone: Zone  # required
    name: str = ""  # short name for signals; default: the zone's first label
    weight: float = 1.0  # for a listing code without a weight of its own
    codes: dict[str, str] = {}  # "127.0.0.2" = "SBL", ranges a-b
    weights: dict[str, float] = {}  # meaning -> weight
    bitmask: bool = False
    allowlist: bool = False
    ipv6: bool = True

    def __post_init__(self) -> None:
        super().__post_init__()
        try:
            meanings = {meaning for _, _, meaning in parse_codes(self.codes, self.bitmask)}
        except ValueError as exc:
            raise ValueError(f"codes: {exc}") from None
        for meaning in self.weights:
            if meaning not in meanings:
                raise ValueError(f"weights: {meaning!r} is not a meaning listed in codes")

    def dns_list(self) -> DnsList:
        return DnsList(short_name(self.name, self.zone), self.zone.lower().rstrip("."), self.weight,
                       parse_codes(self.codes, self.bitmask), dict(self.weights), self.bitmask, self.allowlist, self.ipv6)


def _as_number(label: str) -> int | None:
    number = label.upper().removeprefix("AS")
    return int(number) if number.isdigit() else None


class IpReputationSection(Section, frozen=True):
    """``[checks.ip_reputation]``"""

    enabled: bool = True
    allow: Networks = ()
    deny: Networks = ()
    allow_files: tuple[str, ...] = ()  # CIDR files, relative to the config file
    deny_files: tuple[str, ...] = ()
    allow_weight: float = -5.0
    deny_weight: float = 6.0
    no_ptr_weight: float = 1.0
    ptr_mismatch_weight: float = 0.5
    dnsbl: tuple[DnsListSection, ...] = ()
    asn_zone: str = "origin.asn.cymru.com"
    asn6_zone: str = "origin6.asn.cymru.com"
    asn_weights: dict[str, float] = {}  # "AS64500" = 2.0

    def __post_init__(self) -> None:
        super().__post_init__()
        repeated = first_repeated([short_name(lst.name, lst.zone) for lst in self.dnsbl])
        if repeated:
            raise ValueError(f"dnsbl: two lists are named {repeated!r}; set name")
        for label in self.asn_weights:
            if _as_number(label) is None:
                raise ValueError(f"asn_weights: {label!r} must be an AS number such as AS64500")


class Fcrdns(StrEnum):
    CONFIRMED = "confirmed"
    NO_PTR = "no_ptr"
    MISMATCH = "mismatch"
    UNKNOWN = "unknown"


@dataclass(frozen=True, slots=True)
class FcrdnsResult:
    outcome: Fcrdns
    names: tuple[str, ...] = ()
    reason: str = ""


def is_public(address: IPAddress) -> bool:
    return not any(address in net for net in _NEVER_LOOKED_UP if net.version == address.version)


def forward_confirmed(dns: Resolver, ip: IPAddress) -> FcrdnsResult:
    """PTR names of ``ip`` that resolve back to it; DNS errors give UNKNOWN, not a verdict."""
    ptr = dns.reverse(str(ip))
    if ptr.status in (DnsStatus.NXDOMAIN, DnsStatus.NODATA):
        return FcrdnsResult(Fcrdns.NO_PTR)
    if not ptr.ok:
        return FcrdnsResult(Fcrdns.UNKNOWN, reason=f"PTR lookup: {ptr.reason}")
    names = tuple(n.rstrip(".").lower() for n in ptr.records[:MAX_PTR_NAMES])
    rdtype = "A" if ip.version == 4 else "AAAA"
    unknown_reason = ""
    for name in names:
        forward = dns.query(name, rdtype)
        if forward.ok and any(parse_ip(r) == ip for r in forward.records):
            return FcrdnsResult(Fcrdns.CONFIRMED, names)
        if forward.status is DnsStatus.TEMPERROR:
            unknown_reason = f"{rdtype} {name}: {forward.reason}"
    if unknown_reason:
        return FcrdnsResult(Fcrdns.UNKNOWN, names, unknown_reason)
    return FcrdnsResult(Fcrdns.MISMATCH, names)


def parse_origin(txt: str) -> tuple[list[int], str]:
    """Team Cymru origin TXT: ``"64500 64501 | 203.0.113.0/24 | ZZ | arin | 2020-01-01"``."""
    fields = [f.strip() for f in txt.split("|")]
    numbers = [int(n) for n in fields[0].split() if n.isdigit()] if fields else []
    where = " ".join(f for f in (fields[1:3] if len(fields) > 2 else fields[1:]) if f)
    return numbers, where


class IpReputationCheck:
    name = "ip_reputation"
    kind = SignalKind.SENDER_RISK
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, section: IpReputationSection, dns: Resolver | None, *,
                 trusted_networks: tuple[IPNetwork, ...] = (),
                 listed_allow: tuple[IPNetwork, ...] = (), listed_deny: tuple[IPNetwork, ...] = ()) -> None:
        """``listed_allow``/``listed_deny``: the networks read from allow_files/deny_files."""
        self.section = section
        self.dns = dns  # None: offline, no lookups
        self.trusted_networks = trusted_networks
        self.allow = networks(section.allow) + listed_allow
        self.deny = networks(section.deny) + listed_deny
        self.lists = tuple(lst.dns_list() for lst in section.dnsbl)
        self.asn_weights = {_as_number(label) or 0: weight for label, weight in section.asn_weights.items()}
        self.health = DnsListHealth()
        self._warn = RateLimitedLog(log)
        if dns is not None and self.lists:
            threading.Thread(target=self._probe_all, name="dnsbl-probe", daemon=True).start()

    @property
    def max_score(self) -> float:
        s = self.section
        listed = sum(lst.max_weight for lst in self.lists if not lst.allowlist)
        asn = max(self.asn_weights.values(), default=0.0)
        return max(s.deny_weight, 0.0) + max(s.no_ptr_weight, s.ptr_mismatch_weight, 0.0) + listed + max(asn, 0.0)

    # -- early lookups ------------------------------------------------------------------

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        if stage is not Stage.CONNECT and not (stage is Stage.HEADERS and self.trusted_networks):
            return
        ip = self._lookup_ip(message)
        if ip is None or self.dns is None:
            return
        for key, fn in self._lookups(ip).items():
            lookups.start(key, fn)

    def _lookup_ip(self, message: Message) -> IPAddress | None:
        ip, _ = relay_ip(message, self.trusted_networks)
        if ip is None or not is_public(ip) or self._local_lists(ip) is not None:
            return None
        return ip

    def _lookups(self, ip: IPAddress) -> dict[str, Callable[[], object]]:
        dns = self.dns
        assert dns is not None
        found: dict[str, Callable[[], object]] = {f"fcrdns:{ip}": lambda: forward_confirmed(dns, ip)}
        for lst in self.lists:
            qname = lst.query_name(ip)
            if qname is not None:
                found[f"dnsbl:{lst.name}:{ip}"] = partial(dns.query, qname, "A")
        zone = self.section.asn_zone if ip.version == 4 else self.section.asn6_zone
        if zone:
            found[f"asn:{ip}"] = lambda: dns.query(f"{reverse_labels(ip)}.{zone}", "TXT")
        return found

    # -- verdict --------------------------------------------------------------------------

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        return Findings(tuple(self._findings(message, lookups)))

    def _findings(self, message: Message, lookups: LookupSession) -> list[Signal]:
        ip, source = relay_ip(message, self.trusted_networks)
        if ip is None:
            return [Signal("ip_reputation.no_client_ip", 0.0, "no client IP known")]
        listed = self._local_lists(ip)
        if listed is not None:
            return [listed]
        if not is_public(ip):
            return [Signal("ip_reputation.not_public", 0.0, f"{ip} ({source}) is not public; not looked up")]
        if self.dns is None:
            return [Signal("ip_reputation.offline", 0.0, "offline: no DNS lookups")]
        fns = self._lookups(ip)
        signals = [self._fcrdns_signal(ip, lookups.result(f"fcrdns:{ip}", fns[f"fcrdns:{ip}"]))]
        for lst in self.lists:
            key = f"dnsbl:{lst.name}:{ip}"
            if key in fns:
                signals.extend(self._list_signal(lst, ip, lookups.result(key, fns[key])))
        if f"asn:{ip}" in fns:
            signals.extend(self._asn_signal(ip, lookups.result(f"asn:{ip}", fns[f"asn:{ip}"])))
        if source != "client":
            signals.insert(0, Signal("ip_reputation.relay", 0.0, f"judged {ip} from {source}; the client is a trusted relay"))
        return signals

    def _local_lists(self, ip: IPAddress) -> Signal | None:
        s = self.section
        for net in self.allow:
            if ip in net:
                return Signal("ip_reputation.local_allow", s.allow_weight, f"{ip} in local allow list ({net})")
        for net in self.deny:
            if ip in net:
                return Signal("ip_reputation.local_deny", s.deny_weight, f"{ip} in local deny list ({net})", SignalKind.SENDER_RISK)
        return None

    def _fcrdns_signal(self, ip: IPAddress, got: LookupResult[object]) -> Signal:
        s = self.section
        result = got.value
        if not got.ok or not isinstance(result, FcrdnsResult):
            return self._fcrdns_unknown(f"reverse DNS of {ip}: {got.reason}")
        if result.outcome is Fcrdns.CONFIRMED:
            return Signal("ip_reputation.fcrdns_pass", 0.0, f"{ip} reverse {result.names[0]} confirmed")
        if result.outcome is Fcrdns.NO_PTR:
            return Signal("ip_reputation.no_ptr", s.no_ptr_weight, f"{ip} has no reverse DNS", SignalKind.SENDER_RISK)
        if result.outcome is Fcrdns.MISMATCH:
            return Signal("ip_reputation.ptr_mismatch", s.ptr_mismatch_weight,
                          f"{ip} reverse {', '.join(result.names)} does not resolve back to it", SignalKind.SENDER_RISK)
        return self._fcrdns_unknown(f"reverse DNS of {ip}: {result.reason}")

    def _fcrdns_unknown(self, detail: str) -> Signal:
        s = self.section
        return Signal.unknown("ip_reputation.fcrdns_unknown", detail, max(s.no_ptr_weight, s.ptr_mismatch_weight), SignalKind.SENDER_RISK)

    def _list_signal(self, lst: DnsList, ip: IPAddress, got: LookupResult[object]) -> list[Signal]:
        kind = "dnswl" if lst.allowlist else "dnsbl"
        health = self.health.health(lst.name)
        if not health.usable:
            return [Signal(f"ip_reputation.{kind}_unusable", 0.0, f"{lst.zone} ignored: {health.reason}")]
        answer = got.value
        if not got.ok or not isinstance(answer, DnsAnswer) or answer.status is DnsStatus.TEMPERROR:
            reason = answer.reason if isinstance(answer, DnsAnswer) else got.reason
            return [Signal.unknown(f"ip_reputation.{kind}_unknown", f"{lst.zone}: {reason}",
                                   0.0 if lst.allowlist else lst.max_weight, SignalKind.SENDER_RISK)]
        if not answer.ok:
            return [Signal(f"ip_reputation.{kind}.{lst.name}", 0.0, f"{ip} not listed in {lst.zone}")]
        found = addresses(answer)
        broken = unusable_reason(found)
        if broken:
            self.health.mark_unusable(lst.name, broken)
            self._warn.warning(f"dnsbl:{lst.name}", "DNS list %s is unusable and ignored: %s", lst.zone, broken)
            return [Signal(f"ip_reputation.{kind}_unusable", 0.0, f"{lst.zone} ignored: {broken}")]
        meanings = lst.meanings(found)
        codes = ", ".join(str(a) for a in found)
        if not meanings:
            return [Signal(f"ip_reputation.{kind}.{lst.name}", 0.0, f"{ip} answered {codes} in {lst.zone}: not a documented listing code")]
        weight = lst.weight_of(meanings)
        signal_kind = SignalKind.INFO if lst.allowlist else SignalKind.SENDER_RISK
        return [Signal(f"ip_reputation.{kind}.{lst.name}", weight,
                       f"{ip} listed in {lst.zone}: {', '.join(meanings)} ({codes})", signal_kind)]

    def _asn_signal(self, ip: IPAddress, got: LookupResult[object]) -> list[Signal]:
        answer = got.value
        if not got.ok or not isinstance(answer, DnsAnswer) or not answer.ok or not answer.records:
            return []  # the origin AS is context; its absence is not evidence
        numbers, where = parse_origin(answer.records[0])
        if not numbers:
            return []
        weighted = [(n, self.asn_weights[n]) for n in numbers if n in self.asn_weights]
        label = " ".join(f"AS{n}" for n in numbers)
        if not weighted:
            return [Signal("ip_reputation.asn", 0.0, f"{ip} originates from {label} ({where})")]
        number, weight = max(weighted, key=lambda item: item[1])
        kind = SignalKind.SENDER_RISK if weight > 0 else SignalKind.INFO
        return [Signal("ip_reputation.asn", weight, f"{ip} originates from AS{number} ({where}), weighted by local policy", kind)]

    def _probe_all(self) -> None:
        assert self.dns is not None
        for lst in self.lists:
            try:
                result = probe(self.dns, lst)
            except Exception:  # a probe must never take the milter down
                log.exception("probing DNS list %s failed", lst.zone)
                continue
            if not result.usable:
                self.health.mark_unusable(lst.name, result.reason)
            if not _changed(lst.zone, result):
                continue  # said at start or at an earlier reload
            if result.resolver_problem:
                log.warning("DNS list %s could not be probed: %s; its lookups count as unknown until it answers",
                            lst.zone, result.reason)
            elif not result.usable:
                log.warning("DNS list %s is unusable and ignored: %s", lst.zone, result.reason)
            else:
                log.info("DNS list %s answers its test points", lst.zone)


# What each list's last probe found, kept across reloads: a reload rebuilds the check and
# probes again, and only a change is worth a log line.
_last_probe: dict[str, ListHealth] = {}
_last_probe_lock = threading.Lock()


def _changed(zone: str, result: ListHealth) -> bool:
    with _last_probe_lock:
        before = _last_probe.get(zone)
        _last_probe[zone] = result
    if before is None:
        return not result.usable or result.resolver_problem  # a healthy list at start needs no line
    return before != result


def build(section: IpReputationSection, context: CheckContext) -> IpReputationCheck:
    settings = context.settings
    return IpReputationCheck(
        section, context.dns, trusted_networks=context.trusted_networks,
        listed_allow=settings.network_files("checks.ip_reputation.allow_files", section.allow_files),
        listed_deny=settings.network_files("checks.ip_reputation.deny_files", section.deny_files))


SIGNALS = {
    "local_allow": "the IP is in the local allow list",
    "local_deny": "the IP is in the local deny list",
    "<dnsbl|dnswl>.<list>": "the IP's listing in one DNS list, weighted by what its code means",
    "<dnsbl|dnswl>_unknown": "a DNS list could not answer now: unknown, never a listing",
    "<dnsbl|dnswl>_unusable": "a DNS list is ignored: it refuses our resolver or answers everything",
    "asn": "the origin AS, weighted when local policy names it",
    "no_ptr": "the IP has no reverse DNS",
    "ptr_mismatch": "the reverse name does not resolve back to the IP",
    "fcrdns_pass": "the reverse name resolves back to the IP",
    "fcrdns_unknown": "reverse DNS could not be checked now: unknown",
    "relay": "the IP judged is the first hop outside your trusted relays",
    "not_public": "a private or loopback IP: not looked up",
    "no_client_ip": "no client IP is known",
    "offline": "offline: no lookups made",
}

PLUGIN = CheckPlugin("ip_reputation", IpReputationSection, build, SIGNALS)
