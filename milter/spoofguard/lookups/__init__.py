"""Network lookups: started early on a shared pool, bounded by per-lookup timeouts and a
per-message budget, and never raising into the milter."""

from .session import LookupPool, LookupResult, LookupSession, LookupStatus

__all__ = ["LookupPool", "LookupResult", "LookupSession", "LookupStatus"]
