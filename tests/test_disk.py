"""The disk under the store: full (a clear error that says what to do, nothing half-stored, answers go on) or not
writable (the same kind of error at open, not a traceback).

SQLite's own page limit (``PRAGMA max_page_count``) stands in for a full disk: past it, writes fail with the same
SQLITE_FULL a full disk gives.
"""

from __future__ import annotations

import contextlib
import errno
import os
import sqlite3
from pathlib import Path

import aiosqlite
import asyncpg
import numpy as np
import pytest
from conftest import fresh_postgres_database, postgres_server_url

from bot.core import snapshot
from bot.core.errors import StoreUnavailable
from bot.core.library import SHARED_SCOPE, Library
from bot.core.models import LoggedQuestion
from bot.core.store import SQLiteStore, probe_write, unusable_store
from bot.tools.load import question_about, synthetic_articles


async def _fill_up(library: Library) -> None:
    """Let the store grow no further (per connection: the writer's), and take the room left inside its pages."""
    assert isinstance(library.store, SQLiteStore)
    writer = library.store._writer
    await writer.execute("CREATE TABLE IF NOT EXISTS filler (x BLOB)")
    async with writer.execute("PRAGMA page_count") as cursor:
        row = await cursor.fetchone()
    assert row is not None
    await writer.execute(f"PRAGMA max_page_count={row[0]}")
    for size in (1000, 100, 10, 1):
        with contextlib.suppress(sqlite3.OperationalError):
            while True:
                await writer.execute("INSERT INTO filler VALUES (zeroblob(?))", (size,))


async def _make_room(library: Library) -> None:
    assert isinstance(library.store, SQLiteStore)
    await library.store._writer.execute("PRAGMA max_page_count=1073741823")


async def test_an_add_on_a_full_disk_says_what_to_do_and_stores_nothing_of_it(tmp_path: Path):
    articles = synthetic_articles(60, seed=5)
    library = await Library.open(tmp_path / "c.db")
    try:
        await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles[:10])], SHARED_SCOPE)
        await _fill_up(library)
        with pytest.raises(StoreUnavailable) as raised:
            await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles[10:], 10)], SHARED_SCOPE)
        message = str(raised.value)
        assert "is full" in message and "CITEBOT_DB" in message and str(tmp_path) in message
        # The store and the index agree: the articles of before, none of the failed write.
        stored = [a async for batch in library.store.iter_articles([SHARED_SCOPE]) for a in batch]
        assert library.articles.live_count == len(stored) == 10
        answer = await library.ask(question_about(articles[3]), [SHARED_SCOPE])
        assert not answer.abstained and answer.quotes[0].text in articles[3].text
        # With room again, the same connection writes again (no transaction left open by the failure).
        await _make_room(library)
        report = await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles)], SHARED_SCOPE)
        assert (len(report.added), len(report.unchanged)) == (50, 10)
    finally:
        await library.close()
    reopened = await Library.open(tmp_path / "c.db")
    try:
        assert reopened.articles.live_count == 60
        answer = await reopened.ask(question_about(articles[42]), [SHARED_SCOPE])
        assert not answer.abstained and answer.quotes[0].text in articles[42].text
    finally:
        await reopened.close(save_snapshot=False)


async def test_a_question_is_answered_when_the_full_disk_cannot_log_it(tmp_path: Path):
    articles = synthetic_articles(5, seed=6)
    library = await Library.open(tmp_path / "c.db")
    try:
        await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles)], SHARED_SCOPE)
        await _fill_up(library)
        logged = 0
        for _ in range(500):  # the query log's own pages still have room for a few rows
            answer = await library.ask(question_about(articles[1]), [SHARED_SCOPE], log_scope="guild:1", user_id="7")
            assert not answer.abstained and answer.quotes[0].text in articles[1].text
            if answer.query_id is None:  # not logged: no buttons that would point at nothing
                break
            logged += 1
        assert answer.query_id is None and logged < 500
    finally:
        await library.close(save_snapshot=False)


def test_a_snapshot_the_disk_cannot_hold_leaves_no_part_behind(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    path = tmp_path / "index" / snapshot.FILE_NAME

    def fill_the_disk(handle, arrays):  # type: ignore[no-untyped-def]
        handle.write(b"x" * 4096)
        raise OSError(errno.ENOSPC, "No space left on device")

    monkeypatch.setattr(snapshot, "_write_npz", fill_the_disk)
    with pytest.raises(OSError):
        snapshot.write(path, {"a": np.arange(3)}, {"seq": 1})
    assert sorted(p.name for p in path.parent.iterdir()) == ["lock"]


@pytest.mark.parametrize("damage", ["not a database", "truncated"])
async def test_a_damaged_store_file_says_so_and_what_to_do(tmp_path: Path, damage: str):
    path = tmp_path / "c.db"
    if damage == "not a database":
        path.write_bytes(bytes(range(256)) * 64)
    else:
        library = await Library.open(path)
        await library.add_articles([(a, f"a{i}") for i, a in enumerate(synthetic_articles(30, seed=9))], SHARED_SCOPE)
        await library.close(save_snapshot=False)
        path.write_bytes(path.read_bytes()[: path.stat().st_size // 3])  # a copy cut short
    with pytest.raises(StoreUnavailable) as raised:
        await Library.open(path)
    message = str(raised.value)
    assert str(path) in message and "damaged" in message and "citebot backup" in message
    assert f"`citebot --db {path} health`" in message  # this store, not CITEBOT_DB's


@pytest.mark.parametrize("found_by", ["open", "question"])
async def test_a_damaged_page_found_after_the_store_opened_says_so_too(tmp_path: Path, found_by: str):
    # The store's own open reads only its first pages; a damaged page further on is found by the index's first
    # reads (open) or, when it is damaged after the store opened, by the question that reads its text, and then
    # gets the same message, not SQLite's own.
    path = tmp_path / "c.db"
    articles = synthetic_articles(200, seed=9)
    library = await Library.open(path)
    await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles)], SHARED_SCOPE)
    await library.close()

    def damage() -> None:
        raw = bytearray(path.read_bytes())
        first = 4 if found_by == "open" else len(raw) * 6 // 10 // 4096  # the last pages: the last articles' text
        for page in range(first, len(raw) // 4096 - 1):
            raw[page * 4096 : page * 4096 + 100] = b"\xff" * 100
        path.write_bytes(bytes(raw))

    if found_by == "open":
        damage()
        with pytest.raises(StoreUnavailable) as raised:
            await Library.open(path)
    else:
        library = await Library.open(path)
        try:
            damage()
            with pytest.raises(StoreUnavailable) as raised:
                await library.ask(question_about(articles[190]), [SHARED_SCOPE])
        finally:
            await library.close(save_snapshot=False)
    message = str(raised.value)
    assert str(path) in message and "damaged" in message and "citebot backup" in message


@pytest.mark.parametrize("blocked", ["parent is a file", "store is a folder"])
async def test_a_store_that_cannot_be_written_says_where_and_what_to_do(tmp_path: Path, blocked: str):
    # Root ignores file modes, so the two ways a path cannot hold a store that work for any user.
    if blocked == "parent is a file":
        (tmp_path / "volume").write_text("not a folder")
        path = tmp_path / "volume" / "c.db"
    else:
        path = tmp_path / "c.db"
        path.mkdir()
    with pytest.raises(StoreUnavailable) as raised:
        await Library.open(path)
    message = str(raised.value)
    assert str(path) in message and "CITEBOT_DB" in message
    if blocked == "store is a folder":  # no permission is at fault: it was "Make <parent> writable by this user"
        assert "is a folder, not a file" in message and "writable" not in message
    else:
        assert "writable" in message


async def test_a_store_file_this_user_cannot_write_is_refused_at_open(tmp_path: Path):
    """A store copied in by root for a bot running as another user opened read-only without a word: the bot
    started, said it was healthy, and failed every question."""
    path = tmp_path / "c.db"
    await (await Library.open(path)).close()
    # Root writes any file, so open it as SQLite opens a file this user may not write: read-only.
    async with aiosqlite.connect(f"file:{path}?mode=ro", uri=True, isolation_level=None) as readonly:
        with pytest.raises(sqlite3.OperationalError) as raised:
            await probe_write(readonly)
    explained = unusable_store(path, raised.value)
    assert explained is not None and "writable" in str(explained)
    if os.geteuid() != 0:
        path.chmod(0o444)
        with pytest.raises(StoreUnavailable, match="writable"):
            await Library.open(path)


async def test_a_full_disk_on_the_postgresql_server_says_so_and_loses_nothing():
    articles = synthetic_articles(12, seed=8)
    async with fresh_postgres_database(await postgres_server_url()) as url:
        library = await Library.open(url)
        admin = await asyncpg.connect(url)
        try:
            await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles[:4])], SHARED_SCOPE)
            # The server's own error for a full disk (SQLSTATE 53100, as "could not extend file" raises it).
            await admin.execute(
                "CREATE FUNCTION no_room() RETURNS trigger LANGUAGE plpgsql AS $$ BEGIN RAISE EXCEPTION"
                " 'could not extend file: No space left on device' USING ERRCODE = 'disk_full'; END $$;"
                " CREATE TRIGGER no_room BEFORE INSERT ON sentences FOR EACH ROW EXECUTE FUNCTION no_room();"
            )
            with pytest.raises(StoreUnavailable) as raised:
                await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles[4:], 4)], SHARED_SCOPE)
            assert "no disk space left" in str(raised.value) and "citebot_" in str(raised.value)
            stored = [a async for batch in library.store.iter_articles([SHARED_SCOPE]) for a in batch]
            assert library.articles.live_count == len(stored) == 4
            await admin.execute("DROP TRIGGER no_room ON sentences")
            report = await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles)], SHARED_SCOPE)
            assert (len(report.added), len(report.unchanged)) == (8, 4)
            answer = await library.ask(question_about(articles[9]), [SHARED_SCOPE])
            assert not answer.abstained and answer.quotes[0].text in articles[9].text
        finally:
            await admin.close()
            await library.close(save_snapshot=False)


async def test_an_error_without_a_sqlite_code_passes_through_a_write(tmp_path: Path):
    # The sqlite3 module's own errors (a closed connection's ProgrammingError) carry no result code.
    library = await Library.open(tmp_path / "c.db")
    try:
        assert isinstance(library.store, SQLiteStore)
        with pytest.raises(sqlite3.ProgrammingError, match="its own"):
            async with library.store._transaction():
                raise sqlite3.ProgrammingError("its own")
        # Rolled back, and usable.
        assert await library.store.log_query(LoggedQuestion("q", "guild:1", None, False, 1.0, 0)) == 1
    finally:
        await library.close(save_snapshot=False)
