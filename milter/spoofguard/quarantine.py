"""``spoofguard quarantine``: what the milter held, and releasing or discarding it.

Held mail lives in the MTA's own quarantine, so this is a thin layer over the MTA's
tools. Postfix: ``postqueue -j`` lists the hold queue, ``postcat -q`` shows a message,
``postsuper -H`` releases it (delivered as is, nothing re-checked) and ``postsuper -d``
deletes it. Sendmail: see ``sendmail_quarantine``.
"""

from __future__ import annotations

import email.utils
import json
import logging
import re
import shutil
import subprocess
import time
from collections.abc import Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Protocol

from .message import decode_header_value, iter_raw_headers, split_head_body

log = logging.getLogger(__name__)
POSTFIX_TOOLS = ("/usr/sbin/postqueue", "/usr/sbin/postsuper", "/usr/sbin/postcat")
_QUEUE_ID = re.compile(r"[0-9A-Za-z]{5,20}")  # short and long Postfix queue ids
_SCORE = re.compile(r"^\s*([-+]?\d+(?:\.\d+)?)")
# "; impersonation.from_is_recipient=+3.0 detail" inside the report header
_SIGNAL = re.compile(r"(?:^|;\s*)([a-z_]+(?:\.[\w-]+)+)=[+-]?\d")
_AGE = re.compile(r"^(\d+)([smhdw])$")
_SECONDS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}


class QuarantineError(Exception):
    """The MTA's tools failed or are missing; the message says which and why."""


@dataclass(frozen=True)
class Held:
    queue_id: str
    arrival: float  # Unix time
    sender: str
    recipients: tuple[str, ...]
    size: int
    subject: str = ""
    score: str = ""
    reason: str = ""  # the X-Spoofguard-Report header: action and the signals that moved it
    signals: tuple[str, ...] = field(default_factory=tuple)

    def age(self, now: float | None = None) -> float:
        return max(0.0, (now or time.time()) - self.arrival)

    def to_dict(self) -> dict[str, object]:
        return {**asdict(self), "age_seconds": round(self.age())}


def parse_age(text: str) -> float:
    """``7d``, ``12h``, ``30m``, ``2w`` or plain seconds, as ``--older-than`` takes them."""
    found = _AGE.fullmatch(text.strip().lower())
    if found:
        return int(found.group(1)) * _SECONDS[found.group(2)]
    if text.strip().isdigit():
        return float(text.strip())
    raise ValueError(f"{text!r} is not an age such as 7d, 12h or 30m")


def detect_mta() -> str:
    """Postfix when its queue tools are there, else Sendmail when its configuration is."""
    if all(Path(tool).exists() for tool in POSTFIX_TOOLS):
        return "postfix"
    if shutil.which("sendmail") and Path("/etc/mail/sendmail.cf").exists():
        return "sendmail"
    return "none"


class Quarantine(Protocol):
    """What ``spoofguard quarantine`` needs of an MTA's hold queue."""

    def held(self, older_than: float | None = None) -> list[Held]: ...

    def show(self, queue_id: str) -> str: ...

    def release(self, queue_ids: Iterable[str]) -> list[str]: ...

    def delete(self, queue_ids: Iterable[str]) -> list[str]: ...

    def submit_command(self) -> list[str]:
        """How to hand a message to this MTA (the digest)."""


class PostfixQuarantine:
    """The hold queue of one Postfix instance (``config_dir`` for a non-default one)."""

    def __init__(self, config_dir: str | None = None) -> None:
        self._config_dir = config_dir

    def submit_command(self) -> list[str]:
        return ["/usr/sbin/sendmail", *(["-C", self._config_dir] if self._config_dir else [])]

    def held(self, older_than: float | None = None) -> list[Held]:
        return oldest_first((self._entry(r) for r in self._queue() if r.get("queue_name") == "hold"), older_than)

    def show(self, queue_id: str) -> str:
        return self._run("/usr/sbin/postcat", "-hb", "-q", _checked(queue_id))

    def release(self, queue_ids: Iterable[str]) -> list[str]:
        """Out of the hold queue, and delivery asked for now: ``postsuper -H`` alone leaves
        the message in the deferred queue until the next queue run (minutes)."""
        released = self._super("-H", queue_ids)
        for queue_id in released:
            try:
                self._run("/usr/sbin/postqueue", "-i", queue_id)
            except QuarantineError as exc:  # released all the same: the next queue run delivers it
                log.warning("%s released, but immediate delivery was not scheduled: %s", queue_id, exc)
        return released

    def delete(self, queue_ids: Iterable[str]) -> list[str]:
        return self._super("-d", queue_ids)

    # -- plumbing -------------------------------------------------------------------------

    def _queue(self) -> list[dict[str, object]]:
        out = self._run("/usr/sbin/postqueue", "-j")
        records = []
        for line in out.splitlines():
            try:
                records.append(json.loads(line))
            except ValueError:
                continue
        return records

    def _entry(self, record: dict[str, object]) -> Held:
        queue_id = str(record.get("queue_id", ""))
        recipients = record.get("recipients")
        entries = recipients if isinstance(recipients, list) else []
        addresses = tuple(str(r.get("address", "")) for r in entries if isinstance(r, dict))
        arrival = record.get("arrival_time", 0)
        size = record.get("message_size", 0)
        base = Held(queue_id, float(arrival) if isinstance(arrival, (int, float)) else 0.0,
                    str(record.get("sender", "")), addresses, int(size) if isinstance(size, int) else 0)
        return self._with_headers(base)

    def _with_headers(self, held: Held) -> Held:
        try:
            head = self._run("/usr/sbin/postcat", "-h", "-q", held.queue_id)
        except QuarantineError:
            return held  # gone between listing and reading, or unreadable: list what we have
        return with_headers(held, head.encode("utf-8", "surrogateescape"))

    def _super(self, flag: str, queue_ids: Iterable[str]) -> list[str]:
        ids = [_checked(q) for q in queue_ids]
        if not ids:
            return []
        self._run("/usr/sbin/postsuper", flag, "-", stdin="\n".join(ids) + "\n")
        return ids

    def _run(self, tool: str, *args: str, stdin: str | None = None) -> str:
        config = ["-c", self._config_dir] if self._config_dir else []
        return run_tool([tool, *config], args, stdin=stdin)


def oldest_first(held: Iterable[Held], older_than: float | None) -> list[Held]:
    """Held messages by arrival, those held at least ``older_than`` seconds if given."""
    now = time.time()
    return sorted((h for h in held if older_than is None or h.age(now) >= older_than), key=lambda h: h.arrival)


def run_tool(command: list[str], args: Iterable[str], *, stdin: str | None = None, timeout: float = 60,
             env: dict[str, str] | None = None) -> str:
    """An MTA tool's output; its failure (or its absence) as a QuarantineError naming it."""
    args = list(args)
    try:
        done = subprocess.run([*command, *args], input=stdin, capture_output=True, text=True,
                              errors="surrogateescape", timeout=timeout, check=False, env=env)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QuarantineError(f"{command[0]}: {exc}") from exc
    if done.returncode != 0:
        raise QuarantineError(f"{command[0]} {' '.join(args)}: {done.stderr.strip() or f'exit {done.returncode}'}")
    return done.stdout


def with_headers(held: Held, head: bytes) -> Held:
    """``held`` with the subject, score, report and signals read from its header block."""
    fields: dict[str, str] = {}
    for name, raw in iter_raw_headers(split_head_body(head)[0]):
        fields.setdefault(name.lower(), decode_header_value(name, raw))
    report = " ".join(fields.get("x-spoofguard-report", "").split())
    score = _SCORE.match(fields.get("x-spoofguard-score", ""))
    signals = tuple(_SIGNAL.findall(report))
    return Held(held.queue_id, held.arrival, held.sender, held.recipients, held.size,
                fields.get("subject", ""), score.group(1) if score else "", report, signals)


def _checked(queue_id: str) -> str:
    if not _QUEUE_ID.fullmatch(queue_id):
        raise QuarantineError(f"{queue_id!r} is not a Postfix queue id")
    return queue_id


def describe(held: Held, now: float | None = None) -> str:
    age = held.age(now)
    span = f"{age / 86400:.1f}d" if age >= 86400 else f"{age / 3600:.1f}h" if age >= 3600 else f"{age / 60:.0f}m"
    when = email.utils.formatdate(held.arrival, localtime=True)
    return (f"{held.queue_id}  {span} ago ({when})  score {held.score or '?'}\n"
            f"  from {held.sender or '<>'} to {', '.join(held.recipients)}\n"
            f"  subject: {held.subject}\n  reason: {held.reason or '(no spoofguard report header)'}")


def digest(held: list[Held], since: float, now: float | None = None) -> str:
    """The plain-text summary a postmaster reads: one block per message held since
    ``since`` (Unix time), with why it was held and how to act on it."""
    now = now or time.time()
    fresh = [h for h in held if h.arrival >= since]
    lines = [f"spoofguard held {len(fresh)} new message(s) since {email.utils.formatdate(since, localtime=True)}",
             f"({len(held)} held in all).", ""]
    for entry in fresh:
        lines += [describe(entry, now), ""]
    lines += ["Release one (delivered as it is):   spoofguard quarantine release QUEUE_ID",
              "Delete one:                         spoofguard quarantine delete QUEUE_ID",
              "Delete all older than a week:       spoofguard quarantine delete --older-than 7d"]
    return "\n".join(lines) + "\n"


def send_digest(text: str, to: str, count: int, sendmail: list[str]) -> None:
    """Hand the digest to the local MTA (``sendmail -t``), as cron mail is."""
    from email.message import EmailMessage

    message = EmailMessage()
    message["To"] = to
    message["From"] = "spoofguard <postmaster>"
    message["Subject"] = f"spoofguard: {count} message(s) held"
    message["Auto-Submitted"] = "auto-generated"  # RFC 3834: no vacation replies to this
    message.set_content(text)
    try:
        done = subprocess.run([*sendmail, "-t", "-oi"], input=message.as_bytes(), capture_output=True,
                              timeout=120, check=False)
    except (OSError, subprocess.TimeoutExpired) as exc:
        raise QuarantineError(f"{sendmail[0]}: {exc}") from exc
    if done.returncode != 0:
        raise QuarantineError(f"{sendmail[0]}: {done.stderr.decode(errors='replace').strip() or done.returncode}")
