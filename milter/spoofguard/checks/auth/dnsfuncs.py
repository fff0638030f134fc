"""spoofguard's resolver and cache, in the shapes pyspf and dkimpy expect.

Both libraries would otherwise use dnspython's process-wide default resolver, bypassing the
configured nameservers, the cache and the per-message budget. And both turn some DNS
failures into verdicts: dkimpy reports a key lookup timeout as a failed signature. Here a
temporary DNS error raises ``DnsTempError`` (or pyspf's ``TempError``), which the callers
turn into *temperror*, never *fail*.
"""

from __future__ import annotations

import contextvars
from collections.abc import Callable, Iterator
from contextlib import contextmanager

import spf

from ...lookups.dns import DnsStatus, Resolver


class DnsTempError(Exception):
    """A DNS answer could not be had now; the result it feeds is unknown, not failed."""


_CURRENT: contextvars.ContextVar[Resolver | None] = contextvars.ContextVar("spoofguard_dns", default=None)


@contextmanager
def resolver_for_spf(dns: Resolver) -> Iterator[None]:
    """pyspf looks names up through a module-level function; route it to ``dns`` in this
    thread only, so concurrent messages with different configurations stay apart."""
    token = _CURRENT.set(dns)
    try:
        yield
    finally:
        _CURRENT.reset(token)


def _pyspf_lookup(name: str, qtype: str, tcpfallback: bool = True, timeout: float = 30) -> list[tuple[tuple[str, str], object]]:
    dns = _CURRENT.get()
    if dns is None:
        raise spf.TempError("DNS: no resolver configured for this lookup")
    answer = dns.query(name, qtype, lifetime=min(timeout, dns.timeout))
    if answer.status is DnsStatus.TEMPERROR:
        raise spf.TempError(f"DNS {answer.reason}")
    if not answer.ok:
        return []
    key = (name, qtype)
    if qtype in ("TXT", "SPF"):
        return [(key, (record.encode("utf-8", "surrogateescape"),)) for record in answer.records]
    if qtype == "MX":
        pairs: list[tuple[tuple[str, str], object]] = []
        for record in answer.records:
            preference, _, exchange = record.partition(" ")
            pairs.append((key, (int(preference), exchange.rstrip("."))))
        return pairs
    return [(key, record.rstrip(".")) for record in answer.records]


spf.DNSLookup = _pyspf_lookup


def dkim_dnsfunc(dns: Resolver, lifetime: Callable[[], float]) -> Callable[..., bytes | None]:
    """A ``dnsfunc`` for dkimpy: the TXT record as bytes, None when there is none."""

    def lookup(name: bytes | str, timeout: float = 5) -> bytes | None:
        text = name.decode("ascii", "replace") if isinstance(name, bytes) else name
        answer = dns.query(text, "TXT", lifetime=max(0.05, min(timeout, lifetime())))
        if answer.status is DnsStatus.TEMPERROR:
            raise DnsTempError(f"TXT {text.rstrip('.')}: {answer.reason}")
        if not answer.ok or not answer.records:
            return None
        return answer.records[0].encode("utf-8", "surrogateescape")

    return lookup
