"""Question latency while articles are being added, and synthetic articles to load a store with.

Used by the load and crash tests and meant for `citebot bench`:

    figures = await latency_under_load(library, questions, synthetic_articles(50, seed=1))

returns p50/p95 ask latency (ms) with the store idle and while the articles are added one at a time.
"""

from __future__ import annotations

import asyncio
import json
import random
import re
import tempfile
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np

from bot.core.library import SHARED_SCOPE, Library
from bot.core.models import Article

_CONSONANTS = "bcdfghklmnprstvz"
_VOWELS = "aeiou"
_FILLER = [
    "council",
    "budget",
    "river",
    "bridge",
    "harbour",
    "election",
    "minister",
    "court",
    "report",
    "school",
    "hospital",
    "railway",
    "market",
    "farmers",
    "storm",
    "festival",
    "museum",
    "factory",
    "police",
    "union",
    "airport",
    "energy",
    "water",
    "coast",
    "village",
    "senate",
    "treaty",
    "border",
]
_VERBS = [
    "approved",
    "rejected",
    "announced",
    "delayed",
    "inspected",
    "funded",
    "opened",
    "closed",
    "reviewed",
    "questioned",
]
_WHEN = [
    "on Monday",
    "on Tuesday",
    "last week",
    "this spring",
    "after a long debate",
    "before the summer",
    "late on Friday",
]


def marker(n: int) -> str:
    """A made-up word unique to ``n`` ('zubex', 'zubix', …): no stopword, no stem clash, in no real article."""
    letters = ["zu"]
    n += 1
    while n:
        n, r = divmod(n, len(_CONSONANTS) * len(_VOWELS))
        letters.append(_CONSONANTS[r // len(_VOWELS)] + _VOWELS[r % len(_VOWELS)])
    return "".join(letters) + "x"


def synthetic_articles(count: int, *, seed: int = 0, start: int = 0) -> list[Article]:
    """``count`` distinct articles of 6–9 sentences in 3 paragraphs, deterministic for a seed.

    Article n names the town ``marker(n).title()`` in every sentence, so "What happened in <town>?" has one
    right article. No paragraph repeats across articles (bulk imports strip repeated paragraphs as boilerplate).
    """
    rng = random.Random(seed)
    articles = []
    for n in range(start, start + count):
        town = marker(n).title()
        sentences = []
        for i in range(rng.randint(6, 9)):
            subject, thing = rng.sample(_FILLER, 2)
            sentences.append(
                f"The {subject} of {town} {rng.choice(_VERBS)} the {thing} plan {rng.choice(_WHEN)} (item {n}-{i})."
            )
        cut = sorted(rng.sample(range(1, len(sentences)), 2))
        paragraphs = [sentences[: cut[0]], sentences[cut[0] : cut[1]], sentences[cut[1] :]]
        articles.append(
            Article(
                text="\n\n".join(" ".join(p) for p in paragraphs),
                title=f"{town} weighs the {rng.choice(_FILLER)} plan",
                source="Synthetic Herald",
                date=f"2025-{1 + n % 12:02d}-{1 + n % 28:02d}",
                url=f"https://synthetic.example/{n}",
                external_id=f"synthetic-{n}",
            )
        )
    return articles


def question_about(article: Article) -> str:
    """A question the first sentence of a synthetic article answers, naming all five of its content words."""
    match = re.match(r"The (\w+) of (\w+) (\w+) the (\w+) plan", article.text)
    if not match:
        raise ValueError("not an article from synthetic_articles()")
    subject, town, verb, thing = match.groups()
    return f"Which {subject} of {town} {verb} the {thing} plan?"


def percentile(values: Sequence[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else 0.0


async def latency_under_load(
    library: Library,
    questions: Sequence[str],
    articles: Sequence[Article],
    *,
    scope: str = SHARED_SCOPE,
    concurrency: int = 8,
    ask_scopes: Sequence[str] | None = None,
) -> dict[str, Any]:
    """Ask ``questions`` once with nothing else running, then again from ``concurrency`` workers (cycling through
    the questions) for as long as ``articles`` are being added one by one, as moderators would add them.

    Latency is the whole `Library.ask` call as a member's request sees it, including waiting for the event loop
    while other questions and the adds hold it. Errors are counted, not raised, so a benchmark still reports.
    """
    if not questions:
        raise ValueError("latency_under_load needs at least one question")
    asked = list(ask_scopes) if ask_scopes is not None else [scope]  # adds go to ``scope``
    idle: list[float] = []
    for question in questions:
        started = time.perf_counter()
        await library.ask(question, asked)
        idle.append((time.perf_counter() - started) * 1000)

    loaded: list[float] = []
    add_ms: list[float] = []
    errors: list[str] = []
    adding = True
    next_question = 0

    async def add_all() -> None:
        nonlocal adding
        try:
            for i, article in enumerate(articles):
                started = time.perf_counter()
                try:
                    await library.add_articles([(article, f"load:{i}")], scope)
                except Exception as error:  # counted: the benchmark reports, the test asserts none
                    errors.append(f"add: {error!r}")
                add_ms.append((time.perf_counter() - started) * 1000)
        finally:
            adding = False

    async def asker() -> None:
        nonlocal next_question
        # Keep asking until the adds are done, and ask every question at least once.
        while adding or next_question < len(questions):
            question = questions[next_question % len(questions)]
            next_question += 1
            started = time.perf_counter()
            try:
                await library.ask(question, asked)
            except Exception as error:
                errors.append(f"ask: {error!r}")
            loaded.append((time.perf_counter() - started) * 1000)
            await asyncio.sleep(0)  # let the adds in between questions, as interleaved requests would

    await asyncio.gather(add_all(), *(asker() for _ in range(concurrency)))
    return {
        "idle_asks": len(idle),
        "idle_p50_ms": round(percentile(idle, 50), 2),
        "idle_p95_ms": round(percentile(idle, 95), 2),
        "asks": len(loaded),
        "concurrency": concurrency,
        "p50_ms": round(percentile(loaded, 50), 2),
        "p95_ms": round(percentile(loaded, 95), 2),
        "max_ms": round(max(loaded, default=0.0), 2),
        "adds": len(add_ms),
        "add_p50_ms": round(percentile(add_ms, 50), 2),
        "add_p95_ms": round(percentile(add_ms, 95), 2),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


class LoopLag:
    """The event loop's worst stall while a block runs: the largest delay of a ``tick``-second timer past its due
    time (a question arriving then would wait as long). ``async with LoopLag() as lag: await work()``, then
    ``lag.worst`` and ``lag.seconds`` (how long the block took)."""

    def __init__(self, tick: float = 0.005) -> None:
        self.tick = tick
        self.worst = 0.0
        self.seconds = 0.0
        self._stop = asyncio.Event()
        self._task: asyncio.Task[None] | None = None
        self._started = 0.0

    async def _run(self) -> None:
        while not self._stop.is_set():
            before = time.perf_counter()
            await asyncio.sleep(self.tick)
            self.worst = max(self.worst, time.perf_counter() - before - self.tick)

    async def __aenter__(self) -> LoopLag:
        self._task = asyncio.create_task(self._run())
        await asyncio.sleep(0)  # ticking before the work starts
        self._started = time.perf_counter()
        return self

    async def __aexit__(self, *exc: object) -> None:
        self.seconds = time.perf_counter() - self._started
        self._stop.set()
        if self._task is not None:
            await self._task


async def loop_lag_during_index_work(
    library: Library, articles: int = 5_000, *, scope: str = "bench:lag"
) -> dict[str, Any]:
    """The event loop's worst lag (ms) and the time taken (s) during the index work a running bot does beside
    questions: compacting the whole index (after one article's add left a delta), adding a JSON-lines file of
    ``articles`` synthetic articles (a bulk import: worker processes, batches, a compaction at the end), and
    saving a snapshot."""
    start = 10**7 + library.applied_seq  # town names no earlier run used
    one, *many = synthetic_articles(articles + 1, seed=9, start=start)
    figures: dict[str, Any] = {"sentences_before": library.sentences.live_count}
    await library.add_articles([(one, "lag:0")], scope)
    async with LoopLag() as lag:
        await library.compact()
    figures["compaction"] = {"seconds": round(lag.seconds, 2), "worst_lag_ms": round(lag.worst * 1000, 1)}
    with tempfile.TemporaryDirectory(prefix="citebot-lag-") as folder:
        path = Path(folder) / "articles.jsonl"
        fields = ("title", "text", "source", "date", "url")
        with path.open("w", encoding="utf-8") as out:
            for article in many:
                out.write(json.dumps({"id": article.external_id} | {f: getattr(article, f) for f in fields}) + "\n")
        async with LoopLag() as lag:
            report = await library.add_paths([path], scope)
    figures["add"] = {
        "articles": len(report.added),
        "seconds": round(lag.seconds, 2),
        "worst_lag_ms": round(lag.worst * 1000, 1),
    }
    async with LoopLag() as lag:
        await library.save_snapshot()
    figures["snapshot"] = {"seconds": round(lag.seconds, 2), "worst_lag_ms": round(lag.worst * 1000, 1)}
    figures["sentences_after"] = library.sentences.live_count
    return figures
