"""The bot's run lock on a PostgreSQL store: one `citebot run` per store, or per shard, however many folders and
machines the processes run from (SQLite's lock file beside the store is seen only by processes sharing a folder).

Session-level advisory locks, held by one connection of their own for the bot's life: PostgreSQL releases them
when that session ends, so a crashed or killed process never leaves a stale lock. Advisory locks belong to one
database and a citebot store is a database of its own, so the keys need not name the store. An unsharded bot takes
the "whole bot" key exclusively; a sharded process takes it shared, takes its shard count shared, and each of its
shard ids exclusively. So two unsharded bots, an unsharded beside a sharded one, and two processes running one
shard are refused, and processes with disjoint shards of one count run side by side. Another shard count is
refused too (the same shard id of another count serves other servers, so they overlap): after taking its locks a
process looks for another count's, so of two starting together at least one sees the other.

The connection is checked every few seconds. If it was lost (a server restart, a network failure), so were the
locks: the bot keeps serving and takes them again once the server answers; if another process took them
meanwhile, ``lost`` is set and the bot stops rather than answer every question twice.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Sequence

import asyncpg

from bot.core.errors import StoreUnavailable
from bot.core.location import without_password
from bot.core.store_postgres import connect

log = logging.getLogger(__name__)

# Two-int advisory lock keys (classid, objid): a space of their own, apart from the store's one-bigint keys.
BOT_KEY = 0x63697465  # "cite"; objid 0: the whole bot
COUNT_KEY = BOT_KEY + 1  # objid: the shard count
SHARD_KEY = BOT_KEY + 2  # objid: a shard id
CHECK_EVERY = 5.0  # seconds between checks of the lock's connection; at most this long before a loss is noticed

# Who else holds a run lock key: their application_name names the `citebot run` (pid and host).
HOLDERS = (
    "SELECT DISTINCT l.pid, l.objid, a.application_name FROM pg_locks l LEFT JOIN pg_stat_activity a ON a.pid = l.pid"
    " WHERE l.locktype = 'advisory' AND l.objsubid = 2 AND l.granted AND l.pid <> pg_backend_pid()"
    " AND l.database = (SELECT oid FROM pg_database WHERE datname = current_database()) AND l.classid = $1"
)


class RunLockHeld(Exception):
    """Another process runs the bot, or some of its shards, on this store; ``str()`` names it and what to do."""


class RunLock:
    """Held from :meth:`take` until :meth:`close`. ``lost`` is set if the lock was lost and another process took it
    before this one could take it again (logged, naming that process); the bot must then stop."""

    def __init__(self, url: str, shard_count: int | None, shards: list[int], name: str, every: float) -> None:
        self._url, self._shard_count, self._shards, self._name = url, shard_count, shards, name
        self._every = every
        self._db: asyncpg.Connection | None = None
        self._keeper: asyncio.Task[None] | None = None
        self.lost = asyncio.Event()

    @classmethod
    async def take(
        cls,
        url: str,
        shard_count: int | None,
        shards: Sequence[int] | None,
        *,
        host: str,
        every: float = CHECK_EVERY,
    ) -> RunLock:
        """Take the lock now, or raise RunLockHeld. ``shard_count`` None: an unsharded bot; ``shards`` None with
        a count: all of them. StoreUnavailable if the server cannot be reached."""
        ids = list(range(shard_count or 0)) if shards is None else list(shards)
        who = f"citebot run pid {os.getpid()} on {host}"
        lock = cls(url, shard_count, ids, who[:63], every)  # PostgreSQL keeps 63 bytes of an application_name
        lock._db = await lock._take()
        lock._keeper = asyncio.create_task(lock._keep(), name="citebot-run-lock")
        return lock

    async def close(self) -> None:
        if self._keeper is not None:
            self._keeper.cancel()
        if self._db is not None:
            self._db.terminate()  # at once, even if the server stopped answering: the session's end releases it

    async def _take(self) -> asyncpg.Connection:
        store = without_password(self._url)
        db = await connect(self._url, server_settings={"application_name": self._name})
        try:
            if self._shard_count is None:
                if holders := await _try(db, "pg_try_advisory_lock", BOT_KEY, 0):
                    raise RunLockHeld(f"Another `citebot run` is using {store} ({holders}); stop it first.")
                return db
            if holders := await _try(db, "pg_try_advisory_lock_shared", BOT_KEY, 0):
                raise RunLockHeld(
                    f"An unsharded `citebot run` is using {store} ({holders}); stop it first (sharded processes "
                    "run only beside other sharded ones)."
                )
            # Never held exclusively, so this never waits; it only shows other processes this one's count.
            await db.execute("SELECT pg_advisory_lock_shared($1, $2)", COUNT_KEY, self._shard_count)
            for shard in self._shards:
                if holders := await _try(db, "pg_try_advisory_lock", SHARD_KEY, shard):
                    raise RunLockHeld(
                        f"Another `citebot run` runs shard {shard} of {store} ({holders}); stop it first, or give "
                        "this process shards no other runs (CITEBOT_SHARD_IDS)."
                    )
            others = await db.fetch(HOLDERS + " AND l.objid <> $2", COUNT_KEY, self._shard_count)
            if others:
                raise RunLockHeld(
                    f"Another `citebot run` on {store} has CITEBOT_SHARD_COUNT={others[0]['objid']} "
                    f"({_named(others)}), this one {self._shard_count}: every process needs the same count. "
                    "Stop it first, or use its count."
                )
            return db
        except BaseException:
            await db.close()  # releases whatever it took
            raise

    async def _keep(self) -> None:
        """Check the lock's connection; when it is gone, take the lock again (chosen over stopping at once: a
        server restart would otherwise stop every bot), or set ``lost`` if another process has it now."""
        while True:
            await asyncio.sleep(self._every)
            try:
                if self._db is not None:
                    await self._db.fetchval("SELECT 1", timeout=self._every)
                    continue
                self._db = await self._take()
                log.warning("event=run_lock_taken_again")
            except RunLockHeld as refused:
                log.error("event=run_lock_lost: %s", refused)
                self.lost.set()
                return
            except (OSError, TimeoutError, asyncpg.PostgresError, asyncpg.InterfaceError, StoreUnavailable) as error:
                if self._db is not None:
                    log.warning(
                        "event=run_lock_connection_lost error=%r; taking it again when the server answers", error
                    )
                    self._db.terminate()
                    self._db = None


async def _try(db: asyncpg.Connection, function: str, classid: int, objid: int) -> str | None:
    """Take one key without waiting; None when taken, else who holds it."""
    if await db.fetchval(f"SELECT {function}($1, $2)", classid, objid):
        return None
    return _named(await db.fetch(HOLDERS + " AND l.objid = $2", classid, objid))


def _named(holders: Sequence[asyncpg.Record]) -> str:
    """The processes holding a key, as a message names them; none left (it just stopped): "another process"."""
    names = sorted({row["application_name"] or f"PostgreSQL backend pid {row['pid']}" for row in holders})
    return "; ".join(names) or "another process"
