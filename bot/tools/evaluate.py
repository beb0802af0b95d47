"""`citebot eval DATASET`: answer quality on a folder of corpus.jsonl + queries.jsonl (format: ../shared/README.md).

Every query goes through Library.ask, the same path as `citebot ask`; nothing here ranks on its own.
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

from bot.config import Settings
from bot.core.library import SHARED_SCOPE, Library
from bot.core.models import Answer

_WORD = re.compile(r"[a-z0-9]+")
HIT_F1 = 0.8
METRIC_KEYS = (
    "ndcg@10",
    "recall@100",
    "hit@1",
    "hit@3",
    "hit@5",
    "hit@10",
    "mrr@10",
    "abstain_rate",
    "abstain_answerable",
    "abstain_unanswerable",
    "hedged_answerable",
    "hedged_unanswerable",
    "hit@1_sure",
    "p50_ms",
    "p95_ms",
    "n_queries",
    "n_evidence",
)


@dataclass(frozen=True, slots=True)
class Query:
    id: str
    query: str
    gold_doc_ids: tuple[str, ...]
    gold_sentences: tuple[str, ...]


def dataset_files(dataset: Path) -> tuple[Path, Path]:
    """(corpus, queries) of a dataset folder: ``corpus.jsonl``, or a ``corpus`` folder or link, and ``queries.jsonl``."""
    queries = dataset / "queries.jsonl"
    corpus = next((c for c in (dataset / "corpus.jsonl", dataset / "corpus") if c.exists()), dataset / "corpus.jsonl")
    for needed in (corpus, queries):
        if not needed.exists():
            raise FileNotFoundError(
                f"{needed} not found: DATASET must be a folder with corpus.jsonl (or corpus/) and queries.jsonl"
            )
    return corpus, queries


def load_queries(path: Path) -> list[Query]:
    queries = []
    with path.open(encoding="utf-8") as f:
        for line in f:
            if line.strip():
                row = json.loads(line)
                queries.append(
                    Query(
                        str(row["id"]),
                        row["query"],
                        tuple(map(str, row.get("gold_doc_ids") or ())),
                        tuple(row.get("gold_sentences") or ()),
                    )
                )
    return queries


def token_f1(a: str, b: str) -> float:
    """Token-level F1 over lowercase runs of letters and digits (the shared README's definition)."""
    x, y = Counter(_WORD.findall(a.lower())), Counter(_WORD.findall(b.lower()))
    common = sum((x & y).values())
    if common == 0:
        return 0.0
    precision, recall = common / sum(x.values()), common / sum(y.values())
    return 2 * precision * recall / (precision + recall)


def ndcg_at_10(ranked: Sequence[str], gold: set[str]) -> float:
    dcg = sum(1 / math.log2(i + 2) for i, doc in enumerate(ranked[:10]) if doc in gold)
    ideal = sum(1 / math.log2(i + 2) for i in range(min(len(gold), 10)))
    return dcg / ideal if ideal else 0.0


def percentile(values: Sequence[float], p: float) -> float:
    if not values:
        return 0.0
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, max(0, math.ceil(p / 100 * len(ordered)) - 1))]


def _share(flags: Sequence[bool]) -> float:
    return sum(flags) / len(flags) if flags else 0.0


def score_runs(queries: Sequence[Query], answers: Sequence[Answer], latencies_ms: Sequence[float]) -> dict[str, float]:
    ndcg, recall, first_hits, abstained = [], [], [], 0
    answerable: list[bool] = []
    unanswerable: list[bool] = []
    hedged: dict[bool, list[bool]] = {True: [], False: []}  # by answerable: of the questions quoted, hedged
    sure_hits: list[bool] = []  # of the evidence questions quoted without a hedge, the first quote answers
    for query, answer in zip(queries, answers, strict=True):
        abstained += answer.abstained
        has_answer = bool(query.gold_sentences or query.gold_doc_ids)
        (answerable if has_answer else unanswerable).append(answer.abstained)
        if not answer.abstained:
            hedged[has_answer].append(answer.hedged)
        ranked = [c.external_id or str(c.article_id) for c in answer.ranked_articles]
        gold = set(query.gold_doc_ids)
        if gold:
            ndcg.append(ndcg_at_10(ranked, gold))
            recall.append(len(gold & set(ranked[:100])) / len(gold))
        if query.gold_sentences:
            rank = next(
                (
                    i
                    for i, quote in enumerate(answer.quotes[:10])
                    if any(token_f1(quote.text, g) >= HIT_F1 for g in query.gold_sentences)
                ),
                None,
            )
            first_hits.append(rank)
            if not answer.abstained and not answer.hedged:
                sure_hits.append(rank == 0)
    n_evidence = len(first_hits)

    def hit(k: int) -> float:
        return sum(r is not None and r < k for r in first_hits) / n_evidence if n_evidence else 0.0

    return {
        "ndcg@10": sum(ndcg) / len(ndcg) if ndcg else 0.0,
        "recall@100": sum(recall) / len(recall) if recall else 0.0,
        "hit@1": hit(1),
        "hit@3": hit(3),
        "hit@5": hit(5),
        "hit@10": hit(10),
        "mrr@10": sum(1 / (r + 1) for r in first_hits if r is not None) / n_evidence if n_evidence else 0.0,
        "abstain_rate": abstained / len(queries) if queries else 0.0,
        "abstain_answerable": _share(answerable),
        "abstain_unanswerable": _share(unanswerable),
        "hedged_answerable": _share(hedged[True]),
        "hedged_unanswerable": _share(hedged[False]),
        "hit@1_sure": _share(sure_hits),
        "p50_ms": percentile(latencies_ms, 50),
        "p95_ms": percentile(latencies_ms, 95),
        "n_queries": len(queries),
        "n_evidence": n_evidence,
    }


async def build_library(corpus: Path, db: Path, quiet: bool, model: Path | None = None) -> Library:
    from bot.console import ProgressBar

    library = await Library.open(db, model=model)
    report = await library.add_paths([corpus], SHARED_SCOPE, progress=None if quiet else ProgressBar("ingesting"))
    if report.rejected and not quiet:
        print(f"{len(report.rejected)} corpus items rejected, e.g. {report.rejected[0]}", file=sys.stderr)
    return library


async def run_queries(
    library: Library, queries: Sequence[Query], *, progress: bool = True
) -> tuple[list[Answer], list[float]]:
    from bot.console import ProgressBar

    bar = ProgressBar("asking") if progress else None
    answers, latencies = [], []
    for i, query in enumerate(queries, 1):
        started = time.perf_counter()
        answers.append(await library.ask(query.query, [SHARED_SCOPE], quotes=10, articles=100))
        latencies.append((time.perf_counter() - started) * 1000)
        if bar:
            bar(i, len(queries))
    return answers, latencies


def write_runs(path: Path, queries: Sequence[Query], answers: Sequence[Answer]) -> None:
    with path.open("w", encoding="utf-8") as f:
        for query, answer in zip(queries, answers, strict=True):
            row = {
                "id": query.id,
                "abstained": answer.abstained,
                "hedged": answer.hedged,
                "confidence": round(answer.confidence, 4),
                "articles": [c.external_id or str(c.article_id) for c in answer.ranked_articles[:100]],
                "quotes": [
                    {
                        "text": q.text,
                        **({"context": q.context} if q.context else {}),
                        "article_id": q.citations[0].external_id or str(q.citations[0].article_id),
                    }
                    for q in answer.quotes[:10]
                ],
            }
            f.write(json.dumps(row, ensure_ascii=False) + "\n")


def print_table(metrics: dict[str, float], title: str) -> None:
    print(title)
    for key in METRIC_KEYS:
        value = metrics[key]
        shown = f"{value:.0f}" if key.startswith("n_") else f"{value:.1f}" if key.endswith("_ms") else f"{value:.3f}"
        print(f"  {key:<20} {shown:>8}")


async def cmd_eval(args: argparse.Namespace, settings: Settings) -> int:
    dataset: Path = args.dataset
    try:
        corpus, queries_path = dataset_files(dataset)
    except FileNotFoundError as error:
        if not (args.against and (dataset / "queries.jsonl").exists()):
            print(error, file=sys.stderr)
            return 2
        queries_path = dataset / "queries.jsonl"
    corpus = args.against or corpus
    queries = load_queries(queries_path)[: args.limit or None]
    with tempfile.TemporaryDirectory(prefix="citebot-eval-") as tmp:
        library = await build_library(corpus, Path(tmp) / "eval.db", args.json, settings.model)
        try:
            answers, latencies = await run_queries(library, queries, progress=not args.json)
        finally:
            await library.close(save_snapshot=False)
    metrics = score_runs(queries, answers, latencies)
    if args.runs:
        write_runs(args.runs, queries, answers)
    if args.json:
        print(json.dumps(metrics))
    else:
        print_table(metrics, f"{dataset.name}: {len(queries)} queries against {corpus}")
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "eval",
        description="Ingest DATASET/corpus.jsonl into a temporary store, ask every query as `citebot ask` does, "
        "and report article ranking (nDCG@10, Recall@100) and evidence (Hit@k, MRR@10) figures.",
    )
    p.add_argument("dataset", type=Path, help="e.g. ../shared/eval/scifact-train")
    p.add_argument("--json", action="store_true", help="print one JSON object with the metrics")
    p.add_argument("--limit", type=int, default=0, help="only the first N queries (default 0: all of them)")
    p.add_argument("--runs", type=Path, help="also write one JSON line per query (articles and quotes)")
    p.add_argument(
        "--against",
        type=Path,
        help="ingest this corpus instead (a .jsonl file or folder), e.g. to measure abstention on unrelated news",
    )
    p.set_defaults(handler=cmd_eval)
