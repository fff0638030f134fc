"""Rule files: what the content check looks for, readable and extensible by admins.

Each rule carries an example that must match and one that must not; the test suite runs
them, so a rule that stops doing what it says fails the build.
"""

from __future__ import annotations

import re
import tomllib
from dataclasses import dataclass
from pathlib import Path

from .errors import ConfigError
from .text import normalize

CATEGORIES = (
    "threat_of_harm",
    "coercion_demand",
    "voter_intimidation",
    "data_possession_claim",
    "surveillance_claim",
    "extortion_payment",
    "deadline_pressure",
    "doxxing",
)
SCOPES = ("text", "subject")
_RULE_KEYS = {
    "id", "category", "language", "weight", "description", "pattern", "phrases", "scope",
    "match", "no_match",
}
_REQUIRED = ("id", "category", "language", "weight", "description", "match", "no_match")


@dataclass(frozen=True, slots=True)
class Rule:
    id: str
    category: str
    language: str
    weight: float
    description: str
    regex: re.Pattern[str]
    scope: str
    match: tuple[str, ...]
    no_match: tuple[str, ...]
    source: str

    def matches(self, normalized_text: str) -> re.Match[str] | None:
        return self.regex.search(normalized_text)

    def example_failures(self) -> list[str]:
        """Examples that do not behave as the rule promises (empty when the rule is sound)."""
        failures = [f"should match: {e!r}" for e in self.match if not self.matches(normalize(e))]
        failures += [f"should not match: {e!r}" for e in self.no_match if self.matches(normalize(e))]
        return failures


def load_rule_files(paths: list[Path]) -> list[Rule]:
    rules: list[Rule] = []
    seen: dict[str, str] = {}
    for path in paths:
        for rule in load_rule_file(path):
            if rule.id in seen:
                raise ConfigError(path, f"rule.{rule.id}", f"duplicate rule id (also in {seen[rule.id]})")
            seen[rule.id] = str(path)
            rules.append(rule)
    return rules


def load_rule_file(path: Path) -> list[Rule]:
    try:
        with path.open("rb") as handle:
            data = tomllib.load(handle)
    except OSError as exc:
        raise ConfigError(path, "", f"cannot read rule file: {exc.strerror}") from exc
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(path, "", f"not valid TOML: {exc}") from exc
    unknown = set(data) - {"rule"}
    if unknown:
        raise ConfigError(path, sorted(unknown)[0], "unknown key (rule files hold [[rule]] tables)")
    entries = data.get("rule", [])
    if not isinstance(entries, list):
        raise ConfigError(path, "rule", "must be an array of tables ([[rule]])")
    return [_parse_rule(path, index, entry) for index, entry in enumerate(entries)]


def _parse_rule(path: Path, index: int, entry: dict[str, object]) -> Rule:
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

    category = text("category")
    if category not in CATEGORIES:
        raise ConfigError(path, f"{where}.category", f"unknown category {category!r}; one of {', '.join(CATEGORIES)}")
    weight = entry["weight"]
    if isinstance(weight, bool) or not isinstance(weight, (int, float)) or not 0 < weight <= 20:
        raise ConfigError(path, f"{where}.weight", "must be a number in (0, 20]")
    scope = entry.get("scope", "text")
    if scope not in SCOPES:
        raise ConfigError(path, f"{where}.scope", f"must be one of {', '.join(SCOPES)}")
    if ("pattern" in entry) == ("phrases" in entry):
        raise ConfigError(path, where, "needs exactly one of 'pattern' or 'phrases'")
    if "pattern" in entry:
        source = text("pattern")
    else:
        phrases = strings("phrases")
        if not phrases:
            raise ConfigError(path, f"{where}.phrases", "must not be empty")
        source = r"\b(?:" + "|".join(re.escape(normalize(p)) for p in phrases) + r")\b"
    try:
        regex = re.compile(source)
    except re.error as exc:
        raise ConfigError(path, f"{where}.pattern", f"invalid regular expression: {exc}") from exc
    match, no_match = strings("match"), strings("no_match")
    if not match or not no_match:
        raise ConfigError(path, where, "needs at least one 'match' and one 'no_match' example")
    return Rule(
        id=text("id"),
        category=category,
        language=text("language"),
        weight=float(weight),
        description=text("description"),
        regex=regex,
        scope=str(scope),
        match=match,
        no_match=no_match,
        source=str(path),
    )
