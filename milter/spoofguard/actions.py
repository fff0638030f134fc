"""From verdict to the changes the MTA must make, as data.

The decision is data; only the pymilter adapter applies it. That keeps every header the
milter writes unit-testable without an MTA.
"""

from __future__ import annotations

from dataclasses import dataclass
from email.header import Header
from enum import StrEnum

from .edits import AddHeader, ChangeHeader, HeaderEdit, deletions
from .headers import clean, header_value
from .message import Message
from .verdict import UNSCANNED_TEXT, Action, Verdict

SCORE_HEADER = "X-Spoofguard-Score"
REPORT_HEADER = "X-Spoofguard-Report"
OWN_PREFIX = "x-spoofguard-"
MAX_DETAIL = 200


class Outcome(StrEnum):
    ACCEPT = "accept"
    REJECT = "reject"
    TEMPFAIL = "tempfail"


@dataclass(frozen=True, slots=True)
class Reply:
    code: str
    xcode: str
    text: str


@dataclass(frozen=True, slots=True)
class Plan:
    header_changes: tuple[HeaderEdit, ...] = ()
    quarantine: str | None = None
    outcome: Outcome = Outcome.ACCEPT
    reply: Reply | None = None


@dataclass(frozen=True, slots=True)
class ActionSettings:
    subject_prefix: str = "[SUSPICIOUS] "
    reject_reply: str = "Message refused as likely spoofed intimidation or extortion"


def plan(verdict: Verdict, message: Message, settings: ActionSettings) -> Plan:
    if verdict.action is Action.REJECT:
        return Plan(outcome=Outcome.REJECT, reply=Reply("550", "5.7.1", clean(settings.reject_reply)))
    if verdict.action is Action.TEMPFAIL:
        return Plan(
            outcome=Outcome.TEMPFAIL,
            reply=Reply("451", "4.7.1", "Message could not be checked now; try again later"),
        )
    changes: list[HeaderEdit] = list(remove_forged_headers(message))
    changes.extend(verdict.edits)
    changes.append(AddHeader(SCORE_HEADER, header_value(SCORE_HEADER, score_text(verdict))))
    if verdict.action is not Action.ACCEPT or verdict.intended_action or verdict.degraded or verdict.unscanned:
        changes.append(AddHeader(REPORT_HEADER, header_value(REPORT_HEADER, report_text(verdict))))
    if verdict.action in (Action.TAG, Action.QUARANTINE):
        subject = tagged_subject(message, settings.subject_prefix)
    else:
        subject = untagged_subject(message, settings.subject_prefix)
    if subject is not None:
        changes.append(subject)
    quarantine = quarantine_reason(verdict) if verdict.action is Action.QUARANTINE else None
    return Plan(header_changes=tuple(changes), quarantine=quarantine)


def score_text(verdict: Verdict) -> str:
    return f"{verdict.score:.1f} ({verdict.thresholds.describe()})"


def report_text(verdict: Verdict) -> str:
    """``action=…; signal=+score detail; …`` for the user's client and for log readers."""
    head = f"action={verdict.action.value}"
    if verdict.intended_action:
        head += f" (dry run: would {verdict.intended_action.value})"
    parts = [head]
    for signal in verdict.moving_signals:
        detail = signal.detail if len(signal.detail) <= MAX_DETAIL else signal.detail[: MAX_DETAIL - 1] + "…"
        label = "error" if signal.score == 0 else f"{signal.score:+.1f}"
        parts.append(f"{signal.name}={label} {detail}")
    if verdict.unscanned and not any(s.name == UNSCANNED_TEXT for s in verdict.moving_signals):
        parts.append(f"{UNSCANNED_TEXT}=+0.0 {verdict.unscanned[:MAX_DETAIL]}")  # weight 0: still said
    return "; ".join(parts)


def quarantine_reason(verdict: Verdict) -> str:
    names = ", ".join(s.name for s in verdict.moving_signals if s.score > 0)
    return clean(f"spoofguard score {verdict.score:.1f}: {verdict.reason} ({names})")


def tagged_subject(message: Message, prefix: str) -> AddHeader | ChangeHeader | None:
    """The Subject with exactly one tag; None when it already has exactly one (or tagging
    subjects is turned off with an empty prefix)."""
    if not prefix.strip():
        return None
    subjects = message.header_all("Subject")
    if not subjects:
        return AddHeader("Subject", prefix.strip())
    first = subjects[0]
    rest, tags = _strip_tags(first.raw, first.value, prefix)
    if tags == 1:
        return None  # tagged upstream (another spoofguard, or the sender): it reads the same
    return ChangeHeader("Subject", 1, header_value("Subject", prefix + rest, ascii_only=False))


def untagged_subject(message: Message, prefix: str) -> ChangeHeader | None:
    """An accepted message whose Subject arrived carrying our tag loses it, so the tag a user
    sees always means spoofguard's verdict, never the sender's say-so."""
    subjects = message.header_all("Subject")
    if not subjects or not prefix.strip():
        return None
    rest, tags = _strip_tags(subjects[0].raw, subjects[0].value, prefix)
    if not tags:
        return None
    # An empty value deletes the field: a Subject that was only the tag goes.
    return ChangeHeader("Subject", 1, header_value("Subject", rest, ascii_only=False) if rest else "")


def _strip_tags(raw: str, decoded: str, prefix: str) -> tuple[str, int]:
    """The raw Subject without its leading copies of the tag (in any case, never empty),
    and how many there were. A tag inside an RFC 2047 encoded word is found through the decoded text;
    the rest is then re-encoded."""
    tag = prefix.strip().lower()
    text = clean(raw)
    encoded = not text.lower().startswith(tag)
    if encoded:
        text = clean(decoded)
    tags = 0
    while text.lower().startswith(tag):
        text = text[len(tag):].lstrip()
        tags += 1
    if not tags:
        return clean(raw), 0
    if encoded and not text.isascii():
        text = Header(text, "utf-8", maxlinelen=76).encode().replace("\n ", " ")
    return text, tags


def remove_forged_headers(message: Message) -> list[ChangeHeader]:
    """Delete incoming ``X-Spoofguard-*`` fields so users only ever see ours.

    Deleted from the last occurrence back, so earlier indexes stay valid.
    """
    return deletions([(h.name, i) for h, i in message.indexed_headers() if h.name.lower().startswith(OWN_PREFIX)])
