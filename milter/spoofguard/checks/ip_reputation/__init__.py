"""The IP reputation check: local allow and deny lists, DNS block- and allowlists with
their documented codes, reverse DNS and the origin AS."""
