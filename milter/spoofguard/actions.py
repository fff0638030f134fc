"""From verdict to the changes the MTA must make, as data.

The decision is data; only the pymilter adapter applies it. That keeps every header the
milter writes unit-testable without an MTA.
"""

from __future__ import annotations

from dataclasses import dataclass

from .edits import AddHeader, ChangeHeader, HeaderEdit, deletions
from .headers import clean, header_value
from .message import Message
from .sections import OneLine, Section
from .subject import subject_edits
from .verdict import UNSCANNED_TEXT, Action, SignalKind, Verdict

SCORE_HEADER = "X-Spoofguard-Score"
REPORT_HEADER = "X-Spoofguard-Report"
OWN_FIELD = "x-spoofguard"
MAX_DETAIL = 200


@dataclass(frozen=True, slots=True)
class Reply:
    code: str
    xcode: str
    text: str

    @property
    def permanent(self) -> bool:
        return self.code.startswith("5")


@dataclass(frozen=True, slots=True)
class Deliver:
    """Accept the message with these header changes; with ``quarantine``, into the MTA's
    hold queue with that reason."""

    header_changes: tuple[HeaderEdit, ...] = ()
    quarantine: str | None = None


@dataclass(frozen=True, slots=True)
class Refuse:
    """Answer the end of data with this reply; nothing is delivered or held."""

    reply: Reply


Plan = Deliver | Refuse  # the closed set of what the MTA can be told to do

# The one place where a verdict's action becomes an SMTP reply.
_REFUSALS = {Action.REJECT: ("550", "5.7.1"), Action.TEMPFAIL: ("451", "4.7.1")}
TEMPFAIL_TEXT = "Message could not be checked now; try again later"


class ActionsSection(Section, frozen=True):
    """``[actions]``: what users and senders see."""

    subject_prefix: OneLine = "[SUSPICIOUS] "
    reject_reply: str = "Message refused as likely spoofed intimidation or extortion"


def plan(verdict: Verdict, message: Message, settings: ActionsSection) -> Plan:
    if verdict.action in _REFUSALS:
        text = settings.reject_reply if verdict.action is Action.REJECT else TEMPFAIL_TEXT
        return Refuse(Reply(*_REFUSALS[verdict.action], clean(text)))
    changes: list[HeaderEdit] = list(remove_forged_headers(message))
    changes.extend(verdict.edits)
    changes.append(AddHeader(SCORE_HEADER, header_value(SCORE_HEADER, score_text(verdict))))
    if (verdict.action is not Action.ACCEPT or verdict.intended_action or verdict.degraded or verdict.unscanned
            or verdict.categories or any(s.kind is SignalKind.NOTICE for s in verdict.signals)):
        changes.append(AddHeader(REPORT_HEADER, header_value(REPORT_HEADER, report_text(verdict))))
    changes.extend(subject_edits(message, settings.subject_prefix, tag=verdict.action in (Action.TAG, Action.QUARANTINE)))
    quarantine = quarantine_reason(verdict) if verdict.action is Action.QUARANTINE else None
    return Deliver(tuple(changes), quarantine)


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
        label = "error" if signal.kind is SignalKind.ERROR else f"{signal.score:+.1f}"
        parts.append(f"{signal.name}={label} {detail}")
    if verdict.unscanned and not any(s.name == UNSCANNED_TEXT for s in verdict.moving_signals):
        parts.append(f"{UNSCANNED_TEXT}=+0.0 {verdict.unscanned[:MAX_DETAIL]}")  # weight 0: still said
    return "; ".join(parts)


def quarantine_reason(verdict: Verdict) -> str:
    names = ", ".join(s.name for s in verdict.moving_signals if s.score > 0)
    return clean(f"spoofguard score {verdict.score:.1f}: {verdict.reason} ({names})")


def remove_forged_headers(message: Message) -> list[ChangeHeader]:
    """Delete incoming ``X-Spoofguard`` and ``X-Spoofguard-*`` fields so users only ever
    see ours.

    Deleted from the last occurrence back, so earlier indexes stay valid.
    """
    return deletions([(h.name, i) for h, i in message.indexed_headers() if is_own_field(h.name)])


def is_own_field(name: str) -> bool:
    lowered = name.lower()
    return lowered == OWN_FIELD or lowered.startswith(OWN_FIELD + "-")
