"""One bot per store, or per shard. On PostgreSQL wherever its processes run from: the run lock held in the database
(bot/core/locks_postgres.py). A real server (tests/conftest.py; `.ci/run` starts one); each RunLock has its own
connection, so two of them in one test are two processes to PostgreSQL. On SQLite the same rules in files beside the
store (bot/core/locks.py): each take opens its own files, and flock locks of two opens exclude each other as two
processes' would."""

from __future__ import annotations

import asyncio
import fcntl
import os
import signal
import sys
import threading
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from conftest import fresh_postgres_database, postgres_server_url
from discord_helpers import add_server, write_corpus
from fakediscord import FakeDiscord

from bot.core import locks
from bot.core.locks_postgres import RunLock, RunLockHeld

ENV = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))} | {
    "PYTHONDONTWRITEBYTECODE": "1",
    "http_proxy": "",
    "https_proxy": "",
}
PATIENCE = 30.0  # how long a test waits for something to happen before failing (not a speed requirement)


@pytest.fixture
async def postgres_url() -> AsyncIterator[str]:
    async with fresh_postgres_database(await postgres_server_url()) as url:
        yield url


async def take(
    url: str,
    shard_count: int | None = None,
    shards: list[int] | None = None,
    *,
    host: str = "test-host",
    every: float = 5,
) -> RunLock:
    return await RunLock.take(url, shard_count, shards, host=host, every=every)


async def test_one_unsharded_bot_per_store_and_never_beside_shards(postgres_url: str):
    bot = await take(postgres_url, host="host-a")
    try:
        with pytest.raises(RunLockHeld, match=rf"citebot run pid {os.getpid()} on host-a.*stop it first"):
            await take(postgres_url, host="host-b")
        with pytest.raises(RunLockHeld, match=r"An unsharded `citebot run`.*host-a"):
            await take(postgres_url, 2, [1])
        async with fresh_postgres_database(await postgres_server_url()) as other_store:
            await (await take(other_store)).close()  # the lock is the store's, not the server's
    finally:
        await bot.close()
    again = await take(postgres_url)  # released with its session
    await again.close()


async def test_disjoint_shards_run_side_by_side_and_overlapping_ones_are_refused(postgres_url: str):
    shard_0, shard_1 = await take(postgres_url, 2, [0], host="host-a"), await take(postgres_url, 2, [1], host="host-b")
    try:
        with pytest.raises(RunLockHeld, match=r"using .*host-a; .*host-b.*stop it first"):
            await take(postgres_url)  # an unsharded bot beside them
        with pytest.raises(RunLockHeld, match=r"runs shard 1 of .*host-b.*CITEBOT_SHARD_IDS"):
            await take(postgres_url, 2, [1])
        with pytest.raises(RunLockHeld, match=r"runs shard 0 of .*host-a"):
            await take(postgres_url, 2)  # all shards: 0 and 1
        with pytest.raises(RunLockHeld, match=r"CITEBOT_SHARD_COUNT=2 .*this one 4"):
            await take(postgres_url, 4, [3])  # shard 3 of 4 shares servers with shard 1 of 2
        await shard_1.close()
        shard_1 = await take(postgres_url, 2, [1])  # a refused process left nothing held behind
    finally:
        await shard_0.close()
        await shard_1.close()


def test_sqlite_one_unsharded_bot_per_store_and_never_beside_shards(tmp_path: Path):
    store = tmp_path / "citebot.db"
    with locks.take_run_lock(store, None, None, host="host-a"):
        with pytest.raises(locks.RunLockHeld, match=rf"pid {os.getpid()}.*host host-a\); stop it first"):
            locks.take_run_lock(store, None, None, host="host-b")
        with pytest.raises(locks.RunLockHeld, match=r"An unsharded `citebot run`.*host-a"):
            locks.take_run_lock(store, 2, [1])
        locks.take_run_lock(tmp_path / "other.db", None, None).close()  # the lock is the store's, not the folder's
    locks.take_run_lock(store, None, None).close()  # released when closed


def test_sqlite_disjoint_shards_run_side_by_side_and_overlapping_ones_are_refused(tmp_path: Path):
    """The lock file was named after the shard ids, so `0-1` and `1` took different files and both answered."""
    store = tmp_path / "citebot.db"
    shard_0 = locks.take_run_lock(store, 2, [0], host="host-a")
    shard_1 = locks.take_run_lock(store, 2, [1], host="host-b")
    try:
        with pytest.raises(locks.RunLockHeld, match=r"using .*host-a; .*host-b.*stop it first"):
            locks.take_run_lock(store, None, None)  # an unsharded bot beside them
        with pytest.raises(locks.RunLockHeld, match=r"runs shard 1 of .*host-b.*CITEBOT_SHARD_IDS"):
            locks.take_run_lock(store, 2, [1])
        with pytest.raises(locks.RunLockHeld, match=r"runs shard 0 of .*host-a"):
            locks.take_run_lock(store, 2, None)  # all shards: 0 and 1
        with pytest.raises(locks.RunLockHeld, match=r"CITEBOT_SHARD_COUNT=2, this one 4"):
            locks.take_run_lock(store, 4, [3])  # shard 3 of 4 shares servers with shard 1 of 2
        shard_1.close()
        shard_1 = locks.take_run_lock(store, 2, [1])  # a refused process left nothing held behind
    finally:
        shard_0.close()
        shard_1.close()
    with locks.take_run_lock(store, 4, [3]):  # no process of count 2 left
        pass


def test_sqlite_a_symlink_to_the_store_or_another_spelling_of_it_takes_the_same_lock(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """The lock files were named after the path as given: a bot started on a symlink to the store ran beside one
    started on the store itself, and both answered every question (SQLite opens the one file through either)."""
    store = tmp_path / "data" / "citebot.db"
    store.parent.mkdir()
    (tmp_path / "alias.db").symlink_to(store)
    (tmp_path / "folder").symlink_to(store.parent)
    monkeypatch.chdir(tmp_path / "folder")
    spellings = [tmp_path / "alias.db", tmp_path / "folder" / "citebot.db", Path("citebot.db"), Path("../alias.db")]
    with locks.take_run_lock(store, None, None, host="host-a"):
        for spelling in spellings:
            with pytest.raises(locks.RunLockHeld, match=r"host-a\); stop it first"):
                locks.take_run_lock(spelling, None, None)
            with pytest.raises(locks.RunLockHeld, match=r"An unsharded `citebot run`.*host-a"):
                locks.take_run_lock(spelling, 2, [1])
    with locks.take_run_lock(tmp_path / "alias.db", 2, [0], host="host-b"):
        with pytest.raises(locks.RunLockHeld, match=r"runs shard 0 of .*host-b"):
            locks.take_run_lock(store, 2, [0])
        with pytest.raises(locks.RunLockHeld, match=r"CITEBOT_SHARD_COUNT=2, this one 3"):
            locks.take_run_lock(store, 3, [2])
        with pytest.raises(locks.RunLockHeld, match=r"host-b.*stop it first"):
            locks.take_run_lock(Path("citebot.db"), None, None)


def test_sqlite_a_store_name_with_glob_characters_still_refuses_another_count(tmp_path: Path):
    """The other counts' files were found by a glob of the store's name: in `bot[1].db` the brackets are a character
    class, so a process of count 3 ran beside one of count 2; and `a*.db` took `ab.db`'s processes for its own."""
    store = tmp_path / "bot[1].db"
    with locks.take_run_lock(store, 2, [0], host="host-a"):
        with pytest.raises(locks.RunLockHeld, match=r"CITEBOT_SHARD_COUNT=2, this one 3"):
            locks.take_run_lock(store, 3, [2])
        with pytest.raises(locks.RunLockHeld, match=r"using .*bot\[1\]\.db \(pid .*host-a\)"):
            locks.take_run_lock(store, None, None)
    with locks.take_run_lock(tmp_path / "ab.db", 2, [0]), locks.take_run_lock(tmp_path / "a*.db", 3, [2]):
        pass  # another store's processes


def test_sqlite_a_shard_starting_while_a_refused_bot_looks_at_its_file_still_starts(tmp_path: Path):
    """An unsharded bot refused beside shards names them by taking each shard's file for an instant (to see which
    are held): a process starting that shard then was refused, naming a process that had stopped (313 of 4,523 starts
    beside a restart loop of an unsharded bot)."""
    store = tmp_path / "citebot.db"
    with locks.take_run_lock(store, 2, [0], host="host-a"):
        locks.take_run_lock(store, 2, [1], host="gone").close()  # a process of shard 1 that stopped
        look = (tmp_path / "citebot.db.run-shard-1.lock").open("a+")
        fcntl.flock(look, fcntl.LOCK_EX | fcntl.LOCK_NB)  # the refused bot's look at shard 1, at that instant
        ending = threading.Timer(0.05, look.close)
        ending.start()
        try:
            with locks.take_run_lock(store, 2, [1], host="host-b"):
                pass
        finally:
            ending.join()


async def test_a_lost_lock_is_taken_again_unless_another_process_took_it(postgres_url: str):
    admin = await asyncpg.connect(postgres_url)
    holders = (
        "SELECT l.pid FROM pg_locks l JOIN pg_stat_activity a ON a.pid = l.pid WHERE l.locktype = 'advisory'"
        " AND l.granted AND a.datname = current_database() AND a.application_name LIKE '%on ' || $1"
    )
    bot = await take(postgres_url, host="host-a", every=0.5)
    try:
        [first] = [r[0] for r in await admin.fetch(holders, "host-a")]
        await admin.execute("SELECT pg_terminate_backend($1)", first)  # as a server restart would
        started = time.perf_counter()
        while [r[0] for r in await admin.fetch(holders, "host-a")] in ([], [first]):
            assert time.perf_counter() - started < PATIENCE, "the lock was never taken again"
            await asyncio.sleep(0.05)
        assert not bot.lost.is_set()

        [second] = [r[0] for r in await admin.fetch(holders, "host-a")]
        await admin.execute("SELECT pg_terminate_backend($1)", second)
        other = None
        while other is None:  # within the half second before the bot tries again
            try:
                other = await take(postgres_url, host="host-b")
            except RunLockHeld:
                await asyncio.sleep(0.01)  # the terminated session is still ending
        try:
            await asyncio.wait_for(bot.lost.wait(), PATIENCE)
        finally:
            await other.close()
    finally:
        await bot.close()
        await admin.close()


async def run(url: str, cwd: Path, **env: str) -> asyncio.subprocess.Process:
    return await asyncio.create_subprocess_exec(
        sys.executable, "-m", "bot", "run", stdin=asyncio.subprocess.DEVNULL, stdout=asyncio.subprocess.DEVNULL,
        stderr=asyncio.subprocess.PIPE, cwd=cwd, env=ENV | {"CITEBOT_DB": url} | env,
    )  # fmt: skip


async def test_a_second_bot_from_another_folder_is_refused_and_a_bot_whose_lock_was_taken_stops(
    postgres_url: str, tmp_path: Path
):
    async with FakeDiscord() as fake:
        add_server(fake, "a")
        write_corpus(tmp_path)
        discord = {
            "DISCORD_TOKEN": fake.token,
            "CITEBOT_CORPUS": str(tmp_path / "corpus"),
            "CITEBOT_DISCORD_API_BASE": fake.api_base,
            "CITEBOT_DISCORD_GATEWAY": fake.gateway_url,
        }
        (tmp_path / "one").mkdir()
        (tmp_path / "two").mkdir()
        first = await run(postgres_url, tmp_path / "one", **discord)
        try:
            await fake.wait_until(lambda: fake.identifies, 60, "the first bot identifies")
            for shards in ({}, {"CITEBOT_SHARD_COUNT": "2", "CITEBOT_SHARD_IDS": "1"}):
                second = await run(postgres_url, tmp_path / "two", **discord, **shards)
                try:
                    _, stderr = await asyncio.wait_for(second.communicate(), 60)
                finally:
                    if second.returncode is None:  # it was not refused: leave no bot running
                        second.kill()
                        await second.wait()
                assert second.returncode == 1, stderr.decode()
                assert f"pid {first.pid} on " in stderr.decode() and "stop it first" in stderr.decode()
            assert len(fake.identifies) == 1  # the second never reached Discord

            # The first bot's lock connection drops and another process takes the lock: the first stops.
            admin = await asyncpg.connect(postgres_url)
            try:
                name = f"citebot run pid {first.pid} on %"
                await admin.execute(
                    "SELECT pg_terminate_backend(pid) FROM pg_stat_activity WHERE application_name LIKE $1", name
                )
            finally:
                await admin.close()
            other = None
            while other is None:
                try:
                    other = await take(postgres_url, host="host-b")
                except RunLockHeld:
                    await asyncio.sleep(0.01)
            try:
                _, stderr = await asyncio.wait_for(first.communicate(), PATIENCE)
            finally:
                await other.close()
            assert first.returncode == 1, stderr.decode()
            assert "event=run_lock_lost" in stderr.decode() and "host-b" in stderr.decode()
        finally:
            if first.returncode is None:
                first.send_signal(signal.SIGTERM)
                await first.wait()
