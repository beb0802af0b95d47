"""The evaluation sets kept in the repository stay measurable: every gold sentence is one whole sentence of its
article as citebot splits it (a splitter change that broke one would lower the figures without saying why)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from bot.core.text import split_sentences

REPO = Path(__file__).resolve().parents[1]
WIKINEWS = REPO / "corpus" / "wikinews-2019-2020.jsonl"


def _sentences_by_article() -> dict[str, set[str]]:
    with WIKINEWS.open(encoding="utf-8") as f:
        rows = [json.loads(line) for line in f]
    return {row["id"]: {s.text for s in split_sentences(row["text"])} for row in rows}


@pytest.mark.parametrize("dataset", ["news-qa", "news-claims"])
def test_gold_sentences_are_whole_sentences_of_their_article(dataset: str) -> None:
    sentences = _sentences_by_article()
    independent = (REPO / "corpus" / "independent-2026-01-05-putin-residence.md").read_text(encoding="utf-8")
    seen: set[str] = set()
    with (REPO / "tests" / "data" / dataset / "queries.jsonl").open(encoding="utf-8") as f:
        queries = [json.loads(line) for line in f]
    for query in queries:
        assert query["query"].casefold() not in seen, query["id"]
        seen.add(query["query"].casefold())
        assert bool(query["gold_sentences"]) == bool(query["gold_doc_ids"]), query["id"]
        for doc in query["gold_doc_ids"]:
            for gold in query["gold_sentences"]:
                if doc.startswith("independent-"):
                    assert gold in independent, query["id"]
                else:
                    assert gold in sentences[doc], (query["id"], gold)
