"""What every unit test gets: a process-wide state of the plugin's, as the test found it.

The scrubber keeps the secrets registered so far for the whole process (a run reads one
credentials file); across tests, one test's registered secret (an address, say) would mask
that text in another's output. Each test starts from the secrets registered before it.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from certbot_dns_autopilot import scrub


@pytest.fixture(autouse=True)
def _secrets_of_this_test_only() -> Iterator[None]:
    before = scrub._secrets
    yield
    scrub._secrets = before
