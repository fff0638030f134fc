"""The Subject a user reads carries the tag exactly when spoofguard tagged the message.

The reader's view (tests/support/subjects.py) is computed independently of spoofguard's
own normaliser.
"""

from __future__ import annotations

from email.header import decode_header, make_header

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from spoofguard.actions import ActionsSection, plan
from spoofguard.edits import AddHeader, ChangeHeader
from spoofguard.message import Message
from spoofguard.verdict import Action, Signal, SignalKind, Thresholds, Verdict
from tests.support.subjects import ATTACKS, b64, reader_view, tags_seen


def verdict(action: Action) -> Verdict:
    signal = Signal("content.threat_of_harm", 5.0 if action is Action.TAG else 0.0, "x", SignalKind.CONTENT)
    return Verdict(action=action, score=signal.score, signals=(signal,), thresholds=Thresholds(4.0, 8.0, None), reason="r")


def delivered_subjects(subjects: list[str], action: Action) -> list[str]:
    """The Subject fields after the MTA applies the plan."""
    message = Message()
    for raw in subjects:
        message.add_header("Subject", raw)
    message.add_body(b"hi\r\n")
    fields = list(subjects)
    for change in plan(verdict(action), message, ActionsSection()).header_changes:
        if change.name != "Subject":
            continue
        if isinstance(change, AddHeader):
            fields.append(change.value)
        elif change.value:
            fields[change.index - 1] = change.value
        else:
            del fields[change.index - 1]
    return [f.replace("\n\t", " ") for f in fields]


@pytest.mark.parametrize("raw", ATTACKS.values(), ids=ATTACKS.keys())
def test_accepted_mail_shows_no_forged_tag(raw: str) -> None:
    [subject] = delivered_subjects([raw], Action.ACCEPT)
    assert tags_seen(subject) == 0, subject
    assert "minutes" in reader_view(subject)[-1]
    assert subject.isascii()  # re-encoded, never raw 8-bit


@pytest.mark.parametrize("raw", ATTACKS.values(), ids=ATTACKS.keys())
def test_tagged_mail_shows_exactly_one_tag(raw: str) -> None:
    [subject] = delivered_subjects([raw], Action.TAG)
    assert subject.startswith("[SUSPICIOUS] ")
    assert tags_seen(subject) == 1, subject


def test_a_second_subject_carrying_the_tag_is_removed() -> None:
    assert delivered_subjects(["Minutes", "[SUSPICIOUS] Minutes"], Action.ACCEPT) == ["Minutes"]
    assert delivered_subjects(["Minutes", "Other", "Third"], Action.TAG) == ["[SUSPICIOUS] Minutes"]


def test_reply_markers_stay_in_front_of_what_remains() -> None:
    [subject] = delivered_subjects(["Re: [SUSPICIOUS] Minutes"], Action.ACCEPT)
    assert subject == "Re: Minutes"
    [subject] = delivered_subjects(["Re: [SUSPICIOUS] Minutes"], Action.TAG)
    assert subject == "[SUSPICIOUS] Re: Minutes"


def test_a_non_ascii_remainder_is_re_encoded() -> None:
    [subject] = delivered_subjects(["[SUSPICIOUS] Caf\u00e9 \u043f\u0440\u0438\u0432\u0435\u0442"], Action.ACCEPT)
    assert subject.isascii() and str(make_header(decode_header(subject))) == "Caf\u00e9 \u043f\u0440\u0438\u0432\u0435\u0442"


def test_honest_subjects_that_mention_the_word_are_kept() -> None:
    for raw in ("Suspicious activity on your account", "Re: why was this marked [SUSPICIOUS]?", "[SUSPICIOUSNESS] report"):
        assert delivered_subjects([raw], Action.ACCEPT) == [raw]


TAG_FORMS = st.sampled_from(["[SUSPICIOUS]", "[suspicious]", "\uff3bSUSPICIOUS\uff3d", "[SUSPICI\u041eUS]", "\u200b[SUSPICIOUS]",
                             "\u3010SUSPICIOUS\u3011", "[ S U S P I C I O U S ]", "[\u0405USP\u0406C\u0406OUS]"])
REPLIES = st.sampled_from(["Re:", "RE:", "Fwd:", "AW:", "WG:", "Re[3]:", "R\u0435:"])
WORDS = st.text(st.characters(blacklist_categories=("Cs",)), max_size=20)


@st.composite
def hostile_subjects(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.one_of(TAG_FORMS, REPLIES), min_size=1, max_size=5))
    text = " ".join([*pieces, draw(WORDS)])
    for _ in range(draw(st.integers(0, 2))):
        # An encoded word stands between spaces; cutting inside a word would make a new one.
        cut = draw(st.sampled_from([0, *(i for i, c in enumerate(text) if c == " ")]))
        head, tail = text[:cut], text[cut:].lstrip(" ")
        text = (head + " " if head else "") + b64(tail) if tail else text
    return text


@settings(max_examples=400, deadline=None)
@given(subjects=st.lists(hostile_subjects(), min_size=1, max_size=3))
def test_no_accepted_subject_reads_as_tagged(subjects: list[str]) -> None:
    delivered = delivered_subjects(subjects, Action.ACCEPT)
    assert len(delivered) <= 1
    for subject in delivered:
        assert tags_seen(subject) == 0, (subjects, subject)


@settings(max_examples=300, deadline=None)
@given(subjects=st.lists(hostile_subjects(), min_size=1, max_size=3))
def test_every_tagged_subject_reads_as_tagged_once(subjects: list[str]) -> None:
    [subject] = delivered_subjects(subjects, Action.TAG)
    assert tags_seen(subject) == 1, (subjects, subject)


def test_change_indexes_delete_surplus_fields_from_the_last_back() -> None:
    message = Message()
    for raw in ("a", "b", "c"):
        message.add_header("Subject", raw)
    message.add_body(b"x\r\n")
    changes = [c for c in plan(verdict(Action.ACCEPT), message, ActionsSection()).header_changes if c.name == "Subject"]
    assert changes == [ChangeHeader("Subject", 3, ""), ChangeHeader("Subject", 2, "")]
