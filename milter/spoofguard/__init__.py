"""spoofguard: a milter that weighs sender authentication, sender age, client reputation
and intimidation content, and tags, quarantines or rejects what should not reach a user
untouched."""

__version__ = "0.1.0"
