"""Intimidation content: rule matches per category, lifted when categories co-occur.

The text is what a reader sees (Subject, display names, every text part, HTML rendered,
nested messages, attachment names), matched twice: as written (normalised), and folded
back from evasions (confusable letters, spaced-out and punctuated words, leetspeak,
zero-width and bidi tricks). Within a category only the strongest matching rule counts,
so repeating a phrase (or several phrasings of one idea) does not stack; a demand plus a
threat plus a deadline is what lifts the score. A checksum-valid cryptocurrency address
is evidence of a payment demand; evasion counts only alongside intimidation, since
newsletters use zero-width characters too.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..content.crypto import CryptoAddress, find_addresses
from ..content.extract import ExtractedText, TextLimits, extract
from ..content.matcher import RuleHit, RuleMatcher
from ..content.normalize import fold
from ..lookups import LookupSession
from ..message import Message
from ..rules import Rule
from ..verdict import UNSCANNED_TEXT, Signal, SignalKind
from . import Stage

SNIPPET = 60
PAYMENT = "extortion_payment"


@dataclass(frozen=True, slots=True)
class ContentSettings:
    co_occurrence_bonus: float = 1.5  # added per category beyond the first
    evasion_weight: float = 1.0  # evasion tricks alongside an intimidation category
    crypto_address_weight: float = 2.0  # a checksum-valid wallet address (extortion_payment)
    engine: str = "auto"  # rule matcher: auto | python | hyperscan
    # Text the scan left unread (see ``extract``): for an unauthenticated sender it tags.
    unscanned_text_weight: float = 2.0
    text_limits: TextLimits = TextLimits()


@dataclass(frozen=True, slots=True)
class _Finding:
    """The strongest evidence of one category."""

    weight: float
    what: str  # "rule X matched '...'"
    evaded: bool = False  # seen only once evasions were folded back
    source: str = ""  # the rule id, or "" for evidence that is not a rule
    others: tuple[str, ...] = ()  # weaker rules of the same category that matched too


class ContentCheck:
    name = "content"
    kind = SignalKind.CONTENT

    def __init__(self, rules: list[Rule], settings: ContentSettings) -> None:
        self.rules = tuple(rules)
        self.settings = settings
        self.matcher = RuleMatcher(self.rules, engine=settings.engine)
        best: dict[str, float] = {}
        for rule in rules:
            best[rule.category] = max(best.get(rule.category, 0.0), rule.weight)
        best[PAYMENT] = max(best.get(PAYMENT, 0.0), settings.crypto_address_weight)
        self._max = (sum(best.values()) + settings.co_occurrence_bonus * max(0, len(best) - 1)
                     + settings.evasion_weight + settings.unscanned_text_weight)

    @property
    def max_score(self) -> float:
        return self._max

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        return None  # content needs no lookups

    def run(self, message: Message, lookups: LookupSession) -> list[Signal]:
        text = extract(message, self.settings.text_limits)
        found, evasions = self._findings(text)
        signals = [self._category_signal(category, finding) for category, finding in found.items()]
        if len(found) > 1:
            bonus = self.settings.co_occurrence_bonus * (len(found) - 1)
            signals.append(Signal("content.co_occurrence", bonus,
                                  f"{len(found)} intimidation categories together: {', '.join(sorted(found))}",
                                  SignalKind.CONTENT))
        if evasions:
            weight = self.settings.evasion_weight if found else 0.0
            signals.append(Signal("content.evasion", weight, f"text disguised with {', '.join(evasions)}",
                                  SignalKind.CONTENT if weight else SignalKind.INFO))
        signals.extend(_extraction_notes(text))
        if text.unread:
            signals.append(Signal(UNSCANNED_TEXT, self.settings.unscanned_text_weight,
                                  "text left unread: " + "; ".join(text.unread)[:240]))
        return signals

    def _findings(self, text: ExtractedText) -> tuple[dict[str, _Finding], tuple[str, ...]]:
        reading = "\n".join([text.subject, text.names, text.body, *text.attachment_names])
        whole, subject = fold(reading), fold(text.subject)
        found: dict[str, _Finding] = {}
        for hit in self.matcher.match({"text": whole.plain, "subject": subject.plain}):
            _keep(found, hit.rule.category, _Finding(hit.rule.weight, _describe(hit), source=hit.rule.id))
        evasions = tuple(dict.fromkeys(whole.evasions + subject.evasions))
        if whole.folded != whole.plain or subject.folded != subject.plain:
            for hit in self.matcher.match({"text": whole.folded, "subject": subject.folded}):
                _keep(found, hit.rule.category, _Finding(hit.rule.weight, _describe(hit), evaded=True, source=hit.rule.id))
        addresses = find_addresses(reading)
        if addresses and self.settings.crypto_address_weight:
            _keep(found, PAYMENT, _Finding(self.settings.crypto_address_weight, _wallets(addresses)))
        return found, evasions

    @staticmethod
    def _category_signal(category: str, finding: _Finding) -> Signal:
        detail = finding.what + (" once disguised letters were read back" if finding.evaded else "")
        if finding.others:
            detail += f" (also {', '.join(finding.others)})"
        return Signal(f"content.{category}", finding.weight, detail, SignalKind.CONTENT)


def _keep(found: dict[str, _Finding], category: str, finding: _Finding) -> None:
    """Strongest evidence per category; on a tie the undisguised match explains it better."""
    current = found.get(category)
    if current is None:
        found[category] = finding
        return
    ids = [i for i in (current.source, *current.others, finding.source) if i]
    if finding.weight > current.weight:
        current, finding = finding, current
    others = tuple(i for i in dict.fromkeys(ids) if i != current.source)
    found[category] = _Finding(current.weight, current.what, current.evaded, current.source, others)


def _describe(hit: RuleHit) -> str:
    text = hit.matched if len(hit.matched) <= SNIPPET else hit.matched[: SNIPPET - 1] + "…"
    return f"rule {hit.rule.id} matched {text!r}"


def _wallets(addresses: list[CryptoAddress]) -> str:
    shown = ", ".join(f"{a.coin} {a.address[:12]}…" for a in addresses[:3])
    return f"checksum-valid cryptocurrency address: {shown}"


def _extraction_notes(text: ExtractedText) -> list[Signal]:
    """How the text was read, for an admin wondering why a rule did or did not match."""
    notes = list(text.notes)
    return [Signal("content.extraction", 0.0, "; ".join(notes)[:300])] if notes else []
