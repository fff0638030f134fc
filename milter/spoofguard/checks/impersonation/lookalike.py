"""Lookalike domains: a sender domain made to be mistaken for a protected one.

Readers check a sender by eye, so what counts is how a domain looks, not how it is
spelled: Cyrillic ``раураl.com``, ``paypa1.com``, ``rnicrosoft.com`` and ``paypal.co`` all
pass for PayPal or Microsoft at a glance. The detector compares the registrable label of
a domain (its organizational domain minus the public suffix: ``paypal`` in
``mail.paypal.co.uk``) with the label of every protected domain.
"""

from __future__ import annotations

import bisect
import unicodedata
from collections.abc import Callable, Hashable, Iterable, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeVar

from confusable_homoglyphs import categories as _categories
from confusable_homoglyphs import confusables as _confusables
from rapidfuzz.distance import OSA

from ...domains import ACE_PREFIX, public_suffix_list, registrable_parts, to_unicode

__all__ = ["Lookalike", "LookalikeDetector", "mixed_scripts", "skeleton"]

K = TypeVar("K", bound=Hashable)

# Longest text the fallback for invalid IDNA looks at; real domains are far shorter.
_MAX_LOOSE_LENGTH: Final = 1024
# Longest label quoted in a reason, so a hostile domain cannot flood a header or a log line.
_MAX_SHOWN: Final = 64
_DIRECTION_MARKS: Final = ("\u200e", "\u200f")
_IDNA_DOTS: Final = ("\u3002", "\uff0e", "\uff61")
# Letter pairs that read as one letter in common sans-serif fonts and that the Unicode
# confusables data does not list ("rn" for "m" is listed and comes from the data).
_ASCII_PAIRS: Final = (("vv", "w"), ("cl", "d"))
# Corrections to the shipped confusables data: CYRILLIC SMALL LETTER PALOCHKA renders as a
# tall stroke like "l" in common fonts (the classic "аррӏе.com"), yet the data maps it to "i".
_EXTRA_PROTOTYPES: Final = {"\u04cf": "l"}
# Characters of these scripts fit into any other script: digits, hyphen, combining marks.
_NEUTRAL_SCRIPTS: Final = frozenset({"Common", "Inherited"})


@dataclass(frozen=True)
class Lookalike:
    """A domain that imitates a protected one, and how, in words for users and admins."""

    domain: str  # the imitating organizational domain, A-label form (escaped if not valid IDNA)
    protected: str  # the protected organizational domain it imitates
    reason: str
    # Same name under another public suffix (paypal.de vs paypal.com): brands own many of
    # those, so it only means something when the sender does not authenticate.
    other_suffix: bool = False


# --- Confusable skeletons (Unicode Technical Standard #39, section 4) ---------------------


def _unwrap(text: str) -> str:
    """The confusables data shows right-to-left characters between direction marks."""
    if len(text) > 2 and text[0] in _DIRECTION_MARKS and text[-1] in _DIRECTION_MARKS:
        return text[1:-1]
    return text


def _prototype_rank(node: str, graph: dict[str, set[str]]) -> tuple[bool, int, bool, str]:
    # confusables.txt maps single characters to prototypes; only prototypes span several
    # characters, and a prototype is the hub that all its lookalikes point to.
    return (len(node) == 1, -len(graph[node]), not node.isascii(), node)


def _settle(text: str, mapping: dict[str, str]) -> str:
    """Map, decompose and case-fold until nothing changes, so table values are final."""
    for _ in range(8):
        mapped = "".join(mapping.get(char, char) for char in text)
        folded = unicodedata.normalize("NFD", unicodedata.normalize("NFD", mapped).casefold())
        if folded == text:
            break
        text = folded
    return text


def _prototype_table() -> dict[str, str]:
    """Character -> prototype string, rebuilt from confusable-homoglyphs' symmetric data.

    The package stores each confusables.txt line in both directions. Every source maps to
    exactly one prototype, so each connected group has one prototype: the multi-character
    string if there is one, else the character most others point to.
    """
    data: dict[str, list[dict[str, str]]] = _confusables.confusables_data
    graph: dict[str, set[str]] = {}
    for key, entries in data.items():
        source = _unwrap(key)
        for entry in entries:
            target = _unwrap(entry["c"])
            graph.setdefault(source, set()).add(target)
            graph.setdefault(target, set()).add(source)
    mapping: dict[str, str] = {}
    seen: set[str] = set()
    for start in graph:
        if start in seen:
            continue
        group = {start}
        pending = [start]
        while pending:
            for neighbour in graph[pending.pop()]:
                if neighbour not in group:
                    group.add(neighbour)
                    pending.append(neighbour)
        seen |= group
        prototype = min(group, key=lambda node: _prototype_rank(node, graph))
        for node in group:
            if len(node) == 1 and node != prototype:
                mapping[node] = prototype
    mapping.update(_EXTRA_PROTOTYPES)
    return {char: _settle(char, mapping) for char in mapping}


_PROTOTYPES: Final = _prototype_table()


def _map(text: str) -> str:
    return "".join(_PROTOTYPES.get(char, char) for char in text)


def skeleton(text: str) -> str:
    """The UTS #39 skeleton of ``text``, case-folded: two labels that look alike share one.

    Maps each character to its confusable prototype (so Cyrillic ``р`` and ``1`` become
    ``p`` and ``l``, ``m`` becomes ``rn``), folds case after mapping (so a capital ``I``
    still reads as ``l``) and folds ``vv`` -> ``w`` and ``cl`` -> ``d``.
    """
    mapped = _map(unicodedata.normalize("NFD", text))
    mapped = _map(unicodedata.normalize("NFD", mapped).casefold())
    mapped = unicodedata.normalize("NFD", mapped)
    for pair, single in _ASCII_PAIRS:
        mapped = mapped.replace(pair, single)
    return mapped


# --- Scripts ------------------------------------------------------------------------------


def _script_index() -> tuple[list[int], list[int], list[str]]:
    data: dict[str, Any] = _categories.categories_data
    aliases: list[str] = [a.replace("_", " ").title() for a in data["iso_15924_aliases"]]
    ranges = sorted(data["code_points_ranges"])
    return [r[0] for r in ranges], [r[1] for r in ranges], [aliases[r[2]] for r in ranges]


_SCRIPT_STARTS, _SCRIPT_ENDS, _SCRIPT_NAMES = _script_index()


def script_of(char: str) -> str:
    """The Unicode script of one character (``Latin``, ``Cyrillic``, ``Common``, ``Unknown``)."""
    code = ord(char)
    index = bisect.bisect_right(_SCRIPT_STARTS, code) - 1
    if index >= 0 and code <= _SCRIPT_ENDS[index]:
        return _SCRIPT_NAMES[index]
    return "Unknown"


def mixed_scripts(label: str) -> tuple[str, ...]:
    """The scripts ``label`` mixes, in order of appearance, or ``()`` when it uses one.

    Common and Inherited characters (digits, hyphen, combining marks) fit any script and
    are not counted. An ``xn--`` label is decoded first. Legitimate labels may mix scripts
    (Japanese mixes Han, Hiragana and Katakana), so a caller judging a label on this alone
    should allow such combinations.
    """
    text = to_unicode(label) if ACE_PREFIX in label.lower() else label
    if text.isascii():
        return ()
    scripts: dict[str, None] = {}
    for char in text:
        script = script_of(char)
        if script not in _NEUTRAL_SCRIPTS:
            scripts.setdefault(script)
    return tuple(scripts) if len(scripts) > 1 else ()


# --- Reasons ------------------------------------------------------------------------------


def _printable(text: str) -> str:
    """``text`` safe for a header or a log line: invisible characters escaped, length bounded."""
    shown = "".join(char if char.isprintable() else ascii(char)[1:-1] for char in text[:_MAX_SHOWN])
    return shown + ("…" if len(text) > _MAX_SHOWN else "")


def _q(text: str) -> str:
    return f"'{_printable(text)}'"


def _char_names(text: str, limit: int = 3) -> str:
    unusual = list(dict.fromkeys(char for char in text if not char.isascii()))
    names = [f"U+{ord(c):04X} {unicodedata.name(c, 'unnamed character')}" for c in unusual[:limit]]
    if len(unusual) > limit:
        names.append(f"and {len(unusual) - limit} more")
    return ", ".join(names)


def _edit_reason(label: str, protected: str, distance: int) -> str:
    pair = f"{_q(label)} vs {_q(protected)}"
    if distance == 1 and len(label) == len(protected):
        diffs = [i for i, (a, b) in enumerate(zip(label, protected, strict=True)) if a != b]
        if len(diffs) == 1:
            a, b = label[diffs[0]], protected[diffs[0]]
            hint = f" ({_q(a)} looks like {_q(b)})" if skeleton(a) == skeleton(b) else ""
            return f"one character changed: {pair}{hint}"
        return f"two adjacent characters swapped: {pair}"
    if distance == 1:
        added = len(label) > len(protected)
        return f"one character {'added' if added else 'removed'}: {pair}"
    return f"{distance} characters changed: {pair}"


# Letters of one shape, mirrored or nearly so, that a reader can take one for another even
# at the start of a name (``qaypal``); any other first letter reads as another name.
_SIMILAR_FIRST: Final = frozenset(frozenset(pair) for pair in ("pq", "bd", "nh", "uv", "ce", "il", "mn"))


def _same_start(label: str, protected: str) -> bool:
    first, other = label[:1], protected[:1]
    return first == other or frozenset((first, other)) in _SIMILAR_FIRST


# --- Detector -----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Name:
    """A registrable label in the forms the checks compare."""

    domain: str  # organizational domain, A-label (escaped text when not valid IDNA)
    suffix: str  # public suffix, Unicode
    display: str  # label as a mail client shows it: Unicode, lowercase, NFC
    skeleton: str
    shown: str  # label as the sender wrote it (case kept), when that differs from display
    shown_skeleton: str


def _name(domain: str) -> _Name | None:
    text = domain
    for dot in _IDNA_DOTS:
        text = text.replace(dot, ".")
    if text.endswith("."):
        text = text[:-1]
    parts = registrable_parts(text)
    if parts is not None:
        label, suffix = parts
        org = f"{label}.{suffix}"
    else:
        # Not valid IDNA (e.g. characters newer than IDNA 2003 knows), yet a mail client
        # may still show it as text: judge it as text.
        if len(text) > _MAX_LOOSE_LENGTH:
            return None
        loose = unicodedata.normalize("NFC", text)
        psl = public_suffix_list()
        suffix_or_none = psl.publicsuffix(loose)
        org_or_none = psl.privatesuffix(loose)
        if suffix_or_none is None or org_or_none is None or len(org_or_none) <= len(suffix_or_none) + 1:
            return None
        suffix = suffix_or_none
        label = org_or_none[: -len(suffix) - 1]
        org = _printable(org_or_none)
    display = unicodedata.normalize("NFC", to_unicode(label))
    written = text.split(".")
    depth = suffix.count(".") + 2
    shown = unicodedata.normalize("NFC", written[-depth]) if len(written) >= depth else display
    if shown.lower().startswith(ACE_PREFIX):
        shown = display  # the sender wrote the A-label; the reader sees what the client decodes
    display_skeleton = skeleton(display)
    shown_skeleton = display_skeleton if shown == display else skeleton(shown)
    return _Name(org, to_unicode(suffix), display, display_skeleton, shown, shown_skeleton)


@dataclass(frozen=True, slots=True)
class _Protected:
    domain: str  # organizational domain, A-label
    suffix: str  # public suffix, Unicode
    display: str  # label, Unicode
    skeleton: str


def _group(items: Iterable[_Protected], key: Callable[[_Protected], K]) -> dict[K, tuple[_Protected, ...]]:
    grouped: dict[K, list[_Protected]] = {}
    for item in items:
        grouped.setdefault(key(item), []).append(item)
    return {k: tuple(v) for k, v in grouped.items()}


class LookalikeDetector:
    """Finds domains that imitate a protected domain; everything per list is built once.

    ``check`` fires on the first of, in this order:

    1. the same label under another public suffix (``paypal.co`` for ``paypal.com``);
    2. equal confusable skeletons (``раураl``, ``paypa1``, ``rnicrosoft``), at any length;
    3. an edit distance (optimal string alignment: insert, delete, substitute, swap
       neighbours) of at most ``max_distance`` from a protected label at least
       ``min_label_length`` long that keeps its first letter or one of like shape, so
       ``gooogle`` and ``qaypal`` fire but ``ibn`` not for ``ibm`` and ``email`` not
       for ``gmail`` (a changed first letter is the one a reader sees);
    4. a non-ASCII label whose skeleton is within one edit of a protected skeleton: at any
       length when it mixes scripts (``pаypall``), else for protected labels at least
       ``min_label_length`` long (all-Cyrillic ``аррӏе``);
    5. with ``contains=True``, a protected label of at least ``min_label_length`` inside
       a longer label (``paypal-secure``).

    The protected domains themselves and their subdomains never fire.

    Cost: construction is O(P·L) for P protected domains of label length L. ``check`` is
    O(n) in the length of its input for normalization and skeleton, one dict lookup each
    for rules 1 and 2, and for rule 3 one bit-parallel O(L) distance per protected label
    whose length is within ``max_distance`` of the candidate's (labels are bucketed by
    length); rule 4 runs only for non-ASCII labels, rule 5 scans all P labels.
    """

    def __init__(
        self,
        protected: Iterable[str],
        max_distance: int = 1,
        min_label_length: int = 5,
        contains: bool = False,
    ) -> None:
        self.max_distance = max(0, max_distance)
        self.min_label_length = min_label_length
        self.contains = contains
        entries: dict[str, _Protected] = {}
        for domain in protected:
            # Entries without a registrable label (a bare public suffix, invalid text)
            # cannot be imitated by a registered domain and are left out.
            parts = registrable_parts(domain)
            if parts is None:
                continue
            label, suffix = parts
            display = unicodedata.normalize("NFC", to_unicode(label))
            org = f"{label}.{suffix}"
            entries[org] = _Protected(org, to_unicode(suffix), display, skeleton(display))
        ordered = sorted(entries.values(), key=lambda p: p.domain)
        long_enough = [p for p in ordered if len(p.display) >= min_label_length]
        self.protected: frozenset[str] = frozenset(entries)
        self._by_label = _group(ordered, lambda p: p.display)
        self._by_skeleton = _group(ordered, lambda p: p.skeleton)
        self._by_length = _group(long_enough, lambda p: len(p.display))
        self._by_skeleton_length = _group(ordered, lambda p: len(p.skeleton))
        self._containable = tuple(long_enough)

    def check(self, domain: str) -> Lookalike | None:
        """How ``domain`` imitates a protected domain, or None. Never raises on any text."""
        name = _name(domain)
        if name is None or name.domain in self.protected:
            return None
        rules = (self._same_name, self._confusable, self._edit_distance, self._near_skeleton, self._contained)
        for rule in rules:
            hit = rule(name)
            if hit is not None:
                return hit
        return None

    @staticmethod
    def _closest(candidates: Sequence[_Protected], name: _Name) -> _Protected:
        """Prefer a protected domain under the same public suffix, so the message names it."""
        return next((p for p in candidates if p.suffix == name.suffix), candidates[0])

    def _same_name(self, name: _Name) -> Lookalike | None:
        matches = self._by_label.get(name.display)
        if not matches:
            return None
        protected = matches[0]
        domain = f"{name.display}.{name.suffix}"
        reason = f"same name under another suffix: {_q(domain)} vs {_q(protected.domain)}"
        return Lookalike(name.domain, protected.domain, reason, other_suffix=True)

    def _confusable(self, name: _Name) -> Lookalike | None:
        for label, label_skeleton in ((name.display, name.skeleton), (name.shown, name.shown_skeleton)):
            matches = self._by_skeleton.get(label_skeleton)
            if not matches:
                continue
            protected = self._closest(matches, name)
            if label.isascii():
                distance = OSA.distance(label, protected.display, score_cutoff=self.max_distance)
                if distance <= self.max_distance:
                    return Lookalike(name.domain, protected.domain, _edit_reason(label, protected.display, distance))
            reason = f"confusable characters: {_q(label)} looks like {_q(protected.display)}"
            names = _char_names(label)
            return Lookalike(name.domain, protected.domain, f"{reason} ({names})" if names else reason)
        return None

    def _edit_distance(self, name: _Name) -> Lookalike | None:
        limit = self.max_distance
        if limit == 0:
            return None
        best: _Protected | None = None
        best_key = (limit + 1, True)
        size = len(name.display)
        for length in range(size - limit, size + limit + 1):
            for protected in self._by_length.get(length, ()):
                if not _same_start(name.display, protected.display):
                    continue  # readers read a name from its start: "email" is no "gmail"
                distance = OSA.distance(name.display, protected.display, score_cutoff=limit)
                key = (distance, protected.suffix != name.suffix)
                if distance <= limit and key < best_key:
                    best, best_key = protected, key
        if best is None:
            return None
        return Lookalike(name.domain, best.domain, _edit_reason(name.display, best.display, best_key[0]))

    def _near_skeleton(self, name: _Name) -> Lookalike | None:
        if name.display.isascii():
            return None
        scripts = mixed_scripts(name.display)
        size = len(name.skeleton)
        for length in (size - 1, size, size + 1):
            for protected in self._by_skeleton_length.get(length, ()):
                if not scripts and len(protected.display) < self.min_label_length:
                    continue
                if OSA.distance(name.skeleton, protected.skeleton, score_cutoff=1) > 1:
                    continue
                if scripts:
                    reason = (
                        f"mixed scripts in {_q(name.display)} ({', '.join(scripts)}),"
                        f" close to {_q(protected.display)}"
                    )
                else:
                    reason = (
                        f"confusable characters: {_q(name.display)} looks almost like {_q(protected.display)}"
                        f" ({_char_names(name.display)})"
                    )
                return Lookalike(name.domain, protected.domain, reason)
        return None

    def _contained(self, name: _Name) -> Lookalike | None:
        if not self.contains:
            return None
        for protected in self._containable:
            if protected.display in name.display:
                return Lookalike(name.domain, protected.domain, f"contains {_q(protected.display)}")
        for protected in self._containable:
            if protected.skeleton in name.skeleton:
                reason = f"contains a lookalike of {_q(protected.display)}: {_q(name.display)}"
                return Lookalike(name.domain, protected.domain, reason)
        return None
