"""Load: 200 concurrent questions while 50 articles are added, in one process against a real store.

Behaviour only (no timings are asserted): no errors; every quote, checked the moment its answer arrives through
a separate connection, is a substring of a stored article whose sentences are all stored; every added article
is present, indexed and answerable afterwards.
"""

from __future__ import annotations

import asyncio
import random
from pathlib import Path

import aiosqlite

from bot.core import text
from bot.core.library import Library
from bot.core.models import Answer, Article
from bot.tools.load import latency_under_load, marker, question_about, synthetic_articles

SCOPE = "shared"
BASE, ADDED, ASKS = 40, 50, 200


def as_markdown(article: Article) -> bytes:
    return (
        f"---\ntitle: {article.title}\nsource: {article.source}\ndate: {article.date}\nurl: {article.url}\n---\n"
        f"{article.text}\n"
    ).encode()


async def check_quotes(db: aiosqlite.Connection, answer: Answer) -> int:
    """Each quote comes from a complete article; returns how many quotes were checked."""
    checked = 0
    for quote in answer.quotes:
        for citation in quote.citations:
            async with db.execute("SELECT text FROM articles WHERE id = ?", (citation.article_id,)) as cursor:
                row = await cursor.fetchone()
            assert row is not None, f"quoted article #{citation.article_id} is not stored"
            body = row[0]
            assert quote.text in body
            async with db.execute(
                'SELECT start, "end" FROM sentences WHERE article_id = ? ORDER BY position', (citation.article_id,)
            ) as cursor:
                spans = [tuple(r) for r in await cursor.fetchall()]
            assert spans == [(s.start, s.end) for s in text.split_sentences(body)], "a half-written article"
            checked += 1
    return checked


async def test_200_asks_while_50_articles_are_added(tmp_path: Path):
    db_path = tmp_path / "load.db"
    library = await Library.open(db_path)
    checker = await aiosqlite.connect(db_path)  # another connection, as another reader would see the store
    try:
        base = synthetic_articles(BASE, seed=5)
        await library.add_articles([(a, f"base:{i}") for i, a in enumerate(base)], SCOPE)
        added = synthetic_articles(ADDED, seed=6, start=1000)
        rng = random.Random(9)
        adds_done = asyncio.Event()
        stats = {"answers": 0, "quotes_checked": 0, "quoted_new_while_adding": 0, "asks": 0, "asks_while_adding": 0}

        checking = asyncio.Lock()

        async def ask(question: str) -> Answer:
            during = not adds_done.is_set()
            answer = await library.ask(question, [SCOPE])
            stats["asks"] += 1
            stats["asks_while_adding"] += during
            # One check at a time: interleaved cursors on one connection would share (and pin) an old snapshot.
            async with checking:
                stats["quotes_checked"] += await check_quotes(checker, answer)
            return answer

        async def ask_about_base(n: int) -> None:
            answer = await ask(question_about(base[n]))
            assert not answer.abstained and marker(n).title() in answer.quotes[0].text
            stats["answers"] += 1

        async def ask_about_new(i: int) -> None:
            """Asks until the article is in (it may not be yet): the moment right after a commit is the risky one."""
            town = marker(1000 + i).title()
            while True:
                finished = adds_done.is_set()
                answer = await ask(question_about(added[i]))
                # Before the article is in, the question's other words may still find quotes elsewhere.
                if answer.quotes and town in answer.quotes[0].text:
                    stats["answers"] += 1
                    if not finished:
                        stats["quoted_new_while_adding"] += 1
                    return
                assert not finished, f"{town} was added but is not answered"
                await asyncio.sleep(0)

        async def add(i: int, article: Article) -> None:
            if i % 2:
                report = await library.add_articles([(article, f"load:{i}")], SCOPE)
            else:
                report = await library.add_bytes(as_markdown(article), f"load-{i}.md", SCOPE, added_by="tester")
            assert len(report.added) == 1 and not report.rejected, report

        async def add_stream(k: int) -> None:
            for i in range(k, ADDED, 5):  # one after another, as a moderator adds them, so adds span the asks
                await add(i, added[i])

        async def add_all() -> None:
            try:
                await asyncio.gather(*(add_stream(k) for k in range(5)))  # five moderators at once
            finally:
                adds_done.set()

        asks = [ask_about_base(rng.randrange(BASE)) for _ in range(ASKS - ADDED)]
        asks += [ask_about_new(i) for i in range(ADDED)]
        rng.shuffle(asks)
        results = await asyncio.gather(add_all(), *asks, return_exceptions=True)
        errors = [r for r in results if isinstance(r, BaseException)]
        assert not errors, errors[:3]

        assert stats["answers"] == ASKS and stats["asks"] >= ASKS
        assert stats["quotes_checked"] >= ASKS  # every answer quoted something, and it was checked
        stored = await library.list([SCOPE], limit=1000)
        assert len(stored) == BASE + ADDED
        assert {a.title for a in stored} == {a.title for a in base + added}
        assert library.scope_article_count([SCOPE]) == BASE + ADDED
        async with checker.execute("SELECT COUNT(*) FROM sentences") as cursor:
            row = await cursor.fetchone()
        assert row is not None and library.sentences.live_count == row[0]
        for i, article in enumerate(added):  # every added article answers for its town afterwards
            answer = await library.ask(question_about(article), [SCOPE])
            assert not answer.abstained and marker(1000 + i).title() in answer.quotes[0].text
            assert await check_quotes(checker, answer) > 0
        assert await library.store.integrity_check() == "ok"
        print(f"\nload: {stats}")
    finally:
        await checker.close()
        await library.close(save_snapshot=False)


async def test_latency_under_load_reports_percentiles(tmp_path: Path):
    library = await Library.open(tmp_path / "bench.db")
    try:
        base = synthetic_articles(20, seed=1)
        await library.add_articles([(a, f"base:{i}") for i, a in enumerate(base)], SCOPE)
        questions = [question_about(a) for a in base]
        figures = await latency_under_load(library, questions, synthetic_articles(5, seed=2, start=500), concurrency=4)
        assert figures["errors"] == 0, figures["first_error"]
        assert figures["adds"] == 5 and figures["asks"] >= len(questions) and figures["idle_asks"] == len(questions)
        assert 0 < figures["p50_ms"] <= figures["p95_ms"] <= figures["max_ms"]
        assert library.scope_article_count([SCOPE]) == 25
    finally:
        await library.close(save_snapshot=False)
