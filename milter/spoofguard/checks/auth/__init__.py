"""The auth check: SPF, DKIM, DMARC and ARC, trusted and forged Authentication-Results;
its fact is the ``AuthSummary`` other checks require."""
