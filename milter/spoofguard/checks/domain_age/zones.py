"""DNS age zones: lists that answer with how recently a domain was first seen.

Spamhaus ZRD answers ``127.0.2.N`` for a domain first seen about N hours ago (2-24) and
NXDOMAIN otherwise; other zones use other prefixes or count days. Each zone in the
configuration names its prefix and unit, so a new zone needs no code. Answers outside the
prefix (a refusal such as 127.255.255.254) are not ages: the zone is unusable for now.
"""

from __future__ import annotations

import ipaddress
from dataclasses import dataclass

from ...lookups.dns import DnsAnswer, DnsStatus, Resolver
from ...lookups.dnsbl import addresses, unusable_reason

UNITS = {"hours": 1 / 24, "days": 1.0}


@dataclass(frozen=True, slots=True)
class AgeZone:
    name: str
    zone: str
    prefix: str = "127.0.2."  # the answer is prefix + N
    unit: str = "hours"  # what N counts

    def query_name(self, domain: str) -> str:
        return f"{domain}.{self.zone}"


@dataclass(frozen=True, slots=True)
class ZoneAge:
    """``age_days`` when the zone lists the domain; None when it does not (or could not say)."""

    zone: AgeZone
    age_days: float | None
    status: str  # "listed", "not_listed", "unknown", "unusable"
    detail: str = ""


def decode(zone: AgeZone, answer: DnsAnswer) -> ZoneAge:
    if answer.status is DnsStatus.TEMPERROR:
        return ZoneAge(zone, None, "unknown", f"{zone.zone}: {answer.reason}")
    if not answer.ok:
        return ZoneAge(zone, None, "not_listed", f"not listed in {zone.zone}")
    found = addresses(answer)
    for address in found:
        text = str(address)
        if isinstance(address, ipaddress.IPv4Address) and text.startswith(zone.prefix):
            count = text.removeprefix(zone.prefix)
            if count.isdigit():
                return ZoneAge(zone, int(count) * UNITS[zone.unit], "listed",
                               f"first seen about {count} {zone.unit} ago ({zone.zone} answered {text})")
    broken = unusable_reason(found) or f"answered {', '.join(map(str, found))}, not {zone.prefix}N"
    return ZoneAge(zone, None, "unusable", f"{zone.zone} ignored: {broken}")


def zone_age(dns: Resolver, zone: AgeZone, domain: str) -> ZoneAge:
    return decode(zone, dns.query(zone.query_name(domain), "A"))
