"""RuleMatcher must return exactly what searching each rule on its own returns.

The patterns come from tests/data/pattern_rules.toml: regular-expression rules in the
rule-file format, as admins may write them, realistic enough to exercise both engines.
"""

from __future__ import annotations

import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from spoofguard.checks.content.matcher import (
    RuleHit,
    RuleMatcher,
    hyperscan_available,
    hyperscan_superset,
)
from spoofguard.checks.content.normalize import normalize
from spoofguard.checks.content.rules import Rule, load_rule_files

ENGINES = [
    "python",
    pytest.param(
        "hyperscan",
        marks=pytest.mark.skipif(not hyperscan_available(), reason="hyperscan (extra 'fast') not installed"),
    ),
]


def baseline(rules: Sequence[Rule], texts: Mapping[str, str]) -> list[tuple[str, str, int]]:
    out = []
    for rule in rules:
        found = rule.regex.search(texts.get(rule.scope, ""))
        if found:
            out.append((rule.id, found.group(0), found.start()))
    return out


def as_tuples(hits: list[RuleHit]) -> list[tuple[str, str, int]]:
    return [(hit.rule.id, hit.matched, hit.start) for hit in hits]


def make_rule(rule_id: str, pattern: str | re.Pattern[str], category: str = "harm", scope: str = "text") -> Rule:
    regex = pattern if isinstance(pattern, re.Pattern) else re.compile(pattern)
    return Rule(rule_id, category, 1.0, rule_id, (), 0, False, False, False, 20, frozenset(), regex, scope,
                ("x",), ("y",), "test")


SHIPPED = list(load_rule_files([Path(__file__).resolve().parents[2] / "data" / "pattern_rules.toml"]).pattern_rules)
EXAMPLES = sorted({normalize(e) for rule in SHIPPED for e in rule.match + rule.no_match})
ORDINARY = [
    "please find the quarterly report attached.", "we will send the invoice tomorrow.",
    "let us know if you have questions.", "you have 3 new messages.", "meeting at 10:00 in room 4.",
    "unsubscribe", "bitcoin prices fell today.", "within 24 hours of delivery.", "señor", "daño",
    "i will track your parcel for you.", "or", "else", "we", "you", "your family",
]

SYNTHETIC = [
    make_rule("a.named_one", r"(?P<amount>\d+) (?:btc|bitcoin)\b", "extortion_payment"),
    make_rule("a.named_two", r"pay (?P<amount>\d+) now", "extortion_payment"),  # same name: no alternation
    make_rule("b.backref", r"\b(\w+) \1\b", "coercion_demand"),
    make_rule("b.plain", r"\bcomply\b", "coercion_demand"),
    make_rule("b.named_backref", r"(?P<w>\w{3,}) and (?P=w)", "coercion_demand"),
    make_rule("c.lookbehind", r"(?<=pay )\d+", "deadline_pressure"),
    make_rule("c.lookahead", r"\bwe (?=know)\w+", "deadline_pressure"),
    make_rule("c.negative", r"\bhours\b(?! ago)", "deadline_pressure"),
    make_rule("d.inline_flags", r"(?i)URGENT", "doxxing"),
    make_rule("d.compiled_flags", re.compile(r"^address: .*$", re.MULTILINE), "doxxing"),
    make_rule("d.empty", r"x*", "doxxing"),
    make_rule("d.anchor", r"^we\b", "doxxing"),
    make_rule("e.conditional", r"(<)?\bfamily(?(1)>|\b)", "surveillance_claim"),
    make_rule("e.unicode", r"\bsabemos d[oó]nde vives\b|daño", "surveillance_claim"),
    make_rule("e.verbose", re.compile(r"webcam  # the camera" "\n", re.VERBOSE), "surveillance_claim"),
    make_rule("e.lazy", r"send.{0,20}?coins", "surveillance_claim"),
    make_rule("f.subject", r"\bfinal (?:warning|notice)\b", "threat_of_harm", scope="subject"),
    make_rule("f.subject_word", r"\w+!", "threat_of_harm", scope="subject"),
    make_rule("g.atomic", r"(?>ab|a)c|\d++x", "voter_intimidation"),
    make_rule("g.negclass", r"[^a-z ]{3}", "voter_intimidation"),
]
SYNTHETIC_PHRASES = [
    "12 btc", "pay 40 now", "the the", "comply", "pay 500", "we know", "hours", "hours ago",
    "urgent", "address: 1 main st", "we", "family", "<family>", "<family", "sabemos dónde vives",
    "daño", "webcam", "send me coins", "final warning", "final notice!", "abc", "aac", "12x",
    "wow and wow", "ÄÖÜ", "\n", "x", "",
]


def phrase_text(phrases: list[str]) -> st.SearchStrategy[str]:
    pieces = st.one_of(st.sampled_from(phrases), st.text(max_size=8))
    return st.lists(pieces, max_size=12).map(" ".join)


@pytest.mark.parametrize("engine", ENGINES)
def test_engine_reports_itself(engine: str) -> None:
    assert RuleMatcher(SHIPPED, engine=engine).engine == engine


def test_auto_prefers_hyperscan_when_installed() -> None:
    assert RuleMatcher(SHIPPED).engine == ("hyperscan" if hyperscan_available() else "python")


def test_unknown_engine_rejected() -> None:
    with pytest.raises(ValueError):
        RuleMatcher(SHIPPED, engine="re2")


@pytest.mark.skipif(hyperscan_available(), reason="hyperscan is installed")
def test_hyperscan_engine_without_package_fails_loudly() -> None:
    with pytest.raises(RuntimeError):
        RuleMatcher(SHIPPED, engine="hyperscan")


@pytest.mark.parametrize("engine", ENGINES)
def test_shipped_rule_examples(engine: str) -> None:
    matcher = RuleMatcher(SHIPPED, engine=engine)
    for example in EXAMPLES:
        texts = {"text": example, "subject": example}
        assert as_tuples(matcher.match(texts)) == baseline(SHIPPED, texts)
    everything = " ".join(EXAMPLES)
    texts = {"text": everything, "subject": ""}
    assert as_tuples(matcher.match(texts)) == baseline(SHIPPED, texts)
    assert len(matcher.match(texts)) == sum(1 for rule in SHIPPED if rule.scope == "text")


@pytest.mark.skipif(not hyperscan_available(), reason="hyperscan (extra 'fast') not installed")
def test_hyperscan_holds_every_shipped_rule() -> None:
    assert RuleMatcher(SHIPPED, engine="hyperscan").python_rules == ()


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.text(), phrase_text(EXAMPLES + ORDINARY)), subject=phrase_text(EXAMPLES))
def test_shipped_rules_random_text(engine: str, body: str, subject: str) -> None:
    matcher = _matcher(SHIPPED, engine)
    for texts in ({"text": body, "subject": subject}, {"text": normalize(body), "subject": normalize(subject)}):
        assert as_tuples(matcher.match(texts)) == baseline(SHIPPED, texts)


@pytest.mark.parametrize("engine", ENGINES)
@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.one_of(st.text(), phrase_text(SYNTHETIC_PHRASES)), subject=phrase_text(SYNTHETIC_PHRASES))
def test_synthetic_rules_random_text(engine: str, body: str, subject: str) -> None:
    matcher = _matcher(SYNTHETIC, engine)
    texts = {"text": body, "subject": subject}
    assert as_tuples(matcher.match(texts)) == baseline(SYNTHETIC, texts)


@pytest.mark.parametrize("engine", ENGINES)
def test_synthetic_rules_known_texts(engine: str) -> None:
    matcher = RuleMatcher(SYNTHETIC, engine=engine)
    for phrase in SYNTHETIC_PHRASES:
        for texts in ({"text": phrase, "subject": phrase}, {"text": f"x {phrase}.\n{phrase}"}):
            assert as_tuples(matcher.match(texts)) == baseline(SYNTHETIC, texts)
    texts = {"text": "pay 40 now and pay 500, the the urgent", "subject": "final warning!"}
    ids = [hit.rule.id for hit in matcher.match(texts)]
    assert {"a.named_two", "b.backref", "c.lookbehind", "d.inline_flags", "f.subject"} <= set(ids)


@pytest.mark.parametrize("engine", ENGINES)
def test_missing_scope_and_surrogates(engine: str) -> None:
    matcher = RuleMatcher(SYNTHETIC, engine=engine)
    for texts in ({}, {"text": "comply \ud800 webcam"}, {"subject": "final notice \udfff!"}):
        assert as_tuples(matcher.match(texts)) == baseline(SYNTHETIC, texts)


@pytest.mark.parametrize("engine", ENGINES)
def test_threads_share_one_matcher(engine: str) -> None:
    matcher = RuleMatcher(SHIPPED, engine=engine)
    texts = [{"text": example, "subject": example} for example in EXAMPLES]
    expected = [baseline(SHIPPED, t) for t in texts]
    failures: list[int] = []

    def work() -> None:
        for _ in range(20):
            for i, t in enumerate(texts):
                if as_tuples(matcher.match(t)) != expected[i]:
                    failures.append(i)

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert failures == []


def test_combined_alternation_keeps_rules_with_backreferences_apart() -> None:
    matcher = RuleMatcher(SYNTHETIC, engine="python")
    groups = {tuple(rule.id for _, rule in group.members): group.reject for group in matcher._groups}
    assert groups[("b.backref",)] is None
    assert groups[("e.conditional",)] is None
    assert groups[("a.named_one", "a.named_two")] is None  # duplicate group name: runs per rule


@pytest.mark.parametrize(
    ("pattern", "flags", "text"),
    [
        (r"\bpay\b", 0, "pay"),
        (r"(?<=x)y", 0, "xy"),
        (r"\w+ \d{2}", 0, "ab 12"),
        (r"[^\s]+é", 0, "caé"),
        (r"(a)\1", 0, "aa"),
        (r"abc", re.IGNORECASE, None),
        (r"(?i:abc)", 0, None),
    ],
)
def test_hyperscan_superset(pattern: str, flags: int, text: str | None) -> None:
    source = hyperscan_superset(re.compile(pattern, flags))
    if text is None:
        assert source is None
        return
    assert source is not None
    # Read back with Python's re (\x{..} → \x{..} is PCRE; translate for the check).
    pythonic = re.sub(r"\\x\{([0-9a-f]+)\}", lambda m: re.escape(chr(int(m.group(1), 16))), source)
    assert re.search(pythonic, text, re.DOTALL)


_MATCHERS: dict[tuple[int, str], RuleMatcher] = {}


def _matcher(rules: list[Rule], engine: str) -> RuleMatcher:
    key = (id(rules), engine)
    if key not in _MATCHERS:
        _MATCHERS[key] = RuleMatcher(rules, engine=engine)
    return _MATCHERS[key]
