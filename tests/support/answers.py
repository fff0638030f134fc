"""DNS answers fed straight to a check, for unit tests: the checks ask a ``Resolver``, so a
table of answers can stand in for the network. Integration tests use loopback DNS."""

from __future__ import annotations

import ipaddress
import threading

from spoofguard.lookups.dns import DnsAnswer, DnsStatus


class StaticResolver:
    """``(name, rdtype) -> records``; names in ``failing`` time out; anything else is
    NXDOMAIN. Every question is kept in ``asked``."""

    timeout = 1.0

    def __init__(self, records: dict[tuple[str, str], list[str]] | None = None, failing: tuple[str, ...] = ()) -> None:
        self.records = {(name.lower(), rdtype): tuple(values) for (name, rdtype), values in (records or {}).items()}
        self.failing = failing
        self.asked: list[tuple[str, str]] = []
        self._lock = threading.Lock()

    def query(self, name: str, rdtype: str, lifetime: float | None = None) -> DnsAnswer:
        name = name.lower().rstrip(".")
        with self._lock:
            self.asked.append((name, rdtype))
        if any(name == f or name.endswith("." + f) for f in self.failing):
            return DnsAnswer(DnsStatus.TEMPERROR, reason="timeout")
        found = self.records.get((name, rdtype))
        return DnsAnswer(DnsStatus.OK, found, 300) if found else DnsAnswer(DnsStatus.NXDOMAIN, ttl=300)

    def reverse(self, ip: str, lifetime: float | None = None) -> DnsAnswer:
        return self.query(ipaddress.ip_address(ip).reverse_pointer, "PTR", lifetime)
