"""``/privacy forget-me``: a member deletes what the bot stored about them, in any server or a DM."""

from __future__ import annotations

import logging

import discord
from discord import app_commands
from discord.ext import commands

from bot.discord import respond
from bot.discord.client import CitebotBot

log = logging.getLogger(__name__)


class Privacy(commands.GroupCog, group_name="privacy", group_description="What citebot stores about you"):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        super().__init__()

    @app_commands.command(
        name="forget-me", description="Delete the questions and votes I stored with your Discord id, everywhere."
    )
    async def forget_me(self, interaction: discord.Interaction) -> None:
        # Acknowledge before writing: the write may wait on another process's transaction (busy timeout).
        await respond.defer(interaction, ephemeral=True)
        questions, votes, articles = await self.bot.library.forget_user(str(interaction.user.id))
        log.info(
            "event=forget_me user=%s questions=%d votes=%d articles=%d", interaction.user.id, questions, votes, articles
        )
        lines = [
            f"Done. Deleted {questions} question{'s' if questions != 1 else ''} and "
            f"{votes} vote{'s' if votes != 1 else ''} stored with your Discord id, in every server and DM."
        ]
        if articles:
            lines.append(
                f"{articles} article{'s' if articles != 1 else ''} you added stay{'s' if articles == 1 else ''} "
                "for the server, no longer credited to you."
            )
        await respond.finish(interaction, ephemeral=True, content="\n".join(lines))


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(Privacy(bot))
