"""Word classes: the vocabulary of intimidation moves, in every language the rules cover.

A class gathers words that play one part in a move: "hacked", "gehackt", "piraté" and
"hackeado" are all *hack*; "your", "Ihr", "votre" and "jouw" are all *reader*. Rules are
written over classes, so one rule covers every language, every synonym and every
inflection listed, in any word order (see ``moves``).

Entries are written as a reader reads them: a plain entry is a whole word or a phrase of
whole words; an entry ending in ``*`` is a stem that takes any ending ("grab*" is grabé,
grabado, grabación). They are normalised as message text is (case folded, accents
removed), so "vidéo" in the lexicon meets "VIDEO" or "vídeo" in a message.

Stems are written by hand rather than computed: a stemmer run over every word of every
message costs more than the whole check may, stemmers differ in what they cut, and a
written stem can be reviewed. The text is scanned once with a single regular expression
built as a trie of every entry, so the cost is one pass whatever the size of the lexicon.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any, NamedTuple

from .normalize import fold

__all__ = ["BUILTIN_CLASSES", "Lexicon", "WordClass", "WordHit", "normalise_entry"]

_CACHE_SIZE = 50_000  # distinct matched words remembered per lexicon

# Numbers as words, and units of time, for the built-in class "duration" ("two days",
# "achtundvierzig Stunden"): entered into the trie as phrases.
_NUMBER_WORDS = (
    "one two three four five six seven ten twelve twenty-four forty-eight seventy-two "
    "dos tres cuatro cinco siete diez veinticuatro|cuarenta y ocho|setenta y dos "
    "zwei drei vier funf sieben zehn vierundzwanzig achtundvierzig zweiundsiebzig "
    "deux trois quatre cinq sept dix vingt-quatre quarante-huit soixante-douze "
    "twee drie vijf zeven tien vierentwintig achtenveertig tweeenzeventig "
    "dois duas quatro sete dez|vinte e quatro|quarenta e oito|setenta e duas "
    "due tre quattro cinque sette dieci ventiquattro quarantotto settantadue"
)
_UNIT_WORDS = (
    "hour hours day days week weeks minute minutes horas dias semanas minutos stunden tage tagen "
    "wochen minuten heures jours semaines uur uren dagen weken ore giorni settimane minuti"
)
_UNITS = (
    "hours?|hrs?|h|days?|dayz|weeks?|minutes?|mins?|horas?|dias?|semanas?|minutos?|"
    "stunden?|std|tagen?|wochen?|minuten?|heures?|jours?|semaines?|uur|uren|dagen|weken|"
    "ore|giorni|settimane|minuti"
)
_CURRENCY = (
    "usd|us dollars?|dollars?|dolares|dollari|bucks|eur|euros?|gbp|pounds?|chf|francs?|reais|"
    "btc|bitcoins?|ltc|litecoins?|eth|xmr|monero|usdt|\\$|€|£"
)
# Numeric classes no word list can hold: a sum of money and a stretch of time, found by
# one pattern. It starts at a digit or currency sign that no other digit precedes, and
# its numbers take no part back (possessive), so the many digits of ordinary mail cost
# little; a match inside a longer token is dropped afterwards.
BUILTIN_CLASSES = ("amount", "duration")
_NUMERIC = re.compile(
    rf"(?=[\d$€£¥₿])(?<![\d.,])(?:"
    rf"(?P<amount>[$€£¥₿]\s?(?:\d{{1,3}}(?: \d{{3}})++|\d[\d.,]*)(?:\s?(?:k|m|mil)\b)?"
    rf"|(?:\d{{1,3}}(?: \d{{3}})++|\d[\d.,]*+)\s?(?:k\s|mil\s)?(?:{_CURRENCY})(?![\w]))"
    rf"|(?P<duration>\d{{1,3}}+\s?-?\s?(?:{_UNITS})(?![\w])))"
)


_NUMERIC_CLASSES = {name: frozenset((name,)) for name in BUILTIN_CLASSES}
_START = itemgetter(0)
# "8h às 17h", "9h-18h", "um 17h": a clock time, not a stretch of hours.
_CLOCK_AFTER = re.compile(r"\s*(?:-|–|to|a|as|ao|al|bis|tot|alle)\s*\d")
_CLOCK_BEFORE = re.compile(r"(?:\b(?:at|as|a|um|vers|des|das|dalle|alle|om|de|ate|hasta)|\dh?\s*(?:-|–))\s*$")


# A sum under this, in any currency but a cryptocurrency, is pocket money: "you owe me 20
# bucks" is no ransom. Crypto sums are small numbers of great worth (0.5 BTC).
SMALL_SUM = 50
_CRYPTO_UNIT = re.compile(r"btc|bitcoin|₿|eth|xmr|monero|ltc|litecoin")
_NUMBER = re.compile(r"\d{1,3}(?: \d{3})+|\d[\d.,]*")  # "150 000" is one number
_THOUSANDS = re.compile(r"(\d{1,3}(?:[.,]\d{3})+)(?:[.,]\d{1,2})?")  # 1,300 1.500,00 2,000.50


def _small_sum(matched: str) -> bool:
    """A sum of money under ``SMALL_SUM`` (thousands separators of either kind read)."""
    if _CRYPTO_UNIT.search(matched):
        return False
    number = _NUMBER.search(matched)
    if number is None:
        return False
    digits = number.group().replace(" ", "").rstrip(".,")
    if thousands := _THOUSANDS.fullmatch(digits):
        value = float(thousands.group(1).replace(",", "").replace(".", ""))
    else:
        whole = re.split(r"[.,]", digits)[0]
        value = float(whole) if whole else 0.0
    tail = matched[number.end():].lstrip()
    if tail.startswith(("k", "m")):  # 5k, 2m, 45 mil
        value *= 1000
    return value < SMALL_SUM


def _clock_time(text: str, match: re.Match[str]) -> bool:
    """A duration in hours written ``17h`` that is a time of day: in a range or after "at"."""
    if match.lastgroup != "duration" or not match.group().endswith("h"):
        return False
    return (_CLOCK_AFTER.match(text, match.end()) is not None
            or _CLOCK_BEFORE.search(text, max(0, match.start() - 8), match.start()) is not None)


def _duration_phrases() -> list[str]:
    numbers = [n for group in _NUMBER_WORDS.split("|") for n in ([group] if " y " in group or " e " in group
                                                                      else group.split())]
    return [f"{number} {unit}" for number in numbers for unit in _UNIT_WORDS.split()]


@dataclass(frozen=True, slots=True)
class WordClass:
    name: str
    description: str
    entries: tuple[str, ...]  # normalised; a trailing "*" marks a stem


class WordHit(NamedTuple):
    """A lexicon word in the text: its place (characters and word index) and classes.
    A tuple, not a dataclass: a long message has thousands, made in one loop."""

    start: int
    end: int
    word: int
    classes: frozenset[str]
    phrase: bool = False  # several words: its classes may belong to different ones
    sentence: int = 0  # how many sentence ends come before it (see ``scan``)


def normalise_entry(entry: str) -> str:
    """An entry as message text reads after folding; a stem keeps its ``*``."""
    stem = entry.endswith("*")
    body = fold(entry[:-1] if stem else entry).folded
    return body + "*" if stem and body else body


class Lexicon:
    """Every class's entries, found in a text in one pass."""

    def __init__(self, classes: Iterable[WordClass]) -> None:
        self.classes = {c.name: c for c in classes}
        self.names = frozenset(self.classes) | frozenset(BUILTIN_CLASSES)
        self._exact: dict[str, frozenset[str]] = {}
        self._stems: dict[str, frozenset[str]] = {}
        exact: dict[str, set[str]] = {}
        stems: dict[str, set[str]] = {}
        for word_class in self.classes.values():
            for entry in word_class.entries:
                if entry.endswith("*"):
                    stems.setdefault(entry[:-1], set()).add(word_class.name)
                else:
                    exact.setdefault(entry, set()).add(word_class.name)
        for phrase in _duration_phrases():
            exact.setdefault(phrase, set()).add("duration")
        self._stems = {k: frozenset(v) for k, v in stems.items()}
        self._stem_lengths = sorted({len(k) for k in stems}, reverse=True)
        # An exact word takes the classes of the stems it starts with, once, here.
        self._exact = {k: frozenset(v) | self._stem_classes(k) for k, v in exact.items()}
        self._cache: dict[str, frozenset[str]] = {}
        entries = [*exact, *(stem + "*" for stem in stems)]
        self._pattern = re.compile(r"(?<!\w)(?:" + _trie(entries) + ")") if entries else None

    def scan(self, text: str, breaks: Sequence[int] = ()) -> list[WordHit]:
        """Every lexicon word (and sum and duration) in ``text`` in order, with its word
        index and, given where sentences end (``moves.sentence_breaks``), its sentence; a
        phrase and its first word both count."""
        if "\u2019" in text:
            text = text.replace("\u2019", "'")  # typographic apostrophe: same length
        found = self._words(text)  # in order of start
        for m in _NUMERIC.finditer(text):
            if ((m.start() == 0 or not text[m.start() - 1].isalnum() or text[m.start()] in "$€£¥₿")
                    and not _clock_time(text, m) and not (m.lastgroup == "amount" and _small_sum(m.group()))):
                bisect.insort(found, (m.start(), m.end(), _NUMERIC_CLASSES[m.lastgroup or ""]), key=_START)
        hits: list[WordHit] = []
        append, count, find = hits.append, text.count, text.find
        word = counted = sentence = 0
        ends = len(breaks)
        for start, end, classes in found:
            word += count(" ", counted, start)
            counted = start
            while sentence < ends and breaks[sentence] <= start:
                sentence += 1
            append(WordHit(start, end, word, classes, find(" ", start, end) != -1, sentence))
        return hits

    def _words(self, text: str) -> list[tuple[int, int, frozenset[str]]]:
        if self._pattern is None:
            return []
        found: list[tuple[int, int, frozenset[str]]] = []
        covered = 0  # text before this was read inside a phrase already
        for match in self._pattern.finditer(text):
            start, end = match.span()
            if start < covered:
                continue
            matched = match.group()
            if " " in matched or "'" in matched:
                covered = max(covered, self._compound(text, start, end, found))
                continue
            classes = self._exact.get(matched) or self._classes(matched)
            if classes:
                found.append((start, end, classes))
        return found

    def _compound(self, text: str, start: int, end: int, found: list[tuple[int, int, frozenset[str]]]) -> int:
        """A phrase, or a word with an apostrophe, matched at ``start``: its own hit, then
        the words inside it, which may start phrases of their own ("deine welt zu
        vernichten" holds "deine welt" and "deine"; "j'enverrai" holds "j'" and
        "enverrai"). Returns how far the text was read."""
        search = self._pattern.search  # type: ignore[union-attr]
        reach = end
        pos = start
        while pos < reach:
            match = search(text, pos)
            if match is None or match.start() >= reach:
                break
            first, last = match.span()
            matched = match.group()
            classes = self._classes(matched)
            space = matched.find(" ")
            if space != -1:
                cut = space
                while cut != -1:
                    classes |= self._classes(matched[:cut])
                    cut = matched.find(" ", cut + 1)
                if classes:
                    found.append((first, last, classes))
                pos = first + space + 1
                reach = max(reach, last)
                continue
            apostrophe = matched.find("'")
            if not classes and 0 < apostrophe < len(matched) - 1:
                # French and Italian elision: the article or pronoun is a word, and so is
                # what follows it.
                head = self._exact.get(matched[:apostrophe + 1])
                if head:
                    found.append((first, first + apostrophe + 1, head))
                pos = first + apostrophe + 1
                continue
            if classes:
                found.append((first, last, classes))
            pos = last
            reach = max(reach, last)
        return reach

    def _classes(self, matched: str) -> frozenset[str]:
        """The classes of a matched word or phrase: the exact entry, else the longest stem
        (words recur, so answers are remembered, up to a bound)."""
        found = self._exact.get(matched)
        if found is not None:
            return found
        found = self._cache.get(matched)
        if found is None:
            found = self._stem_classes(matched)
            if len(self._cache) < _CACHE_SIZE:
                self._cache[matched] = found
        return found

    def _stem_classes(self, word: str) -> frozenset[str]:
        for length in self._stem_lengths:
            if length <= len(word) and (stem := self._stems.get(word[:length])) is not None:
                return stem
        return frozenset()


def _trie(entries: Iterable[str]) -> str:
    """An alternation of ``entries`` as a trie, longest branch first: one pass, no
    backtracking across thousands of alternatives. A word ends where the text's word ends;
    a stem (``grab*``) takes the rest of the word. Words the lexicon does not hold are not
    matched at all: "invoice" is not read as "i" and thrown away."""
    root: dict[str, Any] = {}
    for entry in entries:
        # An elided article or pronoun ("j'", "l'") runs into the next word: the phrase
        # reader splits the two (see ``Lexicon._compound``).
        stem = entry.endswith("*") or entry.endswith("'")
        node = root
        for char in entry[:-1] if entry.endswith("*") else entry:
            node = node.setdefault(char, {})
        node[_STEM if stem else _WORD] = {}
    return _branch(root)


_WORD, _STEM = "", "*"  # trie ends: a whole word, a stem


def _branch(node: Mapping[str, Any]) -> str:
    alternatives = [re.escape(char) + _branch(child) for char, child in sorted(node.items()) if char not in (_WORD, _STEM)]
    if _WORD in node:
        alternatives.append(r"(?!\w)")
    if _STEM in node:
        alternatives.append(r"\w*")
    return alternatives[0] if len(alternatives) == 1 else "(?:" + "|".join(alternatives) + ")"
