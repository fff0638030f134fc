"""Every genre of intimidation mail, however worded, and the ordinary mail that shares its words.

The messages are in tests/data (written for these tests, never taken from the evaluation
corpus):

* genre_paraphrases.toml and intimidation_more.toml: intimidation of every genre in seven
  languages, paraphrased, spun, veiled, formal or informal: each must be tagged on what it
  says alone;
* near_misses.toml and ham_more.toml: collection letters, password notices, campaign mail,
  charity appeals, security reports, jokes, and news that describes threats: each must be
  accepted;
* quoting_ham.toml: news, advisories and IT-desk warnings that quote a threat: each must be
  accepted, and the threat it quotes, sent on its own, must be tagged;
* written_threats.toml and written_ham.toml: three more rounds of both, each scored blind
  before any rule saw it; the share tagged is held to a floor, and false alarms to a ceiling.

Each message goes through the whole offline analysis, as ``spoofguard scan --offline`` and
``make eval`` run it: neutral headers, no authentication, so content decides.
"""

from __future__ import annotations

import tomllib
from collections import Counter
from email.message import EmailMessage
from pathlib import Path
from typing import Any

import pytest

from spoofguard import config
from spoofguard.message import Message
from spoofguard.runtime import build_runtime
from spoofguard.verdict import Action, Verdict

DATA = Path(__file__).resolve().parents[2] / "data"
RUNTIME = build_runtime(config.load(), offline=True)


def load(name: str) -> list[dict[str, Any]]:
    with (DATA / name).open("rb") as handle:
        messages: list[dict[str, Any]] = tomllib.load(handle)["message"]
    return messages


PARAPHRASES = load("genre_paraphrases.toml") + load("intimidation_more.toml")
NEAR_MISSES = load("near_misses.toml")
MORE_HAM = load("ham_more.toml")
QUOTING = load("quoting_ham.toml")
WRITTEN_THREATS = load("written_threats.toml")
WRITTEN_HAM = load("written_ham.toml")
WRITTEN_FLOOR = 0.85  # share of written_threats tagged: 0.88 when last measured
GENRE_FLOOR = 0.5  # and of each genre
WRITTEN_CEILING = 0.015  # share of written_ham tagged: 2 of 204 when last measured


def analyze(subject: str, body: str, sender: str = "Sender <someone@sender.example>", newsletter: bool = False) -> Verdict:
    message = EmailMessage()
    message["From"], message["To"], message["Subject"] = sender, "reader@example.org", subject
    message["Date"] = "Mon, 02 Nov 2026 09:30:00 +0000"
    message["Message-ID"] = "<test@sender.example>"
    if newsletter:
        message["List-Unsubscribe"] = "<mailto:unsubscribe@sender.example>"
    message.set_content(body)
    return RUNTIME.analyzer.analyze(Message.from_bytes(message.as_bytes()), RUNTIME.new_session())


def explain(verdict: Verdict) -> str:
    return f"{verdict.score:.1f}: " + "; ".join(f"{s.name} {s.score:+.1f} {s.detail}" for s in verdict.moving_signals)


def test_every_genre_has_paraphrases_in_several_languages() -> None:
    languages: dict[str, set[str]] = {}
    for message in PARAPHRASES:
        languages.setdefault(message["genre"], set()).add(message["language"])
    counts = Counter(m["genre"] for m in PARAPHRASES)
    assert set(counts) == {"sextortion", "bomb-threat", "hitman", "ddos", "data-leak", "reputation", "doxxing",
                           "voter-intimidation", "threat"}
    assert all(n >= 3 for n in counts.values()), counts
    assert all(len(found) >= 2 for found in languages.values()), languages


@pytest.mark.parametrize("message", PARAPHRASES, ids=[m["id"] for m in PARAPHRASES])
def test_intimidation_of_every_genre_is_tagged_on_what_it_says(message: dict[str, Any]) -> None:
    verdict = analyze(message["subject"], message["body"])
    assert verdict.action is not Action.ACCEPT, explain(verdict)
    assert verdict.categories


# A friend's joke ("if you're late again I will actually kill you ... last warning") reads
# as a threat with a deadline: text alone cannot tell it is a joke. Authentication and the
# guard keep such mail from being held; it may be tagged.
JOKES = {"personal-en-2"}
JOKE = pytest.mark.xfail(strict=True, reason="a joking threat with a deadline reads as a threat")


@pytest.mark.parametrize("message", [pytest.param(m, id=m["id"], marks=[JOKE] if m["id"] in JOKES else [])
                                     for m in NEAR_MISSES])
def test_ordinary_mail_with_the_same_words_is_accepted(message: dict[str, Any]) -> None:
    verdict = analyze(message["subject"], message["body"], message["sender"])
    assert verdict.action is Action.ACCEPT, explain(verdict)


@pytest.mark.parametrize("message", MORE_HAM, ids=[m["id"] for m in MORE_HAM])
def test_more_ordinary_and_quoting_mail_is_accepted(message: dict[str, Any]) -> None:
    verdict = analyze(message["subject"], message["body"], message["sender"], newsletter=message["part"] == "quoting")
    assert verdict.action is Action.ACCEPT, explain(verdict)


def test_near_misses_cover_the_kinds_of_mail_that_share_the_words() -> None:
    kinds = {m["kind"] for m in NEAR_MISSES}
    assert {"urgency", "password-notice", "charity", "collection", "campaign"} <= kinds


@pytest.mark.parametrize("message", QUOTING, ids=[m["id"] for m in QUOTING])
def test_news_and_advisories_quoting_a_threat_are_accepted(message: dict[str, Any]) -> None:
    verdict = analyze(message["subject"], message["body"], message["sender"], newsletter=True)
    assert verdict.action is Action.ACCEPT, explain(verdict)


@pytest.mark.parametrize("message", QUOTING, ids=[m["id"] for m in QUOTING])
def test_the_same_threat_addressed_to_the_reader_is_tagged(message: dict[str, Any]) -> None:
    verdict = analyze("(no subject)", message["threat"])
    assert verdict.action is not Action.ACCEPT, explain(verdict)


def test_the_quoting_set_spans_genres_languages_and_kinds() -> None:
    assert len(QUOTING) >= 40
    assert len({m["language"] for m in QUOTING}) >= 5
    assert len({m["genre"] for m in QUOTING}) >= 8
    assert {"news", "advisory", "it-desk"} <= {m["kind"] for m in QUOTING}


def test_written_intimidation_is_tagged_above_the_floor_in_every_genre() -> None:
    missed = Counter(m["genre"] for m in WRITTEN_THREATS
                     if analyze(m["subject"], m["body"]).action is Action.ACCEPT)
    total = Counter(m["genre"] for m in WRITTEN_THREATS)
    assert 1 - sum(missed.values()) / len(WRITTEN_THREATS) >= WRITTEN_FLOOR, missed
    assert all(1 - missed[g] / n >= GENRE_FLOOR for g, n in total.items()), missed


def test_written_ordinary_and_quoting_mail_is_almost_never_tagged() -> None:
    tagged = [m["id"] for m in WRITTEN_HAM
              if analyze(m["subject"], m["body"], m["sender"], newsletter=m["part"] == "quoting").action
              is not Action.ACCEPT]
    assert len(tagged) / len(WRITTEN_HAM) <= WRITTEN_CEILING, tagged
