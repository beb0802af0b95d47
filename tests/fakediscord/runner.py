"""Run a real discord.py client against :class:`FakeDiscord`."""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import AsyncIterator, Iterator
from typing import TypeVar

import discord
import yarl
from discord.gateway import DiscordWebSocket
from discord.http import Route

from .server import FakeDiscord

ClientT = TypeVar("ClientT", bound=discord.Client)


@contextlib.contextmanager
def pointed_at(fake: FakeDiscord) -> Iterator[None]:
    """Point discord.py's REST base (also used by webhooks/follow-ups) and gateway at the fake."""
    old_base, old_gateway = Route.BASE, DiscordWebSocket.DEFAULT_GATEWAY
    Route.BASE = fake.api_base
    DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(fake.gateway_url)
    try:
        yield
    finally:
        Route.BASE = old_base
        DiscordWebSocket.DEFAULT_GATEWAY = old_gateway


@contextlib.asynccontextmanager
async def run_bot(
    bot: ClientT,
    fake: FakeDiscord,
    *,
    token: str | None = None,
    ready_timeout: float = 10.0,
    close_timeout: float = 5.0,
    guild_ready_timeout: float | None = 0.05,
) -> AsyncIterator[ClientT]:
    """Start ``bot`` against ``fake``, wait for ``on_ready``, yield it, then close it cleanly.

    ``guild_ready_timeout`` shortens discord.py's wait for more GUILD_CREATEs after READY
    (2 s by default); pass None to keep the bot's own setting.
    """
    with pointed_at(fake):
        if guild_ready_timeout is not None:
            bot._connection.guild_ready_timeout = guild_ready_timeout
        task = asyncio.create_task(bot.start(token or fake.token), name="fakediscord-bot")
        try:
            loop = asyncio.get_running_loop()
            deadline = loop.time() + ready_timeout
            while not bot.is_ready():
                if task.done():
                    task.result()  # re-raise start-up errors (e.g. LoginFailure)
                    raise RuntimeError("bot.start() returned before the bot became ready")
                if loop.time() > deadline:
                    raise TimeoutError(f"bot not ready after {ready_timeout}s\n{fake.describe()}")
                await asyncio.sleep(0.01)
            yield bot
        finally:
            await bot.close()
            try:
                await asyncio.wait_for(task, close_timeout)
            except asyncio.CancelledError:
                pass
            except TimeoutError:
                task.cancel()
                with contextlib.suppress(BaseException):
                    await task
                raise
