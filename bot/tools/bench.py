"""`citebot bench`: citebot's index against rank-bm25 on the same tokens, in the same run.

Builds a corpus of N sentences from ../shared/corpora (Reuters and BBC, repeated in separate scopes when N
asks for more), then measures build, cold start (a fresh process opening the store until its first answer),
question latency (the full `ask` path), adding one article, and index memory. The reference is rank-bm25's
BM25Plus ``get_scores`` + argsort over the very term ids citebot stored. Figures are printed with their
ratio to the reference because absolute times on shared machines are noisy.

`citebot --db STORE bench --loop-lag` measures something else, on an existing store (it adds to it): the event
loop's worst lag, i.e. how long a question arriving then would wait, while the whole index is compacted, a
5,000-article JSON-lines file is added and a snapshot is saved.
"""

from __future__ import annotations

import argparse
import asyncio
import gc
import json
import os
import random
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass
from itertools import islice
from pathlib import Path
from typing import Any

import numpy as np

from bot.config import Settings
from bot.console import ProgressBar, run_child, whole_number
from bot.core import ingest, text
from bot.core.answer import AnswerParams
from bot.core.library import Library, content_hash, without_repeated_boilerplate
from bot.core.models import Article
from bot.tools.load import latency_under_load, loop_lag_during_index_work, synthetic_articles
from bot.tools.migrate import migrate_store

CORPORA = ("reuters-21578", "bbc-news")
REFERENCE_UP_TO = 1_000_000  # sentences; above, rank-bm25 runs only when asked (--reference)


def rss_mb() -> float:
    """Resident memory of this process now (Linux /proc; 0 elsewhere)."""
    try:
        pages = int(Path("/proc/self/statm").read_text().split()[1])
    except (OSError, IndexError, ValueError):
        return 0.0
    return pages * os.sysconf("SC_PAGE_SIZE") / 2**20


def rss_parts_mb() -> tuple[float, float]:
    """This process's resident memory now: (anonymous, file-backed) — mapped snapshot pages are the latter,
    which the kernel can drop under memory pressure and read again (Linux /proc; zeros elsewhere)."""
    parts = {"RssAnon:": 0.0, "RssFile:": 0.0}
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            name, *value = line.split()
            if name in parts:
                parts[name] = int(value[0]) / 1024
    except (OSError, IndexError, ValueError):
        pass
    return parts["RssAnon:"], parts["RssFile:"]


STEADY_ROUNDS = 3  # rounds of the questions in the fresh process (cold_start)


def percentile(values: list[float], p: float) -> float:
    return float(np.percentile(values, p)) if values else 0.0


def find_shared(explicit: Path | None) -> Path:
    candidates = [explicit] if explicit else [Path("../shared"), Path(__file__).resolve().parents[3] / "shared"]
    for candidate in candidates:
        if candidate and (candidate / "corpora").is_dir():
            return candidate
    raise SystemExit("citebot bench needs the news corpora in ../shared/corpora (or pass --shared PATH).")


def load_articles(shared: Path) -> list[Article]:
    articles: list[Article] = []
    for name in CORPORA:
        parsed = ingest.read_path(shared / "corpora" / name / "articles.jsonl", max_bytes=1 << 30)
        # The cleaning bulk imports apply, so that planned sentence counts match what gets stored.
        articles += without_repeated_boilerplate(parsed.articles)[0]
    # Identical texts are stored once per scope; plan with each once (Reuters repeats many short items).
    unique = {content_hash(a.text): a for a in reversed(articles)}
    return [a for a in articles if unique.get(content_hash(a.text)) is a]


@dataclass(frozen=True)
class Plan:
    batches: list[tuple[str, list[tuple[Article, str]]]]  # (scope, articles) — one scope per repetition
    sentences: int


def plan_corpus(articles: list[Article], target: int) -> Plan:
    """Take articles in order, repeating the list in a new scope each time, until ``target`` sentences."""
    # Counted as taken: a small bench splits a few hundred articles, not all twenty thousand (3–4 s).
    counts: list[int | None] = [None] * len(articles)
    batches: list[tuple[str, list[tuple[Article, str]]]] = []
    total = 0
    repetition = 0
    while total < target:
        chosen = []
        for i, article in enumerate(articles):
            if total >= target:
                break
            if (count := counts[i]) is None:
                count = counts[i] = len(text.split_sentences(article.text))
            chosen.append((article, f"rep{repetition}:{article.external_id}"))
            total += count
        batches.append((f"bench:{repetition}", chosen))
        repetition += 1
    return Plan(batches, total)


def make_questions(articles: list[Article], count: int, seed: int = 7) -> list[str]:
    """Half headlines, half 3–8 content words taken from real sentences, deterministic."""
    rng = random.Random(seed)
    questions: list[str] = []
    titled = [a for a in articles if a.title]
    while len(questions) < count:
        article = rng.choice(titled)
        if len(questions) % 2 == 0 and article.title:
            questions.append(article.title)
            continue
        sentences = text.split_sentences(article.text)
        if not sentences:
            continue
        words = [w for w in rng.choice(sentences).text.split() if text.tokenize(w)]
        if len(words) < 3:
            continue
        size = rng.randint(3, min(8, len(words)))
        start = rng.randrange(0, len(words) - size + 1)
        questions.append(" ".join(words[start : start + size]))
    return questions


async def build(db: Path, plan: Plan, progress: bool) -> float:

    started = time.perf_counter()
    library = await Library.open(db)
    try:
        for scope, batch in plan.batches:
            bar = ProgressBar(f"building {scope}", unit="article") if progress else None
            await library.add_articles(
                batch, scope, progress=bar, stored_sentences=bar.sentences if bar else None, compact=False
            )
        await library.save_snapshot()  # compacts once, as a folder of files added up does
    finally:
        await library.close(save_snapshot=False)
    return time.perf_counter() - started


async def cold_start(db: Path, questions: list[str], scopes: list[str]) -> dict[str, float]:
    """A fresh interpreter: open the store, answer once. Also the memory the open index holds then (``rss_mb``)
    and after answering all the questions, split into anonymous and file-backed (mapped snapshot) pages; and the
    questions' latency there, as in a bot's process (the bench's own built the store): the first round, and per
    question the fastest of STEADY_ROUNDS (other processes on the machine only add time)."""
    code = (
        "import asyncio, json, sys, time\n"
        "from bot.tools.bench import rss_mb, rss_parts_mb\n"
        "from bot.core.library import Library\n"
        "import bot.core.text, numpy\n"
        "async def main():\n"
        "    questions, scopes = json.loads(sys.argv[2]), json.loads(sys.argv[3])\n"
        "    before = rss_mb(); anon, mapped = rss_parts_mb(); started = time.perf_counter()\n"
        "    library = await Library.open(__import__('pathlib').Path(sys.argv[1]))\n"
        "    await library.ask(questions[0], scopes)\n"
        "    elapsed = time.perf_counter() - started; after = rss_mb()\n"
        "    rounds = []\n"
        "    for _ in range(int(sys.argv[4])):\n"
        "        times = []\n"
        "        for question in questions:\n"
        "            started = time.perf_counter(); await library.ask(question, scopes)\n"
        "            times.append((time.perf_counter() - started) * 1000)\n"
        "        rounds.append(times)\n"
        "        if len(rounds) == 1: anon_after, mapped_after = rss_parts_mb()\n"
        "    await library.close(save_snapshot=False)\n"
        "    print(json.dumps({'cold_start_s': elapsed, 'rss_mb': after - before,\n"
        "        'rss_all_questions_mb': anon_after + mapped_after - anon - mapped,\n"
        "        'rss_anon_mb': anon_after - anon, 'rss_file_mb': mapped_after - mapped, 'rounds': rounds}))\n"
        "asyncio.run(main())\n"
    )
    command = [sys.executable, "-c", code, str(db), json.dumps(questions), json.dumps(scopes), str(STEADY_ROUNDS)]
    status, stdout, stderr = await run_child(*command)
    if status != 0:
        raise subprocess.CalledProcessError(status, command[:2], stdout, stderr)
    result: dict[str, Any] = json.loads(stdout.decode().strip().splitlines()[-1])
    rounds = np.array(result.pop("rounds"))
    fastest = rounds.min(axis=0)
    result |= {
        "p50_fresh_ms": float(np.percentile(rounds[0], 50)),
        "p95_fresh_ms": float(np.percentile(rounds[0], 95)),
        "p50_steady_ms": float(np.percentile(fastest, 50)),
        "p95_steady_ms": float(np.percentile(fastest, 95)),
    }
    return result


async def measure_citebot(
    db: str | Path, questions: list[str], scopes: list[str], extra: list[Article]
) -> tuple[dict[str, float], list[tuple[list[int], np.ndarray]], dict[str, int], int]:
    """Question latency, the top 10 of the sentence index, then adding ``extra`` one by one. Also the vocabulary,
    and how many sentences were indexed before the adds."""
    library = await Library.open(db)
    try:
        indexed = library.sentences.live_count
        latencies, reading = [], []
        for question in questions:
            started = time.perf_counter()
            before = library.reader_seconds
            await library.ask(question, scopes)
            latencies.append((time.perf_counter() - started) * 1000)
            reading.append((library.reader_seconds - before) * 1000)
        vocabulary = {term: i for i, term in await library.store.vocabulary()}
        tops = []
        for question in questions:
            ids = [vocabulary[t] for t in text.tokenize(question) if t in vocabulary]
            keys, scores = library.sentences.top(ids, 10)
            tops.append((keys.tolist(), scores))
        # Adding one article: the index work (its sentences and the article into the in-memory index).
        add_ms, add_total_ms = [], []
        for i, article in enumerate(extra):
            started = time.perf_counter()
            before = library.index_seconds
            await library.add_articles([(article, f"extra-{i}")], "bench:extra")
            add_total_ms.append((time.perf_counter() - started) * 1000)
            add_ms.append((library.index_seconds - before) * 1000)
            await library.ask(questions[i % len(questions)], scopes)  # the next question pays any lazy upkeep
        metrics = {
            "p50_ms": percentile(latencies, 50),
            "p95_ms": percentile(latencies, 95),
            "reader_p50_ms": percentile(reading, 50),
            "reader_p95_ms": percentile(reading, 95),
            "add_ms": percentile(add_ms, 50),
            "add_total_ms": percentile(add_total_ms, 50),
        }
        return metrics, tops, vocabulary, indexed
    finally:
        await library.close(save_snapshot=False)


async def measure_under_load(db: Path, questions: list[str], scopes: list[str]) -> dict[str, object]:
    """Question latency while 50 articles are added one by one, 8 members asking at once (last: it writes)."""
    library = await Library.open(db)
    try:
        articles = synthetic_articles(50, seed=1, start=10**6)
        return await latency_under_load(
            library, questions[:100], articles, scope="bench:load", ask_scopes=[*scopes, "bench:load"], concurrency=8
        )
    finally:
        await library.close(save_snapshot=False)


async def reference_corpus(db: Path, sentences: int) -> tuple[list[int], list[list[str]]]:
    """The first ``sentences`` stored sentences (the bench corpus: sentences added later have higher ids), as
    rank-bm25 takes them: one list of term strings each."""
    library = await Library.open(db)
    try:
        keys: list[int] = []
        docs: list[list[str]] = []
        async with library.store.read_transaction() as view:
            rows = [row async for batch in library.store.index_rows(view) for row in batch][:sentences]
            for sentence_id, _, blob in rows:
                keys.append(sentence_id)
                docs.append([str(t) for t in np.frombuffer(blob, dtype="<u4").tolist()])
        return keys, docs
    finally:
        await library.close(save_snapshot=False)


def measure_reference(
    keys: list[int],
    docs: list[list[str]],
    questions: list[str],
    vocabulary: dict[str, int],
    extra_docs: list[list[str]],
) -> tuple[dict[str, float], list[tuple[list[int], np.ndarray]]]:
    from rank_bm25 import BM25Plus

    gc.collect()
    before = rss_mb()
    started = time.perf_counter()
    bm25 = AnswerParams().sentence_bm25  # the parameters citebot's sentence index uses
    model = BM25Plus(docs, k1=bm25.k1, b=bm25.b, delta=bm25.delta)
    build_s = time.perf_counter() - started
    memory = rss_mb() - before
    latencies, tops = [], []
    key_array = np.asarray(keys)
    for question in questions:
        query = [str(vocabulary[t]) if t in vocabulary else f"?{t}" for t in text.tokenize(question)]
        started = time.perf_counter()
        scores = model.get_scores(query)
        order = np.argsort(-scores, kind="stable")[:10]
        latencies.append((time.perf_counter() - started) * 1000)
        tops.append((key_array[order].tolist(), scores[order]))
    del model
    gc.collect()
    started = time.perf_counter()
    BM25Plus(docs + extra_docs, k1=bm25.k1, b=bm25.b, delta=bm25.delta)  # no incremental add: a rebuild
    add_ms = (time.perf_counter() - started) * 1000
    return {
        "build_s": build_s,
        "p50_ms": percentile(latencies, 50),
        "p95_ms": percentile(latencies, 95),
        "add_ms": add_ms,
        "rss_mb": memory,
    }, tops


def same_top10(ours: tuple[list[int], np.ndarray], reference: tuple[list[int], np.ndarray]) -> bool:
    """Identical top 10, ties aside: same scores in order, and the same ids wherever scores are not tied."""
    (our_keys, our_scores), (ref_keys, ref_scores) = ours, reference
    # rank-bm25 also ranks documents without any query term (all at the same baseline); we list only
    # documents holding a term, so compare over the documents we return.
    n = len(our_keys)
    if n < 10 and len(ref_keys) > n and ref_scores[n] > ref_scores[-1] + 1e-9:
        return False
    if not np.allclose(our_scores[:n], ref_scores[:n]):
        return False
    for i in range(n):
        tied = np.isclose(ref_scores, ref_scores[i]).sum() > 1
        if not tied and our_keys[i] != ref_keys[i]:
            return False
    return True


async def run(
    target: int,
    n_questions: int,
    shared: Path,
    progress: bool,
    with_reference: bool = True,
    postgres: str | None = None,
) -> dict[str, object]:
    if progress:
        print(f"reading the news corpora in {shared / 'corpora'} …", file=sys.stderr, flush=True)
    articles = load_articles(shared)
    plan = plan_corpus(articles, target)
    questions = make_questions(articles, n_questions)
    extra = list(islice((a for a in articles if 25 <= len(text.split_sentences(a.text)) <= 35), 20))
    extra = [Article(text=a.text, title=a.title, source="bench extra") for a in extra]
    # That work never awaits, so a Ctrl-C during it (asyncio.run cancels this task) took effect only at the next
    # await: inside build's Library.open, whose SQLite thread then went on creating the store while the temporary
    # folder was being removed (a traceback, exit 1, the folder left in /tmp). Here, nothing exists yet.
    await asyncio.sleep(0)
    with tempfile.TemporaryDirectory(prefix="citebot-bench-") as tmp:
        db = Path(tmp) / "bench.db"
        build_s = await build(db, plan, progress)
        scopes = [scope for scope, _ in plan.batches]
        cold = await cold_start(db, questions, scopes)
        ours, our_tops, vocabulary, indexed = await measure_citebot(db, questions, scopes, extra)
        under_load = await measure_under_load(db, questions, scopes)
        on_postgres = None
        if postgres:  # the same store copied into PostgreSQL (which must be empty), measured the same way
            await migrate_store(str(db), postgres)
            on_postgres, _, _, _ = await measure_citebot(postgres, questions, scopes, extra)
        # Read last, so that citebot is measured in a process that does not hold rank-bm25's copy of the corpus
        # (a million Python lists: a bot's process never has them, and they slowed citebot's answers there).
        keys, docs = await reference_corpus(db, indexed) if with_reference else ([], [])
    extra_docs = [
        [str(vocabulary.get(t, -1)) for t in text.tokenize(s.text)]
        for a in extra[:1]
        for s in text.split_sentences(a.text)
    ]
    reference: dict[str, float] | None = None
    identical: bool | None = None
    if with_reference:
        reference, ref_tops = measure_reference(keys, docs, questions, vocabulary, extra_docs)
        identical = all(same_top10(o, r) for o, r in zip(our_tops, ref_tops, strict=True))
    return {
        "sentences": indexed,
        "citebot": {
            "build_s": build_s,
            "ingest_sentences_per_s": indexed / build_s,
            "cold_start_s": cold["cold_start_s"],
            "p50_ms": ours["p50_ms"],
            "p95_ms": ours["p95_ms"],
            "p50_fresh_ms": cold["p50_fresh_ms"],
            "p95_fresh_ms": cold["p95_fresh_ms"],
            "p50_steady_ms": cold["p50_steady_ms"],
            "p95_steady_ms": cold["p95_steady_ms"],
            "reader_p50_ms": ours["reader_p50_ms"],
            "reader_p95_ms": ours["reader_p95_ms"],
            "add_ms": ours["add_ms"],
            "rss_mb": cold["rss_mb"],
            "rss_all_questions_mb": cold["rss_all_questions_mb"],
            "rss_anon_mb": cold["rss_anon_mb"],
            "rss_file_mb": cold["rss_file_mb"],
        },
        "rank_bm25": reference,
        "top10_identical": identical,
        "_add_total_ms": ours["add_total_ms"],
        "_under_load": under_load,
        "_questions": len(questions),
        "postgresql": on_postgres,
    }


def print_table(result: dict[str, object]) -> None:
    ours: dict[str, float] = result["citebot"]  # type: ignore[assignment]
    ref: dict[str, float] = result["rank_bm25"] or {}  # type: ignore[assignment]
    print(f"{result['sentences']:,} sentences, {result['_questions']} questions")
    print(f"{'':22}{'citebot':>12}{'rank-bm25':>12}{'ratio':>10}")
    rows = [
        ("build (s)", "build_s"),
        ("question p50 (ms)", "p50_ms"),
        ("question p95 (ms)", "p95_ms"),
        ("add one article (ms)", "add_ms"),
        ("index memory (MB)", "rss_mb"),
    ]
    for label, key in rows:
        ratio = ours[key] / ref[key] if ref.get(key) else float("nan")
        print(f"{label:22}{ours[key]:>12.2f}{ref.get(key, float('nan')):>12.2f}{ratio:>9.3f}x")
    print(f"{'cold start (s)':22}{ours['cold_start_s']:>12.2f}{'-':>12}")
    print(
        f"questions in a fresh process (ms): p50 {ours['p50_fresh_ms']:.2f}, p95 {ours['p95_fresh_ms']:.2f}; "
        f"fastest of {STEADY_ROUNDS} rounds each: p50 {ours['p50_steady_ms']:.2f}, p95 {ours['p95_steady_ms']:.2f}"
    )
    print(f"of a question, the reader stage (ms): p50 {ours['reader_p50_ms']:.2f}, p95 {ours['reader_p95_ms']:.2f}")
    print(
        f"index memory after all {result['_questions']} questions: {ours['rss_all_questions_mb']:.1f} MB "
        f"({ours['rss_anon_mb']:.1f} MB anonymous, {ours['rss_file_mb']:.1f} MB mapped from the snapshot file)"
    )
    print(f"bulk ingest: {ours['ingest_sentences_per_s']:,.0f} sentences/s (split, clean, tokenise, store, index)")
    print(f"add one article, whole write (ms): {result['_add_total_ms']:.1f}")
    identical = result["top10_identical"]
    print(f"top 10 identical to rank-bm25 for every question: {'not checked' if identical is None else identical}")
    postgres: dict[str, float] | None = result.get("postgresql")  # type: ignore[assignment]
    if postgres:
        print(
            f"on PostgreSQL: question p50 {postgres['p50_ms']:.1f} ms, p95 {postgres['p95_ms']:.1f} ms; "
            f"add one article, whole write {postgres['add_total_ms']:.1f} ms "
            f"(SQLite: {ours['p50_ms']:.1f}, {ours['p95_ms']:.1f}, {result['_add_total_ms']:.1f})"
        )
    load: dict[str, float] = result["_under_load"]  # type: ignore[assignment]
    print(
        f"under load (50 articles added while {load['concurrency']} members ask; {load['asks']} questions): "
        f"p50 {load['p50_ms']:.1f} ms, p95 {load['p95_ms']:.1f} ms, max {load['max_ms']:.1f} ms "
        f"(idle p50 {load['idle_p50_ms']:.1f}, p95 {load['idle_p95_ms']:.1f}); adds p50 {load['add_p50_ms']:.1f} ms; "
        f"errors {load['errors']}"
    )


async def cmd_loop_lag(db: str | Path, articles: int, as_json: bool) -> int:
    """`citebot bench --loop-lag`: on an existing store (--db), how long the event loop stalls during index work."""
    library = await Library.open(db)
    try:
        figures = await loop_lag_during_index_work(library, articles)
    finally:
        await library.close(save_snapshot=False)
    if as_json:
        print(json.dumps(figures))
        return 0
    print(f"index of {figures['sentences_before']:,} sentences ({figures['sentences_after']:,} after the add)")
    for name in ("compaction", "add", "snapshot"):
        what = {"compaction": "compact the whole index", "add": f"add a {articles:,}-article file"}.get(name, name)
        print(f"  {what:28} {figures[name]['seconds']:7.2f} s   worst loop lag {figures[name]['worst_lag_ms']:6.1f} ms")
    return 0


async def cmd_bench(args: argparse.Namespace, settings: Settings) -> int:
    if args.loop_lag:
        return await cmd_loop_lag(settings.db, args.loop_lag_articles, args.json)
    shared = find_shared(args.shared)
    # rank-bm25 keeps every document as a Python list and dict: about 5 GB at 3M sentences.
    with_reference = args.reference if args.reference is not None else args.sentences <= REFERENCE_UP_TO
    result = await run(
        args.sentences,
        args.questions,
        shared,
        progress=not args.json,
        with_reference=with_reference,
        postgres=args.store,
    )
    if args.json:
        print(json.dumps({k: v for k, v in result.items() if not k.startswith("_")}))
    else:
        print_table(result)
    return 1 if result["top10_identical"] is False else 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "bench",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    # At least one of each: 0 sentences ended in rank-bm25's ZeroDivisionError, 0 questions waited for ever.
    p.add_argument("--sentences", type=whole_number(1), default=1_000_000, help="corpus size (default 1,000,000)")
    p.add_argument("--questions", type=whole_number(1), default=200, help="how many questions (default 200)")
    p.add_argument("--shared", type=Path, help="the shared data folder (default ../shared)")
    p.add_argument(
        "--reference",
        action=argparse.BooleanOptionalAction,
        help=f"measure rank-bm25 beside citebot (default: up to {REFERENCE_UP_TO:,} sentences)",
    )
    p.add_argument("--json", action="store_true", help="print one JSON object")
    p.add_argument(
        "--store",
        metavar="URL",
        help="also measure questions and adds on this empty PostgreSQL database (postgresql://…)",
    )
    p.add_argument(
        "--loop-lag",
        action="store_true",
        help="instead: on the existing store of --db, the event loop's worst lag while a file of synthetic articles"
        " is added (to scope bench:lag), the index compacted and a snapshot saved",
    )
    p.add_argument(
        "--loop-lag-articles",
        type=whole_number(1),
        default=5_000,
        metavar="N",
        help="articles in that file (default 5,000)",
    )
    p.set_defaults(handler=cmd_bench)
