"""PostgreSQL as the shared store: live catch-up through LISTEN/NOTIFY (polling when the notification is lost),
and `citebot migrate-store` between SQLite and PostgreSQL. A real server (tests/conftest.py; `.ci/run` starts one).

Two Library objects on one database are two clients to PostgreSQL, exactly as two processes are; one test also
runs `citebot add` as a real separate process.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from collections.abc import AsyncIterator
from pathlib import Path

import asyncpg
import pytest
from conftest import fresh_postgres_database, postgres_server_url

from bot.cli import main
from bot.core import text
from bot.core.errors import StoreUnavailable
from bot.core.library import ANALYSIS_VERSION, SHARED_SCOPE, Library, guild_scope, reindex
from bot.core.models import Article, LoggedQuestion
from bot.core.store import open_store
from bot.core.store_postgres import WRITE_LOCK
from bot.tools.load import question_about, synthetic_articles
from bot.tools.migrate import MigrateError, migrate_store

REPO = Path(__file__).parent.parent
NO_POLLING = 3600.0  # a follower's polling period long enough that only a notification can wake it in a test
PATIENCE = 30.0  # how long a test waits for a catch-up before failing (not a speed requirement)


@pytest.fixture
async def postgres_url(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> AsyncIterator[str]:
    monkeypatch.chdir(tmp_path)  # the local index snapshot goes to the test's folder
    async with fresh_postgres_database(await postgres_server_url()) as url:
        yield url


async def caught_up(library: Library, seq: int) -> float:
    """Seconds until ``library``'s index reflects change ``seq`` (fails after PATIENCE)."""
    started = time.perf_counter()
    while library.applied_seq < seq:
        assert time.perf_counter() - started < PATIENCE, f"index still at {library.applied_seq}, store at {seq}"
        await asyncio.sleep(0.01)
    return time.perf_counter() - started


async def add(library: Library, text: str, scope: str = SHARED_SCOPE) -> int:
    report = await library.add_articles([(Article(text=text, title=text[:20]), "test")], scope)
    assert len(report.added) == 1
    return await library.store.last_seq()


async def test_a_follower_is_woken_by_a_notification(postgres_url: str):
    writer, follower = await Library.open(postgres_url), await Library.open(postgres_url)
    following = asyncio.create_task(follower.follow(every=NO_POLLING, snapshot_every=NO_POLLING))
    try:
        seq = await add(writer, "The harbour ferry service resumed after the winter storms.")
        await caught_up(follower, seq)  # the first round looks at once, whether or not it is listening yet
        seq = await add(writer, "Snorfledge merchants protested against the new tax on Friday.")
        seconds = await caught_up(follower, seq)  # polling is off: only the NOTIFY can have woken it
        print(f"follower applied a change {seconds * 1000:.0f} ms after its commit (LISTEN/NOTIFY)")
        answer = await follower.ask("Why did Snorfledge merchants protest?", [SHARED_SCOPE])
        assert answer.quotes and "Snorfledge" in answer.quotes[0].text
        removed = (await writer.list([SHARED_SCOPE]))[0]
        assert await writer.remove(removed.id, [SHARED_SCOPE]) is not None
        await caught_up(follower, await writer.store.last_seq())
        answer = await follower.ask("Why did Snorfledge merchants protest?", [SHARED_SCOPE])
        assert all("Snorfledge" not in q.text for q in answer.quotes)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await follower.close(save_snapshot=False)
        await writer.close(save_snapshot=False)


async def test_a_lost_listener_falls_back_to_polling_then_listens_again(postgres_url: str):
    writer, follower = await Library.open(postgres_url), await Library.open(postgres_url)
    following = asyncio.create_task(follower.follow(every=0.2, snapshot_every=NO_POLLING))
    admin = await asyncpg.connect(postgres_url)
    listening = "SELECT pid FROM pg_stat_activity WHERE datname = current_database() AND query LIKE 'LISTEN%'"
    try:
        await caught_up(follower, await add(writer, "The council met on Monday to discuss the harbour."))
        [pid] = [r[0] for r in await admin.fetch(listening)]
        await admin.execute("SELECT pg_terminate_backend($1)", pid)  # the connection drops: no notification
        await caught_up(follower, await add(writer, "Glorbnak festival crowds filled the old square."))
        answer = await follower.ask("Glorbnak festival crowds", [SHARED_SCOPE])
        assert answer.quotes and "Glorbnak" in answer.quotes[0].text
        started = time.perf_counter()
        while [r[0] for r in await admin.fetch(listening)] in ([], [pid]):
            assert time.perf_counter() - started < PATIENCE, "the follower never listened again"
            await asyncio.sleep(0.05)
    finally:
        await admin.close()
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await follower.close(save_snapshot=False)
        await writer.close(save_snapshot=False)


async def test_citebot_add_in_another_process_is_answered_by_a_running_library(postgres_url: str, tmp_path: Path):
    follower = await Library.open(postgres_url)
    following = asyncio.create_task(follower.follow(every=NO_POLLING, snapshot_every=NO_POLLING))
    article = tmp_path / "zebra.md"
    article.write_text(
        "---\ntitle: Zebra crossing\nsource: Test\n---\nThe zebra crossing on Mill Road closed for repairs.\n"
    )
    try:
        await asyncio.sleep(0.5)  # let the first round start listening
        env = {k: v for k, v in os.environ.items() if not k.startswith("CITEBOT_")} | {"CITEBOT_DB": postgres_url}
        process = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "bot", "add", str(article), cwd=tmp_path, env=env, stdout=subprocess.PIPE
        )
        await process.communicate()
        assert process.returncode == 0
        committed = time.perf_counter()
        seq = await follower.store.last_seq()
        await caught_up(follower, seq)
        print(
            f"a running library applied `citebot add` {(time.perf_counter() - committed) * 1000:.0f} ms after it exited"
        )
        answer = await follower.ask("Why did the zebra crossing close?", [SHARED_SCOPE])
        assert answer.quotes and "zebra crossing" in answer.quotes[0].text
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await follower.close(save_snapshot=False)


async def test_migrate_store_copies_sqlite_to_postgresql_and_back(postgres_url: str, tmp_path: Path):
    source = tmp_path / "source.db"
    library = await Library.open(source)
    try:
        await library.add_paths([REPO / "corpus"], SHARED_SCOPE)
        await library.add_articles(
            [(Article(text="The harbour festival was cancelled because of the storm."), "g")], guild_scope(7)
        )
        removed = (await library.list([SHARED_SCOPE]))[0]
        await library.remove(removed.id, [SHARED_SCOPE])
        query = await library.store.log_query(LoggedQuestion("harbour festival?", guild_scope(7), "u1", False, 3.0, 1))
        await library.store.set_vote(query, guild_scope(7), "u1", 1)
        await library.store.set_setting(guild_scope(7), "moderator_role", "42")
        questions = ["Brexit deadline extension", "Hong Kong protests extradition bill", "harbour festival storm"]
        before = [await library.ask(q, [SHARED_SCOPE, guild_scope(7)]) for q in questions]
    finally:
        await library.close()

    counts = await migrate_store(str(source), postgres_url)
    assert counts["articles"] == 280 and counts["changes"] == 282 and counts["votes"] == 1
    back = tmp_path / "back.db"
    assert await asyncio.to_thread(main, ["migrate-store", postgres_url, str(back)]) == 0  # the command line

    for location in (postgres_url, str(back)):
        copy = await Library.open(location)
        try:
            assert copy.applied_seq == 282  # the change log came along: nothing to catch up, nothing lost
            after = [await copy.ask(q, [SHARED_SCOPE, guild_scope(7)]) for q in questions]
            assert [[(q.text, q.citations[0].article_id) for q in a.quotes] for a in after] == [
                [(q.text, q.citations[0].article_id) for q in a.quotes] for a in before
            ]
            assert await copy.store.votes(query) == {"u1": 1}
            assert await copy.store.get_setting(guild_scope(7), "moderator_role") == "42"
            assert await copy.store.get_article(removed.id, [SHARED_SCOPE]) is None
            # New rows continue after the copied ids instead of colliding with them.
            await copy.add_articles(
                [(Article(text="A new article after the migration about fishing."), "n")], SHARED_SCOPE
            )
            assert await copy.store.log_query(LoggedQuestion("q", SHARED_SCOPE, None, True, 1.0, 0)) > query
        finally:
            await copy.close(save_snapshot=False)


async def test_migrate_store_refuses_a_destination_that_holds_articles(postgres_url: str, tmp_path: Path):
    source = tmp_path / "source.db"
    for location in (str(source), postgres_url):
        library = await Library.open(location)
        await library.add_articles([(Article(text=f"An article already stored in {location}."), "x")], SHARED_SCOPE)
        await library.close()
    with pytest.raises(MigrateError, match="already holds"):
        await migrate_store(str(source), postgres_url)
    assert await asyncio.to_thread(main, ["migrate-store", str(tmp_path / "missing.db"), postgres_url]) == 1


async def test_a_database_holding_someone_elses_articles_table_is_refused_untouched(postgres_url: str):
    """It used to fail on the first migration's CREATE TABLE and leave an empty schema_version table behind."""
    connection = await asyncpg.connect(postgres_url)
    try:
        await connection.execute("CREATE TABLE articles (id serial PRIMARY KEY, body text)")
        with pytest.raises(StoreUnavailable, match="not a citebot store's"):
            await Library.open(postgres_url)
        assert await connection.fetchval("SELECT to_regclass('schema_version')") is None
    finally:
        await connection.close()


def test_health_names_the_postgresql_store_it_checked(
    postgres_url: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    article = tmp_path / "harbour.txt"
    article.write_text("The harbour closed on Monday because of the big storm.\n")
    assert main(["--db", postgres_url, "add", str(article)]) == 0
    capsys.readouterr()
    assert main(["--db", postgres_url, "health"]) == 0
    assert f"store {postgres_url} ok (1 articles" in capsys.readouterr().out


async def test_a_url_with_an_at_sign_in_its_query_string_opens_the_store(
    postgres_url: str, capsys: pytest.CaptureFixture[str]
):
    """`?application_name=…@…` (or sslrootcert=/path/@x) was refused at start-up as an unencoded password: the
    password ran to the URL's last @. (The test server trusts 127.0.0.1, so any password does.)"""
    url = postgres_url.replace("://citebot@", "://citebot:secret@", 1) + "?application_name=citebot@test-host"
    assert ":secret@" in url
    assert await asyncio.to_thread(main, ["--db", url, "list"]) == 0
    assert "(0 of 0 articles" in capsys.readouterr().out
    library = await Library.open(url)
    try:
        async with library.store._pool.acquire() as db:  # type: ignore[attr-defined]
            assert await db.fetchval("SHOW application_name") == "citebot@test-host"
    finally:
        await library.close()


def test_an_unreachable_server_is_a_message_not_a_traceback(capsys: pytest.CaptureFixture[str]):
    url = "postgresql://citebot:hunter2@127.0.0.1:1/citebot"  # port 1: nothing listens there
    for command in (["ask", "anything"], ["health"], ["export"]):
        assert main(["--db", url, *command]) == 1
        err = capsys.readouterr().err
        assert "127.0.0.1:1" in err and "hunter2" not in err and "Traceback" not in err
        assert "is the server running" in err  # a refused connection says where to look


async def test_sigkill_during_a_bulk_index_leaves_whole_articles_and_a_resumable_ingestion(
    postgres_url: str, tmp_path: Path
):
    """`citebot index` of 1,000 articles (5 transactions of 200) into PostgreSQL, killed with SIGKILL while its
    write transaction is open, after 0, 1, 2 and 3 committed batches: every article is wholly there (text and
    every sentence's offsets) or wholly absent, each has its change-log entry, and a rerun completes the store
    with no duplicates."""
    articles = synthetic_articles(1000, seed=5)
    bulk = tmp_path / "bulk.jsonl"
    bulk.write_text(
        "".join(
            json.dumps({"id": a.external_id, "title": a.title, "text": a.text, "source": a.source}) + "\n"
            for a in articles
        )
    )
    expected = {a.external_id: (a.text, [(s.start, s.end) for s in text.split_sentences(a.text)]) for a in articles}
    admin = await asyncpg.connect(postgres_url)

    async def check() -> int:
        if not await admin.fetchval("SELECT to_regclass('changes') IS NOT NULL"):
            return 0  # killed before its migrations committed
        async with admin.transaction(isolation="repeatable_read", readonly=True):  # one view of all three tables
            rows = await admin.fetch("SELECT id, external_id, text FROM articles")
            spans = await admin.fetch('SELECT article_id, start, "end" FROM sentences ORDER BY article_id, position')
            logged = {r[0] for r in await admin.fetch("SELECT article_id FROM changes WHERE kind = 'add'")}
        by_article: dict[int, list[tuple[int, int]]] = {}
        for article_id, start, end in spans:
            by_article.setdefault(article_id, []).append((start, end))
        assert len({r["external_id"] for r in rows}) == len(rows)  # no duplicates
        for article_id, external_id, body in rows:
            assert (body, by_article.get(article_id, [])) == expected[external_id], external_id
            assert article_id in logged
        assert set(by_article) <= {r["id"] for r in rows}
        return len(rows)

    async def writing_after(batches: int) -> bool:
        """Whether the indexer holds the store's write lock (a transaction is open) after ``batches`` commits."""
        held = await admin.fetchval(
            "SELECT EXISTS (SELECT 1 FROM pg_locks WHERE locktype = 'advisory' AND granted"
            " AND classid = $1 AND objid = $2)",
            WRITE_LOCK >> 32,
            WRITE_LOCK & 0xFFFFFFFF,
        )
        return bool(held) and await check() >= batches * 200

    def index() -> subprocess.Popen[bytes]:
        command = [sys.executable, "-m", "bot", "--db", postgres_url, "index", str(bulk)]
        return subprocess.Popen(command, cwd=tmp_path, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)

    try:
        found = []
        for batches in (0, 1, 2, 3):
            process = index()
            started = time.perf_counter()
            while not await writing_after(batches) and process.poll() is None:
                assert time.perf_counter() - started < 120, "the indexer never wrote"
                await asyncio.sleep(0.002)
            process.kill()
            await asyncio.to_thread(process.wait)
            # The server ends the dead client's sessions by itself: a COMMIT already sent may still land first.
            killed = time.perf_counter()
            while await admin.fetchval(
                "SELECT COUNT(*) FROM pg_stat_activity WHERE datname = current_database() AND pid <> pg_backend_pid()"
            ):
                assert time.perf_counter() - killed < PATIENCE, "the killed client's sessions never ended"
                await asyncio.sleep(0.01)
            found.append(await check())
        print(f"articles stored when killed inside a write: {found}")
        final = index()
        assert await asyncio.to_thread(final.wait, 300) == 0
        assert await check() == 1000
    finally:
        await admin.close()
    library = await Library.open(postgres_url)
    try:
        answer = await library.ask(question_about(articles[999]), [SHARED_SCOPE])
        assert answer.quotes and answer.quotes[0].citations[0].external_id == articles[999].external_id
    finally:
        await library.close(save_snapshot=False)


async def test_writers_in_two_processes_at_once_number_the_log_without_gaps(postgres_url: str):
    """Two clients adding and removing at the same time: the store-wide write lock makes the change log 1…N in
    commit order, new words never get clashing ids, and both indexes end up holding exactly the store."""
    one, two = await Library.open(postgres_url), await Library.open(postgres_url)
    try:

        async def writes(library: Library, name: str) -> None:
            for i in range(15):
                body = f"The {name}{i}ville council approved the {name}{i} harbour plan on Monday."
                report = await library.add_articles([(Article(text=body, title=f"{name} {i}"), name)], SHARED_SCOPE)
                if i % 5 == 4:
                    await library.remove(report.added[0].article_id, [SHARED_SCOPE])

        await asyncio.gather(writes(one, "alpha"), writes(two, "beta"))
        connection = await asyncpg.connect(postgres_url)
        try:
            seqs = [r[0] for r in await connection.fetch("SELECT seq FROM changes ORDER BY seq")]
        finally:
            await connection.close()
        assert seqs == list(range(1, 37))  # 30 adds and 6 removals
        for library in (one, two):
            await library.catch_up()
            assert await library.count([SHARED_SCOPE]) == 24
            for name, i in (("alpha", 3), ("beta", 13)):
                answer = await library.ask(f"What did the {name}{i}ville council approve?", [SHARED_SCOPE])
                assert answer.quotes and f"{name}{i}ville" in answer.quotes[0].text
            removed = await library.ask("What did the beta4ville council approve?", [SHARED_SCOPE])
            assert all("beta4ville" not in q.text for q in removed.quotes)
    finally:
        await one.close(save_snapshot=False)
        await two.close(save_snapshot=False)


async def test_reindex_on_postgresql_resumes_and_a_running_index_rebuilds(postgres_url: str):
    articles = synthetic_articles(250, seed=3)
    library = await Library.open(postgres_url)
    await library.add_articles([(a, "x") for a in articles], SHARED_SCOPE)
    await library.close(save_snapshot=False)
    connection = await asyncpg.connect(postgres_url)
    try:  # as if an older tokeniser had made the terms: wrong, and marked so
        await connection.execute("UPDATE meta SET value = 'older' WHERE key = 'analysis'")
        await connection.execute("UPDATE sentences SET terms = ''::bytea")
        await connection.execute("UPDATE articles SET terms = ''::bytea")
    finally:
        await connection.close()

    class Crash(Exception):
        pass

    def crash_after_first_batch(done: int, total: int) -> None:
        raise Crash

    with pytest.raises(Crash):
        await reindex(postgres_url, progress=crash_after_first_batch)
    assert await reindex(postgres_url) == 50  # resumed after the first 200
    library = await Library.open(postgres_url)
    following = asyncio.create_task(library.follow(every=NO_POLLING, snapshot_every=NO_POLLING))
    try:
        for article in articles[::50]:
            answer = await library.ask(question_about(article), [SHARED_SCOPE])
            assert not answer.abstained and article.text.startswith(answer.quotes[0].text)
        before = library.applied_seq
        store = await open_store(postgres_url)
        try:  # another process's reindex ends with a 'reset' entry: its NOTIFY makes the running index rebuild
            await store.finish_reindex(ANALYSIS_VERSION, [])
        finally:
            await store.close()
        await caught_up(library, before + 1)
        answer = await library.ask(question_about(articles[7]), [SHARED_SCOPE])
        assert articles[7].text.startswith(answer.quotes[0].text)
    finally:
        following.cancel()
        await asyncio.gather(following, return_exceptions=True)
        await library.close(save_snapshot=False)


async def test_a_library_keeps_working_after_the_server_drops_its_connections(postgres_url: str):
    """As after a PostgreSQL restart: every connection of the store is ended by the server; the next write and
    question get fresh connections from the pool instead of failing for the rest of the process's life."""
    library = await Library.open(postgres_url)
    admin = await asyncpg.connect(postgres_url)
    try:
        await add(library, "The council met on Monday to discuss the harbour.")
        ended = await admin.fetchval(
            "SELECT COUNT(pg_terminate_backend(pid)) FROM pg_stat_activity"
            " WHERE datname = current_database() AND pid <> pg_backend_pid()"
        )
        assert ended >= 1
        await asyncio.sleep(0.2)  # the clients notice the closed sockets
        await add(library, "Snorfledge merchants protested against the new tax on Friday.")
        answer = await library.ask("Why did Snorfledge merchants protest?", [SHARED_SCOPE])
        assert answer.quotes and "Snorfledge" in answer.quotes[0].text
    finally:
        await admin.close()
        await library.close(save_snapshot=False)
