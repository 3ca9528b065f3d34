"""Fixtures of the webhook tests."""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from tests.webhook_receiver import Receiver, webhook_receiver


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    """A webhook receiver on loopback for one test."""
    with webhook_receiver() as served:
        yield served
