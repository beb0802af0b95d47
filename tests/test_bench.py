"""`citebot bench` end to end on a small corpus from ../shared (skipped in a clone without it)."""

from __future__ import annotations

import asyncio
import tempfile
from pathlib import Path

import pytest

from bot.cli import main
from bot.core import ingest
from bot.core.models import Article
from bot.tools import bench
from bot.tools.bench import run

SHARED = Path(__file__).resolve().parents[2] / "shared"
CORPUS = Path(__file__).resolve().parents[1] / "corpus"
needs_shared = pytest.mark.skipif(
    not (SHARED / "corpora").is_dir(), reason="needs the news corpora of ../shared/corpora beside the repository"
)


@needs_shared
async def test_bench_measures_citebot_and_rank_bm25_on_the_same_sentences():
    result = await run(5_000, 10, SHARED, progress=False)
    ours = result["citebot"]
    assert isinstance(ours, dict)
    # The reference reads the corpus after citebot's measurements added articles: it must leave those out.
    assert result["top10_identical"] is True
    assert 5_000 <= result["sentences"] < 6_000  # type: ignore[operator]
    assert ours["ingest_sentences_per_s"] == pytest.approx(result["sentences"] / ours["build_s"])  # type: ignore[operator]
    assert {"p50_ms", "p95_ms", "add_ms", "cold_start_s", "rss_mb"} <= set(ours)


async def test_ctrl_c_while_the_corpora_are_read_stops_before_a_store_or_temporary_folder_exists(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
):
    """Reading and planning the corpora never awaits, so asyncio.run's Ctrl-C (a cancel of the main task) took
    effect inside build's Library.open: its SQLite thread went on creating the store in the temporary folder while
    that was being removed (OSError "Directory not empty": a traceback, exit 1, the folder left behind)."""
    task: asyncio.Task[dict[str, object]] | None = None
    built: list[Path] = []

    def load_articles(shared: Path) -> list[Article]:
        assert task is not None
        task.cancel()  # as asyncio.run does on SIGINT; this work goes on to its end regardless
        return [a for path in sorted(CORPUS.glob("*.md"))[:30] for a in ingest.read_path(path).articles]

    async def build(db: Path, plan: bench.Plan, progress: bool) -> float:
        built.append(db)
        await asyncio.sleep(0)
        return 0.0

    monkeypatch.setattr(bench, "load_articles", load_articles)
    monkeypatch.setattr(bench, "build", build)
    monkeypatch.setattr(tempfile, "tempdir", str(tmp_path))
    task = asyncio.create_task(run(500, 5, tmp_path, progress=False))
    with pytest.raises(asyncio.CancelledError):
        await task
    assert built == [] and list(tmp_path.iterdir()) == []


@pytest.mark.parametrize("option", ["--sentences", "--questions", "--loop-lag-articles"])
def test_bench_refuses_sizes_below_one(option: str, capsys: pytest.CaptureFixture[str]):
    """After 15 s of reading the corpora, --sentences 0 ended in a ZeroDivisionError traceback and --questions 0
    waited for ever."""
    with pytest.raises(SystemExit) as stopped:
        main(["bench", option, "0"])
    assert stopped.value.code == 2
    assert f"argument {option}: '0': give a whole number of at least 1" in capsys.readouterr().err


def test_tune_refuses_fewer_than_two_folds_before_asking_anything(capsys: pytest.CaptureFixture[str]):
    """--folds 0 failed with an IndexError traceback, and only after asking every question of every dataset."""
    with pytest.raises(SystemExit) as stopped:
        main(["tune", "tests/data/news-qa", "--folds", "1"])
    assert stopped.value.code == 2
    assert "argument --folds: '1': give a whole number of at least 2" in capsys.readouterr().err
