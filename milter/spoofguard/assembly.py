"""Turn validated settings into a ready Analyzer: the one place checks are wired up.

Everything expensive (rule compilation, list parsing, resolver set-up) happens here, once
per start or reload, never per message.
"""

from __future__ import annotations

import functools
import logging
import threading
from pathlib import Path

import msgspec

from .checks import Check, CheckOrderError
from .checks.registry import CheckContext, plugins
from .config import Settings
from .core import Analyzer
from .errors import ConfigError
from .lookups.dns import DnsClient
from .lookups.store import CacheSection, GuardedStore, open_store
from .received import networks

log = logging.getLogger(__name__)


def build_dns(settings: Settings) -> DnsClient:
    return DnsClient(settings.dns, store=build_store(settings))


_stores: dict[tuple[CacheSection, Path], GuardedStore | None] = {}
_stores_lock = threading.Lock()


def build_store(settings: Settings, name: str = "cache", max_entries: int | None = None) -> GuardedStore | None:
    """A store on the ``[cache]`` backend: the lookup cache, or (``name``) another one kept
    apart from it, in ``<state.dir>/<name>.sqlite`` or under ``<prefix><name>:`` in Redis.
    Opened once per distinct configuration, so a reload that leaves ``[cache]`` alone
    keeps the same database connection."""
    cache = settings.cache
    if name == "cache":
        path = settings.resolve(cache.path) if cache.path else settings.resolve(settings.state.dir) / "cache.sqlite"
    else:
        path = settings.resolve(settings.state.dir) / f"{name}.sqlite"
        cache = msgspec.structs.replace(cache, prefix=f"{cache.prefix}{name}:", max_entries=max_entries or cache.max_entries)
    with _stores_lock:
        if (cache, path) not in _stores:
            if cache.backend == "sqlite":
                try:
                    path.parent.mkdir(mode=0o750, parents=True, exist_ok=True)
                except OSError as exc:
                    log.warning("cannot create %s (%s); the cache will miss until it exists", path.parent, exc.strerror)
            _stores[cache, path] = open_store(cache, path=path, role=name)
        return _stores[cache, path]


def build_analyzer(settings: Settings, *, offline: bool = False) -> Analyzer:
    """Every registered check whose section is enabled. Offline: checks that need the
    network report so and score nothing."""
    context = CheckContext(
        settings=settings,
        dns=None if offline else build_dns(settings),
        trusted_networks=networks(settings.network.trusted_networks),
        store=functools.partial(build_store, settings),
    )
    checks: list[Check] = []
    for name, plugin in plugins().items():
        section = settings.checks[name]
        if section.enabled:
            checks.append(plugin.build(section, context))
    try:
        return Analyzer(checks, settings.policy)
    except CheckOrderError as exc:
        raise ConfigError(settings.path, f"checks.{exc.check}.enabled", exc.problem) from None
