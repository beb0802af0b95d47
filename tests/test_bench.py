"""`citebot bench` end to end on a small corpus from ../shared (skipped in a clone without it)."""

from __future__ import annotations

import asyncio
import json
import signal
import subprocess
import tempfile
import time
from pathlib import Path

import pytest
from stopped_cli import stop_when

from bot.cli import main
from bot.core import ingest
from bot.core.models import Article
from bot.tools import bench
from bot.tools.bench import CORPORA, run
from bot.tools.load import synthetic_articles

REPO = Path(__file__).resolve().parents[1]
SHARED = REPO.parent / "shared"
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


def timing_child(parent: int) -> int | None:
    """The process bench starts to time a cold start (Linux /proc), once it runs."""
    children = Path(f"/proc/{parent}/task/{parent}/children")
    for pid in children.read_text().split() if children.exists() else ():
        with_args = Path(f"/proc/{pid}/cmdline")
        if with_args.exists() and b"bot.tools.bench import" in with_args.read_bytes():
            return int(pid)
    return None


def running(pid: int) -> bool:
    status = Path(f"/proc/{pid}/stat")
    return status.exists() and status.read_text().rsplit(")", 1)[1].split()[0] != "Z"


@pytest.mark.skipif(not Path("/proc/self/task").is_dir(), reason="finds the timing process through Linux /proc")
@pytest.mark.parametrize(
    ("signum", "whole_group", "status"),
    [(signal.SIGTERM, False, 143), (signal.SIGINT, True, 130)],
    ids=["sigterm", "ctrl-c"],
)
def test_a_bench_stopped_while_it_times_a_cold_start_leaves_no_process_or_folder(
    tmp_path: Path, signum: int, whole_group: bool, status: int
):
    """SIGTERM ended bench at once, leaving its timing process running and its /tmp/citebot-bench-* folder; a
    Ctrl-C (which reaches the timing process too) ended it in a CalledProcessError traceback, exit 1."""
    for name, seed in zip(CORPORA, (1, 2), strict=True):
        folder = tmp_path / "shared" / "corpora" / name
        folder.mkdir(parents=True)
        lines = [
            json.dumps({"id": a.external_id, "title": a.title, "text": a.text, "source": a.source})
            for a in synthetic_articles(150, seed=seed, start=1000 * seed)
        ]
        (folder / "articles.jsonl").write_text("\n".join(lines) + "\n")
    temporary = tmp_path / "tmp"
    temporary.mkdir()
    children: list[int] = []

    def timing(process: subprocess.Popen[str]) -> bool:
        children[:] = [child] if (child := timing_child(process.pid)) is not None else []
        return bool(children)

    args = ["bench", "--shared", str(tmp_path / "shared"), "--sentences", "1500", "--questions", "100"]
    returncode, errors = stop_when(
        [*args, "--no-reference", "--json"],
        timing,
        signum,
        whole_group=whole_group,
        environment={"TMPDIR": str(temporary)},
        waiting_for="started its timing process",
    )
    [child] = children
    assert returncode == status, errors
    assert "Traceback" not in errors
    time.sleep(0.2)  # a killed orphan is reaped by whoever adopts it
    assert not running(child)
    assert list(temporary.iterdir()) == []
