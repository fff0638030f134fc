"""Sender authentication: is the sender who the From header says?

Results come from a trusted upstream Authentication-Results header when one arrived through
a trusted relay, otherwise from spoofguard's own SPF, DKIM, ARC and DMARC verification.
Lookups start as soon as their input is known: SPF at MAIL FROM, the DMARC record and the
DKIM/ARC keys at end of headers. Incoming Authentication-Results that claim a trusted
authserv-id but came from outside are forgeries (RFC 8601 section 5): removed, and scored.
"""

from __future__ import annotations

import functools
import re
import socket
from typing import Literal

from ...domains import domain_of
from ...edits import AddHeader, HeaderEdit, deletions
from ...headers import header_value
from ...lookups import LookupSession
from ...lookups.dns import Resolver
from ...message import Message, from_address
from ...policy import AUTHENTICATED_LIST
from ...received import IPNetwork, client_is_trusted
from ...sections import Domains, Section
from ...verdict import Signal, SignalKind
from .. import Facts, Findings, Stage
from ..registry import CheckContext, CheckPlugin
from .arc import ArcResult, verify_arc
from .dkim import DkimResult, signature_tags, verify_dkim
from .dmarc import DmarcResult, PolicyLookup, evaluate, fetch_policy
from .dnsfuncs import dkim_dnsfunc
from .results import (
    HEADER,
    Entry,
    ResultsField,
    build_value,
    normalise_authserv_id,
    results_fields,
)
from .spf import SpfResult, check_spf
from .summary import NOT_VERIFIED, AuthSummary

LIST_FIELDS = ("List-Unsubscribe", "List-Id")


class AuthWeights(Section, frozen=True):
    """``[checks.auth.weights]``"""

    dmarc_pass: float = -1.0
    dmarc_fail_reject: float = 5.0
    dmarc_fail_quarantine: float = 3.5
    dmarc_fail_none: float = 1.5
    unauthenticated: float = 2.0
    spf_fail: float = 1.0
    spf_softfail: float = 0.5
    spf_permerror: float = 0.5
    dkim_fail: float = 0.5
    forged_results: float = 3.0


class AuthSection(Section, frozen=True):
    """``[checks.auth]``"""

    enabled: bool = True
    # The id in the Authentication-Results we add; empty: this host's name.
    authserv_id: str = ""
    # Upstream hosts whose Authentication-Results are trusted when the message came from
    # network.trusted_networks; empty: only authserv_id.
    trusted_authserv_ids: tuple[str, ...] = ()
    trusted_arc_sealers: Domains = ()
    verify: Literal["auto", "always", "never"] = "auto"
    add_header: bool = True
    weights: AuthWeights = AuthWeights()


class AuthCheck:
    name = "auth"
    kind = SignalKind.SENDER_RISK
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, section: AuthSection, dns: Resolver | None, *, timeout: float = 2.0,
                 trusted_networks: tuple[IPNetwork, ...] = ()) -> None:
        self.section = section
        self.dns = dns  # None: offline, only upstream results
        self.timeout = timeout
        self.trusted_networks = trusted_networks
        self.authserv_id = (section.authserv_id or socket.gethostname()).lower()
        self.trusted_ids = frozenset(normalise_authserv_id(i) for i in section.trusted_authserv_ids or (self.authserv_id,))
        # every id whose results we trust: a field claiming one from outside is forged
        self.own_ids = self.trusted_ids | {normalise_authserv_id(self.authserv_id)}
        self.trusted_arc_sealers = frozenset(d.lower().rstrip(".") for d in section.trusted_arc_sealers)

    @property
    def max_score(self) -> float:
        w = self.section.weights
        return w.forged_results + max(w.dmarc_fail_reject, w.unauthenticated) + w.spf_fail + w.dkim_fail

    # -- early lookups ------------------------------------------------------------------

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        if self.dns is None or self.section.verify == "never":
            return
        dns = self.dns
        if stage is Stage.MAIL and message.envelope.client_ip:
            lookups.start("auth.spf", lambda: self._spf(message))
        elif stage is Stage.HEADERS:
            from_domain = domain_of(from_address(message) or "")
            if from_domain:
                lookups.start(f"auth.dmarc:{from_domain}", lambda: fetch_policy(dns, from_domain))
            for header in ("DKIM-Signature", "ARC-Seal", "ARC-Message-Signature"):
                for tag in signature_tags(message, header):
                    name = f"{tag.selector}._domainkey.{tag.domain}"
                    lookups.start(f"dns:{name}/TXT", functools.partial(dns.query, name, "TXT"))

    # -- verdict --------------------------------------------------------------------------

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        s = self.section
        fields = results_fields(message)
        delivered = message.envelope.delivered  # read after delivery here: our own fields are ours
        trusted_client = delivered or client_is_trusted(message, self.trusted_networks)
        removed = [] if trusted_client else [f for f in fields if f.claims(self.own_ids)]
        signals: list[Signal] = []
        edits: list[HeaderEdit] = []
        if removed:
            # Fields whose id cannot be read are removed too, but only a certain claim of
            # our id is held against the sender: garbled headers are not always forgeries.
            edits.extend(deletions([(f.name, f.index) for f in removed]))
            forged = any(f.claimed is not None for f in removed)
            claims = sorted({f.claimed or "an unreadable authserv-id" for f in removed})
            signals.append(Signal(
                "auth.forged_results", s.weights.forged_results if forged else 0.0,
                f"removed {len(removed)} Authentication-Results claiming {', '.join(claims)} that arrived from outside",
                SignalKind.SENDER_RISK if forged else SignalKind.INFO,
            ))

        believed = self.own_ids if delivered else self.trusted_ids
        upstream = next((f for f in fields if trusted_client and f.parsed and f.claimed in believed), None)
        from_addr = from_address(message)
        from_domain = domain_of(from_addr or "")
        if upstream is not None and s.verify != "always":
            summary = self._from_upstream(upstream, from_domain)
        elif s.verify == "never" or self.dns is None:
            reason = "verification off (auth.verify = never)" if s.verify == "never" else "offline: no DNS"
            summary = AuthSummary(from_domain, None, (), DmarcResult("none", from_domain or "", reason=reason), None,
                                  NOT_VERIFIED)
        else:
            summary = self._verify(message, lookups, from_domain)
        if s.add_header and summary.source == "spoofguard":
            value = build_value(self.authserv_id, self._entries(summary, message))
            edits.append(AddHeader(HEADER, header_value(HEADER, value), index=0))
        signals += self._signals(summary, from_addr)
        if summary.authenticated and any(message.header(name) for name in LIST_FIELDS):
            # The policy reads this: an authenticated newsletter with no sender risk is not
            # tagged or held for what it quotes (policy.trust_authenticated_lists).
            signals.append(Signal(AUTHENTICATED_LIST, 0.0,
                                  f"{summary.from_domain} authenticated, sent as a newsletter or list mail"))
        return Findings(tuple(signals), tuple(edits), (summary,))

    def _spf(self, message: Message) -> SpfResult:
        assert self.dns is not None
        env = message.envelope
        return check_spf(self.dns, env.client_ip or "", env.mail_from, env.helo, self.timeout)

    def _verify(self, message: Message, lookups: LookupSession, from_domain: str | None) -> AuthSummary:
        dns = self.dns
        assert dns is not None
        env = message.envelope
        if env.client_ip:
            got = lookups.result("auth.spf", lambda: self._spf(message))
            spf = got.value if got.ok and got.value else SpfResult("temperror", "", "mailfrom", env.mail_from or "", got.reason)
        else:
            spf = None
        dnsfunc = dkim_dnsfunc(dns, lambda: lookups.remaining)
        got_dkim = lookups.result("auth.dkim", lambda: verify_dkim(message, dnsfunc, self.timeout))
        if got_dkim.ok and got_dkim.value is not None:
            dkims: list[DkimResult] = got_dkim.value
        else:
            dkims = [DkimResult(t.domain, t.selector, "temperror", got_dkim.reason) for t in signature_tags(message)]
        got_arc = lookups.result("auth.arc", lambda: verify_arc(message, dnsfunc, self.trusted_arc_sealers))
        arc = got_arc.value if got_arc.ok and got_arc.value else ArcResult("temperror", reason=got_arc.reason)
        if not from_domain:
            dmarc = DmarcResult("permerror", "", reason="From must hold exactly one address")
        else:
            got_policy = lookups.result(f"auth.dmarc:{from_domain}", lambda: fetch_policy(dns, from_domain))
            policy = got_policy.value if got_policy.ok and got_policy.value else PolicyLookup("temperror", reason=got_policy.reason)
            dmarc = evaluate(from_domain, policy, spf, dkims)
        mitigated = arc.sealer if dmarc.result == "fail" and from_domain and arc.vouches_dmarc_for(from_domain) else None
        return AuthSummary(from_domain, spf, tuple(dkims), dmarc, arc, "spoofguard", mitigated)

    @staticmethod
    def _from_upstream(field: ResultsField, from_domain: str | None) -> AuthSummary:
        assert field.parsed is not None
        reported = field.parsed.results
        spf = next((SpfResult(r.result, domain_of(r.prop("smtp", "mailfrom")) or r.prop("smtp", "helo"),
                              "mailfrom" if r.prop("smtp", "mailfrom") else "helo",
                              r.prop("smtp", "mailfrom") or r.prop("smtp", "helo"))
                    for r in reported if r.method == "spf"), None)
        dkims = tuple(DkimResult(r.prop("header", "d"), r.prop("header", "s"), r.result, r.reason)
                      for r in reported if r.method == "dkim")
        dmarc_reported = next((r for r in reported if r.method == "dmarc"), None)
        domain = from_domain or ""
        if dmarc_reported is None:
            dmarc = DmarcResult("none", domain, reason=f"{field.parsed.authserv_id} reported no DMARC result")
        else:
            result = dmarc_reported.result if dmarc_reported.result in ("pass", "fail", "none", "temperror", "permerror") else "none"
            disposition = _reported_policy(dmarc_reported.reason)
            dmarc = DmarcResult(result, domain, None, disposition, reason=f"reported by {field.parsed.authserv_id}")
        return AuthSummary(from_domain, spf, dkims, dmarc, None, f"upstream {field.parsed.authserv_id}")

    def _signals(self, summary: AuthSummary, from_addr: str | None) -> list[Signal]:
        w = self.section.weights
        out: list[Signal] = []
        # Once the From domain is authenticated, a failing envelope SPF (forwarding) or a
        # broken extra signature says nothing about who wrote the message.
        muted = summary.authenticated
        spf = summary.spf
        if spf is not None:
            weight = 0.0 if muted else {"fail": w.spf_fail, "softfail": w.spf_softfail, "permerror": w.spf_permerror}.get(spf.result, 0.0)
            detail = f"{spf.result} for {spf.scope} {spf.identity or '(none)'}" + (f": {spf.explanation}" if spf.explanation and spf.result != "pass" else "")
            if spf.result == "temperror":
                out.append(Signal.unknown("auth.spf_temperror", detail, w.spf_fail, SignalKind.SENDER_RISK))
            else:
                out.append(Signal(f"auth.spf_{spf.result}", weight, detail, SignalKind.SENDER_RISK if weight > 0 else SignalKind.INFO))
        for d in summary.dkim:
            detail = f"{d.result} for d={d.domain} s={d.selector}" + (f": {d.reason}" if d.reason else "")
            if d.result in ("temperror", "unverified"):
                out.append(Signal.unknown(f"auth.dkim_{d.result}", detail, w.dkim_fail, SignalKind.SENDER_RISK))
            elif d.result == "pass":
                out.append(Signal("auth.dkim_pass", 0.0, detail))
            elif muted:
                out.append(Signal(f"auth.dkim_{d.result}", 0.0, detail))
            else:
                out.append(Signal(f"auth.dkim_{d.result}", w.dkim_fail, detail, SignalKind.SENDER_RISK))
        if summary.source == "spoofguard" and not summary.dkim:
            out.append(Signal("auth.dkim_none", 0.0, "no DKIM signature"))
        if summary.arc is not None and summary.arc.cv != "none":
            arc = summary.arc
            trust = "trusted" if arc.trusted else "untrusted"
            out.append(Signal(f"auth.arc_{arc.cv}", 0.0, f"{arc.cv}, newest sealer {arc.sealer or '?'} ({trust}) {arc.reason}".strip()))
        out.extend(self._dmarc_signals(summary, from_addr))
        return out

    def _dmarc_signals(self, summary: AuthSummary, from_addr: str | None) -> list[Signal]:
        w = self.section.weights
        dmarc = summary.dmarc
        where = f"From {from_addr or '(no single address)'}"
        if summary.mitigated_by:
            return [Signal("auth.dmarc_mitigated", 0.0,
                           f"DMARC failed for {where} ({dmarc.reason}), but trusted ARC sealer {summary.mitigated_by} saw it pass before forwarding")]
        if dmarc.result == "pass":
            return [Signal("auth.dmarc_pass", w.dmarc_pass, f"pass for {where}: {dmarc.reason}")]
        if dmarc.result == "temperror":
            return [Signal.unknown("auth.dmarc_temperror", f"unknown for {where}: {dmarc.reason}",
                                   w.dmarc_fail_reject, SignalKind.SENDER_RISK)]
        if dmarc.result == "fail":
            weight = {"reject": w.dmarc_fail_reject, "quarantine": w.dmarc_fail_quarantine}.get(dmarc.disposition, w.dmarc_fail_none)
            return [Signal(f"auth.dmarc_fail_{dmarc.disposition}", weight,
                           f"fail for {where}: {dmarc.reason}", SignalKind.SENDER_RISK)]
        # none / permerror: no policy to enforce; what matters is whether anything aligned passed
        if not summary.verified:
            return [Signal("auth.not_verified", 0.0, dmarc.reason)]
        if summary.authenticated:
            aligned = f"DKIM d={dmarc.aligned_dkim}" if dmarc.aligned_dkim else f"SPF {dmarc.aligned_spf}"
            return [Signal("auth.aligned_pass", 0.0, f"no DMARC policy, but {aligned} passed aligned with {where}")]
        return [Signal("auth.unauthenticated", w.unauthenticated,
                       f"nothing authenticates {where}: DMARC {dmarc.result} ({dmarc.reason}), no aligned SPF or DKIM pass",
                       SignalKind.SENDER_RISK)]

    def _entries(self, summary: AuthSummary, message: Message) -> list[Entry]:
        entries: list[Entry] = []
        if summary.spf is not None:
            spf = summary.spf
            entries.append(Entry("spf", spf.result, (("smtp", "mailfrom" if spf.scope == "mailfrom" else "helo", spf.identity),)))
        if not summary.dkim:
            entries.append(Entry("dkim", "none"))
        for d in summary.dkim:
            result = "neutral" if d.result == "unverified" else d.result
            entries.append(Entry("dkim", result, (("header", "d", d.domain), ("header", "s", d.selector)), reason=d.reason))
        if summary.arc is not None and summary.arc.cv != "none":
            entries.append(Entry("arc", summary.arc.cv))
        dmarc = summary.dmarc
        comment = f"p={dmarc.policy.p} dis={dmarc.disposition}" if dmarc.policy else ""
        if summary.mitigated_by:
            comment += f" overridden by trusted ARC {summary.mitigated_by}"
        entries.append(Entry("dmarc", dmarc.result, (("header", "from", dmarc.from_domain),), comment=comment.strip()))
        return entries


def _reported_policy(comment: str) -> str:
    found = re.search(r"\b(?:dis|p)=(none|quarantine|reject)\b", comment, re.IGNORECASE)
    return found.group(1).lower() if found else "none"


def build(section: AuthSection, context: CheckContext) -> AuthCheck:
    return AuthCheck(section, context.dns, timeout=context.lookup_timeout, trusted_networks=context.trusted_networks)


SIGNALS = {
    "spf_<result>": "SPF for the envelope sender (or HELO for the null sender): pass, fail, softfail, neutral, none, permerror",
    "spf_temperror": "SPF could not be evaluated now: unknown, never a failure",
    "dkim_<result>": "one DKIM signature's result, with its d= and selector",
    "dkim_none": "the message carries no DKIM signature",
    "arc_<cv>": "the ARC chain's validation (pass, fail, none) and its newest sealer",
    "dmarc_pass": "the From domain authenticated by aligned SPF or DKIM",
    "dmarc_fail_<disposition>": "DMARC failed; weighted by what the domain asks: reject, quarantine or none",
    "dmarc_temperror": "the DMARC record could not be fetched now: unknown, never a failure",
    "dmarc_mitigated": "DMARC failed but a trusted ARC sealer vouches for the message (mailing lists)",
    "aligned_pass": "no DMARC policy, but an identity aligned with From passed",
    "unauthenticated": "nothing authenticates the From domain: no DMARC pass, nothing aligned",
    "not_verified": "verification off or offline: authentication unknown",
    "forged_results": "Authentication-Results claiming one of our ids arrived from outside: removed",
    "authenticated_list": "authenticated list or newsletter mail (List-Id, List-Unsubscribe)",
}

PLUGIN = CheckPlugin("auth", AuthSection, build, SIGNALS)
