"""`citebot health`: exit 0 with one status line when the store, the index and (if running) the bot are fine;
exit 1 with a clear message otherwise; and it writes nothing."""

from __future__ import annotations

import asyncio
import hashlib
import json
import os
import sqlite3
import subprocess
import sys
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from bot.cli import main
from bot.core.library import Library
from bot.core.store import SQLiteStore
from bot.tools import health
from bot.tools.load import synthetic_articles

NOW = datetime(2026, 1, 5, 12, 0, tzinfo=UTC)


async def make_store(db: Path, *, snapshot: bool = True) -> None:
    library = await Library.open(db)
    try:
        await library.add_articles([(a, "x") for a in synthetic_articles(30, seed=4)], "shared")
    finally:
        await library.close(save_snapshot=snapshot)


@pytest.fixture
def db(tmp_path: Path) -> Path:
    path = tmp_path / "citebot.db"
    asyncio.run(make_store(path))
    return path


def run_health(db: Path, capsys: pytest.CaptureFixture[str], *extra: str) -> tuple[int, str]:
    code = main(["--db", str(db), "health", *extra])
    captured = capsys.readouterr()
    output = (captured.out + captured.err).strip()
    assert len(output.splitlines()) == 1, output  # one line, for Docker's health log
    return code, output


def heartbeat(db: Path, *, connected: bool = True, age: float = 5.0, raw: str | None = None) -> None:
    updated = (datetime.now(UTC) - timedelta(seconds=age)).isoformat()
    status = {"gateway_connected": connected, "updated_at": updated, "pid": 1}
    health.status_path(db).write_text(raw if raw is not None else json.dumps(status), encoding="utf-8")


def test_healthy_store_without_a_running_bot(db: Path, capsys: pytest.CaptureFixture[str]):
    code, line = run_health(db, capsys)
    assert code == 0
    assert line.startswith("healthy: store") and "30 articles" in line and "snapshot 0 changes behind" in line
    assert "gateway" not in line  # no heartbeat: only the store and index checks apply


def test_healthy_with_a_connected_bot(db: Path, capsys: pytest.CaptureFixture[str]):
    heartbeat(db, connected=True, age=10)
    code, line = run_health(db, capsys, "--require-bot")
    assert code == 0 and "gateway connected (heartbeat 10 s ago)" in line


@pytest.mark.parametrize(
    ("connected", "age", "raw", "message"),
    [
        (True, 121, None, "heartbeat is 121 s old"),
        (True, 3600, None, "hung or stopped"),
        (False, 5, None, "not connected to the Discord gateway"),
        (True, 5, "{not json", "heartbeat"),
        (True, 5, '{"gateway_connected": true}', "not valid"),
        (True, 5, '{"gateway_connected": true, "updated_at": "yesterday"}', "not valid"),
    ],
)
def test_unhealthy_bot(
    db: Path,
    capsys: pytest.CaptureFixture[str],
    connected: bool,
    age: float,
    raw: str | None,
    message: str,
):
    heartbeat(db, connected=connected, age=age, raw=raw)
    code, line = run_health(db, capsys)
    assert code == 1 and line.startswith("unhealthy:") and message in line


def test_heartbeat_age_limit_and_requirement():
    db = Path("/nonexistent/citebot.db")
    with pytest.raises(health.Unhealthy, match="no heartbeat"):
        health.check_heartbeat(db, require=True, max_age=120)
    assert health.check_heartbeat(db, require=False, max_age=120) == ""


def test_heartbeat_boundaries(tmp_path: Path):
    db = tmp_path / "c.db"
    fresh = {"gateway_connected": True, "updated_at": (NOW - timedelta(seconds=120)).isoformat()}
    health.status_path(db).write_text(json.dumps(fresh))
    assert "120 s ago" in health.check_heartbeat(db, require=True, max_age=120, now=NOW)
    naive = {"gateway_connected": True, "updated_at": (NOW - timedelta(seconds=30)).replace(tzinfo=None).isoformat()}
    health.status_path(db).write_text(json.dumps(naive))  # read as UTC, the bot's clock
    assert "30 s ago" in health.check_heartbeat(db, require=True, max_age=120, now=NOW)
    truthy = {"gateway_connected": "yes", "updated_at": NOW.isoformat()}
    health.status_path(db).write_text(json.dumps(truthy))  # only a real true counts
    with pytest.raises(health.Unhealthy, match="not connected"):
        health.check_heartbeat(db, require=True, max_age=120, now=NOW)


def test_missing_heartbeat_fails_only_when_required(db: Path, capsys: pytest.CaptureFixture[str]):
    code, line = run_health(db, capsys, "--require-bot")
    assert code == 1 and "the bot is not running: no heartbeat" in line
    assert run_health(db, capsys)[0] == 0


def test_no_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    code, line = run_health(tmp_path / "none.db", capsys)
    assert code == 1 and "no store at" in line
    assert not (tmp_path / "none.db").exists()  # health never creates one


def test_not_a_database(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"definitely not SQLite" * 500)
    code, line = run_health(junk, capsys)
    assert code == 1 and "unreadable" in line


def test_not_a_citebot_store(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    other = tmp_path / "other.db"
    with sqlite3.connect(other) as con:
        con.execute("CREATE TABLE t (x)")
    code, line = run_health(other, capsys)
    assert code == 1 and "not a citebot store" in line


def test_older_schema(db: Path, capsys: pytest.CaptureFixture[str]):
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM schema_version")
    code, line = run_health(db, capsys)
    assert code == 1 and "schema version 0" in line


def test_a_store_this_user_cannot_write_is_unhealthy(
    db: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """The bot refuses such a store at start; health opened it read-only and said healthy. (As root every file
    is writable, so the permission check itself is answered here as for another user.)"""
    real_access = os.access
    monkeypatch.setattr(health.os, "access", lambda path, mode: Path(path) != db and real_access(path, mode))
    code, line = run_health(db, capsys)
    assert code == 1 and "not writable by this user" in line and str(db) in line


def test_corrupt_store_fails_quick_check(db: Path, capsys: pytest.CaptureFixture[str]):
    data = bytearray(db.read_bytes())  # closed cleanly: everything is checkpointed into the main file
    for page in range(1, len(data) // 4096):  # scribble over the header of every page but the schema's
        data[page * 4096 : page * 4096 + 16] = b"\xff" * 16
    db.write_bytes(bytes(data))
    code, line = run_health(db, capsys)
    assert code == 1 and ("quick_check" in line or "unreadable" in line)
    assert len(line) <= 320  # thousands of quick_check rows cut to one short line


def test_the_snapshot_is_reported_never_loaded_or_rebuilt(db: Path, capsys: pytest.CaptureFixture[str]):
    """The index is a cache: a stale, truncated or foreign snapshot is information, not a failure, and health
    never reads the sentences (here made unreadable: a rebuild would fail)."""
    with sqlite3.connect(db) as con:
        con.execute("UPDATE sentences SET terms = X'01' WHERE id = 1")  # 1 byte: not a whole uint32
        con.execute("INSERT INTO changes (kind, article_id) VALUES ('add', 1), ('add', 2)")  # two changes later
    code, line = run_health(db, capsys)
    assert code == 0 and "snapshot 2 changes behind" in line
    snapshot = Path(str(db) + ".index") / "snapshot.npz"
    snapshot.write_bytes(snapshot.read_bytes()[:1000])
    code, line = run_health(db, capsys)
    assert code == 0 and "unreadable" in line and "rebuilds" in line
    with sqlite3.connect(db) as con:
        con.execute("UPDATE meta SET value = 'someone-else' WHERE key = 'store_id'")
    asyncio.run(make_store(db.with_name("other.db")))
    snapshot.write_bytes((Path(str(db.with_name("other.db")) + ".index") / "snapshot.npz").read_bytes())
    code, line = run_health(db, capsys)
    assert code == 0 and "another store" in line
    snapshot.unlink()
    code, line = run_health(db, capsys)
    assert code == 0 and "no index snapshot yet" in line


def test_a_snapshot_older_than_the_pruned_change_log_is_reported(db: Path, capsys: pytest.CaptureFixture[str]):
    """The log was pruned past the snapshot (another process's bot): healthy, and it says the next start rebuilds."""
    with sqlite3.connect(db) as con:
        con.execute("INSERT INTO changes (kind, article_id) VALUES ('add', 1), ('add', 2)")
        con.execute("DELETE FROM changes WHERE seq <= 31")
        con.execute("INSERT INTO meta (key, value) VALUES ('changes_pruned_through', '31')")
    code, line = run_health(db, capsys)
    assert code == 0 and "2 changes behind, older than the pruned change log" in line and "rebuilds" in line
    with sqlite3.connect(db) as con:
        con.execute("UPDATE meta SET value = '29' WHERE key = 'changes_pruned_through'")  # its entry (30) kept
    code, line = run_health(db, capsys)
    assert code == 0 and "snapshot 2 changes behind the store" in line


def test_a_snapshot_ahead_of_the_store_is_reported_as_a_restore(db: Path, capsys: pytest.CaptureFixture[str]):
    """An older copy of the store put back under its snapshot: the same store, not another one."""
    with sqlite3.connect(db) as con:
        con.execute("DELETE FROM changes WHERE seq > 27")  # three changes the store no longer has
    code, line = run_health(db, capsys)
    assert code == 0 and "3 changes ahead of the store (an older copy restored?)" in line and "new id" in line


def test_a_snapshot_of_another_line_of_the_store_is_reported(db: Path, capsys: pytest.CaptureFixture[str]):
    """The store's change 30 is another article than the snapshot's change 30 (a restored copy written to)."""
    with sqlite3.connect(db) as con:
        con.execute(
            "UPDATE articles SET content_hash = 'other' WHERE id = (SELECT article_id FROM changes WHERE seq = 30)"
        )
    code, line = run_health(db, capsys)
    assert code == 0 and "is not the store's change 30" in line and "new id" in line


def test_outdated_analysis_is_unhealthy(db: Path, capsys: pytest.CaptureFixture[str]):
    with sqlite3.connect(db) as con:
        con.execute("UPDATE meta SET value = 'old' WHERE key = 'analysis'")
    code, line = run_health(db, capsys)
    assert code == 1 and f"run `citebot --db {db} reindex`" in line  # the same store as this command's


def test_health_writes_nothing(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = tmp_path / "c.db"
    asyncio.run(make_store(db, snapshot=False))
    before = hashlib.sha256(db.read_bytes()).hexdigest()
    assert run_health(db, capsys)[0] == 0
    assert hashlib.sha256(db.read_bytes()).hexdigest() == before
    assert not Path(str(db) + ".index").exists()  # no snapshot saved


def test_timeout_is_unhealthy(db: Path, capsys: pytest.CaptureFixture[str]):
    code, line = run_health(db, capsys, "--timeout", "0.000001")
    assert code == 1 and "took more than" in line


async def test_readonly_store_refuses_writes(db: Path):
    store = await SQLiteStore.open_readonly(db)
    try:
        assert await store.count_articles(["shared"]) == 30
        with pytest.raises(sqlite3.OperationalError, match="readonly"):
            await store.set_setting("shared", "k", "v")
    finally:
        await store.close()
    with pytest.raises(FileNotFoundError):
        await SQLiteStore.open_readonly(db.with_name("missing.db"))


def test_bot_heartbeat_age(tmp_path: Path):
    db = tmp_path / "c.db"
    assert health.bot_heartbeat_age(db) is None  # no file
    heartbeat(db, connected=False, age=20)
    age = health.bot_heartbeat_age(db)
    assert age is not None and 19 < age < 30  # running, whatever the gateway says
    heartbeat(db, age=500)
    assert health.bot_heartbeat_age(db) is None
    heartbeat(db, raw="garbage")
    assert health.bot_heartbeat_age(db) is None


HEAVY = ("discord", "aiohttp", "nltk", "numpy", "aiosqlite", "asyncpg", "tqdm", "bot.core.library", "bot.core.index")


def modules_after(*argv: str) -> tuple[int, set[str]]:
    """Run `citebot ARGV` in a fresh interpreter; its exit code and the modules it had imported by the end."""
    code = (
        "import json, sys\n"
        "from bot.cli import main\n"
        "try:\n"
        "    status = main(sys.argv[1:])\n"
        "except SystemExit as stop:\n"
        "    status = stop.code\n"
        "print(json.dumps([status, sorted(sys.modules)]))\n"
    )
    out = subprocess.run([sys.executable, "-c", code, *argv], capture_output=True, text=True, check=True)
    status, modules = json.loads(out.stdout.strip().splitlines()[-1])
    return status, set(modules)


def test_health_imports_neither_discord_nor_the_index(db: Path):
    """Docker runs it every minute: it loads no Discord, HTTP, tokeniser or index code (behaviour, not timing).
    The store was opened by a Library (the fixture), which left the analysis memo health reads."""
    status, modules = modules_after("--db", str(db), "health")
    assert status == 0
    assert "bot.tools.health" in modules
    assert not {m for m in modules if m.split(".")[0] in HEAVY or m in HEAVY}


def test_help_lists_every_command_and_imports_no_command_module(capsys: pytest.CaptureFixture[str]):
    status, modules = modules_after("--help")
    assert status == 0
    assert not {m for m in modules if m.startswith(("bot.tools.", "bot.discord")) or m.split(".")[0] in HEAVY}
    assert "pydantic" not in modules  # the settings are read after parsing: help needs none
    from bot.cli import _ELSEWHERE, build_parser

    listed = build_parser([]).format_help()
    assert all(name in listed for name in [*_ELSEWHERE, "ask", "index", "reindex"])
    with pytest.raises(SystemExit):  # a command's own help: its module registers its arguments
        main(["health", "--help"])
    assert "--require-bot" in capsys.readouterr().out


def test_the_analysis_memo_is_believed_only_from_the_same_code(db: Path):
    """The memo saves health from importing the tokeniser; one written by other code (another key) is ignored
    and the version computed, so an upgraded citebot never trusts an old memo."""
    from bot.core import analysis
    from bot.core.library import ANALYSIS_VERSION

    assert analysis.remembered(db) == ANALYSIS_VERSION  # left by Library.open
    analysis.memo_path(db).write_text(json.dumps({"key": "older-code", "analysis": "old"}), encoding="utf-8")
    assert analysis.remembered(db) is None and analysis.current(db) == ANALYSIS_VERSION
    analysis.memo_path(db).write_text("{truncated", encoding="utf-8")
    assert analysis.current(db) == ANALYSIS_VERSION
