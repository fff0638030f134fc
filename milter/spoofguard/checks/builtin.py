"""The checks spoofguard ships, registered in the order they are listed in the config."""

from .auth.check import PLUGIN as AUTH
from .content.check import PLUGIN as CONTENT
from .domain_age.check import PLUGIN as DOMAIN_AGE
from .impersonation.check import PLUGIN as IMPERSONATION
from .ip_reputation.check import PLUGIN as IP_REPUTATION
from .registry import register
from .sender.check import PLUGIN as SENDER

for plugin in (AUTH, IMPERSONATION, CONTENT, IP_REPUTATION, DOMAIN_AGE, SENDER):
    register(plugin)
