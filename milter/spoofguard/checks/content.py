"""Intimidation content: rule matches per category, lifted when categories co-occur.

Within a category only the strongest matching rule counts, so repeating a phrase (or
several phrasings of one idea) does not stack; a demand plus a threat plus a deadline is
what lifts the score.
"""

from __future__ import annotations

from dataclasses import dataclass

from ..lookups import LookupSession
from ..message import Message
from ..rules import Rule
from ..text import message_text, normalize
from ..verdict import Signal, SignalKind
from . import Stage

SNIPPET = 60


@dataclass(frozen=True, slots=True)
class ContentSettings:
    co_occurrence_bonus: float = 1.5  # added per category beyond the first


class ContentCheck:
    name = "content"
    kind = SignalKind.CONTENT

    def __init__(self, rules: list[Rule], settings: ContentSettings) -> None:
        self.rules = tuple(rules)
        self.settings = settings
        best: dict[str, float] = {}
        for rule in rules:
            best[rule.category] = max(best.get(rule.category, 0.0), rule.weight)
        self._max = sum(best.values()) + settings.co_occurrence_bonus * max(0, len(best) - 1)

    @property
    def max_score(self) -> float:
        return self._max

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        return None  # content needs no lookups

    def run(self, message: Message, lookups: LookupSession) -> list[Signal]:
        texts = {
            "text": normalize(message_text(message)),
            "subject": normalize(message.header("Subject") or ""),
        }
        hits: dict[str, list[tuple[Rule, str]]] = {}
        for rule in self.rules:
            found = rule.matches(texts[rule.scope])
            if found:
                hits.setdefault(rule.category, []).append((rule, found.group(0)))
        signals = [self._category_signal(category, matched) for category, matched in hits.items()]
        if len(hits) > 1:
            bonus = self.settings.co_occurrence_bonus * (len(hits) - 1)
            signals.append(
                Signal(
                    "content.co_occurrence",
                    bonus,
                    f"{len(hits)} intimidation categories together: {', '.join(sorted(hits))}",
                    SignalKind.CONTENT,
                )
            )
        return signals

    @staticmethod
    def _category_signal(category: str, matched: list[tuple[Rule, str]]) -> Signal:
        strongest, text = max(matched, key=lambda item: item[0].weight)
        snippet = text if len(text) <= SNIPPET else text[: SNIPPET - 1] + "…"
        others = [rule.id for rule, _ in matched if rule is not strongest]
        detail = f"rule {strongest.id} matched {snippet!r}"
        if others:
            detail += f" (also {', '.join(others)})"
        return Signal(f"content.{category}", strongest.weight, detail, SignalKind.CONTENT)
