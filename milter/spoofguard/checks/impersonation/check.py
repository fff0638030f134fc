"""Impersonation tells: how a message tries to look like someone it is not.

Most tells only count when nothing authenticates the From domain: a newsletter that
passes DMARC may legitimately reply from another domain. A lookalike of a protected
domain, or a protected domain shown in the display name, counts even then, because an
impostor can authenticate the lookalike domain it registered.

Tells count only where they tell something. Real mail providers (the freemail list) are
never lookalikes: mail.com is a provider, not a fake gmail.com. The same name under
another suffix (slack.net beside slack.com) is weak on its own. Mailing lists rewrite
Reply-To and the envelope, so neither counts on list mail, and newsletters are addressed
to themselves, so From equal to the recipient is weak there; an envelope sender from another
domain is ordinary (bounce domains of lists and mail services) unless the From domain is
one worth impersonating or the recipient's own. How old a lookalike domain is weighs in
too, in the domain age check: one registered days ago is strong, one registered years ago
is weak.
"""

from __future__ import annotations

import email.utils
import re
from dataclasses import dataclass

from ...domains import domain_of, load_domain_list, organizational_domain
from ...lookups import LookupSession
from ...message import Message, from_address
from ...received import IPNetwork, client_is_trusted
from ...sections import Domains, Section
from ...verdict import Signal, SignalKind
from .. import Facts, Findings, Stage
from ..auth.summary import AuthSummary
from ..registry import CheckContext, CheckPlugin
from .lookalike import LookalikeDetector

_EMAIL_IN_TEXT = re.compile(r"[\w.+-]+@[\w-]+(?:\.[\w-]+)+", re.UNICODE)
_DOMAIN_IN_TEXT = re.compile(r"\b(?:[a-z0-9](?:[a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}\b", re.IGNORECASE)


class ImpersonationWeights(Section, frozen=True):
    """``[checks.impersonation.weights]``"""

    from_is_recipient: float = 3.0
    from_is_recipient_bulk: float = 1.0  # on list and bulk mail, which lists address to themselves
    display_name_address: float = 2.0
    lookalike_domain: float = 3.5
    lookalike_other_suffix: float = 1.0  # the same name under another suffix: weak on its own
    envelope_mismatch: float = 1.0
    reply_to_divergence: float = 1.0
    reply_to_freemail: float = 2.0


class ImpersonationSection(Section, frozen=True):
    """``[checks.impersonation]``"""

    enabled: bool = True
    own_domains: Domains = ()
    protected_domain_files: tuple[str, ...] = ("builtin",)
    freemail_files: tuple[str, ...] = ("builtin",)
    weights: ImpersonationWeights = ImpersonationWeights()


class ImpersonationCheck:
    name = "impersonation"
    kind = SignalKind.SENDER_RISK
    requires: tuple[str, ...] = ("auth",)  # most tells count only when the From domain does not authenticate
    uses: tuple[str, ...] = ()

    def __init__(self, section: ImpersonationSection, protected: frozenset[str], freemail: frozenset[str],
                 trusted_networks: tuple[IPNetwork, ...] = ()) -> None:
        self.section = section
        self.protected = protected  # organizational domains: your own plus commonly impersonated
        self.freemail = freemail
        self.trusted_networks = trusted_networks
        self.lookalikes = LookalikeDetector(protected)

    @property
    def max_score(self) -> float:
        w = self.section.weights
        return w.from_is_recipient + w.display_name_address + w.lookalike_domain + w.envelope_mismatch + w.reply_to_freemail

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        return None  # header-only: no lookups

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        if client_is_trusted(message, self.trusted_networks) or message.envelope.auth_user:
            return Findings()  # our own relays and authenticated submissions are not impostors
        summary = facts.get(AuthSummary)
        authenticated = summary is not None and summary.authenticated
        from_addr = from_address(message)
        from_domain = domain_of(from_addr or "")
        if not from_addr or not from_domain:
            return Findings()
        from_org = organizational_domain(from_domain)
        lookalike = self._lookalike(from_domain, authenticated)
        found = [
            lookalike[0] if lookalike else None,
            self._display_name(message, from_addr, from_org, authenticated),
        ]
        if not authenticated:
            listed = _list_mail(message)
            found += [
                self._from_is_recipient(message, from_addr, from_org, summary, listed or _bulk(message)),
                None if listed else self._envelope_mismatch(message, from_org, summary),
                None if listed else self._reply_to(message, from_org),
            ]
        return Findings(tuple(s for s in found if s is not None), facts=(lookalike[1],) if lookalike else ())

    def _signal(self, what: str, weight: float, detail: str) -> Signal:
        return Signal(f"impersonation.{what}", weight, detail, SignalKind.SENDER_RISK)

    def _lookalike(self, from_domain: str, authenticated: bool) -> tuple[Signal, NotedLookalike] | None:
        """The lookalike signal, and the fact the domain age check weighs its age by."""
        if organizational_domain(from_domain) in self.freemail:
            return None  # a real mail provider, whatever it resembles
        hit = self.lookalikes.check(from_domain)
        if hit is None or (hit.other_suffix and authenticated):
            return None
        w = self.section.weights
        weight = w.lookalike_other_suffix if hit.other_suffix else w.lookalike_domain
        signal = self._signal("lookalike_domain", weight, f"From domain {hit.domain} imitates {hit.protected}: {hit.reason}")
        return signal, NotedLookalike(hit.domain, weight)

    def _display_name(self, message: Message, from_addr: str, from_org: str, authenticated: bool) -> Signal | None:
        display = _display_name(message)
        if not display:
            return None
        shown = [a.lower() for a in _EMAIL_IN_TEXT.findall(display)]
        shown_domains = {organizational_domain(d.lower()) for d in _DOMAIN_IN_TEXT.findall(display)}
        shown_domains |= {organizational_domain(domain_of(a) or "") for a in shown}
        foreign = sorted(d for d in shown_domains if d and d != from_org)
        other_addresses = [a for a in shown if a != from_addr]
        if not foreign and not other_addresses:
            return None
        protected = [d for d in foreign if d in self.protected]
        if not protected and (authenticated or not other_addresses or _list_mail(message)):
            # A bare domain in a display name ("CNET News.com Daily") is a brand; another
            # address there counts unless a list or forwarding service put it there.
            return None
        what = ", ".join(other_addresses or foreign)
        return self._signal("display_name_address", self.section.weights.display_name_address,
                            f"display name {display!r} shows {what}, but the address is {from_addr}")

    def _from_is_recipient(self, message: Message, from_addr: str, from_org: str, summary: AuthSummary | None,
                           bulk: bool) -> Signal | None:
        w = self.section.weights
        for rcpt in message.envelope.rcpts:
            rcpt = rcpt.lower()
            if rcpt == from_addr or organizational_domain(domain_of(rcpt) or "") == from_org:
                same = "the recipient's own address" if rcpt == from_addr else f"the recipient's domain {from_org}"
                dmarc = summary.dmarc.result if summary else "not checked"
                weight, note = (w.from_is_recipient_bulk, ", on bulk mail") if bulk else (w.from_is_recipient, "")
                return self._signal("from_is_recipient", weight,
                                    f"From {from_addr} is {same} (recipient {rcpt}) and DMARC is {dmarc}{note}")
        return None

    def _envelope_mismatch(self, message: Message, from_org: str, summary: AuthSummary | None) -> Signal | None:
        mail_from = message.envelope.mail_from
        envelope_domain = domain_of(mail_from or "")
        if not envelope_domain:
            return None  # null sender: bounces legitimately differ
        envelope_org = organizational_domain(envelope_domain)
        if envelope_org == from_org:
            return None
        if from_org not in self.protected and not _recipient_domain(message, from_org):
            return None  # bounce domains of lists and mail services: ordinary
        if summary is not None and summary.spf is not None and summary.spf.result == "pass":
            return None  # the envelope domain authenticated itself
        return self._signal("envelope_mismatch", self.section.weights.envelope_mismatch,
                            f"envelope sender {mail_from} ({envelope_org}) differs from From domain {from_org} and neither authenticates")

    def _reply_to(self, message: Message, from_org: str) -> Signal | None:
        field = message.header("Reply-To")
        if not field:
            return None
        for _, address in email.utils.getaddresses([field]):
            domain = domain_of(address)
            if not domain:
                continue
            org = organizational_domain(domain)
            if org == from_org:
                continue
            if org in self.freemail:
                return self._signal("reply_to_freemail", self.section.weights.reply_to_freemail,
                                    f"Reply-To {address.lower()} is a free webmail address, From domain is {from_org}")
            return self._signal("reply_to_divergence", self.section.weights.reply_to_divergence,
                                f"Reply-To {address.lower()} ({org}) differs from From domain {from_org}")
        return None


@dataclass(frozen=True, slots=True)
class NotedLookalike:
    """The impersonation check's fact: the From domain imitates another, and what that scored."""

    domain: str  # organizational domain of the lookalike
    weight: float  # what the lookalike signal scored


_LIST_FIELDS = ("List-Id", "List-Post")


def _list_mail(message: Message) -> bool:
    """Mail through a mailing list, which rewrites Reply-To and the envelope sender."""
    return any(message.header(name) for name in _LIST_FIELDS)


def _bulk(message: Message) -> bool:
    """Newsletters, often addressed to themselves. Weakens, never silences, a tell: the
    marks are the sender's to forge."""
    precedence = (message.header("Precedence") or "").strip().lower()
    return precedence in ("bulk", "list", "junk") or bool(message.header("List-Unsubscribe"))


def _recipient_domain(message: Message, org: str) -> bool:
    return any(organizational_domain(domain_of(r) or "") == org for r in message.envelope.rcpts)


def _display_name(message: Message) -> str:
    field = message.header("From") or ""
    name, _ = email.utils.parseaddr(field)
    return name.strip()


def build(section: ImpersonationSection, context: CheckContext) -> ImpersonationCheck:
    settings = context.settings
    protected = {organizational_domain(d) for d in section.own_domains}
    for path in settings.list_files("checks.impersonation.protected_domain_files", section.protected_domain_files, "impersonated"):
        protected |= load_domain_list(path)
    freemail: set[str] = set()
    for path in settings.list_files("checks.impersonation.freemail_files", section.freemail_files, "freemail"):
        freemail |= load_domain_list(path)
    return ImpersonationCheck(section, frozenset(protected), frozenset(freemail), context.trusted_networks)


SIGNALS = {
    "from_is_recipient": "From is the recipient's own address: the 'I sent this from your account' trick",
    "from_is_recipient_bulk": "From equals the recipient on list or bulk mail, which lists do: weak",
    "display_name_address": "the display name shows another address or a protected domain",
    "lookalike_domain": "the From domain looks like a protected one (homoglyphs, edits, added words)",
    "lookalike_other_suffix": "a protected name under another suffix: weak on its own",
    "envelope_mismatch": "envelope sender from another domain, where that matters",
    "reply_to_divergence": "replies go to another domain than From",
    "reply_to_freemail": "replies go to a freemail mailbox while From claims an organisation",
}

PLUGIN = CheckPlugin("impersonation", ImpersonationSection, build, SIGNALS)
