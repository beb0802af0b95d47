"""`citebot tune DATASET [DATASET ...]`: learn the reader's weights, cross-validated across datasets.

Every question goes through ``Library.read`` (the retrieval and fetching ``citebot ask`` does) and
``reader.features``; the candidates that match a gold sentence (token F1 ≥ 0.8) are the positives.

* Sentence weights: a linear scorer per answer family (count, date, name, reason, yes/no, other: shared
  weights plus a small family part), trained as a softmax over each question's candidates (the likelihood that
  the first quote is one that answers), each dataset weighing the same whatever its size.
* Confidence: a logistic model over question-level features. Positives are answerable questions asked of
  their own corpus. Negatives are the unanswerable questions and every dataset's questions asked of the
  *other* datasets' corpora. One threshold: the one that abstains on ``--max-abstain`` of the answerable questions.
* Near misses, measured: answerable questions asked of their own corpus with the articles that answer them
  removed ("withheld": the topic is still there, the answer is not). They are reported, not trained on:
  training on them moved abstention on the hand-written unanswerable questions the wrong way
  (docs/answer-quality-log.md).

Figures: leave-one-dataset-out (train on the others, score the one left out) and k-fold within the pool.
``--write`` saves the weights trained on everything, with this command line as their recipe. With CITEBOT_MODEL
set, the reader also weighs the language model's meaning (bot/core/semantic.py): those weights are
``reader-meaning.json``, and embedding the candidates takes about 20 minutes on two cores.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import random
import shlex
import sys
import tempfile
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
import numpy.typing as npt

from bot.config import Settings
from bot.console import whole_number
from bot.core import reader
from bot.core.answer import AnswerParams
from bot.core.library import SHARED_SCOPE, Library
from bot.tools.evaluate import HIT_F1, Query, build_library, dataset_files, load_queries, token_f1

FloatArray = npt.NDArray[np.float64]


@dataclass(slots=True)
class Example:
    """One question read against one corpus."""

    home: str  # the dataset the question comes from
    corpus: str  # the dataset whose corpus it was asked of
    query_id: str
    question: reader.Question
    candidates: reader.Candidates
    rows: FloatArray  # candidates × reader.FEATURES
    labels: npt.NDArray[np.bool_]  # the candidate answers (matches a gold sentence)
    answerable: bool  # asked of its own corpus and has gold sentences
    unknown_share: float
    missing_share: float
    withheld: bool = False  # asked of its own corpus after the articles that answer it were removed

    @property
    def kind(self) -> str:
        """answerable, unanswerable (in its own corpus), withheld or unrelated (asked of another corpus)."""
        if self.home != self.corpus:
            return "unrelated"
        return "withheld" if self.withheld else "answerable" if self.answerable else "unanswerable"


async def collect(library: Library, queries: Sequence[Query], home: str, corpus: str) -> list[Example]:
    params = AnswerParams()
    own_corpus = home == corpus
    examples = []
    for query in queries:
        if reader.is_small_talk(query.query) or not reader.question_terms(query.query):
            continue  # never reaches the reader
        reading = await library.read(query.query, [SHARED_SCOPE], params)
        rows = reader.features(reading.question, reading.candidates).rows
        labels = np.array(
            [
                own_corpus and any(token_f1(text, gold) >= HIT_F1 for gold in query.gold_sentences)
                for text in reading.candidates.texts
            ],
            dtype=bool,
        )
        answerable = own_corpus and bool(query.gold_sentences)
        examples.append(
            Example(
                home,
                corpus,
                query.id,
                reading.question,
                reading.candidates,
                rows,
                labels,
                answerable,
                reading.unknown_share,
                reading.missing_share,
            )
        )
    return examples


WITHHELD_SHARE = 0.15  # at most this share of a corpus is removed to ask questions without their answer


async def collect_withheld(library: Library, queries: Sequence[Query], home: str, limit: int) -> list[Example]:
    """Answerable questions asked after the articles that answer them are removed from the library.

    The nearest thing to a member's unanswerable question: same style, same topic, other articles still hold
    some of its words. A question whose answer survives elsewhere (a duplicate article) is left out.
    """
    articles = [a async for batch in library.store.iter_articles([SHARED_SCOPE]) for a in batch]
    internal = {a.external_id: a.id for a in articles if a.external_id}
    budget = int(len(articles) * WITHHELD_SHARE)
    chosen: list[Query] = []
    removing: set[int] = set()
    for query in random.Random(11).sample(list(queries), len(queries)):
        ids = {internal[d] for d in query.gold_doc_ids if d in internal}
        if not query.gold_sentences or not ids or len(chosen) >= limit:
            continue
        if len(removing | ids) <= budget:
            chosen.append(query)
            removing |= ids
    for article_id in sorted(removing):
        await library.remove(article_id, [SHARED_SCOPE])
    examples = await collect(library, chosen, home, home)
    for example in examples:
        example.withheld, example.answerable = True, False
    return [e for e in examples if not e.labels.any()]


# -- the sentence scorer: softmax over each question's candidates ------------------------------------------


def _standardise(rows: FloatArray) -> tuple[FloatArray, FloatArray]:
    mean = rows.mean(axis=0)
    scale = rows.std(axis=0)
    scale[scale < 1e-9] = 1.0
    return mean, scale


def _dataset_weights(examples: Sequence[Example]) -> FloatArray:
    counts: dict[str, int] = {}
    for e in examples:
        counts[e.home] = counts.get(e.home, 0) + 1
    return np.array([1.0 / counts[e.home] for e in examples]) / len(counts)


def fit_sentence_weights(
    examples: Sequence[Example], l2: float = 1e-3, family_l2: float = 0.1, steps: int = 400
) -> tuple[dict[str, FloatArray], FloatArray, FloatArray]:
    """(weights per answer family, mean, scale) maximising the softmax likelihood of the answering candidates.

    Each family's weights are shared weights plus a family part under a stronger L2 penalty (``family_l2``):
    a family with few questions (yes/no, reason) stays near the shared weights. Adam, full batch.
    """
    families = reader.ANSWER_FAMILIES
    trainable = [e for e in examples if e.labels.any() and len(e.labels) > 1]
    # Grouped by family (stable), each family's rows are one block: a matrix product per block, no per-row weights.
    family_of_example = [families.index(reader.answer_family(e.question.answer_type)) for e in trainable]
    order = sorted(range(len(trainable)), key=family_of_example.__getitem__)
    trainable = [trainable[i] for i in order]
    rows = np.concatenate([e.rows for e in trainable])
    mean, scale = _standardise(rows)
    x = (rows - mean) / scale
    labels = np.concatenate([e.labels for e in trainable]).astype(np.float64)
    starts = np.cumsum([0] + [len(e.labels) for e in trainable[:-1]])
    sizes = np.array([len(e.labels) for e in trainable])
    group = np.repeat(np.arange(len(trainable)), sizes)
    example_weight = _dataset_weights(trainable)[group]
    family_rows = np.repeat(np.array([family_of_example[i] for i in order], dtype=np.intp), sizes)
    blocks = [
        slice(int(np.searchsorted(family_rows, f)), int(np.searchsorted(family_rows, f, side="right")))
        for f in range(len(families))
    ]
    # Parameters: row 0 the shared weights, row 1 + f family f's part.
    w = np.zeros((1 + len(families), x.shape[1]))
    penalty = np.full((len(w), 1), family_l2)
    penalty[0] = l2
    s = np.empty(len(x))
    m, v = np.zeros_like(w), np.zeros_like(w)
    for step in range(1, steps + 1):
        for f, block in enumerate(blocks):
            s[block] = x[block] @ (w[0] + w[1 + f])
        top = np.maximum.reduceat(s, starts)[group]
        e = np.exp(s - top)
        p = e / np.add.reduceat(e, starts)[group]
        pos = e * labels
        q = pos / np.add.reduceat(pos, starts)[group]
        coef = example_weight * (p - q)
        grad = penalty * w
        for f, block in enumerate(blocks):
            family_grad = coef[block] @ x[block]
            grad[0] += family_grad
            grad[1 + f] += family_grad
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return {name: w[0] + w[1 + f] for f, name in enumerate(families)}, mean, scale


def rank_of_first_hit(example: Example, weights: reader.ReaderWeights) -> int | None:
    if not example.labels.any():
        return None
    scores = reader.sentence_scores(example.rows, weights, example.question.answer_type)
    order = np.lexsort((np.arange(len(scores)), -scores))
    return int(np.flatnonzero(example.labels[order])[0])


# -- the confidence model: logistic regression over question-level features ---------------------------------


def _confidence_rows(examples: Sequence[Example], weights: reader.ReaderWeights) -> FloatArray:
    return np.array(
        [
            reader.confidence_row(
                e.question,
                e.candidates,
                e.rows,
                reader.sentence_scores(e.rows, weights, e.question.answer_type),
                e.unknown_share,
                e.missing_share,
            )
            for e in examples
        ]
    )


def fit_confidence(
    examples: Sequence[Example], weights: reader.ReaderWeights, l2: float = 1e-2, steps: int = 600
) -> tuple[FloatArray, FloatArray, FloatArray]:
    examples = [e for e in examples if not e.withheld]
    rows = _confidence_rows(examples, weights)
    mean, scale = _standardise(rows)
    mean[0], scale[0] = 0.0, 1.0  # the bias column stays 1
    x = (rows - mean) / scale
    y = np.array([e.answerable for e in examples], dtype=np.float64)
    # Each (dataset, kind) cell weighs the same: answerable and each kind of not, big datasets and small.
    cells: dict[tuple[str, str], int] = {}
    for e in examples:
        cells[(e.home, e.kind)] = cells.get((e.home, e.kind), 0) + 1
    sample = np.array([1.0 / cells[(e.home, e.kind)] for e in examples]) / len(cells)
    w = np.zeros(x.shape[1])
    m, v = np.zeros_like(w), np.zeros_like(w)
    for step in range(1, steps + 1):
        p = 1.0 / (1.0 + np.exp(-np.clip(x @ w, -40, 40)))
        grad = x.T @ (sample * (p - y)) + l2 * w
        m = 0.9 * m + 0.1 * grad
        v = 0.999 * v + 0.001 * grad**2
        w -= 0.05 * (m / (1 - 0.9**step)) / (np.sqrt(v / (1 - 0.999**step)) + 1e-8)
    return w, mean, scale


def train(examples: Sequence[Example], max_abstain: float, recipe: str = "") -> reader.ReaderWeights:
    fitted, mean, scale = fit_sentence_weights(examples)
    sentence = {family: tuple(w) for family, w in fitted.items()}
    partial = reader.ReaderWeights(sentence, (), 0.0, tuple(mean), tuple(scale))
    conf, conf_mean, conf_scale = fit_confidence(examples, partial)
    weights = reader.ReaderWeights(
        sentence, tuple(conf), 0.0, tuple(mean), tuple(scale), tuple(conf_mean), tuple(conf_scale), recipe
    )
    # One threshold: abstain on at most ``max_abstain`` of each dataset's answerable questions, on average.
    by_dataset: dict[str, list[float]] = {}
    for e in examples:
        if e.answerable:
            by_dataset.setdefault(e.home, []).append(_confidence(e, weights))
    candidates = sorted({c for cs in by_dataset.values() for c in cs})
    threshold = 0.0
    for c in candidates:
        rate = np.mean([np.mean(np.array(cs) < c) for cs in by_dataset.values()])
        if rate > max_abstain:
            break
        threshold = c
    return reader.ReaderWeights(
        sentence, tuple(conf), threshold, tuple(mean), tuple(scale), tuple(conf_mean), tuple(conf_scale), recipe
    )


def _confidence(example: Example, weights: reader.ReaderWeights) -> float:
    scores = reader.sentence_scores(example.rows, weights, example.question.answer_type)
    return reader.confidence(
        reader.confidence_row(
            example.question, example.candidates, example.rows, scores, example.unknown_share, example.missing_share
        ),
        weights,
    )


def measure(examples: Sequence[Example], weights: reader.ReaderWeights) -> dict[str, float]:
    """Hit@1/Hit@3 of the reader's order, and abstention by kind of input (candidate-level, before merging)."""
    ranks = [rank_of_first_hit(e, weights) for e in examples if e.answerable]
    answered = [_confidence(e, weights) >= weights.threshold for e in examples]
    by_kind: dict[str, list[bool]] = {}
    for a, e in zip(answered, examples, strict=True):
        by_kind.setdefault(e.kind, []).append(a)
    n = len(ranks) or 1
    return {
        "hit@1": sum(r is not None and r < 1 for r in ranks) / n,
        "hit@3": sum(r is not None and r < 3 for r in ranks) / n,
        "found": sum(r is not None for r in ranks) / n,
        **{
            f"abstain_{kind}": 1 - float(np.mean(by_kind[kind])) if by_kind.get(kind) else float("nan")
            for kind in ("answerable", "unanswerable", "withheld", "unrelated")
        },
        "n_answerable": len(by_kind.get("answerable", [])),
    }


def cross_validate(examples: Sequence[Example], max_abstain: float, folds: int) -> dict[str, dict[str, float]]:
    report: dict[str, dict[str, float]] = {}
    homes = sorted({e.home for e in examples})
    for held in homes if len(homes) > 1 else ():
        # Leave one dataset out: its questions, and its corpus as anyone's unrelated corpus.
        train_set = [e for e in examples if held not in (e.home, e.corpus)]
        test_set = [e for e in examples if e.home == held]
        report[f"without {held}"] = measure(test_set, train(train_set, max_abstain))
    order = list(range(len(examples)))
    random.Random(13).shuffle(order)
    parts = [set(order[i::folds]) for i in range(folds)]
    pooled: dict[str, list[dict[str, float]]] = {home: [] for home in homes}
    for part in parts:
        weights = train([e for i, e in enumerate(examples) if i not in part], max_abstain)
        for home in homes:
            test_set = [e for i, e in enumerate(examples) if i in part and e.home == home]
            pooled[home].append(measure(test_set, weights) | {"weight": len(test_set)})
    for home, results in pooled.items():
        report[f"{folds}-fold {home}"] = {
            k: _pooled([(r[k], r["weight"]) for r in results if r[k] == r[k]]) for k in results[0] if k != "weight"
        }
    return report


def _pooled(figures: Sequence[tuple[float, float]]) -> float:
    """The weighted mean of (figure, weight) pairs; NaN when there are none (nothing of that kind was asked)."""
    total = sum(w for _, w in figures)
    return sum(f * w for f, w in figures) / total if total else float("nan")


async def gather(
    datasets: Sequence[Path], limit: int, unrelated_limit: int, tmp: Path, model: Path | None = None
) -> list[Example]:
    libraries: dict[str, Library] = {}
    queries: dict[str, list[Query]] = {}
    examples: list[Example] = []
    try:
        for i, dataset in enumerate(datasets):
            corpus, queries_path = dataset_files(dataset)
            name = dataset.name
            print(f"{name}: ingesting {corpus}", file=sys.stderr)
            libraries[name] = await build_library(corpus, tmp / f"{i}.db", quiet=True, model=model)
            queries[name] = load_queries(queries_path)[: limit or None]
        for name, library in libraries.items():
            print(f"{name}: reading {len(queries[name])} questions", file=sys.stderr)
            examples += await collect(library, queries[name], name, name)
            for other, other_library in libraries.items():
                if other != name:
                    sample = random.Random(7).sample(queries[name], min(unrelated_limit, len(queries[name])))
                    examples += await collect(other_library, sample, name, other)
        for name, library in libraries.items():  # last: it removes articles
            withheld = await collect_withheld(library, queries[name], name, unrelated_limit)
            print(f"{name}: {len(withheld)} questions asked without the articles that answer them", file=sys.stderr)
            examples += withheld
    finally:
        for library in libraries.values():
            await library.close(save_snapshot=False)
    return examples


def print_report(report: dict[str, dict[str, float]]) -> None:
    keys = ("hit@1", "hit@3", "found", "answerable", "unanswerable", "withheld", "unrelated")
    print(f"{'':28}{'':27}{'abstains on':^52}")
    print(f"{'':28}" + "".join(f"{k:>13}" for k in keys))
    for name, figures in report.items():
        values = [figures.get(k, figures.get(f"abstain_{k}", float("nan"))) for k in keys]
        print(f"{name:28}" + "".join(f"{v:>13.3f}" for v in values))


async def cmd_tune(args: argparse.Namespace, settings: Settings) -> int:
    for dataset in args.datasets:
        try:
            dataset_files(dataset)
        except FileNotFoundError as error:
            print(error, file=sys.stderr)
            return 2
    with tempfile.TemporaryDirectory(prefix="citebot-tune-") as tmp:
        examples = await gather(args.datasets, args.limit, args.unrelated_limit, Path(tmp), settings.model)
    report = await asyncio.to_thread(cross_validate, examples, args.max_abstain, args.folds)
    print_report(report)
    if args.write:
        recipe = " ".join(
            [
                *([f"CITEBOT_MODEL={shlex.quote(str(settings.model))}"] if settings.model else []),
                "citebot tune",
                *(shlex.quote(str(d)) for d in args.datasets),
                f"--limit {args.limit} --folds {args.folds} --unrelated-limit {args.unrelated_limit}",
                f"--max-abstain {args.max_abstain}",
            ]
        )
        weights = train(examples, args.max_abstain, recipe)
        weights.save(
            args.write, {"cross_validation": {k: {m: round(x, 4) for m, x in v.items()} for k, v in report.items()}}
        )
        print(f"wrote {args.write} (threshold {weights.threshold:.3f})")
    if args.json:
        print(json.dumps(report))
    return 0


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "tune",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument("datasets", type=Path, nargs="+", help="folders with corpus.jsonl (or corpus/) and queries.jsonl")
    # Checked before the long pass over every question: --folds 0 failed only after it, with an IndexError.
    p.add_argument(
        "--folds", type=whole_number(2), default=5, help="parts of the pooled questions for k-fold (default 5)"
    )
    p.add_argument("--limit", type=int, default=0, help="only the first N questions of each dataset")
    p.add_argument(
        "--unrelated-limit", type=int, default=300, help="questions of each dataset asked of every other corpus"
    )
    p.add_argument(
        "--max-abstain", type=float, default=0.06, help="abstain on at most this share of answerable questions"
    )
    p.add_argument(
        "--write",
        type=Path,
        help="save the weights trained on everything here (bot/core/data/reader.json; with CITEBOT_MODEL set, "
        "reader-meaning.json)",
    )
    p.add_argument("--json", action="store_true", help="also print the cross-validation report as JSON")
    p.set_defaults(handler=cmd_tune)
