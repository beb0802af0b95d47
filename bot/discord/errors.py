"""The one place errors become messages: members get a short private note, the log gets the traceback.

``CitebotTree.on_error`` (client.py) and the button callbacks (views.py) both end here. Check failures
raised on purpose (not a moderator, cooldown, wrong place) carry their own wording; anything else is a
bug, logged with enough context to find it and answered with a fixed sentence that leaks nothing.
"""

from __future__ import annotations

import logging
import math

import discord
from discord import app_commands

from bot.core.errors import StoreUnavailable
from bot.discord import respond

log = logging.getLogger(__name__)

UNEXPECTED = "Something went wrong; it has been logged."
STORE_UNAVAILABLE = (
    "My storage can't be used right now (full, damaged or out of reach), so I can't answer or save anything; "
    "nothing was changed. Please tell a moderator: the bot's log says what to do."
)


def describe(error: Exception) -> str | None:
    """The member-facing text for an expected failure, or None for a bug."""
    if isinstance(error, app_commands.CommandOnCooldown):
        seconds = max(1, math.ceil(error.retry_after))
        # Also what "More quotes" gets: it counts as asking, so the words fit a click too.
        return f"You're asking quickly (questions and More quotes count). Try again in {seconds} second{'s' if seconds != 1 else ''}."
    if isinstance(error, app_commands.NoPrivateMessage):
        return "This command only works in a server."
    if isinstance(error, app_commands.MissingPermissions | app_commands.BotMissingPermissions):
        return str(error)
    if isinstance(error, app_commands.TransformerError):
        return f"I couldn't understand {error.value!r} there."
    if isinstance(error, StoreUnavailable):  # the host's to fix: its own words (paths, what to do) go to the log
        return STORE_UNAVAILABLE
    if isinstance(error, app_commands.CheckFailure):
        # Our own checks (checks.py) phrase their message for the member; discord.py's generic one doesn't.
        text = str(error)
        return text if text and not text.startswith("The check functions") else "You can't use this command here."
    return None


async def report_error(interaction: discord.Interaction, error: Exception) -> None:
    """Answer privately and log. Never raises: an error while reporting an error would be lost anyway."""
    original = error.original if isinstance(error, app_commands.CommandInvokeError) else error
    text = describe(original)
    command = interaction.command.qualified_name if interaction.command else None
    if text is None:
        log.error(
            "event=error command=%s guild=%s channel=%s user=%s interaction=%s",
            command,
            interaction.guild_id,
            interaction.channel_id,
            interaction.user.id,
            interaction.id,
            exc_info=original,
        )
        text = UNEXPECTED
    elif isinstance(original, StoreUnavailable):
        log.error("event=store_unavailable command=%s guild=%s: %s", command, interaction.guild_id, original)
    else:
        log.info(
            "event=refused command=%s guild=%s user=%s reason=%s",
            command,
            interaction.guild_id,
            interaction.user.id,
            type(original).__name__,
        )
    try:
        if interaction.type is discord.InteractionType.autocomplete:
            if not interaction.response.is_done():
                await interaction.response.autocomplete([])
        else:
            await respond.finish(interaction, ephemeral=True, content=text)
    except discord.HTTPException as http_error:  # e.g. the interaction expired: nothing left to tell them
        log.warning("could not report an error to the member: %s", http_error)
