"""Ways an admin, a full disk or another program breaks a SQLite cache file under a
running process: held locked by someone else, or its content destroyed in place."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

_LOCKER = """
import sqlite3, sys
conn = sqlite3.connect(sys.argv[1], isolation_level=None)
conn.execute("BEGIN EXCLUSIVE")
conn.execute("INSERT OR REPLACE INTO cache VALUES ('locker', x'00', 1e12)")
print("locked", flush=True)
sys.stdin.read()
conn.execute("ROLLBACK")
"""


@contextmanager
def locked_by_another_process(path: Path) -> Iterator[None]:
    """Another process holds an exclusive write transaction on ``path`` until the block ends."""
    locker = subprocess.Popen([sys.executable, "-c", _LOCKER, str(path)],
                              stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert locker.stdout is not None
        if locker.stdout.readline().strip() != "locked":
            raise RuntimeError(f"could not lock {path}")
        yield
    finally:
        assert locker.stdin is not None
        locker.stdin.close()
        locker.wait(5)


def overwrite_with_garbage(path: Path) -> None:
    """The same file (same inode, still open elsewhere), its content destroyed."""
    size = path.stat().st_size
    with open(path, "r+b") as f:
        f.write(os.urandom(max(size, 4096)))
