"""Connecting-IP reputation: local allow/deny lists and forward-confirmed reverse DNS.

Lookups start at connect, so by end-of-message their answers are usually already in.
Private, loopback and link-local clients are never looked up: their DNS says nothing
about the sender and would only leak internal addresses to resolvers.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass
from enum import StrEnum

from ..lookups import LookupSession
from ..lookups.dns import DnsClient, DnsStatus
from ..message import Message
from ..verdict import Signal, SignalKind
from . import Stage

IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network
IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address

_NEVER_LOOKED_UP = tuple(
    ipaddress.ip_network(n)
    for n in (
        "0.0.0.0/8", "10.0.0.0/8", "100.64.0.0/10", "127.0.0.0/8", "169.254.0.0/16",
        "172.16.0.0/12", "192.168.0.0/16", "224.0.0.0/4", "240.0.0.0/4",
        "::/128", "::1/128", "fc00::/7", "fe80::/10", "ff00::/8",
    )
)
MAX_PTR_NAMES = 3  # as SpamAssassin and Postfix do: a PTR set larger than this is abuse


@dataclass(frozen=True, slots=True)
class IpReputationSettings:
    allow: tuple[IPNetwork, ...] = ()
    deny: tuple[IPNetwork, ...] = ()
    allow_weight: float = -5.0
    deny_weight: float = 6.0
    no_ptr_weight: float = 1.0
    ptr_mismatch_weight: float = 0.5


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


def parse_ip(text: str | None) -> IPAddress | None:
    if not text:
        return None
    try:
        address = ipaddress.ip_address(text.strip().strip("[]").removeprefix("IPv6:"))
    except ValueError:
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped:
        return address.ipv4_mapped
    return address


def is_public(address: IPAddress) -> bool:
    return not any(address in net for net in _NEVER_LOOKED_UP if net.version == address.version)


def forward_confirmed(dns: DnsClient, ip: IPAddress) -> FcrdnsResult:
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


class IpReputationCheck:
    name = "ip_reputation"
    kind = SignalKind.SENDER_RISK

    def __init__(self, settings: IpReputationSettings, dns: DnsClient | None) -> None:
        self.settings = settings
        self.dns = dns  # None: offline, no lookups

    @property
    def max_score(self) -> float:
        s = self.settings
        return max(s.deny_weight, s.no_ptr_weight, s.ptr_mismatch_weight, 0.0)

    def _lookup_key(self, ip: IPAddress) -> str:
        return f"fcrdns:{ip}"

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        if stage is not Stage.CONNECT or self.dns is None:
            return
        ip = parse_ip(message.envelope.client_ip)
        if ip is not None and is_public(ip) and self._local_lists(ip) is None:
            dns = self.dns
            lookups.start(self._lookup_key(ip), lambda: forward_confirmed(dns, ip))

    def run(self, message: Message, lookups: LookupSession) -> list[Signal]:
        ip = parse_ip(message.envelope.client_ip)
        if ip is None:
            return [Signal("ip_reputation.no_client_ip", 0.0, "no client IP known")]
        listed = self._local_lists(ip)
        if listed is not None:
            return [listed]
        if not is_public(ip):
            return [Signal("ip_reputation.not_public", 0.0, f"{ip} is not public; not looked up")]
        if self.dns is None:
            return [Signal("ip_reputation.offline", 0.0, "offline: no DNS lookups")]
        dns = self.dns
        result = lookups.result(self._lookup_key(ip), lambda: forward_confirmed(dns, ip))
        if not result.ok or result.value is None:
            return [self._unknown(f"reverse DNS of {ip}: {result.reason}")]
        return [self._fcrdns_signal(ip, result.value)]

    def _local_lists(self, ip: IPAddress) -> Signal | None:
        s = self.settings
        for net in s.allow:
            if ip in net:
                return Signal("ip_reputation.local_allow", s.allow_weight, f"{ip} in local allow list ({net})")
        for net in s.deny:
            if ip in net:
                return Signal(
                    "ip_reputation.local_deny", s.deny_weight, f"{ip} in local deny list ({net})",
                    SignalKind.SENDER_RISK,
                )
        return None

    def _fcrdns_signal(self, ip: IPAddress, fcrdns: FcrdnsResult) -> Signal:
        s = self.settings
        if fcrdns.outcome is Fcrdns.CONFIRMED:
            return Signal("ip_reputation.fcrdns_pass", 0.0, f"{ip} reverse {fcrdns.names[0]} confirmed")
        if fcrdns.outcome is Fcrdns.NO_PTR:
            return Signal("ip_reputation.no_ptr", s.no_ptr_weight, f"{ip} has no reverse DNS", SignalKind.SENDER_RISK)
        if fcrdns.outcome is Fcrdns.MISMATCH:
            return Signal(
                "ip_reputation.ptr_mismatch",
                s.ptr_mismatch_weight,
                f"{ip} reverse {', '.join(fcrdns.names)} does not resolve back to it",
                SignalKind.SENDER_RISK,
            )
        return self._unknown(f"reverse DNS of {ip}: {fcrdns.reason}")

    def _unknown(self, detail: str) -> Signal:
        s = self.settings
        return Signal.unknown(
            "ip_reputation.fcrdns_unknown", detail, max(s.no_ptr_weight, s.ptr_mismatch_weight),
            SignalKind.SENDER_RISK,
        )
