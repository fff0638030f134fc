"""The lookup cache on real backends: SQLite files, a private redis-server, and DNS answers
shared through it by two clients on the loopback DNS server.

One behaviour suite runs on every backend; the fault tests break the backend for real
(delete, lock or overwrite the file, stop Redis) and check that mail would not notice:
no exception, at worst a miss, and one warning rather than one per call.
"""

from __future__ import annotations

import logging
import os
import sqlite3
import stat
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path

import pytest

from spoofguard.lookups.dns import DnsAnswer, DnsCache, DnsClient, DnsSection, DnsStatus
from spoofguard.lookups.store import (
    CacheSection,
    GuardedStore,
    MemoryStore,
    SqliteStore,
    StoreCorrupt,
    open_store,
)
from tests.support.dns_server import LoopbackDNS, wait_until
from tests.support.redis_server import RedisServer, redis_available
from tests.support.sqlite_faults import locked_by_another_process, overwrite_with_garbage

needs_redis = pytest.mark.skipif(not redis_available(), reason="redis-server is not installed (make test installs it)")
STORE_LOGGER = "spoofguard.lookups.store"

Opener = Callable[..., GuardedStore]


@pytest.fixture(scope="module")
def redis_server() -> Iterator[RedisServer]:
    if not redis_available():
        pytest.skip("redis-server is not installed")
    with RedisServer() as server:
        yield server


def _opener(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> Opener:
    """Opens (and on the next call reopens) the same cache: same file, same Redis prefix."""
    prefix = f"test-{uuid.uuid4().hex[:8]}:"
    opened: list[GuardedStore] = []

    def open_(**overrides: object) -> GuardedStore:
        fields: dict[str, object] = {"backend": backend, "path": tmp_path / "cache.sqlite", "prefix": prefix}
        if backend == "redis":
            fields["redis_url"] = request.getfixturevalue("redis_server").url
        fields.update(overrides)
        store = open_store(CacheSection(**fields))  # type: ignore[arg-type]
        assert store is not None
        opened.append(store)
        return store

    def close_all() -> None:
        for store in opened:
            store.close()

    request.addfinalizer(close_all)
    return open_


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs_redis), "memory"])
def opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return _opener(request.param, tmp_path, request)


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs_redis)])
def persistent_opener(request: pytest.FixtureRequest, tmp_path: Path) -> Opener:
    return _opener(request.param, tmp_path, request)


def warnings_about(caplog: pytest.LogCaptureFixture, text: str = "unavailable") -> list[str]:
    return [r.getMessage() for r in caplog.records
            if r.levelno == logging.WARNING and r.name == STORE_LOGGER and text in r.getMessage()]


def round_trips(store: GuardedStore, key: str) -> bool:
    store.put(key, b"back", 60)
    return store.get(key) == b"back"


# --- the same behaviour on every backend -----------------------------------------------


def test_round_trip(opener: Opener) -> None:
    store = opener()
    assert store.get("k") is None
    store.put("k", b"value", 60)
    assert store.get("k") == b"value"
    assert (store.hits, store.misses, store.errors) == (1, 1, 0)


def test_entries_expire_after_their_ttl(opener: Opener) -> None:
    store = opener()
    store.put("short", b"1", 0.3)
    store.put("long", b"2", 60)
    assert store.get("short") == b"1"
    time.sleep(0.45)
    assert store.get("short") is None
    assert store.get("long") == b"2"


def test_a_zero_ttl_stores_nothing(opener: Opener) -> None:
    store = opener()
    store.put("k", b"v", 0)
    assert store.get("k") is None


def test_overwrite_replaces_value_and_ttl(opener: Opener) -> None:
    store = opener()
    store.put("k", b"old", 0.3)
    store.put("k", b"new", 60)
    time.sleep(0.45)
    assert store.get("k") == b"new"


def test_binary_values_round_trip_exactly(opener: Opener) -> None:
    store = opener()
    values = {"all-bytes": bytes(range(256)) * 40, "nul": b"\x00", "empty": b"", "utf8": "é✓".encode()}
    for key, value in values.items():
        store.put(key, value, 60)
    for key, value in values.items():
        assert store.get(key) == value


def test_concurrent_threads_see_consistent_values(opener: Opener) -> None:
    store = opener()
    failures: list[str] = []
    shared_values = {f"shared-{i}".encode() for i in range(8)}

    def worker(n: int) -> None:
        try:
            for j in range(500):
                own = f"t{n}:{j % 25}"
                value = f"{n}:{j}".encode()
                store.put(own, value, 60)
                if store.get(own) != value:
                    failures.append(f"{own} lost {value!r}")
                if j % 10 == 0:
                    store.put("shared", f"shared-{n}".encode(), 60)
                seen = store.get("shared")
                if seen is not None and seen not in shared_values:
                    failures.append(f"shared holds {seen!r}")
        except Exception as exc:  # pragma: no cover - that is the failure being looked for
            failures.append(repr(exc))

    threads = [threading.Thread(target=worker, args=(n,)) for n in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert failures == []
    assert store.errors == 0
    assert store.get("t7:24") == b"7:499"


def test_entries_survive_reopening(persistent_opener: Opener) -> None:
    first = persistent_opener()
    first.put("kept", b"across restarts", 60)
    first.close()
    assert persistent_opener().get("kept") == b"across restarts"


@pytest.mark.parametrize("backend", ["sqlite", "memory"])
def test_size_bound_keeps_the_newest(backend: str, tmp_path: Path, request: pytest.FixtureRequest) -> None:
    store = _opener(backend, tmp_path, request)(max_entries=100)
    inner = store.store
    assert isinstance(inner, (SqliteStore, MemoryStore))
    for i in range(300):
        store.put(f"k{i}", b"x", 60 + i)  # later puts expire later, as in real use
        assert len(inner) <= 100
    assert 80 <= len(inner) <= 100
    assert store.get("k299") == b"x" and store.get("k250") == b"x"
    assert store.get("k0") is None and store.get("k150") is None


# --- SQLite specifics ------------------------------------------------------------------


class FakeClock:
    def __init__(self, now: float = 1_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def test_sqlite_expiry_follows_the_injected_clock_and_purges(tmp_path: Path) -> None:
    clock = FakeClock()
    path = tmp_path / "c.sqlite"
    store = SqliteStore(path, clock=clock, purge_interval=100)
    store.put("a", b"1", 50)
    store.put("b", b"2", 500)
    clock.now += 60
    assert store.get("a") is None and store.get("b") == b"2"
    clock.now += 100  # past the purge interval: the next put deletes expired rows
    store.put("c", b"3", 500)
    with sqlite3.connect(path) as raw:
        assert sorted(k for (k,) in raw.execute("SELECT key FROM cache")) == ["b", "c"]
    store.close()


def test_sqlite_file_is_private_and_in_wal_mode(tmp_path: Path) -> None:
    old = os.umask(0o002)
    try:
        store = SqliteStore(tmp_path / "sub" / "c.sqlite")
    finally:
        os.umask(old)
    store.put("k", b"v", 60)
    assert stat.S_IMODE(os.stat(store.path).st_mode) == 0o640
    with sqlite3.connect(store.path) as raw:
        assert raw.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
    store.close()


# --- faults ------------------------------------------------------------------------------


def sqlite_store(tmp_path: Path, **kw: float) -> tuple[GuardedStore, Path]:
    path = tmp_path / "cache.sqlite"
    store = open_store(CacheSection(backend="sqlite", path=str(path)), **kw)
    assert store is not None
    return store, path


def test_sqlite_file_deleted_while_open_is_recreated(tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, path = sqlite_store(tmp_path)
    store.put("before", b"1", 60)
    os.unlink(path)
    deadline = time.monotonic() + 1.5  # past the store's one-second check of its file
    while time.monotonic() < deadline:
        store.put("after", b"2", 60)
        store.get("after")
        time.sleep(0.05)
    assert path.exists()
    store.put("after", b"2", 60)
    reader = SqliteStore(path)
    assert reader.get("after") == b"2"  # written to the new file, where others can see it
    reader.close()
    assert store.errors >= 1
    assert len(warnings_about(caplog, "removed")) == 1


def test_sqlite_locked_by_another_process_costs_a_miss_and_one_warning(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, path = sqlite_store(tmp_path, backoff=0.2)
    store.put("before", b"1", 60)
    inner = store.store
    with locked_by_another_process(path):
        deadline = time.monotonic() + 1.5
        calls = 0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            store.put(f"k{calls}", b"v", 60)
            assert store.get("before") in (b"1", None)  # WAL: readers are not blocked by a writer
            assert store.get(f"k{calls}") is None
            assert time.perf_counter() - started < 0.5
            calls += 1
        assert store.errors >= 2  # failed more than once: the warning was held back, not the tries
        assert len(warnings_about(caplog)) == 1
        assert store.store is inner  # busy is not broken: no reopen
    assert wait_until(lambda: round_trips(store, "later"), timeout=3)


def test_sqlite_file_overwritten_with_garbage_is_moved_aside(
        tmp_path: Path, caplog: pytest.LogCaptureFixture) -> None:
    store, path = sqlite_store(tmp_path)
    for i in range(50):
        store.put(f"k{i}", b"v" * 100, 60)
    overwrite_with_garbage(path)
    time.sleep(1.1)
    deadline = time.monotonic() + 1.0
    while time.monotonic() < deadline:
        store.put("fresh", b"new", 60)
        store.get("fresh")
    assert store.get("fresh") == b"new"
    assert len(list(tmp_path.glob("cache.sqlite.corrupt-*"))) == 1
    assert path.read_bytes()[:16] == b"SQLite format 3\x00"
    assert store.get("k0") is None  # a fresh database, not the damaged one
    assert len(warnings_about(caplog, "corrupt")) >= 1


def _open_and_use(path: Path) -> bytes | None:
    store = SqliteStore(path, 1000)
    store.put(f"pid-{os.getpid()}", b"1", 60)
    return store.get(f"pid-{os.getpid()}")


def test_workers_opening_a_new_file_at_once_all_get_the_database(tmp_path: Path) -> None:
    """The workers of one milter start together and open the same new file: each one
    waits its turn to set it up (WAL needs it exclusively) instead of giving up."""
    import multiprocessing

    context = multiprocessing.get_context("fork")
    for round_no in range(10):
        path = tmp_path / f"cache-{round_no}.sqlite"
        with context.Pool(8) as pool:
            assert pool.map(_open_and_use, [path] * 8) == [b"1"] * 8


def test_two_workers_on_one_garbled_file_start_one_fresh_database(tmp_path: Path) -> None:
    """Two worker processes' stores on one file, which is overwritten with garbage, and
    both find it corrupt. The first to reopen moves it aside and starts afresh; the second,
    reopening after it, uses that fresh database instead of moving it aside as well."""
    path = tmp_path / "cache.sqlite"
    first, second = SqliteStore(path, 1000), SqliteStore(path, 1000)
    first.put("k", b"v", 60)
    overwrite_with_garbage(path)
    found = StoreCorrupt("the database file is no longer an SQLite database")
    first = SqliteStore.reopen(first, found, path, 1000)
    first.put("shared", b"1", 60)
    second = SqliteStore.reopen(second, found, path, 1000)
    assert second.get("shared") == b"1"  # both on the one new database
    assert len(list(tmp_path.glob("cache.sqlite.corrupt-*"))) == 1


def test_garbage_file_at_startup_is_moved_aside(tmp_path: Path) -> None:
    path = tmp_path / "cache.sqlite"
    path.write_bytes(b"this is not a database\n" * 200)
    store, _ = sqlite_store(tmp_path)
    store.put("k", b"v", 60)
    assert store.get("k") == b"v" and store.errors == 0
    assert len(list(tmp_path.glob("cache.sqlite.corrupt-*"))) == 1


def test_unwritable_sqlite_path_gives_a_store_that_misses(caplog: pytest.LogCaptureFixture) -> None:
    store = open_store(CacheSection(backend="sqlite", path="/proc/x/cache.db"), backoff=0)
    assert store is not None
    for _ in range(5):
        store.put("k", b"v", 60)
        assert store.get("k") is None
    assert store.errors >= 1
    assert len(warnings_about(caplog)) == 1


@needs_redis
def test_unreachable_redis_at_open_gives_a_store_that_misses(caplog: pytest.LogCaptureFixture) -> None:
    port = RedisServer().port  # a free port nobody listens on
    store = open_store(CacheSection(backend="redis", redis_url=f"redis://127.0.0.1:{port}/0"))
    assert store is not None
    store.put("k", b"v", 60)
    assert store.get("k") is None
    assert len(warnings_about(caplog)) == 1


@needs_redis
def test_redis_outage_costs_misses_and_one_warning_then_hits_resume(
        caplog: pytest.LogCaptureFixture) -> None:
    with RedisServer() as server:
        store = open_store(CacheSection(backend="redis", redis_url=server.url), backoff=0.1)
        assert store is not None
        store.put("k", b"v", 60)
        assert store.get("k") == b"v"
        server.stop()
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline:
            started = time.perf_counter()
            assert store.get("k") is None
            store.put("k", b"v", 60)
            assert time.perf_counter() - started < 1.2
        assert store.errors >= 2
        assert len(warnings_about(caplog)) == 1
        server.start()
        assert wait_until(lambda: round_trips(store, "k2"), timeout=5)
        store.close()


def test_backend_names() -> None:
    assert open_store(CacheSection(backend="none")) is None
    with pytest.raises(ValueError, match="unknown cache backend"):
        open_store(CacheSection(backend="memcached"))


# --- DNS answers through the shared tier ---------------------------------------------


@pytest.fixture(params=["sqlite", pytest.param("redis", marks=needs_redis)])
def shared_store(request: pytest.FixtureRequest, tmp_path: Path) -> GuardedStore:
    return _opener(request.param, tmp_path, request)()


def dns_client(server: LoopbackDNS, store: GuardedStore) -> DnsClient:
    return DnsClient(DnsSection(nameservers=("127.0.0.1",), port=server.port, timeout=1.0), store=store)


def test_second_client_is_answered_from_the_shared_store(shared_store: GuardedStore) -> None:
    with LoopbackDNS() as server:
        server.add_txt("sender.test", "v=spf1 -all", ttl=600)
        first, second = dns_client(server, shared_store), dns_client(server, shared_store)
        answer = first.query("sender.test", "TXT")
        assert answer.ok and answer.records == ("v=spf1 -all",)
        again = second.query("Sender.Test.", "TXT")
        assert again.status is DnsStatus.OK and again.records == answer.records
        assert 590 <= again.ttl <= 600
        assert server.count("sender.test", "TXT") == 1
        assert second.cache.store_hits == 1
        assert second.query("sender.test", "TXT") == again  # now from the second's memory
        assert second.cache.store_hits == 1

        assert first.query("missing.test", "A").status is DnsStatus.NXDOMAIN
        assert second.query("missing.test", "A").status is DnsStatus.NXDOMAIN
        assert server.count("missing.test", "A") == 1


def test_temporary_errors_are_not_stored(shared_store: GuardedStore) -> None:
    with LoopbackDNS(mode="servfail") as server:
        first, second = dns_client(server, shared_store), dns_client(server, shared_store)
        assert first.query("flaky.test", "TXT").status is DnsStatus.TEMPERROR
        assert shared_store.get("dns:flaky.test:TXT") is None
        assert second.query("flaky.test", "TXT").status is DnsStatus.TEMPERROR
        assert server.count("flaky.test", "TXT") == 2


def test_stored_answer_is_kept_only_for_its_remaining_ttl(tmp_path: Path) -> None:
    store, _ = sqlite_store(tmp_path)
    settings = DnsSection()
    wall = FakeClock(float(int(time.time())))
    writer = DnsCache(settings, store=store, wall_clock=wall)
    writer.put(("a.test", "A"), DnsAnswer(DnsStatus.OK, ("192.0.2.1",), 300))

    wall.now += 290
    mono = FakeClock(0.0)
    reader = DnsCache(settings, clock=mono, store=store, wall_clock=wall)
    cached = reader.get(("a.test", "A"))
    assert cached is not None and cached.records == ("192.0.2.1",) and cached.ttl == 10
    mono.now += 11  # the memory copy got the remaining ten seconds, not 300
    wall.now += 11
    assert reader.get(("a.test", "A")) is None
