"""The core end to end: files in, cited quotes out, over a real store, real nltk and the real index."""

from __future__ import annotations

import asyncio
import concurrent.futures
import json
import logging
import os
import shutil
from collections.abc import AsyncIterator
from itertools import pairwise
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import snapshot
from bot.core.analysis import TITLE_REPEAT
from bot.core.errors import StoreUnavailable
from bot.core.library import SHARED_SCOPE, Library, Vocabulary, guild_scope
from bot.core.location import local_path
from bot.core.models import Answer, Article
from bot.tools.load import question_about, synthetic_articles

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "independent-2026-01-05-putin-residence.txt"
REPO_CORPUS = Path(__file__).parent.parent / "corpus"
BOILERPLATE = ("Support Now", "open image in gallery", "Copyright", "REUTERS", "Read more", "Your donation")


@pytest.fixture
async def seeded(tmp_path: Path, store_location: str) -> AsyncIterator[Library]:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    shutil.copy(REPO_CORPUS / "independent-2026-01-05-putin-residence.md", corpus)
    library = await Library.open(store_location)
    report = await library.add_paths([corpus], SHARED_SCOPE)
    assert len(report.added) == 1 and not report.rejected
    yield library
    await library.close()


async def test_us_confirmation_question_quotes_the_us_conclusion_first(seeded: Library):
    answer = await seeded.ask("Did the US confirm the Putin residence strike?", [SHARED_SCOPE])
    assert not answer.abstained
    first = answer.quotes[0]
    assert "concluded Ukraine did not target" in first.text or "I don’t believe that strike happened" in first.text
    [citation] = first.citations
    assert (citation.source, citation.date) == ("The Independent", "2026-01-05")


async def test_who_claimed_question_quotes_lavrov(seeded: Library):
    answer = await seeded.ask("Who claimed that Ukraine attacked Putin's residence?", [SHARED_SCOPE])
    assert any("Lavrov asserted" in q.text for q in answer.quotes)


async def test_unrelated_question_abstains(seeded: Library):
    answer = await seeded.ask("What is the boiling point of mercury?", [SHARED_SCOPE])
    assert answer.abstained and not answer.quotes


async def test_no_answer_contains_boilerplate(seeded: Library):
    for question in [
        "Support the Independent donation",
        "open image in gallery",
        "Associated Press copyright",
        "Reuters",
        "Zelensky travelling to the US for negotiations",
        "Read more",
    ]:
        answer = await seeded.ask(question, [SHARED_SCOPE], quotes=10)
        for quote in answer.quotes:
            assert not any(b.lower() in quote.text.lower() for b in BOILERPLATE), quote.text


async def test_every_quote_is_verbatim_from_its_article(seeded: Library):
    answer = await seeded.ask("Trump Putin Zelensky war talks", [SHARED_SCOPE], quotes=10)
    assert answer.quotes
    for quote in answer.quotes:
        for citation in quote.citations:
            article = await seeded.get(citation.article_id, [SHARED_SCOPE], with_text=True)
            assert article is not None and quote.text in article.text


async def test_re_adding_is_a_no_op_that_says_so(seeded: Library, tmp_path: Path):
    report = await seeded.add_paths([REPO_CORPUS / "independent-2026-01-05-putin-residence.md"], SHARED_SCOPE)
    assert not report.added and len(report.unchanged) == 1
    # The raw seed file (different format, same article text after cleaning) is the same article too.
    report = await seeded.add_paths([SEED], SHARED_SCOPE)
    assert not report.added and len(report.unchanged) == 1


async def test_same_sentence_in_two_articles_is_one_quote_with_both_citations(store_location: str):
    library = await Library.open(store_location)
    try:
        shared = "The central bank raised interest rates by half a point on Tuesday."
        await library.add_articles(
            [
                (Article(text=f"{shared} Markets fell sharply.", title="A", source="Outlet A", date="2026-01-02"), "a"),
                (
                    Article(text=f"Analysts were surprised. {shared}", title="B", source="Outlet B", date="2026-01-01"),
                    "b",
                ),
            ],
            SHARED_SCOPE,
        )
        answer = await library.ask("Did the central bank raise interest rates?", [SHARED_SCOPE])
        assert answer.quotes[0].text == shared
        assert [c.source for c in answer.quotes[0].citations] == ["Outlet B", "Outlet A"]  # oldest first
        assert all(q.text != shared for q in answer.quotes[1:])
    finally:
        await library.close()


# Articles about something else, so the question's words are rare enough to weigh (BM25's IDF).
WEATHER = [
    (Article(text=f"Story {i} about the weather. Rain fell on the town.", title=f"Weather {i}"), f"w{i}")
    for i in range(8)
]


async def test_articles_are_ranked_by_their_best_quote(store_location: str):
    """The page repeating the question's words most (BM25's first) does not answer it; the article quoted does,
    and it comes first in the ranked articles (evaluation's nDCG, the closest articles named on abstaining)."""
    library = await Library.open(store_location)
    try:
        repeating = "The harbour bridge is old. The harbour bridge is long and grey. Tourists love the harbour bridge."
        answering = (
            "The council met on Monday to discuss the budget, schools and parking. "
            "The harbour bridge closed on 3 March after engineers found cracks. Buses will run every ten minutes. "
            "A new library opens in the spring. Residents were asked for their views on parks."
        )
        await library.add_articles(
            [
                (Article(text=repeating, title="The harbour bridge"), "bridge"),
                (Article(text=answering, title="Council update"), "council"),
                *WEATHER,
            ],
            SHARED_SCOPE,
        )
        answer = await library.ask("When did the harbour bridge close?", [SHARED_SCOPE])
        assert answer.quotes[0].text == "The harbour bridge closed on 3 March after engineers found cracks."
        assert [c.title for c in answer.ranked_articles] == ["Council update", "The harbour bridge"]
    finally:
        await library.close()


async def test_an_interviewers_question_is_not_quoted_as_the_answer(tmp_path: Path):
    """An interview's question holds the member's words ("how many people were involved in this study?") but
    answers nothing: the sentences that tell come first."""
    library = await Library.open(tmp_path / "store.db")
    try:
        interview = (
            "Astronomer Anne Marchetti spoke to us about the comet study. "
            "((WN)) How many people were involved in this study? "
            "((Anne Marchetti)) We were eleven, from four observatories. "
            "((WN)) What telescope did you use? "
            "((Anne Marchetti)) We used the Very Large Telescope in Chile."
        )
        await library.add_articles([(Article(text=interview, title="Comet study"), "comet"), *WEATHER], SHARED_SCOPE)
        answer = await library.ask("how many people were involved in the comet study", [SHARED_SCOPE])
        assert answer.quotes[0].text == "((Anne Marchetti)) We were eleven, from four observatories."
    finally:
        await library.close()


async def test_scopes_keep_servers_apart(store_location: str):
    library = await Library.open(store_location)
    try:
        secret = Article(text="The harbour festival was cancelled because of the storm warning.", title="Festival")
        report = await library.add_articles([(secret, "x")], guild_scope(1))
        article_id = report.added[0].article_id
        for scopes in ([guild_scope(2), SHARED_SCOPE], [SHARED_SCOPE]):
            answer = await library.ask("Why was the harbour festival cancelled?", scopes)
            assert answer.abstained and not answer.quotes
            assert all(c.article_id != article_id for c in answer.closest)
            assert await library.get(article_id, scopes) is None
            assert await library.list(scopes) == []
            assert await library.remove(article_id, scopes) is None
        answer = await library.ask("Why was the harbour festival cancelled?", [guild_scope(1), SHARED_SCOPE])
        assert not answer.abstained
    finally:
        await library.close()


async def test_words_no_article_holds_are_named_from_the_asked_scopes_only(store_location: str):
    """An answer names the words no article it may quote holds, and never reveals another server's words."""
    library = await Library.open(store_location)
    try:
        festival = Article(text="The harbour festival was cancelled because of the storm warning.", title="Festival")
        bakery = Article(text="The bakery on Mill Street opened a second shop in March.", title="Bakery")
        await library.add_articles([(festival, "x")], guild_scope(1))
        await library.add_articles([(bakery, "y")], guild_scope(2))
        answer = await library.ask("Why was the harbour festival cancelled?", [guild_scope(2), SHARED_SCOPE])
        assert answer.abstained and answer.unheard == ("harbour", "festival", "cancelled")
        assert answer.message.endswith("None of them mentions “harbour”, “festival” or “cancelled”.")
        answer = await library.ask("Why was the harbour bakery cancelled?", [guild_scope(2)])
        assert answer.abstained and answer.unheard == ("harbour", "cancelled")  # the bakery is this server's
        answer = await library.ask("Why was the bakery festival cancelled?", [guild_scope(1), guild_scope(2)])
        assert answer.unheard == ()  # every word is in an article it may quote
    finally:
        await library.close()


async def test_a_catch_up_that_fails_half_way_is_retried(store_location: str, monkeypatch: pytest.MonkeyPatch):
    """A dropped connection while reading the change log left the index behind until some other commit."""
    follower = await Library.open(store_location)
    writer = await Library.open(store_location)
    try:
        article = Article(text="The lighthouse on Gull Rock was relit after forty years of darkness.", title="Relit")
        added = (await writer.add_articles([(article, "x")], SHARED_SCOPE)).added[0].article_id
        real = follower.store.changes_since
        calls = 0

        async def dropped_once(*args: object, **kwargs: object) -> object:
            nonlocal calls
            calls += 1
            if calls == 1:
                raise ConnectionResetError("the connection dropped")
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(follower.store, "changes_since", dropped_once)
        with pytest.raises(ConnectionResetError):
            await follower.catch_up()
        await follower.catch_up()  # nothing was committed in between
        answer = await follower.ask("When was the lighthouse on Gull Rock relit?", [SHARED_SCOPE])
        assert answer.quotes and answer.quotes[0].citations[0].article_id == added
    finally:
        await writer.close(save_snapshot=False)
        await follower.close(save_snapshot=False)


async def test_an_article_replaced_by_another_process_mid_question_is_answered_from_its_new_version(
    store_location: str, monkeypatch: pytest.MonkeyPatch
):
    """Another process re-indexed an edited file between this one's catch-up and its read of the store: the index
    retrieved the old version, which the store no longer held, and the question was declined (3 asks in 60)."""
    asker = await Library.open(store_location)
    writer = await Library.open(store_location)
    try:
        old = Article(text="The lighthouse on Gull Rock was relit after forty years of darkness.", title="Relit")
        new = Article(
            text="The lighthouse on Gull Rock was relit on Sunday after forty years of darkness.", title="Relit"
        )
        old_id = (await writer.add_articles([(old, "x")], SHARED_SCOPE)).added[0].article_id
        assert (await asker.ask("When was the lighthouse on Gull Rock relit?", [SHARED_SCOPE])).quotes
        real = asker.store.windows_and_articles
        replaced: list[int] = []

        async def replaced_first(*args: object, **kwargs: object) -> object:
            if not replaced:  # the edit lands after the asker caught up, before it reads the store
                assert await writer.remove(old_id, [SHARED_SCOPE]) is not None
                replaced.append((await writer.add_articles([(new, "x")], SHARED_SCOPE)).added[0].article_id)
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(asker.store, "windows_and_articles", replaced_first)
        answer = await asker.ask("When was the lighthouse on Gull Rock relit?", [SHARED_SCOPE])
        assert not answer.abstained
        assert answer.quotes[0].text == new.text and answer.quotes[0].citations[0].article_id == replaced[0]
    finally:
        await writer.close(save_snapshot=False)
        await asker.close(save_snapshot=False)


async def test_an_article_rewritten_before_every_read_is_still_answered(
    store_location: str, monkeypatch: pytest.MonkeyPatch
):
    """Another process rewrites the article between each catch-up and each read of the store (a file edited and
    re-indexed in a loop): looking again the same way missed it every time (three looks), and the answer left it
    out. The second look reads the store through the one view the index caught up to."""
    asker = await Library.open(store_location)
    writer = await Library.open(store_location)
    try:
        versions = [
            Article(text=f"The lighthouse on Gull Rock was relit after {years} years of darkness.", title="Relit")
            for years in ("forty", "fifty")
        ]
        current = [(await writer.add_articles([(versions[0], "x")], SHARED_SCOPE)).added[0].article_id]
        real = asker.store.windows_and_articles

        async def rewritten_first(*args: object, **kwargs: object) -> object:
            assert await writer.remove(current[-1], [SHARED_SCOPE]) is not None
            version = versions[len(current) % 2]
            current.append((await writer.add_articles([(version, "x")], SHARED_SCOPE)).added[0].article_id)
            return await real(*args, **kwargs)  # type: ignore[arg-type]

        monkeypatch.setattr(asker.store, "windows_and_articles", rewritten_first)
        for _ in range(3):
            answer = await asker.ask("When was the lighthouse on Gull Rock relit?", [SHARED_SCOPE])
            assert not answer.abstained
            # The version the view held: the one stored when it was taken, replaced since.
            assert answer.quotes[0].text in {v.text for v in versions}
            assert answer.quotes[0].citations[0].article_id in current[:-1]
    finally:
        await writer.close(save_snapshot=False)
        await asker.close(save_snapshot=False)


async def test_an_old_version_adds_nothing_once_a_newer_one_reindexed_the_store(store_location: str):
    """A rolling upgrade (bots sharded on one PostgreSQL restart one by one): the new version's reindex finishes
    while an old process still runs. Its next add wrote old-style terms no new process could ever match."""
    library = await Library.open(store_location)
    try:
        await library.store.set_meta("analysis", "a newer analysis")  # what the newer `citebot reindex` leaves
        before = await library.store.count_all_articles()
        article = Article(text="The lighthouse on Gull Rock was relit after forty years of darkness.", title="Relit")
        with pytest.raises(StoreUnavailable, match="re-tokenised by another citebot version"):
            await library.add_articles([(article, "x")], SHARED_SCOPE)
        assert await library.store.count_all_articles() == before
    finally:
        await library.close(save_snapshot=False)


async def test_remove_takes_the_article_out_of_answers(seeded: Library):
    answer = await seeded.ask("Lavrov drones Novgorod", [SHARED_SCOPE])
    article_id = answer.quotes[0].citations[0].article_id
    removed = await seeded.remove(article_id, [SHARED_SCOPE])
    assert removed is not None and removed.id == article_id
    answer = await seeded.ask("Lavrov drones Novgorod", [SHARED_SCOPE])
    assert answer.abstained and not answer.quotes


async def test_restart_uses_the_snapshot_and_answers_the_same(store_location: str):
    db = store_location
    library = await Library.open(db)
    await library.add_paths([REPO_CORPUS], SHARED_SCOPE)
    before = await library.ask("Brexit deadline extension", [SHARED_SCOPE])
    await library.close()
    assert snapshot.path_for(local_path(db)).exists()
    library = await Library.open(db)
    try:
        assert library.applied_seq == library._snapshot_seq == 280  # loaded, nothing to catch up
        after = await library.ask("Brexit deadline extension", [SHARED_SCOPE])
        assert [q.text for q in after.quotes] == [q.text for q in before.quotes]
        # An article added after the snapshot: the next start loads the snapshot and applies the change after it.
        await library.add_articles(
            [(Article(text="A brand new Brexit deadline story about fishing rights."), "n")], SHARED_SCOPE
        )
    finally:
        await library.close(save_snapshot=False)
    library = await Library.open(db)
    try:
        assert (library._snapshot_seq, library.applied_seq) == (280, 281)
        answer = await library.ask("Brexit fishing rights deadline", [SHARED_SCOPE])
        assert any("fishing rights" in q.text for q in answer.quotes)
    finally:
        await library.close()


@pytest.mark.parametrize(
    ("name", "data", "reason"),
    [
        ("empty.txt", b"", "empty"),
        ("binary.txt", bytes(range(256)) * 10, "binary"),
        ("huge.txt", b"word " * (1_100_000), "MB"),
    ],
)
async def test_bad_files_are_refused_and_leave_the_store_unchanged(tmp_path: Path, name: str, data: bytes, reason: str):
    library = await Library.open(tmp_path / "s.db")
    try:
        path = tmp_path / name
        path.write_bytes(data)
        report = await library.add_paths([path], SHARED_SCOPE)
        assert not report.added and len(report.rejected) == 1
        assert reason.lower() in report.rejected[0].reason.lower()
        assert await library.store.count_articles([SHARED_SCOPE]) == 0
        assert await library.store.last_seq() == 0
    finally:
        await library.close()


async def test_latin1_text_is_decoded_not_refused(store_location: str):
    library = await Library.open(store_location)
    try:
        report = await library.add_paths([FIXTURES / "latin1.txt"], SHARED_SCOPE)
        assert len(report.added) == 1
    finally:
        await library.close()


async def test_a_file_indexed_again_after_an_edit_replaces_what_it_held(
    tmp_path: Path, store_location: str, monkeypatch: pytest.MonkeyPatch
):
    """An edited article indexed again stayed beside its earlier version, and answers quoted both. The first time
    by absolute path (as the seeding names the corpus folder), the second by relative path (`index corpus/`)."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    bomb = "The device went off outside the town hall on Monday night. {} Police closed the square until morning."
    (corpus / "bomb.md").write_text(bomb.format("Nobody was hurt in the blast."), encoding="utf-8")
    wire = corpus / "wire.jsonl"
    lines = [
        {"id": "w1", "text": "The ferry to the island was cancelled on Friday because of the storm warnings."},
        {"id": "w2", "text": "The harbour festival drew thousands of visitors to the seafront on Saturday."},
    ]
    wire.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
    daily = corpus / "daily.jsonl"  # no ids: rewritten each day with that day's articles only
    daily.write_text(json.dumps({"text": "The library reopened on Monday after the new roof was finished."}))
    library = await Library.open(store_location)
    try:
        first = await library.add_paths([corpus], SHARED_SCOPE)
        assert len(first.added) == 4
        edited = "---\nid: bomb-2\n---\n" + bomb.format("Two people were hurt in the blast.")  # an id now: still it
        (corpus / "bomb.md").write_text(edited, encoding="utf-8")
        lines[0]["text"] = "The ferry to the island was cancelled on Friday and Saturday because of the storms."
        wire.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")
        daily.write_text(json.dumps({"text": "The swimming pool closed on Tuesday for a month of repairs."}))

        monkeypatch.chdir(tmp_path)
        second = await library.add_paths([Path("corpus")], SHARED_SCOPE)
        assert (len(second.added), len(second.unchanged)) == (3, 1)
        removed = {first.added[i].article_id for i, r in enumerate(first.added) if "daily" not in r.where}
        assert {r.article_id for r in second.replaced} == removed - {second.unchanged[0].article_id}
        assert library.scope_article_count([SHARED_SCOPE]) == 5  # both days of the file without ids stay
        answer = await library.ask("How many people were hurt in the blast?", [SHARED_SCOPE])
        assert answer.quotes and all("Nobody" not in q.text for q in answer.quotes)
        assert "Two people were hurt" in answer.quotes[0].text
    finally:
        await library.close()


async def test_two_runs_indexing_one_edited_file_at_once_keep_the_newer_version(
    tmp_path: Path, store_location: str, monkeypatch: pytest.MonkeyPatch
):
    """Each run removed every version of the file it had not added itself: the other run's too."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    wire = corpus / "wire.jsonl"

    def write(version: str) -> None:
        lines = [
            {"id": f"w{i}", "text": f"Ferry {i} to the island sailed {version} on Friday despite storms."}
            for i in (1, 2)
        ]
        wire.write_text("\n".join(json.dumps(line) for line in lines), encoding="utf-8")

    write("late")
    first, second = await Library.open(store_location), await Library.open(store_location)
    try:
        await first.add_paths([corpus], SHARED_SCOPE)
        first_added, second_done = asyncio.Event(), asyncio.Event()
        removing = Library._remove_earlier_versions

        async def after_the_other_run(self: Library, *args: Any) -> Any:  # first's removal waits for second's run
            first_added.set()
            await second_done.wait()
            return await removing(self, *args)

        monkeypatch.setattr(first, "_remove_earlier_versions", after_the_other_run.__get__(first))
        write("early")
        running_first = asyncio.create_task(first.add_paths([corpus], SHARED_SCOPE))
        await first_added.wait()
        write("on time")
        await second.add_paths([corpus], SHARED_SCOPE)
        second_done.set()
        await running_first
        for library in (first, second):
            await library.catch_up()
            texts = [a.title for a in await library.list([SHARED_SCOPE], limit=10)]
            assert len(texts) == 2 and all("on time" in (t or "") for t in texts)
    finally:
        await first.close()
        await second.close()


async def test_metadata_is_stored_without_control_characters(store_location: str):
    """A title's escape sequence would clear, retitle or write the clipboard of the terminal that lists it."""
    text = "The council met on Monday and voted to close the library. Residents said they would appeal. " * 3
    article = Article(
        text=text, title="Quokka \x1b[31mred\x1b[0m\u202e title\x07", source=" Esc\x1b]0;pwned\x07  Times "
    )
    library = await Library.open(store_location)
    try:
        report = await library.add_articles([(article, "a form")], SHARED_SCOPE)
        stored = await library.get(report.added[0].article_id, [SHARED_SCOPE])
        assert stored is not None
        assert (stored.title, stored.source) == ("Quokka [31mred[0m title", "Esc]0;pwned Times")
    finally:
        await library.close()


async def test_a_folder_of_bulk_files_is_compacted_once_at_the_end(tmp_path: Path, caplog: pytest.LogCaptureFixture):
    """Each compaction copies the whole index: once per folder, not once per file."""
    folder = tmp_path / "archive"
    folder.mkdir()
    articles = synthetic_articles(3 * 210, seed=4)
    for part in range(3):  # three files, each a bulk import (more than INSERT_BATCH articles)
        lines = [
            json.dumps({"id": f"{part}-{i}", "title": a.title, "text": a.text, "source": "X"})
            for i, a in enumerate(articles[part * 210 : (part + 1) * 210])
        ]
        (folder / f"part{part}.jsonl").write_text("\n".join(lines) + "\n")
    library = await Library.open(tmp_path / "s.db")
    try:
        with caplog.at_level(logging.INFO, logger="bot.core.library"):
            report = await library.add_paths([folder], SHARED_SCOPE)
        assert len(report.added) == 630
        assert sum("event=compacted" in r.getMessage() for r in caplog.records) == 1
        assert library.sentences.is_compact and library.articles.is_compact
        assert not (await library.ask(question_about(articles[500]), [SHARED_SCOPE])).abstained
    finally:
        await library.close()


async def test_malformed_json_lines_keep_the_good_ones(tmp_path: Path):
    path = tmp_path / "bulk.jsonl"
    good = {
        "id": "g1",
        "title": "Good one",
        "text": "The river flooded the old town after three days of rain.",
        "source": "X",
    }
    good2 = {
        "id": "g2",
        "title": "Good two",
        "text": "The mayor opened a new bridge over the river on Friday.",
        "source": "X",
    }
    path.write_text("\n".join([json.dumps(good), "{not json", json.dumps({"id": "x"}), json.dumps(good2)]) + "\n")
    library = await Library.open(tmp_path / "s.db")
    try:
        report = await library.add_paths([path], SHARED_SCOPE)
        assert len(report.added) == 2
        assert sorted(r.where for r in report.rejected) == ["bulk.jsonl:2", "bulk.jsonl:3"]
        listed = await library.list([SHARED_SCOPE])
        assert {a.external_id for a in listed} == {"g1", "g2"}
    finally:
        await library.close()


async def test_concurrent_adds_and_asks(store_location: str):
    library = await Library.open(store_location)
    try:
        articles = [
            Article(
                text=f"Report {i}: the committee number {i} approved the budget for the harbour project.", title=f"R{i}"
            )
            for i in range(20)
        ]
        adds = [library.add_articles([(a, f"a{i}")], SHARED_SCOPE) for i, a in enumerate(articles)]
        asks = [library.ask("committee approved harbour budget", [SHARED_SCOPE]) for _ in range(40)]
        results = await asyncio.gather(*adds, *asks)
        texts = {a.text for a in articles}  # each article is one sentence: a quote is a whole article or wrong
        for answer in results[20:]:
            assert isinstance(answer, Answer)
            for quote in answer.quotes:
                assert quote.text in texts
        assert await library.count([SHARED_SCOPE]) == 20
        after = await library.ask("committee approved harbour budget", [SHARED_SCOPE])
        assert not after.abstained and after.quotes  # the check above is not passing by abstaining
        assert all(quote.text in texts for quote in after.quotes)
    finally:
        await library.close()


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(body=st.text(min_size=1, max_size=600), question=st.text(min_size=1, max_size=80))
async def test_quotes_are_always_substrings_of_stored_text(tmp_path: Path, body: str, question: str):
    """Whatever the text and the question: no invented text, only stored sentences."""
    library = await Library.open(tmp_path / f"p{abs(hash((body, question)))}.db")
    try:
        await library.add_articles([(Article(text=body + " The harbour project was approved."), "p")], SHARED_SCOPE)
        answer = await library.ask(question, [SHARED_SCOPE], quotes=10)
        stored = (await library.list([SHARED_SCOPE]))[0]
        full = await library.get(stored.id, [SHARED_SCOPE], with_text=True)
        assert full is not None
        for quote in answer.quotes:
            assert quote.text and quote.text in full.text
    finally:
        await library.close(save_snapshot=False)


async def test_two_processes_writing_one_store_never_mix_up_words(store_location: str):
    """The bot and `citebot index` both write: new words get ids inside the write transaction."""
    db = store_location
    bot, cli = await Library.open(db), await Library.open(db)
    try:
        await bot.add_articles([(Article(text="The council met on Monday to discuss the harbour."), "a")], SHARED_SCOPE)
        await cli.add_articles([(Article(text="Glorbnak festival crowds filled the old square."), "b")], SHARED_SCOPE)
        await bot.add_articles(
            [(Article(text="Snorfledge merchants protested against the new tax."), "c")], SHARED_SCOPE
        )
    finally:
        await cli.close(save_snapshot=False)
        await bot.close(save_snapshot=False)
    restarted = await Library.open(db)
    try:
        snorfledge = await restarted.ask("Why did Snorfledge merchants protest?", [SHARED_SCOPE])
        assert snorfledge.quotes and "Snorfledge" in snorfledge.quotes[0].text
        glorbnak = await restarted.ask("Glorbnak festival crowds", [SHARED_SCOPE])
        assert glorbnak.quotes and "Glorbnak" in glorbnak.quotes[0].text
    finally:
        await restarted.close()


@pytest.mark.parametrize("unit", ["word ", "Word. ", "x" * 1000 + " "])
async def test_an_over_long_line_is_ingested_without_losing_text(tmp_path: Path, store_location: str, unit: str):
    """A 1 MB file on one line (no paragraphs, maybe no sentence ends): stored whole, answerable, no crash."""
    path = tmp_path / "one-line.txt"
    path.write_text("---\ntitle: One line\n---\n" + unit * (1_000_000 // len(unit)) + "The zebra crossing closed.")
    library = await Library.open(store_location)
    try:
        report = await library.add_paths([path], SHARED_SCOPE)
        assert len(report.added) == 1, report.rejected
        answer = await library.ask("Why was the zebra crossing closed?", [SHARED_SCOPE])
        assert answer.quotes and "zebra crossing closed" in answer.quotes[0].text
        assert len(answer.quotes[0].text) < 50_000 or unit != "Word. "
    finally:
        await library.close()


async def test_bulk_ingest_progress_shows_sentences_per_second_and_an_eta(tmp_path: Path):
    import io

    from bot.console import ProgressBar
    from bot.core import text

    articles = synthetic_articles(450, seed=3)  # more than one insert batch
    expected = sum(len(text.split_sentences(a.text)) for a in articles)
    stream = io.StringIO()
    bar = ProgressBar("indexing", stream=stream, unit="article")
    counts: list[int] = []

    def count(n: int) -> None:
        counts.append(n)
        bar.sentences(n)

    library = await Library.open(tmp_path / "p.db")
    try:
        report = await library.add_articles(
            [(a, f"a{i}") for i, a in enumerate(articles)], SHARED_SCOPE, progress=bar, stored_sentences=count
        )
    finally:
        await library.close()
    assert len(report.added) == 450 and sum(counts) == expected and len(counts) > 1
    shown = stream.getvalue()
    assert "450/450" in shown and "article" in shown
    assert f"{expected:,} sentences" in shown and "sentences/s" in shown
    assert "<" in shown  # tqdm's elapsed<remaining: the ETA


async def test_a_long_running_library_answers_from_the_snapshot_it_saved_mapped(tmp_path: Path):
    from bot.tools.load import question_about, synthetic_articles

    articles = synthetic_articles(40, seed=11)
    library = await Library.open(tmp_path / "m.db")
    try:
        await library.add_articles([(a, f"a{i}") for i, a in enumerate(articles[:30])], SHARED_SCOPE)
        asked = [question_about(a) for a in articles[:30:3]]
        before = [await library.ask(q, [SHARED_SCOPE]) for q in asked]
        assert await library.save_snapshot(adopt=True)
        for index in (library.sentences, library.articles):  # now views of the mapped file, not copies
            assert not index._post_slots.flags.writeable and not index._keys.flags.writeable
        after = [await library.ask(q, [SHARED_SCOPE]) for q in asked]
        assert [[q.text for q in a.quotes] for a in after] == [[q.text for q in a.quotes] for a in before]
        # It goes on changing on top of the mapped arrays: an add, a removal, then a compaction.
        added = await library.add_articles([(articles[35], "new")], SHARED_SCOPE)
        assert (await library.ask(question_about(articles[35]), [SHARED_SCOPE])).quotes
        first = before[0].quotes[0].citations[0].article_id
        assert await library.remove(first, [SHARED_SCOPE])
        assert all(
            c.article_id != first for q in (await library.ask(asked[0], [SHARED_SCOPE])).quotes for c in q.citations
        )
        async with library._write_lock:
            await library._compact_locked()
        assert (await library.ask(question_about(articles[35]), [SHARED_SCOPE])).quotes[0].citations[0].article_id == (
            added.added[0].article_id
        )
    finally:
        await library.close(save_snapshot=False)


@pytest.mark.skipif(not hasattr(os, "nice"), reason="process priorities are POSIX")
def test_ingest_workers_run_below_the_answering_process() -> None:
    """Bulk-ingest workers yield the CPU to the process whose event loop answers questions."""
    from bot.core import library

    with concurrent.futures.ProcessPoolExecutor(1, initializer=library._start_worker, initargs=(os.getpid(),)) as pool:
        worker = pool.submit(os.nice, 0).result()
    assert worker == min(os.nice(0) + library.WORKER_NICENESS, 19)


async def test_bulk_imports_that_follow_one_another_share_their_worker_processes(tmp_path: Path) -> None:
    """A new worker process starts with empty caches; imports in a row (a folder's files) keep the same ones."""
    from bot.core import library as library_module

    def batch(tag: str) -> list[tuple[Article, str]]:
        return [
            (Article(text=f"Report {tag} {i} on the harbour works. Officials said {i} cranes arrived."), f"{tag}{i}")
            for i in range(library_module.PARALLEL_FROM)
        ]

    library = await Library.open(tmp_path / "workers.db")
    try:
        first = await library.add_articles(batch("a"), SHARED_SCOPE)
        pool = library._workers._pool
        assert pool is not None and len(first.added) == library_module.PARALLEL_FROM
        second = await library.add_articles(batch("b"), SHARED_SCOPE)
        assert library._workers._pool is pool and len(second.added) == library_module.PARALLEL_FROM
    finally:
        await library.close(save_snapshot=False)
    assert library._workers._pool is None


def test_the_vocabulary_reads_stored_terms_back_and_forgets_rolled_back_ones() -> None:
    def packed(ids: list[int]) -> bytes:
        return np.asarray(ids, dtype="<u4").tobytes()

    vocabulary = Vocabulary([(0, "putin"), (2, "resid")])
    assert vocabulary.terms_of(packed([2, 0, 2])) == ["resid", "putin", "resid"]
    assert vocabulary.terms_of(packed([1])) is None  # a gap: not known here
    assert vocabulary.terms_of(packed([7])) is None
    (new,) = vocabulary.ids(["drone"])
    assert vocabulary.terms_of(packed([new])) == ["drone"]
    vocabulary.rollback()
    assert vocabulary.terms_of(packed([new])) is None
    vocabulary.absorb([(new, "kremlin")])  # another process stored that id meanwhile
    assert vocabulary.terms_of(packed([0, new])) == ["putin", "kremlin"]
    blobs = [packed([2, 0]), None, b"", packed([1]), packed([new, 2])]
    assert vocabulary.terms_of_many(blobs) == [vocabulary.terms_of(b) for b in blobs]
    assert vocabulary.terms_of_many([packed([0]), packed([9])]) == [["putin"], None]
    # A title's terms are the first of its article's: there TITLE_REPEAT times, else not read from there.
    assert vocabulary.title_terms("Putin's Kremlin", packed([0, new] * TITLE_REPEAT + [2])) == ["putin", "kremlin"]
    assert vocabulary.title_terms("Kremlin's Putin", packed([new, 0, 2])) is None
    assert vocabulary.title_terms("Putin's Kremlin", None) == ["putin", "kremlin"]  # known by its title now
    assert vocabulary.title_terms("The", packed([2])) == [] == vocabulary.title_terms(None, None)


_PREPARE_PIECES = [
    "The",
    " ",
    "U.S.",
    "said",
    ". ",
    "\n",
    "\n\n",
    "Café",
    "\t",
    "\x00",
    "united states",
    "it's",
    "1,000",
    "?",
]


@settings(max_examples=200, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    st.lists(st.sampled_from(_PREPARE_PIECES), max_size=40).map("".join) | st.text(),
    st.none() | st.lists(st.sampled_from(_PREPARE_PIECES), max_size=6).map("".join),
)
def test_prepare_is_split_then_tokenize(article_text: str, title: str | None) -> None:
    # What a worker sends back, taken apart again: the article's sentences and each one's terms, the title's first.
    from bot.core import clean, text
    from bot.core.library import _prepare, content_hash

    p = _prepare(article_text, title)
    body = clean.normalise_whitespace(article_text)
    assert (article_text if p.body is None else p.body) == body and (p.body is None) == (body == article_text)
    assert p.content_hash == content_hash(body)
    sentences = text.split_sentences(body)
    assert p.sentences[:, :2].tolist() == [[s.start, s.end] for s in sentences]
    terms = [p.terms[i] for i in p.tokens.tolist()]
    title_terms = text.tokenize(title or "")
    assert p.title_tokens == len(title_terms) * TITLE_REPEAT and terms[: p.title_tokens] == title_terms * TITLE_REPEAT
    starts = [p.title_tokens, *p.sentences[:, 2].tolist()]
    assert [terms[a:b] for a, b in pairwise(starts)] == [text.tokenize(s.text) for s in sentences]
    assert len(terms) == starts[-1] and p.terms == list(dict.fromkeys(terms))


def test_progress_rate_counts_from_when_the_work_began() -> None:
    """A whole import reported in one batch read "6908265 item/s": tqdm timed it from its first report."""
    import io
    import re
    import time

    from bot.console import ProgressBar

    stream = io.StringIO()
    bar = ProgressBar("importing", stream=stream)
    time.sleep(0.2)
    bar(280, 280)
    rates = [float(r) for r in re.findall(r"([\d.]+)item/s", stream.getvalue())]
    assert rates and max(rates) < 280 / 0.2 + 1


async def test_a_renamed_file_keeps_its_article_and_a_later_edit_replaces_it(tmp_path: Path, store_location: str):
    """A renamed file kept its old path in the store, so an edit after the rename was added beside the old version
    (matched by path) and answers quoted both. A copy (the old file still there) is not a rename."""
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    bomb = "The device went off outside the town hall on Monday night. {} Police closed the square until morning."
    (corpus / "a.md").write_text(bomb.format("Nobody was hurt in the blast."), encoding="utf-8")
    ferry = "The ferry to the island was cancelled on Friday because of the storm warnings."
    (corpus / "ferry.md").write_text(ferry, encoding="utf-8")
    library = await Library.open(store_location)
    try:
        first = await library.add_paths([corpus], SHARED_SCOPE)
        bomb_id = next(r.article_id for r in first.added if r.where.endswith("a.md"))
        ferry_id = next(r.article_id for r in first.added if r.where.endswith("ferry.md"))
        (corpus / "a.md").rename(corpus / "b.md")
        shutil.copy(corpus / "ferry.md", corpus / "ferry-copy.md")

        renamed = await library.add_paths([corpus], SHARED_SCOPE)
        assert [(r.article_id, r.previous, r.where) for r in renamed.moved] == [
            (bomb_id, str((corpus / "a.md").resolve()), str(corpus / "b.md"))
        ]
        assert {r.article_id for r in renamed.unchanged} == {ferry_id} and not renamed.added
        assert [r.article_id for r in await library.from_origin(SHARED_SCOPE, str((corpus / "b.md").resolve()))] == [
            bomb_id
        ]
        assert [
            r.article_id for r in await library.from_origin(SHARED_SCOPE, str((corpus / "ferry.md").resolve()))
        ] == [ferry_id]

        (corpus / "b.md").write_text(bomb.format("Two people were hurt in the blast."), encoding="utf-8")
        edited = await library.add_paths([corpus], SHARED_SCOPE)
        assert [r.article_id for r in edited.replaced] == [bomb_id]
        assert library.scope_article_count([SHARED_SCOPE]) == 2
    finally:
        await library.close()


async def test_articles_of_files_gone_from_a_folder_are_listed_and_pruned_on_request(
    tmp_path: Path, store_location: str
):
    """Articles of files deleted from the folder stayed for ever. Only those of files strictly inside the folder
    go (not of a folder whose name starts the same, not a path whose ``..`` leads out), never an upload's or a
    page's, and nothing while the folder is missing or holds no files at all (an unmounted disk)."""
    corpus, beside = tmp_path / "corpus", tmp_path / "corpus-old"
    for folder in (corpus / "sub", beside):
        folder.mkdir(parents=True)
    texts = {
        corpus / "a.md": "The ferry to the island was cancelled on Friday because of the storm warnings.",
        corpus / "sub" / "b.md": "The harbour festival drew thousands of visitors to the seafront on Saturday.",
        corpus / "kept.md": "The library reopened on Monday after the new roof was finished.",
        beside / "c.md": "The swimming pool closed on Tuesday for a month of repairs.",
    }
    for path, body in texts.items():
        path.write_text(body, encoding="utf-8")
    library = await Library.open(store_location)
    try:
        await library.add_paths([corpus, beside], SHARED_SCOPE)
        upload = await library.add_bytes(b"The mayor opened the new bridge on Sunday.", "a.md", SHARED_SCOPE)
        escaping = await library.add_articles(
            [(Article(text="The council met on Wednesday to discuss the budget."), "old")],
            SHARED_SCOPE,
            origin=f"{corpus}/../corpus-old/gone.md",
        )
        (corpus / "link").symlink_to(beside)  # a link out of the folder: what lies behind it is not inside
        linked = await library.add_articles(
            [(Article(text="The tram line to the airport opened on Thursday."), "old")],
            SHARED_SCOPE,
            origin=f"{corpus}/link/gone.md",
        )
        for path in (corpus / "a.md", corpus / "sub" / "b.md", beside / "c.md"):
            path.unlink()
        nowhere = tmp_path / "nowhere"
        assert await library.files_gone(nowhere, SHARED_SCOPE) == []  # a missing folder tells nothing of files
        gone = await library.files_gone(corpus, SHARED_SCOPE)
        assert sorted(r.where for r in gone) == [str(corpus / "a.md"), str(corpus / "sub" / "b.md")]
        assert await library.prune(nowhere, gone, SHARED_SCOPE) == []  # nor does pruning one remove anything
        assert library.scope_article_count([SHARED_SCOPE]) == 7  # listing removes nothing

        pruned = await library.prune(corpus, gone, SHARED_SCOPE)
        assert sorted(r.article_id for r in pruned) == sorted(r.article_id for r in gone)
        assert await library.files_gone(corpus, SHARED_SCOPE) == []
        kept = {a.id for a in await library.list([SHARED_SCOPE])}
        assert {upload.added[0].article_id, escaping.added[0].article_id, linked.added[0].article_id} <= kept
        assert library.scope_article_count([SHARED_SCOPE]) == 5

        # corpus-old now holds no file: perhaps a disk not mounted, so its article stays until its file is seen
        gone_beside = await library.files_gone(beside, SHARED_SCOPE)
        assert [r.where for r in gone_beside] == [str(beside / "c.md")]
        assert await library.prune(beside, gone_beside, SHARED_SCOPE) == []
        assert library.scope_article_count([SHARED_SCOPE]) == 5
    finally:
        await library.close()


def _article_file(article: Article) -> str:
    """A plain-text article file: a header paragraph of its metadata, then its text as it is."""
    return f"Title: {article.title}\nSource: {article.source}\nDate: {article.date}\n\n{article.text}\n"


async def test_a_folder_of_many_small_files_keeps_each_files_rules(tmp_path: Path, store_location: str):
    """Many small files' articles share write batches and worker processes: each file still keeps its own origin,
    an edit replaces only that file's earlier version, a renamed file's article moves, an article two files share
    is not one's earlier version, and a refused file is reported."""
    from bot.core import library as library_module

    folder = tmp_path / "many"
    folder.mkdir()
    articles = synthetic_articles(library_module.PARALLEL_FROM + 50, seed=21)  # several batches, in the workers
    files = [folder / f"n{i:03d}.txt" for i in range(len(articles))]
    for path, article in zip(files, articles, strict=True):
        path.write_text(_article_file(article), encoding="utf-8")
    twin_a, twin_b = folder / "twin-a.txt", folder / "twin-b.txt"  # one text in two files, in one batch
    shared, edited, later = synthetic_articles(3, seed=22, start=1000)
    for twin in (twin_a, twin_b):
        twin.write_text(_article_file(shared), encoding="utf-8")
    (folder / "empty.txt").write_text("\n", encoding="utf-8")
    reading: list[tuple[int, int]] = []
    stored: list[tuple[int, int]] = []
    library = await Library.open(store_location)
    try:
        first = await library.add_paths(
            [folder], SHARED_SCOPE, reading=lambda *n: reading.append(n), progress=lambda *n: stored.append(n)
        )
        total = len(articles) + 2
        assert len(first.added) == total - 1 and [r.where for r in first.unchanged] == [str(twin_b)]
        assert [r.where for r in first.rejected] == [str(folder / "empty.txt")]
        assert reading[-1] == (len(files) + 3, len(files) + 3) and stored[-1] == (total, total)
        assert len(stored) > 1 and [n for n, _ in stored] == sorted(n for n, _ in stored)
        (twin_id,) = {r.article_id for r in first.added + first.unchanged if "twin" in r.where}
        ids = {r.where: r.article_id for r in first.added}
        for path in (files[0], files[250], files[-1], twin_a):
            assert [r.article_id for r in await library.from_origin(SHARED_SCOPE, str(path.resolve()))] == [
                ids[str(path)]
            ]

        files[7].write_text(_article_file(edited), encoding="utf-8")
        files[8].rename(folder / "renamed.txt")
        twin_a.write_text(_article_file(later), encoding="utf-8")  # twin-b still holds the shared text
        second = await library.add_paths([folder], SHARED_SCOPE)
        assert sorted(r.where for r in second.added) == [str(files[7]), str(twin_a)]
        assert [r.article_id for r in second.replaced] == [ids[str(files[7])]]
        assert [(r.article_id, r.previous) for r in second.moved] == [(ids[str(files[8])], str(files[8].resolve()))]
        assert {r.article_id for r in second.unchanged} >= {twin_id}
        assert len(second.unchanged) == total - 3 and len(second.rejected) == 1
        assert library.scope_article_count([SHARED_SCOPE]) == await library.count([SHARED_SCOPE]) == total
        for article in (edited, later, articles[8], shared):
            answer = await library.ask(question_about(article), [SHARED_SCOPE])
            assert not answer.abstained and (article.title or "").split()[0] in answer.quotes[0].text
    finally:
        await library.close()


async def test_a_text_another_process_stores_meanwhile_is_reported_with_its_id(
    store_location: str, monkeypatch: pytest.MonkeyPatch
):
    """Stored by another process between the look-up and the write: every copy of it in the batch was reported as
    article #0, so its file's run did not hold it (an article two files share is not one's earlier version)."""
    article = Article(text="The ferry to the island was cancelled on Friday because of the storm warnings.")
    first, second = await Library.open(store_location), await Library.open(store_location)
    try:
        looking = first.store.existing_hashes
        stored: list[int] = []

        async def then_the_other_stores_it(scope: str, hashes: Any) -> dict[str, int]:
            found = await looking(scope, hashes)
            if not stored:
                stored.append((await second.add_articles([(article, "b.md")], SHARED_SCOPE)).added[0].article_id)
            return found

        monkeypatch.setattr(first.store, "existing_hashes", then_the_other_stores_it)
        report = await first.add_articles([(article, "a.md"), (article, "a-copy.md")], SHARED_SCOPE)
        assert not report.added and [r.article_id for r in report.unchanged] == stored * 2
    finally:
        await first.close()
        await second.close()


async def test_an_uploaded_json_lines_file_is_stored_under_its_name(tmp_path: Path):
    """Each record of an upload keeps the file's name as its origin, as one article's upload does: what
    `/corpus add-file` names as an earlier upload of the same file (Library.from_origin). The report still names
    each record by its id."""
    records = [
        {"id": "r1", "title": "Ferry", "text": "The ferry to the island was cancelled on Friday because of storms."},
        {"id": "r2", "title": "Bridge", "text": "The mayor opened the new bridge over the river on Sunday."},
    ]
    body = "".join(json.dumps(r) + "\n" for r in records).encode()
    library = await Library.open(tmp_path / "store.db")
    try:
        report = await library.add_bytes(body, "feed.jsonl", SHARED_SCOPE)
        assert sorted(r.where for r in report.added) == ["feed.jsonl#r1", "feed.jsonl#r2"]
        stored = await library.from_origin(SHARED_SCOPE, "feed.jsonl")
        assert sorted(r.article_id for r in stored) == sorted(r.article_id for r in report.added)
    finally:
        await library.close()
