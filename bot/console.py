"""What every command-line command shares: exit codes, logging set-up, a progress bar and the index report.

Its own module so that the command modules (bot/cli.py, bot/discord/runner.py, bot/tools/*) import it and
never each other: bot/cli.py only assembles the parser.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import subprocess
import sys
import time
import weakref
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, TextIO

from bot.core.models import is_scope

if TYPE_CHECKING:  # imported where used: quick commands (`citebot health`) load neither
    from tqdm import tqdm

    from bot.core.library import IndexReport

EXIT_OK, EXIT_ERROR, EXIT_USAGE = 0, 1, 2

# What a command that changes something says when Ctrl-C or SIGTERM stopped it: its ``stopped`` default, printed by
# bot/cli.py once the command has been cancelled and its clean-up is done. Each store write is one transaction.
STOPPED_ADDING = (
    "the articles stored before the stop are kept, each whole; run the same command again to add the rest (those "
    "already stored are skipped)."
)
STOPPED_WHOLE = "the change is made whole or not at all; run the same command again to be sure it is made."


def scope_argument(text: str) -> str:
    """An argparse type: whose articles, 'shared' or guild:<server id>."""
    if is_scope(text):
        return text
    raise argparse.ArgumentTypeError(f"{text!r} is not a scope: give 'shared' or guild:<server id> (digits)")


def whole_number(low: int, high: int | None = None) -> Callable[[str], int]:
    """An argparse type: a whole number from ``low`` (to ``high``)."""

    def parse(text: str) -> int:
        number = int(text) if text.strip().lstrip("-").isdigit() else None
        if number is None or number < low or (high is not None and number > high):
            limits = f"from {low} to {high}" if high is not None else f"of at least {low}"
            raise argparse.ArgumentTypeError(f"{text!r}: give a whole number {limits}")
        return number

    return parse


def setup_logging(level: str | None, *, default: str = "WARNING") -> None:
    """Once per process: one line per event at ``level`` (CITEBOT_LOG_LEVEL), else ``default``.

    discord.py stays quiet below INFO (discord.http logs every rate-limit bucket, discord.gateway every
    heartbeat and resume).
    """
    root = logging.getLogger()
    if not root.handlers:
        handler = logging.StreamHandler(sys.stderr)
        handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
        root.addHandler(handler)
    root.setLevel(getattr(logging, level or default))
    logging.getLogger("discord").setLevel(max(root.level, logging.INFO))
    logging.getLogger("discord.http").setLevel(logging.WARNING)
    logging.getLogger("discord.gateway").setLevel(logging.WARNING)
    logging.getLogger("aiosqlite").setLevel(max(root.level, logging.INFO))  # a line per SQL call at DEBUG


class ProgressBar:
    """A ``progress(done, total)`` callback drawing a tqdm bar on stderr (plain occasional lines in a log):
    done/total, elapsed<ETA and the rate; with sentences counted (``bar.sentences`` as an ingest's
    ``stored_sentences``), also sentences stored per second since the bar was made."""

    _drawn: ClassVar[weakref.WeakSet[ProgressBar]] = weakref.WeakSet()  # bars on screen, not yet at their end

    def __init__(self, label: str, stream: TextIO | None = None, unit: str = "item") -> None:
        self.label = label
        self.stream = stream or sys.stderr
        self.unit = unit
        self._bar: tqdm[Any] | None = None
        self._started = time.monotonic()
        self._started_wall = time.time()  # tqdm's clock
        self._sentences = 0

    def sentences(self, count: int) -> None:
        """``count`` more sentences stored; shown as a rate at the next update."""
        self._sentences += count

    def __call__(self, done: int, total: int) -> None:
        if self._bar is None:
            tty = bool(getattr(self.stream, "isatty", lambda: False)())
            from tqdm import tqdm

            self._bar = tqdm(
                total=total,
                desc=self.label,
                unit=self.unit,
                file=self.stream,
                mininterval=0.1 if tty else 5.0,
                ascii=not tty,
            )
            # Timed from when the work began, not from its first report: a whole import in one batch read
            # "6908265 item/s".
            self._bar.start_t = self._started_wall
            ProgressBar._drawn.add(self)
        self._bar.total = total
        if self._sentences:
            rate = self._sentences / max(time.monotonic() - self._started, 1e-9)
            self._bar.set_postfix_str(f"{self._sentences:,} sentences, {rate:,.0f} sentences/s", refresh=False)
        self._bar.update(done - self._bar.n)
        if done >= total:
            self.close()

    def close(self) -> None:
        if self._bar is not None:
            self._bar.close()
            self._bar = None
        ProgressBar._drawn.discard(self)

    @classmethod
    def close_all(cls) -> None:
        """Close the bars of work that stopped before its end, so that what is said next starts a line of its own
        (not after a half bar) and no bar is drawn again when Python exits."""
        for bar in list(cls._drawn):
            bar.close()


def print_report(report: IndexReport, *, verbose_limit: int = 20) -> None:
    replaced = f", replaced {len(report.replaced)}" if report.replaced else ""
    moved = f", moved {len(report.moved)}" if report.moved else ""
    pruned = f", pruned {len(report.pruned)}" if report.pruned else ""
    print(
        f"added {len(report.added)}, unchanged {len(report.unchanged)}{moved}{replaced}{pruned}, "
        f"rejected {len(report.rejected)}"
    )
    sections: list[tuple[str, Sequence[Any], Callable[[Any], str], str]] = [
        ("+", report.added, lambda i: f"#{i.article_id} {i.title or 'untitled'} ({_sentences(i.sentences)})", ""),
        ("=", report.unchanged, lambda i: f"{i.where}: already stored as #{i.article_id}", " already stored"),
        (
            "-",
            report.replaced,
            lambda i: f"#{i.article_id} {i.title or 'untitled'}: the earlier version of {i.where}, removed",
            " earlier versions removed",
        ),
        (
            ">",
            report.moved,
            lambda i: f"moved: {shown_path(i.previous or '?')} → {i.where} (#{i.article_id})",
            " moved",
        ),
        (
            "-",
            report.pruned,
            lambda i: f"#{i.article_id} {i.title or 'untitled'}: its file {i.where} is gone, removed",
            " of files gone removed",
        ),
        (
            "?",
            report.gone,
            lambda i: f"#{i.article_id} {i.title or 'untitled'}: its file {i.where} is gone",
            " of files gone",
        ),
        ("!", report.rejected, lambda r: f"{r.where}: {r.reason}", " refused"),
    ]
    for mark, items, line, rest in sections:
        for item in items[:verbose_limit]:
            print(f"  {mark} {line(item)}")
        if len(items) > verbose_limit:
            print(f"  {mark} … and {len(items) - verbose_limit} more{rest}")


def _sentences(count: int) -> str:
    return f"{count} sentence{'s' if count != 1 else ''}"


def shown_path(path: str) -> str:
    """A stored absolute path as the host would type it here: relative below the working folder, else whole."""
    relative = os.path.relpath(path)
    return path if relative.startswith("..") else relative


async def run_child(*command: str) -> tuple[int, bytes, bytes]:
    """Run ``command`` to its end: (exit status, stdout, stderr). Awaited, so that the command's cancel (Ctrl-C,
    SIGTERM: bot/cli.py) stops the child with it; a subprocess.run blocked the event loop until the child was done,
    or, when the child died of the same Ctrl-C, failed with a traceback instead of exiting 130."""
    child = await asyncio.create_subprocess_exec(*command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        stdout, stderr = await child.communicate()
    except BaseException:
        with contextlib.suppress(ProcessLookupError):  # it ended meanwhile
            child.kill()
        await child.wait()
        raise
    return await child.wait(), stdout, stderr  # ended: its status at once
