"""Run every content rule over a message in far fewer passes than one search per rule.

Almost all mail matches no rule at all, so the work that matters is rejecting clean text
quickly. Both engines only *prefilter*: a rule is reported only after its own compiled
``regex.search`` has confirmed it on the full text, so the result is by construction the
one a plain loop over the rules would give (same rules, same first match).

* ``python``: per scope and category one alternation ``(?:p1)|(?:p2)|…`` is searched
  first; only a category whose alternation hits has its rules run one by one.
* ``hyperscan`` (the optional ``fast`` extra): every rule that can be expressed is
  compiled into one Hyperscan database per scope, scanned once. Each pattern is rewritten
  into a *superset* of itself: word boundaries, anchors and lookarounds are dropped, and
  character classes are handed over as the exact code point ranges Python's ``re`` gives
  them, so a difference between the engines' Unicode tables can never hide a hit. Rules
  that cannot be rewritten stay on the Python path.
"""

from __future__ import annotations

import functools
import importlib
import os
import re
import threading
from collections.abc import Iterable, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from typing import Any

from .rules import Rule

__all__ = ["RuleHit", "RuleMatcher", "ENGINES", "hyperscan_available"]

ENGINES = ("auto", "python", "hyperscan")

# The stdlib's regex parser: the only faithful reading of a Python pattern's structure.
# Private, but stable across 3.11+; a change there only moves rules to the Python path.
_parser: Any = importlib.import_module("re._parser")
_MAXREPEAT: int = int(importlib.import_module("re._constants").MAXREPEAT)

_hs: Any
try:
    _hs = importlib.import_module("hyperscan")
except ImportError:  # the optional "fast" extra is not installed
    _hs = None


def hyperscan_available() -> bool:
    return _hs is not None


@dataclass(frozen=True, slots=True)
class RuleHit:
    rule: Rule
    matched: str
    start: int


@dataclass(frozen=True, slots=True)
class _Group:
    """Rules of one scope searched together; ``reject`` is None when each runs on its own."""

    scope: str
    reject: re.Pattern[str] | None
    members: tuple[tuple[int, Rule], ...]


class RuleMatcher:
    """All rules over the texts of one message; ``match`` equals a per-rule search loop."""

    def __init__(self, rules: Sequence[Rule], engine: str = "auto") -> None:
        if engine not in ENGINES:
            raise ValueError(f"engine must be one of {', '.join(ENGINES)}, not {engine!r}")
        if engine == "hyperscan" and _hs is None:
            raise RuntimeError("engine 'hyperscan' needs the hyperscan package (extra 'fast')")
        self.rules = tuple(rule for rule in rules if rule.regex is not None)  # word-class rules are not its
        indexed = list(enumerate(self.rules))
        self._hyperscan: _HyperscanScopes | None = None
        if engine != "python" and _hs is not None:
            self._hyperscan = _HyperscanScopes(indexed)
            indexed = [(i, r) for i, r in indexed if i not in self._hyperscan.covered]
        self._groups = _python_groups(indexed)

    @property
    def engine(self) -> str:
        return "python" if self._hyperscan is None else "hyperscan"

    @property
    def python_rules(self) -> tuple[Rule, ...]:
        """Rules searched by Python ``re`` only (all of them on the python engine)."""
        return tuple(rule for group in self._groups for _, rule in group.members)

    def match(self, texts: Mapping[str, str]) -> list[RuleHit]:
        """Hits in rule order; a scope missing from ``texts`` is searched as empty text."""
        hits: list[tuple[int, RuleHit]] = []
        if self._hyperscan is not None:
            if _foreign_thread():
                hits += _python_threads().submit(self._hyperscan.match, texts).result()
            else:
                hits += self._hyperscan.match(texts)
        for group in self._groups:
            text = texts.get(group.scope, "")
            start = 0
            if group.reject is not None:
                found = group.reject.search(text)
                if found is None:
                    continue
                start = found.start()  # no member can match before the alternation did
            hits += _confirm(group.members, text, start)
        hits.sort(key=lambda item: item[0])
        return [hit for _, hit in hits]


def _confirm(members: Iterable[tuple[int, Rule]], text: str, start: int = 0) -> list[tuple[int, RuleHit]]:
    out: list[tuple[int, RuleHit]] = []
    for index, rule in members:
        # search(text, pos) sees the text before pos for \b and lookbehind, and finds the
        # same first match as search(text) when nothing matches earlier.
        found = _regex(rule).search(text, start)
        if found is not None:
            out.append((index, RuleHit(rule, found.group(0), found.start())))
    return out


def _regex(rule: Rule) -> re.Pattern[str]:
    """The pattern of a pattern rule (the matcher holds no others)."""
    assert rule.regex is not None
    return rule.regex


# --- Python engine ----------------------------------------------------------------------


def _python_groups(indexed: Sequence[tuple[int, Rule]]) -> list[_Group]:
    """One alternation per (scope, category, flags); rules that cannot join run alone."""
    buckets: dict[tuple[str, str, int], list[tuple[int, Rule]]] = {}
    groups: list[_Group] = []
    for index, rule in indexed:
        if _combinable(_regex(rule)):
            buckets.setdefault((rule.scope, rule.category, _regex(rule).flags), []).append((index, rule))
        else:
            groups.append(_Group(rule.scope, None, ((index, rule),)))
    for (scope, _, flags), members in buckets.items():
        reject: re.Pattern[str] | None = None
        if len(members) > 1:
            # A newline ends a trailing comment of a verbose pattern before the group closes.
            end = "\n)" if flags & re.VERBOSE else ")"
            source = "|".join(f"(?:{_regex(rule).pattern}{end}" for _, rule in members)
            try:
                reject = re.compile(source, flags)
            except re.error:  # e.g. one name used by two patterns, or inline global flags
                reject = None
        groups.append(_Group(scope, reject, tuple(members)))
    return groups


def _combinable(regex: re.Pattern[str]) -> bool:
    """False for numbered back-references and conditionals: joined, they would point at
    another pattern's group and the alternation would no longer cover this pattern."""
    if not isinstance(regex.pattern, str):
        return False
    try:
        tree = _parser.parse(regex.pattern, regex.flags)
    except Exception:
        return False
    return not any(op.name in ("GROUPREF", "GROUPREF_EXISTS") for op, _ in _walk(tree))


def _walk(items: Iterable[tuple[Any, Any]]) -> Iterable[tuple[Any, Any]]:
    for op, av in items:
        yield op, av
        name = op.name
        if name == "BRANCH":
            for branch in av[1]:
                yield from _walk(branch)
        elif name == "SUBPATTERN":
            yield from _walk(av[3])
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            yield from _walk(av[2])
        elif name in ("ASSERT", "ASSERT_NOT"):
            yield from _walk(av[1])
        elif name == "ATOMIC_GROUP":
            yield from _walk(av)
        elif name == "GROUPREF_EXISTS":
            yield from _walk(av[1])
            if av[2] is not None:
                yield from _walk(av[2])


# --- Hyperscan engine -------------------------------------------------------------------


class _Unsupported(Exception):
    pass


def hyperscan_superset(regex: re.Pattern[str]) -> str | None:
    """A Hyperscan pattern matching at least every string ``regex`` matches, or None.

    Every literal is written as a code point escape, so no character means something else
    to Hyperscan. Only patterns with default flags are rewritten: case-insensitive or
    multi-line rules keep Python's exact semantics on the Python path.
    """
    if not isinstance(regex.pattern, str) or regex.flags != re.UNICODE:
        return None
    try:
        return _emit(_parser.parse(regex.pattern, regex.flags))
    except (_Unsupported, re.error, RecursionError):
        return None


def _char(code: int) -> str:
    return f"\\x{{{code:x}}}"


def _emit(items: Iterable[tuple[Any, Any]]) -> str:
    out: list[str] = []
    for op, av in items:
        name = op.name
        if name == "LITERAL":
            out.append(_char(av))
        elif name == "NOT_LITERAL":
            out.append(f"[^{_char(av)}]")
        elif name == "ANY":
            out.append(f"[^{_char(10)}]")
        elif name == "IN":
            out.append(_emit_class(av))
        elif name == "BRANCH":
            out.append("(?:" + "|".join(_emit(branch) for branch in av[1]) + ")")
        elif name == "SUBPATTERN":
            _, add_flags, del_flags, body = av
            if add_flags or del_flags:
                raise _Unsupported("scoped flags")
            out.append(f"(?:{_emit(body)})")
        elif name in ("MAX_REPEAT", "MIN_REPEAT", "POSSESSIVE_REPEAT"):
            low, high, body = av  # lazy and possessive repeats match a subset of greedy ones
            if high > _MAX_BOUND:  # long bounded repeats of UTF-8 classes build huge automata
                low, high = min(low, _MAX_BOUND), _MAXREPEAT
            bound = f"{{{low},}}" if high == _MAXREPEAT else f"{{{low},{high}}}"
            out.append(f"(?:{_emit(body)}){bound}")
        elif name in ("AT", "ASSERT", "ASSERT_NOT"):
            continue  # dropping a zero-width condition only widens the match
        elif name == "GROUPREF":
            out.append("(?:.*)")  # whatever the group captured
        elif name == "GROUPREF_EXISTS":
            _, yes, no = av
            out.append(f"(?:{_emit(yes)}|{_emit(no) if no is not None else ''})")
        elif name == "ATOMIC_GROUP":
            out.append(f"(?:{_emit(av)})")
        else:
            raise _Unsupported(name)
    return "".join(out)


_CATEGORY_ESCAPES = {
    "CATEGORY_DIGIT": r"\d", "CATEGORY_NOT_DIGIT": r"\D", "CATEGORY_SPACE": r"\s",
    "CATEGORY_NOT_SPACE": r"\S", "CATEGORY_WORD": r"\w", "CATEGORY_NOT_WORD": r"\W",
}


def _emit_class(items: list[tuple[Any, Any]]) -> str:
    """The class written out as explicit code point ranges.

    Python's ``\\w``, ``\\d`` and ``\\s`` follow its own Unicode tables, which Hyperscan's
    need not share; so the class is evaluated by ``re`` itself over every code point and
    handed over as plain ranges: exact, whatever the Unicode versions.
    """
    pieces: list[str] = []
    for op, av in items:
        name = op.name
        if name == "NEGATE":
            pieces.insert(0, "^")
        elif name == "LITERAL":
            pieces.append(re.escape(chr(av)))
        elif name == "RANGE":
            pieces.append(f"{re.escape(chr(av[0]))}-{re.escape(chr(av[1]))}")
        elif name == "CATEGORY" and av.name in _CATEGORY_ESCAPES:
            pieces.append(_CATEGORY_ESCAPES[av.name])
        else:
            raise _Unsupported(name)
    ranges = _class_ranges("[" + "".join(pieces) + "]")
    if not ranges:
        raise _Unsupported("empty class")
    if len(ranges) <= _MAX_RANGES:
        return "[" + _ranges_source(ranges) + "]"
    missing = _complement(ranges)
    if len(missing) <= _MAX_RANGES:  # \S, \W-like: "all but a few"
        return "[^" + _ranges_source(missing) + "]"
    # \w-like: hundreds of ranges make the database slow to build and scan. Keep ASCII
    # exact and accept any other character: still a superset, and mail text is mostly ASCII.
    widened = [(lo, min(hi, 0x7F)) for lo, hi in ranges if lo <= 0x7F] + [(0x80, 0xD7FF), (0xE000, 0x10FFFF)]
    return "[" + _ranges_source(widened) + "]"


_MAX_RANGES = 32
# A repeat {m,n} with n > 1 becomes {min(m, 1),}: wider, and compiled in seconds instead of
# minutes (bounded repeats of multi-byte UTF-8 classes unroll into huge automata).
_MAX_BOUND = 1


def _ranges_source(ranges: Iterable[tuple[int, int]]) -> str:
    return "".join(_char(lo) if lo == hi else f"{_char(lo)}-{_char(hi)}" for lo, hi in ranges)


def _complement(ranges: Sequence[tuple[int, int]]) -> list[tuple[int, int]]:
    """Valid code points outside ``ranges`` (sorted, disjoint), surrogates left out."""
    out: list[tuple[int, int]] = []
    cursor = 0
    for lo, hi in [*sorted([*ranges, (0xD800, 0xDFFF)]), (0x110000, 0x110000)]:
        if lo > cursor:
            out.append((cursor, lo - 1))
        cursor = max(cursor, hi + 1)
    return out


@functools.cache
def _class_ranges(python_class: str) -> tuple[tuple[int, int], ...]:
    """Code point ranges (surrogates left out: scanned text is valid UTF-8) of a class."""
    runs = re.compile(python_class + "+")
    out: list[tuple[int, int]] = []
    for offset, plane in _code_points():
        out += [(offset + m.start(), offset + m.end() - 1) for m in runs.finditer(plane)]
    return tuple(out)


@functools.cache
def _code_points() -> tuple[tuple[int, str], ...]:
    return (0, "".join(map(chr, range(0xD800)))), (0xE000, "".join(map(chr, range(0xE000, 0x110000))))


_FOREIGN = getattr(threading, "_DummyThread", ())
_pool: ThreadPoolExecutor | None = None
_pool_lock = threading.Lock()


def _foreign_thread() -> bool:
    """A thread Python did not start, such as libmilter's per-connection threads.

    pymilter gives those threads a plain thread state; Hyperscan's binding calls back into
    Python through PyGILState_Ensure, which on such a thread makes a second thread state
    and crashes the process. So scans from foreign threads run on a Python thread."""
    return isinstance(threading.current_thread(), _FOREIGN)


def _python_threads() -> ThreadPoolExecutor:
    global _pool
    with _pool_lock:
        if _pool is None:
            _pool = ThreadPoolExecutor(max_workers=os.cpu_count() or 2, thread_name_prefix="hyperscan")
        return _pool


def _collect(rule_id: int, start: int, end: int, flags: int, found: set[int]) -> None:
    found.add(rule_id)


class _HyperscanScopes:
    """One Hyperscan database per scope over every rule it can hold."""

    def __init__(self, indexed: Sequence[tuple[int, Rule]]) -> None:
        assert _hs is not None
        self.covered: set[int] = set()
        self._rules: dict[int, Rule] = {}
        self._databases: dict[str, Any] = {}
        self._local = threading.local()  # Hyperscan scratch space is per thread
        by_scope: dict[str, list[tuple[int, str]]] = {}
        for index, rule in indexed:
            source = hyperscan_superset(_regex(rule))
            if source is not None:
                by_scope.setdefault(rule.scope, []).append((index, source))
                self._rules[index] = rule
        for scope, entries in by_scope.items():
            built = self._build(entries)
            if built is not None:
                self._databases[scope] = built[1]
                self.covered.update(index for index, _ in built[0])

    _FLAGS = 0 if _hs is None else _hs.HS_FLAG_UTF8 | _hs.HS_FLAG_DOTALL | _hs.HS_FLAG_SINGLEMATCH

    def _compile(self, entries: Sequence[tuple[int, str]]) -> Any:
        assert _hs is not None
        database = _hs.Database(mode=_hs.HS_MODE_BLOCK)
        database.compile(
            expressions=[source.encode("utf-8") for _, source in entries],
            ids=[index for index, _ in entries],
            elements=len(entries),
            flags=self._FLAGS,
        )
        return database

    def _build(self, entries: list[tuple[int, str]]) -> tuple[list[tuple[int, str]], Any] | None:
        """All entries if they compile together, else those that compile alone (a pattern
        that can match the empty string, or is too large, is left to Python)."""
        assert _hs is not None
        try:
            return entries, self._compile(entries)
        except _hs.error:
            pass
        kept: list[tuple[int, str]] = []
        for entry in entries:
            try:
                self._compile([entry])
            except _hs.error:
                continue
            kept.append(entry)
        return (kept, self._compile(kept)) if kept else None

    def _scratch(self, scope: str, database: Any) -> Any:
        assert _hs is not None
        cache: dict[str, Any] | None = getattr(self._local, "scratch", None)
        if cache is None:
            cache = self._local.scratch = {}
        if scope not in cache:
            cache[scope] = _hs.Scratch(database)
        return cache[scope]

    def match(self, texts: Mapping[str, str]) -> list[tuple[int, RuleHit]]:
        hits: list[tuple[int, RuleHit]] = []
        for scope, database in self._databases.items():
            text = texts.get(scope, "")
            try:
                data = text.encode("utf-8")
            except UnicodeEncodeError:  # lone surrogates: not UTF-8, let Python decide
                candidates = sorted(i for i, r in self._rules.items() if i in self.covered and r.scope == scope)
            else:
                found: set[int] = set()
                scratch = self._scratch(scope, database)
                database.scan(data, match_event_handler=_collect, context=found, scratch=scratch)
                candidates = sorted(found)
            hits += _confirm(((i, self._rules[i]) for i in candidates), text)
        return hits
