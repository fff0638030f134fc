"""Which checks exist: registering a check registers its ``[checks.<name>]`` section.

The config loader reads each registered check's section with that check's own class, and
the assembly builds every enabled one, so adding a check needs its package and one
``register()`` line (the built-in ones are in ``checks.builtin``).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from ..received import IPNetwork
from ..sections import Section
from . import Check

if TYPE_CHECKING:
    from ..config import Settings
    from ..lookups.dns import Resolver
    from ..lookups.store import GuardedStore


class StoreOpener(Protocol):
    def __call__(self, name: str = "cache", max_entries: int | None = None) -> GuardedStore | None:
        """The lookup cache, or (``name``) another store on its backend, kept apart."""


@dataclass(frozen=True)
class CheckContext:
    """What a check may use besides its own section, given once at start or reload."""

    settings: Settings  # paths, and the general sections ([network], [analysis], …)
    dns: Resolver | None  # None: offline
    trusted_networks: tuple[IPNetwork, ...]
    store: StoreOpener  # opened on first use, shared across reloads

    @property
    def lookup_timeout(self) -> float:
        return self.settings.analysis.lookup_timeout


@dataclass(frozen=True)
class CheckPlugin:
    name: str  # the section is [checks.<name>]; signals are named <name>.<signal>
    section: type[Section]  # must have an ``enabled`` field
    build: Callable[[Any, CheckContext], Check]  # (the section, the context) -> the check
    signals: Mapping[str, str] = field(default_factory=dict)  # signal -> what it means


_PLUGINS: dict[str, CheckPlugin] = {}


def register(plugin: CheckPlugin) -> None:
    """Make a check known; registered last, it runs last among checks it does not feed."""
    if "enabled" not in plugin.section.__struct_fields__:
        raise TypeError(f"{plugin.section.__name__} needs an 'enabled' field")
    plugins()  # the built-in checks first
    _PLUGINS[plugin.name] = plugin


def unregister(name: str) -> None:
    _PLUGINS.pop(name, None)


def plugins() -> Mapping[str, CheckPlugin]:
    from . import builtin  # noqa: F401  (registers the built-in checks on first use)

    return _PLUGINS
