"""The PostgreSQL store through asyncpg: the same contract as SQLiteStore (bot/core/store.py), for several
processes (and machines) sharing one store.

asyncpg rather than psycopg 3: it is asyncio-native (no thread per connection, as aiosqlite needs), speaks the
binary protocol (term blobs arrive as ``bytes`` without decoding), has LISTEN/NOTIFY built in
(``add_listener``), and its only dependency on Python 3.11+ is the standard library.

Every write transaction first takes one advisory lock, so writes are serialised store-wide as with SQLite's
single writer: term ids are assigned without clashes and change-log numbers follow commit order (a follower
reading "seq > N" never skips an entry that commits later with a smaller number). Readers are never blocked.
After a write that adds to the change log, ``pg_notify`` (delivered at commit) wakes every process's follower.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator, Iterable, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime, timedelta
from importlib import resources
from typing import Any

import asyncpg
import numpy as np
import numpy.typing as npt

from bot.core.errors import StoreUnavailable, disk_full
from bot.core.location import MIGRATION_NAME, PRUNED_KEY, local_path, password_of, without_password
from bot.core.models import CHANGE_AT_SQL, ChangeRef, Gap, LoggedQuestion
from bot.core.store import (
    ARTICLE_COLUMNS,
    GAPS_COLUMNS,
    PRUNE_BATCH,
    TITLE_HEAD_BYTES,
    ArticleBuilder,
    ChangeBatch,
    FileOrigin,
    InsertedArticle,
    OriginRow,
    RemovedArticle,
    SentenceWindow,
    StoredArticle,
    TermRewrite,
    change_batch,
    check_not_newer,
    contains_pattern,
    gap,
    other_analysis,
    pack_removed,
    pruned_batch,
    stored_article,
    unpack_terms,
    windows_then_articles,
)

log = logging.getLogger(__name__)

CHANNEL = "citebot_changes"  # NOTIFY channel: "the change log has new entries"
WRITE_LOCK = 0x63697465626F74  # advisory lock key held by every write transaction ("citebot")
# The next change-log number; only under WRITE_LOCK (see migrations/postgresql/V3__change_log.sql).
NEXT_SEQ = "(SELECT COALESCE(MAX(seq), 0) + 1 FROM changes)"
MIGRATION_LOCK = WRITE_LOCK + 1  # held while migrating, so processes starting together migrate once


async def connect(url: str, **options: Any) -> asyncpg.Connection:
    """One connection to the store, or StoreUnavailable saying what failed (never the password)."""
    try:
        return await asyncpg.connect(url, **options)
    except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError) as error:
        # A refused or timed-out connection says nothing of where to look; a server's own error does.
        hint = " (is the server running, and are the host and port right?)" if isinstance(error, OSError) else ""
        if isinstance(error, asyncpg.InvalidPasswordError) and "%" in (password_of(url) or ""):
            # The URL's password is percent-decoded: an unencoded "50%41" is sent as "50A".
            hint = (
                " (a password in the URL is percent-decoded: write a % in it as %25, e.g. 50%off as 50%25off, "
                "or leave the password out of the URL and set PGPASSWORD)"
            )
        # A server that accepts the connection and never answers times out with an empty message.
        reason = str(error) or f"no answer within {options.get('timeout', 60):g} s ({type(error).__name__})"
        raise StoreUnavailable(
            f"cannot connect to the PostgreSQL store {without_password(url)}: {reason}{hint}"
        ) from error


def _rowcount(status: str) -> int:
    """asyncpg returns the command tag ("DELETE 3", "INSERT 0 1"): its last number is the row count."""
    return int(status.rsplit(" ", 1)[-1])


class PostgresStore:
    def __init__(self, url: str, pool: asyncpg.Pool) -> None:
        self.url = url
        self.path = local_path(url)
        self._pool = pool  # replaces a connection that broke (a server restart): no write or read stays stuck
        self._write_lock = asyncio.Lock()
        self._listener: asyncpg.Connection | None = None
        self._notified = asyncio.Event()

    @classmethod
    async def open(cls, url: str, *, readonly: bool = False) -> PostgresStore:
        """Connect and migrate. ``readonly``: no migration, and every transaction is read-only (writes fail)."""
        settings = {"default_transaction_read_only": "on"} if readonly else {}
        first = await connect(url, server_settings=settings)
        try:
            if readonly:
                exists = await first.fetchval("SELECT to_regclass('schema_version') IS NOT NULL")
                if not exists:
                    raise FileNotFoundError(f"no citebot store in {without_password(url)}")
            else:
                local_path(url).parent.mkdir(parents=True, exist_ok=True)  # for the snapshot beside it
                await _migrate(first)
        finally:
            await first.close()
        return cls(url, await asyncpg.create_pool(url, min_size=1, max_size=6, server_settings=settings))

    async def close(self) -> None:
        async with self._write_lock:
            if self._listener is not None:
                await self._listener.close()
            await self._pool.close()

    @asynccontextmanager
    async def _transaction(self, *, announce: bool = False) -> AsyncIterator[asyncpg.Connection]:
        """One write transaction holding the store-wide write lock; ``announce``: NOTIFY at commit."""
        # The asyncio lock: one writer per process, so questions keep the pool's other connections.
        try:
            async with self._write_lock, self._pool.acquire() as db, db.transaction():
                await db.execute("SELECT pg_advisory_xact_lock($1)", WRITE_LOCK)
                yield db
                if announce:
                    await db.execute("SELECT pg_notify($1, '')", CHANNEL)
        except asyncpg.DiskFullError as error:  # rolled back by then, as any failed transaction
            raise disk_full(
                f"the PostgreSQL server of the store {without_password(self.url)} has no disk space left",
                "Free some space on the server's disk",
            ) from error

    # -- articles ---------------------------------------------------------------------------------------
    async def existing_hashes(self, scope: str, hashes: Iterable[str]) -> dict[str, int]:
        rows = await self._pool.fetch(
            "SELECT content_hash, id FROM articles WHERE scope = $1 AND content_hash = ANY($2::text[])",
            scope,
            list(hashes),
        )
        return {r[0]: int(r[1]) for r in rows}

    async def same_origin(self, scope: str, origins: Iterable[str]) -> list[OriginRow]:
        rows = await self._pool.fetch(
            "SELECT id, external_id, title, origin FROM articles WHERE scope = $1 AND origin = ANY($2::text[])",
            scope,
            list(origins),
        )
        return [OriginRow(int(r[0]), r[1], r[2], r[3]) for r in rows]

    async def from_files_under(self, scope: str, prefix: str) -> list[FileOrigin]:
        rows = await self._pool.fetch(
            # left(), not LIKE: a folder's name may hold % or _
            "SELECT id, title, origin FROM articles"
            " WHERE scope = $1 AND added_by IS NULL AND left(origin, $2) = $3 ORDER BY id",
            scope,
            len(prefix),
            prefix,
        )
        return [FileOrigin(int(r[0]), r[1], r[2]) for r in rows]

    async def set_origin(self, article_ids: Sequence[int], origin: str) -> None:
        async with self._transaction() as db:
            await db.executemany(
                "UPDATE articles SET origin = $1 WHERE id = $2", [(origin, int(i)) for i in article_ids]
            )

    async def insert_articles(
        self,
        build: ArticleBuilder,
        known_terms: int,
        analysis: str | None = None,
    ) -> list[InsertedArticle | None]:
        """All articles and the terms they introduce in ONE transaction (see SQLiteStore.insert_articles)."""
        results: list[InsertedArticle | None] = []
        async with self._transaction(announce=True) as db:
            if analysis is not None:
                stored = await db.fetchval("SELECT value FROM meta WHERE key = 'analysis'")
                if refused := other_analysis(without_password(self.url), stored, analysis):
                    raise refused
            rows = await db.fetch("SELECT id, term FROM terms WHERE id >= $1 ORDER BY id", known_terms)
            # In a worker thread, as SQLite's: term ids for a whole batch would stall the loop.
            items, new_terms = await asyncio.to_thread(build, [(int(i), str(t)) for i, t in rows])
            if new_terms:
                await db.executemany("INSERT INTO terms (id, term) VALUES ($1, $2)", new_terms)
            for item in items:
                a = item.article
                article_id = await db.fetchval(
                    "INSERT INTO articles (scope, content_hash, external_id, title, source, date, url, author, text,"
                    " origin, added_by, terms, added_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12,"
                    """ COALESCE($13, to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"')))"""
                    " ON CONFLICT (scope, content_hash) DO NOTHING RETURNING id",
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
                    item.terms,
                    item.added_at,
                )
                if article_id is None:
                    results.append(None)
                    continue
                spans = list(item.sentences)
                inserted = await db.fetch(
                    'INSERT INTO sentences (article_id, position, start, "end", terms)'
                    " SELECT $1, u.position, u.start, u.stop, u.terms"
                    " FROM unnest($2::int[], $3::int[], $4::int[], $5::bytea[]) AS u(position, start, stop, terms)"
                    " RETURNING id, position",
                    article_id,
                    list(range(len(spans))),
                    [s[0] for s in spans],
                    [s[1] for s in spans],
                    [s[2] for s in spans],
                )
                sentence_ids = [int(r[0]) for r in sorted(inserted, key=lambda r: r[1])]
                seq = await db.fetchval(
                    f"INSERT INTO changes (seq, kind, article_id) VALUES ({NEXT_SEQ}, 'add', $1) RETURNING seq",
                    article_id,
                )
                results.append(InsertedArticle(int(article_id), sentence_ids, int(seq)))
        return results

    async def delete_article(self, article_id: int, scopes: Sequence[str]) -> RemovedArticle | None:
        async with self._transaction(announce=True) as db:
            row = await db.fetchrow(
                f"SELECT {ARTICLE_COLUMNS}, terms FROM articles WHERE id = $1 AND scope = ANY($2::text[])",
                article_id,
                list(scopes),
            )
            if row is None:
                return None
            rows = await db.fetch("SELECT id, terms FROM sentences WHERE article_id = $1 ORDER BY id", article_id)
            sentences = [(int(i), bytes(t)) for i, t in rows]
            await db.execute("DELETE FROM sentences WHERE article_id = $1", article_id)
            await db.execute("DELETE FROM articles WHERE id = $1", article_id)
            seq = await db.fetchval(
                f"INSERT INTO changes (seq, kind, article_id, removed) VALUES ({NEXT_SEQ}, 'remove', $1, $2) RETURNING seq",
                article_id,
                pack_removed(bytes(row[-1]), sentences),
            )
        values = list(row.values())
        return RemovedArticle(stored_article(values[:-1]), bytes(values[-1]), sentences, int(seq))

    async def get_article(
        self, article_id: int, scopes: Sequence[str], *, with_text: bool = False
    ) -> StoredArticle | None:
        columns = ARTICLE_COLUMNS + (", text" if with_text else "")
        row = await self._pool.fetchrow(
            f"SELECT {columns} FROM articles WHERE id = $1 AND scope = ANY($2::text[])", article_id, list(scopes)
        )
        if row is None:
            return None
        values = list(row.values())
        return stored_article(values[:11], values[11] if with_text else "")

    async def articles_by_id(
        self, ids: Sequence[int], db: asyncpg.Connection | None = None
    ) -> dict[int, StoredArticle]:
        rows = await (db or self._pool).fetch(
            f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE id = ANY($1::bigint[])", [int(i) for i in ids]
        )
        return {int(r[0]): stored_article(list(r.values())) for r in rows}

    async def list_articles(
        self, scopes: Sequence[str], *, offset: int = 0, limit: int = 50, search: str | None = None
    ) -> list[StoredArticle]:
        """Newest first. ``search`` filters titles, outlets and ids; ILIKE, as SQLite's LIKE ignores case."""
        where, params = _listed(scopes, search)
        sql = f"SELECT {ARTICLE_COLUMNS} FROM articles WHERE {where}"
        sql += f" ORDER BY id DESC LIMIT ${len(params) + 1} OFFSET ${len(params) + 2}"
        rows = await self._pool.fetch(sql, *params, limit, offset)
        return [stored_article(list(r.values())) for r in rows]

    async def count_articles(self, scopes: Sequence[str], *, search: str | None = None) -> int:
        where, params = _listed(scopes, search)
        return int(await self._pool.fetchval(f"SELECT COUNT(*) FROM articles WHERE {where}", *params))

    async def count_all_articles(self, *, up_to: int | None = None) -> int:
        if up_to is None:
            return int(await self._pool.fetchval("SELECT COUNT(*) FROM articles"))
        return int(await self._pool.fetchval("SELECT COUNT(*) FROM articles WHERE id <= $1", up_to))

    async def sentence_texts(self, sentence_ids: Sequence[int]) -> dict[int, tuple[int, str]]:
        rows = await self._pool.fetch(
            'SELECT s.id, s.article_id, substr(a.text, s.start + 1, s."end" - s.start)'
            " FROM sentences s JOIN articles a ON a.id = s.article_id WHERE s.id = ANY($1::bigint[])",
            [int(i) for i in sentence_ids],
        )
        return {int(sid): (int(aid), text) for sid, aid, text in rows}

    async def windows_and_articles(
        self, sentence_ids: Sequence[int], article_ids: Sequence[int], db: asyncpg.Connection | None = None
    ) -> tuple[dict[int, SentenceWindow], dict[int, StoredArticle]]:
        """sentence_windows(sentence_ids), and articles_by_id of ``article_ids`` and of every window's article."""
        return await windows_then_articles(self, sentence_ids, article_ids, db)

    async def sentence_windows(
        self, sentence_ids: Sequence[int], db: asyncpg.Connection | None = None
    ) -> dict[int, SentenceWindow]:
        rows = await (db or self._pool).fetch(
            'SELECT s.id, s.article_id, s.position, substr(a.text, s.start + 1, s."end" - s.start),'
            ' substr(a.text, p.start + 1, p."end" - p.start), n.id, substr(a.text, n.start + 1, n."end" - n.start),'
            f" s.terms, p.terms, n.terms, substr(a.terms, 1, {TITLE_HEAD_BYTES})"
            " FROM sentences s JOIN articles a ON a.id = s.article_id"
            " LEFT JOIN sentences p ON p.article_id = s.article_id AND p.position = s.position - 1"
            " LEFT JOIN sentences n ON n.article_id = s.article_id AND n.position = s.position + 1"
            " WHERE s.id = ANY($1::bigint[])",
            [int(i) for i in sentence_ids],
        )
        return {
            int(sid): SentenceWindow(
                int(aid), position, text, previous, None if next_id is None else int(next_id), next_text, *terms
            )
            for sid, aid, position, text, previous, next_id, next_text, *terms in rows
        }

    # -- what the index is rebuilt from ------------------------------------------------------------------
    async def vocabulary(self) -> list[tuple[int, str]]:
        return [(int(i), t) for i, t in await self._pool.fetch("SELECT id, term FROM terms ORDER BY id")]

    async def index_articles(self, db: asyncpg.Connection) -> list[tuple[int, str, bytes]]:
        rows = await db.fetch("SELECT id, scope, terms FROM articles ORDER BY id")
        return [(int(i), s, bytes(t)) for i, s, t in rows]

    @asynccontextmanager
    async def read_transaction(self) -> AsyncIterator[asyncpg.Connection]:
        """One consistent view (REPEATABLE READ: a snapshot of the whole database) for several reads."""
        async with (
            self._pool.acquire() as connection,
            connection.transaction(isolation="repeatable_read", readonly=True),
        ):
            yield connection

    async def index_rows(
        self, db: asyncpg.Connection, batch: int = 50_000
    ) -> AsyncIterator[list[tuple[int, int, bytes]]]:
        last = 0
        while True:
            rows = await db.fetch(
                "SELECT id, article_id, terms FROM sentences WHERE id > $1 ORDER BY id LIMIT $2", last, batch
            )
            if not rows:
                return
            yield [(int(i), int(a), bytes(t)) for i, a, t in rows]
            last = int(rows[-1][0])

    # -- the change log ------------------------------------------------------------------------------------
    async def data_version(self) -> int:
        """The last entry of the change log: it moves whenever anything an index follows was committed."""
        return await self.last_seq()

    async def last_seq(self, db: asyncpg.Connection | None = None) -> int:
        return int(await (db or self._pool).fetchval("SELECT COALESCE(MAX(seq), 0) FROM changes"))

    async def wait_for_change(self, timeout: float) -> None:
        """Wake at a NOTIFY from any process's commit, else after ``timeout`` (polling: a notification missed
        while the listening connection was down is then found by the caller's catch-up anyway)."""
        if self._listener is None or self._listener.is_closed():
            try:
                self._listener = await asyncpg.connect(self.url, timeout=timeout)
                await self._listener.add_listener(CHANNEL, self._on_notify)
                self._notified.set()  # anything committed while not listening is looked for at once
            except (OSError, asyncpg.PostgresError, TimeoutError) as error:
                log.warning("event=listen_failed error=%s; polling instead", error)
                self._listener = None
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(self._notified.wait(), timeout)
        self._notified.clear()  # before the caller catches up: a commit during its catch-up wakes the next wait

    def _on_notify(self, *_: object) -> None:
        self._notified.set()

    async def change_at(self, seq: int) -> ChangeRef | None:
        row = await self._pool.fetchrow(CHANGE_AT_SQL, seq)
        return None if row is None else ChangeRef(str(row[0]), None if row[1] is None else int(row[1]), row[2])

    async def changes_since(
        self, seq: int, known_terms: int, limit: int = 2_000, db: asyncpg.Connection | None = None
    ) -> ChangeBatch:
        if db is None:
            async with self.read_transaction() as view:
                return await self.changes_since(seq, known_terms, limit, view)
        if (pruned := int(await db.fetchval("SELECT value FROM meta WHERE key = $1", PRUNED_KEY) or 0)) > seq:
            return pruned_batch(pruned, seq)
        rows = [
            (int(r[0]), r[1], None if r[2] is None else int(r[2]), r[3], r[4], r[5])
            for r in await db.fetch(
                "SELECT c.seq, c.kind, c.article_id, c.removed, a.scope, a.terms FROM changes c"
                " LEFT JOIN articles a ON c.kind = 'add' AND a.id = c.article_id"
                " WHERE c.seq > $1 ORDER BY c.seq LIMIT $2",
                seq,
                limit,
            )
        ]
        added = [int(r[2]) for r in rows if r[1] == "add" and r[2] is not None and r[4] is not None]
        sentences: dict[int, list[tuple[int, npt.NDArray[np.int64]]]] = {a: [] for a in added}
        for sentence_id, article_id, blob in await db.fetch(
            "SELECT id, article_id, terms FROM sentences WHERE article_id = ANY($1::bigint[]) ORDER BY id", added
        ):
            sentences[int(article_id)].append((int(sentence_id), unpack_terms(blob)))
        terms = await db.fetch("SELECT id, term FROM terms WHERE id >= $1 ORDER BY id", known_terms)
        return change_batch(rows, sentences, [(int(i), str(t)) for i, t in terms], seq)

    async def prune_changes(self, before: int) -> int:
        deleted = 0
        while True:
            async with self._transaction() as db:
                oldest, newest = await db.fetchrow("SELECT COALESCE(MIN(seq), 0), COALESCE(MAX(seq), 0) FROM changes")
                upto = min(before, int(newest), int(oldest) + PRUNE_BATCH)  # delete seq < upto
                if upto <= oldest:
                    return deleted
                deleted += _rowcount(await db.execute("DELETE FROM changes WHERE seq < $1", upto))
                await _set_meta(db, PRUNED_KEY, str(upto - 1))

    # -- re-tokenising (citebot reindex) --------------------------------------------------------------------
    async def articles_after(
        self, after_id: int, limit: int
    ) -> list[tuple[int, str | None, str, list[tuple[int, str]]]]:
        rows = await self._pool.fetch(
            "SELECT id, title, text FROM articles WHERE id > $1 ORDER BY id LIMIT $2", after_id, limit
        )
        out = []
        for article_id, title, body in rows:
            spans = await self._pool.fetch(
                'SELECT id, start, "end" FROM sentences WHERE article_id = $1 ORDER BY position', article_id
            )
            out.append((int(article_id), title, body, [(int(i), body[start:end]) for i, start, end in spans]))
        return out

    async def rewrite_terms(
        self,
        build: TermRewrite,
        known_terms: int,
        progress: dict[str, str],
    ) -> None:
        async with self._transaction() as db:
            rows = await db.fetch("SELECT id, term FROM terms WHERE id >= $1 ORDER BY id", known_terms)
            articles, sentences, new_terms = build([(int(i), str(t)) for i, t in rows])
            if new_terms:
                await db.executemany("INSERT INTO terms (id, term) VALUES ($1, $2)", new_terms)
            if articles:
                await db.executemany("UPDATE articles SET terms = $1 WHERE id = $2", [(t, i) for i, t in articles])
            if sentences:
                await db.executemany("UPDATE sentences SET terms = $1 WHERE id = $2", [(t, i) for i, t in sentences])
            for key, value in progress.items():
                await _set_meta(db, key, value)

    async def finish_reindex(self, analysis: str, progress_keys: Sequence[str]) -> None:
        async with self._transaction(announce=True) as db:
            await _set_meta(db, "analysis", analysis)
            for key in progress_keys:
                await _set_meta(db, key, None)
            await db.execute(f"INSERT INTO changes (seq, kind) VALUES ({NEXT_SEQ}, 'reset')")

    async def get_meta(self, key: str) -> str | None:
        value = await self._pool.fetchval("SELECT value FROM meta WHERE key = $1", key)
        return None if value is None else str(value)

    async def set_meta(self, key: str, value: str | None) -> None:
        async with self._transaction() as db:
            await _set_meta(db, key, value)

    # -- queries, feedback, settings ---------------------------------------------------------------------
    async def log_query(self, entry: LoggedQuestion) -> int:
        # No store-wide lock: a question's log row touches nothing the change log orders.
        return int(
            await self._pool.fetchval(
                "INSERT INTO queries (question, scope, user_id, abstained, latency_ms, n_quotes, hedged)"
                " VALUES ($1, $2, $3, $4, $5, $6, $7) RETURNING id",
                entry.question,
                entry.scope,
                entry.user_id,
                int(entry.abstained),
                float(entry.latency_ms),
                entry.n_quotes,
                int(entry.hedged),
            )
        )

    async def set_vote(self, query_id: int, scope: str, user_id: str, value: int) -> bool:
        status = await self._pool.execute(
            "INSERT INTO votes (query_id, user_id, value) SELECT id, $1, $2 FROM queries WHERE id = $3 AND scope = $4"
            " ON CONFLICT (query_id, user_id) DO UPDATE SET value = excluded.value, voted_at = excluded.voted_at",
            user_id,
            value,
            query_id,
            scope,
        )
        return _rowcount(status) > 0

    async def get_query(self, query_id: int) -> tuple[str, str] | None:
        row = await self._pool.fetchrow("SELECT question, scope FROM queries WHERE id = $1", query_id)
        return (str(row[0]), str(row[1])) if row else None

    async def votes(self, query_id: int) -> dict[str, int]:
        rows = await self._pool.fetch("SELECT user_id, value FROM votes WHERE query_id = $1", query_id)
        return {str(u): int(v) for u, v in rows}

    async def delete_queries_before(self, cutoff: str) -> int:
        return _rowcount(await self._pool.execute("DELETE FROM queries WHERE asked_at < $1", cutoff))

    async def forget_user(self, user_id: str) -> tuple[int, int, int]:
        async with self._transaction() as db:
            votes = _rowcount(await db.execute("DELETE FROM votes WHERE user_id = $1", user_id))
            questions = _rowcount(await db.execute("DELETE FROM queries WHERE user_id = $1", user_id))
            articles = _rowcount(await db.execute("UPDATE articles SET added_by = NULL WHERE added_by = $1", user_id))
        return questions, votes, articles

    async def gaps(self, scope: str, limit: int = 10, days: int = 30) -> list[Gap]:
        since = (datetime.now(UTC) - timedelta(days=days)).strftime("%Y-%m-%dT%H:%M:%SZ")
        rows = await self._pool.fetch(
            f"SELECT {GAPS_COLUMNS} FROM queries"
            " WHERE scope = $1 AND (abstained = 1 OR hedged = 1) AND asked_at >= $2"
            " GROUP BY q ORDER BY n DESC, MAX(asked_at) DESC LIMIT $3",
            scope,
            since,
            limit,
        )
        return [gap(row) for row in rows]

    async def get_setting(self, scope: str, key: str) -> str | None:
        value = await self._pool.fetchval("SELECT value FROM settings WHERE scope = $1 AND key = $2", scope, key)
        return None if value is None else str(value)

    async def set_setting(self, scope: str, key: str, value: str | None) -> None:
        if value is None:
            await self._pool.execute("DELETE FROM settings WHERE scope = $1 AND key = $2", scope, key)
        else:
            await self._pool.execute(
                "INSERT INTO settings (scope, key, value) VALUES ($1, $2, $3)"
                " ON CONFLICT (scope, key) DO UPDATE SET value = excluded.value",
                scope,
                key,
                value,
            )

    async def integrity_check(self) -> str:
        """PostgreSQL checks its own pages; this checks what the schema cannot: every sentence's article exists
        and every stored article's addition is in the log (the part of it not pruned). "ok" like SQLite's PRAGMA integrity_check."""
        orphans = await self._pool.fetchval(
            "SELECT COUNT(*) FROM sentences s WHERE NOT EXISTS (SELECT 1 FROM articles a WHERE a.id = s.article_id)"
        )
        # Writes are serialised, so article ids grow with log numbers: once the log is pruned, the articles
        # from the oldest logged addition on must be logged; older ones had theirs pruned.
        logged_from = 0
        if await self.get_meta(PRUNED_KEY) is not None:
            logged_from = await self._pool.fetchval(
                "SELECT COALESCE((SELECT MIN(article_id) FROM changes WHERE kind = 'add'),"
                " (SELECT COALESCE(MAX(id), 0) + 1 FROM articles))"
            )
        unlogged = await self._pool.fetchval(
            "SELECT COUNT(*) FROM articles a WHERE a.id >= $1 AND NOT EXISTS"
            " (SELECT 1 FROM changes c WHERE c.kind = 'add' AND c.article_id = a.id)",
            logged_from,
        )
        problems = [f"{orphans} sentences without an article"] * bool(orphans)
        problems += [f"{unlogged} articles missing from the change log"] * bool(unlogged)
        return "; ".join(problems) or "ok"

    # -- export and restore ------------------------------------------------------------------------------
    async def iter_articles(
        self, scopes: Sequence[str] | None = None, *, batch: int = 500
    ) -> AsyncIterator[list[StoredArticle]]:
        """Every article with its text, in id order, in batches, from one consistent snapshot."""
        where = "" if scopes is None else " AND scope = ANY($3::text[])"
        sql = f"SELECT {ARTICLE_COLUMNS}, text FROM articles WHERE id > $1{where} ORDER BY id LIMIT $2"
        async with self.read_transaction() as db:
            last = 0
            while True:
                params: list[Any] = [last, batch] + ([] if scopes is None else [list(scopes)])
                rows = [stored_article(list(r.values())[:11], r[11]) for r in await db.fetch(sql, *params)]
                if not rows:
                    return
                yield rows
                last = rows[-1].id


def _listed(scopes: Sequence[str], search: str | None) -> tuple[str, list[object]]:
    """list_articles's and count_articles's condition; ILIKE, as SQLite's LIKE ignores case."""
    where, params = "scope = ANY($1::text[])", list[object]([list(scopes)])
    if search:
        where += " AND (title ILIKE $2 OR source ILIKE $2 OR id::text = $3)"
        params += [contains_pattern(search), search.strip()]
    return where, params


async def _set_meta(db: asyncpg.Connection, key: str, value: str | None) -> None:
    if value is None:
        await db.execute("DELETE FROM meta WHERE key = $1", key)
    else:
        await db.execute(
            "INSERT INTO meta (key, value) VALUES ($1, $2) ON CONFLICT (key) DO UPDATE SET value = excluded.value",
            key,
            value,
        )


async def _migrate(db: asyncpg.Connection) -> None:
    """Apply bot/core/migrations/postgresql/V<n>__*.sql in order, each in its own transaction, once.

    Unlike SQLite, no copy is made first: back a PostgreSQL store up with pg_dump before upgrading.
    """
    await db.execute("SELECT pg_advisory_lock($1)", MIGRATION_LOCK)
    try:
        ours, theirs = await db.fetchrow(
            "SELECT to_regclass('schema_version') IS NOT NULL, to_regclass('articles') IS NOT NULL"
        )
        if theirs and not ours:  # checked before anything is created in someone else's database
            raise StoreUnavailable(
                "this PostgreSQL database already has an `articles` table that is not a citebot store's: "
                "give citebot a database of its own (CREATE DATABASE citebot)"
            )
        await db.execute("CREATE TABLE IF NOT EXISTS schema_version (version INTEGER PRIMARY KEY)")
        current = int(await db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_version"))
        folder = resources.files("bot.core") / "migrations" / "postgresql"
        migrations = sorted(
            (int(m.group(1)), entry) for entry in folder.iterdir() if (m := MIGRATION_NAME.match(entry.name))
        )
        check_not_newer("the PostgreSQL store", current, migrations[-1][0])
        for version, entry in migrations:
            if version <= current:
                continue
            async with db.transaction():
                await db.execute(entry.read_text(encoding="utf-8"))
                await db.execute("INSERT INTO schema_version VALUES ($1)", version)
            log.info("event=migrated store=postgresql version=%d", version)
    finally:
        await db.execute("SELECT pg_advisory_unlock($1)", MIGRATION_LOCK)
