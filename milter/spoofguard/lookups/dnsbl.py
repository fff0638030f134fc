"""DNS block- and allowlists: query names, return-code meanings, and list health.

Only documented listing codes count. Answers in 127.255.255.0/24 are Spamhaus-style
refusals (typo in the list name, query through a public or open resolver, rate limit) and
answers outside 127.0.0.0/8 mean the list is broken or hijacked: either way the list is
*unusable*, scores nothing, and says so. Like rspamd, each list is probed with its RFC 5782
test points: 127.0.0.2 must be listed and 127.0.0.1 must not.
"""

from __future__ import annotations

import ipaddress
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from .dns import DnsAnswer, DnsStatus, Resolver

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
LOOPBACK_V4 = ipaddress.ip_network("127.0.0.0/8")
REFUSALS = ipaddress.ip_network("127.255.255.0/24")
REFUSAL_MEANINGS = {
    "127.255.255.252": "typo in the list name",
    "127.255.255.254": "query refused: sent through a public or open resolver",
    "127.255.255.255": "query refused: too many queries",
}
UNUSABLE_FOR = 600.0  # seconds a list that refused is left alone before it is tried again


@dataclass(frozen=True)
class DnsList:
    """One list from the configuration, its codes parsed once."""

    name: str
    zone: str
    weight: float  # for a listing whose meaning has no weight of its own
    codes: tuple[tuple[int, int, str], ...] = ()  # (first, last, meaning) as integers
    weights: dict[str, float] = field(default_factory=dict)  # meaning -> weight
    bitmask: bool = False  # codes are bits of the last octet of 127.0.0.x
    allowlist: bool = False
    ipv6: bool = True

    def query_name(self, ip: IPAddress) -> str | None:
        if ip.version == 6 and not self.ipv6:
            return None
        return f"{reverse_labels(ip)}.{self.zone}"

    def meanings(self, answers: list[IPAddress]) -> list[str]:
        """What the answer addresses mean; empty when none is a documented listing."""
        found: list[str] = []
        for answer in answers:
            value = int(answer)
            if self.bitmask:
                found += [meaning for first, _, meaning in self.codes if value & first]
            elif not self.codes:
                found.append(f"listed ({answer})")
            else:
                found += [meaning for first, last, meaning in self.codes if first <= value <= last]
        return list(dict.fromkeys(found))

    @property
    def max_weight(self) -> float:
        """The most a listing here can score: what an unanswered query might have cost."""
        return max([self.weight, *self.weights.values()])

    def weight_of(self, meanings: list[str]) -> float:
        """The strongest meaning counts, not their sum: one IP, one verdict per list."""
        weights = [self.weights.get(m, self.weight) for m in meanings]
        return (min(weights) if self.allowlist else max(weights)) if weights else 0.0


def parse_codes(codes: dict[str, str], bitmask: bool) -> tuple[tuple[int, int, str], ...]:
    """``"127.0.0.2" = "SBL"``, ranges ``"127.0.0.4-127.0.0.7" = "XBL"``, or for bitmask
    lists ``"4" = "PH"`` (a bit of the last octet). Raises ValueError naming the bad entry."""
    parsed = []
    for spec, meaning in codes.items():
        if bitmask:
            bit = int(spec, 0)
            if bit <= 0 or bit > 255:
                raise ValueError(f"{spec!r}: a bitmask code is a value from 1 to 255")
            parsed.append((bit, bit, meaning))
            continue
        first_text, _, last_text = spec.partition("-")
        first = ipaddress.IPv4Address(first_text.strip())
        last = ipaddress.IPv4Address(last_text.strip()) if last_text else first
        if first not in LOOPBACK_V4 or last not in LOOPBACK_V4 or last < first:
            raise ValueError(f"{spec!r}: codes are addresses or ranges inside 127.0.0.0/8")
        parsed.append((int(first), int(last), meaning))
    return tuple(parsed)


def reverse_labels(ip: IPAddress) -> str:
    if ip.version == 4:
        return ".".join(reversed(str(ip).split(".")))
    return ".".join(reversed(ip.exploded.replace(":", "")))


def unusable_reason(answers: list[IPAddress]) -> str | None:
    """Why these answers say the list cannot be used, or None when they are listings."""
    for answer in answers:
        if answer.version == 4 and answer in REFUSALS:
            return f"answered {answer}: {REFUSAL_MEANINGS.get(str(answer), 'an error code')}"
        if answer.version != 4 or answer not in LOOPBACK_V4:
            return f"answered {answer}, outside 127.0.0.0/8"
    return None


def addresses(answer: DnsAnswer) -> list[IPAddress]:
    found = []
    for record in answer.records:
        try:
            found.append(ipaddress.ip_address(record))
        except ValueError:
            continue
    return found


@dataclass(frozen=True, slots=True)
class ListHealth:
    usable: bool
    reason: str = ""
    resolver_problem: bool = False  # the resolver, not the list, failed the probe


RESOLVER_ADVICE = "DNS lists need a local recursive resolver (unbound)"


class DnsListHealth:
    """Which lists currently answer properly, shared by every message."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._unusable: dict[str, tuple[float, str]] = {}
        self._lock = threading.Lock()

    def mark_unusable(self, name: str, reason: str, seconds: float = UNUSABLE_FOR) -> None:
        with self._lock:
            self._unusable[name] = (self._clock() + seconds, reason)

    def mark_usable(self, name: str) -> None:
        with self._lock:
            self._unusable.pop(name, None)

    def health(self, name: str) -> ListHealth:
        with self._lock:
            entry = self._unusable.get(name)
            if entry is None:
                return ListHealth(True)
            until, reason = entry
            if until <= self._clock():
                del self._unusable[name]
                return ListHealth(True)
            return ListHealth(False, reason)


def probe(dns: Resolver, dnslist: DnsList) -> ListHealth:
    """RFC 5782 section 5 test points. A probe the resolver could not answer says so
    (the list stays in use, its answers unknown until the resolver answers); a test point
    that is not listed is told apart by asking for the zone itself: a zone that does not
    exist is a wrong name or a list that is gone, a zone that exists but lists nothing
    answers nothing to this resolver (list operators refuse public resolvers this way)."""
    listed = dns.query(f"2.0.0.127.{dnslist.zone}", "A")
    if listed.status is DnsStatus.TEMPERROR:
        return _resolver_failed(listed)
    reason = unusable_reason(addresses(listed))
    if reason:
        return ListHealth(False, f"test point 127.0.0.2 {reason}")
    if not listed.ok:
        zone = dns.query(dnslist.zone, "SOA")
        if zone.status is DnsStatus.TEMPERROR:
            return _resolver_failed(zone)
        if zone.status is DnsStatus.NXDOMAIN:
            return ListHealth(False, f"zone {dnslist.zone} does not exist: wrong zone, or the list is gone")
        return ListHealth(False, f"test point 127.0.0.2 is not listed although the zone exists: the list answers "
                                 f"nothing to this resolver ({RESOLVER_ADVICE}; public resolvers are often refused), "
                                 "or it no longer lists its test point")
    clean = dns.query(f"1.0.0.127.{dnslist.zone}", "A")
    if clean.ok:
        return ListHealth(False, "test point 127.0.0.1 is listed: the list answers everything")
    return ListHealth(True)


def _resolver_failed(answer: DnsAnswer) -> ListHealth:
    return ListHealth(True, f"{RESOLVER_ADVICE}; this resolver gave {answer.reason or 'no answer'}",
                      resolver_problem=True)
