"""The domain age check: how new the sender's domains are, from RDAP, WHOIS and DNS age
zones, cached."""
