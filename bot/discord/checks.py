"""Who may do what, and how often: scopes, the moderator check and per-user cooldowns.

Every failure here is an :class:`app_commands.CheckFailure` whose message is written for the member who
sees it; the central handler in errors.py shows it privately.
"""

from __future__ import annotations

import time
from typing import TYPE_CHECKING

import discord
from discord import app_commands

from bot.core.library import SHARED_SCOPE, guild_scope

if TYPE_CHECKING:
    from bot.discord.client import CitebotBot

MODERATOR_ROLE_KEY = "moderator_role"


class NotModerator(app_commands.CheckFailure):
    """A member without Manage Server or the moderator role tried to curate the corpus."""


class NoCorpus(app_commands.CheckFailure):
    """Asked somewhere with nothing to search (e.g. a DM while the shared corpus is off)."""


def bot_of(interaction: discord.Interaction) -> CitebotBot:
    return interaction.client  # type: ignore[return-value]


# -- scopes ------------------------------------------------------------------------------------------------


def search_scopes(guild_id: int | None, shared: bool) -> list[str]:
    """What a member may read: their server's articles, plus the host's corpus when it is shared.

    Empty in a DM when the host's corpus is not shared (the caller says so rather than searching nothing).
    """
    scopes = [guild_scope(guild_id)] if guild_id is not None else []
    if shared:
        scopes.append(SHARED_SCOPE)
    return scopes


def log_scope(guild_id: int | None) -> str:
    """Where a question is logged (gaps and feedback are per server; DMs count towards the shared corpus)."""
    return guild_scope(guild_id) if guild_id is not None else SHARED_SCOPE


# -- moderators --------------------------------------------------------------------------------------------


async def moderator_role_id(bot: CitebotBot, guild_id: int) -> int | None:
    raw = await bot.library.setting(guild_scope(guild_id), MODERATOR_ROLE_KEY)
    return int(raw) if raw and raw.isdigit() else None


async def is_moderator(interaction: discord.Interaction) -> bool:
    """Manage Server, or the server's configured moderator role."""
    if interaction.guild_id is None:
        return False
    if interaction.permissions.manage_guild:
        return True
    role_id = await moderator_role_id(bot_of(interaction), interaction.guild_id)
    if role_id is None or not isinstance(interaction.user, discord.Member):
        return False
    return any(role.id == role_id for role in interaction.user.roles)


async def require_moderator(interaction: discord.Interaction) -> bool:
    """Run-time check behind ``default_member_permissions``: server admins can change who sees /corpus,
    so seeing the command is not proof of the right to use it."""
    if await is_moderator(interaction):
        return True
    role_id = await moderator_role_id(bot_of(interaction), interaction.guild_id or 0)
    who = "members with **Manage Server**" + (f" or the <@&{role_id}> role" if role_id else "")
    raise NotModerator(
        f"Only {who} can manage this server's articles. Ask one of them to add what is missing"
        + ("." if role_id else ", or to make a moderator role with `/corpus moderators`.")
    )


async def require_manager(interaction: discord.Interaction) -> bool:
    """Choosing the moderator role is for Manage Server only, or moderators could appoint themselves."""
    if interaction.guild_id is not None and interaction.permissions.manage_guild:
        return True
    raise NotModerator("Only members with **Manage Server** can choose the moderator role.")


# -- cooldowns ---------------------------------------------------------------------------------------------


class UserCooldowns:
    """Token buckets per (server, user), shared by /ask, mentions and the context menu, so switching
    between them does not multiply a member's allowance. Never server-wide: one busy member must not
    silence everyone else."""

    def __init__(self, rate: int, per: float) -> None:
        self.rate = rate
        self.per = per
        self._buckets: dict[tuple[int, int], app_commands.Cooldown] = {}

    @property
    def enabled(self) -> bool:
        return self.rate > 0 and self.per > 0

    def hit(self, guild_id: int | None, user_id: int) -> app_commands.CommandOnCooldown | None:
        """Spend one token; returns the error to raise when there is none left."""
        if not self.enabled:
            return None
        now = time.time()
        if len(self._buckets) > 10_000:  # forget idle members so the map cannot grow without bound
            self._buckets = {k: b for k, b in self._buckets.items() if now - b._last < self.per}
        key = (guild_id or 0, user_id)
        bucket = self._buckets.get(key)
        if bucket is None:
            bucket = self._buckets[key] = app_commands.Cooldown(self.rate, self.per)
        retry_after = bucket.update_rate_limit(now)
        return app_commands.CommandOnCooldown(bucket, retry_after) if retry_after else None


async def ask_cooldown(interaction: discord.Interaction) -> bool:
    """A check for the asking commands (raises CommandOnCooldown, answered by the central handler)."""
    error = bot_of(interaction).cooldowns.hit(interaction.guild_id, interaction.user.id)
    if error is not None:
        raise error
    return True
