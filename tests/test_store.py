"""The store contract on both backends: a real SQLite file and a real PostgreSQL database (tests/conftest.py)."""

from __future__ import annotations

import asyncio
import dataclasses
import sqlite3
import subprocess
import sys
import threading
from pathlib import Path

import asyncpg
import pytest

from bot.core.errors import StoreUnavailable
from bot.core.location import is_postgres
from bot.core.models import Article, LoggedQuestion
from bot.core.store import TITLE_HEAD_BYTES, NewArticle, SQLiteStore, Store, open_store, unusable_store


async def insert(store: Store, items: list[NewArticle], terms: list[tuple[int, str]]):
    return await store.insert_articles(lambda _others: (items, terms), known_terms=0)


def new(text: str, scope: str = "shared", sentences: int = 2) -> NewArticle:
    spans = [(0, 5, b"\x01\x00\x00\x00")] * sentences
    return NewArticle(scope, Article(text=text, title="T"), content_hash=text, terms=b"", sentences=spans)


async def test_migrations_run_once_and_enable_wal(tmp_path: Path):
    store = await SQLiteStore.open(tmp_path / "s.db")
    await store.close()
    store = await SQLiteStore.open(tmp_path / "s.db")  # second open: no migration re-run
    try:
        with sqlite3.connect(tmp_path / "s.db") as db:
            assert db.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
            assert db.execute("SELECT version FROM schema_version").fetchall() == [(1,), (2,), (3,), (4,), (5,)]
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()


async def test_migrations_run_once_on_either_backend(store_location: str):
    store = await open_store(store_location)
    await store.close()
    store = await open_store(store_location)  # second open: no migration re-run
    try:
        assert await store.get_meta("store_id")
        assert await store.integrity_check() == "ok"
    finally:
        await store.close()
    if is_postgres(store_location):
        connection = await asyncpg.connect(store_location)
        try:
            versions = [r[0] for r in await connection.fetch("SELECT version FROM schema_version ORDER BY version")]
        finally:
            await connection.close()
    else:
        with sqlite3.connect(store_location) as db:
            versions = [r[0] for r in db.execute("SELECT version FROM schema_version ORDER BY version")]
    assert versions == [1, 2, 3, 4, 5]


async def test_a_store_a_newer_citebot_upgraded_is_refused(store_location: str):
    """An image rolled back after an upgrade used to go on writing a schema it does not know."""
    await (await open_store(store_location)).close()
    if is_postgres(store_location):
        connection = await asyncpg.connect(store_location)
        try:
            await connection.execute("INSERT INTO schema_version VALUES (99)")
        finally:
            await connection.close()
    else:
        with sqlite3.connect(store_location) as db:
            db.execute("INSERT INTO schema_version VALUES (99)")
    with pytest.raises(StoreUnavailable, match="schema version 99, written by a newer citebot"):
        await open_store(store_location)


async def test_a_readonly_store_refuses_writes(store_location: str):
    store = await open_store(store_location)
    await store.set_setting("guild:1", "moderator_role", "42")
    await store.close()
    readonly = await open_store(store_location, readonly=True)
    try:
        assert await readonly.get_setting("guild:1", "moderator_role") == "42"
        with pytest.raises((sqlite3.OperationalError, asyncpg.ReadOnlySQLTransactionError)):
            await readonly.set_setting("guild:1", "moderator_role", "43")
    finally:
        await readonly.close()


async def test_insert_is_one_transaction(store_location: str):
    store = await open_store(store_location)
    try:
        good = new("first article")
        bad = NewArticle("shared", Article(text=None), "h", b"", [])  # type: ignore[arg-type]  # NOT NULL
        with pytest.raises((sqlite3.IntegrityError, asyncpg.NotNullViolationError)):
            await insert(store, [good, bad], [(0, "word")])
        assert await store.count_articles(["shared"]) == 0
        assert await store.vocabulary() == []  # the terms rolled back too
        assert await store.last_seq() == 0
        [row] = await insert(store, [good], [(0, "word")])
        assert row is not None and len(row.sentence_ids) == 2
        assert await store.last_seq() == 1
    finally:
        await store.close()


async def test_pruning_the_change_log_keeps_the_newest_entry_and_turns_stale_reads_into_a_reset(
    store_location: str,
):
    """Both backends: entries below the bound go (never the newest, so numbering continues), the bound is
    recorded, and a follower reading from before it gets one 'reset' (rebuild) instead of a log with a hole."""
    store = await open_store(store_location)
    try:
        rows = await insert(store, [new(f"article {i}") for i in range(8)], [])
        assert await store.delete_article(rows[0].article_id, ["shared"]) is not None  # type: ignore[union-attr]
        assert await store.last_seq() == 9
        assert await store.prune_changes(1) == 0
        assert (await store.changes_since(0, 0)).changes[0].kind == "add"  # nothing pruned: the whole log
        assert await store.prune_changes(7) == 6  # entries 1–6
        assert [c.seq for c in (await store.changes_since(6, 0)).changes] == [7, 8, 9]
        stale = await store.changes_since(5, 0)
        assert [(c.seq, c.kind) for c in stale.changes] == [(6, "reset")]
        assert await store.prune_changes(10**9) == 2  # everything but the newest entry
        assert await store.last_seq() == 9 and [c.seq for c in (await store.changes_since(8, 0)).changes] == [9]
        await insert(store, [new("after pruning")], [])
        assert await store.last_seq() == 10  # numbering goes on: no pruned number is handed out again
        assert [c.seq for c in (await store.changes_since(9, 0)).changes] == [10]
        assert await store.integrity_check() == "ok"  # articles whose additions were pruned are not "unlogged"
    finally:
        await store.close()


async def test_same_text_twice_is_a_no_op_per_scope(store_location: str):
    store = await open_store(store_location)
    try:
        first, again, other_scope = await insert(store, [new("x"), new("x"), new("x", "guild:1")], [])
        assert first is not None and again is None and other_scope is not None
        assert await store.existing_hashes("shared", ["x", "y"]) == {"x": first.article_id}
    finally:
        await store.close()


async def test_delete_respects_scope(store_location: str):
    store = await open_store(store_location)
    try:
        [row] = await insert(store, [new("a", "guild:1")], [])
        assert row is not None
        assert await store.delete_article(row.article_id, ["guild:2", "shared"]) is None
        assert await store.get_article(row.article_id, ["guild:2"]) is None
        removed = await store.delete_article(row.article_id, ["guild:1"])
        assert removed is not None and len(removed.sentences) == 2
        assert await store.sentence_texts(row.sentence_ids) == {}
    finally:
        await store.close()


def terms(i: int) -> bytes:
    return bytes(range(i, i + 200)) * 3  # 600 bytes, longer than the head read


async def test_windows_and_articles_is_the_two_reads_in_one(store_location: str):
    """What an answer reads in one statement equals sentence_windows + articles_by_id (the windows' articles
    and the ones asked for), characters beyond ASCII cut alike, also past one statement's parameters (two reads)."""
    store = await open_store(store_location)
    try:
        spans = [(0, 6, b""), (7, 13, b""), (14, 20, b"")]
        rows = await insert(
            store,
            [
                NewArticle(
                    "shared", Article(text=f"Öne {i}. Twö {i}. S€x {i}.", title=f"T{i}"), str(i), terms(i), spans
                )
                for i in range(4)
            ],
            [],
        )
        sentence_ids = [s for row in rows[:2] if row for s in row.sentence_ids] + [10**9]
        ranked = [rows[3].article_id, 10**9] if rows[3] else []
        windows, articles = await store.windows_and_articles(sentence_ids, ranked)
        # Besides, the one read gives the first of each window's article's terms (its title's come first).
        if not is_postgres(store_location):
            assert {w.title_head for w in windows.values()} == {
                terms(0)[:TITLE_HEAD_BYTES],
                terms(1)[:TITLE_HEAD_BYTES],
            }
            windows = {i: dataclasses.replace(w, title_head=None) for i, w in windows.items()}
        assert windows == await store.sentence_windows(sentence_ids)
        expected = sorted({w.article_id for w in windows.values()} | set(ranked))
        assert articles == await store.articles_by_id(expected)
        assert sorted(articles) == sorted(row.article_id for row in (rows[0], rows[1], rows[3]) if row)
        assert windows[sentence_ids[1]].previous == "Öne 0." and windows[sentence_ids[1]].next_text == "S€x 0."
        many = sentence_ids + list(range(10**9 + 1, 10**9 + 400))
        assert await store.windows_and_articles(many, ranked) == (await store.sentence_windows(sentence_ids), articles)
        if not is_postgres(store_location):  # neighbours whose ids are not consecutive are found all the same
            with sqlite3.connect(store_location) as db:
                db.execute("UPDATE sentences SET id = id + 1000 WHERE id = ?", [sentence_ids[1]])
            moved = [sentence_ids[0], sentence_ids[1] + 1000, sentence_ids[2]]
            windows, _ = await store.windows_and_articles(moved, [])
            assert windows[moved[0]].next_id == moved[1] and windows[moved[2]].previous == "Twö 0."
            assert {i: dataclasses.replace(w, title_head=None) for i, w in windows.items()} == (
                await store.sentence_windows(moved)
            )
    finally:
        await store.close()


async def test_query_log_feedback_and_gaps(store_location: str):
    store = await open_store(store_location)
    try:
        for question in ["Boiling point of mercury?", "boiling point of mercury?", "Who won?"]:
            await store.log_query(LoggedQuestion(question, "guild:1", "u1", True, 3.0, 0))
        answered = await store.log_query(LoggedQuestion("Brexit date?", "guild:1", "u1", False, 3.0, 2))
        # Quoted, but unsure:
        await store.log_query(LoggedQuestion("Who won?", "guild:1", "u2", False, 3.0, 3, hedged=True))
        await store.log_query(LoggedQuestion("Cost of the bridge?", "guild:1", "u2", False, 3.0, 3, hedged=True))
        assert await store.set_vote(answered, "guild:1", "asker", 1)
        assert not await store.set_vote(answered, "guild:2", "asker", 1)  # another server's question
        assert await store.set_vote(answered, "guild:1", "other", -1)  # a second member does not overwrite
        assert await store.set_vote(answered, "guild:1", "asker", -1)  # the asker changes their mind
        assert await store.votes(answered) == {"asker": -1, "other": -1}
        gaps = await store.gaps("guild:1")
        assert [g.times for g in gaps] == [2, 2, 1]  # most asked first
        assert {(g.question, g.times, g.unsure) for g in gaps} == {
            ("boiling point of mercury?", 2, False),
            ("who won?", 2, False),  # abstained on once: not only unsure
            ("cost of the bridge?", 1, True),
        }
        assert await store.gaps("guild:2") == []
    finally:
        await store.close()


async def test_settings(store_location: str):
    store = await open_store(store_location)
    try:
        assert await store.get_setting("guild:1", "moderator_role") is None
        await store.set_setting("guild:1", "moderator_role", "42")
        await store.set_setting("guild:1", "moderator_role", "43")
        assert await store.get_setting("guild:1", "moderator_role") == "43"
        await store.set_setting("guild:1", "moderator_role", None)
        assert await store.get_setting("guild:1", "moderator_role") is None
    finally:
        await store.close()


def test_a_store_locked_by_another_process_is_a_message_that_says_what_to_do() -> None:
    """A backup copied over the store while a bot held it: opening it failed with a raw "database is locked"."""
    error = sqlite3.OperationalError("database is locked")
    error.sqlite_errorcode = sqlite3.SQLITE_BUSY  # what SQLite sets when the busy timeout runs out
    explained = unusable_store(Path("s.db"), error)
    assert explained is not None and "locked by another process" in str(explained) and "Backups" in str(explained)


def test_a_store_opening_cancelled_leaves_no_thread_reporting_to_a_closed_loop(tmp_path: Path):
    """Ctrl-C in a command's first second (while its modules load) took effect at its store's opening: aiosqlite's
    connection thread then reported to the event loop asyncio.run had closed, a thread's traceback after exit 130."""
    errors: list[BaseException | None] = []
    previous = threading.excepthook
    threading.excepthook = lambda hook: errors.append(hook.exc_value)

    async def cancelled_while_opening() -> None:
        opening = asyncio.ensure_future(SQLiteStore.open(tmp_path / "s.db"))
        await asyncio.sleep(0)  # its connection thread is opening the file
        opening.cancel()
        with pytest.raises(asyncio.CancelledError):
            await opening

    try:
        asyncio.run(cancelled_while_opening())
        for thread in threading.enumerate():
            if "_connection_worker_thread" in thread.name:
                thread.join(10)  # aiosqlite's connection threads, done
    finally:
        threading.excepthook = previous
    assert errors == []


def test_a_command_ended_by_an_error_with_its_store_open_still_exits(tmp_path: Path) -> None:
    """An error before a store was closed, its traceback holding the store: aiosqlite's connection threads kept
    the process from exiting, silently and for good (a host saw a command that never returned)."""
    script = (
        "import asyncio, sys\n"
        "from bot.core.library import Library\n"
        "async def main():\n"
        "    library = await Library.open(sys.argv[1])\n"
        "    raise RuntimeError('ended before closing')\n"
        "asyncio.run(main())\n"
    )
    ended = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "s.db")], capture_output=True, text=True, timeout=60
    )
    assert ended.returncode == 1 and "ended before closing" in ended.stderr
