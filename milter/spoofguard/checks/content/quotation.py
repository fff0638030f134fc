"""Whether a threat is made, or reported.

News, police advisories, security newsletters and IT desks quote intimidation mail to
warn about it; the same words sent to the reader are the threat itself. What tells them
apart is what tells a reader:

* quotation: the words stand inside quotation marks (of any language), a block quote
  (rendered as quotation marks by extraction), or after a colon that introduces what the
  mail said ("The email reads:", "le message indique :");
* reporting: the sentence around them names the mail or its sender in the third person
  with a reporting verb ("the scammers claim", "victims are told", "según la policía");
* the frame of the whole message: reporting, words naming the scam ("scam", "Betrug",
  "arnaque", not "this is not a hoax") and advice to the reader ("do not pay", "report
  it to the police").

The word lists are lexicon classes (``report_verb``, ``report_subject``, ``report_person``,
``hearsay``, ``scam_word``, ``advice``, ``aftermath``, ``fiction``, ``negation``), so admins
extend them like any other.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Sequence

from .lexicon import WordHit

__all__ = ["Framing", "mark_block_quotes", "quoted_spans"]

REPORT_VERB = "report_verb"
REPORT_SUBJECT = "report_subject"  # the mail's senders and victims: a sentence naming them reports
REPORT_PERSON = "report_person"  # the mail itself, or anyone: with a reporting verb the sentence reports
HEARSAY = "hearsay"  # "allegedly", "aurait", "sei": reported speech on its own
SCAM_WORD = "scam_word"
ADVICE = "advice"
AFTERMATH = "aftermath"  # "if you have already paid": advice to victims, whose sentence reports
FICTION = "fiction"  # a film, a novel, a game: the story is not a threat
NEGATION = "negation"
CONDITION = "condition"  # "if you don't": its "don't pay" is a threat's condition, not advice
INTRODUCED = 1500  # characters after "the email reads:" taken as the mail's own words
_NEGATION_REACH = 3  # "this is not a hoax": a negation this many words before a scam word

# Paired quotation marks of the languages the rules cover; a straight or single quote
# opens only after a space or bracket and closes only before one (not "don't").
_QUOTES = re.compile(
    r"“[^“”]{1,3000}[”“]"
    r"|„[^„“”\"]{1,3000}[“”\"]"  # „German" closed by a straight quote, as typed
    r"|«[^«»]{1,3000}»"
    r"|»[^«»]{1,3000}«"
    r"|‹[^‹›]{1,1500}›"
    r"|「[^「」]{1,1500}」"
    r"|(?<![\w])\"[^\"]{1,1500}\""
    r"|(?<![\w’'])‘.{1,1500}?’(?![\w])"
    r"|(?<![\w’'])'.{1,600}?'(?![\w])"
)
# An opening mark never closed: a multi-paragraph quotation in news runs on.
_UNCLOSED = re.compile(r"[“„«]")
_UNCLOSED_LENGTH = 1500
_COLON = re.compile(r":(?=\s)")


_QUOTED_LINE = re.compile(r"(?:>|[ \t]{2,}\S|\t)")


def mark_block_quotes(text: str) -> str:
    """Runs of lines quoted with ``>`` or indented, put in quotation marks so that
    ``quoted_spans`` sees them; the ``>`` marks go. Blank lines inside a run keep it going."""
    if "\n>" not in text and "\n  " not in text and "\n\t" not in text and not text.startswith((">", "  ", "\t")):
        return text
    out: list[str] = []
    inside = False
    for line in text.split("\n"):
        quoted = _QUOTED_LINE.match(line) is not None
        if quoted:
            line = line.lstrip(" \t>")
            if not inside:
                line, inside = "\u201c" + line, True
        elif inside and line.strip():
            out[-1] += "\u201d"
            inside = False
        out.append(line)
    if inside:
        out[-1] += "\u201d"
    return "\n".join(out)


def quoted_spans(text: str) -> list[tuple[int, int]]:
    """Character spans inside quotation marks, in order."""
    spans = [m.span() for m in _QUOTES.finditer(text)]
    if _UNCLOSED.search(text):
        covered = _Spans(spans)
        for opening in _UNCLOSED.finditer(text):
            if not covered.inside(opening.start(), opening.end()):
                spans.append((opening.start(), min(len(text), opening.start() + _UNCLOSED_LENGTH)))
    return sorted(spans)


class _Spans:
    def __init__(self, spans: Sequence[tuple[int, int]]) -> None:
        self.spans = spans
        self.starts = [s for s, _ in spans]

    def inside(self, start: int, end: int) -> bool:
        """Whether [start, end) lies mostly inside one span (spans may nest or overlap)."""
        first = bisect.bisect_right(self.starts, start) - 1
        last = bisect.bisect_left(self.starts, end)  # a quotation may open inside the span
        for low, high in self.spans[max(first - 3, 0):last]:
            overlap = min(end, high) - max(start, low)
            if overlap > 0 and overlap * 2 >= end - start:
                return True
        return False


class Framing:
    """Quotation, reporting and the frame of one text, from its lexicon hits."""

    def __init__(self, text: str, hits: Sequence[WordHit], breaks: Sequence[int]) -> None:
        self.text = text
        spans = quoted_spans(text) if _may_quote(text) else []
        by_class: dict[str, list[WordHit]] = {}
        for hit in hits:
            for name in hit.classes & _FRAME_CLASSES:
                by_class.setdefault(name, []).append(hit)
        self._ends = list(breaks)
        self.quotes = _Spans(sorted(spans))
        outside = {name: [h for h in found if not self.quotes.inside(h.start, h.end)]
                   for name, found in by_class.items()}
        self._verbs = outside.get(REPORT_VERB, [])
        self._subjects = outside.get(REPORT_SUBJECT, [])
        self._persons = outside.get(REPORT_PERSON, [])
        self._hearsay = outside.get(HEARSAY, []) + outside.get(AFTERMATH, [])
        introduced: list[tuple[int, int]] = []
        if self._verbs and ":" in text:
            # "One reads in part:", "El texto recibido es idéntico en todos los casos:":
            # a colon ending a sentence that reports introduces the mail's own words
            # ("Montant exigé :" reports nothing: it is the mail itself). How far they go
            # is unknown, so they hide no framing (see ``cues``).
            for colon in _COLON.finditer(text):
                low, _ = self._sentence(colon.start(), colon.start())
                if self._reports(low, colon.start()):
                    introduced.append((colon.end(), min(len(text), colon.end() + INTRODUCED)))
        self.introduced = _Spans(introduced)
        conditions = [(h.start, h.end) for h in outside.get(CONDITION, []) if h.phrase]
        advice = [h for h in outside.get(ADVICE, []) if not any(a <= h.start < b for a, b in conditions)]
        negations = [h.word for h in outside.get(NEGATION, [])]
        scams = [h for h in outside.get(SCAM_WORD, []) if not _negated(h.word, negations)]
        cues: dict[str, list[str]] = {}
        reporting = [v for v in self._verbs + self._subjects + self._hearsay
                     if AFTERMATH not in v.classes and self._reporting_sentence(v.start, v.end)]
        for name, found in (("reporting", reporting), ("naming the scam", scams),
                            ("advice", advice + outside.get(AFTERMATH, [])),
                            ("telling a story", outside.get(FICTION, []))):
            if found:
                cues[name] = [text[h.start:h.end] for h in found[:3]]
        if len({text[h.start:h.end] for h in outside.get(FICTION, [])}) >= 3:
            cues["a review of it"] = []  # three words of a film, book or game: a frame of its own
        self.cues = cues

    def quoted(self, start: int, end: int) -> bool:
        return self.quotes.inside(start, end) or self.introduced.inside(start, end)

    def reported(self, start: int, end: int) -> bool:
        """Quoted, or told in a sentence that reports it in the third person."""
        return self.quoted(start, end) or self._reporting_sentence(start, end)

    def describe(self) -> str:
        return "; ".join(f"{name} ({', '.join(repr(w) for w in words)})" if words else name
                         for name, words in self.cues.items())

    def _reporting_sentence(self, start: int, end: int) -> bool:
        """The sentence names the mail, its sender or its victims ("the sender can see how
        you voted"), marks hearsay ("allegedly", "aurait", "sei") or advises those who gave
        in ("if you have already paid"), or has someone else say it ("police said")."""
        return self._reports(*self._sentence(start, end))

    def _reports(self, low: int, high: int) -> bool:
        return (_any_within(self._subjects, low, high) or _any_within(self._hearsay, low, high)
                or (_any_within(self._verbs, low, high) and _any_within(self._persons, low, high)))

    def _sentence(self, start: int, end: int) -> tuple[int, int]:
        at = bisect.bisect_right(self._ends, start)
        low = self._ends[at - 1] if at else 0
        after = bisect.bisect_left(self._ends, end)
        high = self._ends[after] if after < len(self._ends) else len(self.text)
        return low, high


_FRAME_CLASSES = frozenset({REPORT_VERB, REPORT_SUBJECT, REPORT_PERSON, HEARSAY, SCAM_WORD, ADVICE, AFTERMATH, FICTION,
                            NEGATION, CONDITION})


def _may_quote(text: str) -> bool:
    return any(mark in text for mark in "\"'“„«»‹「‘")


def _any_within(hits: Sequence[WordHit], low: int, high: int) -> bool:
    return any(low <= h.start < high for h in hits)


def _negated(word: int, negations: Sequence[int]) -> bool:
    at = bisect.bisect_right(negations, word) - 1
    return at >= 0 and word - negations[at] <= _NEGATION_REACH
