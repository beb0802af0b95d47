"""`citebot health`: one line of status and exit 0 (healthy) or 1 (unhealthy), for Docker's HEALTHCHECK.

Checks, in order, each failing with its own message:
1. when the running bot's heartbeat `<db>.status.json` exists (or --require-bot is given): the gateway is
   connected and the heartbeat is at most --max-age seconds old (the bot writes it on connecting, then every 30 s);
2. the store exists and passes `PRAGMA quick_check`, with the schema and the analysis version (tokeniser)
   this citebot expects;
3. informational, never a failure: how many changes the index snapshot and the running bot's index lag
   behind the store's change log. The index is a cache of the store: a missing, old or unreadable
   snapshot only means the next start reads more (or rebuilds), so health never loads or rebuilds it.

Nothing is written: the store is opened read-only (no migrations, which could race the bot's own at start).
SQLite may create the empty -wal/-shm files it needs to read a WAL store. Cost: quick_check (it reads the
whole store file) plus the snapshot's stamp, a few bytes of it. The code's analysis version comes from the memo
the bot leaves beside the store (bot/core/analysis.py), so health imports neither the tokeniser nor the index.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import sqlite3
import sys
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any

from bot.console import EXIT_ERROR, EXIT_OK
from bot.core import analysis, snapshot
from bot.core.errors import ReindexNeeded, StoreUnavailable
from bot.core.location import MIGRATION_NAME, PRUNED_KEY, is_postgres, local_path, without_password
from bot.core.models import CHANGE_AT_SQL, ChangeRef

if TYPE_CHECKING:
    from bot.config import Settings

EXIT_HEALTHY, EXIT_UNHEALTHY = EXIT_OK, EXIT_ERROR  # Docker gives meaning to these two only
MAX_HEARTBEAT_AGE = 120.0
MMAP_BYTES = 1 << 31  # SQLite caps it at its compile-time maximum (2 GB by default)
DEFAULT_TIMEOUT = 8.0  # under the Dockerfile's 10 s, so a slow check fails with our message, not Docker's


class Unhealthy(Exception):
    """A failed check; the message is the status line."""


@dataclass(frozen=True, slots=True)
class StoreStatus:
    articles: int
    schema: int
    last_seq: int  # the change log's last entry
    store_id: str | None
    pruned_through: int = 0  # log entries up to this may be deleted (Store.prune_changes)
    snapshot_change: ChangeRef | None = None  # what the store's log says the snapshot's last change was


def one_line(message: str, limit: int = 300) -> str:
    """Docker keeps the output of the last few checks; one short line each (quick_check can list thousands)."""
    flat = " ".join(message.split())
    return flat if len(flat) <= limit else flat[: limit - 1] + "…"


def status_path(db: Path) -> Path:
    """Where the running bot writes its heartbeat (bot/discord/client.py, CitebotBot.status_path)."""
    return db.with_name(db.name + ".status.json")


def expected_schema() -> int:
    folder = resources.files("bot.core") / "migrations"
    return max((int(m.group(1)) for entry in folder.iterdir() if (m := MIGRATION_NAME.match(entry.name))), default=0)


def check_store(db: Path, snapshot_seq: int | None = None) -> StoreStatus:
    """Blocking: open read-only, quick_check, schema version, article count, and the log's entry
    ``snapshot_seq`` (the snapshot's last change)."""
    if not db.is_file():
        raise Unhealthy(f"no store at {db} (the bot creates it on its first start)")
    # Read-only here, but the bot writes it and the files beside it, and refuses to start where it cannot.
    for needed in (db, db.resolve().parent):
        if not os.access(needed, os.W_OK):
            raise Unhealthy(f"{needed} is not writable by this user (uid {os.geteuid()}): the bot cannot use the store")
    try:
        connection = sqlite3.connect(db.resolve().as_uri() + "?mode=ro", uri=True, timeout=5)
    except sqlite3.Error as error:
        raise Unhealthy(f"cannot open the store {db}: {error}") from error
    try:
        # quick_check reads every page: memory-mapped, SQLite reads them in place instead of copying each into
        # its cache (a 360 MB store, 1M sentences: 0.3 s of CPU instead of 0.45). Reads only: nothing is written.
        connection.execute(f"PRAGMA mmap_size = {MMAP_BYTES}")
        verdict = [row[0] for row in connection.execute("PRAGMA quick_check")]
        if verdict != ["ok"]:
            raise Unhealthy(f"store {db} failed PRAGMA quick_check: {'; '.join(map(str, verdict))}")
        try:
            schema = int(connection.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version").fetchone()[0])
            articles = int(connection.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
            meta = dict(connection.execute("SELECT key, value FROM meta").fetchall())
            has_log = connection.execute("SELECT 1 FROM sqlite_master WHERE name = 'changes'").fetchone()
            last_seq = (
                int(connection.execute("SELECT COALESCE(MAX(seq), 0) FROM changes").fetchone()[0]) if has_log else 0
            )
            row = (
                connection.execute(CHANGE_AT_SQL.replace("$1", "?"), (snapshot_seq,)).fetchone()
                if has_log and snapshot_seq
                else None
            )
        except sqlite3.OperationalError as error:  # e.g. "no such table": not a citebot store
            raise Unhealthy(f"{db} is not a citebot store: {error}") from error
    except sqlite3.DatabaseError as error:  # "file is not a database", "database disk image is malformed"
        raise Unhealthy(f"store {db} is unreadable: {error}") from error
    finally:
        connection.close()
    expected = expected_schema()
    if schema != expected:
        raise Unhealthy(f"store {db} has schema version {schema}, this citebot expects {expected}")
    if (stored := meta.get("analysis")) not in (None, current := analysis.current(db)):
        raise ReindexNeeded(stored, current)
    change = None if row is None else ChangeRef(str(row[0]), row[1], row[2])
    return StoreStatus(articles, schema, last_seq, meta.get("store_id"), int(meta.get(PRUNED_KEY) or 0), change)


def read_snapshot_stamp(db: Path) -> dict[str, Any] | Exception | None:
    """The stamp of the index snapshot beside ``db``; None when there is none, the error when it is unreadable."""
    path = snapshot.path_for(db)
    if not path.exists():
        return None
    try:
        return snapshot.read_stamp(path)
    except Exception as error:  # truncated, not a snapshot at all: the bot rebuilds, health only reports
        return error


def describe_snapshot(db: Path, store: StoreStatus, stamp: dict[str, Any] | Exception | None) -> str:
    """How far the index snapshot (its ``stamp``: read_snapshot_stamp) lags the store, or why the next start will
    not use it (never unhealthy)."""
    if stamp is None:
        return "no index snapshot yet (the next start builds the index from the store)"
    if isinstance(stamp, Exception):
        return f"index snapshot unreadable ({type(stamp).__name__}): the next start rebuilds from the store"
    seq = stamp["seq"]
    expected = {"format": snapshot.FORMAT, "store_id": store.store_id, "analysis": analysis.current(db)}
    if snapshot.identity(stamp) != expected:
        return "index snapshot is of another store or version: the next start rebuilds from the store"
    if seq > store.last_seq:
        return (
            f"index snapshot is {seq - store.last_seq} changes ahead of the store (an older copy restored?): the "
            "next start gives the store a new id and rebuilds from it"
        )
    if "change" in stamp and store.snapshot_change and not store.snapshot_change.matches(ChangeRef(*stamp["change"])):
        return (
            f"index snapshot's change {seq} is not the store's change {seq} (an older copy restored and changed, or "
            "a copied store?): the next start gives the store a new id and rebuilds from it"
        )
    if store.pruned_through and seq <= store.pruned_through:  # the entries it needs are gone: no catching up
        return f"index snapshot {store.last_seq - seq} changes behind, older than the pruned change log: the next start rebuilds from the store"
    return f"index snapshot {store.last_seq - seq} changes behind the store (saved {stamp.get('saved_at', '?')})"


def bot_heartbeat_age(db: Path, max_age: float = MAX_HEARTBEAT_AGE) -> float | None:
    """Seconds since a running bot last wrote its heartbeat for this store; None if none is that recent."""
    try:
        status = json.loads(status_path(db).read_text(encoding="utf-8"))
        updated = datetime.fromisoformat(status["updated_at"])
    except (OSError, ValueError, KeyError, TypeError):
        return None
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)
    age = (datetime.now(UTC) - updated).total_seconds()
    return max(age, 0.0) if age <= max_age else None


def check_heartbeat(db: Path, *, require: bool, max_age: float, now: datetime | None = None) -> str:
    """'' when there is no heartbeat and none is required; else a short status, or Unhealthy."""
    path = status_path(db)
    try:
        raw = path.read_text(encoding="utf-8")
    except FileNotFoundError:
        if require:
            raise Unhealthy(f"the bot is not running: no heartbeat at {path}") from None
        return ""
    except OSError as error:
        raise Unhealthy(f"cannot read the heartbeat {path}: {error.strerror or error}") from error
    try:
        status = json.loads(raw)
        updated = datetime.fromisoformat(status["updated_at"])
        connected = status["gateway_connected"]
    except (ValueError, KeyError, TypeError) as error:
        raise Unhealthy(f"the heartbeat {path} is not valid: {error!r}") from error
    if updated.tzinfo is None:
        updated = updated.replace(tzinfo=UTC)  # the bot writes UTC; a naive time is read the same way
    age = ((now or datetime.now(UTC)) - updated).total_seconds()
    if age > max_age:
        raise Unhealthy(f"the bot's heartbeat is {age:.0f} s old (more than {max_age:.0f} s): hung or stopped")
    if connected is not True:
        raise Unhealthy(f"the bot is not connected to the Discord gateway (heartbeat {max(age, 0):.0f} s ago)")
    index = f", its index at change {status['index_seq']}" if isinstance(status.get("index_seq"), int) else ""
    return f"gateway connected (heartbeat {max(age, 0):.0f} s ago{index})"


async def check_postgres_store(url: str, snapshot_seq: int | None = None) -> StoreStatus:
    """Connect read-only: schema version, article count, change log, tokeniser version."""
    import asyncpg

    from bot.core.store import open_store

    try:
        store = await open_store(url, readonly=True)
    except (OSError, asyncpg.PostgresError, StoreUnavailable) as error:
        raise Unhealthy(f"cannot open the store: {error}") from error
    try:
        articles = await store.count_all_articles()
        last_seq = await store.last_seq()
        stored_analysis, store_id = await store.get_meta("analysis"), await store.get_meta("store_id")
        pruned_through = int(await store.get_meta(PRUNED_KEY) or 0)
        verdict = await store.integrity_check()
        change = await store.change_at(snapshot_seq) if snapshot_seq else None
    finally:
        await store.close()
    if verdict != "ok":
        raise Unhealthy(f"store failed its consistency check: {verdict}")
    if stored_analysis not in (None, current := await asyncio.to_thread(analysis.current, local_path(url))):
        raise ReindexNeeded(stored_analysis, current)
    return StoreStatus(
        articles, expected_schema(), last_seq, store_id, pruned_through, change
    )  # open_store checked the schema exists


async def check(
    db: str | Path, *, require_bot: bool = False, max_age: float = MAX_HEARTBEAT_AGE, process: Path | None = None
) -> str:
    """All checks; returns the healthy status line or raises Unhealthy (ReindexNeeded for terms of another
    tokeniser version, whose advice names the command). ``process``: where this process's
    heartbeat is (Settings.process_path; differs from the store's local path when sharded)."""
    files = local_path(db)
    bot = check_heartbeat(
        process or files, require=require_bot, max_age=max_age
    )  # first: cheapest, and a hung bot fails fast
    stamp = await asyncio.to_thread(read_snapshot_stamp, files)
    snapshot_seq = stamp["seq"] if isinstance(stamp, dict) else None
    if is_postgres(db):
        store = await check_postgres_store(str(db), snapshot_seq)
        db = without_password(str(db))
    else:
        store = await asyncio.to_thread(check_store, files, snapshot_seq)
    snapshot_line = await asyncio.to_thread(describe_snapshot, files, store, stamp)
    parts = [
        f"store {db} ok ({store.articles} articles, schema {store.schema}, change {store.last_seq})",
        snapshot_line,
    ]
    return "healthy: " + ", ".join(parts + ([bot] if bot else []))


async def cmd_health(args: argparse.Namespace, settings: Settings) -> int:
    try:
        line = await asyncio.wait_for(
            check(settings.db, require_bot=args.require_bot, max_age=args.max_age, process=settings.process_path),
            timeout=args.timeout,
        )
    except Unhealthy as error:
        print(f"unhealthy: {one_line(str(error))}", file=sys.stderr)
        return EXIT_UNHEALTHY
    except ReindexNeeded as outdated:
        print(f"unhealthy: {outdated.advice(settings.command('reindex'))}", file=sys.stderr)
        return EXIT_UNHEALTHY
    except TimeoutError:
        print(f"unhealthy: the checks took more than {args.timeout:g} s", file=sys.stderr)
        return EXIT_UNHEALTHY
    except Exception as error:  # any surprise is unhealthy, with exit 1 (Docker reserves other codes)
        print(f"unhealthy: unexpected {type(error).__name__}: {one_line(str(error))}", file=sys.stderr)
        return EXIT_UNHEALTHY
    print(line)
    return EXIT_HEALTHY


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "health",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    p.add_argument(
        "--require-bot", action="store_true", help="fail when there is no heartbeat (use where the bot should run)"
    )
    p.add_argument(
        "--max-age", type=float, default=MAX_HEARTBEAT_AGE, help="oldest acceptable heartbeat, seconds (default 120)"
    )
    p.add_argument("--timeout", type=float, default=DEFAULT_TIMEOUT, help="give up after this many seconds (default 8)")
    p.set_defaults(handler=cmd_health)
