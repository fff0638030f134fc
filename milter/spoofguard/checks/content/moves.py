"""Moves found in a text: word-class rules evaluated over the lexicon's hits.

A word-class rule fires where a word of each of its groups stands within ``within`` words
of the others, in any order (German puts the verb last, English does not), with a
second- or first-person word in or next to the span when the rule asks for one, and none
of its ``unless`` classes inside. Only rules whose every class occurs in the message are
looked at, anchored on their rarest group, so ordinary mail costs almost nothing.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass

from .lexicon import Lexicon, WordHit
from .normalize import fold
from .rules import Rule

__all__ = ["PART_BREAK", "Evidence", "READER", "SPEAKER", "example_failures", "find_evidence", "fires",
           "sentence_breaks"]

READER = "reader"  # the class of second-person words: you, Ihr, votre, jouw, seu...
SPEAKER = "speaker"  # first-person words: I, we, ich, nous, wij, eu...
READER_WEAK = "reader_weak"  # "su", "seu", "sua": your, his or her
FORMAL_YOU = "formal_you"  # "usted", "você", "pague": the reader addressed formally
NEGATION = "negation"
CONDITION = "condition"
READER_REACH = 5  # words before or after the span a second-person word may stand, in its sentence
SPEAKER_REACH = 8  # and a first-person one, in any sentence ("We are Armada. Your network..."), or in its own
UNLESS_REACH = 2  # words around the span where an ``unless`` class voids it
NEGATION_REACH = 2  # a negation right before the span or inside it, or one auxiliary away: "has not been hired"
MAX_PER_RULE = 8


@dataclass(frozen=True, slots=True)
class Evidence:
    """One place a rule fired: the characters of the span and the classes seen in it."""

    rule: Rule
    start: int
    end: int
    classes: frozenset[str]
    to_reader: bool = False  # a second-person word stands in or next to it


class _Index:
    """Hits by class, with their word positions and sentences, for nearest-hit searches."""

    def __init__(self, hits: Sequence[WordHit]) -> None:
        self.by_class: dict[str, list[WordHit]] = {}
        by_class = self.by_class
        for hit in hits:
            for name in hit.classes:
                found = by_class.get(name)
                if found is None:
                    by_class[name] = [hit]
                else:
                    found.append(hit)
        if NEGATION in self.by_class and CONDITION in self.by_class:
            # "si no pagas", "if you don't pay": the negation is the condition's, not the move's.
            phrases = [(h.start, h.end) for h in self.by_class[CONDITION] if h.phrase]
            self.by_class[NEGATION] = [h for h in self.by_class[NEGATION]
                                       if not any(a <= h.start and h.end <= b for a, b in phrases)]
        if FORMAL_YOU in self.by_class and READER_WEAK in self.by_class:
            # "su", "seu", "sua" are "your" only where the message speaks formally to the
            # reader ("usted", "você", "pague"); elsewhere they are "his" and "her".
            merged = {id(h): h for h in self.by_class.get(READER, []) + self.by_class[READER_WEAK]}
            self.by_class[READER] = sorted(merged.values(), key=lambda h: h.start)
        self.words = {name: [h.word for h in found] for name, found in self.by_class.items()}
        self._sentences: dict[str, set[int]] = {}

    def in_sentence(self, name: str, sentence: int) -> bool:
        sentences = self._sentences.get(name)
        if sentences is None:
            sentences = self._sentences[name] = {h.sentence for h in self.by_class.get(name, ())}
        return sentence in sentences

    def group(self, names: Iterable[str]) -> list[WordHit]:
        lists = [self.by_class[n] for n in names if n in self.by_class]
        if len(lists) == 1:
            return lists[0]
        merged = {id(h): h for found in lists for h in found}
        return sorted(merged.values(), key=lambda h: h.start)

    def near(self, name: str, low: int, high: int, sentence: int | None = None) -> bool:
        """A word of class ``name`` between word positions ``low`` and ``high``; in
        ``sentence`` when one is given."""
        words = self.words.get(name)
        if not words:
            return False
        at = bisect.bisect_left(words, low)
        if sentence is None:
            return at < len(words) and words[at] <= high
        found = self.by_class[name]
        while at < len(words) and words[at] <= high:
            if found[at].sentence == sentence:
                return True
            at += 1
        return False


def find_evidence(hits: Sequence[WordHit], rules: Iterable[Rule]) -> list[Evidence]:
    """Every place each word-class rule fires (at most ``MAX_PER_RULE`` a rule). A move is
    made within one sentence: ``hits`` come from ``Lexicon.scan(text, sentence_breaks(text))``."""
    index = _Index(hits)
    present = index.by_class.keys()
    found: list[Evidence] = []
    for rule in rules:
        if not rule.groups or not all(group & present for group in rule.groups):
            continue
        if (rule.reader and READER not in present) or (rule.speaker and SPEAKER not in present):
            continue
        found.extend(_fire(rule, index))
    return found


def _fire(rule: Rule, index: _Index) -> list[Evidence]:
    members = [index.group(g) for g in rule.groups]
    words = [[h.word for h in m] for m in members]
    anchor = min(range(len(members)), key=lambda i: len(members[i]))
    out: list[Evidence] = []
    for hit in members[anchor]:
        sentence = hit.sentence
        chosen = [hit if i == anchor else
                  _nearest(members[i], words[i], hit, rule.within, sentence,
                           (i > anchor) - (i < anchor) if rule.ordered else 0)
                  for i in range(len(members))]
        if any(c is None for c in chosen):
            continue
        span = [c for c in chosen if c is not None]
        if any(h.phrase and sum(1 for other in span if other is h) > 1 for h in span):
            # A phrase may not stand for two groups ("video camera" is no recording of a
            # camera); one inflected word may ("enviaré" is both a sending and a promise).
            continue
        low, high = min(h.word for h in span), max(h.word for h in span)
        if high - low > rule.within:
            continue
        reach = min(rule.reach, READER_REACH)
        if rule.reader and not index.near(READER, low - reach, high + reach, sentence):
            continue
        if rule.speaker and not (index.near(SPEAKER, low - SPEAKER_REACH, high + SPEAKER_REACH)
                                 or index.in_sentence(SPEAKER, sentence)):
            continue
        if any(index.near(name, low - NEGATION_REACH, high) if name == NEGATION
               else index.near(name, low - UNLESS_REACH, high + UNLESS_REACH) for name in rule.unless):
            continue
        start, end = min(h.start for h in span), max(h.end for h in span)
        if out and start < out[-1].end:
            continue  # the same place found from another anchor
        to_reader = index.near(READER, low - READER_REACH, high + READER_REACH, sentence)
        out.append(Evidence(rule, start, end, frozenset().union(*(h.classes for h in span)), to_reader))
        if len(out) >= MAX_PER_RULE:
            break
    return out


def _nearest(members: list[WordHit], words: list[int], anchor: WordHit, within: int, sentence: int,
             side: int) -> WordHit | None:
    """The member nearest the anchor word in the anchor's sentence (not the anchor itself
    when it is a phrase); ``side`` -1 or 1 wants it before or after the anchor."""
    low = bisect.bisect_left(words, anchor.word - within)
    high = bisect.bisect_right(words, anchor.word + within)
    best: WordHit | None = None
    for i in range(low, high):
        candidate = members[i]
        if (candidate is anchor and anchor.phrase) or candidate.sentence != sentence:
            continue
        if side and (candidate.start - anchor.start) * side < 0:
            continue
        if best is None or abs(words[i] - anchor.word) < abs(best.word - anchor.word):
            best = candidate
    return best


def fires(rule: Rule, lexicon: Lexicon, text: str) -> bool:
    """Whether ``rule`` fires on ``text`` (any text: it is folded here)."""
    folded = fold(text).folded
    if rule.regex is not None:
        return rule.regex.search(folded) is not None
    return bool(find_evidence(lexicon.scan(folded, sentence_breaks(folded)), (rule,)))


# Between the Subject, the names and the body: no sentence runs from one into the next.
# A rule of punctuation, which ends a sentence, and ASCII, which keeps folding on its fast path.
PART_BREAK = "\n|||\n"
# One character class first, so the scan skips ahead to candidates.
_SENTENCE_END = re.compile(r"[.!?…\-=_*:#~|+](?:(?<=[.!?…])(?=\s|$)|(?<=[-=_*:#~|+])[-=_*:#~|+]{2,})")


def sentence_breaks(text: str) -> list[int]:
    """Where sentences end: a full stop, question or exclamation mark before a space, a
    rule of punctuation ("-----", "=-=-=", ":::::") between sections of a newsletter, or
    the end of the Subject (``PART_BREAK``)."""
    return [m.end() for m in _SENTENCE_END.finditer(text)]


def example_failures(rule: Rule, lexicon: Lexicon) -> list[str]:
    """Examples that do not behave as the rule promises (empty when the rule is sound)."""
    failures = [f"should match: {e!r}" for e in rule.match if not fires(rule, lexicon, e)]
    failures += [f"should not match: {e!r}" for e in rule.no_match if fires(rule, lexicon, e)]
    return failures
