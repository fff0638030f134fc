"""First contact: "you have never had mail from this sender".

The warning users trust most when a message claims to come from someone they know. A
pair (recipient, sender) is learned when a message is delivered untagged, and when a
local user writes to an address (so replies to people you wrote to are known). Mailing
lists are known by their List-Id, not by each poster. The signal is shown in the report
header and weighs 0 by default: a first message is ordinary; only where the admin gives
it a weight does it count as sender risk.
"""

from __future__ import annotations

import functools
import logging
import re
from collections.abc import Callable, Iterable
from typing import Annotated

from ...domains import domain_of
from ...errors import ConfigError
from ...lookups import LookupSession
from ...message import Message, from_address
from ...sections import NonNegative, Positive, Section, at_least
from ...verdict import Signal, SignalKind
from .. import Facts, Findings, Stage
from ..registry import CheckContext, CheckPlugin
from .memory import KnownSenders, load_secret

log = logging.getLogger(__name__)
MAX_RECIPIENTS = 50  # beyond this, the message is a broadcast: its recipients are not asked
_LIST_ID = re.compile(r"<([^<>]+)>")


class SenderSection(Section, frozen=True):
    """``[checks.sender]``"""

    enabled: bool = True
    first_contact_weight: NonNegative = 0.0  # 0: shown, not scored; above 0 it is sender risk
    remember_days: Positive = 365.0
    max_pairs: Annotated[int, at_least(1000)] = 1_000_000  # SQLite; Redis is bounded by its maxmemory
    secret_file: str = ""  # default: <state.dir>/known-senders.key; the same file on every MX host


def sender_identity(message: Message) -> str | None:
    """Who the sender is for first contact: a mailing list by its List-Id, else the From
    address (lower case)."""
    list_id = message.header("List-Id")
    if list_id:
        found = _LIST_ID.search(list_id)
        return "list:" + (found.group(1) if found else list_id).strip().lower()
    address = from_address(message)
    return address.lower() if address and domain_of(address) else None


class SenderCheck:
    name = "sender"
    kind = SignalKind.SENDER_RISK
    requires: tuple[str, ...] = ()
    uses: tuple[str, ...] = ()

    def __init__(self, section: SenderSection, memory: KnownSenders) -> None:
        self.section = section
        self.memory = memory

    @property
    def max_score(self) -> float:
        return self.section.first_contact_weight

    def _pairs(self, message: Message) -> list[tuple[str, str]]:
        sender = sender_identity(message)
        rcpts = message.envelope.rcpts
        if sender is None or not rcpts or len(rcpts) > MAX_RECIPIENTS:
            return []
        return [(rcpt.lower(), sender) for rcpt in rcpts]

    def _lookup(self, rcpt: str, sender: str) -> tuple[str, Callable[[], bool | None]]:
        return f"sender.known:{rcpt}\n{sender}", functools.partial(self.memory.known, rcpt, sender)

    def prefetch(self, stage: Stage, message: Message, lookups: LookupSession) -> None:
        if stage is Stage.HEADERS:
            for rcpt, sender in self._pairs(message):
                lookups.start(*self._lookup(rcpt, sender))

    def run(self, message: Message, lookups: LookupSession, facts: Facts) -> Findings:
        pairs = self._pairs(message)
        if not pairs:
            return Findings()
        answers = []
        for rcpt, sender in pairs:
            got = lookups.result(*self._lookup(rcpt, sender))
            answers.append(got.value if got.ok else None)
        if any(answers):
            return Findings()  # someone here has had mail from this sender
        if None in answers:
            return Findings()  # the memory could not be asked: say nothing rather than guess
        weight = self.section.first_contact_weight
        detail = "first message from this sender to you"
        kind = SignalKind.SENDER_RISK if weight > 0 else SignalKind.NOTICE
        return Findings((Signal("sender.first_contact", weight, detail, kind),))

    def learn(self, message: Message, *, outbound: bool) -> None:
        """After delivery. Inbound mail delivered untagged: its recipients now know its
        sender. A local user's mail: the user now knows each recipient."""
        for recipient, sender in self._learned(message, outbound):
            self.memory.learn(recipient, sender)

    def _learned(self, message: Message, outbound: bool) -> Iterable[tuple[str, str]]:
        if not outbound:
            return self._pairs(message)
        author = from_address(message) or message.envelope.mail_from
        if not author or len(message.envelope.rcpts) > MAX_RECIPIENTS:
            return []
        return [(author.lower(), rcpt.lower()) for rcpt in message.envelope.rcpts]


def build(section: SenderSection, context: CheckContext) -> SenderCheck:
    """Offline (``check --offline``, ``scan``) the memory is not consulted: what this
    host's users have received says nothing about a stored message."""
    settings = context.settings
    if context.dns is None:
        return SenderCheck(section, KnownSenders.off())
    secret_path = settings.resolve(section.secret_file) if section.secret_file else \
        settings.resolve(settings.state.dir) / "known-senders.key"
    try:
        secret = load_secret(secret_path)
    except (OSError, ValueError) as exc:
        if section.secret_file:  # named by the admin: a mistake to report
            raise ConfigError(settings.path, "checks.sender.secret_file", str(exc)) from None
        log.warning("first contact is off: cannot read or create %s (%s)", secret_path, exc)
        return SenderCheck(section, KnownSenders.off())
    store = context.store("known-senders", section.max_pairs)
    return SenderCheck(section, KnownSenders(store, secret, section.remember_days * 86400))


SIGNALS = {
    "first_contact": "none of the recipients has had mail from this sender (or list) before; "
                     "shown, weight 0 unless first_contact_weight is set",
}

PLUGIN = CheckPlugin("sender", SenderSection, build, SIGNALS)
