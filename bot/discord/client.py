"""The bot: a discord.py ``commands.Bot`` holding the Library, its cogs, persistent buttons and error handler."""

from __future__ import annotations

import asyncio
import contextlib
import json
import logging
import math
import os
import re
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import discord
import yarl
from discord import app_commands
from discord.ext import commands

from bot import __version__
from bot.config import Settings
from bot.core.library import Library
from bot.discord import errors, views
from bot.discord.checks import UserCooldowns
from bot.tools.health import status_path

log = logging.getLogger(__name__)

EXTENSIONS = ("bot.discord.cogs.ask", "bot.discord.cogs.corpus", "bot.discord.cogs.meta", "bot.discord.cogs.privacy")
SYNC_TIMEOUT = 20.0  # the contract: identified and synced within 30 s of start
HEARTBEAT_SECONDS = 30.0  # `citebot health` treats a status older than 120 s as a hung bot
RETENTION_EVERY_SECONDS = 24 * 3600.0  # questions past CITEBOT_RETENTION_DAYS are deleted at start, then daily


def configure_endpoints(settings: Settings) -> None:
    """Point discord.py at a REST proxy and gateway proxy, if configured. Must run before login.

    ``Route.BASE`` is used for every REST call, interaction follow-ups (webhooks) included. discord.py
    only resets it in ``discord.http._set_api_version``, which nothing in the library calls and neither do we.
    A plain (unsharded) Bot connects to ``DEFAULT_GATEWAY`` first, then resumes at READY's resume URL.
    """
    if settings.api_base:
        discord.http.Route.BASE = settings.api_base.rstrip("/")
    if settings.gateway:
        discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY = yarl.URL(settings.gateway)


def make_bot(library: Library, settings: Settings) -> CitebotBot:
    """The bot for ``citebot run``: sharded when CITEBOT_SHARD_COUNT is set (this process runs CITEBOT_SHARD_IDS,
    default all), and only the process running shard 0 syncs the application commands."""
    if settings.shard_count is None:
        return CitebotBot(library, settings)
    return ShardedCitebotBot(
        library,
        settings,
        sync_commands=settings.syncs_commands,
        shard_count=settings.shard_count,
        shard_ids=settings.shards,
    )


class CitebotTree(app_commands.CommandTree["CitebotBot"]):
    async def on_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        await errors.report_error(interaction, error)


class CitebotBot(commands.Bot):
    """Slash commands only: no prefix commands, no privileged intents.

    Messages that mention the bot carry their content without the message-content intent, which is all
    the mention-to-ask flow needs.
    """

    def __init__(self, library: Library, settings: Settings, *, sync_commands: bool = True, **sharding: Any) -> None:
        intents = discord.Intents.default()  # guilds + guild/DM messages; members/presences/content are off
        # The bot never joins voice: two start-up warnings about missing voice libraries would only mislead.
        discord.VoiceClient.warn_nacl = False
        discord.VoiceClient.warn_dave = False
        super().__init__(
            command_prefix=commands.when_mentioned,  # required by commands.Bot; on_message below never runs it
            intents=intents,
            # No message the bot sends can ping anyone: answers quote third-party text.
            allowed_mentions=discord.AllowedMentions.none(),
            help_command=None,
            tree_cls=CitebotTree,
            activity=discord.CustomActivity(name="Ask me with /ask"),
            **sharding,
        )
        self.library = library
        self.settings = settings
        self.sync_commands_on_start = sync_commands
        self.cooldowns = UserCooldowns(settings.cooldown_rate, settings.cooldown_seconds)
        self.quotes_per_answer = 3
        # Answers usually take milliseconds. One that comes back within this window is sent as the first
        # response, with the right visibility; otherwise /ask defers (well inside Discord's 3 s) and
        # follows up. Avoids a public "thinking…" flashing up before a private abstention.
        self.fast_answer_seconds = 0.8
        # discord.py's session waits 5 minutes for an attachment; a few MB from Discord's CDN take seconds.
        self.download_seconds = 60.0
        self.version = __version__
        self.synced = asyncio.Event()
        self._heartbeat: asyncio.Task[None] | None = None
        self._retention: asyncio.Task[None] | None = None
        # What this process answers: its buttons' templates (add_dynamic_items) and its forms' ids (the cogs add
        # theirs). views.answer_stale answers any other `citebot:` id, which would otherwise go unanswered.
        self.component_templates: list[re.Pattern[str]] = []
        self.form_ids: set[str] = set()

    def add_dynamic_items(self, *items: type[discord.ui.DynamicItem[Any]]) -> None:
        super().add_dynamic_items(*items)
        # The template each class was declared with, as discord.py matches a custom_id against it.
        self.component_templates += [item.__discord_ui_compiled_template__ for item in items]

    @property
    def status_path(self) -> Path:
        """Where the running bot reports its gateway state for `citebot health` (the Docker HEALTHCHECK);
        one file per process (per shard range) when sharded."""
        return status_path(self.settings.process_path)

    def write_status(self) -> None:
        connected = self.is_ready() and not self.is_closed() and math.isfinite(self.latency)
        status = {
            "gateway_connected": connected,
            "updated_at": datetime.now(UTC).isoformat(),
            "pid": os.getpid(),
            "index_seq": self.library.applied_seq,  # the change-log entry its index reflects, for `citebot health`
        }
        tmp = self.status_path.with_suffix(".tmp")
        tmp.write_text(json.dumps(status), encoding="utf-8")
        tmp.replace(self.status_path)  # atomic: health never reads half a file

    def _write_status_logged(self) -> None:
        try:
            self.write_status()
        except OSError as error:
            log.warning("event=status_write_failed error=%r", error)

    async def _write_status_forever(self) -> None:
        while not self.is_closed():
            self._write_status_logged()
            await asyncio.sleep(HEARTBEAT_SECONDS)

    async def apply_retention(self) -> int:
        """Delete logged questions (with member ids and votes) older than the retention setting; 0 keeps all."""
        days = self.settings.retention_days
        if not days:
            return 0
        deleted = await self.library.purge_questions(days)
        log.info("event=retention days=%d deleted=%d", days, deleted)
        return deleted

    async def _apply_retention_forever(self) -> None:
        while not self.is_closed():
            try:
                await self.apply_retention()
            except Exception as error:  # e.g. the store busy for longer than its timeout: try again tomorrow
                log.error("event=retention_failed error=%r", error)
            await asyncio.sleep(RETENTION_EVERY_SECONDS)

    async def close(self) -> None:
        for task in (self._heartbeat, self._retention):
            if task is not None:
                task.cancel()
        await super().close()
        # Stopped on purpose: no heartbeat, as before the first start. A "disconnected" one left behind kept
        # `citebot health` unhealthy for good (and the README's restore steps never passed).
        with contextlib.suppress(OSError):
            self.status_path.unlink(missing_ok=True)

    async def setup_hook(self) -> None:
        self._heartbeat = asyncio.create_task(self._write_status_forever())
        self._retention = asyncio.create_task(self._apply_retention_forever())
        for extension in EXTENSIONS:
            await self.load_extension(extension)
        # Registered by class, so buttons on messages from before a restart still resolve.
        self.add_dynamic_items(views.FeedbackButton, views.MoreQuotesButton)
        if self.sync_commands_on_start:
            try:
                await asyncio.wait_for(self.sync_commands(self.settings.dev_guild), SYNC_TIMEOUT)
            except (discord.HTTPException, TimeoutError) as error:
                # Commands synced earlier keep working; a failed sync must not keep the bot offline.
                log.error("event=sync_failed error=%r", error)

    async def sync_commands(self, guild_id: int | None) -> list[app_commands.AppCommand]:
        """Sync to one server (instant, for development) or globally."""
        if guild_id:
            guild = discord.Object(id=guild_id)
            self.tree.copy_global_to(guild=guild)
            synced = await self.tree.sync(guild=guild)
        else:
            synced = await self.tree.sync()
        log.info("event=sync scope=%s commands=%d", f"guild:{guild_id}" if guild_id else "global", len(synced))
        self.synced.set()
        return synced

    async def on_message(self, message: discord.Message, /) -> None:
        """No prefix commands: the Ask cog's listener handles mentions."""

    async def on_interaction(self, interaction: discord.Interaction, /) -> None:
        """Buttons and forms no handler knows (an older version's random ids, a forged or another version's
        `citebot:` id) answer too, with what to do instead."""
        await views.answer_stale(interaction)

    async def on_ready(self) -> None:
        # At once: the heartbeat written at start says "not connected", and `citebot health` repeated it for up to
        # HEARTBEAT_SECONDS after the bot had connected.
        self._write_status_logged()
        user = self.user
        log.info(
            "event=ready user=%s id=%s guilds=%d version=%s",
            user,
            user.id if user else None,
            len(self.guilds),
            self.version,
        )


class ShardedCitebotBot(CitebotBot, commands.AutoShardedBot):
    """The same bot over discord.py's AutoShardedBot: this process's shards on one gateway connection each.

    Cooldowns and moderator roles need nothing more: a guild's events always reach the one process running its
    shard, and the moderator role lives in the shared store."""
