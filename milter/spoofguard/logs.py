"""Logging: one key=value line per message, nothing from the body, no injected lines."""

from __future__ import annotations

import logging
import sys

from .headers import ascii_text
from .message import Message
from .verdict import Verdict

VERDICT_LOGGER = "spoofguard.verdict"


def setup(level: str = "info") -> None:
    """Log to stderr (journald adds time and unit); idempotent so reloads can call it."""
    root = logging.getLogger()
    if not any(getattr(h, "_spoofguard", False) for h in root.handlers):
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        handler._spoofguard = True  # type: ignore[attr-defined]
        root.addHandler(handler)
    root.setLevel(level.upper())


def kv(key: str, value: object) -> str:
    text = ascii_text(str(value)) if value is not None else "-"
    if not text:
        return f'{key}=""'
    if any(c in text for c in ' "=\\'):
        text = '"' + text.replace("\\", "\\\\").replace('"', '\\"') + '"'
    return f"{key}={text}"


def verdict_line(message: Message, verdict: Verdict, elapsed_ms: float) -> str:
    env = message.envelope
    signals = ",".join(
        f"{s.name}:{'error' if s.score == 0 else format(s.score, '+.1f')}" for s in verdict.moving_signals
    )
    fields = [
        kv("queue_id", env.queue_id or "NOQUEUE"),
        kv("client", env.client_ip),
        kv("mail_from", f"<{env.mail_from or ''}>"),
        kv("from", message.header("From")),
        kv("score", f"{verdict.score:.1f}"),
        kv("action", verdict.action.value),
    ]
    if verdict.intended_action:
        fields.append(kv("dry_run_action", verdict.intended_action.value))
    fields += [
        kv("signals", signals or "none"),
        kv("reason", verdict.reason),
        kv("elapsed_ms", f"{elapsed_ms:.1f}"),
    ]
    if verdict.truncated:
        fields.append(kv("scanned_bytes", verdict.scanned_bytes))
    return " ".join(fields)


def log_verdict(message: Message, verdict: Verdict, elapsed_ms: float) -> None:
    logging.getLogger(VERDICT_LOGGER).info("%s", verdict_line(message, verdict, elapsed_ms))
