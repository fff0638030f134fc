"""Text of PDF attachments, read by pypdf in a separate, bounded worker process.

A PDF is a program-like format: a hostile one can make a parser loop or allocate without
end. So pypdf never runs in the milter: a worker process (started on first use, kept for
the next PDF) reads one document at a time under an address-space limit, and the caller
waits at most ``timeout`` seconds before killing it. pypdf only parses; nothing in the
document (JavaScript, forms, links) is ever run or fetched.

The protocol on the worker's pipes: a 4-byte big-endian length and the PDF bytes in; a
status byte (``0`` text, ``1`` error), a 4-byte length and UTF-8 out.
"""

from __future__ import annotations

import io
import os
import select
import struct
import subprocess
import sys
import threading
import time
import typing
from dataclasses import dataclass

__all__ = ["PdfText", "PdfWorker", "read_pdf"]

MAX_PAGES = 50
MAX_CHARS = 200_000  # per document
MEMORY_LIMIT = 512 * 1024 * 1024  # address space of the worker
_FRAME = struct.Struct(">I")


@dataclass(frozen=True, slots=True)
class PdfText:
    text: str
    error: str | None = None  # why the text could not be read (None: it was)


class PdfWorker:
    """One worker process, shared by the milter's threads one document at a time."""

    def __init__(self, timeout: float = 5.0) -> None:
        self.timeout = timeout
        self._lock = threading.Lock()
        self._process: subprocess.Popen[bytes] | None = None

    def read(self, data: bytes) -> PdfText:
        if not self._lock.acquire(timeout=self.timeout):
            return PdfText("", "the PDF reader was busy")
        try:
            return self._exchange(data)
        finally:
            self._lock.release()

    def close(self) -> None:
        with self._lock:
            self._stop()

    def _exchange(self, data: bytes) -> PdfText:
        deadline = time.monotonic() + self.timeout
        try:
            process = self._start()
            assert process.stdin is not None and process.stdout is not None
            process.stdin.write(_FRAME.pack(len(data)) + data)
            process.stdin.flush()
            status = _read_exactly(process.stdout, 1, deadline)
            (size,) = _FRAME.unpack(_read_exactly(process.stdout, _FRAME.size, deadline))
            payload = _read_exactly(process.stdout, size, deadline).decode("utf-8", "replace")
        except TimeoutError:
            self._stop()
            return PdfText("", f"reading it took longer than {self.timeout:g} s")
        except (OSError, ValueError, struct.error):
            self._stop()
            return PdfText("", "the PDF reader stopped (memory limit or crash)")
        return PdfText(payload) if status == b"\x00" else PdfText("", payload[:120])

    def _start(self) -> subprocess.Popen[bytes]:
        if self._process is None or self._process.poll() is not None:
            self._process = subprocess.Popen(
                [sys.executable, "-m", "spoofguard.checks.content.pdf"],
                stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL,
                env={**os.environ, "PYTHONPATH": os.pathsep.join(p for p in sys.path if p)},
                close_fds=True,
            )
        return self._process

    def _stop(self) -> None:
        if self._process is not None:
            self._process.kill()
            self._process.wait()
            for pipe in (self._process.stdin, self._process.stdout):
                if pipe is not None:
                    pipe.close()
            self._process = None


def _read_exactly(pipe: typing.IO[bytes], size: int, deadline: float) -> bytes:
    chunks: list[bytes] = []
    while size:
        remaining = deadline - time.monotonic()
        if remaining <= 0 or not select.select([pipe], [], [], remaining)[0]:
            raise TimeoutError
        chunk = os.read(pipe.fileno(), size)
        if not chunk:
            raise OSError("worker closed its output")
        chunks.append(chunk)
        size -= len(chunk)
    return b"".join(chunks)


_shared: PdfWorker | None = None
_shared_lock = threading.Lock()


def read_pdf(data: bytes, timeout: float = 5.0) -> PdfText:
    """The text of one PDF, from the process-wide worker."""
    global _shared
    with _shared_lock:
        if _shared is None:
            _shared = PdfWorker(timeout)
        worker = _shared
    worker.timeout = timeout
    return worker.read(data)


# -- the worker side -----------------------------------------------------------------------------


def extract_text(data: bytes) -> str:
    """Text of the first ``MAX_PAGES`` pages, at most ``MAX_CHARS`` characters."""
    from pypdf import PdfReader

    reader = PdfReader(io.BytesIO(data), strict=False)
    if reader.is_encrypted:
        reader.decrypt("")  # PDFs "protected" with an empty user password open in any viewer
    texts: list[str] = []
    size = 0
    for page in reader.pages[:MAX_PAGES]:
        text = page.extract_text() or ""
        texts.append(text)
        size += len(text)
        if size >= MAX_CHARS:
            break
    return "\n".join(texts)[:MAX_CHARS]


def _serve() -> None:
    import logging
    import resource

    try:
        resource.setrlimit(resource.RLIMIT_AS, (MEMORY_LIMIT, MEMORY_LIMIT))
    except (OSError, ValueError):  # a limit already lower, or a sandbox that forbids it
        pass
    logging.disable(logging.CRITICAL)  # pypdf warns on every malformed object
    stdin, stdout = sys.stdin.buffer, sys.stdout.buffer
    while True:
        header = stdin.read(_FRAME.size)
        if len(header) < _FRAME.size:
            return
        (size,) = _FRAME.unpack(header)
        data = stdin.read(size)
        try:
            status, text = b"\x00", extract_text(data)
        except MemoryError:
            return  # the caller sees the pipe close and starts a fresh worker
        except Exception as exc:  # a malformed PDF is a result, not a crash
            status, text = b"\x01", f"the PDF could not be parsed ({type(exc).__name__})"
        encoded = text.encode("utf-8", "replace")
        stdout.write(status + _FRAME.pack(len(encoded)) + encoded)
        stdout.flush()


if __name__ == "__main__":
    _serve()
