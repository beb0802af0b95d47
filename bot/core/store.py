"""The store: its contract (``Store``) and the embedded SQLite implementation through aiosqlite: WAL mode,
numbered migrations, one transaction per write. ``open_store`` picks SQLite or PostgreSQL
(bot/core/store_postgres.py) from the store setting.

Two connections: a writer (writes serialised by a lock, each in BEGIN IMMEDIATE … COMMIT) and a reader.
In WAL mode the reader never sees a transaction that has not committed, so an answer can never quote a
half-written article, even while a bulk import runs. Every add and remove also writes a numbered entry in the
change log (``changes``) in its own transaction: the log is what every process's in-memory index follows.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import re
import shlex
import shutil
import sqlite3
import threading
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from importlib import resources
from pathlib import Path
from typing import Any, NamedTuple, Protocol

import aiosqlite
import numpy as np
import numpy.typing as npt

from bot.core.errors import StoreUnavailable, disk_full
from bot.core.location import MIGRATION_NAME, PRUNED_KEY, a_folder, is_postgres, sqlite_path
from bot.core.models import CHANGE_AT_SQL, Article, ChangeRef, Gap, LoggedQuestion

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class StoredArticle:
    id: int
    scope: str
    external_id: str | None
    title: str | None
    source: str | None
    date: str | None
    url: str | None
    author: str | None
    origin: str | None
    added_by: str | None
    added_at: str
    text: str = ""  # empty unless asked for


@dataclass(frozen=True, slots=True)
class NewArticle:
    """Everything one article writes, prepared (tokenised, split) before the transaction starts."""

    scope: str
    article: Article
    content_hash: str
    terms: bytes
    sentences: Sequence[tuple[int, int, bytes]]  # (start, end, terms)
    origin: str | None = None
    added_by: str | None = None
    added_at: str | None = None  # as stored (ISO 8601, UTC); None: now. A restored export's keeps its own.


# Called inside a write transaction with the (id, term) pairs other processes stored since the caller last
# looked, so that new term ids never collide: returns what to write and the new (id, term) pairs.
ArticleBuilder = Callable[[list[tuple[int, str]]], tuple[Sequence[NewArticle], Sequence[tuple[int, str]]]]
# The same for a reindex: (article id, terms), (sentence id, terms) and the new (id, term) pairs.
TermRewrite = Callable[
    [list[tuple[int, str]]],
    tuple[Sequence[tuple[int, bytes]], Sequence[tuple[int, bytes]], Sequence[tuple[int, str]]],
]


class OriginRow(NamedTuple):
    """A stored article of a file added again (Store.same_origin): what tells its earlier versions apart, and
    which of the origins asked about it was stored under (one read serves a whole folder's files)."""

    article_id: int
    external_id: str | None
    title: str | None
    origin: str


class FileOrigin(NamedTuple):
    """A stored article added from a file (Store.from_files_under): the path it came from."""

    article_id: int
    title: str | None
    origin: str


@dataclass(frozen=True, slots=True)
class InsertedArticle:
    article_id: int
    sentence_ids: list[int]
    seq: int  # its entry in the change log


@dataclass(frozen=True, slots=True)
class RemovedArticle:
    article: StoredArticle
    terms: bytes
    sentences: list[tuple[int, bytes]]  # (sentence id, terms)
    seq: int  # its entry in the change log


@dataclass(frozen=True, slots=True)
class Change:
    """One entry of the change log, with what an index needs to apply it.

    ``add``: the article's scope, terms and sentences as stored now (``scope`` None when it has been removed
    since: a later ``remove`` entry follows). ``remove``: the terms it had. ``reset``: rebuild from the store.
    """

    seq: int
    kind: str
    article_id: int | None
    scope: str | None = None
    terms: npt.NDArray[np.int64] | None = None
    sentences: Sequence[tuple[int, npt.NDArray[np.int64]]] = ()


@dataclass(frozen=True, slots=True)
class ChangeBatch:
    changes: list[Change]
    new_terms: list[tuple[int, str]]  # vocabulary the changes introduce (ids from ``known_terms`` on)
    last_seq: int


PRUNE_BATCH = 50_000  # entries deleted per transaction, so writers wait for at most one short batch


def unpack_terms(blob: bytes) -> npt.NDArray[np.int64]:
    """Term ids are stored as little-endian uint32 blobs."""
    return np.frombuffer(blob, dtype="<u4").astype(np.int64)


def pack_removed(terms: bytes, sentences: Sequence[tuple[int, bytes]]) -> bytes:
    """A removed article's terms and its sentences' (id, terms), as int64: n, terms…, then (id, n, terms…) each."""
    parts = [np.array([len(terms) // 4], dtype="<i8"), unpack_terms(terms).astype("<i8")]
    for sentence_id, blob in sentences:
        parts += [np.array([sentence_id, len(blob) // 4], dtype="<i8"), unpack_terms(blob).astype("<i8")]
    return np.concatenate(parts).tobytes()


def _unpack_removed(blob: bytes) -> tuple[npt.NDArray[np.int64], list[tuple[int, npt.NDArray[np.int64]]]]:
    values = np.frombuffer(blob, dtype="<i8").astype(np.int64)
    n = int(values[0])
    terms, at = values[1 : 1 + n], 1 + n
    sentences = []
    while at < len(values):
        sentence_id, n = int(values[at]), int(values[at + 1])
        sentences.append((sentence_id, values[at + 2 : at + 2 + n]))
        at += 2 + n
    return terms, sentences


@dataclass(frozen=True, slots=True)
class SentenceWindow:
    """A sentence and its neighbours in the article, verbatim (the reader looks one sentence back and ahead)."""

    article_id: int
    position: int
    text: str
    previous: str | None
    next_id: int | None
    next_text: str | None
    # The stored terms (packed ids) of the sentence, the one before and the one after: the reader uses them
    # instead of tokenising the texts again.
    terms: bytes | None = None
    previous_terms: bytes | None = None
    next_terms: bytes | None = None
    # The first of its article's stored terms (at most TITLE_HEAD_BYTES): the title's come first, so the reader
    # takes them from here instead of stemming the title (cold in a new process). None where not read.
    title_head: bytes | None = None


# A gap: the question as asked (any case or spacing), how often, when last, and whether it was ever abstained on.
GAPS_COLUMNS = "lower(trim(question)) AS q, COUNT(*) AS n, MAX(asked_at), MAX(abstained)"
ARTICLE_COLUMNS = "id, scope, external_id, title, source, date, url, author, origin, added_by, added_at"
TITLE_HEAD_BYTES = 384  # 96 term ids: a title of up to 48 terms, twice (TITLE_REPEAT), then the body's


def stored_article(row: Sequence[object], text: str = "") -> StoredArticle:
    return StoredArticle(*row, text=text)  # type: ignore[arg-type, misc]  # a row of the 11 columns above


def gap(row: Sequence[object]) -> Gap:
    """A row of GAPS_COLUMNS as a Gap."""
    question, times, last_asked, ever_abstained = row
    return Gap(str(question), int(times), str(last_asked), not ever_abstained)  # type: ignore[call-overload]


def _neighbour_id(sign: str) -> str:
    """SQL for the id of the sentence before (-) or after (+) sentence ``s`` in its article. An article's sentences
    are stored with consecutive ids, so the row at id ± 1 is tried first (one rowid look-up); only when it is not
    the neighbour (the article's last sentence, or ids not consecutive) are the article's sentences searched,
    which the index on article_id alone makes a read of each of them."""
    same = f"article_id = s.article_id AND position = s.position {sign} 1"
    return (
        f"coalesce((SELECT id FROM sentences WHERE id = s.id {sign} 1 AND {same}),"
        f" (SELECT id FROM sentences WHERE {same}))"
    )


def _placeholders(values: Sequence[object]) -> str:
    return ",".join("?" * len(values))


@lru_cache(maxsize=256)  # one text per count of sentences and articles: built once, not per answer
def _windows_and_articles_sql(n_sentences: int, n_articles: int) -> tuple[str, int]:
    """SQLiteStore.windows_and_articles's statement for that many ids, and the width of its window part."""
    # One row shape for both parts: a window's columns, then an article's columns and its text.
    window = (
        's.id, s.article_id, s.position, s.start, s."end", p.start, p."end", n.id, n.start, n."end",'
        " s.terms, p.terms, n.terms"
    )
    width = len(window.split(","))
    no_article = ", ".join(["NULL"] * (len(ARTICLE_COLUMNS.split(",")) + 2))
    sentences = ",".join("?" * n_sentences)
    sql = (
        f"SELECT {window}, {no_article}"
        " FROM sentences s"
        f" LEFT JOIN sentences p ON p.id = CASE WHEN s.position > 0 THEN {_neighbour_id('-')} END"
        f" LEFT JOIN sentences n ON n.id = {_neighbour_id('+')}"
        f" WHERE s.id IN ({sentences})"
        f" UNION ALL SELECT {', '.join(['NULL'] * width)}, {ARTICLE_COLUMNS}, text, substr(terms, 1, {TITLE_HEAD_BYTES})"
        f" FROM articles WHERE id IN (SELECT article_id FROM sentences WHERE id IN ({sentences}))"
        f" OR id IN ({','.join('?' * n_articles)})"
    )
    return sql, width


def contains_pattern(search: str) -> str:
    """A LIKE pattern for text holding ``search`` as typed: its %, _ and \\ escaped by a backslash (SQLite's ESCAPE
    '\\', PostgreSQL's default)."""
    return "%" + re.sub(r"([%_\\])", r"\\\1", search) + "%"


def _listed(scopes: Sequence[str], search: str | None) -> tuple[str, list[object]]:
    """SQLiteStore.list_articles's and count_articles's condition: the scopes, and titles, outlets or an id holding
    ``search``."""
    where, params = f"scope IN ({_placeholders(scopes)})", list[object](scopes)
    if search:
        where += " AND (title LIKE ? ESCAPE '\\' OR source LIKE ? ESCAPE '\\' OR CAST(id AS TEXT) = ?)"
        like = contains_pattern(search)
        params += [like, like, search.strip()]
    return where, params


ReadView = Any  # a connection inside one consistent read transaction; only the store that made it uses it


class Store(Protocol):
    """What the rest of citebot may ask of a store; SQLiteStore and PostgresStore both implement all of it.

    Writes are serialised store-wide (one writer at a time), so change-log numbers follow commit order.
    """

    @property
    def path(self) -> Path:
        """The local file the index snapshot, run lock and heartbeat are kept beside."""
        ...

    async def close(self) -> None: ...
    async def existing_hashes(self, scope: str, hashes: Iterable[str]) -> dict[str, int]: ...
    async def same_origin(self, scope: str, origins: Iterable[str]) -> list[OriginRow]: ...
    async def from_files_under(self, scope: str, prefix: str) -> list[FileOrigin]:
        """The scope's articles added by a host's command (no member added them) whose origin starts with
        ``prefix``: what `citebot index FOLDER` added from that folder, and what a member's upload never is."""
        ...

    async def set_origin(self, article_ids: Sequence[int], origin: str) -> None:
        """Where these articles now come from (a renamed file); the index is unaffected."""
        ...

    async def insert_articles(
        self,
        build: ArticleBuilder,
        known_terms: int,
        analysis: str | None = None,
    ) -> list[InsertedArticle | None]:
        """``analysis``: the version of the analysis that made the terms; the transaction refuses to write them
        into a store another version has re-tokenised (other_analysis)."""
        ...

    async def delete_article(self, article_id: int, scopes: Sequence[str]) -> RemovedArticle | None: ...
    async def get_article(
        self, article_id: int, scopes: Sequence[str], *, with_text: bool = False
    ) -> StoredArticle | None: ...
    async def articles_by_id(self, ids: Sequence[int], db: ReadView | None = None) -> dict[int, StoredArticle]: ...
    async def list_articles(
        self, scopes: Sequence[str], *, offset: int = 0, limit: int = 50, search: str | None = None
    ) -> list[StoredArticle]: ...
    async def count_articles(self, scopes: Sequence[str], *, search: str | None = None) -> int: ...
    async def count_all_articles(self, *, up_to: int | None = None) -> int: ...
    async def sentence_texts(self, sentence_ids: Sequence[int]) -> dict[int, tuple[int, str]]: ...
    async def sentence_windows(
        self, sentence_ids: Sequence[int], db: ReadView | None = None
    ) -> dict[int, SentenceWindow]: ...
    async def windows_and_articles(
        self, sentence_ids: Sequence[int], article_ids: Sequence[int], db: ReadView | None = None
    ) -> tuple[dict[int, SentenceWindow], dict[int, StoredArticle]]:
        """The answer's one read (``db``: through that view of read_transaction, else the latest state)."""
        ...

    async def vocabulary(self) -> list[tuple[int, str]]: ...
    def read_transaction(self) -> AbstractAsyncContextManager[ReadView]: ...
    async def index_articles(self, db: ReadView) -> list[tuple[int, str, bytes]]: ...
    def index_rows(self, db: ReadView, batch: int = 50_000) -> AsyncIterator[list[tuple[int, int, bytes]]]: ...
    async def data_version(self) -> int: ...
    async def last_seq(self, db: ReadView | None = None) -> int: ...
    async def wait_for_change(self, timeout: float) -> None:
        """Return when another process may have written (a notification), or after ``timeout`` seconds."""
        ...

    async def change_at(self, seq: int) -> ChangeRef | None:
        """What log entry ``seq`` did (kind, article, and that article's content hash while it is stored); None
        when this store has no such entry."""
        ...

    async def changes_since(
        self, seq: int, known_terms: int, limit: int = 2_000, db: ReadView | None = None
    ) -> ChangeBatch:
        """Up to ``limit`` log entries after ``seq``; a single 'reset' when entries after ``seq`` were pruned.
        ``db``: read through that view of read_transaction (else one of its own)."""
        ...

    async def prune_changes(self, before: int) -> int:
        """Delete the log entries numbered below ``before`` (never the newest: numbering continues after it)
        and record how far the log is pruned (meta ``changes_pruned_through``), in the same transactions.
        Returns how many entries were deleted."""
        ...

    async def articles_after(
        self, after_id: int, limit: int
    ) -> list[tuple[int, str | None, str, list[tuple[int, str]]]]: ...
    async def rewrite_terms(
        self,
        build: TermRewrite,
        known_terms: int,
        progress: dict[str, str],
    ) -> None: ...
    async def finish_reindex(self, analysis: str, progress_keys: Sequence[str]) -> None: ...
    async def get_meta(self, key: str) -> str | None: ...
    async def set_meta(self, key: str, value: str | None) -> None: ...
    async def log_query(self, entry: LoggedQuestion) -> int: ...
    async def set_vote(self, query_id: int, scope: str, user_id: str, value: int) -> bool: ...
    async def get_query(self, query_id: int) -> tuple[str, str] | None: ...
    async def votes(self, query_id: int) -> dict[str, int]: ...
    async def delete_queries_before(self, cutoff: str) -> int: ...
    async def forget_user(self, user_id: str) -> tuple[int, int, int]: ...
    async def gaps(self, scope: str, limit: int = 10, days: int = 30) -> list[Gap]: ...
    async def get_setting(self, scope: str, key: str) -> str | None: ...
    async def set_setting(self, scope: str, key: str, value: str | None) -> None: ...
    async def integrity_check(self) -> str: ...
    def iter_articles(
        self, scopes: Sequence[str] | None = None, *, batch: int = 500
    ) -> AsyncIterator[list[StoredArticle]]: ...


async def open_store(location: str | Path, *, readonly: bool = False) -> Store:
    """The store at ``location``: a path or sqlite:/// URL (SQLite), or a postgresql:// URL.

    ``readonly``: no migration and no write (for readers beside the bot, e.g. `citebot export`).
    """
    if is_postgres(location):
        from bot.core.store_postgres import PostgresStore  # asyncpg is imported only when it is used

        return await PostgresStore.open(str(location), readonly=readonly)
    path = sqlite_path(location)
    return await (SQLiteStore.open_readonly(path) if readonly else SQLiteStore.open(path))


@dataclass(frozen=True, slots=True)
class ReadOnlyAccess:
    """How this process opens the SQLite store at ``path`` to read it without writing anything.

    SQLite reads a store in WAL mode through its -shm file, which it creates when no process has the store open; in a
    folder this process may not write (a read-only volume) every read then failed with "unable to open database
    file". With neither a -shm nor a -wal file there, the store file alone holds every committed change, so it is
    read as immutable (no -shm, no locks). SQLite then no longer notices a process writing the file meanwhile (a bot
    started on it), so the reader calls ``check_unchanged`` when done and discards what it read if the file changed.
    """

    path: Path
    uri: str
    immutable_as: tuple[int, int, int] | None  # the file's (inode, size, mtime) when read as immutable

    @classmethod
    def of(cls, path: Path) -> ReadOnlyAccess:
        uri = path.resolve().as_uri()
        shm, wal = (path.with_name(f"{path.name}{suffix}") for suffix in ("-shm", "-wal"))
        if os.access(path.resolve().parent, os.W_OK) or shm.exists():  # SQLite reads through a -shm it may read
            return cls(path, uri + "?mode=ro", None)
        if wal.exists() and wal.stat().st_size > 0:
            raise StoreUnavailable(
                f"cannot read the store {path}: its folder is read-only here, and {wal.name} holds changes SQLite "
                f"reads only through a {shm.name} file it must create beside it. Run this where the folder is "
                f"writable (where the bot runs), or copy {path.name} and {wal.name} together into a writable folder "
                "and give the copy with --db."
            )
        return cls(path, uri + "?immutable=1", _file_stamp(path))

    def check_unchanged(self) -> None:
        """Raise StoreUnavailable if the store file read as immutable was written while it was read."""
        if self.immutable_as is not None and _file_stamp(self.path) != self.immutable_as:
            raise StoreUnavailable(
                f"the store {self.path} changed while it was read from its read-only folder (a citebot process "
                "started on it?), so what was read may mix two states: run this again."
            )


def _file_stamp(path: Path) -> tuple[int, int, int]:
    status = path.stat()
    return status.st_ino, status.st_size, status.st_mtime_ns


async def connect(target: str | Path, **options: Any) -> aiosqlite.Connection:
    """aiosqlite.connect, seen through even when the command is cancelled meanwhile (Ctrl-C, SIGTERM): cancelled
    while its thread opened the file, aiosqlite left that thread to report to an event loop that asyncio.run had
    closed by then, a thread's traceback after the command had stopped. The connection is closed, then the cancel
    goes on."""
    proxy = aiosqlite.connect(target, **options)
    # aiosqlite (0.22) runs each connection on a thread that keeps the process alive until the connection is closed:
    # a command ended by an error before it closed one hung at exit, silently, for good. A daemon thread ends with
    # the process (a write cut short is rolled back, as after a crash).
    if isinstance(thread := getattr(proxy, "_thread", None), threading.Thread):
        thread.daemon = True
    opening = asyncio.ensure_future(proxy)
    try:
        return await asyncio.shield(opening)
    except asyncio.CancelledError:
        with contextlib.suppress(Exception):  # a connection that failed to open has nothing to close
            await (await opening).close()
        raise


class SQLiteStore:
    def __init__(
        self,
        path: Path,
        writer: aiosqlite.Connection,
        reader: aiosqlite.Connection,
        reading: ReadOnlyAccess | None = None,
    ) -> None:
        self.path = path
        self._reading = reading or ReadOnlyAccess.of(path)  # how the connections of its own that only read open it
        self._writer = writer
        self._reader = reader
        self._write_lock = asyncio.Lock()
        self._loop_reader: sqlite3.Connection | None = None  # for the reads on the event loop (_on_loop)
        self._unknown_versions = 0

    @classmethod
    async def open(cls, path: Path) -> SQLiteStore:
        if path.is_dir():  # SQLite would only say "unable to open database file", and no permission is at fault
            raise StoreUnavailable(f"the store {path} {a_folder(path)} (CITEBOT_DB or --db)")
        try:
            path.parent.mkdir(parents=True, exist_ok=True)
            writer = await connect(path, isolation_level=None)
        except (OSError, sqlite3.OperationalError) as error:
            raise _not_writable(path, error) from error
        reader: aiosqlite.Connection | None = None
        try:
            await writer.execute("PRAGMA busy_timeout=10000")  # first: switching to WAL waits for other writers too
            await writer.execute("PRAGMA journal_mode=WAL")
            await writer.execute("PRAGMA synchronous=NORMAL")  # WAL + NORMAL: durable against app crashes
            await writer.execute("PRAGMA foreign_keys=ON")
            await _migrate(writer, path)
            await probe_write(writer)
            reader = await connect(path, isolation_level=None)
            await reader.execute("PRAGMA busy_timeout=10000")
            await reader.execute("PRAGMA query_only=ON")
        except BaseException as error:
            if reader is not None:
                await reader.close()
            await writer.close()
            explained = unusable_store(path, error)
            if explained is not None:
                raise explained from error
            raise
        return cls(path, writer, reader)

    async def close(self) -> None:
        async with self._write_lock:
            if self._loop_reader is not None:
                self._loop_reader.close()
            await self._reader.close()
            await self._writer.close()

    @asynccontextmanager
    async def _transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        async with self._write_lock:
            await self._writer.execute("BEGIN IMMEDIATE")
            try:
                yield self._writer
                await self._writer.execute("COMMIT")
            except BaseException as error:
                # A full disk or an I/O error rolls the transaction back by itself (even from COMMIT): a ROLLBACK
                # then fails, and its error would hide the one that says what happened.
                if self._writer.in_transaction:
                    await self._writer.execute("ROLLBACK")
                # Not "not writable": a store opened read-only on purpose (open_readonly) refuses writes as it should.
                if _disk_full(error):
                    raise _no_room(self.path) from error
                if _sqlite_code(error) in _DAMAGED:
                    raise _damaged(self.path, error) from error
                raise

    # -- articles ---------------------------------------------------------------------------------------
    async def existing_hashes(self, scope: str, hashes: Iterable[str]) -> dict[str, int]:
        """Which of these content hashes the scope already holds, mapped to the article id."""
        wanted = list(hashes)
        found: dict[str, int] = {}
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            sql = f"SELECT content_hash, id FROM articles WHERE scope = ? AND content_hash IN ({_placeholders(chunk)})"
            found.update({h: i for h, i in await self._reader.execute_fetchall(sql, (scope, *chunk))})
        return found

    async def same_origin(self, scope: str, origins: Iterable[str]) -> list[OriginRow]:
        wanted = list(origins)
        rows: list[OriginRow] = []
        for i in range(0, len(wanted), 500):
            chunk = wanted[i : i + 500]
            sql = (
                "SELECT id, external_id, title, origin FROM articles"
                f" WHERE scope = ? AND origin IN ({_placeholders(chunk)})"
            )
            rows += [OriginRow(*row) for row in await self._reader.execute_fetchall(sql, (scope, *chunk))]
        return rows

    async def from_files_under(self, scope: str, prefix: str) -> list[FileOrigin]:
        # substr, not LIKE: a folder's name may hold % or _
        sql = (
            "SELECT id, title, origin FROM articles"
            " WHERE scope = ? AND added_by IS NULL AND substr(origin, 1, ?) = ? ORDER BY id"
        )
        return [FileOrigin(*row) for row in await self._reader.execute_fetchall(sql, (scope, len(prefix), prefix))]

    async def set_origin(self, article_ids: Sequence[int], origin: str) -> None:
        async with self._transaction() as db:
            await db.executemany("UPDATE articles SET origin = ? WHERE id = ?", [(origin, i) for i in article_ids])

    async def insert_articles(
        self,
        build: ArticleBuilder,
        known_terms: int,
        analysis: str | None = None,
    ) -> list[InsertedArticle | None]:
        """Insert articles and the vocabulary they introduce in ONE transaction: all or nothing.

        Term ids are assigned inside the transaction: ``build`` first receives the terms other processes
        stored since ``known_terms`` (the write lock is exclusive, so none can appear meanwhile) and returns
        the articles and the new (id, term) pairs. Ids assigned outside could clash with another writer's.
        An article whose (scope, content hash) is already stored yields None (re-adding is a no-op).
        """
        async with self._transaction() as db:
            if analysis is not None:
                async with db.execute("SELECT value FROM meta WHERE key = 'analysis'") as cursor:
                    row = await cursor.fetchone()
                if refused := other_analysis(self.path, None if row is None else str(row[0]), analysis):
                    raise refused
            others = await self._terms_since(db, known_terms)
            # In a worker thread: handing out term ids for a 200-article batch is a few hundred thousand dict
            # look-ups, which on the loop stalled questions for up to 0.3 s on a busy machine.
            items, new_terms = await asyncio.to_thread(build, others)
            await db.executemany("INSERT INTO terms (id, term) VALUES (?, ?)", new_terms)
            # A few statements per batch, not per article: ids are handed out here, inside the exclusive write
            # transaction, after the ones SQLite last gave (AUTOINCREMENT: never reused), and duplicates are
            # looked up here too, so no insert can conflict (one that did would fail the whole batch).
            stored: set[tuple[str, str]] = set()
            for scope in {item.scope for item in items}:
                hashes = [item.content_hash for item in items if item.scope == scope]
                for i in range(0, len(hashes), 500):
                    chunk = hashes[i : i + 500]
                    sql = f"SELECT content_hash FROM articles WHERE scope = ? AND content_hash IN ({_placeholders(chunk)})"
                    stored.update((scope, str(h)) for (h,) in await db.execute_fetchall(sql, (scope, *chunk)))
            article_id, sentence_id, seq = await self._last_ids(db, ("articles", "sentences", "changes"))
            results: list[InsertedArticle | None] = []
            article_rows, sentence_rows, change_rows = [], [], []
            for item in items:
                if (item.scope, item.content_hash) in stored:  # stored before, or earlier in this batch
                    results.append(None)
                    continue
                stored.add((item.scope, item.content_hash))
                article_id, seq = article_id + 1, seq + 1
                a = item.article
                article_rows.append(
                    (
                        article_id,
                        item.scope,
                        item.content_hash,
                        a.external_id,
                        a.title,
                        a.source,
                        a.date,
                        a.url,
                        a.author,
                        a.text,
                        item.origin,
                        item.added_by,
                        item.added_at,
                        item.terms,
                    )
                )
                sentence_ids = list(range(sentence_id + 1, sentence_id + 1 + len(item.sentences)))
                sentence_id += len(item.sentences)
                sentence_rows += [
                    (i, article_id, pos, start, end, terms)
                    for i, (pos, (start, end, terms)) in zip(sentence_ids, enumerate(item.sentences), strict=True)
                ]
                change_rows.append((seq, article_id))
                results.append(InsertedArticle(article_id, sentence_ids, seq))
            await db.executemany(
                "INSERT INTO articles (id, scope, content_hash, external_id, title, source, date, url, author, text,"
                " origin, added_by, added_at, terms)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, COALESCE(?, strftime('%Y-%m-%dT%H:%M:%SZ', 'now')), ?)",
                article_rows,
            )
            await db.executemany(
                'INSERT INTO sentences (id, article_id, position, start, "end", terms) VALUES (?, ?, ?, ?, ?, ?)',
                sentence_rows,
            )
            await db.executemany("INSERT INTO changes (seq, kind, article_id) VALUES (?, 'add', ?)", change_rows)
        return results

    @staticmethod
    async def _terms_since(db: aiosqlite.Connection, known_terms: int) -> list[tuple[int, str]]:
        """The vocabulary's (id, term) pairs from ``known_terms`` on, in id order. One trip to the connection's
        thread (execute_fetchall), not three (execute, fetch, close)."""
        sql = "SELECT id, term FROM terms WHERE id >= ? ORDER BY id"
        return [(int(i), str(t)) for i, t in await db.execute_fetchall(sql, (known_terms,))]

    @staticmethod
    async def _last_ids(db: aiosqlite.Connection, tables: Sequence[str]) -> list[int]:
        """The largest id each AUTOINCREMENT table has ever handed out (0 for none)."""
        sql = f"SELECT name, seq FROM sqlite_sequence WHERE name IN ({_placeholders(tables)})"
        last = {str(name): int(seq) for name, seq in await db.execute_fetchall(sql, tuple(tables))}
        return [last.get(table, 0) for table in tables]

    async def delete_article(self, article_id: int, scopes: Sequence[str]) -> RemovedArticle | None:
        """Delete an article (and its sentences) if it belongs to one of ``scopes``; one transaction."""
        async with self._transaction() as db:
            sql = f"SELECT {ARTICLE_COLUMNS}, terms FROM articles WHERE id = ? AND scope IN ({_placeholders(scopes)})"
            async with db.execute(sql, (article_id, *scopes)) as cursor:
                row = await cursor.fetchone()
            if row is None:
                return None
            async with db.execute(
                "SELECT id, terms FROM sentences WHERE article_id = ? ORDER BY id", (article_id,)
            ) as cursor:
                sentences = [(int(i), bytes(t)) for i, t in await cursor.fetchall()]
            await db.execute("DELETE FROM sentences WHERE article_id = ?", (article_id,))
            await db.execute("DELETE FROM articles WHERE id = ?", (article_id,))
            change = await db.execute(
                "INSERT INTO changes (kind, article_id, removed) VALUES ('remove', ?, ?)",
                (article_id, pack_removed(bytes(row[-1]), sentences)),
            )
            assert change.lastrowid is not None
        return RemovedArticle(stored_article(row[:-1]), bytes(row[-1]), sentences, change.lastrowid)

    async def get_article(
        self, article_id: int, scopes: Sequence[str], *, with_text: bool = False
    ) -> StoredArticle | None:
        columns = ARTICLE_COLUMNS + (", text" if with_text else "")
        sql = f"SELECT {columns} FROM articles WHERE id = ? AND scope IN ({_placeholders(scopes)})"
        async with self._reader.execute(sql, (article_id, *scopes)) as cursor:
            row = await cursor.fetchone()
        if row is None:
            return None
        return stored_article(row[:11], row[11] if with_text else "")

    async def articles_by_id(
        self, ids: Sequence[int], db: aiosqlite.Connection | None = None
    ) -> dict[int, StoredArticle]:
        found: dict[int, StoredArticle] = {}
        for i in range(0, len(ids), 500):
            chunk = list(ids[i : i + 500])
            sql = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id IN ({_placeholders(chunk)})"
            # execute_fetchall: one trip to the connection's thread instead of three (execute, fetch, close)
            rows = await (db or self._reader).execute_fetchall(sql, chunk)
            found.update({row[0]: stored_article(row) for row in rows})
        return found

    async def list_articles(
        self, scopes: Sequence[str], *, offset: int = 0, limit: int = 50, search: str | None = None
    ) -> list[StoredArticle]:
        """Newest first. ``search`` filters titles, outlets and ids (for autocomplete)."""
        where, params = _listed(scopes, search)
        sql = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE {where} ORDER BY id DESC LIMIT ? OFFSET ?"
        async with self._reader.execute(sql, (*params, limit, offset)) as cursor:
            return [stored_article(row) for row in await cursor.fetchall()]

    async def count_articles(self, scopes: Sequence[str], *, search: str | None = None) -> int:
        """Articles in ``scopes`` (that ``search`` finds, as list_articles does)."""
        where, params = _listed(scopes, search)
        async with self._reader.execute(f"SELECT COUNT(*) FROM articles WHERE {where}", params) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def count_all_articles(self, *, up_to: int | None = None) -> int:
        """Articles in every scope (with ids up to ``up_to``)."""
        sql = "SELECT COUNT(*) FROM articles" + ("" if up_to is None else " WHERE id <= ?")
        async with self._reader.execute(sql, () if up_to is None else (up_to,)) as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def sentence_texts(self, sentence_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        """sentence id → (article id, verbatim text); ids no longer stored are simply absent."""
        found: dict[int, tuple[int, str]] = {}
        for i in range(0, len(sentence_ids), 500):
            chunk = [int(x) for x in sentence_ids[i : i + 500]]
            sql = (
                'SELECT s.id, s.article_id, substr(a.text, s.start + 1, s."end" - s.start) '
                f"FROM sentences s JOIN articles a ON a.id = s.article_id WHERE s.id IN ({_placeholders(chunk)})"
            )
            async with self._reader.execute(sql, chunk) as cursor:
                found.update({sid: (aid, text) for sid, aid, text in await cursor.fetchall()})
        return found

    async def sentence_windows(
        self, sentence_ids: Sequence[int], db: aiosqlite.Connection | None = None
    ) -> dict[int, SentenceWindow]:
        """sentence id → the sentence with its neighbours in the article (for the reader); absent if removed."""
        found: dict[int, SentenceWindow] = {}
        for i in range(0, len(sentence_ids), 300):
            chunk = [int(x) for x in sentence_ids[i : i + 300]]
            sql = (
                'SELECT s.id, s.article_id, s.position, substr(a.text, s.start + 1, s."end" - s.start),'
                ' substr(a.text, p.start + 1, p."end" - p.start), n.id, substr(a.text, n.start + 1, n."end" - n.start),'
                " s.terms, p.terms, n.terms"
                " FROM sentences s JOIN articles a ON a.id = s.article_id"
                " LEFT JOIN sentences p ON p.article_id = s.article_id AND p.position = s.position - 1"
                " LEFT JOIN sentences n ON n.article_id = s.article_id AND n.position = s.position + 1"
                f" WHERE s.id IN ({_placeholders(chunk)})"
            )
            rows = await (db or self._reader).execute_fetchall(sql, chunk)
            for sid, aid, position, text, previous, next_id, next_text, *terms in rows:
                found[sid] = SentenceWindow(aid, position, text, previous, next_id, next_text, *terms)
        return found

    async def windows_and_articles(
        self, sentence_ids: Sequence[int], article_ids: Sequence[int], db: aiosqlite.Connection | None = None
    ) -> tuple[dict[int, SentenceWindow], dict[int, StoredArticle]]:
        """What an answer reads, in one statement (one trip to the reader's thread, one consistent view):
        sentence_windows(sentence_ids), and articles_by_id of ``article_ids`` and of every window's article.

        The sentences come as offsets and each article's text once, cut here: a third less work for SQLite than
        three substr() per sentence, each reading its article's text again (str slices count code points, as
        substr counts characters)."""
        if len(sentence_ids) > 300 or len(article_ids) > 300:  # past one statement's parameters: two reads
            return await windows_then_articles(self, sentence_ids, article_ids, db)
        sentences, articles = [int(x) for x in sentence_ids], [int(x) for x in article_ids]
        sql, width = _windows_and_articles_sql(len(sentences), len(articles))
        params = [*sentences, *sentences, *articles]
        rows = self._read_now(sql, params) if db is None else None
        if rows is None:  # SQLite busy (through the reader's thread, which waits for it), or read through ``db``
            rows = list(await (db or self._reader).execute_fetchall(sql, params))
        texts: dict[int, tuple[str, bytes]] = {}
        found: dict[int, StoredArticle] = {}
        for row in rows:
            if row[0] is None:
                found[row[width]] = stored_article(row[width:-2])
                texts[row[width]] = row[-2], row[-1]
        windows: dict[int, SentenceWindow] = {}
        for (
            sid,
            aid,
            position,
            start,
            end,
            p_start,
            p_end,
            next_id,
            n_start,
            n_end,
            terms,
            p_terms,
            n_terms,
            *_,
        ) in rows:
            if sid is not None and aid in texts:
                text, head = texts[aid]
                previous = None if p_start is None else text[p_start:p_end]
                following = None if n_start is None else text[n_start:n_end]
                windows[sid] = SentenceWindow(
                    aid, position, text[start:end], previous, next_id, following, terms, p_terms, n_terms, head
                )
        return windows, found

    # -- what the index is rebuilt from ------------------------------------------------------------------
    async def vocabulary(self) -> list[tuple[int, str]]:
        async with self._reader.execute("SELECT id, term FROM terms ORDER BY id") as cursor:
            return [(int(i), t) for i, t in await cursor.fetchall()]

    async def index_articles(self, db: aiosqlite.Connection) -> list[tuple[int, str, bytes]]:
        """(article id, scope, terms) in id order, read through ``db`` (see read_transaction)."""
        async with db.execute("SELECT id, scope, terms FROM articles ORDER BY id") as cursor:
            return [(int(i), s, bytes(t)) for i, s, t in await cursor.fetchall()]

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[aiosqlite.Connection]:
        """One consistent view of the store for several reads (WAL: writers carry on meanwhile).

        A connection of its own, so the shared reader's questions neither join nor pin this view.
        """
        connection = await connect(self._reading.uri, uri=True, isolation_level=None)
        try:
            await connection.execute("PRAGMA busy_timeout=10000")
            await connection.execute("BEGIN")  # deferred: the view starts at the first read, ends at close
            yield connection
        finally:
            await connection.close()

    async def index_rows(
        self, db: aiosqlite.Connection, batch: int = 50_000
    ) -> AsyncIterator[list[tuple[int, int, bytes]]]:
        """(sentence id, article id, terms) in id order, in batches, so a big store streams; read through ``db``."""
        last = 0
        while True:
            async with db.execute(
                "SELECT id, article_id, terms FROM sentences WHERE id > ? ORDER BY id LIMIT ?", (last, batch)
            ) as cursor:
                rows = [(int(i), int(a), bytes(t)) for i, a, t in await cursor.fetchall()]
            if not rows:
                return
            yield rows
            last = rows[-1][0]

    # -- the change log ------------------------------------------------------------------------------------
    def _on_loop(self) -> sqlite3.Connection:
        """A read-only connection of its own for the reads made on the event loop, opened when first needed.
        No busy timeout: when SQLite is busy, the caller gets an error at once instead of stalling the loop."""
        if self._loop_reader is None:
            self._loop_reader = sqlite3.connect(
                self._reading.uri, uri=True, isolation_level=None, check_same_thread=False
            )
            self._loop_reader.execute("PRAGMA busy_timeout=0")
        return self._loop_reader

    def _read_now(self, sql: str, params: Sequence[Any]) -> list[Any] | None:
        """``sql``'s rows, read on the event loop (None when SQLite is busy): the answer's one read takes a few
        tenths of a millisecond of SQLite and a little Python, and a trip to the reader's thread added about 0.25 ms
        to it when idle (two thread wake-ups) and far more when both cores are busy, waiting for one. A read from
        the page cache; a cold one stalls the loop as long as the disk takes, as the index work beside it does."""
        try:
            return self._on_loop().execute(sql, params).fetchall()
        except sqlite3.Error:
            return None

    async def data_version(self) -> int:
        """Changes whenever another connection commits: a cheap test of "has anything changed?".

        Asked before every answer, so asked here, on the event loop, of a read-only connection of its own: a few
        microseconds, where a trip to the reader's thread takes ten times that, and far more when both cores are
        busy. It never waits for a lock (no busy timeout): should SQLite be busy, the answer is a number never
        given before (negative), so the caller looks at the change log itself."""
        try:
            row = self._on_loop().execute("PRAGMA data_version").fetchone()
        except sqlite3.Error:
            self._unknown_versions -= 1
            return self._unknown_versions
        return int(row[0]) if row else 0

    async def last_seq(self, db: aiosqlite.Connection | None = None) -> int:
        async with (db or self._reader).execute("SELECT COALESCE(MAX(seq), 0) FROM changes") as cursor:
            row = await cursor.fetchone()
        return int(row[0]) if row else 0

    async def wait_for_change(self, timeout: float) -> None:
        """SQLite cannot announce another process's commit: poll (a data_version test is cheap)."""
        await asyncio.sleep(timeout)

    async def change_at(self, seq: int) -> ChangeRef | None:
        async with self._reader.execute(CHANGE_AT_SQL.replace("$1", "?"), (seq,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else ChangeRef(str(row[0]), row[1], row[2])

    async def changes_since(
        self, seq: int, known_terms: int, limit: int = 2_000, db: aiosqlite.Connection | None = None
    ) -> ChangeBatch:
        """Up to ``limit`` log entries after ``seq``, with the stored rows they refer to, read in one view."""
        if db is None:
            async with self.read_transaction() as view:
                return await self.changes_since(seq, known_terms, limit, view)
        async with db.execute("SELECT value FROM meta WHERE key = ?", (PRUNED_KEY,)) as cursor:
            row = await cursor.fetchone()
        if (pruned := int(row[0]) if row else 0) > seq:
            return pruned_batch(pruned, seq)
        async with db.execute(
            "SELECT c.seq, c.kind, c.article_id, c.removed, a.scope, a.terms FROM changes c"
            " LEFT JOIN articles a ON c.kind = 'add' AND a.id = c.article_id"
            " WHERE c.seq > ? ORDER BY c.seq LIMIT ?",
            (seq, limit),
        ) as cursor:
            rows = list(await cursor.fetchall())
        added = [int(r[2]) for r in rows if r[1] == "add" and r[4] is not None]
        sentences: dict[int, list[tuple[int, npt.NDArray[np.int64]]]] = {a: [] for a in added}
        for i in range(0, len(added), 500):
            chunk = added[i : i + 500]
            sql = (
                f"SELECT id, article_id, terms FROM sentences WHERE article_id IN ({_placeholders(chunk)}) ORDER BY id"
            )
            async with db.execute(sql, chunk) as cursor:
                for sentence_id, article_id, blob in await cursor.fetchall():
                    sentences[article_id].append((int(sentence_id), unpack_terms(blob)))
        new_terms = await self._terms_since(db, known_terms)
        return change_batch(rows, sentences, new_terms, seq)

    async def prune_changes(self, before: int) -> int:
        deleted = 0
        while True:
            async with self._transaction() as db:
                async with db.execute("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM changes") as cursor:
                    row = await cursor.fetchone()
                oldest, newest = (int(row[0]), int(row[1])) if row else (0, 0)
                upto = min(before, newest, oldest + PRUNE_BATCH)  # delete seq < upto
                if upto <= oldest:
                    return deleted
                async with db.execute("DELETE FROM changes WHERE seq < ?", (upto,)) as cursor:
                    deleted += max(cursor.rowcount, 0)
                await _set_meta(db, PRUNED_KEY, str(upto - 1))

    # -- re-tokenising (citebot reindex) --------------------------------------------------------------------
    async def articles_after(
        self, after_id: int, limit: int
    ) -> list[tuple[int, str | None, str, list[tuple[int, str]]]]:
        """(id, title, text, [(sentence id, sentence text)]) of the next ``limit`` articles after ``after_id``."""
        async with self._reader.execute(
            "SELECT id, title, text FROM articles WHERE id > ? ORDER BY id LIMIT ?", (after_id, limit)
        ) as cursor:
            rows = await cursor.fetchall()
        out = []
        for article_id, title, body in rows:
            async with self._reader.execute(
                'SELECT id, start, "end" FROM sentences WHERE article_id = ? ORDER BY position', (article_id,)
            ) as cursor:
                spans = [(int(i), body[start:end]) for i, start, end in await cursor.fetchall()]
            out.append((int(article_id), title, body, spans))
        return out

    async def rewrite_terms(
        self,
        build: TermRewrite,
        known_terms: int,
        progress: dict[str, str],
    ) -> None:
        """Replace articles' and sentences' term blobs and record ``progress`` in ``meta``, in ONE transaction.

        ``build`` gets the terms others stored since ``known_terms`` (as in insert_articles) and returns
        (article id, terms) pairs, (sentence id, terms) pairs and the new (term id, term) pairs.
        """
        async with self._transaction() as db:
            others = await self._terms_since(db, known_terms)
            articles, sentences, new_terms = build(others)
            await db.executemany("INSERT INTO terms (id, term) VALUES (?, ?)", new_terms)
            await db.executemany("UPDATE articles SET terms = ? WHERE id = ?", [(t, i) for i, t in articles])
            await db.executemany("UPDATE sentences SET terms = ? WHERE id = ?", [(t, i) for i, t in sentences])
            for key, value in progress.items():
                await _set_meta(db, key, value)

    async def finish_reindex(self, analysis: str, progress_keys: Sequence[str]) -> None:
        """The stored terms are all ``analysis``'s now; a 'reset' entry makes every running index rebuild."""
        async with self._transaction() as db:
            await _set_meta(db, "analysis", analysis)
            for key in progress_keys:
                await _set_meta(db, key, None)
            await db.execute("INSERT INTO changes (kind) VALUES ('reset')")

    async def get_meta(self, key: str) -> str | None:
        async with self._reader.execute("SELECT value FROM meta WHERE key = ?", (key,)) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_meta(self, key: str, value: str | None) -> None:
        async with self._transaction() as db:
            await _set_meta(db, key, value)

    # -- queries, feedback, settings ---------------------------------------------------------------------
    async def log_query(self, entry: LoggedQuestion) -> int:
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO queries (question, scope, user_id, abstained, latency_ms, n_quotes, hedged)"
                " VALUES (?, ?, ?, ?, ?, ?, ?)",
                (
                    entry.question,
                    entry.scope,
                    entry.user_id,
                    int(entry.abstained),
                    entry.latency_ms,
                    entry.n_quotes,
                    int(entry.hedged),
                ),
            )
            assert cursor.lastrowid is not None
            return cursor.lastrowid

    async def set_vote(self, query_id: int, scope: str, user_id: str, value: int) -> bool:
        """One vote per (question, member), changed by clicking again; only for a question asked in ``scope``."""
        async with self._transaction() as db:
            cursor = await db.execute(
                "INSERT INTO votes (query_id, user_id, value) SELECT id, ?, ? FROM queries WHERE id = ? AND scope = ?"
                " ON CONFLICT (query_id, user_id) DO UPDATE SET value = excluded.value, voted_at = excluded.voted_at",
                (user_id, value, query_id, scope),
            )
            return cursor.rowcount > 0

    async def get_query(self, query_id: int) -> tuple[str, str] | None:
        """(question, scope) of a logged question, e.g. to answer "More quotes" after a restart."""
        async with self._reader.execute("SELECT question, scope FROM queries WHERE id = ?", (query_id,)) as cursor:
            row = await cursor.fetchone()
        return (str(row[0]), str(row[1])) if row else None

    async def votes(self, query_id: int) -> dict[str, int]:
        """Member id → +1 or -1 for one question."""
        async with self._reader.execute("SELECT user_id, value FROM votes WHERE query_id = ?", (query_id,)) as cursor:
            return {str(u): int(v) for u, v in await cursor.fetchall()}

    async def delete_queries_before(self, cutoff: str) -> int:
        """Delete questions asked before ``cutoff`` (ISO UTC, as asked_at is stored) and their votes."""
        async with self._transaction() as db:
            cursor = await db.execute("DELETE FROM queries WHERE asked_at < ?", (cutoff,))
            return cursor.rowcount

    async def forget_user(self, user_id: str) -> tuple[int, int, int]:
        """Delete a member's questions and votes and their name on articles they added: (questions, votes, articles)."""
        async with self._transaction() as db:
            votes = (await db.execute("DELETE FROM votes WHERE user_id = ?", (user_id,))).rowcount
            questions = (await db.execute("DELETE FROM queries WHERE user_id = ?", (user_id,))).rowcount
            articles = (await db.execute("UPDATE articles SET added_by = NULL WHERE added_by = ?", (user_id,))).rowcount
        return questions, votes, articles

    async def gaps(self, scope: str, limit: int = 10, days: int = 30) -> list[Gap]:
        """Recent questions that found nothing or only quotes with a hedge, most asked first."""
        async with self._reader.execute(
            f"SELECT {GAPS_COLUMNS} FROM queries"
            " WHERE scope = ? AND (abstained = 1 OR hedged = 1)"
            " AND asked_at >= strftime('%Y-%m-%dT%H:%M:%SZ', 'now', ?)"
            " GROUP BY q ORDER BY n DESC, MAX(asked_at) DESC LIMIT ?",
            (scope, f"-{days} days", limit),
        ) as cursor:
            return [gap(row) for row in await cursor.fetchall()]

    async def get_setting(self, scope: str, key: str) -> str | None:
        async with self._reader.execute(
            "SELECT value FROM settings WHERE scope = ? AND key = ?", (scope, key)
        ) as cursor:
            row = await cursor.fetchone()
        return None if row is None else str(row[0])

    async def set_setting(self, scope: str, key: str, value: str | None) -> None:
        async with self._transaction() as db:
            if value is None:
                await db.execute("DELETE FROM settings WHERE scope = ? AND key = ?", (scope, key))
            else:
                await db.execute(
                    "INSERT INTO settings (scope, key, value) VALUES (?, ?, ?)"
                    " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                    (scope, key, value),
                )

    async def integrity_check(self) -> str:
        async with self._reader.execute("PRAGMA integrity_check") as cursor:
            row = await cursor.fetchone()
        return str(row[0]) if row else "no answer"

    # -- export, restore and health checks (bot/tools/backup.py, bot/tools/health.py) --------------------
    @classmethod
    async def open_readonly(cls, path: Path) -> SQLiteStore:
        """Open an existing store without writing to it: no migration, no pragma that writes.

        For readers beside the bot (`citebot export`): they must not race the bot's own migrations.
        Any write through this store fails with sqlite3.OperationalError.
        """
        if not path.is_file():
            raise FileNotFoundError(f"no store at {path}")
        reading = ReadOnlyAccess.of(path)
        writer = await connect(reading.uri, uri=True, isolation_level=None)
        try:
            reader = await connect(reading.uri, uri=True, isolation_level=None)
        except BaseException:
            await writer.close()
            raise
        for connection in (writer, reader):
            await connection.execute("PRAGMA busy_timeout=10000")
        return cls(path, writer, reader, reading)

    async def iter_articles(
        self, scopes: Sequence[str] | None = None, *, batch: int = 500
    ) -> AsyncIterator[list[StoredArticle]]:
        """Every article with its text (``scopes`` None: all scopes), in id order, in batches, for export.

        Reads through a connection of its own inside one read transaction: the whole export is one
        consistent snapshot even while articles are added, and the shared reader stays free for questions.
        """
        connection = await connect(self._reading.uri, uri=True, isolation_level=None)
        try:
            await connection.execute("PRAGMA busy_timeout=10000")
            await connection.execute("BEGIN")  # deferred: the snapshot starts at the first read, ends at close
            where = "" if scopes is None else f" AND scope IN ({_placeholders(scopes)})"
            sql = f"SELECT {ARTICLE_COLUMNS}, text FROM articles WHERE id > ?{where} ORDER BY id LIMIT ?"
            last = 0
            while True:
                async with connection.execute(sql, (last, *(scopes or ()), batch)) as cursor:
                    rows = [stored_article(row[:11], row[11]) for row in await cursor.fetchall()]
                if not rows:
                    self._reading.check_unchanged()
                    return
                yield rows
                last = rows[-1].id
        finally:
            await connection.close()


async def windows_then_articles(
    store: Store, sentence_ids: Sequence[int], article_ids: Sequence[int], db: ReadView | None = None
) -> tuple[dict[int, SentenceWindow], dict[int, StoredArticle]]:
    """Store.windows_and_articles as two reads: the windows, then their articles and ``article_ids``."""
    windows = await store.sentence_windows(sentence_ids, db)
    ids = sorted({w.article_id for w in windows.values()} | {int(i) for i in article_ids})
    return windows, await store.articles_by_id(ids, db)


def pruned_batch(pruned: int, seq: int) -> ChangeBatch:
    """What a follower at ``seq`` gets when the entries after it are pruned: rebuild from the store."""
    log.info("event=change_log_pruned_past applied=%d pruned_through=%d: rebuilding from the store", seq, pruned)
    return ChangeBatch([Change(pruned, "reset", None)], [], seq)


def change_batch(
    rows: Sequence[Sequence[Any]],
    sentences: dict[int, list[tuple[int, npt.NDArray[np.int64]]]],
    new_terms: list[tuple[int, str]],
    seq: int,
) -> ChangeBatch:
    """Log rows (seq, kind, article id, removed, scope, terms) and the added articles' sentences as a batch."""
    changes = []
    for change_seq, kind, article_id, removed, scope, terms in rows:
        if kind == "add":
            found = scope is not None
            changes.append(
                Change(
                    change_seq,
                    kind,
                    article_id,
                    scope,
                    unpack_terms(terms) if found else None,
                    sentences.get(article_id, []),
                )
            )
        elif kind == "remove":
            removed_terms, removed_sentences = _unpack_removed(removed)
            changes.append(Change(change_seq, kind, article_id, None, removed_terms, removed_sentences))
        else:
            changes.append(Change(change_seq, kind, None))
    return ChangeBatch(changes, new_terms, rows[-1][0] if rows else seq)


async def _set_meta(db: aiosqlite.Connection, key: str, value: str | None) -> None:
    if value is None:
        await db.execute("DELETE FROM meta WHERE key = ?", (key,))
    else:
        await db.execute(
            "INSERT INTO meta (key, value) VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            (key, value),
        )


async def probe_write(db: aiosqlite.Connection) -> None:
    """Raise SQLITE_READONLY now if the store cannot be written: SQLite opens a file it may not write read-only
    without a word (a store copied in by root for a bot running as another user), and the bot would start,
    report itself healthy and fail every question. One write, rolled back."""
    async with db.execute("PRAGMA user_version") as cursor:
        row = await cursor.fetchone()
    await db.execute("BEGIN IMMEDIATE")
    try:
        await db.execute(f"PRAGMA user_version={int(row[0]) if row else 0}")
    finally:
        await db.execute("ROLLBACK")


async def _migrate(db: aiosqlite.Connection, path: Path) -> None:
    """Apply bot/core/migrations/V<n>__*.sql in order, each in its own transaction, once.

    Migrations only go forward, so a store holding anything is first copied with SQLite's online backup
    API to ``<store>.before-v<n>-<time>.db`` beside it: the way back if an upgrade goes wrong.
    """
    await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
    async with db.execute("SELECT COALESCE(MAX(version), 0) FROM schema_version") as cursor:
        row = await cursor.fetchone()
    current = int(row[0]) if row else 0
    folder = resources.files("bot.core") / "migrations"
    migrations = sorted(
        (int(m.group(1)), entry) for entry in folder.iterdir() if (m := MIGRATION_NAME.match(entry.name))
    )
    check_not_newer(f"the store {path}", current, migrations[-1][0])
    pending = [(version, entry) for version, entry in migrations if version > current]
    if pending and current > 0 and await _holds_data(db):
        await _backup_before_migrating(db, path, pending[0][0])
    for version, entry in pending:
        script = entry.read_text(encoding="utf-8")
        try:
            await db.executescript(
                f"BEGIN IMMEDIATE;\n{script}\nINSERT INTO schema_version VALUES ({version});\nCOMMIT;"
            )
        except sqlite3.Error:
            await db.execute("ROLLBACK") if db.in_transaction else None
            raise


def check_not_newer(store: str, version: int, known: int) -> None:
    """Refuse a store a newer citebot upgraded (an image rolled back): this code would write it as it knows it."""
    if version > known:
        raise StoreUnavailable(
            f"{store} has schema version {version}, written by a newer citebot; this one knows up to "
            f"{known}. Run the newer version, or restore the copy made before the upgrade (SQLite keeps it beside "
            "the store as <store>.before-v<n>-<time>.db; PostgreSQL: your pg_dump)."
        )


def _no_room_to_upgrade(path: Path, version: int, needed: int, free: int) -> StoreUnavailable:
    return StoreUnavailable(
        f"this citebot upgrades {path} to schema version {version}, and first copies it beside itself as the "
        f"way back ({needed / 1e6:,.0f} MB), but {path.parent} has only {free / 1e6:,.0f} MB free: free some space "
        "there, or move the store to a larger disk (CITEBOT_DB), and start again. Nothing was changed."
    )


def _sqlite_code(error: BaseException) -> int | None:
    """SQLite's primary result code of ``error``; None for other errors and for the sqlite3 module's own (e.g. a
    closed connection's ProgrammingError, which carries none)."""
    code = getattr(error, "sqlite_errorcode", None) if isinstance(error, sqlite3.DatabaseError) else None
    return code & 0xFF if code is not None else None


def _disk_full(error: BaseException) -> bool:
    return _sqlite_code(error) == sqlite3.SQLITE_FULL


_CANNOT_WRITE = (sqlite3.SQLITE_CANTOPEN, sqlite3.SQLITE_READONLY, sqlite3.SQLITE_PERM)  # primary result codes
_DAMAGED = (sqlite3.SQLITE_CORRUPT, sqlite3.SQLITE_NOTADB)


def other_analysis(where: object, stored: str | None, analysis: str) -> StoreUnavailable | None:
    """Why a process must not write its terms into a store another citebot version re-tokenised while it ran (a
    rolling upgrade: the new version's `citebot reindex` finished, this process is the old version); None: it may."""
    if stored in (None, analysis):
        return None
    return StoreUnavailable(
        f"the store {where} was re-tokenised by another citebot version (analysis {stored}) after this process "
        f"started (analysis {analysis}), so nothing was added: its terms would never be found. Restart this "
        "process with the citebot version that re-tokenised the store."
    )


def unusable_store(path: Path, error: BaseException) -> StoreUnavailable | None:
    """What the host is told when the SQLite store at ``path`` fails with ``error`` for a reason of its own (full,
    not writable, damaged: found at open, or later by a read of a damaged page); None: any other error."""
    code = _sqlite_code(error)
    if code == sqlite3.SQLITE_FULL:
        return _no_room(path)
    if code in _CANNOT_WRITE:
        return _not_writable(path, error)
    if code in _DAMAGED:
        return _damaged(path, error)
    if code in (sqlite3.SQLITE_BUSY, sqlite3.SQLITE_LOCKED):
        return StoreUnavailable(
            f"the store {path} stayed locked by another process for 10 s ({error}). Try again; if a backup was just "
            "copied over it while citebot ran, stop every citebot process using it and copy the backup again "
            "(README: Backups)."
        )
    return None


def _damaged(path: Path, error: BaseException) -> StoreUnavailable:
    # --db in the hint: `citebot health` alone checks CITEBOT_DB's store, which may not be this one.
    return StoreUnavailable(
        f"the store {path} is damaged or is not a citebot store ({error}). Restore the last copy `citebot "
        "backup` made (README: Backups), or point CITEBOT_DB at another store; "
        f"`citebot --db {shlex.quote(str(path))} health` checks it without changing it."
    )


def _not_writable(path: Path, error: BaseException) -> StoreUnavailable:
    owner = ""
    with contextlib.suppress(OSError):
        if (uid := path.stat().st_uid) != os.geteuid():
            owner = f" {path.name} belongs to user id {uid}; citebot runs as {os.geteuid()}."
    return StoreUnavailable(
        f"cannot open the store {path} for writing ({error}).{owner} citebot writes the store and files beside it "
        f"({path.name}-wal, {path.name}-shm, {path.name}.index/). Make them and {path.parent} writable by this user "
        "(not a read-only volume, not owned by another user), or point CITEBOT_DB at a writable place."
    )


def _no_room(path: Path) -> StoreUnavailable:
    return disk_full(
        f"the disk holding the store {path} is full",
        f"Free some space on {path.parent}, or move the store to a larger disk (CITEBOT_DB)",
    )


async def _holds_data(db: aiosqlite.Connection) -> bool:
    async with db.execute("SELECT EXISTS (SELECT 1 FROM articles) OR EXISTS (SELECT 1 FROM queries)") as cursor:
        row = await cursor.fetchone()
    return bool(row and row[0])


async def _backup_before_migrating(db: aiosqlite.Connection, path: Path, version: int) -> Path:
    stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
    target_path = path.with_name(f"{path.name}.before-v{version}-{stamp}.db")
    # The copy is as large as the store (its -wal holds pages not yet in the file): a full disk is said up front,
    # not found half-way through a multi-gigabyte copy.
    needed = sum(p.stat().st_size for p in (path, path.with_name(f"{path.name}-wal")) if p.exists())
    free = shutil.disk_usage(path.parent).free
    if free < needed * 1.1:
        raise _no_room_to_upgrade(path, version, needed, free)
    target = await connect(target_path)
    try:
        try:
            await db.backup(target)
            await target.execute("PRAGMA journal_mode=DELETE")  # one self-contained file, no -wal beside it
        finally:
            await target.close()
    except sqlite3.OperationalError as error:
        for leftover in (target_path, target_path.with_name(f"{target_path.name}-journal")):
            leftover.unlink(missing_ok=True)  # half a copy is no way back; the store itself is untouched
        if _disk_full(error):
            raise _no_room_to_upgrade(path, version, needed, shutil.disk_usage(path.parent).free) from error
        raise
    log.warning("store backed up to %s before migrating it to schema version %d", target_path, version)
    return target_path
