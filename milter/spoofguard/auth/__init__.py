"""Sender authentication and impersonation: SPF, DKIM, DMARC, ARC and lookalike domains."""
