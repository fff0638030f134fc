"""Shared fixtures for end-to-end tests: loopback DNS, the milter process, and Postfix."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.support.dns_server import LoopbackDNS
from tests.support.milter_process import MilterProcess
from tests.support.postfix import XCLIENT, milter_sections, populate
from tests.support.postfix_harness import PostfixInstance


@pytest.fixture(scope="module")
def dns() -> Iterator[LoopbackDNS]:
    with LoopbackDNS() as server:
        yield populate(server)


@pytest.fixture(scope="module")
def milter(dns: LoopbackDNS) -> Iterator[MilterProcess]:
    with MilterProcess(milter_sections(dns)) as process:
        yield process


@pytest.fixture(scope="module")
def postfix(milter: MilterProcess) -> Iterator[PostfixInstance]:
    with PostfixInstance(milter=milter.address, main_cf_extra=XCLIENT) as instance:
        yield instance
