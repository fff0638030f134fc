"""The pymilter adapter: collect the transaction into a Message, hand it to the core at
end-of-message, and apply the resulting Plan. No decisions are made here.

Every collecting callback is negotiated as no-reply and the ones we do not use are not
called at all, so the MTA waits on us only once per message.
"""

from __future__ import annotations

import functools
import logging
import os
import signal
import socket
import threading
import time
from typing import Any, ClassVar

import Milter
import milter as libmilter

from . import config, listeners, logs
from .actions import Deliver, Plan, Refuse, plan
from .assembly import build_store
from .checks import Stage
from .core import Analyzer, failure_verdict, judge
from .edits import AddHeader
from .held import MAX_RECORDS, HeldRecords, held_head
from .lookups import LookupSession
from .message import Envelope, Message, strip_brackets
from .metrics import Metrics
from .runtime import Runtime, RuntimeHolder, build_runtime
from .workers import Link, Supervisor, worker_count

log = logging.getLogger(__name__)



class OpenConnections:
    """MTA connections in progress, counted from negotiation to close. A stopping process
    ends libmilter's loop only when none is left (``Drain``): pymilter stops serving the
    connections still open once the loop has ended."""

    def __init__(self) -> None:
        self._count = 0
        self._lock = threading.Lock()

    def opened(self) -> None:
        with self._lock:
            self._count += 1

    def closed(self) -> None:
        with self._lock:
            self._count -= 1

    @property
    def count(self) -> int:
        return self._count


class Drain:
    """When a stopping process may end libmilter's loop: once no MTA connection has been
    open for a moment (an accepted connection becomes a milter object at negotiation, a
    few milliseconds later), or when ``timeout`` runs out."""

    SETTLE = 0.3  # seconds with no connection open

    def __init__(self, connections: OpenConnections, timeout: float) -> None:
        self.connections = connections
        self.timeout = timeout
        self.started: float | None = None
        self.idle_since: float | None = None
        self.left = 0

    def done(self) -> bool:
        now = time.monotonic()
        if self.started is None:
            self.started = now
        if self.connections.count > 0:
            self.idle_since = None
        elif self.idle_since is None:
            self.idle_since = now
        if self.idle_since is not None and now - self.idle_since >= self.SETTLE:
            return True
        if now - self.started >= self.timeout:
            self.left = self.connections.count
            return True
        return False


class SpoofguardMilter(Milter.Base):
    """One instance per SMTP connection (libmilter calls it from that connection's thread;
    pymilter makes it at negotiation, right after the accept)."""

    holder: ClassVar[RuntimeHolder]
    metrics: ClassVar[Metrics | None] = None
    held: ClassVar[HeldRecords] = HeldRecords(None)
    connections: ClassVar[OpenConnections] = OpenConnections()

    def __init__(self) -> None:
        self.connections.opened()
        self._open = True
        self.runtime: Runtime = self.holder.current
        self.connection = Envelope()
        self.session: LookupSession | None = None
        self.message: Message | None = None

    # -- collecting callbacks: no reply, never fail the transaction ---------------------

    @Milter.noreply
    def connect(self, hostname: str, family: int, hostaddr: Any) -> int:
        ip = hostaddr[0] if family in (socket.AF_INET, socket.AF_INET6) and hostaddr else None
        self.connection = Envelope(client_ip=ip, client_name=hostname)
        self.session = self.runtime.new_session()
        self._prefetch(Stage.CONNECT, Message(envelope=self.connection))
        return Milter.CONTINUE

    @Milter.noreply
    def hello(self, heloname: str) -> int:
        self.connection.helo = heloname
        return Milter.CONTINUE

    @Milter.noreply
    def envfrom(self, mailfrom: str, *esmtp: str) -> int:
        # A new transaction: fresh message and budget, the connection's lookups are kept.
        self.runtime = self.holder.current
        env = self.connection
        envelope = Envelope(env.client_ip, env.client_name, env.helo, strip_brackets(mailfrom),
                            auth_user=self._macro("{auth_authen}"))
        envelope.queue_id = self._macro("i")  # Postfix and Sendmail send it with MAIL FROM
        self.message = Message(envelope=envelope, limits=self.runtime.settings.analysis.body_limits())
        if self.session is None:
            self.session = self.runtime.new_session()
        else:
            self.session.restart_budget()
        with logs.about(envelope.queue_id):
            self._prefetch(Stage.MAIL, self.message)
        return Milter.CONTINUE

    @Milter.noreply
    def envrcpt(self, to: str, *esmtp: str) -> int:
        if self.message is not None:
            self.message.envelope.rcpts.append(strip_brackets(to))
        return Milter.CONTINUE

    @Milter.noreply
    def header(self, name: str, value: str) -> int:
        if self.message is not None:
            self.message.add_header(name, value)
        return Milter.CONTINUE

    @Milter.noreply
    def eoh(self) -> int:
        if self.message is not None:
            with logs.about(self.message.envelope.queue_id):
                self._prefetch(Stage.HEADERS, self.message)
        return Milter.CONTINUE

    @Milter.noreply
    def body(self, chunk: bytes) -> int:
        if self.message is not None:
            self.message.add_body(chunk)  # past analysis.max_body bytes are counted, not kept
        return Milter.CONTINUE

    def abort(self) -> int:
        self._drop_message()
        return Milter.CONTINUE

    def close(self) -> int:
        try:
            self._drop_message()
            self.session = None
        finally:
            if self._open:
                self._open = False
                self.connections.closed()
        return Milter.CONTINUE

    def _drop_message(self) -> None:
        """Forget the transaction; its spool file goes now, not at garbage collection."""
        if self.message is not None:
            self.message.close()
        self.message = None

    # -- the one answer ---------------------------------------------------------------

    def eom(self) -> int:
        started = time.perf_counter()
        message = self.message or Message(envelope=self.connection)
        message.envelope.queue_id = self._macro("i") or message.envelope.queue_id
        with logs.about(message.envelope.queue_id):
            return self._end_of_message(message, started)

    def _end_of_message(self, message: Message, started: float) -> int:
        policy = self.runtime.analyzer.policy
        try:
            session = self.session or self.runtime.new_session()
            verdict = judge(self.runtime.analyzer, message, session)
        except Exception as exc:
            log.exception("analysis failed")
            verdict = failure_verdict(policy, exc)
        try:
            changes = plan(verdict, message, self.runtime.actions)
            result = self._apply(changes)
            if isinstance(changes, Deliver) and changes.quarantine:
                self._remember_hold(message, changes)
        except Exception:
            log.exception("could not apply the verdict")
            result = Milter.TEMPFAIL if policy.on_error == "tempfail" else Milter.ACCEPT
        if result == Milter.ACCEPT:
            self.runtime.analyzer.learn(message, verdict)
        logs.log_verdict(message, verdict, (time.perf_counter() - started) * 1000)
        if self.metrics is not None:
            try:
                self.metrics.observe(verdict)
            except Exception:  # metrics must never cost a message
                log.exception("could not record metrics")
        self._drop_message()
        return result

    def _apply(self, p: Plan) -> int:
        if isinstance(p, Refuse):
            self.setreply(p.reply.code, p.reply.xcode, p.reply.text.replace("%", "%%"))
            return Milter.REJECT if p.reply.permanent else Milter.TEMPFAIL
        for change in p.header_changes:
            if isinstance(change, AddHeader):
                index = -1 if change.index is None else change.index
                self.addheader(change.name, _wire(change.value), index)
            else:
                self.chgheader(change.name, change.index, _wire(change.value))
        if p.quarantine:
            self.quarantine(p.quarantine)
        return Milter.ACCEPT

    def _remember_hold(self, message: Message, held: Deliver) -> None:
        """Score and reason of a held message, for the digest (``held.py``); never costs it."""
        try:
            self.held.record(message.envelope.queue_id or "", held_head(message, held.header_changes))
        except Exception:
            log.exception("could not record the held message's score and reason")

    def _prefetch(self, stage: Stage, message: Message) -> None:
        if self.session is not None:
            self.runtime.analyzer.prefetch(stage, message, self.session)

    def _macro(self, name: str) -> str | None:
        try:
            value = self.getsymval(name)
        except Exception:
            return None
        return value or None


def cache_stats(runtime: Runtime) -> dict[str, float]:
    """Hit and miss counts of the DNS caches and the shared store the checks use (read
    after every message by the metrics)."""
    clients, stores = _caches_of(runtime.analyzer)
    stats = {"dns_cache_hits": 0.0, "dns_cache_misses": 0.0}
    for client in clients:
        stats["dns_cache_hits"] += client.cache.hits
        stats["dns_cache_misses"] += client.cache.misses
    for store in stores:
        for name in ("hits", "misses", "errors"):
            stats[f"store_{name}"] = stats.get(f"store_{name}", 0.0) + getattr(store, name, 0)
    return stats


@functools.lru_cache(maxsize=1)
def _caches_of(analyzer: Analyzer) -> tuple[tuple[Any, ...], tuple[Any, ...]]:
    """The distinct DNS clients and shared stores of an analyzer's checks: found once per
    configuration, not per message."""
    found = (getattr(check, "dns", None) for check in analyzer.checks)
    clients = {id(client): client for client in found if client is not None}
    stores = {id(c.cache.store): c.cache.store for c in clients.values() if c.cache.store is not None}
    return tuple(clients.values()), tuple(stores.values())


def _wire(value: str) -> str | bytes:
    """Header text as libmilter wants it; original 8-bit bytes survive via surrogateescape."""
    return value if value.isascii() else value.encode("utf-8", "surrogateescape")


def inherited_socket() -> str | None:
    """``fd:3`` when systemd started us with a listening socket (``spoofguard.socket``):
    ``LISTEN_PID`` is our pid and ``LISTEN_FDS`` at least 1 (sd_listen_fds(3)). Debian's
    libmilter takes an inherited descriptor as the connection string ``fd:N``. The
    variables are removed, so no child process takes the socket for its own."""
    if os.environ.get("LISTEN_PID") != str(os.getpid()):
        return None
    try:
        count = int(os.environ.get("LISTEN_FDS", "0"))
    except ValueError:
        count = 0
    for name in ("LISTEN_PID", "LISTEN_FDS", "LISTEN_FDNAMES"):
        os.environ.pop(name, None)
    if count > 1:
        log.warning("systemd passed %d sockets; listening on the first (fd 3) only", count)
    return "fd:3" if count >= 1 else None


def _tune_when_listening(connection: str, libmilter_thread: threading.Thread, wait: float = 5.0) -> None:
    """libmilter opens its listener on its own thread: wait for it, then tune it."""
    deadline = time.monotonic() + wait
    while libmilter_thread.is_alive() and time.monotonic() < deadline:
        if listeners.tune(connection):
            return
        time.sleep(0.01)


def serve(config_path: str | None = None) -> int:
    """Run the milter in the foreground until SIGTERM; SIGHUP reloads the configuration.
    With more than one worker (``milter.workers``) a supervisor process holds the socket
    and forks the workers (``workers.py``); with one, this process is the milter."""
    settings = config.load(config_path)
    workers = worker_count(settings.milter.workers)
    logs.setup(settings.log.level, settings.log.format, settings.log.target, with_pid=workers > 1)
    inherited = inherited_socket()
    if inherited:
        log.info("listening on the socket systemd passed (%s); milter.socket is not used", inherited)
    # Nothing the milter writes (cache, moved-aside files, the socket) is for other users,
    # whatever umask it was started with; a unix socket stays group-writable for the MTA,
    # which connects through group membership.
    os.umask(0o007 if settings.milter.socket.startswith("unix:") else 0o027)
    if workers > 1:
        return Supervisor(settings, config_path, run_worker, inherited).run()
    return run_milter(settings, config_path, inherited or settings.milter.socket)


def run_worker(settings: config.Settings, connection: str, metrics_dir: str | None, link: Link) -> int:
    """One worker under the supervisor: no reloads of its own, metrics to the shared files."""
    return run_milter(settings, None, connection, metrics_dir=metrics_dir, link=link)


def run_milter(settings: config.Settings, config_path: str | None, connection: str, *,
               metrics_dir: str | None = None, link: Link | None = None) -> int:
    """libmilter on ``connection`` until SIGTERM; with ``link``, as a worker that tells
    its supervisor when it serves and when it has left the socket.

    libmilter turns SIGHUP into "stop" in its own signal thread. Running libmilter off the
    main thread leaves SIGHUP and SIGTERM unblocked in the main thread, where the kernel
    delivers them first, so Python's handlers see them: SIGHUP reloads, SIGTERM stops.
    """
    m = settings.milter
    holder = RuntimeHolder(build_runtime(settings), config_path)
    SpoofguardMilter.holder = holder
    SpoofguardMilter.held = HeldRecords(build_store(settings, "held", MAX_RECORDS))
    Milter.factory = SpoofguardMilter
    Milter.set_flags(Milter.ADDHDRS | Milter.CHGHDRS | Milter.QUARANTINE)
    worker = link is not None
    if metrics_dir is not None:  # a worker's share of the supervisor's endpoint
        SpoofguardMilter.metrics = Metrics(cache_stats=lambda: cache_stats(holder.current), shared_dir=metrics_dir)
    elif not worker and settings.metrics.listen:
        metrics = Metrics(cache_stats=lambda: cache_stats(holder.current))
        metrics.serve(settings.metrics.listen)
        SpoofguardMilter.metrics = metrics
        log.info("metrics on http://%s/metrics", settings.metrics.listen)

    failure: list[BaseException] = []

    def run() -> None:
        try:
            Milter.runmilter(m.name, connection, m.timeout)
        except BaseException as exc:  # reported by the main thread
            failure.append(exc)

    stopping = threading.Event()

    def on_term(signum: int, frame: object) -> None:
        if not stopping.is_set():
            stopping.set()
            listeners.stop_accepting(connection)
            if link is not None:
                link.off()
            else:  # the supervisor says it once for all of them
                log.info("signal %d: stopping after the messages in progress", signum)

    def on_hup(signum: int, frame: object) -> None:
        ok = holder.reload()
        if SpoofguardMilter.metrics is not None:
            SpoofguardMilter.metrics.reloaded(ok)

    signal.signal(signal.SIGTERM, on_term)
    signal.signal(signal.SIGINT, on_term)
    if not worker:
        signal.signal(signal.SIGHUP, on_hup)
    libmilter_thread = threading.Thread(target=run, name="libmilter")
    libmilter_thread.start()
    if not worker and not connection.startswith("unix:"):  # the supervisor tuned the shared socket
        _tune_when_listening(connection, libmilter_thread)
    if link is not None:
        link.ready()
    else:
        log.info("spoofguard listening on %s (config %s)", connection, settings.path)
    drain = Drain(SpoofguardMilter.connections, m.timeout)
    while libmilter_thread.is_alive():
        libmilter_thread.join(0.2)
        if stopping.is_set() and drain.done():
            libmilter.stop()  # type: ignore[attr-defined]  # repeated: harmless
    if drain.left:
        log.warning("stopped with %d MTA connections still open after %d s", drain.left, m.timeout)
    holder.current.pool.shutdown()
    if failure:
        log.error("milter stopped: %s", failure[0])
        return 1
    if not worker:
        log.info("spoofguard stopped")
    return 0
