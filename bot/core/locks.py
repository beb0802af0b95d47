"""Advisory file locks beside the store (POSIX ``flock``): released by the kernel when a process dies, even by
SIGKILL, so a crash never leaves a stale lock behind."""

from __future__ import annotations

import contextlib
import fcntl
import glob
import json
import os
import time
from collections.abc import Iterator, Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import IO


class LockHeld(Exception):
    """Another process holds the lock; ``holder`` is what it wrote into the lock file (may be empty)."""

    def __init__(self, path: Path, holder: dict[str, object]) -> None:
        self.path = path
        self.holder = holder
        super().__init__(f"{path} is held by {holder or 'another process'}")


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Wait for, then hold, an exclusive lock on ``path`` (created if missing)."""
    with path.open("a+b") as handle:
        fcntl.flock(handle, fcntl.LOCK_EX)
        try:
            yield
        finally:
            fcntl.flock(handle, fcntl.LOCK_UN)


def take_or_fail(path: Path, **about: object) -> IO[str]:
    """Take an exclusive lock now or raise LockHeld naming the holder. Keep the returned file open while
    the lock is needed; closing it (or the process ending) releases it. ``about`` is written for the next
    process to read: the pid and start time are always included."""
    handle = path.open("a+", encoding="utf-8")
    try:
        fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        handle.seek(0)
        try:
            holder = json.loads(handle.read() or "{}")
        except ValueError:
            holder = {}
        handle.close()
        raise LockHeld(path, holder) from None
    except BaseException:
        handle.close()
        raise
    handle.seek(0)
    handle.truncate()
    handle.write(json.dumps({"pid": os.getpid(), "started_at": datetime.now(UTC).isoformat(), **about}))
    handle.flush()
    return handle


class RunLockHeld(Exception):
    """Another `citebot run` serves this store, or some of its shards; ``str()`` names it and what to do."""


def take_run_lock(
    store: Path, shard_count: int | None, shards: Sequence[int] | None, **about: object
) -> contextlib.ExitStack:
    """The bot's run lock on a SQLite store, held until the returned stack closes (or the process ends): the rules
    of PostgreSQL's (bot/core/locks_postgres.py) in files beside the store. An unsharded bot takes ``STORE.run.lock``
    exclusively; a sharded process takes it shared, its shard count's file shared and each of its shard ids' files
    exclusively, then refuses to run if a process of another count holds that count's file. ``shards`` None with a
    count: all of them. Raises RunLockHeld, and OSError when the folder cannot be written. The files are named after
    the store's real path: a symlink to it and the store itself are one store, and must take the same files."""
    real = store.resolve()
    whole = real.with_name(f"{real.name}.run.lock")
    held = contextlib.ExitStack()
    try:
        if shard_count is None:
            try:
                held.enter_context(take_or_fail(whole, **about))
            except LockHeld as other:
                raise RunLockHeld(
                    f"Another `citebot run` is using {store} ({_named(other.holder) or _shard_holders(real)}); "
                    "stop it first."
                ) from None
            return held
        if not _take(held, whole, fcntl.LOCK_SH | fcntl.LOCK_NB):
            raise RunLockHeld(
                f"An unsharded `citebot run` is using {store} ({_holder(whole)}); stop it first (sharded processes "
                "run only beside other sharded ones)."
            )
        whole.write_text("", encoding="utf-8")  # an unsharded bot's pid, left from before, names no holder now
        count = real.with_name(f"{real.name}.run-count-{shard_count}.lock")
        _take(held, count, fcntl.LOCK_SH)  # only ever held exclusively for a moment (_in_use): waits that long
        for shard in range(shard_count) if shards is None else shards:
            try:
                held.enter_context(_take_shard(_shard_path(real, shard), **about))
            except LockHeld as other:
                raise RunLockHeld(
                    f"Another `citebot run` runs shard {shard} of {store} ({_named(other.holder)}); stop it first, "
                    "or give this process shards no other runs (CITEBOT_SHARD_IDS)."
                ) from None
        for other_count in real.parent.glob(f"{glob.escape(real.name)}.run-count-*.lock"):
            if other_count != count and _in_use(other_count):
                theirs = other_count.name.removeprefix(f"{real.name}.run-count-").removesuffix(".lock")
                raise RunLockHeld(
                    f"Another `citebot run` on {store} has CITEBOT_SHARD_COUNT={theirs}, this one {shard_count}: every "
                    "process needs the same count. Stop it first, or use its count."
                )
        return held
    except BaseException:
        held.close()
        raise


# How long a shard's file is tried before another process is taken to run it: a refused unsharded bot looks at
# which shards run by taking each file for an instant (_shard_holders), and a shard starting then must still start.
SHARD_TAKE_SECONDS = 0.5


def _take_shard(path: Path, **about: object) -> IO[str]:
    """take_or_fail, tried again for SHARD_TAKE_SECONDS while another process holds ``path``: a running shard holds
    it for good, a look (_in_use) for an instant."""
    deadline = time.monotonic() + SHARD_TAKE_SECONDS
    while True:
        try:
            return take_or_fail(path, **about)
        except LockHeld:
            if time.monotonic() >= deadline:
                raise
            time.sleep(0.01)


def _shard_path(store: Path, shard: int) -> Path:
    return store.with_name(f"{store.name}.run-shard-{shard}.lock")


def _take(held: contextlib.ExitStack, path: Path, mode: int) -> bool:
    """Take ``path``'s lock in ``mode``, kept open in ``held``; False when ``mode`` has LOCK_NB and another
    process's lock excludes it."""
    handle = held.enter_context(path.open("a+", encoding="utf-8"))
    try:
        fcntl.flock(handle, mode)
    except BlockingIOError:
        return False
    return True


def _in_use(path: Path) -> bool:
    """Whether some process holds a lock on ``path`` (an exclusive one cannot be taken now)."""
    with path.open("a+", encoding="utf-8") as handle:
        try:
            fcntl.flock(handle, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            return True
        return False


def _holder(path: Path) -> str:
    """What the process holding ``path`` wrote into it, as a message names it."""
    try:
        return _named(json.loads(path.read_text(encoding="utf-8") or "{}")) or "another process"
    except (OSError, ValueError):
        return "another process"


def _shard_holders(store: Path) -> str:
    """The sharded processes holding a shard of ``store`` (which hold its whole-bot lock shared)."""
    names = [
        _holder(path)
        for path in sorted(store.parent.glob(f"{glob.escape(store.name)}.run-shard-*.lock"))
        if _in_use(path)
    ]
    return "; ".join(names) or "another process"


def _named(holder: dict[str, object]) -> str:
    """What a holder wrote into its lock file ({"pid": …, "host": …}), as a message names it; "" for nothing."""
    return ", ".join(f"{k} {v}" for k, v in holder.items())
