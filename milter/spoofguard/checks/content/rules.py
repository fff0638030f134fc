"""Rule files: what the content check looks for, readable and extensible by admins.

A rule file holds word classes (``[class.NAME]``: the vocabulary, in every language) and
rules (``[[rule]]``: each one evidence of one *move* of intimidation mail, such as a claim
of access, a threat of disclosure or a payment demand). Most rules are word-class rules:
"words of these classes within so many words of one another, with a second-person word
nearby", which holds across languages, synonyms, inflections and word order. A rule may
instead carry a regular expression (``pattern``) or literal ``phrases``.

Each rule carries examples that must match and ones that must not; the test suite runs
them, so a rule that stops doing what it says fails the build. Classes from several files
merge: an admin's file may add words to a shipped class.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from ...errors import ConfigError
from .lexicon import BUILTIN_CLASSES, Lexicon, WordClass, normalise_entry
from .normalize import normalize

# The moves of intimidation mail, by family. A message is intimidation when it makes a
# claim or a threat; demands, deadlines and payment channels alone are ordinary business.
CLAIMS = ("access", "recording", "possession", "knowledge", "surveillance", "contract")
THREATS = ("harm", "explosive", "disclosure", "attack")
PRESSURE = ("payment", "channel", "deadline", "silence", "condition", "action", "futility")
MOVES = CLAIMS + THREATS + PRESSURE
SCOPES = ("text", "subject")
DEFAULT_WITHIN = 8
DEFAULT_REACH = 20  # no limit beyond the matcher's own five words
_RULE_KEYS = {
    "id", "move", "weight", "description", "language", "all", "ordered", "within", "reader", "speaker", "reach",
    "unless",
    "pattern", "phrases", "scope", "match", "no_match",
}
_CLASS_KEYS = {"description"}
_REQUIRED = ("id", "move", "weight", "description", "match", "no_match")
_FORMS = ("all", "pattern", "phrases")
_NAME = re.compile(r"[a-z][a-z0-9_]*")
_LANGUAGE = re.compile(r"[a-z]{2}")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    move: str
    weight: float
    description: str
    # Word-class rules: every group (any one of its classes) within ``within`` words.
    groups: tuple[frozenset[str], ...]
    within: int
    ordered: bool  # the groups must come in the order written ("watching you", not "you ... watching")
    reader: bool  # a second-person word must stand in or next to the span
    speaker: bool  # a first-person word must
    reach: int  # how many words from the span the second-person word may stand (capped at 5)
    unless: frozenset[str]  # classes that void the match when they stand in the span
    # Pattern rules (``pattern`` or ``phrases``): searched by the rule matcher.
    regex: re.Pattern[str] | None
    scope: str
    match: tuple[str, ...]
    no_match: tuple[str, ...]
    source: str

    @property
    def category(self) -> str:
        """The move, under the name the pattern matcher groups rules by."""
        return self.move

    @property
    def classes(self) -> frozenset[str]:
        return frozenset().union(*self.groups, self.unless)


@dataclass(frozen=True, slots=True)
class RuleSet:
    lexicon: Lexicon
    rules: tuple[Rule, ...]

    @property
    def word_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.regex is None)

    @property
    def pattern_rules(self) -> tuple[Rule, ...]:
        return tuple(r for r in self.rules if r.regex is not None)


def load_rule_files(paths: list[Path]) -> RuleSet:
    """Classes and rules of every file, checked together: a rule may use a class from any file."""
    words: dict[str, list[str]] = {}
    descriptions: dict[str, str] = {}
    pending: list[tuple[Path, int, dict[str, object]]] = []
    seen: dict[str, str] = {}
    for path in paths:
        data = _read(path)
        unknown = set(data) - {"rule", "class"}
        if unknown:
            raise ConfigError(path, sorted(unknown)[0], "unknown key (rule files hold [class.NAME] and [[rule]] tables)")
        for name, table in _tables(path, data.get("class", {})):
            words.setdefault(name, []).extend(_class_entries(path, name, table))
            if isinstance(table.get("description"), str):
                descriptions.setdefault(name, str(table["description"]))
        tables = data.get("rule", [])
        if not isinstance(tables, list):
            raise ConfigError(path, "rule", "must be an array of tables ([[rule]])")
        for index, entry in enumerate(tables):
            if not isinstance(entry, dict):
                raise ConfigError(path, f"rule[{index}]", "must be a table")
            rule_id = entry.get("id")
            if isinstance(rule_id, str):
                if rule_id in seen:
                    raise ConfigError(path, f"rule.{rule_id}", f"duplicate rule id (also in {seen[rule_id]})")
                seen[rule_id] = str(path)
            pending.append((path, index, entry))
    lexicon = Lexicon(WordClass(n, descriptions.get(n, ""), tuple(dict.fromkeys(e))) for n, e in words.items())
    known = set(words) | set(BUILTIN_CLASSES)
    rules = tuple(_parse_rule(path, index, entry, known) for path, index, entry in pending)
    return RuleSet(lexicon, rules)


def load_rule_file(path: Path) -> RuleSet:
    return load_rule_files([path])


def _read(path: Path) -> dict[str, object]:
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read rule file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from exc


def _tables(path: Path, value: object) -> list[tuple[str, dict[str, object]]]:
    if not isinstance(value, dict):
        raise ConfigError(path, "class", "must be tables ([class.NAME])")
    out = []
    for name, table in value.items():
        if not _NAME.fullmatch(name):
            raise ConfigError(path, f"class.{name}", "class names are lower case letters, digits and _")
        if not isinstance(table, dict):
            raise ConfigError(path, f"class.{name}", "must be a table of language = [words]")
        out.append((name, table))
    return out


def _class_entries(path: Path, name: str, table: dict[str, object]) -> list[str]:
    entries: list[str] = []
    for key, value in table.items():
        if key in _CLASS_KEYS:
            continue
        where = f"class.{name}.{key}"
        if not _LANGUAGE.fullmatch(key):
            raise ConfigError(path, where, "unknown key (a two-letter language code, or description)")
        if not isinstance(value, list) or not all(isinstance(v, str) and v.strip() for v in value):
            raise ConfigError(path, where, "must be a list of words")
        for word in value:
            entry = normalise_entry(word.strip())
            if not entry or entry == "*" or "**" in entry or "*" in entry[:-1]:
                raise ConfigError(path, where, f"{word!r}: a word, a phrase, or a stem ending in '*'")
            if entry.endswith("*") and len(entry) < 4:
                raise ConfigError(path, where, f"{word!r}: a stem needs at least three letters")
            entries.append(entry)
    return entries


def _parse_rule(path: Path, index: int, entry: dict[str, object], classes: set[str]) -> Rule:
    where = f"rule[{index}]"
    if isinstance(entry.get("id"), str):
        where = f"rule.{entry['id']}"
    for key in entry:
        if key not in _RULE_KEYS:
            raise ConfigError(path, f"{where}.{key}", "unknown key")
    for key in _REQUIRED:
        if key not in entry:
            raise ConfigError(path, f"{where}.{key}", "missing")

    def text(key: str) -> str:
        value = entry[key]
        if not isinstance(value, str) or not value.strip():
            raise ConfigError(path, f"{where}.{key}", "must be a non-empty string")
        return value

    def strings(key: str) -> tuple[str, ...]:
        value = entry.get(key, [])
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
            raise ConfigError(path, f"{where}.{key}", "must be a string or a list of strings")
        return tuple(value)

    def flag(key: str) -> bool:
        value = entry.get(key, False)
        if not isinstance(value, bool):
            raise ConfigError(path, f"{where}.{key}", "must be true or false")
        return value

    def class_names(key: str, value: str) -> frozenset[str]:
        names = frozenset(n.strip() for n in value.split("|"))
        unknown = sorted(n for n in names if n not in classes)
        if unknown:
            raise ConfigError(path, f"{where}.{key}", f"unknown word class {unknown[0]!r}")
        return names

    move = text("move")
    if move not in MOVES:
        raise ConfigError(path, f"{where}.move", f"unknown move {move!r}; one of {', '.join(MOVES)}")
    weight = entry["weight"]
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 20:
        raise ConfigError(path, f"{where}.weight", "must be a number in (0, 20]")
    scope = entry.get("scope", "text")
    if scope not in SCOPES:
        raise ConfigError(path, f"{where}.scope", f"must be one of {', '.join(SCOPES)}")
    if sum(form in entry for form in _FORMS) != 1:
        raise ConfigError(path, where, "needs exactly one of 'all', 'pattern' or 'phrases'")
    within = entry.get("within", DEFAULT_WITHIN)
    if isinstance(within, bool) or not isinstance(within, int) or not 0 <= within <= 40:
        raise ConfigError(path, f"{where}.within", "must be a whole number of words from 0 to 40")
    reach = entry.get("reach", DEFAULT_REACH)
    if isinstance(reach, bool) or not isinstance(reach, int) or not 0 <= reach <= 20:
        raise ConfigError(path, f"{where}.reach", "must be a whole number of words from 0 to 20")
    groups: tuple[frozenset[str], ...] = ()
    regex = None
    if "all" in entry:
        names = strings("all")
        if not names:
            raise ConfigError(path, f"{where}.all", "must name at least one word class")
        groups = tuple(class_names("all", name) for name in names)
    elif "pattern" in entry:
        regex = _compile(path, where, text("pattern"))
    else:
        phrases = strings("phrases")
        if not phrases:
            raise ConfigError(path, f"{where}.phrases", "must not be empty")
        regex = _compile(path, where, r"\b(?:" + "|".join(re.escape(normalize(p)) for p in phrases) + r")\b")
    unless = frozenset().union(*(class_names("unless", n) for n in strings("unless")))
    match, no_match = strings("match"), strings("no_match")
    if not match or not no_match:
        raise ConfigError(path, where, "needs at least one 'match' and one 'no_match' example")
    return Rule(
        id=text("id"),
        move=move,
        weight=float(weight),
        description=text("description"),
        groups=groups,
        within=within,
        ordered=flag("ordered"),
        reader=flag("reader"),
        speaker=flag("speaker"),
        reach=reach,
        unless=unless,
        regex=regex,
        scope=str(scope),
        match=match,
        no_match=no_match,
        source=str(path),
    )


def _compile(path: Path, where: str, source: str) -> re.Pattern[str]:
    try:
        return re.compile(source)
    except re.error as exc:
        raise ConfigError(path, f"{where}.pattern", f"invalid regular expression: {exc}") from exc
