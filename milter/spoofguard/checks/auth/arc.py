"""ARC (RFC 8617): a forwarder's or mailing list's word that the message authenticated
before it changed the message.

Only a valid chain whose newest sealer is one the admin trusts may vouch; what it vouches
for is read from that sealer's ARC-Authentication-Results.
"""

from __future__ import annotations

import re
from collections.abc import Callable
from dataclasses import dataclass, field

import dkim

from ...message import Message
from .dnsfuncs import DnsTempError
from .results import ReportedResult, parse_results

_INSTANCE = re.compile(r"^\s*i\s*=\s*(\d+)\s*;", re.IGNORECASE)


@dataclass(frozen=True, slots=True)
class ArcResult:
    cv: str  # pass | fail | none | temperror
    sealer: str | None = None  # d= of the newest ARC-Seal
    trusted: bool = False
    vouched: tuple[ReportedResult, ...] = field(default=())  # the sealer's own results
    reason: str = ""

    def vouches_dmarc_for(self, from_domain: str) -> bool:
        """The trusted sealer saw DMARC pass for this From domain before it forwarded."""
        if self.cv != "pass" or not self.trusted:
            return False
        return any(
            r.method == "dmarc" and r.result == "pass" and r.prop("header", "from") in ("", from_domain)
            for r in self.vouched
        )


def verify_arc(message: Message, dnsfunc: Callable[..., bytes | None], trusted_sealers: frozenset[str]) -> ArcResult:
    if not message.header_all("ARC-Seal"):
        return ArcResult("none", reason="not ARC sealed")
    if message.beyond_memory:
        return ArcResult("temperror", reason="body over analysis.body_in_memory was not hashed")
    try:
        cv, instances, reason = dkim.arc_verify(message.raw_bytes(), dnsfunc=dnsfunc)
    except DnsTempError as exc:
        return ArcResult("temperror", reason=str(exc))
    except Exception as exc:  # dkimpy on malformed chains
        return ArcResult("fail", reason=f"{type(exc).__name__}: {exc}")
    newest = max(instances, key=lambda i: i.get("instance", 0), default=None)
    sealer = newest["as-domain"].decode("ascii", "replace").lower() if newest and newest.get("as-domain") else None
    status = {dkim.CV_Pass: "pass", dkim.CV_None: "none"}.get(cv, "fail")
    trusted = sealer is not None and sealer in trusted_sealers
    vouched = _aar_results(message, newest["instance"]) if newest and trusted else ()
    return ArcResult(status, sealer, trusted, vouched, str(reason))


def _aar_results(message: Message, instance: int) -> tuple[ReportedResult, ...]:
    for field_ in message.header_all("ARC-Authentication-Results"):
        found = _INSTANCE.match(field_.raw)
        if found and int(found.group(1)) == instance:
            parsed = parse_results(field_.raw[found.end():])
            return parsed.results if parsed else ()
    return ()
