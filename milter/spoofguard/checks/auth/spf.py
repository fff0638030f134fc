"""SPF (RFC 7208) with pyspf, which enforces the RFC's DNS lookup and void-lookup limits."""

from __future__ import annotations

from dataclasses import dataclass

import spf

from ...domains import domain_of
from ...lookups.dns import Resolver
from .dnsfuncs import resolver_for_spf

RESULTS = ("pass", "fail", "softfail", "neutral", "none", "permerror", "temperror")


@dataclass(frozen=True, slots=True)
class SpfResult:
    result: str  # one of RESULTS
    domain: str  # the domain whose policy was checked
    scope: str  # "mailfrom" or "helo" (for the null sender)
    identity: str  # the address or name checked, for Authentication-Results
    explanation: str = ""


def check_spf(dns: Resolver, ip: str, mail_from: str | None, helo: str | None, timeout: float) -> SpfResult:
    """SPF for MAIL FROM, or for HELO when the envelope sender is null."""
    helo = (helo or "").strip().rstrip(".")
    if mail_from:
        scope, identity, domain = "mailfrom", mail_from, domain_of(mail_from) or ""
    else:
        scope, identity, domain = "helo", helo, helo.lower()
    if not domain:
        return SpfResult("none", "", scope, identity, "no domain to check")
    with resolver_for_spf(dns):
        try:
            result, explanation = spf.check2(i=ip, s=mail_from or "", h=helo or domain, timeout=timeout, querytime=timeout)
        except Exception as exc:  # pyspf raises on some malformed input instead of returning
            return SpfResult("permerror", domain, scope, identity, f"{type(exc).__name__}: {exc}")
    result = result.lower()
    if result not in RESULTS:
        result = "permerror"
    return SpfResult(result, domain, scope, identity, str(explanation))
