"""``citebot run`` and ``citebot sync``: the bot's process life cycle.

``run`` needs no standard input and accepts any token string (Discord, or a proxy, judges it). It takes the
store's run lock (one bot per store or per shard: a file lock beside a SQLite store, advisory locks in a PostgreSQL
store, bot/core/locks_postgres.py), re-tokenises the store itself when its analysis version is not this
code's (`citebot reindex`, logged), points discord.py at the configured REST/gateway proxies *before* login,
seeds the built-in corpus once, follows other processes' changes to the store, and on SIGINT/SIGTERM closes
the bot first (no new questions) and the library last (saves the snapshot).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import signal
import socket
import sys
from typing import Any

import aiohttp
import discord

from bot.config import Settings
from bot.console import EXIT_ERROR, EXIT_OK, EXIT_USAGE, setup_logging
from bot.core import locks
from bot.core.errors import ReindexNeeded
from bot.core.library import Library, reindex
from bot.core.location import is_postgres
from bot.discord.client import CitebotBot, configure_endpoints, make_bot

log = logging.getLogger("bot.discord")


def _token(settings: Settings) -> str | None:
    if not settings.token or not settings.token.strip():
        print(
            "Set DISCORD_TOKEN to the bot token (Discord developer portal → your app → Bot), in .env or the environment.",
            file=sys.stderr,
        )
        return None
    return settings.token.strip()


async def cmd_run(args: argparse.Namespace, settings: Settings) -> int:
    setup_logging(settings.log_level, default="INFO")
    token = _token(settings)
    if token is None:
        return EXIT_USAGE
    try:
        settings.db_path.parent.mkdir(parents=True, exist_ok=True)
    except OSError as error:
        print(_cannot_write(settings, error), file=sys.stderr)
        return EXIT_ERROR
    # The run lock, held until the process ends: two bots on one store (or on one shard) would answer every
    # question twice. PostgreSQL's is in the database: processes sharing a store need not share a folder.
    if is_postgres(settings.db):
        from bot.core.locks_postgres import RunLock, RunLockHeld

        try:
            pg_lock = await RunLock.take(settings.db, settings.shard_count, settings.shards, host=socket.gethostname())
        except RunLockHeld as held:
            print(held, file=sys.stderr)
            return EXIT_ERROR
        try:
            return await _run(settings, token, lock_lost=pg_lock.lost)
        finally:
            await pg_lock.close()
    try:
        run_lock = locks.take_run_lock(
            settings.db_path, settings.shard_count, settings.shards, host=socket.gethostname()
        )
    except locks.RunLockHeld as held:
        print(held, file=sys.stderr)
        return EXIT_ERROR
    except OSError as error:  # a read-only volume, or a data folder owned by another user
        print(_cannot_write(settings, error), file=sys.stderr)
        return EXIT_ERROR
    with run_lock:
        return await _run(settings, token, lock_lost=asyncio.Event())  # a file lock is never lost


def _cannot_write(settings: Settings, error: OSError) -> str:
    folder = settings.db_path.parent
    return (
        f"Cannot write {error.filename or folder} ({error.strerror or error}): the bot keeps its run lock, heartbeat "
        f"and index snapshot in {folder}. Make it writable by this user (not a read-only volume, not owned by "
        "another user), or point CITEBOT_DB at a writable place."
    )


async def _open_reindexing(settings: Settings) -> Library:
    """Open the library; if its analysis is outdated, re-tokenise the store first (resumable) and open again.
    Chosen over refusing to start: an upgraded image then comes up by itself, and a crash mid-way resumes."""
    try:
        return await Library.open(settings.db, fetch_policy=settings.fetch_policy(), model=settings.model)
    except ReindexNeeded as outdated:
        log.warning("event=reindex reason=%r", str(outdated))

        def progress(done: int, total: int) -> None:
            if done == total or done % 5_000 < 200:
                log.info("event=reindex_progress done=%d total=%d", done, total)

        await reindex(settings.db, progress=progress)
        return await Library.open(settings.db, fetch_policy=settings.fetch_policy(), model=settings.model)


async def _run(settings: Settings, token: str, *, lock_lost: asyncio.Event) -> int:
    """Run the bot until a signal, or until ``lock_lost`` (another process has the run lock now: exit 1)."""
    configure_endpoints(settings)
    stopping = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # Windows: Ctrl+C still raises KeyboardInterrupt
            loop.add_signal_handler(sig, stopping.set)
    library = await _open_reindexing(settings)
    follower = asyncio.create_task(library.follow(), name="citebot-follow")
    try:
        await library.seed_corpus(settings.corpus, enabled=settings.shared_corpus)
        if stopping.is_set() or lock_lost.is_set():  # stopped while indexing: the store is consistent, don't log in
            return EXIT_ERROR if lock_lost.is_set() else EXIT_OK
        bot = make_bot(library, settings)
        runner = asyncio.create_task(bot.start(token), name="citebot")
        stopper = asyncio.create_task(stopping.wait(), name="citebot-signal")
        lock_gone = asyncio.create_task(lock_lost.wait(), name="citebot-lock-lost")
        done, _ = await asyncio.wait({runner, stopper, lock_gone}, return_when=asyncio.FIRST_COMPLETED)
        if stopper in done:
            log.info("event=shutdown reason=signal")
        elif lock_gone in done:
            log.error("event=shutdown reason=run_lock_lost: another process runs the bot on this store now")
        await bot.close()
        stopper.cancel()
        lock_gone.cancel()
        try:
            await runner
        except discord.LoginFailure:
            log.error("event=login_failed: Discord refused the token (DISCORD_TOKEN)")
            return EXIT_ERROR
        except (discord.HTTPException, discord.GatewayNotFound, OSError, aiohttp.ClientError) as error:
            if stopper in done:  # stopped while logging in or connecting: closing the client cut that short
                log.info("event=connection_abandoned error=%r", error)
                return EXIT_OK
            log.error("event=connection_failed error=%r", error)
            return EXIT_ERROR
        return EXIT_ERROR if lock_lost.is_set() else EXIT_OK
    finally:
        follower.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await follower
        try:
            await library.save_snapshot()  # the next start then reads nothing but the snapshot
        except OSError as error:  # a read-only volume must not stop a clean shutdown
            log.warning("event=snapshot_failed error=%r", error)
        await library.close(save_snapshot=False)
        log.info("event=stopped")


async def cmd_sync(args: argparse.Namespace, settings: Settings) -> int:
    """Log in over REST only (no gateway), sync the commands, exit."""
    setup_logging(settings.log_level, default="INFO")
    token = _token(settings)
    if token is None:
        return EXIT_USAGE
    configure_endpoints(settings)
    library = await Library.open(settings.db, fetch_policy=settings.fetch_policy())  # answers nothing: no model
    try:
        bot = CitebotBot(library, settings, sync_commands=False)
        async with bot:
            await bot.login(token)  # runs setup_hook: the cogs register their commands
            synced = await bot.sync_commands(args.guild or None)
        where = f"server {args.guild}" if args.guild else "every server (global; may take up to an hour to show)"
        print(f"synced {len(synced)} commands to {where}: {', '.join(sorted(c.name for c in synced))}")
        return EXIT_OK
    except discord.LoginFailure:
        print("Discord refused the token (DISCORD_TOKEN).", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await library.close(save_snapshot=False)


def register(sub: Any) -> None:
    p = sub.add_parser("run", description="Start the Discord bot (configured by environment).")
    p.set_defaults(handler=cmd_run)
    p = sub.add_parser(
        "sync",
        description="Sync the slash commands with Discord and exit.",
    )
    p.add_argument("--guild", type=int, default=None, help="sync to this server only (instant), not globally")
    p.set_defaults(handler=cmd_sync)
