"""Which RDAP server answers for a domain: the IANA bootstrap registry (RFC 9224).

A snapshot of IANA's ``dns.json`` ships with the package so the milter works offline
from the first start; ``update_bootstrap`` refreshes a copy in the state directory,
which wins over the snapshot while it parses. Overrides from the configuration name
servers for registries the bootstrap does not list (yet).
"""

from __future__ import annotations

import json
import logging
import os
import tempfile
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import requests

from ...domains import to_ascii

IANA_DNS_URL = "https://data.iana.org/rdap/dns.json"
MAX_BOOTSTRAP_BYTES = 8 * 1024 * 1024  # the real file is well under 100 KB

log = logging.getLogger(__name__)


class BootstrapUpdateError(Exception):
    """The download could not be used; the existing copy was left alone."""


def _normalise_url(url: str) -> str:
    """Base URLs end in '/' so that ``base + "domain/..."`` is always right (RFC 9224 §3)."""
    return url if url.endswith("/") else url + "/"


def a_label(name: str) -> str:
    """Lower-case, no trailing dot, IDN labels in their ASCII (xn--) form as IANA lists them
    (the same IDNA the rest of spoofguard reads domains with); unconvertible text as it is."""
    name = name.strip().rstrip(".").lower()
    return name if name.isascii() else to_ascii(name) or name


@dataclass(frozen=True, slots=True)
class RdapBootstrap:
    """Suffix → RDAP base URLs, from IANA's bootstrap plus local overrides."""

    services: Mapping[str, tuple[str, ...]]
    publication: str = ""
    overrides: Mapping[str, str] = field(default_factory=dict)

    @classmethod
    def from_json(cls, data: Any, overrides: Mapping[str, str] | None = None) -> RdapBootstrap:
        """Build from the parsed ``dns.json``; ``ValueError`` says what is wrong with it."""
        if not isinstance(data, dict):
            raise ValueError("RDAP bootstrap: top level is not a JSON object")
        entries = data.get("services")
        if not isinstance(entries, list) or not entries:
            raise ValueError("RDAP bootstrap: 'services' is missing or empty")
        services: dict[str, tuple[str, ...]] = {}
        for index, entry in enumerate(entries):
            if (
                not isinstance(entry, list)
                or len(entry) < 2
                or not isinstance(entry[0], list)
                or not isinstance(entry[1], list)
                or not all(isinstance(x, str) for x in entry[0] + entry[1])
            ):
                raise ValueError(
                    f"RDAP bootstrap: services[{index}] is not a pair of lists of strings"
                )
            urls = [_normalise_url(u) for u in entry[1] if u.startswith(("https://", "http://"))]
            # RFC 9224 §3: use HTTPS when offered; a plain-HTTP fallback would be a downgrade.
            secure = [u for u in urls if u.startswith("https://")]
            chosen = tuple(secure or urls)
            if not chosen:
                continue
            for suffix in entry[0]:
                services[a_label(suffix)] = chosen
        publication = data.get("publication", "")
        return cls(
            services=services,
            publication=publication if isinstance(publication, str) else "",
            overrides={a_label(k): _normalise_url(v) for k, v in (overrides or {}).items()},
        )

    @classmethod
    def load(cls, path: Path, overrides: Mapping[str, str] | None = None) -> RdapBootstrap:
        """Read a ``dns.json`` file; ``OSError`` if unreadable, ``ValueError`` if malformed."""
        text = path.read_bytes()
        try:
            data = json.loads(text)
        except ValueError as exc:
            raise ValueError(f"{path}: not valid JSON: {exc}") from exc
        try:
            return cls.from_json(data, overrides)
        except ValueError as exc:
            raise ValueError(f"{path}: {exc}") from exc

    @property
    def tld_count(self) -> int:
        return len(self.services)

    def servers_for(self, domain: str) -> tuple[str, ...]:
        """Base URLs for ``domain``: overrides first, then the bootstrap entry matching the
        most labels (RFC 9224 §4, entries such as ``co.uk`` beat ``uk``); empty if none."""
        labels = [label for label in a_label(domain).split(".") if label]
        suffixes = [".".join(labels[i:]) for i in range(len(labels))]  # longest first
        for suffix in suffixes:
            if suffix in self.overrides:
                return (self.overrides[suffix],)
        for suffix in suffixes:
            if suffix in self.services:
                return self.services[suffix]
        return ()


def packaged_path() -> Path:
    """The snapshot of IANA's ``dns.json`` shipped inside the package."""
    return Path(__file__).resolve().parents[2] / "data" / "rdap" / "dns.json"  # spoofguard/data


def state_path(state_dir: Path) -> Path:
    return state_dir / "rdap" / "dns.json"


def load_bootstrap(
    state_dir: Path | None, overrides: Mapping[str, str] | None = None
) -> RdapBootstrap:
    """The state-dir copy when present and valid (it is newer), else the packaged snapshot."""
    if state_dir is not None:
        path = state_path(state_dir)
        if path.exists():
            try:
                return RdapBootstrap.load(path, overrides)
            except (OSError, ValueError) as exc:
                log.warning("ignoring RDAP bootstrap copy, using packaged snapshot: %s", exc)
    return RdapBootstrap.load(packaged_path(), overrides)


def update_bootstrap(
    state_dir: Path, url: str = IANA_DNS_URL, timeout: float = 30
) -> tuple[Path, int, str]:
    """Download ``dns.json`` into the state dir, replacing the old copy only if the new one
    is usable. Returns (path, number of TLDs, publication)."""
    try:
        with requests.get(url, timeout=timeout, stream=True) as response:
            if response.status_code != 200:
                raise BootstrapUpdateError(f"{url}: HTTP {response.status_code}")
            body = response.raw.read(MAX_BOOTSTRAP_BYTES + 1, decode_content=True)
    except requests.RequestException as exc:
        raise BootstrapUpdateError(f"{url}: {exc}") from exc
    if len(body) > MAX_BOOTSTRAP_BYTES:
        raise BootstrapUpdateError(f"{url}: larger than {MAX_BOOTSTRAP_BYTES} bytes")
    try:
        bootstrap = RdapBootstrap.from_json(json.loads(body))
    except ValueError as exc:
        raise BootstrapUpdateError(f"{url}: unusable download: {exc}") from exc
    if not bootstrap.services:
        raise BootstrapUpdateError(f"{url}: unusable download: no server URLs")

    target = state_path(state_dir)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=".dns.json.", dir=target.parent)
    try:
        with os.fdopen(fd, "wb") as out:
            out.write(body)
            out.flush()
            os.fsync(out.fileno())
        os.chmod(tmp, 0o644)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
    return target, bootstrap.tld_count, bootstrap.publication
