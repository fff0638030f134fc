"""A persistent key-value cache for lookup results (DNS answers, registration data).

Lookups are slow and remote; their answers stay valid for minutes to days, so they are kept
across the milter's threads and restarts, and (with Redis) across several MX hosts. The
cache is an optimisation, never a dependency: every backend is wrapped in a
:class:`GuardedStore` that turns any failure into a miss and says so in the log at most
once per interval, so a full disk, a locked or corrupt database or a Redis outage costs
speed, not mail.
"""

from __future__ import annotations

import logging
import math
import os
import sqlite3
import threading
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Annotated, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from ..sections import Positive, Rule, Section, at_least
from .lru import ExpiringLru
from .ratelimit import RateLimitedLog

log = logging.getLogger(__name__)

BACKENDS = ("sqlite", "redis", "memory", "none")
DEFAULT_SQLITE_PATH = Path("/var/lib/spoofguard/cache.sqlite")  # state.dir's default
_SQLITE_MAGIC = b"SQLite format 3\x00"


def _redis_url(v: str) -> str | None:
    return None if v.startswith(("redis://", "rediss://", "unix://")) else "must be a redis://, rediss:// or unix:// URL"


class CacheSection(Section, frozen=True):
    """``[cache]``: the lookup cache shared by restarts and, with Redis, by MX hosts."""

    backend: Literal["sqlite", "redis", "memory", "none"] = "sqlite"
    path: str = ""  # the SQLite file, relative to the config file; "": <state.dir>/cache.sqlite
    redis_url: Annotated[str, Rule(_redis_url)] = "redis://127.0.0.1:6379/0"
    prefix: str = "spoofguard:"  # Redis key prefix, so one Redis can serve other things too
    max_entries: Annotated[int, at_least(100)] = 200_000  # SQLite and memory; Redis is bounded by its maxmemory
    timeout: Positive = 0.5  # Redis socket timeouts: a slow cache must not hold up mail
    warn_interval: Positive = 60.0  # a failing cache is reported at most once per this many seconds


class KeyValueStore(Protocol):
    """What a cache user needs: read a key, write one with a lifetime."""

    def get(self, key: str) -> bytes | None: ...

    def put(self, key: str, value: bytes, ttl: float) -> None: ...


class Store(KeyValueStore, Protocol):
    """A cache backend: a key-value store with a name (for logs) that can be closed."""

    name: str

    def close(self) -> None: ...


class StoreError(Exception):
    """The backend cannot be used as it is (file gone, busy); a reopen may help."""


class StoreBusy(StoreError):
    """Someone else holds the database; this passes by itself, no reopen needed."""


class StoreCorrupt(StoreError):
    """The SQLite file is not (or no longer) a database: it is moved aside on reopen."""


class MemoryStore:
    """In-process only: for tests and for hosts that want no file. Least recently used
    entries go first when ``max_entries`` is reached."""

    def __init__(self, max_entries: int = 200_000, clock: Callable[[], float] = time.monotonic) -> None:
        self.name = "memory"
        self._entries: ExpiringLru[str, bytes] = ExpiringLru(max_entries, clock)

    def get(self, key: str) -> bytes | None:
        return self._entries.get(key)

    def put(self, key: str, value: bytes, ttl: float) -> None:
        self._entries.put(key, bytes(value), ttl)

    def __len__(self) -> int:
        return len(self._entries)

    def close(self) -> None:
        self._entries.clear()


_SETUP_WAIT = 5.0  # seconds opening a SQLite store may wait for another process's lock


class SqliteStore:
    """One SQLite file, shared by the threads of this process and by later restarts.

    WAL mode lets readers go on while another process writes; ``synchronous=NORMAL`` skips
    the fsync per commit (a crash may lose the last few entries of a cache, which is fine);
    the busy timeout is short because a locked database must cost a miss, not a stalled
    message. Expired rows are ignored on read and purged every ``purge_interval`` seconds.
    The size bound is kept without a COUNT per put: puts are counted from one COUNT at open,
    and when the estimate passes ``max_entries`` the rows expiring soonest are deleted down
    to 90 %, so the real COUNT runs once per ``max_entries / 10`` puts at most.

    A single connection serialised by a lock, not one per thread: each statement takes
    microseconds, so the lock is never the bottleneck, while close and reopen (after the
    file was deleted or corrupted) stay one atomic step instead of chasing connections held
    by the threads of a pool. Waiting for the lock is bounded by the busy timeout too.
    """

    def __init__(self, path: Path, max_entries: int = 200_000, clock: Callable[[], float] = time.time,
                 *, busy_timeout: float = 0.2, purge_interval: float = 300.0,
                 check_interval: float = 1.0) -> None:
        self.path = Path(path)
        self.name = f"sqlite {self.path}"
        self._max = max(1, max_entries)
        self._clock = clock
        self._busy_timeout = busy_timeout
        self._purge_interval = purge_interval
        self._check_interval = check_interval
        self._lock = threading.Lock()
        self._conn: sqlite3.Connection | None = None
        self._identity: tuple[int, int] = (0, 0)
        self._next_check = 0.0
        self._next_purge = 0.0
        self._estimate = 0
        self._open()

    def _open(self) -> None:
        self.path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
        if not self.path.exists():
            _remove_sidecars(self.path)  # a -wal left by a deleted database would be replayed into the new one
        elif not _looks_like_sqlite(self.path):
            _move_aside(self.path)
        try:
            fd = os.open(self.path, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o640)
        except FileExistsError:
            pass  # an existing file keeps the mode its admin gave it
        else:
            os.fchmod(fd, 0o640)  # whatever the umask: lookups may name correspondents
            os.close(fd)
        # Setting up waits longer than a lookup may: the workers of one milter open the
        # file at the same moment, and switching it to WAL takes it exclusively.
        conn = sqlite3.connect(self.path, timeout=_SETUP_WAIT, isolation_level=None, check_same_thread=False)
        try:
            self._set_up(conn)
            conn.execute(f"PRAGMA busy_timeout = {int(self._busy_timeout * 1000)}")
        except BaseException:
            conn.close()
            raise
        st = os.stat(self.path)
        self._identity = (st.st_dev, st.st_ino)
        self._conn = conn
        self._next_check = time.monotonic() + self._check_interval
        self._next_purge = self._clock() + self._purge_interval

    def _set_up(self, conn: sqlite3.Connection) -> None:
        deadline = time.monotonic() + _SETUP_WAIT
        while True:
            try:
                conn.execute("PRAGMA journal_mode=WAL")  # may answer "locked" without waiting
                conn.execute("PRAGMA synchronous=NORMAL")
                conn.execute("CREATE TABLE IF NOT EXISTS cache "
                             "(key TEXT PRIMARY KEY, value BLOB, expires REAL)")
                conn.execute("CREATE INDEX IF NOT EXISTS cache_expires ON cache (expires)")
                (self._estimate,) = conn.execute("SELECT COUNT(*) FROM cache").fetchone()
                return
            except sqlite3.OperationalError as exc:
                if not _is_busy(exc) or time.monotonic() > deadline:
                    raise
                time.sleep(0.05)

    def get(self, key: str) -> bytes | None:
        with self._locked() as conn:
            row = conn.execute("SELECT value, expires FROM cache WHERE key = ?", (key,)).fetchone()
        if row is None or row[1] <= self._clock():
            return None
        return bytes(row[0])

    def put(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        now = self._clock()
        with self._locked() as conn:
            conn.execute("INSERT OR REPLACE INTO cache (key, value, expires) VALUES (?, ?, ?)",
                         (key, sqlite3.Binary(value), now + ttl))
            self._estimate += 1
            if now >= self._next_purge:
                self._next_purge = now + self._purge_interval
                conn.execute("DELETE FROM cache WHERE expires <= ?", (now,))
            if self._estimate > self._max:
                self._trim(conn, now)

    def _trim(self, conn: sqlite3.Connection, now: float) -> None:
        conn.execute("DELETE FROM cache WHERE expires <= ?", (now,))
        (count,) = conn.execute("SELECT COUNT(*) FROM cache").fetchone()
        target = self._max - self._max // 10
        if count > target:
            conn.execute("DELETE FROM cache WHERE key IN "
                         "(SELECT key FROM cache ORDER BY expires LIMIT ?)", (count - target,))
            count = target
        self._estimate = count

    def __len__(self) -> int:
        with self._locked() as conn:
            (count,) = conn.execute("SELECT COUNT(*) FROM cache WHERE expires > ?",
                                    (self._clock(),)).fetchone()
        return int(count)

    def close(self) -> None:
        with self._lock:
            conn, self._conn = self._conn, None
            if conn is not None:
                conn.close()

    @contextmanager
    def _locked(self) -> Iterator[sqlite3.Connection]:
        """The connection under the lock; waiting for the lock counts as busy too."""
        if not self._lock.acquire(timeout=self._busy_timeout):
            raise StoreBusy(f"busy: still locked after {self._busy_timeout:g} s (another process or a slow write)")
        try:
            yield self._connection()
        finally:
            self._lock.release()

    def _connection(self) -> sqlite3.Connection:
        """The open connection, after (at most every ``check_interval``) making sure the
        file is still the one it was opened on: SQLite would happily go on writing to a
        deleted or overwritten file, and nobody else would ever see those entries."""
        if self._conn is None:
            raise StoreError("the database is closed")
        if time.monotonic() >= self._next_check:
            self._next_check = time.monotonic() + self._check_interval
            try:
                st = os.stat(self.path)
            except FileNotFoundError:
                raise StoreError("the database file was removed") from None
            if (st.st_dev, st.st_ino) != self._identity:
                raise StoreError("the database file was replaced")
            if not _looks_like_sqlite(self.path):
                raise StoreCorrupt("the database file is no longer an SQLite database")
        return self._conn

    @classmethod
    def reopen(cls, current: Store, error: BaseException, path: Path, max_entries: int) -> Store:
        """The store to use after ``error``: the same one for a merely busy database, else
        a freshly opened file (a corrupt one moved aside first)."""
        if _is_busy(error):
            return current
        if _is_corrupt(error) and _same_file(path, getattr(current, "_identity", None)):
            # Only the file this store found corrupt: another worker may have moved it
            # aside already and started the fresh one that is there now.
            _move_aside(path)  # before closing, so the closing checkpoint lands in the copy
        current.close()  # before opening: its last checkpoint must not touch the new file's -wal
        return cls(path, max_entries)


class RedisStore:
    """Keys under ``prefix`` in one Redis, shared by every MX host that points at it.

    Entries expire through Redis (``SET … PX``). The size bound is Redis's own: give the
    instance a ``maxmemory`` and ``maxmemory-policy volatile-ttl`` (or ``allkeys-lru``) and
    it evicts as it fills; this class never counts keys. Socket timeouts are
    ``timeout`` and redis-py's own retries are off: a slow or absent Redis costs one
    timeout, then :class:`GuardedStore` stops asking for a while.
    """

    def __init__(self, url: str, prefix: str = "spoofguard:", timeout: float = 0.5) -> None:
        import redis
        from redis.backoff import NoBackoff
        from redis.retry import Retry

        self.name = f"redis {_redact(url)}"
        self._prefix = prefix
        self._client = redis.Redis.from_url(
            url, socket_timeout=timeout, socket_connect_timeout=timeout,
            retry=Retry(NoBackoff(), 0), retry_on_timeout=False, health_check_interval=0,
        )

    def get(self, key: str) -> bytes | None:
        value = self._client.get(self._prefix + key)
        return bytes(value) if value is not None else None  # type: ignore[arg-type]

    def put(self, key: str, value: bytes, ttl: float) -> None:
        if ttl <= 0:
            return
        self._client.set(self._prefix + key, value, px=max(1, math.ceil(ttl * 1000)))

    def close(self) -> None:
        self._client.close()


class UnavailableStore:
    """Stands in for a backend that could not be opened; every call fails with why."""

    def __init__(self, name: str, error: BaseException) -> None:
        self.name = name
        self.error = error

    def get(self, key: str) -> bytes | None:
        raise StoreError(f"not open: {self.error}")

    def put(self, key: str, value: bytes, ttl: float) -> None:
        raise StoreError(f"not open: {self.error}")

    def close(self) -> None:
        pass


Reopen = Callable[[Store, BaseException], Store]


class GuardedStore:
    """What the rest of the milter sees: a store whose failures are misses.

    Any exception from the backend becomes a miss (``get``) or nothing (``put``), counted in
    ``errors`` and logged at most once per ``interval``. After a failure the backend is left
    alone for ``backoff`` seconds, so an unreachable Redis costs one timeout, not one per
    lookup. With ``reopen`` (SQLite) a failed store is replaced by a freshly opened one, at
    most once per ``interval``.
    """

    def __init__(self, store: Store, *, reopen: Reopen | None = None, interval: float = 60.0,
                 backoff: float = 1.0, logger: logging.Logger | None = None,
                 clock: Callable[[], float] = time.monotonic, role: str = "cache") -> None:
        self._store = store
        self.name = store.name
        self.role = role  # what the log lines call it: "cache", "known-senders"
        self._reopen = reopen
        self._interval = interval
        self._backoff = backoff
        self._clock = clock
        self._logger = logger or log
        self._warnings = RateLimitedLog(self._logger, interval, clock)
        self._lock = threading.Lock()
        self._skip_until = -math.inf
        self._last_reopen = -math.inf
        self._failing = False
        self.hits = 0
        self.misses = 0
        self.errors = 0
        if isinstance(store, UnavailableStore):
            self._failed(store.error)

    @property
    def store(self) -> Store:
        return self._store

    @property
    def failing(self) -> bool:
        """The last call failed (or is being skipped): a miss now means "could not ask"."""
        with self._lock:
            return self._failing

    def get(self, key: str) -> bytes | None:
        value: bytes | None = None
        if self._clock() >= self._skip_until:
            store = self._store
            try:
                value = store.get(key)
            except Exception as exc:
                self._failed(exc, store)
            else:
                self._succeeded()
        with self._lock:
            if value is None:
                self.misses += 1
            else:
                self.hits += 1
        return value

    def put(self, key: str, value: bytes, ttl: float) -> None:
        if self._clock() < self._skip_until:
            return
        store = self._store
        try:
            store.put(key, value, ttl)
        except Exception as exc:
            self._failed(exc, store)
        else:
            self._succeeded()

    def close(self) -> None:
        try:
            self._store.close()
        except Exception as exc:
            self._logger.debug("closing %s %s: %s", self.role, self.name, exc)

    def _succeeded(self) -> None:
        if self._failing:
            self._failing = False
            self._logger.info("%s %s is working again", self.role, self.name)

    def _failed(self, exc: BaseException, store: Store | None = None) -> None:
        with self._lock:
            self.errors += 1
            if store is not None and store is not self._store:
                return  # the store this call used was just replaced by a reopen: nothing to do
            self._failing = True
            reopen = (self._reopen is not None and store is not None and store is self._store
                      and self._clock() - self._last_reopen >= self._interval)
            if reopen:
                self._last_reopen = self._clock()
            else:
                self._skip_until = self._clock() + self._backoff
        self._warnings.warning(f"{self.role}:{self.name}", "%s %s unavailable, continuing without it: %s", self.role,
                               self.name, _describe(exc))
        if reopen:
            self._replace(exc)

    def _replace(self, exc: BaseException) -> None:
        assert self._reopen is not None
        with self._lock:
            current = self._store
            try:
                fresh = self._reopen(current, exc)
            except Exception as reopen_exc:
                fresh = UnavailableStore(current.name, reopen_exc)
                self._skip_until = self._clock() + self._backoff
                self._warnings.warning(f"reopen:{self.name}", "%s %s could not be reopened: %s", self.role,
                                       self.name, _describe(reopen_exc))
            else:
                if fresh is current:
                    self._skip_until = self._clock() + self._backoff
            self._store = fresh
            if fresh is not current and not isinstance(fresh, UnavailableStore):
                self._logger.info("%s %s reopened", self.role, self.name)


def open_store(settings: CacheSection, *, path: Path | None = None, interval: float | None = None,
               backoff: float = 1.0, role: str = "cache") -> GuardedStore | None:
    """The configured cache, or None for backend "none". ``path``: the SQLite file as
    resolved against the config file (default: ``settings.path``, else DEFAULT_SQLITE_PATH).

    Never raises for an unreachable Redis or an unusable SQLite path: the store it returns
    then misses and logs, and (SQLite) tries to open the file again once per ``interval``.
    ValueError only for an unknown backend name.
    """
    if interval is None:
        interval = settings.warn_interval
    backend = settings.backend.lower()
    if backend == "none":
        return None
    if backend == "memory":
        return GuardedStore(MemoryStore(settings.max_entries), interval=interval, backoff=backoff, role=role)
    if backend == "redis":
        name = f"redis {_redact(settings.redis_url)}"
        try:
            store: Store = RedisStore(settings.redis_url, settings.prefix, settings.timeout)
        except Exception as exc:
            store = UnavailableStore(name, exc)
        return GuardedStore(store, interval=interval, backoff=backoff, role=role)
    if backend == "sqlite":
        sqlite_path = path or (Path(settings.path) if settings.path else DEFAULT_SQLITE_PATH)
        max_entries = settings.max_entries

        def reopen(current: Store, error: BaseException) -> Store:
            return SqliteStore.reopen(current, error, sqlite_path, max_entries)

        try:
            store = SqliteStore(sqlite_path, max_entries)
        except Exception as exc:
            store = UnavailableStore(f"sqlite {sqlite_path}", exc)
        return GuardedStore(store, reopen=reopen, interval=interval, backoff=backoff, role=role)
    raise ValueError(f"unknown cache backend {settings.backend!r}; expected one of {', '.join(BACKENDS)}")


def _looks_like_sqlite(path: Path) -> bool:
    """An empty file is fine (SQLite makes it a database); anything else needs the magic."""
    try:
        with open(path, "rb") as f:
            head = f.read(len(_SQLITE_MAGIC))
    except FileNotFoundError:
        return True
    return head == b"" or head == _SQLITE_MAGIC


def _move_aside(path: Path) -> None:
    """The corrupt file renamed beside itself, unless another process (a second worker)
    moved it first."""
    target = path.with_name(f"{path.name}.corrupt-{time.strftime('%Y%m%dT%H%M%S')}-{os.getpid()}")
    try:
        os.replace(path, target)
    except FileNotFoundError:
        return
    _remove_sidecars(path)
    log.warning("cache database %s is corrupt; moved it to %s and starting afresh", path, target)


def _same_file(path: Path, identity: tuple[int, int] | None) -> bool:
    try:
        st = path.stat()
    except OSError:
        return False
    return identity is None or (st.st_dev, st.st_ino) == identity


def _remove_sidecars(path: Path) -> None:
    for suffix in ("-wal", "-shm", "-journal"):
        try:
            os.unlink(f"{path}{suffix}")
        except FileNotFoundError:
            pass


def _is_busy(error: BaseException) -> bool:
    name = getattr(error, "sqlite_errorname", "")
    return isinstance(error, StoreBusy) or name.startswith(("SQLITE_BUSY", "SQLITE_LOCKED"))


def _is_corrupt(error: BaseException) -> bool:
    name = getattr(error, "sqlite_errorname", "")
    return isinstance(error, StoreCorrupt) or name.startswith(("SQLITE_CORRUPT", "SQLITE_NOTADB"))


def _describe(exc: BaseException) -> str:
    text = str(exc) or type(exc).__name__
    return text if isinstance(exc, StoreError) else f"{type(exc).__name__}: {text}"


def _redact(url: str) -> str:
    """The URL without its password, fit for the log."""
    try:
        parts = urlsplit(url)
        if parts.password is None:
            return url
        host = parts.hostname or ""
        netloc = f"{parts.username or ''}:***@{host}" + (f":{parts.port}" if parts.port else "")
        return urlunsplit(parts._replace(netloc=netloc))
    except ValueError:
        return "redis://?"
