"""`citebot bench` end to end on a small corpus from ../shared (skipped in a clone without it)."""

from __future__ import annotations

from pathlib import Path

import pytest

from bot.tools.bench import run

SHARED = Path(__file__).resolve().parents[2] / "shared"
pytestmark = pytest.mark.skipif(
    not (SHARED / "corpora").is_dir(), reason="needs the news corpora of ../shared/corpora beside the repository"
)


async def test_bench_measures_citebot_and_rank_bm25_on_the_same_sentences():
    result = await run(5_000, 10, SHARED, progress=False)
    ours = result["citebot"]
    assert isinstance(ours, dict)
    # The reference reads the corpus after citebot's measurements added articles: it must leave those out.
    assert result["top10_identical"] is True
    assert 5_000 <= result["sentences"] < 6_000  # type: ignore[operator]
    assert ours["ingest_sentences_per_s"] == pytest.approx(result["sentences"] / ours["build_s"])  # type: ignore[operator]
    assert {"p50_ms", "p95_ms", "add_ms", "cold_start_s", "rss_mb"} <= set(ours)
