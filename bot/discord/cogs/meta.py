"""``/help`` and ``/about``: what the bot does, how to use it, and what it is searching."""

from __future__ import annotations

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.library import SHARED_SCOPE, guild_scope
from bot.discord import embeds
from bot.discord.checks import search_scopes
from bot.discord.client import CitebotBot

HELP = """\
I answer questions about the news with **exact sentences quoted from articles**, each with its source. \
If the articles don't answer it, I say so instead of guessing; when I'm unsure, the answer is amber and says \
the quotes are only the closest I found.

**Ask**
• `/ask question:` — e.g. *Did the US confirm the strike?* Add `private: True` to see the answer alone.
• Mention me: `@{name} who won the vote?` — I answer in a thread; mention me again there to follow up.
• Right-click (or long-press) a message → **Apps → Fact-check this message**.

Under each answer: 👍 / 👎 tell the moderators whether it helped, **More quotes** shows the next ones.

**Moderators** (Manage Server or the moderator role)
• `/corpus add-url`, `/corpus add-file`, `/corpus add-text` — add articles to this server
• `/corpus list`, `/corpus show`, `/corpus remove` — see and tidy them
• `/corpus gaps` — questions nobody could answer yet
• `/corpus moderators` — choose who else may do this

Articles added here are only used in this server.

**Privacy**: `/privacy forget-me` deletes the questions and votes stored with your Discord id (see `/about`).
"""


class Meta(commands.Cog):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot

    @app_commands.command(name="help", description="How to ask questions and manage the articles.")
    async def help(self, interaction: discord.Interaction) -> None:
        name = self.bot.user.name if self.bot.user else "citebot"
        embed = embeds.notice(HELP.format(name=name), title="How to use citebot")
        await interaction.response.send_message(embed=embed, ephemeral=True)

    @app_commands.command(name="about", description="What I'm searching: number of articles, the latest, my version.")
    async def about(self, interaction: discord.Interaction) -> None:
        library = self.bot.library
        shared = self.bot.settings.shared_corpus
        scopes = search_scopes(interaction.guild_id, shared)
        own = await library.count([guild_scope(interaction.guild_id)]) if interaction.guild_id else 0
        common = await library.count([SHARED_SCOPE]) if shared else 0
        latest = await library.list(scopes, limit=1) if scopes else []
        lines = [f"**{own + common}** articles to search here"]
        if interaction.guild_id is not None:
            lines.append(f"• {own} added by this server's moderators")
        if shared:
            lines.append(f"• {common} in the shared corpus")
        if latest:
            a = latest[0]
            citation = embeds.Citation(a.id, a.title, a.source, a.date, a.url)
            lines += ["", f"**Latest added** ({embeds.human_date(a.added_at)}): {embeds.citation_text(citation)}"]
        lines += ["", "Answers are verbatim quotes with their sources; no text is generated."]
        days = self.bot.settings.retention_days
        kept = f"for {days} days" if days else "until deleted"
        lines += [
            "",
            f"**Privacy**: questions are stored with your Discord id {kept}, for 👍/👎 and the moderators' list of "
            "unanswered questions. `/privacy forget-me` deletes yours at once.",
        ]
        embed = embeds.notice("\n".join(lines), title="About citebot")
        embed.set_footer(text=f"citebot {self.bot.version}")
        await interaction.response.send_message(embed=embed, ephemeral=True)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(Meta(bot))
