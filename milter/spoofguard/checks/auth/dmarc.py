"""DMARC (RFC 7489): policy discovery, identifier alignment, disposition.

The ``dmarc`` package parses records strictly; discovery and evaluation are here because
the package's evaluation ignores ``pct``, aligns against bare public suffixes, and knows
no *temperror*. A DKIM or SPF result that is unknown (DNS trouble, unverifiable body) can
never make DMARC *fail*: if it might have aligned, DMARC is *temperror* (unknown).
"""

from __future__ import annotations

from dataclasses import dataclass

import dmarc

from ...domains import organizational_domain
from ...lookups.dns import DnsStatus, Resolver
from .dkim import DkimResult
from .spf import SpfResult

UNKNOWN_RESULTS = ("temperror", "unverified")


@dataclass(frozen=True, slots=True)
class DmarcPolicy:
    domain: str  # where the record was found: the From domain or its organizational domain
    p: str  # none | quarantine | reject
    sp: str | None
    pct: int
    adkim: str  # "r" or "s"
    aspf: str
    testing: bool  # t=y (DMARCbis test mode)


@dataclass(frozen=True, slots=True)
class PolicyLookup:
    status: str  # found | none | temperror | permerror
    policy: DmarcPolicy | None = None
    reason: str = ""


@dataclass(frozen=True, slots=True)
class DmarcResult:
    result: str  # pass | fail | none | temperror | permerror
    from_domain: str
    policy: DmarcPolicy | None = None
    disposition: str = "none"  # what the domain asks for a failing message, after pct/t=y
    aligned_dkim: str | None = None  # d= of the aligned passing signature
    aligned_spf: str | None = None  # SPF domain that aligned and passed
    reason: str = ""


def record_name(domain: str) -> str:
    return f"_dmarc.{domain}"


def fetch_policy(dns: Resolver, from_domain: str) -> PolicyLookup:
    """The From domain's record, else its organizational domain's (RFC 7489 6.6.3)."""
    org = organizational_domain(from_domain)
    candidates = [from_domain] if org == from_domain else [from_domain, org]
    for domain in candidates:
        answer = dns.query(record_name(domain), "TXT")
        if answer.status is DnsStatus.TEMPERROR:
            return PolicyLookup("temperror", reason=f"{record_name(domain)}: {answer.reason}")
        records = [r for r in answer.records if r.lower().startswith("v=dmarc1")]
        if len(records) > 1:
            return PolicyLookup("none", reason=f"{record_name(domain)} has {len(records)} DMARC records")
        if records:
            return _parse(records[0], domain, org)
    return PolicyLookup("none", reason=f"no DMARC record at {' or '.join(record_name(d) for d in candidates)}")


def _parse(record: str, domain: str, org: str) -> PolicyLookup:
    try:
        parsed = dmarc.DMARC().parse_record(record, domain, org_domain=org if org != domain else None)
    except dmarc.Error as exc:
        return PolicyLookup("permerror", reason=f"{record_name(domain)}: {exc}")
    sp = parsed.sp.value if parsed.sp is not dmarc.DMARCDisposition.UNSPECIFIED else None
    policy = DmarcPolicy(
        domain=domain,
        p=parsed.p.value,
        sp=sp,
        pct=100 if parsed.pct < 0 else parsed.pct,
        adkim="s" if parsed.adkim is dmarc.DMARCAlignment.STRICT else "r",
        aspf="s" if parsed.aspf is dmarc.DMARCAlignment.STRICT else "r",
        testing=parsed.t is dmarc.DMARCTesting.Y,
    )
    return PolicyLookup("found", policy)


def aligned(from_domain: str, other: str, mode: str) -> bool:
    if not other:
        return False
    if mode == "s":
        return from_domain == other
    return organizational_domain(from_domain) == organizational_domain(other)


def evaluate(from_domain: str, lookup: PolicyLookup, spf: SpfResult | None, dkims: list[DkimResult]) -> DmarcResult:
    if lookup.status == "temperror":
        return DmarcResult("temperror", from_domain, reason=lookup.reason)
    if lookup.status == "permerror":
        return DmarcResult("permerror", from_domain, reason=lookup.reason)
    policy = lookup.policy
    adkim, aspf = (policy.adkim, policy.aspf) if policy else ("r", "r")
    dkim_pass = next((d.domain for d in dkims if d.result == "pass" and aligned(from_domain, d.domain, adkim)), None)
    spf_pass = spf.domain if spf and spf.scope == "mailfrom" and spf.result == "pass" and aligned(from_domain, spf.domain, aspf) else None
    if policy is None:
        # No DMARC: still worth knowing whether an aligned identity authenticated.
        return DmarcResult("none", from_domain, None, "none", dkim_pass, spf_pass, lookup.reason)
    if dkim_pass or spf_pass:
        return DmarcResult("pass", from_domain, policy, "none", dkim_pass, spf_pass,
                           f"aligned {'DKIM d=' + dkim_pass if dkim_pass else 'SPF ' + str(spf_pass)}")

    unknown = [f"DKIM d={d.domain} {d.result}" for d in dkims
               if d.result in UNKNOWN_RESULTS and aligned(from_domain, d.domain, policy.adkim)]
    if spf and spf.scope == "mailfrom" and spf.result == "temperror" and aligned(from_domain, spf.domain, policy.aspf):
        unknown.append(f"SPF {spf.domain} temperror")
    if unknown:
        return DmarcResult("temperror", from_domain, policy,
                           reason="no aligned pass, but " + ", ".join(unknown) + " could have aligned")

    requested = policy.p if from_domain == policy.domain or policy.sp is None else policy.sp
    disposition = requested
    if policy.pct < 100 or policy.testing:
        # RFC 7489 6.6.4: mail not sampled gets the next weaker policy. Applied to all mail
        # rather than by chance, so the same message always gets the same verdict.
        disposition = {"reject": "quarantine", "quarantine": "none"}.get(requested, "none")
    detail = f"p={requested}" + (f" pct={policy.pct}" if policy.pct < 100 else "") + (" t=y" if policy.testing else "")
    return DmarcResult("fail", from_domain, policy, disposition, reason=f"no aligned SPF or DKIM pass; {detail}")
