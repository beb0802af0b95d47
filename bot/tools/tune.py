"""`citebot tune DATASET`: choose ranking settings by k-fold cross-validation, and calibrate abstention.

Ranking settings act at question time, so the corpus is ingested once and every setting in the grid is run
over every query through Library.ask. For each fold, the setting that is best on the other folds is scored
on the held-out fold; the mean of those held-out figures is what to expect on new questions.

Abstention: the same queries are asked against an unrelated corpus (``--unrelated``, e.g. BBC news); the
threshold is the one that abstains on at most ``--max-abstain`` of the dataset's own queries.
"""

from __future__ import annotations

import argparse
import dataclasses
import itertools
import json
import random
import sys
import tempfile
from collections.abc import Sequence
from pathlib import Path

from bot.config import Settings
from bot.core.answer import AnswerParams
from bot.core.index import BM25Params
from bot.core.library import Library
from bot.tools.evaluate import Query, build_library, load_queries, run_queries, score_runs

ARTICLE_GRID = [BM25Params(k1, b) for k1, b in itertools.product((0.9, 1.2, 1.5, 2.0), (0.5, 0.75, 0.9))]
SENTENCE_GRID = [BM25Params(k1, b) for k1, b in itertools.product((0.6, 0.9, 1.2, 1.5), (0.3, 0.5, 0.75))]
FUSION_GRID = list(itertools.product((0.5, 1.0, 2.0, 3.0), (0.0, 0.5, 1.0)))  # (article_weight, coverage_weight)


def folds(n: int, k: int, seed: int = 13) -> list[list[int]]:
    order = list(range(n))
    random.Random(seed).shuffle(order)
    return [order[i::k] for i in range(k)]


def _subset(runs: dict[str, object], ids: Sequence[int]) -> tuple[list[Query], list[object], list[float]]:
    queries, answers, latencies = runs["queries"], runs["answers"], runs["latencies"]  # type: ignore[index]
    return [queries[i] for i in ids], [answers[i] for i in ids], [latencies[i] for i in ids]  # type: ignore[index]


def cross_validate(results: dict[str, dict[str, object]], metric: str, k: int) -> tuple[list[dict[str, object]], str]:
    """Per fold: pick the best setting on the other folds, report it on the held-out fold."""
    n = len(next(iter(results.values()))["queries"])  # type: ignore[arg-type]
    parts = folds(n, k)
    report = []
    for i, held_out in enumerate(parts):
        train = [j for p, part in enumerate(parts) if p != i for j in part]
        best = max(results, key=lambda name: score_runs(*_subset(results[name], train))[metric])  # type: ignore[arg-type]
        held = score_runs(*_subset(results[best], held_out))  # type: ignore[arg-type]
        report.append(
            {"fold": i, "chosen": best, metric: held[metric], "ndcg@10": held["ndcg@10"], "hit@3": held["hit@3"]}
        )
    overall = max(results, key=lambda name: score_runs(*_subset(results[name], range(n)))[metric])  # type: ignore[arg-type]
    return report, overall


async def sweep(
    library: Library, queries: list[Query], settings: dict[str, AnswerParams]
) -> dict[str, dict[str, object]]:
    results = {}
    for name, params in settings.items():
        library.params = params
        answers, latencies = await run_queries(library, queries, progress=False)
        results[name] = {"queries": queries, "answers": answers, "latencies": latencies}
        metrics = score_runs(queries, answers, latencies)
        print(f"  {name:60} ndcg@10 {metrics['ndcg@10']:.3f}  hit@3 {metrics['hit@3']:.3f}", file=sys.stderr)
    return results


def describe(params: AnswerParams) -> str:
    s, a = params.sentence_bm25, params.article_bm25
    return f"art k1={a.k1} b={a.b} | sent k1={s.k1} b={s.b} | aw={params.article_weight} cw={params.coverage_weight}"


async def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    queries = load_queries(args.dataset / "queries.jsonl")[: args.limit or None]
    base = dataclasses.replace(AnswerParams(), min_coverage=0.0, short_min_coverage=0.0)  # abstention comes after
    with tempfile.TemporaryDirectory(prefix="citebot-tune-") as tmp:
        library = await build_library(args.dataset / "corpus.jsonl", Path(tmp) / "tune.db", quiet=False)
        try:
            print("articles (nDCG@10):", file=sys.stderr)
            article_settings = {
                describe(p): p for p in (dataclasses.replace(base, article_bm25=g) for g in ARTICLE_GRID)
            }
            article_results = await sweep(library, queries, article_settings)
            article_folds, best_article = cross_validate(article_results, "ndcg@10", args.folds)
            chosen = article_settings[best_article]

            print("sentences (Hit@3):", file=sys.stderr)
            sentence_settings = {
                describe(p): p for p in (dataclasses.replace(chosen, sentence_bm25=g) for g in SENTENCE_GRID)
            }
            results = await sweep(library, queries, sentence_settings)
            _, best_sentence = cross_validate(results, "hit@3", args.folds)
            chosen = sentence_settings[best_sentence]
            fusion_settings = {
                describe(p): p
                for p in (dataclasses.replace(chosen, article_weight=a, coverage_weight=c) for a, c in FUSION_GRID)
            }
            results.update(await sweep(library, queries, fusion_settings))
            evidence_folds, best = cross_validate(results, "hit@3", args.folds)
            chosen = {**sentence_settings, **fusion_settings}[best]

            library.params = chosen
            own_answers, _ = await run_queries(library, queries, progress=False)
        finally:
            await library.close(save_snapshot=False)
        own = sorted(a.confidence for a in own_answers)
        unrelated: list[float] = []
        if args.unrelated:
            other = await build_library(args.unrelated, Path(tmp) / "unrelated.db", quiet=False)
            try:
                other.params = chosen
                other_answers, _ = await run_queries(other, queries, progress=False)
                unrelated = sorted(a.confidence for a in other_answers)
            finally:
                await other.close(save_snapshot=False)
    threshold = own[int(args.max_abstain * len(own))] if own else 0.0
    result = {
        "chosen": describe(chosen),
        "article_folds": article_folds,
        "evidence_folds": evidence_folds,
        "held_out_ndcg@10": sum(f["ndcg@10"] for f in article_folds) / len(article_folds),  # type: ignore[misc]
        "held_out_hit@3": sum(f["hit@3"] for f in evidence_folds) / len(evidence_folds),  # type: ignore[misc]
        "min_coverage": round(threshold, 4),
        "own_abstain_rate": sum(c < threshold for c in own) / len(own),
        "unrelated_abstain_rate": sum(c < threshold for c in unrelated) / len(unrelated) if unrelated else None,
    }
    print(json.dumps(result, indent=2))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tune",
        help="choose ranking settings by k-fold cross-validation",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("dataset", type=Path, help="a folder with corpus.jsonl and queries.jsonl")
    p.add_argument("--folds", type=int, default=5)
    p.add_argument("--limit", type=int, default=0, help="only the first N queries")
    p.add_argument("--unrelated", type=Path, help="a corpus the queries are NOT about, to calibrate abstention")
    p.add_argument("--max-abstain", type=float, default=0.08, help="abstain on at most this share of own queries")
    p.set_defaults(handler=cmd_tune)
