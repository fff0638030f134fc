"""The known-senders memory: (recipient, sender) pairs seen in delivered mail.

Only keyed hashes are stored (HMAC-SHA256 under a per-installation secret), so the store
holds no address: a stolen cache file or a shared Redis tells nobody who writes to whom.
Several MX hosts that share a Redis must share the secret file too.
"""

from __future__ import annotations

import contextlib
import hashlib
import hmac
import os
import secrets
import tempfile
from pathlib import Path

from ...lookups.store import GuardedStore

SECRET_BYTES = 32


def load_secret(path: Path) -> bytes:
    """The installation's secret, made (0600) on first use. It is written whole to a file
    of its own and then linked into place, which fails if another process (a second
    worker starting at the same moment) got there first: every process reads one complete
    secret, never a file still being written."""
    try:
        return _read(path)
    except FileNotFoundError:
        pass
    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
    fd, draft = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)  # mode 0600
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(SECRET_BYTES))
        with contextlib.suppress(FileExistsError):
            os.link(draft, path)
    finally:
        os.unlink(draft)
    return _read(path)


def _read(path: Path) -> bytes:
    secret = path.read_bytes()
    if len(secret) < 16:
        raise ValueError(f"{path}: a secret of at least 16 bytes is needed, found {len(secret)}")
    return secret


class KnownSenders:
    def __init__(self, store: GuardedStore | None, secret: bytes, ttl_seconds: float) -> None:
        self.store = store
        self.secret = secret
        self.ttl = ttl_seconds

    @classmethod
    def off(cls) -> KnownSenders:
        """No memory: nothing is known, nothing is claimed."""
        return cls(None, b"", 0)

    def key(self, recipient: str, sender: str) -> str:
        pair = f"{recipient.lower()}\n{sender.lower()}".encode("utf-8", "surrogateescape")
        return "known:" + hmac.new(self.secret, pair, hashlib.sha256).hexdigest()

    def known(self, recipient: str, sender: str) -> bool | None:
        """True or False; None when the store could not be asked."""
        if self.store is None:
            return None
        found = self.store.get(self.key(recipient, sender))
        if found is None and self.store.failing:
            return None
        return found is not None

    def learn(self, recipient: str, sender: str) -> None:
        """Remember the pair for another ``ttl``; a failing store forgets quietly."""
        if self.store is not None:
            self.store.put(self.key(recipient, sender), b"1", self.ttl)
