"""Several milter processes on one listening socket, so every core does work.

CPython runs Python code on one core per process, and libmilter's thread per connection
does not change that. The supervisor binds the socket once and forks ``milter.workers``
processes; each hands the inherited descriptor to libmilter as the connection string
``fd:N`` (Debian's libmilter takes it, as it does systemd's socket), so the kernel shares
the accepts among them. What is costly to build and never written to afterwards (the
content check's lexicon, trie and Hyperscan databases) is built once in the supervisor
before it forks and shared copy-on-write; what holds connections or threads (DNS clients,
SQLite and Redis connections, lookup pools) is made by each worker after the fork, as
SQLite requires.

The supervisor handles the signals: SIGHUP loads and builds the new configuration and,
when it is good, starts a new generation of workers and lets the old ones finish the
messages they hold (SIGTERM); a bad file leaves the running workers alone. SIGTERM and
SIGINT stop every worker after its messages in progress. A worker that dies is replaced.
If the supervisor itself is killed, the kernel kills its workers (``PR_SET_PDEATHSIG``),
so a restart finds the socket free, as it would after a single process died.
"""

from __future__ import annotations

import contextlib
import ctypes
import gc
import logging
import os
import shutil
import signal
import struct
import tempfile
import time
from collections.abc import Callable
from dataclasses import dataclass, field

from . import config, logs
from .assembly import build_analyzer
from .errors import ConfigError
from .listeners import adopt, listen
from .metrics import WorkerMetrics

log = logging.getLogger(__name__)

RunWorker = Callable[[config.Settings, str, "str | None", "Link"], int]
"""Runs one worker in the forked process: settings, connection string, metrics directory,
and its link to the supervisor."""


class Link:
    """What a worker tells the supervisor, down one pipe shared by all of them: its pid
    once its libmilter runs, minus its pid once it has left the shared socket."""

    def __init__(self) -> None:
        self.read_end, self.write_end = os.pipe()
        os.set_blocking(self.read_end, False)

    def ready(self) -> None:
        os.write(self.write_end, struct.pack("i", os.getpid()))

    def off(self) -> None:
        os.write(self.write_end, struct.pack("i", -os.getpid()))

    def received(self) -> list[int]:
        try:
            data = os.read(self.read_end, 4096)  # whole 4-byte writes: atomic on a pipe
        except BlockingIOError:
            return []
        return list(struct.unpack(f"{len(data) // 4}i", data[: len(data) // 4 * 4]))


_PR_SET_PDEATHSIG = 1
_RESTARTS_ALLOWED = 5  # unexpected worker exits within _RESTART_WINDOW before giving up
_RESTART_WINDOW = 30.0
_HANDLED = {signal.SIGTERM, signal.SIGINT, signal.SIGHUP}
_READY_WAIT = 60.0  # seconds a reload waits for its new workers before retiring the old ones


def worker_count(setting: int) -> int:
    """``milter.workers``, where 0 means one per core this process may run on."""
    if setting:
        return setting
    try:
        return len(os.sched_getaffinity(0))
    except (AttributeError, OSError):
        return os.cpu_count() or 1


@dataclass
class Supervisor:
    settings: config.Settings
    config_path: str | None
    run_worker: RunWorker
    inherited: str | None = None  # "fd:3" under socket activation
    workers: set[int] = field(default_factory=set)  # the current generation
    ready: set[int] = field(default_factory=set)  # workers whose libmilter runs
    off: set[int] = field(default_factory=set)  # workers that left the shared socket
    replaced: set[int] = field(default_factory=set)  # the generation a reload replaces, still serving
    retiring: set[int] = field(default_factory=set)  # told to stop, finishing their messages
    connection: str = ""  # what the workers pass libmilter: "fd:N"
    metrics_dir: str | None = None
    metrics: WorkerMetrics | None = None
    _announced: bool = False
    link: Link | None = None
    _reload_pending: set[int] = field(default_factory=set)  # retired by a reload, not yet off the socket
    _reload_started: float = 0.0
    _exits: list[float] = field(default_factory=list)
    _requests: list[int] = field(default_factory=list)

    def run(self) -> int:
        spec = self.inherited or self.settings.milter.socket
        try:
            sock = adopt(self.inherited) if self.inherited else listen(spec)
        except OSError as exc:
            log.error("cannot listen on %s: %s", spec, exc.strerror or exc)
            return 1
        self.connection = f"fd:{sock.fileno()}"
        self.metrics_dir = metrics_dir = self._metrics_dir()
        self.link = Link()
        build_analyzer(self.settings, offline=True)  # the shared tables, built before forking
        for signum in _HANDLED:
            signal.signal(signum, lambda number, frame: self._requests.append(number))
        self._start_generation()
        try:
            return self._supervise(spec)
        finally:
            sock.close()
            if not self.inherited and spec.startswith("unix:"):
                with contextlib.suppress(OSError):
                    os.unlink(spec.removeprefix("unix:"))
            if metrics_dir:
                shutil.rmtree(metrics_dir, ignore_errors=True)

    @property
    def _everyone(self) -> set[int]:
        return self.workers | self.replaced | self.retiring

    def _metrics_dir(self) -> str | None:
        listen_on = self.settings.metrics.listen
        if not listen_on:
            return None
        directory = tempfile.mkdtemp(prefix="spoofguard-metrics-")
        os.environ["PROMETHEUS_MULTIPROC_DIR"] = directory
        self.metrics = WorkerMetrics(directory)
        self.metrics.serve(listen_on)
        log.info("metrics on http://%s/metrics (all workers)", listen_on)
        return directory

    def _supervise(self, spec: str) -> int:
        stopping = False
        while self.workers or self.replaced or self.retiring:
            while self._requests:
                signum = self._requests.pop(0)
                if signum == signal.SIGHUP and not stopping and not (self.replaced or self._reload_pending):
                    self._reload()
                elif signum == signal.SIGHUP and not stopping:
                    self._requests.append(signum)  # after the reload in progress
                    break
                elif signum in (signal.SIGTERM, signal.SIGINT) and not stopping:
                    stopping = True
                    log.info("signal %d: stopping after the messages in progress", signum)
                    self._signal_all(self._everyone, signal.SIGTERM)
            if not self._reap(stopping):
                self._signal_all(self._everyone, signal.SIGTERM)
                self._wait_all()
                return 1
            if not stopping:
                self._note_ready(spec)
            time.sleep(0.05)
        log.info("spoofguard stopped")
        return 0

    def _note_ready(self, spec: str) -> None:
        """The generation a reload replaces keeps serving until the new one runs, so no
        connection waits on a worker still building its configuration; the reload is
        reported once the old workers have left the socket, so mail sent after the log
        line is judged by the new configuration."""
        assert self.link is not None
        for pid in self.link.received():
            (self.ready if pid > 0 else self.off).add(abs(pid))
        all_ready = self.workers <= self.ready
        if all_ready and not self._announced:
            self._announced = True
            log.info("spoofguard listening on %s with %d workers (config %s)", spec, len(self.workers),
                     self.settings.path)
        if self.replaced and (all_ready or time.monotonic() - self._reload_started > _READY_WAIT):
            if not all_ready:
                log.warning("new workers not ready after %.0f s; retiring the old ones anyway", _READY_WAIT)
            self._signal_all(self.replaced, signal.SIGTERM)
            self.retiring |= self.replaced
            self._reload_pending = set(self.replaced)
            self.replaced = set()
        if self._reload_pending and not self._reload_pending - self.off:
            self._reload_pending = set()
            log.info("configuration reloaded from %s: %d new workers serve, the old ones finish their messages",
                     self.settings.path, len(self.workers))
            self._count_reload(True)

    def _reap(self, stopping: bool) -> bool:
        """Collect exited workers and replace the ones that were not asked to stop. False
        when they keep dying, so systemd's restart and its limits take over."""
        while True:
            try:
                pid, status = os.waitpid(-1, os.WNOHANG)
            except ChildProcessError:
                return True
            if pid == 0:
                return True
            self.ready.discard(pid)
            self.off.add(pid)  # gone: off the socket too
            if pid in self.retiring:
                self.retiring.discard(pid)
                continue
            if stopping:
                self.workers.discard(pid)
                self.replaced.discard(pid)
                continue
            log.error("worker %d %s; starting another", pid, _describe_exit(status))
            now = time.monotonic()
            self._exits = [t for t in self._exits if now - t < _RESTART_WINDOW] + [now]
            if len(self._exits) > _RESTARTS_ALLOWED:
                log.error("workers exited %d times in %.0f s: stopping", len(self._exits), _RESTART_WINDOW)
                return False
            if pid in self.replaced:  # the new generation is on its way
                self.replaced.discard(pid)
                continue
            self.workers.discard(pid)
            self.workers |= self._fork_frozen(1)

    def _reload(self) -> None:
        """Build the new configuration here first: a bad file never reaches a worker."""
        old = self.settings
        try:
            settings = config.load(self.config_path)
            build_analyzer(settings, offline=True)
        except ConfigError as exc:
            log.error("reload failed, keeping the running configuration: %s", exc)
            self._count_reload(False)
            return
        except Exception:
            log.exception("reload failed, keeping the running configuration")
            self._count_reload(False)
            return
        if settings.milter.socket != old.milter.socket and not self.inherited:
            log.warning("milter.socket changed to %s: it takes effect at the next restart", settings.milter.socket)
        if settings.metrics.listen != old.metrics.listen:
            log.warning("metrics.listen changed: it takes effect at the next restart")
        if settings.log != old.log:
            try:
                logs.setup(settings.log.level, settings.log.format, settings.log.target, with_pid=True)
            except OSError as exc:
                log.error("log settings not applied, keeping the running ones: %s", exc)
        self.settings = settings
        self.replaced = self.workers
        self._reload_started = time.monotonic()
        self._start_generation()

    def _count_reload(self, ok: bool) -> None:
        if self.metrics is not None:
            self.metrics.reloaded(ok)

    def _start_generation(self) -> None:
        self.workers = self._fork_frozen(worker_count(self.settings.milter.workers))

    def _fork_frozen(self, count: int) -> set[int]:
        """Fork ``count`` workers with every object the supervisor holds moved out of the
        garbage collector's sight, so a collection in a worker does not write to (and so
        copy) the shared pages; the supervisor takes them back afterwards, so what an old
        configuration held can still be freed."""
        gc.freeze()
        try:
            return {self._fork() for _ in range(count)}
        finally:
            gc.unfreeze()

    def _fork(self) -> int:
        """A worker. The stop and reload signals are blocked across the fork, so none
        reaches the new process while it still has the supervisor's handlers."""
        parent = os.getpid()
        signal.pthread_sigmask(signal.SIG_BLOCK, _HANDLED)
        pid = os.fork()
        if pid:
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            return pid
        code = 1
        try:
            _die_with(parent)
            assert self.link is not None
            os.close(self.link.read_end)
            for signum in (signal.SIGTERM, signal.SIGINT):
                signal.signal(signum, signal.SIG_DFL)
            signal.signal(signal.SIGHUP, signal.SIG_IGN)  # reloads are the supervisor's
            signal.pthread_sigmask(signal.SIG_UNBLOCK, _HANDLED)
            code = self.run_worker(self.settings, self.connection, self.metrics_dir, self.link)
        except BaseException:
            log.exception("worker failed")
        finally:
            logging.shutdown()
            os._exit(code)

    @staticmethod
    def _signal_all(pids: set[int], signum: int) -> None:
        for pid in pids:
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signum)

    def _wait_all(self) -> None:
        for pid in self._everyone:
            with contextlib.suppress(ChildProcessError):
                os.waitpid(pid, 0)


def _die_with(parent: int) -> None:
    """Have the kernel kill this worker when the supervisor dies, however it dies."""
    try:
        libc = ctypes.CDLL(None, use_errno=True)
        libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
    except (OSError, AttributeError):
        log.warning("cannot ask to be stopped with the supervisor; a worker may outlive it")
    if os.getppid() != parent:  # it died before the request took effect
        os._exit(1)


def _describe_exit(status: int) -> str:
    if os.WIFSIGNALED(status):
        return f"was killed by signal {os.WTERMSIG(status)}"
    return f"exited with status {os.waitstatus_to_exitcode(status)}"
