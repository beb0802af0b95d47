"""Shared by every test module."""

from __future__ import annotations

import pytest

from bot.config import Settings


@pytest.fixture(autouse=True)
def ignore_a_developers_dotenv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's step 1 creates .env in the checkout; it must not change what the tests see.

    Tests marked ``reads_dotenv`` (tests/test_config.py) run in a temporary folder with a .env of their own.
    """
    if request.node.get_closest_marker("reads_dotenv") is None:
        monkeypatch.setitem(Settings.model_config, "env_file", None)
