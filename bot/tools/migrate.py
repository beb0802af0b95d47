"""`citebot migrate-store SRC DEST`: copy a whole store between SQLite and PostgreSQL (either way).

Every table is copied row for row with its ids (article, sentence and term ids, change-log numbers), so the
destination's change log describes the same store and its index answers exactly as the source's did. The source
is read in one consistent view; the destination is written in ONE transaction (a crash or a failure leaves it
empty) and must hold no articles and no questions. Afterwards the rows of every table are counted on both sides.
The destination keeps its own store id, so no index snapshot of the source is ever taken for it.
"""

from __future__ import annotations

import argparse
import sys
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any, Protocol

import aiosqlite
import asyncpg

from bot.config import Settings
from bot.console import EXIT_ERROR, EXIT_OK, ProgressBar
from bot.core.errors import StoreUnavailable
from bot.core.location import checked, is_postgres, sqlite_path, without_password
from bot.core.store import ReadOnlyAccess, connect, open_store

# In an order that satisfies the foreign keys; every column, ids included.
TABLES: dict[str, tuple[str, ...]] = {
    "terms": ("id", "term"),
    "articles": (
        "id",
        "scope",
        "content_hash",
        "external_id",
        "title",
        "source",
        "date",
        "url",
        "author",
        "text",
        "origin",
        "added_by",
        "added_at",
        "terms",
    ),
    "sentences": ("id", "article_id", "position", "start", '"end"', "terms"),
    "changes": ("seq", "kind", "article_id", "removed"),
    "meta": ("key", "value"),
    "queries": ("id", "asked_at", "question", "scope", "user_id", "abstained", "latency_ms", "n_quotes", "hedged"),
    "votes": ("query_id", "user_id", "value", "voted_at"),
    "settings": ("scope", "key", "value"),
}
KEY_COLUMN = {"changes": "seq", "meta": "key", "votes": "query_id", "settings": "scope"}
BATCH = 2_000
STORE_ID = "store_id"  # the destination keeps its own (see the module's docstring)


class MigrateError(Exception):
    pass


class Tables(Protocol):
    """Raw rows of one store's tables, for copying (the Store contract deals in articles, not rows)."""

    async def count(self, table: str) -> int: ...
    def rows(self, table: str) -> AsyncIterator[list[tuple[Any, ...]]]: ...
    async def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None: ...
    async def delete_meta_except(self, key: str) -> None: ...
    async def after_copy(self) -> None: ...
    def check_unchanged(self) -> None: ...


class SQLiteTables:
    def __init__(self, db: aiosqlite.Connection, reading: ReadOnlyAccess | None = None) -> None:
        self.db = db
        self._reading = reading  # how a source was opened (ReadOnlyAccess); None for the destination

    def check_unchanged(self) -> None:
        """A source read as immutable (from a read-only folder) must not have been written meanwhile."""
        if self._reading is not None:
            self._reading.check_unchanged()

    async def count(self, table: str) -> int:
        async with self.db.execute(f"SELECT COUNT(*) FROM {table}") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def rows(self, table: str) -> AsyncIterator[list[tuple[Any, ...]]]:
        columns = ", ".join(TABLES[table])
        async with self.db.execute(f"SELECT {columns} FROM {table} ORDER BY {KEY_COLUMN.get(table, 'id')}") as cursor:
            while batch := await cursor.fetchmany(BATCH):
                yield [tuple(row) for row in batch]

    async def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        columns = TABLES[table]
        sql = f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({', '.join('?' * len(columns))})"
        await self.db.executemany(sql, rows)

    async def delete_meta_except(self, key: str) -> None:
        await self.db.execute("DELETE FROM meta WHERE key != ?", (key,))

    async def after_copy(self) -> None:
        """Nothing: SQLite's AUTOINCREMENT counters follow explicitly inserted ids by themselves."""


class PostgresTables:
    def __init__(self, db: asyncpg.Connection) -> None:
        self.db = db

    def check_unchanged(self) -> None:
        """Nothing to check: a source is read in one repeatable-read transaction."""

    async def count(self, table: str) -> int:
        return int(await self.db.fetchval(f"SELECT COUNT(*) FROM {table}"))

    async def rows(self, table: str) -> AsyncIterator[list[tuple[Any, ...]]]:
        columns = ", ".join(TABLES[table])
        cursor = self.db.cursor(f"SELECT {columns} FROM {table} ORDER BY {KEY_COLUMN.get(table, 'id')}", prefetch=BATCH)
        batch: list[tuple[Any, ...]] = []
        async for record in cursor:  # a cursor needs the transaction the caller holds
            batch.append(tuple(record.values()))
            if len(batch) == BATCH:
                yield batch
                batch = []
        if batch:
            yield batch

    async def insert(self, table: str, rows: Sequence[tuple[Any, ...]]) -> None:
        columns = TABLES[table]
        placeholders = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        await self.db.executemany(f"INSERT INTO {table} ({', '.join(columns)}) VALUES ({placeholders})", rows)

    async def delete_meta_except(self, key: str) -> None:
        await self.db.execute("DELETE FROM meta WHERE key != $1", key)

    async def after_copy(self) -> None:
        """The identity counters continue after the copied ids, so new rows never collide with them; and the
        planner gets statistics at once (without them the first questions took 2-3x as long, measured)."""
        for table in ("articles", "sentences", "queries"):
            await self.db.execute(
                f"SELECT setval(pg_get_serial_sequence('{table}', 'id'), COALESCE(MAX(id), 0) + 1, false) FROM {table}"
            )
        await self.db.execute("ANALYZE")


@asynccontextmanager
async def _read_view(location: str) -> AsyncIterator[Tables]:
    """The source's tables in one consistent, read-only view."""
    if is_postgres(location):
        connection = await asyncpg.connect(location)
        try:
            async with connection.transaction(isolation="repeatable_read", readonly=True):
                yield PostgresTables(connection)
        finally:
            await connection.close()
    else:
        path = sqlite_path(location)
        if not path.is_file():
            raise MigrateError(f"no store at {path}")
        # As export and backup read it: also from a read-only volume, where SQLite cannot make its -shm file.
        reading = ReadOnlyAccess.of(path)
        db = await connect(reading.uri, uri=True, isolation_level=None)
        try:
            await db.execute("PRAGMA busy_timeout=10000")
            await db.execute("BEGIN")
            yield SQLiteTables(db, reading)
        finally:
            await db.close()


@asynccontextmanager
async def _write_transaction(location: str) -> AsyncIterator[Tables]:
    """The destination's tables inside one transaction: committed only if the block finishes."""
    if is_postgres(location):
        connection = await asyncpg.connect(location)
        try:
            async with connection.transaction():
                yield PostgresTables(connection)
        finally:
            await connection.close()
    else:
        db = await connect(sqlite_path(location), isolation_level=None)
        try:
            await db.execute("PRAGMA foreign_keys=ON")
            await db.execute("BEGIN IMMEDIATE")
            try:
                yield SQLiteTables(db)
            except BaseException:
                await db.execute("ROLLBACK")
                raise
            await db.execute("COMMIT")
        finally:
            await db.close()


async def _counts(view: Tables) -> dict[str, int]:
    return {table: await view.count(table) for table in TABLES}


async def migrate_store(source: str, dest: str, *, progress: ProgressBar | None = None) -> dict[str, int]:
    """Copy ``source`` into the new or empty store ``dest``; returns the rows copied per table."""
    if source == dest:
        raise MigrateError("the source and the destination are the same store")
    checked = await open_store(source, readonly=True)  # refuses what is not a citebot store
    await checked.close()
    await (await open_store(dest)).close()  # creates it and brings its schema up to date
    async with _read_view(source) as reader:
        expected = await _counts(reader)
        total, done = sum(expected.values()), 0
        async with _write_transaction(dest) as writer:
            if await writer.count("articles") or await writer.count("queries"):
                raise MigrateError("the destination already holds articles or questions; migrate into an empty store")
            await writer.delete_meta_except(STORE_ID)
            for table in TABLES:
                async for rows in reader.rows(table):
                    done += len(rows)
                    await writer.insert(table, [r for r in rows if table != "meta" or r[0] != STORE_ID])
                    if progress:
                        progress(done, total)
            await writer.after_copy()
            copied = await _counts(writer)
            reader.check_unchanged()  # before the copy commits: a mixed copy would leave the destination not empty
    differ = {t: (expected[t], copied[t]) for t in TABLES if expected[t] != copied[t]}
    if differ:
        raise MigrateError(f"row counts differ after the copy (source, destination): {differ}")
    return expected


async def cmd_migrate_store(args: argparse.Namespace, settings: Settings) -> int:
    try:
        counts = await migrate_store(args.source, args.dest, progress=ProgressBar("copying rows"))
    except (MigrateError, StoreUnavailable, OSError, aiosqlite.Error, asyncpg.PostgresError) as error:
        print(f"migrate-store failed: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(
        f"copied {counts['articles']} articles, {counts['sentences']} sentences, {counts['terms']} terms, "
        f"{counts['changes']} change-log entries, {counts['queries']} questions, {counts['votes']} votes and "
        f"{counts['settings']} settings; every table's row count matches"
    )
    return EXIT_OK


def _store_argument(text: str) -> str:
    try:
        return checked(text)
    except ValueError as error:
        raise argparse.ArgumentTypeError(f"{without_password(text)!r}: {error}") from None


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "migrate-store",
        description="Copy every table of SRC into DEST, which must be new or empty (articles, questions, votes, "
        "settings, the vocabulary and the change log, with their ids). Stop the bot first; SRC is only read. "
        "Each is a path, sqlite:///path or postgresql://user@host/db.",
    )
    p.add_argument("source", metavar="SRC", type=_store_argument, help="the store to copy from")
    p.add_argument(
        "dest", metavar="DEST", type=_store_argument, help="the store to copy into (created if it does not exist)"
    )
    p.set_defaults(
        handler=cmd_migrate_store,
        stopped="the copy is one transaction, so DEST holds all of it or nothing; if nothing, run the same command "
        "again.",
    )
