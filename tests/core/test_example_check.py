"""The README's example check, registered with one line, runs through the whole pipeline:
its config section is read and validated, it scores, and its signal reaches the verdict,
the report header and the subject tag."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from spoofguard import config
from spoofguard.actions import REPORT_HEADER, Deliver, plan
from spoofguard.assembly import build_analyzer
from spoofguard.checks.registry import plugins, register, unregister
from spoofguard.core import judge
from spoofguard.errors import ConfigError
from spoofguard.lookups import LookupSession
from spoofguard.message import Message
from spoofguard.verdict import Action
from tests.support import example_check


@pytest.fixture
def registered() -> Iterator[None]:
    register(example_check.PLUGIN)
    yield
    unregister(example_check.PLUGIN.name)


def load(tmp_path: Path, text: str) -> config.Settings:
    path = tmp_path / "spoofguard.toml"
    path.write_text(text)
    return config.load(path)


def test_the_example_check_scores_and_its_reason_is_shown(tmp_path: Path, registered: None) -> None:
    settings = load(tmp_path, '[checks.subject_words]\nwords = ["final warning", "last notice"]\nweight = 4.5\n')
    analyzer = build_analyzer(settings, offline=True)
    assert [c.name for c in analyzer.checks][-1] == "subject_words"
    message = Message.from_bytes(b"From: a@example.org\r\nSubject: LAST NOTICE for your account\r\n\r\nhello\r\n")
    verdict = judge(analyzer, message, LookupSession(None, budget=5.0, default_timeout=1.0))
    assert {s.name: s.score for s in verdict.moving_signals}["subject_words.found"] == 4.5
    assert verdict.action is Action.TAG
    changes = plan(verdict, message, settings.actions)
    assert isinstance(changes, Deliver)
    report = next(c.value for c in changes.header_changes if c.name == REPORT_HEADER)
    assert "subject_words.found=+4.5 Subject says 'last notice'" in " ".join(report.split())
    subject = [c.value for c in changes.header_changes if c.name == "Subject"]
    assert subject == [settings.actions.subject_prefix + "LAST NOTICE for your account"]


def test_its_section_is_validated_like_every_other(tmp_path: Path, registered: None) -> None:
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[checks.subject_words]\nweight = -1\n")
    assert (info.value.key, info.value.problem) == ("checks.subject_words.weight", "must not be negative")
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[checks.subject_words]\nword = []\n")
    assert info.value.key == "checks.subject_words.word" and "unknown key (known: enabled, weight, words)" in info.value.problem


def test_disabled_it_is_not_built(tmp_path: Path, registered: None) -> None:
    settings = load(tmp_path, "[checks.subject_words]\nenabled = false\n")
    assert "subject_words" not in [c.name for c in build_analyzer(settings, offline=True).checks]


def test_unregistered_its_section_is_an_unknown_key(tmp_path: Path) -> None:
    assert "subject_words" not in plugins()
    with pytest.raises(ConfigError) as info:
        load(tmp_path, "[checks.subject_words]\nweight = 1\n")
    assert info.value.key == "checks.subject_words" and "unknown key" in info.value.problem
