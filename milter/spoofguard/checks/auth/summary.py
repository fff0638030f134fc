"""What authentication concluded about one message, for signals, our header, and the
checks that require it (impersonation must know whether DMARC passed): the auth check's
fact."""

from __future__ import annotations

from dataclasses import dataclass

from .arc import ArcResult
from .dkim import DkimResult
from .dmarc import DmarcResult
from .spf import SpfResult

NOT_VERIFIED = "not verified"


@dataclass(frozen=True, slots=True)
class AuthSummary:
    from_domain: str | None
    spf: SpfResult | None
    dkim: tuple[DkimResult, ...]
    dmarc: DmarcResult
    arc: ArcResult | None
    source: str  # "spoofguard", "upstream <authserv-id>", or NOT_VERIFIED
    mitigated_by: str | None = None  # trusted ARC sealer that turned a DMARC fail around

    @property
    def dmarc_pass(self) -> bool:
        return self.dmarc.result == "pass" or self.mitigated_by is not None

    @property
    def authenticated(self) -> bool:
        """DMARC pass (after ARC), or an aligned DKIM or SPF pass without a DMARC record."""
        return self.dmarc_pass or bool(self.dmarc.aligned_dkim or self.dmarc.aligned_spf)

    @property
    def verified(self) -> bool:
        """Whether anyone checked: not so offline or with auth.verify = never."""
        return self.source != NOT_VERIFIED

    @property
    def unknown(self) -> bool:
        return self.dmarc.result == "temperror"

