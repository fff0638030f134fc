"""Sender domain age: registration data from RDAP, WHOIS and DNS age zones."""
