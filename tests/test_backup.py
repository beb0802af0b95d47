"""`citebot export` / `import` round trips, and `citebot backup` copies consistently while articles are added."""

from __future__ import annotations

import asyncio
import json
import os
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime
from pathlib import Path
from typing import IO

import pytest

from bot.cli import main
from bot.core import text
from bot.core.errors import StoreUnavailable
from bot.core.library import Library
from bot.core.models import Article
from bot.core.store import ReadOnlyAccess, SQLiteStore, StoredArticle
from bot.tools import backup
from bot.tools.backup import BackupError, Stopping, backup_store
from bot.tools.load import question_about, synthetic_articles

GUILD = "guild:42"
REPO = Path(__file__).parent.parent
ENV = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))}


def fields(a: StoredArticle) -> tuple[object, ...]:
    """Everything an article is, except the row id (a restore into a store with gaps may renumber)."""
    return (
        a.scope,
        a.external_id,
        a.title,
        a.text,
        a.source,
        a.date,
        a.url,
        a.author,
        a.origin,
        a.added_by,
        a.added_at,
    )


async def all_articles(db: Path) -> list[StoredArticle]:
    store = await SQLiteStore.open_readonly(db)
    try:
        return [a async for batch in store.iter_articles(batch=3) for a in batch]
    finally:
        await store.close()


async def build_store(db: Path) -> list[str]:
    """Two scopes, a removed article (an id gap), articles with and without ids; returns questions to compare."""
    library = await Library.open(db)
    try:
        shared = synthetic_articles(6, seed=21)
        # A time unlike "now" (the store's default), so the test sees that it comes back.
        first_added = ["2024-02-03T04:05:06Z"] + [None] * (len(shared) - 1)
        await library.add_articles(
            [(a, f"wire.jsonl#{a.external_id}") for a in shared], "shared", origin="wire.jsonl", added_at=first_added
        )
        upload = (
            "---\ntitle: Zürich café reopens\nsource: Der Bund\ndate: 2025-03-01\nauthor: A. Müller\n---\n"
            "The café on the Limmat reopened on Saturday after a “long” renovation. Owners said prices stay the same.\n"
        ).encode()
        report = await library.add_bytes(upload, "cafe.md", "shared", added_by="mod-1")
        assert len(report.added) == 1
        # Stored verbatim by add_articles: its first paragraph is its title, which `index` would strip as a repeat.
        headline = Article(
            text="Harbour tunnel opens.\n\nThe harbour tunnel opened to traffic on Monday morning after six years.",
            title="Harbour tunnel opens",
        )
        await library.add_articles([(headline, "typed")], "shared", added_by="mod-2")
        guild = synthetic_articles(3, seed=22, start=100)
        await library.add_articles([(a, "discord upload") for a in guild], GUILD, added_by="mod-3")
        removed = await library.remove(2, ["shared"])  # leaves a gap in the ids
        assert removed is not None
    finally:
        await library.close()
    kept = [a for a in shared if a.external_id != "synthetic-1"]
    return [question_about(a) for a in kept] + ["Did the café on the Limmat reopen?", "harbour tunnel traffic"]


Answered = tuple[bool, list[tuple[str, list[tuple[str | None, str | None, str | None, str | None, str | None]]]]]


async def answers(db: Path, questions: list[str], scopes: list[str]) -> list[Answered]:
    library = await Library.open(db)
    try:
        out: list[Answered] = []
        for question in questions:
            answer = await library.ask(question, scopes)
            out.append(
                (
                    answer.abstained,
                    [
                        (q.text, [(c.title, c.source, c.date, c.url, c.external_id) for c in q.citations])
                        for q in answer.quotes
                    ],
                )
            )
        return out
    finally:
        await library.close()


def test_export_import_round_trip_keeps_articles_and_answers(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    original, restored, exported = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export.jsonl"
    questions = asyncio.run(build_store(original))

    assert main(["--db", str(original), "export", "--output", str(exported)]) == 0
    assert "exported 10 articles (guild:42: 3, shared: 7)" in capsys.readouterr().err
    lines = [json.loads(line) for line in exported.read_text(encoding="utf-8").splitlines()]
    assert set(lines[0]) >= {"id", "title", "text", "source", "date", "url", "author", "scope", "added_at"}
    assert lines[0]["id"] == "synthetic-0" and lines[0]["added_at"] == "2024-02-03T04:05:06Z"
    assert {line["id"] for line in lines} >= {"citebot-7", "citebot-8"}  # no external id: the store's id
    assert "Zürich" in exported.read_text(encoding="utf-8")  # UTF-8, not \\u escapes

    assert main(["--db", str(restored), "import", str(exported)]) == 0
    assert "added 10, unchanged 0, rejected 0" in capsys.readouterr().out
    before, after = asyncio.run(all_articles(original)), asyncio.run(all_articles(restored))
    assert [fields(a) for a in after] == [fields(a) for a in before]
    for scopes in (["shared"], [GUILD], ["shared", GUILD]):
        assert asyncio.run(answers(restored, questions, scopes)) == asyncio.run(answers(original, questions, scopes))
    assert not asyncio.run(answers(restored, questions[:1], ["shared"]))[0][0]  # …and they are real answers

    assert main(["--db", str(restored), "import", str(exported)]) == 0  # again: a no-op
    assert "added 0, unchanged 10" in capsys.readouterr().out
    assert len(asyncio.run(all_articles(restored))) == 10


def test_an_import_stopped_right_after_a_write_leaves_no_article_undated(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """The exported time was written in a second transaction after the articles': an import killed between the
    two left them dated "now", and importing again called them unchanged, so the date was lost for good."""
    original, restored, exported = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export.jsonl"
    asyncio.run(build_store(original))
    assert main(["--db", str(original), "export", "--output", str(exported)]) == 0
    real = Library.add_articles

    async def stopped_after_the_write(self: Library, *args: object, **kwargs: object) -> object:
        await real(self, *args, **kwargs)  # type: ignore[arg-type]
        raise KeyboardInterrupt  # Ctrl-C (or a kill) the moment the articles are committed

    monkeypatch.setattr(Library, "add_articles", stopped_after_the_write)
    assert main(["--db", str(restored), "import", str(exported)]) == 130
    stored = asyncio.run(all_articles(restored))
    assert stored and all(a.added_at == "2024-02-03T04:05:06Z" for a in stored if a.external_id == "synthetic-0")
    exported_at = {line["text"]: line["added_at"] for line in map(json.loads, exported.read_text().splitlines())}
    assert all(a.added_at == exported_at[a.text] for a in stored)
    capsys.readouterr()


def test_an_exported_text_with_invisible_characters_keeps_its_date(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """The exported time was looked up by the hash of the line's text, the store's by the text as stored (invisible
    characters removed): a soft hyphen or a zero-width space, as a store written before text was normalised holds,
    left the article dated "now", and importing again called it unchanged."""
    export = tmp_path / "old.jsonl"
    texts = [
        "The river bridge reopened on Tuesday after a year of re\u00adpairs, the council said in a statement.",
        "Flood\u200b defences along the estuary were raised by two metres, the agency said on Friday.",
    ]
    export.write_text(
        "".join(
            json.dumps({"id": f"a{i}", "text": t, "added_at": f"2021-0{i + 1}-02T03:04:05Z"}) + "\n"
            for i, t in enumerate(texts)
        )
    )
    assert main(["--db", str(tmp_path / "s.db"), "import", str(export)]) == 0
    stored = sorted(asyncio.run(all_articles(tmp_path / "s.db")), key=lambda a: a.external_id or "")
    assert [a.added_at for a in stored] == ["2021-01-02T03:04:05Z", "2021-02-02T03:04:05Z"]
    capsys.readouterr()


def test_export_by_scope_and_import_into_another_scope(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    original, restored, exported = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "guild.jsonl"
    asyncio.run(build_store(original))
    assert main(["--db", str(original), "export", "--scope", GUILD, "-o", str(exported)]) == 0
    assert {json.loads(line)["scope"] for line in exported.read_text().splitlines()} == {GUILD}
    assert main(["--db", str(restored), "import", str(exported), "--scope", "guild:7"]) == 0
    assert {a.scope for a in asyncio.run(all_articles(restored))} == {"guild:7"}
    capsys.readouterr()
    assert main(["--db", str(original), "export", "--scope", "shared", "--scope", GUILD]) == 0  # to stdout
    assert len(capsys.readouterr().out.splitlines()) == 10


def test_index_reads_an_export_too(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    original, other, exported = tmp_path / "a.db", tmp_path / "c.db", tmp_path / "export.jsonl"
    asyncio.run(build_store(original))
    assert main(["--db", str(original), "export", "-o", str(exported)]) == 0
    assert main(["--db", str(other), "index", str(exported)]) == 0
    assert "added 10, unchanged 0, rejected 0" in capsys.readouterr().out
    by_id = {a.external_id: a for a in asyncio.run(all_articles(other))}
    for a in asyncio.run(all_articles(original)):
        if a.external_id:  # index cleans text again and puts everything in one scope; ids and texts agree
            assert by_id[a.external_id].text == a.text


def test_import_refuses_bad_lines_by_number_and_keeps_the_good(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    bad = tmp_path / "bad.jsonl"
    good = {"id": "g1", "text": "A perfectly good article about the river bridge, long enough to quote."}
    bad.write_bytes(
        b"\n".join(
            [
                json.dumps(good).encode(),
                b"{not json",
                b"[1, 2]",
                json.dumps({"title": "no text"}).encode(),
                json.dumps({"text": "Scope is a number here, which is not allowed at all.", "scope": 5}).encode(),
                json.dumps({"text": "Title is a list here, which is not allowed either.", "title": ["x"]}).encode(),
                b'{"text": "Latin-1 \xe9 is not UTF-8"}',
                # Scopes no command could list, show, remove or export afterwards.
                json.dumps(
                    {"text": "A scope that is not a server id: nobody could list it.", "scope": "guild:x"}
                ).encode(),
                json.dumps(
                    {"text": "A scope of no known kind, which nothing would ever search.", "scope": "all"}
                ).encode(),
                b"",
            ]
        )
    )
    assert main(["--db", str(tmp_path / "i.db"), "import", str(bad)]) == 1
    out = capsys.readouterr().out
    assert "added 1, unchanged 0, rejected 8" in out
    for lineno in range(2, 10):
        assert f"bad.jsonl:{lineno}:" in out
    assert main(["--db", str(tmp_path / "i.db"), "import", str(tmp_path / "missing.jsonl")]) == 1
    assert "does not exist" in capsys.readouterr().err


def test_export_and_backup_need_an_existing_store_and_say_what_to_check(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    for command in (["export"], ["backup", str(tmp_path)]):
        assert main(["--db", str(tmp_path / "none.db"), *command]) == 1
        assert "there is no store at" in (err := capsys.readouterr().err) and "check --db or CITEBOT_DB" in err
        assert not (tmp_path / "none.db").exists()


@pytest.mark.parametrize(
    "target",
    [
        "s.db",
        "s.db-wal",
        "backup.db",
        "prod.db-wal",
        "s.db.run.lock",
        "s.db.shards-1.run.lock",
        "s.db.run-shard-1.lock",
    ],
)
def test_export_never_replaces_the_store_or_a_database(target: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """`citebot export -o data/citebot.db`, one typo in a cron line, used to replace the store with JSON. The
    store is named through a link here (s.db → prod.db): its files go by either name."""
    db = tmp_path / "prod.db"
    asyncio.run(build_store(db))
    (tmp_path / "s.db").symlink_to(db)
    assert main(["--db", str(db), "backup", str(tmp_path / "backup.db")]) == 0
    for companion in ("prod.db-wal", "s.db-wal", "s.db.run.lock", "s.db.shards-1.run.lock", "s.db.run-shard-1.lock"):
        (tmp_path / companion).write_text("in use")
    before = {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()}
    capsys.readouterr()
    assert main(["--db", str(tmp_path / "s.db"), "export", "-o", str(tmp_path / target)]) == 1
    assert "Not exported" in capsys.readouterr().err
    assert {p.name: p.read_bytes() for p in tmp_path.iterdir() if p.is_file()} == before
    assert len(asyncio.run(all_articles(db))) == 10
    assert main(["--db", str(tmp_path / "s.db"), "export", "-o", str(tmp_path / "s.db.jsonl")]) == 0  # an export


def test_an_export_stopped_with_ctrl_c_leaves_no_half_written_file(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """Each Ctrl-C of `citebot export -o FILE` used to leave a hidden .FILE.<pid>.tmp, half an export, for good."""
    db = tmp_path / "s.db"
    asyncio.run(build_store(db))
    (tmp_path / "out").mkdir()

    async def interrupted(store: object, out: IO[str], scopes: list[str] | None = None) -> Counter[str]:
        out.write('{"id": 1, "title": "half"}\n')
        os.kill(os.getpid(), signal.SIGINT)  # asyncio.run cancels the command, as at a terminal
        await asyncio.sleep(5)
        raise AssertionError("not interrupted")

    monkeypatch.setattr(backup, "export_articles", interrupted)
    assert main(["--db", str(db), "export", "-o", str(tmp_path / "out" / "articles.jsonl")]) == 130
    assert list((tmp_path / "out").iterdir()) == []


def test_export_of_a_scope_with_no_articles_fails(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """A mistyped guild id in a nightly export used to write an empty file and succeed."""
    db = tmp_path / "s.db"
    asyncio.run(build_store(db))
    assert main(["--db", str(db), "export", "--scope", "guild:999", "-o", str(tmp_path / "g.jsonl")]) == 1
    assert "no articles in guild:999" in capsys.readouterr().err


@pytest.mark.parametrize("kind", ["text", "database", "folder"])
def test_import_of_something_that_is_not_an_export_says_so_once(
    kind: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """A README or a database was refused line by line: 590 and 18,121 lines of output."""
    source = tmp_path / "source"
    if kind == "folder":
        source.mkdir()
    elif kind == "text":
        source.write_text("# Notes\n\n" + "Some prose, not JSON.\n" * 500, encoding="utf-8")
    else:
        asyncio.run(build_store(source))
    db = tmp_path / "s.db"
    assert main(["--db", str(db), "import", str(source)]) == 1
    err = capsys.readouterr().err
    assert ("is a folder" if kind == "folder" else "is not a citebot export") in err
    assert len(err.splitlines()) == 1 and not db.exists()


async def test_iter_articles_reads_one_snapshot(tmp_path: Path):
    library = await Library.open(tmp_path / "s.db")
    try:
        await library.add_articles([(a, "x") for a in synthetic_articles(5, seed=1)], "shared")
        seen = []
        async for batch in library.store.iter_articles(batch=2):
            seen += batch
            if len(seen) == 2:  # a write in the middle of the export is not in it
                await library.add_articles([(a, "y") for a in synthetic_articles(3, seed=2, start=50)], "shared")
        assert [a.id for a in seen] == [1, 2, 3, 4, 5] and all(a.text for a in seen)
        assert [a.id async for b in library.store.iter_articles(["guild:1"]) for a in b] == []
        assert len([a async for b in library.store.iter_articles(["shared"]) for a in b]) == 8
    finally:
        await library.close(save_snapshot=False)


# -- backup ----------------------------------------------------------------------------------------------


def complete_articles(db: Path) -> int:
    """Integrity, then every article's sentences exactly as its text splits; returns the article count."""
    with sqlite3.connect(db) as con:
        assert con.execute("PRAGMA integrity_check").fetchone()[0] == "ok"
        rows = con.execute("SELECT id, text FROM articles").fetchall()
        for article_id, body in rows:
            spans = con.execute(
                'SELECT start, "end" FROM sentences WHERE article_id = ? ORDER BY position', (article_id,)
            ).fetchall()
            assert spans == [(s.start, s.end) for s in text.split_sentences(body)], article_id
        orphans = con.execute("SELECT COUNT(*) FROM sentences WHERE article_id NOT IN (SELECT id FROM articles)")
        assert orphans.fetchone()[0] == 0
    return len(rows)


async def test_backup_while_articles_are_added_is_consistent(tmp_path: Path):
    db = tmp_path / "live.db"
    library = await Library.open(db)
    copies: list[Path] = []
    try:
        articles = synthetic_articles(300, seed=3)

        async def writer() -> None:
            for start in range(0, len(articles), 10):  # 30 transactions of 10 articles
                await library.add_articles([(a, "w") for a in articles[start : start + 10]], "shared")
                await asyncio.sleep(0)

        def backups(stop: threading.Event) -> None:
            while not stop.wait(0.02):  # a backup every ~20 ms while the writer commits
                copies.append(backup_store(db, tmp_path / f"copy-{len(copies)}.db").path)

        stop = threading.Event()
        thread = asyncio.create_task(asyncio.to_thread(backups, stop))
        await writer()
        stop.set()
        await thread
        copies.append(backup_store(db, tmp_path / "copy-last.db").path)  # with the bot's store still open
    finally:
        await library.close()
    counts = [complete_articles(copy) for copy in copies]
    print(f"\nbackups taken while adding: {len(copies)}, articles in each: {counts}")
    assert all(n % 10 == 0 for n in counts), counts  # whole transactions only
    assert counts == sorted(counts) and counts[-1] == 300  # copies taken later hold more
    assert len(set(counts)) >= 3, counts  # several copies were taken mid-way, not all before or after
    for copy in copies:
        assert not copy.with_name(copy.name + "-wal").exists()  # one self-contained file
        with sqlite3.connect(copy) as con:
            assert con.execute("PRAGMA journal_mode").fetchone()[0] == "delete"
    restored = await Library.open(copies[-1])  # a copy is a working store
    try:
        answer = await restored.ask(question_about(articles[-1]), ["shared"])
        assert not answer.abstained and answer.quotes[0].citations[0].external_id == "synthetic-299"
    finally:
        await restored.close(save_snapshot=False)


def test_backup_command(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    db = tmp_path / "c.db"
    asyncio.run(build_store(db))
    folder = tmp_path / "backups"
    folder.mkdir()
    assert main(["--db", str(db), "backup", str(folder)]) == 0
    out = capsys.readouterr().out
    assert "10 articles" in out and "integrity ok" in out
    [made] = list(folder.iterdir())
    assert made.name.startswith("c-") and made.suffix == ".db" and complete_articles(made) == 10
    assert main(["--db", str(db), "backup", str(tmp_path / "named.db")]) == 0  # a file name works too
    assert main(["--db", str(db), "backup", str(tmp_path / "named.db")]) == 0  # and is replaced
    assert [p.name for p in tmp_path.iterdir() if p.name.startswith(".")] == []  # no temporary file left

    assert main(["--db", str(db), "backup", str(tmp_path / "no" / "such" / "x.db")]) == 1
    assert "does not exist" in capsys.readouterr().err
    assert main(["--db", str(db), "backup", str(tmp_path / "nofolder") + "/"]) == 1  # meant a folder
    assert "the folder" in capsys.readouterr().err and not (tmp_path / "nofolder").exists()
    assert main(["--db", str(db), "backup", str(db)]) == 1
    assert "cannot overwrite the store itself" in capsys.readouterr().err
    assert main(["--db", str(tmp_path / "none.db"), "backup", str(folder)]) == 1
    assert "there is no store" in capsys.readouterr().err
    assert not (tmp_path / "none.db").exists()


def test_backup_of_a_file_that_is_not_a_database_fails_cleanly(tmp_path: Path):
    junk = tmp_path / "junk.db"
    junk.write_bytes(b"this is not an SQLite database at all" * 200)
    with pytest.raises(BackupError, match="SQLite error"):
        backup_store(junk, tmp_path / "copy.db")
    assert not (tmp_path / "copy.db").exists()


def test_import_runs_beside_a_running_bot(tmp_path: Path):
    """As add and index do: the store's change log numbers every write, and the bot follows it (test_follow.py
    imports beside a running index). It used to refuse while the bot's heartbeat was fresh."""
    original, restored, exported = tmp_path / "a.db", tmp_path / "b.db", tmp_path / "export.jsonl"
    asyncio.run(build_store(original))
    assert main(["--db", str(original), "export", "-o", str(exported)]) == 0
    status = restored.with_name(restored.name + ".status.json")
    status.write_text(json.dumps({"gateway_connected": True, "updated_at": datetime.now(UTC).isoformat()}))
    assert main(["--db", str(restored), "import", str(exported)]) == 0


@contextmanager
def read_only(folder: Path) -> Iterator[list[str]]:
    """A command prefix under which ``folder`` is read-only: a read-only bind mount in a mount namespace of the
    command's own, as a read-only volume is (root writes into any folder whatever its mode); for another user,
    the folder's write permission taken away."""
    if os.geteuid() != 0:
        folder.chmod(0o555)
        try:
            yield []
        finally:
            folder.chmod(0o755)
        return
    prefix = ["unshare", "--mount", "sh", "-c", 'mount --bind -o ro "$0" "$0" && exec "$@"', str(folder)]
    if shutil.which("unshare") is None or subprocess.run([*prefix, "true"], capture_output=True).returncode != 0:
        pytest.skip("root here cannot make a read-only mount (no unshare --mount)")
    yield prefix


def cli_in(prefix: list[str], db: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*prefix, sys.executable, "-m", "bot", "--db", str(db), *args],
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
        env=ENV,
    )


def test_export_and_backup_read_a_store_on_a_read_only_volume(tmp_path: Path):
    """Both said only "unable to open database file": SQLite reads a WAL-mode store through a -shm file it must
    create beside it when no process has the store open. With no -wal either, the file holds every change."""
    volume, backups = tmp_path / "volume", tmp_path / "backups"
    volume.mkdir()
    backups.mkdir()
    db = volume / "s.db"
    asyncio.run(build_store(db))
    titles = sorted(a.title or "" for a in asyncio.run(all_articles(db)))
    for leftover in ("s.db-wal", "s.db-shm"):  # left by that read-only reader; a store no process has open has none
        (volume / leftover).unlink(missing_ok=True)
    before = sorted(p.name for p in volume.iterdir())
    with read_only(volume) as prefix:
        exported = cli_in(prefix, db, "export")
        backed_up = cli_in(prefix, db, "backup", str(backups))
    assert exported.returncode == 0, exported.stderr
    lines = [json.loads(line) for line in exported.stdout.splitlines()]
    assert sorted(line["title"] for line in lines) == titles
    assert backed_up.returncode == 0, backed_up.stderr
    [copy] = list(backups.iterdir())
    assert complete_articles(copy) == len(lines) == 10
    assert sorted(p.name for p in volume.iterdir()) == before  # nothing written beside the store


def test_migrate_store_copies_a_store_on_a_read_only_volume(tmp_path: Path):
    """migrate-store read its source as export once did, and failed alike: "unable to open database file"."""
    volume, elsewhere = tmp_path / "volume", tmp_path / "elsewhere"
    volume.mkdir()
    elsewhere.mkdir()
    db, copy = volume / "s.db", elsewhere / "copy.db"
    asyncio.run(build_store(db))
    for leftover in ("s.db-wal", "s.db-shm"):
        (volume / leftover).unlink(missing_ok=True)
    with read_only(volume) as prefix:
        migrated = cli_in(prefix, db, "migrate-store", str(db), str(copy))
    assert migrated.returncode == 0, migrated.stderr
    assert "every table's row count matches" in migrated.stdout
    assert complete_articles(copy) == 10


def test_a_store_on_a_read_only_volume_with_changes_in_its_wal_says_what_to_do(tmp_path: Path):
    """A process killed with the store open leaves its -wal; with no -shm beside it SQLite cannot read the
    changes there, and reading the file alone would leave them out: refused, saying what to copy."""
    volume, backups = tmp_path / "volume", tmp_path / "backups"
    volume.mkdir()
    backups.mkdir()
    db = volume / "s.db"
    asyncio.run(build_store(db))
    killed = "import os, sqlite3, sys; c = sqlite3.connect(sys.argv[1]); c.execute(\"INSERT INTO settings VALUES ('guild:1', 'k', 'v')\"); c.commit(); os._exit(0)"
    subprocess.run([sys.executable, "-c", killed, str(db)], check=True)
    (volume / "s.db-shm").unlink()
    assert (volume / "s.db-wal").stat().st_size > 0
    with read_only(volume) as prefix:
        exported = cli_in(prefix, db, "export")
        backed_up = cli_in(prefix, db, "backup", str(backups))
    for done in (exported, backed_up):
        assert done.returncode == 1 and "Traceback" not in done.stderr
        assert "read-only" in done.stderr and "copy s.db and s.db-wal together" in done.stderr, done.stderr
    assert exported.stdout == "" and list(backups.iterdir()) == []


async def test_a_store_read_as_immutable_and_written_meanwhile_is_refused(tmp_path: Path):
    """Read as immutable (a read-only volume), SQLite no longer sees another process's writes: a bot started on
    the store while an export read it could hand the export two states of it."""
    db = tmp_path / "s.db"
    await build_store(db)
    stamp = db.stat()
    reading = ReadOnlyAccess(
        db, db.resolve().as_uri() + "?immutable=1", (stamp.st_ino, stamp.st_size, stamp.st_mtime_ns)
    )
    reading.check_unchanged()
    library = await Library.open(db)  # closing checkpoints its writes into the file
    try:
        await library.add_articles([(a, "late.jsonl") for a in synthetic_articles(2, seed=77, start=500)], "shared")
    finally:
        await library.close()
    with pytest.raises(StoreUnavailable, match="changed while it was read"):
        reading.check_unchanged()


def test_a_backup_stopped_while_copying_puts_nothing_in_place(tmp_path: Path):
    """SQLite's copy cannot be interrupted: Ctrl-C let it finish and put it in place, then exited 130 without a word.
    A stop asked meanwhile discards it (the command then says so)."""
    db = tmp_path / "s.db"
    asyncio.run(build_store(db))
    (tmp_path / "backups").mkdir()
    stopping = Stopping()
    stopping.ask()
    with pytest.raises(BackupError, match="discarded"):
        backup_store(db, tmp_path / "backups", stopping)
    assert list((tmp_path / "backups").iterdir()) == []
