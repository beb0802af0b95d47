"""What the store keeps about people, for how long, and upgrades that keep a way back; on a real SQLite file."""

from __future__ import annotations

import shutil
import sqlite3
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from importlib import resources
from pathlib import Path
from types import SimpleNamespace

import pytest

from bot.cli import main
from bot.core.errors import StoreUnavailable
from bot.core.library import MAX_QUESTION_CHARS, SHARED_SCOPE, Library
from bot.core.models import Article
from bot.core.store import SQLiteStore

REPO_CORPUS = Path(__file__).parent.parent / "corpus"
SEED = REPO_CORPUS / "independent-2026-01-05-putin-residence.md"
QUESTION = "Who claimed that Ukraine attacked Putin's residence?"


@pytest.fixture
async def seeded(tmp_path: Path) -> AsyncIterator[Library]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(SEED, corpus)
    library = await Library.open(tmp_path / "store.db")
    await library.add_paths([corpus], SHARED_SCOPE)
    yield library
    await library.close()


def query_rows(db: Path) -> list[tuple[str, str | None, int]]:
    with sqlite3.connect(db) as connection:
        return connection.execute("SELECT question, user_id, n_quotes FROM queries ORDER BY id").fetchall()


def age(db: Path, question: str, days: int) -> None:
    stamp = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
    with sqlite3.connect(db) as connection:
        connection.execute("UPDATE queries SET asked_at = ? WHERE question = ?", (stamp, question))


async def test_a_long_question_is_cut_before_it_is_scored_or_stored(seeded: Library) -> None:
    answer = await seeded.ask("Putin residence " * 10_000, [SHARED_SCOPE], log_scope=SHARED_SCOPE)
    assert len(answer.question) == MAX_QUESTION_CHARS
    [(stored, _, _)] = query_rows(seeded.path)
    assert len(stored) == MAX_QUESTION_CHARS


async def test_the_log_counts_quotes_shown_not_the_look_ahead(seeded: Library) -> None:
    answer = await seeded.ask(QUESTION, [SHARED_SCOPE], quotes=4, look_ahead=1, log_scope=SHARED_SCOPE)
    assert len(answer.quotes) == 4  # three shown, one to learn there are more
    [(_, _, n_quotes)] = query_rows(seeded.path)
    assert n_quotes == 3


async def test_purge_deletes_old_questions_with_their_votes(seeded: Library) -> None:
    old = await seeded.ask("old question about Putin", [SHARED_SCOPE], user_id="1", log_scope=SHARED_SCOPE)
    await seeded.ask("new question about Putin", [SHARED_SCOPE], user_id="1", log_scope=SHARED_SCOPE)
    assert old.query_id is not None
    assert await seeded.vote(old.query_id, SHARED_SCOPE, "2", helpful=True)
    age(seeded.path, "old question about Putin", 91)
    assert await seeded.purge_questions(90) == 1
    assert [q for q, _, _ in query_rows(seeded.path)] == ["new question about Putin"]
    assert await seeded.store.votes(old.query_id) == {}


async def test_forget_me_deletes_one_members_questions_and_votes_only(seeded: Library) -> None:
    mine = await seeded.ask("my question about Putin", [SHARED_SCOPE], user_id="7", log_scope="guild:1")
    theirs = await seeded.ask("their question about Putin", [SHARED_SCOPE], user_id="8", log_scope="guild:1")
    assert mine.query_id and theirs.query_id
    await seeded.vote(theirs.query_id, "guild:1", "7", helpful=False)
    await seeded.vote(theirs.query_id, "guild:1", "8", helpful=True)
    await seeded.add_articles([(Article("A text long enough to be an article.", title="t"), "x")], "guild:1")
    with sqlite3.connect(seeded.path) as connection:
        connection.execute("UPDATE articles SET added_by = '7' WHERE scope = 'guild:1'")

    assert await seeded.forget_user("7") == (1, 1, 1)
    assert [(q, u) for q, u, _ in query_rows(seeded.path)] == [("their question about Putin", "8")]
    assert await seeded.store.votes(theirs.query_id) == {"8": 1}
    with sqlite3.connect(seeded.path) as connection:
        assert connection.execute("SELECT COUNT(*) FROM articles WHERE added_by = '7'").fetchone() == (0,)


def test_cli_purge_uses_the_retention_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys) -> None:
    db = tmp_path / "c.db"
    with sqlite3.connect(db):
        pass
    assert main(["--db", str(db), "list"]) == 0  # creates the schema
    with sqlite3.connect(db) as connection:
        connection.executemany(
            "INSERT INTO queries (question, scope, user_id, abstained, latency_ms, n_quotes) VALUES (?, 'shared', '1', 0, 1, 0)",
            [("q40",), ("q10",)],
        )
    age(db, "q40", 40)
    age(db, "q10", 10)
    monkeypatch.setenv("CITEBOT_RETENTION_DAYS", "30")
    assert main(["--db", str(db), "purge"]) == 0
    assert [q for q, _, _ in query_rows(db)] == ["q10"]
    assert main(["--db", str(db), "purge", "--older-than", "5"]) == 0
    assert query_rows(db) == []
    assert "deleted 1 logged question older than 5 days" in capsys.readouterr().out
    monkeypatch.setenv("CITEBOT_RETENTION_DAYS", "0")
    assert main(["--db", str(db), "purge"]) == 2  # retention off: nothing is deleted without a number


def _version_1_store(db: Path) -> None:
    script = (resources.files("bot.core") / "migrations" / "V1__initial.sql").read_text(encoding="utf-8")
    with sqlite3.connect(db) as connection:
        connection.executescript(script)
        connection.execute("CREATE TABLE schema_version (version INTEGER PRIMARY KEY)")
        connection.execute("INSERT INTO schema_version VALUES (1)")
        connection.execute(
            "INSERT INTO queries (question, scope, user_id, abstained, latency_ms, n_quotes, feedback)"
            " VALUES ('kept?', 'guild:1', '5', 0, 1.0, 3, 1)"
        )


async def test_a_store_holding_data_is_backed_up_before_migrating(tmp_path: Path) -> None:
    db = tmp_path / "citebot.db"
    _version_1_store(db)
    store = await SQLiteStore.open(db)
    try:
        [query_id] = [1]
        assert await store.votes(query_id) == {"": 1}  # the old single value, voter unknown
    finally:
        await store.close()
    [backup] = tmp_path.glob("citebot.db.before-v2-*.db")
    with sqlite3.connect(backup) as connection:
        assert connection.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)
        assert connection.execute("SELECT question, feedback FROM queries").fetchall() == [("kept?", 1)]
    # Already migrated: no second backup.
    store = await SQLiteStore.open(db)
    await store.close()
    assert len(list(tmp_path.glob("citebot.db.before-*"))) == 1


async def test_a_new_store_is_not_backed_up(tmp_path: Path) -> None:
    store = await SQLiteStore.open(tmp_path / "citebot.db")
    await store.close()
    assert not list(tmp_path.glob("*.before-*"))


async def test_no_room_for_the_backup_stops_the_upgrade_before_it_starts(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    db = tmp_path / "citebot.db"
    _version_1_store(db)
    # The disk as the store sees it: room for less than the copy.
    monkeypatch.setattr(shutil, "disk_usage", lambda _path: SimpleNamespace(total=10**9, used=10**9 - 1000, free=1000))
    with pytest.raises(StoreUnavailable, match=r"has only 0 MB free: free some space.*Nothing was changed"):
        await SQLiteStore.open(db)
    assert not list(tmp_path.glob("*.before-*"))
    with sqlite3.connect(db) as connection:  # still version 1, its data in place
        assert connection.execute("SELECT MAX(version) FROM schema_version").fetchone() == (1,)
        assert connection.execute("SELECT question FROM queries").fetchall() == [("kept?",)]
    monkeypatch.undo()
    store = await SQLiteStore.open(db)  # with room, the upgrade goes ahead
    await store.close()
    assert len(list(tmp_path.glob("citebot.db.before-v2-*.db"))) == 1
