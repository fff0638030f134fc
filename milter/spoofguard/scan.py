"""``spoofguard scan``: the milter's verdict on mail already delivered.

This is how an admin tunes thresholds on their own mail before turning quarantine on,
and how the detector is measured. Inputs are ``.eml`` files, directories (walked), Maildir
folders and mbox files, told apart by content, not by name. Every message goes through
the same ``Analyzer`` the milter uses; with ``--offline`` nothing is looked up and only
header-based sender signals count.
"""

from __future__ import annotations

import email.utils
import json
import mailbox
import multiprocessing
import os
import sys
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, TextIO

from . import config
from .actions import REPORT_HEADER, SCORE_HEADER
from .core import judge
from .message import Envelope, Message, strip_brackets
from .runtime import Runtime, build_runtime
from .verdict import SignalKind

MBOX_MAGIC = b"From "


@dataclass(frozen=True, slots=True)
class Item:
    """One message to scan: where it came from and its bytes (None: unreadable)."""

    path: str
    data: bytes | None
    error: str = ""


def iter_items(paths: list[str]) -> Iterator[Item]:
    for name in paths:
        path = Path(name)
        if not path.exists():
            yield Item(name, None, "no such file or directory")
        elif path.is_dir():
            yield from _directory(path)
        else:
            yield from _file(path)


def _directory(path: Path) -> Iterator[Item]:
    if all((path / sub).is_dir() for sub in ("cur", "new", "tmp")):
        yield from _maildir(path)
        return
    for root, dirs, files in os.walk(path):
        dirs.sort()
        here = Path(root)
        if all(sub in dirs for sub in ("cur", "new", "tmp")):
            yield from _maildir(here)
            dirs[:] = [d for d in dirs if d not in ("cur", "new", "tmp")]
        for file in sorted(files):
            if here.name in ("cur", "new", "tmp") and all((here.parent / s).is_dir() for s in ("cur", "new", "tmp")):
                continue  # already read as part of its Maildir
            yield from _file(here / file)


def _maildir(path: Path) -> Iterator[Item]:
    for sub in ("new", "cur"):
        for entry in sorted((path / sub).iterdir()) if (path / sub).is_dir() else ():
            if entry.is_file() and not entry.name.startswith("."):
                yield _read(entry)


def _file(path: Path) -> Iterator[Item]:
    try:
        with path.open("rb") as handle:
            head = handle.read(len(MBOX_MAGIC))
    except OSError as exc:
        yield Item(str(path), None, exc.strerror or str(exc))
        return
    if head == MBOX_MAGIC:
        yield from _mbox(path)
    else:
        yield _read(path)


def _mbox(path: Path) -> Iterator[Item]:
    try:
        box = mailbox.mbox(path, create=False)
        keys = list(box.keys())
    except (OSError, mailbox.Error) as exc:
        yield Item(str(path), None, f"not a readable mbox: {exc}")
        return
    for number, key in enumerate(keys, 1):
        try:
            data = box.get_bytes(key)
        except (OSError, mailbox.Error, KeyError) as exc:
            yield Item(f"{path}:{number}", None, str(exc))
            continue
        yield Item(f"{path}:{number}", data)


def _read(path: Path) -> Item:
    try:
        return Item(str(path), path.read_bytes())
    except OSError as exc:
        return Item(str(path), None, exc.strerror or str(exc))


def envelope_of(message: Message, delivered: bool = False) -> Envelope:
    """What the MTA would have known, recovered from delivery headers."""
    return_path = message.header("Return-Path")
    recipients = [message.header(h) for h in ("Delivered-To", "X-Original-To")]
    rcpts = [strip_brackets(r) for r in recipients if r]
    if not rcpts:
        rcpts = [a for _, a in email.utils.getaddresses([h.value for h in message.header_all("To")]) if "@" in a]
    return Envelope(mail_from=strip_brackets(return_path) if return_path else None, rcpts=rcpts[:50],
                    delivered=delivered)


# -- analysis, in this process or a worker -----------------------------------------------------

_runtime: Runtime | None = None
_delivered = False


def _init_worker(config_path: str | None, offline: bool, delivered: bool = False) -> None:
    global _runtime, _delivered
    _runtime = build_runtime(config.load(config_path), offline=offline)
    _delivered = delivered


def analyze_item(item: Item) -> dict[str, Any]:
    """The JSON record of one message; an unreadable or failing message is a record too."""
    if item.data is None:
        return {"path": item.path, "error": item.error}
    runtime = _runtime
    assert runtime is not None, "worker not initialised"
    try:
        message = Message.from_bytes(item.data, limits=runtime.settings.analysis.body_limits())
        message.envelope = envelope_of(message, _delivered)
        verdict = judge(runtime.analyzer, message, runtime.new_session())
    except Exception as exc:  # one bad message must not end the scan
        return {"path": item.path, "error": f"{type(exc).__name__}: {exc}"}
    record = verdict.to_dict()
    action = verdict.intended_action or verdict.action
    found = {
        "path": item.path,
        "score": record["score"],
        "action": action.value,
        "categories": record["categories"],
        "degraded": record["degraded"],
        "signals": [{"name": s.name, "score": s.score, "kind": s.kind.value, "detail": s.detail}
                    for s in verdict.signals if s.score or s.kind is SignalKind.ERROR],
    }
    if _delivered:  # what this host said when it delivered the message, beside today's verdict
        found["delivered"] = {name: message.header(name) for name in (SCORE_HEADER, REPORT_HEADER)
                              if message.header(name)}
    return found


# -- the summary ---------------------------------------------------------------------------


@dataclass
class Summary:
    messages: int = 0
    errors: list[str] = field(default_factory=list)
    actions: Counter[str] = field(default_factory=Counter)
    categories: Counter[str] = field(default_factory=Counter)
    signals: Counter[str] = field(default_factory=Counter)

    def add(self, record: dict[str, Any]) -> None:
        if "error" in record:
            self.errors.append(f"{record['path']}: {record['error']}")
            return
        self.messages += 1
        self.actions[record["action"]] += 1
        self.categories.update(record["categories"])
        self.signals.update(s["name"] for s in record["signals"] if s["score"])

    def to_dict(self) -> dict[str, Any]:
        return {"messages": self.messages, "errors": len(self.errors), "actions": dict(self.actions),
                "categories": dict(self.categories), "top_signals": dict(self.signals.most_common(10))}


def print_summary(summary: Summary, stream: TextIO) -> None:
    from rich.console import Console
    from rich.table import Table

    console = Console(file=stream, width=max(100, Console(file=stream).width))
    console.print(f"spoofguard scan: {summary.messages} message(s), {len(summary.errors)} unreadable",
                  markup=False, highlight=False)
    table = Table()
    table.add_column("")
    table.add_column("name")
    table.add_column("messages", justify="right")
    for action in ("accept", "tag", "quarantine", "reject", "tempfail"):
        if summary.actions.get(action):
            table.add_row("action", action, str(summary.actions[action]))
    for category, count in summary.categories.most_common():
        table.add_row("category", category, str(count))
    for name, count in summary.signals.most_common(10):
        table.add_row("top signal", name, str(count))
    console.print(table)
    for error in summary.errors[:20]:
        console.print(f"unreadable: {error}", markup=False, highlight=False)


# -- the command ----------------------------------------------------------------------------


EXIT_OK = 0
EXIT_UNREADABLE = 4


def run(paths: list[str], *, config_path: str | None, offline: bool, as_json: bool, workers: int,
        out: TextIO = sys.stdout, err: TextIO = sys.stderr, delivered: bool = False) -> int:
    config.load(config_path)  # a bad configuration stops here, with its message
    items = iter_items(paths)
    summary = Summary()
    progress = _progress(err) if err.isatty() else None
    task = progress.add_task("scanning", total=None) if progress else None

    def emit(record: dict[str, Any]) -> None:
        summary.add(record)
        if as_json:
            out.write(json.dumps(record, ensure_ascii=False) + "\n")
        if progress is not None and task is not None:
            progress.advance(task)

    if progress:
        progress.start()
    try:
        if workers > 1:
            context = multiprocessing.get_context("forkserver")
            with context.Pool(workers, initializer=_init_worker, initargs=(config_path, offline, delivered)) as pool:
                for record in pool.imap(analyze_item, items, chunksize=8):
                    emit(record)
        else:
            _init_worker(config_path, offline, delivered)
            for item in items:
                emit(analyze_item(item))
    finally:
        if progress:
            progress.stop()
    print_summary(summary, err if as_json else out)
    return EXIT_UNREADABLE if summary.errors else EXIT_OK


def _progress(stream: TextIO) -> Any:
    from rich.console import Console
    from rich.progress import (
        MofNCompleteColumn,
        Progress,
        SpinnerColumn,
        TextColumn,
        TimeElapsedColumn,
    )

    return Progress(SpinnerColumn(), TextColumn("{task.description}"), MofNCompleteColumn(), TimeElapsedColumn(),
                    console=Console(file=stream), transient=True)
