"""Alert test fixtures: a local receiver."""

from __future__ import annotations

import pytest

from tests.alerts.receiver import Receiver
from tests.lanes import process_fixture


@pytest.fixture
@process_fixture
def receiver():
    """A receiver on 127.0.0.1:0, closed afterwards."""
    instance = Receiver()
    yield instance
    instance.close()
