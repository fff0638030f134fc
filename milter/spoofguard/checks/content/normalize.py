"""Text normalised for rule matching, and folded back from common evasions.

``normalize`` is the contract rules are written for: NFKC, invisible and bidi controls
removed, case folded, whitespace collapsed. ``fold`` goes further for evasion-resistant
matching: look-alike letters from other scripts become their Latin skeleton, accents go,
spaced-out and punctuated letters are joined, and leetspeak digits inside words become
letters. What it had to undo is named in ``Folded.evasions``: writing "k1ll" or "wе" with
a Cyrillic е is itself a signal.

Everything runs on precompiled regexes and ``str.translate`` tables; Python-level
callbacks only see candidate matches, never every character.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass

__all__ = ["Folded", "fold", "normalize", "skeleton"]

# -- invisible characters ------------------------------------------------------------------------

_ZERO_WIDTH = "\u200b\u200c\u200d\u2060\u2061\u2062\u2063\u2064\ufeff\u180e\u034f"
_BIDI_EMBED = "\u202a\u202b\u202c\u2066\u2067\u2068\u2069\u200e\u200f\u061c"
_BIDI_OVERRIDE = "\u202d\u202e"
_OTHER_INVISIBLE = (
    "\u00ad\u115f\u1160\u17b4\u17b5\u180b\u180c\u180d\u3164\uffa0"
    + "".join(map(chr, range(0xFE00, 0xFE10)))  # variation selectors
    + "".join(map(chr, range(0xE0000, 0xE0080)))  # tag characters
    + "".join(map(chr, [*range(0x00, 0x09), *range(0x0E, 0x20), 0x7F]))  # C0 controls, not whitespace
)
_INVISIBLE = dict.fromkeys(
    map(ord, _ZERO_WIDTH + _BIDI_EMBED + _BIDI_OVERRIDE + _OTHER_INVISIBLE), None
)

# Zero-width characters are legitimate in emoji sequences (ZWJ) and Persian (ZWNJ); between
# two Latin letters they only serve to break a word apart for a filter. The soft hyphen is
# left out: hyphenated newsletters put it inside words honestly.
_ZERO_WIDTH_IN_WORD = re.compile(rf"[A-Za-z][{_ZERO_WIDTH}]+[A-Za-z]")
# Overrides reorder what is displayed and have no business in mail; embeddings and isolates
# are normal in right-to-left mail and count only when they split a Latin word.
_BIDI_EVASION = re.compile(
    rf"[{_BIDI_OVERRIDE}]|[A-Za-z][{_BIDI_EMBED}]+[A-Za-z]"
)
# Right-to-left override: "\u202euoy llik" is displayed as "kill you". Up to a pop, another
# control or the end of the line.
_RLO_SPAN = re.compile(r"\u202e([^\u202a-\u202e\u2066-\u2069\n]*)")

# -- confusables ---------------------------------------------------------------------------------


def _skeleton_tables() -> tuple[dict[int, str], dict[int, str]]:
    """Non-ASCII letters that look like a Latin letter, mapped to that letter (lower case).

    Built once at import from the ``confusable-homoglyphs`` data (Unicode's confusables list,
    already a dependency for look-alike domains) rather than a hand-kept table: it covers
    Cyrillic, Greek, Armenian, Cherokee and Latin-extended look-alikes, and updates with
    the package. Fullwidth and mathematical letters need no entry: NFKC already maps them.
    Keys are case folded because folding happens first; an upper-case look-alike (Cyrillic
    К for K) is entered under its lower-case form. The second table holds only letters from
    other scripts: a Latin-extended letter (Turkish ı) is folded but is not an evasion.
    """
    try:
        from confusable_homoglyphs.confusables import confusables_data
    except Exception:  # the data is an optimisation of recall, never a reason to fail
        return {}, {}
    every: dict[int, str] = {}
    foreign: dict[int, str] = {}
    for key, glyphs in confusables_data.items():
        if len(key) != 1 or key.isascii() or not unicodedata.category(key).startswith("L"):
            continue
        latin = [g["c"] for g in glyphs if len(g["c"]) == 1 and g["c"].isascii() and g["c"].isalpha()]
        if not latin:
            continue
        folded = key.casefold()
        if len(folded) != 1 or folded.isascii():
            continue
        target = latin[0].lower()
        if key != folded and ord(folded) in every:
            continue  # the lower-case letter's own look-alike wins over its capital's
        every[ord(folded)] = target
        if not unicodedata.name(key, "").startswith("LATIN"):
            foreign[ord(folded)] = target
    return every, foreign


_SKELETON, _FOREIGN_SKELETON = _skeleton_tables()
# A word holding at least one non-ASCII letter; the look-behind makes each word start only
# once, so a long run of ASCII letters costs linear time.
_NON_ASCII_WORD = re.compile(r"(?<!\w)\w*[^\x00-\x7f\W]\w*")
_ASCII_LETTER = re.compile(r"[a-z]")

# -- accents -------------------------------------------------------------------------------------

# Every non-spacing mark lies below U+30000 except the variation selectors supplement.
_COMBINING = dict.fromkeys(
    (cp for cp in range(0x30000) if unicodedata.category(chr(cp)) == "Mn"), None
) | dict.fromkeys(range(0xE0100, 0xE01F0), None)

# -- joined letters ------------------------------------------------------------------------------

# A "letter" in an evasion run may be a leet character: "c 0 m e", "v.0.t.e".
_UNIT = r"[a-z0-9@$]"
# Three or more single characters separated by exactly one space; two spaces, a newline or
# anything else ends the run (and so separates the words of "c o m e  a f t e r").
_SPACED = re.compile(rf"(?<![\w@$]){_UNIT}(?: {_UNIT}){{2,}}(?![\w@$])")
# The same with one punctuation separator, used consistently: v.o.t.e, v-o-t-e, v_o_t_e,
# "c. o. m. e". Slashes are left out (sizes "s/m/l", paths).
_PUNCTUATED = re.compile(rf"(?<![\w@$.\-]){_UNIT}( ?[.\-_*·•+~] ?){_UNIT}(?:\1{_UNIT})+\.?(?![\w@$])")
_ABBREVIATION = re.compile(r"(?:[a-z]\.){2,3}")  # "u.s.a.", "a.k.a.": joined, not an evasion
_SEPARATORS = re.compile(r"[ .\-_*·•+~]")

# -- leetspeak -----------------------------------------------------------------------------------

_LEET = str.maketrans({"0": "o", "1": "i", "3": "e", "4": "a", "5": "s", "7": "t", "8": "b",
                       "@": "a", "$": "s", "!": "i", "|": "l"})
# A token of letters and leet characters with a leet character between two letters: "k1ll",
# "v0te", "b1tc0in", "h3ll0", "ca$h". "$500", "24h", "mp3", "2026", "x509" have none.
_LEET_TOKEN = re.compile(r"(?<![\w@$!|])[a-z0-9@$!|]*[a-z][0134578@$!|]+[a-z][a-z0-9@$!|]*")
_HEX = re.compile(r"[0-9a-f]{6,}")

# URLs and e-mail addresses are copied unchanged: their digits and dots are not evasions.
# The look-behinds let each candidate start only once: without them a long run of letters
# is rescanned from every position.
_PROTECTED = re.compile(
    r"((?<![a-z0-9+.\-])(?:[a-z][a-z0-9+.\-]*://|www\.)\S+"
    r"|(?<![\w.+\-])[\w.+\-]+@[\w\-]+(?:\.[\w\-]+)+)"
)


@dataclass(frozen=True, slots=True)
class Folded:
    """``plain`` is what rules are written for; ``folded`` is ``plain`` with evasions undone."""

    plain: str
    folded: str
    evasions: tuple[str, ...]
    # Spans of ``folded`` that repeat lines with a word broken across them, joined back
    # ("come af" / "ter you"): text a reader reads across, found out of its place.
    rejoined: tuple[tuple[int, int], ...] = ()


def normalize(text: str) -> str:
    """NFKC, invisible and bidi controls removed, case folded, whitespace collapsed."""
    return _collapse(_base(text))


def skeleton(text: str) -> str:
    """What a reader takes ``text`` to say, for comparing short strings (a tag, a name):
    NFKC, invisible characters removed, case folded, accents dropped and every look-alike
    letter mapped to its Latin twin, whatever the surrounding words."""
    base = _strip_marks(_base(text))
    return base if base.isascii() else base.translate(_SKELETON)


def fold(text: str) -> Folded:
    """Normalise ``text`` and fold evasions back; never raises on any ``str``.

    A long text is folded a slice at a time, cut at line breaks: each step makes a copy,
    and a dozen copies of a 2 MB text for each of 32 concurrent messages is what would
    otherwise set the milter's peak memory."""
    if len(text) <= _SLICE:
        return _fold(text)
    plains: list[str] = []
    foldeds: list[str] = []
    evasions: dict[str, None] = {}
    rejoined: list[tuple[int, int]] = []
    offset = 0
    for piece in _slices(text):
        done = _fold(piece)
        plains.append(done.plain)
        if done.folded:
            rejoined += [(start + offset, end + offset) for start, end in done.rejoined]
            foldeds.append(done.folded)
            offset += len(done.folded) + 1
        evasions.update(dict.fromkeys(done.evasions))
    return Folded(" ".join(p for p in plains if p), " ".join(foldeds), tuple(evasions), tuple(rejoined))


_SLICE = 64 * 1024


def _slices(text: str) -> list[str]:
    """Pieces of about ``_SLICE`` characters, cut after a line break (or, failing one, any
    whitespace) so that no word or spaced-out run is split."""
    pieces = []
    start = 0
    while start < len(text):
        end = start + _SLICE
        if end < len(text):
            cut = text.rfind("\n", start + _SLICE // 2, end)
            if cut == -1:
                cut = max(text.rfind(" ", start + _SLICE // 2, end), -1)
            end = cut + 1 if cut != -1 else end
        pieces.append(text[start:end])
        start = end
    return pieces


def _fold(text: str) -> Folded:
    evasions: list[str] = []
    nfkc = unicodedata.normalize("NFKC", text)
    if not nfkc.isascii() or "\x00" in nfkc:
        if _ZERO_WIDTH_IN_WORD.search(nfkc):
            evasions.append("zero-width characters")
        if _BIDI_EVASION.search(nfkc):
            evasions.append("bidi controls")
    base = nfkc.translate(_INVISIBLE).casefold()
    plain = _collapse(base)

    work = _RLO_SPAN.sub(lambda m: m.group(1)[::-1], nfkc) if "\u202e" in nfkc else None
    if work is not None:
        base = work.translate(_INVISIBLE).casefold()
    if not base.isascii():
        base = _strip_marks(base)
        base, confusable = _skeleton(base)
        if confusable:
            evasions.append("confusable characters")

    if "\n" in base and (rejoined := join_broken_lines(base)):
        base += "\n" + _REJOINED_START + rejoined + _REJOINED_END
    found: set[str] = set()
    protected = "@" in base or "://" in base or "www." in base
    pieces = _PROTECTED.split(base) if protected else [base]
    for index in range(0, len(pieces), 2):  # odd indices are URLs and addresses
        pieces[index] = _unhide_words(pieces[index], found)
    evasions += [name for name in ("spaced-out letters", "punctuated letters", "leetspeak") if name in found]
    folded, spans = _take_marks(_collapse("".join(pieces)))
    return Folded(plain, folded, tuple(evasions), spans)


# Marks around the rejoined lines while they are folded; no text keeps these controls
# (``_INVISIBLE`` removes them from the message first).
_REJOINED_START, _REJOINED_END = "\x02", "\x03"


def _take_marks(text: str) -> tuple[str, tuple[tuple[int, int], ...]]:
    start = text.find(_REJOINED_START)
    if start == -1:
        return text, ()
    end = text.find(_REJOINED_END, start)
    end = len(text) if end == -1 else end
    cleaned = text[:start] + text[start + 1:end] + text[end + 1:]
    return cleaned.strip(), ((start, end - 1),)


def join_broken_lines(text: str) -> str:
    """The lines in which a hard line break splits a word ("come af" / "ter you"), joined
    back; "" when there are none.

    A reader reads across such a break; a rule does not. Two layouts break words: short
    lines (a break anywhere, or a letter per line) and fixed-width wrapping that ignores
    word boundaries (most lines the same length). A break cannot be told from an honest
    one ("Hello John" / "I hope..."), so the joined lines are matched *in addition* to the
    text as written, never instead of it.
    """
    lines = text.split("\n")
    if len(lines) < 2:
        return ""
    width = _fixed_width(lines)
    joined: list[str] = []
    current, last, broken = lines[0], lines[0], False
    for line in lines[1:]:
        previous = last.rstrip("\r")
        following = line.lstrip(" \t")
        if (previous[-1:].isalpha() and following[:1].isalpha()
                and (len(previous) <= _SHORT_LINE or (width and len(previous) == width))):
            current, broken = current.rstrip("\r") + following, True
        else:
            if broken:
                joined.append(current)
            current, broken = line, False
        last = line
    if broken:
        joined.append(current)
    return "\n".join(joined)


def _fixed_width(lines: list[str]) -> int:
    """The width most lines are wrapped at, when at least half of them are (else 0)."""
    if len(lines) < 4:
        return 0
    widths = Counter(len(line.rstrip("\r")) for line in lines[:-1])
    width, count = widths.most_common(1)[0]
    return width if width >= _MIN_FIXED_WIDTH and count * 2 >= len(lines) - 1 else 0


_SHORT_LINE = 40
_MIN_FIXED_WIDTH = 20


def _base(text: str) -> str:
    return unicodedata.normalize("NFKC", text).translate(_INVISIBLE).casefold()


def _collapse(text: str) -> str:
    """Every run of whitespace one space, none at the ends (``str.split`` and ``re``'s
    ``\\s`` agree on what whitespace is; splitting is several times faster)."""
    if len(text) > _SPLIT_LIMIT:  # a word list of a big text costs ~50 bytes a word
        return _WHITESPACE.sub(" ", text).strip()
    return " ".join(text.split())


_SPLIT_LIMIT = 64 * 1024
_WHITESPACE = re.compile(r"\s+")


def _strip_marks(text: str) -> str:
    """Accents off ("información" -> "informacion"); rules treat accents as optional.

    Marks are removed run by run of non-ASCII characters: mail is mostly ASCII, and
    ``str.translate`` with a table of two thousand marks is slow on every character."""
    decomposed = unicodedata.normalize("NFD", text)
    return unicodedata.normalize("NFC", _NON_ASCII_RUN.sub(_drop_marks, decomposed))


def _drop_marks(match: re.Match[str]) -> str:
    return match.group(0).translate(_COMBINING)


_NON_ASCII_RUN = re.compile(r"[^\x00-\x7f]+")


def _skeleton(text: str) -> tuple[str, bool]:
    """Map look-alike letters to Latin in words that are mixed-script or wholly look-alike.

    Words of another script with letters that have no Latin twin ("привет") are real words
    and stay as they are. A wholly look-alike word ("рау") counts as an evasion only when
    the text has no such real foreign words: in Russian mail "сор" is just a word.
    """
    mixed = False
    whole = False
    genuine = False

    def word(match: re.Match[str]) -> str:
        nonlocal mixed, whole, genuine
        original = match.group(0)
        mapped = original.translate(_SKELETON)
        if mapped == original:
            genuine = genuine or not original.isascii()
            return original
        has_latin = _ASCII_LETTER.search(original) is not None
        if has_latin:
            if original.translate(_FOREIGN_SKELETON) != original:
                mixed = True
            return mapped
        if mapped.isascii():
            whole = whole or original.translate(_FOREIGN_SKELETON) != original
            return mapped
        genuine = True
        return original

    result = _NON_ASCII_WORD.sub(word, text)
    return result, mixed or (whole and not genuine)


def _unhide_words(text: str, found: set[str]) -> str:
    # Each exact pattern starts a look-behind at every position, which is slow; a cheap
    # necessary condition (no look-behind, a rare first character) decides whether to run it.
    if _MAY_BE_PUNCTUATED.search(text):
        text = _PUNCTUATED.sub(_joiner("punctuated letters", found), text)
    if _MAY_BE_SPACED.search(text):
        text = _SPACED.sub(_joiner("spaced-out letters", found), text)
    if _MAY_BE_LEET.search(text):
        text = _LEET_TOKEN.sub(_leet(found), text)
    return text


# Necessary conditions for the three patterns above, found without look-behinds.
_MAY_BE_PUNCTUATED = re.compile(rf"{_UNIT} ?[.\-_*·•+~] ?{_UNIT} ?[.\-_*·•+~] ?{_UNIT}")
_MAY_BE_SPACED = re.compile(rf"{_UNIT} {_UNIT} {_UNIT}")
_MAY_BE_LEET = re.compile(r"[a-z][0134578@$!|]+[a-z]")


def _joiner(name: str, found: set[str]) -> Callable[[re.Match[str]], str]:
    def join(match: re.Match[str]) -> str:
        run = match.group(0)
        units = _SEPARATORS.sub("", run)
        letters = sum(1 for c in units if "a" <= c <= "z")
        if letters * 2 <= len(units):  # "1 2 3", "4 x 4 x 4": numbers, not hidden words
            return run
        if not (name == "punctuated letters" and _ABBREVIATION.fullmatch(run)):
            found.add(name)
        return units

    return join


def _leet(found: set[str]) -> Callable[[re.Match[str]], str]:
    def undo(match: re.Match[str]) -> str:
        token = match.group(0)
        if len(token) > 24 or _HEX.fullmatch(token):  # ids and hashes, not words
            return token
        letters = sum(1 for c in token if "a" <= c <= "z")
        if letters * 2 < len(token):
            return token
        found.add("leetspeak")
        return token.translate(_LEET)

    return undo
