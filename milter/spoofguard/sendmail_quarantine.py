"""Sendmail's quarantine: messages a milter held with ``smfi_quarantine``.

Sendmail keeps a quarantined envelope in its queue as an ``hf`` file (a ``qf`` file that
queue runs skip) beside the body's ``df`` file, with the reason on a ``q`` line. Its own
tools list them (``mailq -qQ``) but cut the reason to a column and print no sender,
subject or score in a form to parse, so listing reads the ``hf`` files directly (a
documented, line-oriented format: ``T`` arrival, ``S`` sender, ``R`` recipients, ``H``
headers). Releasing goes through Sendmail itself (``-qQ -Q -qI<id>`` clears the
quarantine, then ``-qI<id>`` delivers), so its locking and logging apply; deleting takes
the same exclusive lock Sendmail takes on a queue file, then removes the files.
"""

from __future__ import annotations

import fcntl
import os
import re
from collections.abc import Iterable
from pathlib import Path

from .quarantine import Held, QuarantineError, oldest_first, run_tool, with_headers

SYSTEM_CF = Path("/etc/mail/sendmail.cf")
_QUEUE_ID = re.compile(r"[0-9A-Za-z]{8,20}")
_QUEUE_DIRECTORY = re.compile(r"^O\s*QueueDirectory\s*=\s*(\S+)", re.M)


class SendmailQuarantine:
    """The quarantined envelopes of the Sendmail that ``cf`` configures."""

    def __init__(self, cf: str | Path | None = None, sendmail: str = "/usr/sbin/sendmail") -> None:
        self.cf = Path(cf) if cf else SYSTEM_CF
        self.sendmail = sendmail
        try:
            found = _QUEUE_DIRECTORY.search(self.cf.read_text(errors="replace"))
        except OSError as exc:
            raise QuarantineError(f"cannot read {self.cf}: {exc.strerror}") from exc
        if not found:
            raise QuarantineError(f"{self.cf} names no QueueDirectory")
        self.queue_dir = Path(found.group(1).split("*")[0].rstrip("/"))  # "mqueue/q*": queue groups

    def submit_command(self) -> list[str]:
        return [self.sendmail, "-C", str(self.cf)]

    # -- reading ----------------------------------------------------------------------

    def held(self, older_than: float | None = None) -> list[Held]:
        return oldest_first((entry for path in self._hf_files() if (entry := self._entry(path)) is not None),
                            older_than)

    def show(self, queue_id: str) -> str:
        hf = self._find(queue_id)
        head = self._headers(hf.read_bytes())
        try:
            body = (hf.parent / f"df{queue_id}").read_bytes()
        except OSError:
            body = b""
        return (head + b"\n" + body).decode("utf-8", "surrogateescape")

    # -- changing ---------------------------------------------------------------------

    def release(self, queue_ids: Iterable[str]) -> list[str]:
        done = []
        for queue_id in queue_ids:
            self._find(queue_id)
            self._run("-qQ", "-Q", f"-qI{queue_id}")  # no reason: unquarantine
            self._run(f"-qI{queue_id}")  # and deliver it now
            done.append(queue_id)
        return done

    def delete(self, queue_ids: Iterable[str]) -> list[str]:
        done = []
        for queue_id in queue_ids:
            hf = self._find(queue_id)
            with hf.open("rb") as handle:
                try:
                    fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
                except OSError:
                    raise QuarantineError(f"{queue_id} is in use by Sendmail; try again") from None
                for kind in ("df", "xf"):
                    (hf.parent / f"{kind}{queue_id}").unlink(missing_ok=True)
                hf.unlink()  # last: the envelope goes with its body, never before it
            done.append(queue_id)
        return done

    # -- plumbing ---------------------------------------------------------------------

    def _hf_files(self) -> list[Path]:
        dirs = [self.queue_dir, *(d for d in self.queue_dir.glob("*") if d.is_dir())]
        return [p for d in dirs for p in d.glob("hf*") if p.is_file()]

    def _find(self, queue_id: str) -> Path:
        """The quarantined envelope (hf file) of ``queue_id``."""
        if not _QUEUE_ID.fullmatch(queue_id):
            raise QuarantineError(f"{queue_id!r} is not a Sendmail queue id")
        for path in self._hf_files():
            if path.name == f"hf{queue_id}":
                return path
        raise QuarantineError(f"{queue_id}: no quarantined message with this id")

    def _entry(self, hf: Path) -> Held | None:
        try:
            data = hf.read_bytes()
            size = (hf.parent / f"df{hf.name[2:]}").stat().st_size
        except OSError:
            return None  # delivered or deleted while we looked
        arrival, sender, recipients = 0.0, "", []
        for line in data.decode("utf-8", "surrogateescape").splitlines():
            if line.startswith("T") and line[1:].isdigit():
                arrival = float(line[1:])
            elif line.startswith("S"):
                sender = line[1:].strip("<>")
            elif line.startswith("R"):
                recipients.append(line[1:].split(":", 1)[-1].strip("<>"))
        return with_headers(Held(hf.name[2:], arrival, sender, tuple(recipients), size), self._headers(data))

    @staticmethod
    def _headers(data: bytes) -> bytes:
        """The message's header block from the ``H`` lines: ``H?flags?Name: value``,
        continuation lines kept. Lines holding an unexpanded macro (byte 0x81, such as
        the ``Return-Path: <$g>`` template) are Sendmail's, filled in at delivery."""
        out: list[bytes] = []
        keep = False
        for line in data.split(b"\n"):
            if line.startswith(b"H") and b"\x81" not in line:
                field = line[1:]
                if field.startswith(b"?"):
                    field = field[field.index(b"?", 1) + 1:] if b"?" in field[1:] else field
                out.append(field)
                keep = True
            elif keep and line[:1] in (b"\t", b" "):
                out.append(line)
            else:
                keep = False
        return b"\n".join(out) + b"\n"

    def _run(self, *args: str) -> str:
        return run_tool(self.submit_command(), args, timeout=120, env={**os.environ, "LC_ALL": "C"})
