"""Logging: one line per message (key=value, or JSON), nothing from the body, no
injected lines; to stderr for journald, or to syslog (facility mail)."""

from __future__ import annotations

import contextvars
import json
import logging
import logging.handlers
import sys
from collections.abc import Iterator
from contextlib import contextmanager

from .headers import ascii_text
from .message import Message
from .verdict import SignalKind, Verdict

VERDICT_LOGGER = "spoofguard.verdict"
DETAIL_LOGGER = "spoofguard.signals"


_FORMAT = {"format": "text"}
_HANDLERS: list[logging.Handler] = []
_OWN_QUEUE_ID = (VERDICT_LOGGER, DETAIL_LOGGER)  # their lines carry queue_id= already

# The message being handled in this thread (and in the lookups it started): every log
# line names it, so an admin can grep one queue id through the core's and checks' lines.
QUEUE_ID: contextvars.ContextVar[str | None] = contextvars.ContextVar("spoofguard_queue_id", default=None)


@contextmanager
def about(queue_id: str | None) -> Iterator[None]:
    """Lines logged inside name ``queue_id``."""
    token = QUEUE_ID.set(queue_id)
    try:
        yield
    finally:
        QUEUE_ID.reset(token)


class QueueIdFilter(logging.Filter):
    """Puts the current queue id on each record: ``record.queue_id`` for JSON, and
    ``record.queue_field`` (``queue_id=… `` or nothing) for the text format."""

    def filter(self, record: logging.LogRecord) -> bool:
        queue_id = getattr(record, "queue_id", None) or QUEUE_ID.get()
        record.queue_id = queue_id
        own = queue_id and record.name not in _OWN_QUEUE_ID
        record.queue_field = f"{kv('queue_id', queue_id)} " if own else ""
        return True


class JsonFormatter(logging.Formatter):
    """Every record one JSON object; a verdict record carries its fields, not a string."""

    def __init__(self, with_pid: bool = False) -> None:
        super().__init__()
        self.with_pid = with_pid

    def format(self, record: logging.LogRecord) -> str:
        fields = getattr(record, "verdict_fields", None)
        body = dict(fields) if fields is not None else {"message": record.getMessage()}
        queue_id = getattr(record, "queue_id", None)
        if queue_id and "queue_id" not in body:
            body = {"queue_id": queue_id, **body}
        if record.exc_info:
            body["exception"] = self.formatException(record.exc_info)
        head: dict[str, object] = {"level": record.levelname.lower(), "logger": record.name}
        if self.with_pid:
            head["pid"] = record.process
        return json.dumps({**head, **body}, ensure_ascii=True)


def setup(level: str = "info", format: str = "text", target: str = "stderr", *, with_pid: bool = False) -> None:
    """Log to stderr (journald adds time and unit) or syslog; idempotent so reloads can
    call it. ``with_pid``: several worker processes write to the one stream, so each line
    names its process (syslog's tag always does)."""
    handler: logging.Handler
    if target == "syslog":
        handler = logging.handlers.SysLogHandler("/dev/log", facility=logging.handlers.SysLogHandler.LOG_MAIL)
        prefix = "spoofguard[%(process)d]: "
        with_pid = False
    else:
        handler = logging.StreamHandler(sys.stderr)
        prefix = ""
    if format == "json":
        handler.setFormatter(_PrefixedJson(prefix) if prefix else JsonFormatter(with_pid=with_pid))
    else:
        process = "[%(process)d]" if with_pid else ""
        handler.setFormatter(logging.Formatter(prefix + f"%(levelname)s %(name)s{process}: %(queue_field)s%(message)s"))
    handler.addFilter(QueueIdFilter())
    root = logging.getLogger()
    while _HANDLERS:  # ours from an earlier setup: replaced once the new one exists, never doubled
        root.removeHandler(_HANDLERS.pop())
    _HANDLERS.append(handler)
    root.addHandler(handler)
    root.setLevel(level.upper())
    _FORMAT["format"] = format


class _PrefixedJson(JsonFormatter):
    """Syslog wants the program tag before the JSON object."""

    def __init__(self, prefix: str) -> None:
        super().__init__()
        self._prefix = logging.Formatter(prefix)

    def format(self, record: logging.LogRecord) -> str:
        return self._prefix.format(record) + super().format(record)


def kv(key: str, value: object) -> str:
    text = ascii_text(str(value)) if value is not None else "-"
    if not text:
        return f'{key}=""'
    if any(c in text for c in ' "=\\'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{key}={text}"


def verdict_fields(message: Message, verdict: Verdict, elapsed_ms: float) -> list[tuple[str, object]]:
    env = message.envelope
    signals = ",".join(
        f"{s.name}:{'error' if s.kind is SignalKind.ERROR else format(s.score, '+.1f')}" for s in verdict.moving_signals
    )
    fields: list[tuple[str, object]] = [
        ("queue_id", env.queue_id or "NOQUEUE"),
        ("client", env.client_ip),
        ("mail_from", f"<{env.mail_from or ''}>"),
        ("from", message.header("From")),
        ("score", f"{verdict.score:.1f}"),
        ("action", verdict.action.value),
    ]
    if verdict.intended_action:
        fields.append(("dry_run_action", verdict.intended_action.value))
    fields += [("signals", signals or "none"), ("reason", verdict.reason), ("elapsed_ms", f"{elapsed_ms:.1f}")]
    return fields


def verdict_line(message: Message, verdict: Verdict, elapsed_ms: float) -> str:
    return " ".join(kv(key, value) for key, value in verdict_fields(message, verdict, elapsed_ms))


def log_verdict(message: Message, verdict: Verdict, elapsed_ms: float) -> None:
    logger = logging.getLogger(VERDICT_LOGGER)
    if _FORMAT["format"] == "json":
        fields = {key: ascii_text(str(value)) if value is not None else None
                  for key, value in verdict_fields(message, verdict, elapsed_ms)}
        logger.info("verdict", extra={"verdict_fields": fields})
    else:
        logger.info("%s", verdict_line(message, verdict, elapsed_ms))
    if logger.isEnabledFor(logging.DEBUG):
        log_details(message, verdict)


def log_details(message: Message, verdict: Verdict) -> None:
    """At debug level, every signal with its detail and each check's time, one line each.

    A content signal's detail quotes the words that matched, which are the body's; it is
    shown to the recipient in the report header, but the log gets only the rule name.
    """
    logger = logging.getLogger(DETAIL_LOGGER)
    queue_id = message.envelope.queue_id or "NOQUEUE"
    for signal in verdict.signals:
        detail = "(matched text only in the report header)" if signal.kind is SignalKind.CONTENT else signal.detail
        logger.debug("%s", " ".join(kv(k, v) for k, v in (
            ("queue_id", queue_id), ("signal", signal.name), ("score", f"{signal.score:+.1f}"), ("detail", detail))))
    if verdict.check_ms:
        timings = ",".join(f"{name}:{ms:.1f}" for name, ms in verdict.check_ms)
        logger.debug("%s", f"{kv('queue_id', queue_id)} {kv('check_ms', timings)}")
