"""Pytest fixtures for :class:`FakeDiscord`.

Register them from a test module or a conftest with::

    pytest_plugins = ["fakediscord.fixtures"]
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest_asyncio

from .runner import pointed_at, run_bot
from .server import FakeDiscord

__all__ = ["fake_discord", "pointed_at", "run_bot"]


@pytest_asyncio.fixture
async def fake_discord() -> AsyncIterator[FakeDiscord]:
    """A started :class:`FakeDiscord`; fails at teardown on unexpected violations.

    Tests that provoke errors on purpose add the codes to ``fake.allowed_violation_codes``.
    """
    fake = FakeDiscord()
    await fake.start()
    try:
        yield fake
    finally:
        await fake.stop()
    fake.assert_no_violations()
