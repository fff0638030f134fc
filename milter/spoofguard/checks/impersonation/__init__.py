"""The impersonation check: lookalike domains, display-name tricks, From equal to the
recipient, Reply-To and envelope tells."""
