"""What the milter runs with now: settings, analyzer and lookup pool, swapped on reload.

A reload builds everything anew and swaps one reference, so a connection in flight keeps
the configuration it started with and a bad new file never replaces a good running one.
"""

from __future__ import annotations

import logging
import threading
from dataclasses import dataclass
from pathlib import Path

from . import config, logs
from .actions import ActionsSection
from .assembly import build_analyzer
from .core import Analyzer
from .errors import ConfigError
from .lookups import LookupPool, LookupSession

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Runtime:
    settings: config.Settings
    analyzer: Analyzer
    actions: ActionsSection
    pool: LookupPool

    def new_session(self) -> LookupSession:
        a = self.settings.analysis
        return self.pool.session(budget=a.budget, default_timeout=a.lookup_timeout)


def build_runtime(settings: config.Settings, pool: LookupPool | None = None, *, offline: bool = False) -> Runtime:
    return Runtime(
        settings=settings,
        analyzer=build_analyzer(settings, offline=offline),
        actions=settings.actions,
        pool=pool or LookupPool(settings.analysis.lookup_workers),
    )


class RuntimeHolder:
    def __init__(self, runtime: Runtime, config_path: Path | str | None) -> None:
        self.current = runtime
        self.config_path = config_path
        self._lock = threading.Lock()

    def reload(self) -> bool:
        """Load and build the new configuration; keep the old one if anything is wrong."""
        with self._lock:
            old = self.current
            try:
                settings = config.load(self.config_path)
                same_pool = settings.analysis.lookup_workers == old.settings.analysis.lookup_workers
                runtime = build_runtime(settings, old.pool if same_pool else None)
            except ConfigError as exc:
                log.error("reload failed, keeping the running configuration: %s", exc)
                return False
            except Exception:
                log.exception("reload failed, keeping the running configuration")
                return False
            self.current = runtime
            if runtime.pool is not old.pool:
                old.pool.shutdown()
            if settings.log != old.settings.log:
                try:
                    logs.setup(settings.log.level, settings.log.format, settings.log.target)
                except OSError as exc:  # e.g. no /dev/log: the old handler stays
                    log.error("log settings not applied, keeping the running ones: %s", exc)
            log.info("configuration reloaded from %s", settings.path)
            return True
