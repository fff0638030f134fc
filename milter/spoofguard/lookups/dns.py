"""DNS through dnspython, with answers that distinguish "no" from "could not ask".

NXDOMAIN and NODATA are answers; a timeout, SERVFAIL or REFUSED is ``TEMPERROR``. Checks
turn ``TEMPERROR`` into *unknown*, never into a verdict about the sender (a DNS outage must
not make DMARC fail or an IP look listed).
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum

import dns.exception
import dns.name
import dns.resolver
import dns.reversename


class DnsStatus(StrEnum):
    OK = "ok"
    NXDOMAIN = "nxdomain"
    NODATA = "nodata"
    TEMPERROR = "temperror"


@dataclass(frozen=True, slots=True)
class DnsAnswer:
    status: DnsStatus
    records: tuple[str, ...] = ()
    ttl: int = 0
    reason: str = ""

    @property
    def ok(self) -> bool:
        return self.status is DnsStatus.OK


@dataclass(frozen=True, slots=True)
class DnsSettings:
    nameservers: tuple[str, ...] = ()  # empty: /etc/resolv.conf
    port: int = 53
    timeout: float = 2.0


class DnsClient:
    """One resolver configuration for the whole process; thread-safe for queries."""

    def __init__(self, settings: DnsSettings) -> None:
        resolver = dns.resolver.Resolver(configure=not settings.nameservers)
        if settings.nameservers:
            resolver.nameservers = list(settings.nameservers)
        resolver.port = settings.port
        resolver.timeout = settings.timeout
        resolver.lifetime = settings.timeout
        resolver.retry_servfail = False
        self._resolver = resolver
        self.settings = settings

    def query(self, name: str, rdtype: str, lifetime: float | None = None) -> DnsAnswer:
        try:
            answer = self._resolver.resolve(
                name, rdtype, lifetime=lifetime or self.settings.timeout, search=False
            )
        except dns.resolver.NXDOMAIN:
            return DnsAnswer(DnsStatus.NXDOMAIN)
        except dns.resolver.NoAnswer:
            return DnsAnswer(DnsStatus.NODATA)
        except dns.resolver.LifetimeTimeout:
            return DnsAnswer(DnsStatus.TEMPERROR, reason="timeout")
        except dns.resolver.NoNameservers as exc:
            return DnsAnswer(DnsStatus.TEMPERROR, reason=_no_nameservers_reason(exc))
        except (dns.exception.DNSException, OSError, ValueError) as exc:
            return DnsAnswer(DnsStatus.TEMPERROR, reason=f"{type(exc).__name__}: {exc}")
        records = tuple(_rdata_text(r) for r in answer)
        ttl = answer.rrset.ttl if answer.rrset is not None else 0
        return DnsAnswer(DnsStatus.OK, records, ttl)

    def reverse(self, ip: str, lifetime: float | None = None) -> DnsAnswer:
        try:
            name = dns.reversename.from_address(ip).to_text()
        except (dns.exception.SyntaxError, ValueError) as exc:
            return DnsAnswer(DnsStatus.TEMPERROR, reason=f"bad address: {exc}")
        return self.query(name, "PTR", lifetime)


def _rdata_text(rdata: object) -> str:
    strings = getattr(rdata, "strings", None)
    if strings is not None:  # TXT: the joined character-strings, as SPF and DKIM need
        return b"".join(strings).decode("utf-8", "replace")
    text = str(rdata)
    return text[:-1] if text.endswith(".") and getattr(rdata, "target", None) is not None else text


def _no_nameservers_reason(exc: dns.resolver.NoNameservers) -> str:
    errors = exc.kwargs.get("errors") or []
    codes = sorted({str(e[3]) if len(e) > 3 else str(e) for e in errors})
    return "no nameserver answered: " + (", ".join(codes) or "unknown")
