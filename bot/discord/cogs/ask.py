"""Members ask: ``/ask``, mentioning the bot, and the "Fact-check this message" context menu."""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
import logging
import re
import time
from typing import Any

import discord
from discord import app_commands
from discord.ext import commands

from bot.core.models import Answer
from bot.discord import embeds, respond
from bot.discord.checks import NoCorpus, ask_cooldown, log_scope, search_scopes
from bot.discord.client import CitebotBot
from bot.discord.errors import UNEXPECTED, describe
from bot.discord.views import answer_view

log = logging.getLogger(__name__)

QUESTION_MAX = 300  # /ask option length (Discord enforces it in the form): a question, not an essay
FACT_CHECK_FRAMING = "Read them all: articles may confirm or contradict it."
FACT_CHECK_MAX = 1000  # a long message is cut: its first claims are what the member is asking about
THREAD_NAME_MAX = 100
CANNOT_REPLY_WITHOUT_HISTORY = 160002  # Discord's error code for a reply the bot may not make
NO_CORPUS = "There are no articles to search here. Ask in a server that has added some."


_LINK = re.compile(r"\[([^\]]*)\]\(<?https?://[^)\s]*>?\)")  # [text](address): the text is what was meant
_NOT_WORDS = re.compile(r"<(?:@[!&]?|#)\d+>|<a?:\w+:\d+>|@(?:everyone|here)\b|<?https?://\S+", re.IGNORECASE)


# A question that leans on the one before it: "and what did they say about it?"
_FOLLOW_UP = re.compile(
    r"^\W*(?:and|so|but|also|what about|how about)\b|\b(?:it|its|that|this|they|them|their|he|him|his|she|her|there|those)\b",
    re.IGNORECASE,
)


def plain_question(text: str) -> str:
    """What a member asks, without Discord's formatting: bold, spoilers, code marks, link addresses, mentions and
    custom emoji are not words of the question (they changed its answer, and showed raw in the title)."""
    text = discord.utils.remove_markdown(_LINK.sub(r"\1", text))
    return " ".join(_NOT_WORDS.sub(" ", text).split())


def message_text(message: discord.Message) -> str:
    """What a message says, as a question: its content, else (a bare link) the text of its embeds, the link's
    preview."""
    said = plain_question(message.content or "")
    if said:
        return said
    return plain_question(" ".join(f"{embed.title or ''} {embed.description or ''}" for embed in message.embeds))


NO_EMBED_LINKS = (
    "I can't show answers in this channel: I need the **Embed Links** permission here. "
    "A moderator can grant it; meanwhile `/ask` works anywhere."
)


async def _reply(message: discord.Message, content: str | None = None, **kwargs: Any) -> discord.Message:
    """Reply without pinging; without Read Message History a reply is refused, so post plainly instead."""
    try:
        return await message.reply(content, mention_author=False, **kwargs)
    except discord.HTTPException as error:
        if error.code != CANNOT_REPLY_WITHOUT_HISTORY:
            raise
        return await message.channel.send(content, **kwargs)


class Ask(commands.Cog):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        self.fact_check_menu = app_commands.ContextMenu(name="Fact-check this message", callback=self.fact_check)
        self.fact_check_menu.add_check(ask_cooldown)

    async def cog_load(self) -> None:
        self.bot.tree.add_command(self.fact_check_menu)

    async def cog_unload(self) -> None:
        self.bot.tree.remove_command(self.fact_check_menu.name, type=self.fact_check_menu.type)

    # -- the core call --------------------------------------------------------------------------------------
    async def _ask(self, question: str, guild_id: int | None, user_id: int, *, kind: str) -> Answer:
        scopes = search_scopes(guild_id, self.bot.settings.shared_corpus)
        if not scopes:
            raise NoCorpus(NO_CORPUS)
        started = time.perf_counter()
        answer = await self.bot.library.ask(
            question,
            scopes,
            quotes=self.bot.quotes_per_answer + 1,  # one extra: is there a next page?
            look_ahead=1,
            user_id=str(user_id),
            log_scope=log_scope(guild_id),
        )
        log.info(
            "event=ask kind=%s guild=%s user=%s scope=%s latency_ms=%.1f abstained=%s quotes=%d query=%s",
            kind,
            guild_id,
            user_id,
            log_scope(guild_id),
            (time.perf_counter() - started) * 1000,
            answer.abstained,
            len(answer.quotes),
            answer.query_id,
        )
        return answer

    def answer_message(self, answer: Answer) -> dict[str, Any]:
        """Embed plus buttons; "More quotes" only when there are more."""
        if answer.abstained:
            return {"embed": embeds.abstain_embed(answer)}
        page, more = embeds.first_page(answer, self.bot.quotes_per_answer)
        view = answer_view(answer.query_id, len(page.quotes) if more else None)
        return {"embed": embeds.answer_embed(page)} | ({"view": view} if view else {})

    async def answer_interaction(
        self, interaction: discord.Interaction, question: str, *, private: bool, kind: str
    ) -> None:
        task = asyncio.ensure_future(self._ask(question, interaction.guild_id, interaction.user.id, kind=kind))
        done, _ = await asyncio.wait({task}, timeout=self.bot.fast_answer_seconds)
        if not done:
            await respond.defer(interaction, ephemeral=private)
        answer = await task
        if kind == "context_menu" and answer.quotes:
            # The quotes are what the articles say about the claim, not a verdict: a member who reads only the
            # first ("…downgraded to a Category 2 storm") took a false claim as confirmed.
            answer = dataclasses.replace(answer, message=f"{FACT_CHECK_FRAMING} {answer.message}")
        # Abstentions are private: "I don't know" is for the asker, not the channel.
        await respond.finish(interaction, ephemeral=private or answer.abstained, **self.answer_message(answer))

    # -- /ask ---------------------------------------------------------------------------------------------------
    @app_commands.command(name="ask", description="Ask about the news: I answer with quotes from the articles.")
    @app_commands.describe(
        question="Your question, e.g. 'Did the US confirm the strike?'",
        private="Only you see the answer (default: everyone in the channel)",
    )
    @app_commands.check(ask_cooldown)
    async def ask(
        self,
        interaction: discord.Interaction,
        question: app_commands.Range[str, 1, QUESTION_MAX],
        private: bool = False,
    ) -> None:
        await self.answer_interaction(interaction, plain_question(question), private=private, kind="slash")

    # -- "Fact-check this message" ----------------------------------------------------------------------------
    async def fact_check(self, interaction: discord.Interaction, message: discord.Message) -> None:
        text = message_text(message)
        if not text:
            await interaction.response.send_message("That message has no text I can check.", ephemeral=True)
            return
        await self.answer_interaction(interaction, text[:FACT_CHECK_MAX], private=True, kind="context_menu")

    # -- @citebot question ---------------------------------------------------------------------------------------
    def _mentions_me(self, message: discord.Message) -> bool:
        me = self.bot.user
        if me is None or message.author.bot or message.webhook_id is not None:
            return False
        if me in message.mentions:  # @everyone does not put us here; only a real mention (or a reply ping) does
            return True
        # Picking the bot from the member list sometimes inserts its managed role instead of the user.
        own_role = message.guild.self_role if message.guild else None
        return own_role is not None and own_role in message.role_mentions

    def _is_own(self, thread: discord.Thread) -> bool:
        return self.bot.user is not None and thread.owner_id == self.bot.user.id

    def _mention_pattern(self, message: discord.Message) -> str:
        me = self.bot.user
        assert me is not None
        pattern = rf"<@!?{me.id}>"
        if message.guild and message.guild.self_role:
            pattern += rf"|<@&{message.guild.self_role.id}>"
        return pattern

    def _question_from(self, message: discord.Message) -> str:
        return plain_question(re.sub(self._mention_pattern(message), " ", message.content))

    def _is_addressed_as_question(self, message: discord.Message) -> bool:
        """A written mention is a question; a reply to the bot that pings it only by being a reply
        ("thanks!", "great") is conversation, unless it asks something (has a question mark)."""
        if re.search(self._mention_pattern(message), message.content):
            return True
        return "?" in message.content

    @commands.Cog.listener()
    async def on_message(self, message: discord.Message) -> None:
        if not self._mentions_me(message):
            log.debug("event=ignored reason=not_mentioned message=%s", message.id)
            return
        if not self._is_addressed_as_question(message):
            log.info(
                "event=ignored reason=reply_not_a_question guild=%s user=%s message=%s",
                message.guild and message.guild.id,
                message.author.id,
                message.id,
            )
            return
        try:
            await self._answer_mention(message)
        except Exception as error:
            log.error(
                "event=error kind=mention guild=%s user=%s",
                message.guild and message.guild.id,
                message.author.id,
                exc_info=error,
            )
            text = describe(error) or UNEXPECTED
            with contextlib.suppress(discord.HTTPException):
                await _reply(message, text)

    async def _answer_mention(self, message: discord.Message) -> None:
        guild_id = message.guild.id if message.guild else None
        question = self._question_from(message)
        if not question:
            await _reply(
                message,
                "Ask me something after the mention, e.g. `@citebot did the US confirm the strike?` (or use `/ask`).",
            )
            return
        cooldown = self.bot.cooldowns.hit(guild_id, message.author.id)
        if cooldown is not None:
            # Deleted when it stops being true, so a busy channel is not left with stale notices.
            await _reply(message, describe(cooldown) or "", delete_after=max(cooldown.retry_after, 3.0))
            return
        # Not cut to /ask's 300 characters: a mention is read whole, up to the core's own limit (1,000), or its
        # last question ("... and was anyone shot?") was dropped without a word.
        channel = message.channel
        searched = question
        if isinstance(channel, discord.Thread) and self._is_own(channel) and _FOLLOW_UP.search(question):
            # A follow-up in a thread we started: the thread is named after the question it continues.
            searched = f"{question} {channel.name}"
        answer = await self._ask(searched, guild_id, message.author.id, kind="mention")
        if searched != question:
            answer = dataclasses.replace(answer, question=question)  # shown as the member asked it
        reply = self.answer_message(answer)
        if message.guild is None or isinstance(channel, discord.DMChannel):
            await _reply(message, **reply)
            return
        allowed = channel.permissions_for(message.guild.me)
        if not allowed.embed_links:
            # Discord drops the embed and posts an empty message: say what is missing instead.
            await _reply(message, NO_EMBED_LINKS)
            return
        if answer.abstained or isinstance(channel, discord.Thread) or not allowed.send_messages_in_threads:
            # Already in a thread (ours or not: follow-ups stay where they are), nothing to discuss, or a thread
            # we could start but not write in.
            await _reply(message, **reply)
            return
        try:
            thread = await message.create_thread(
                name=embeds.trim(embeds.one_line(question), THREAD_NAME_MAX), auto_archive_duration=1440
            )
        except discord.HTTPException as error:  # no thread permission, or a channel type without threads
            log.info("event=thread_failed guild=%s channel=%s error=%s", guild_id, channel.id, error)
            await _reply(message, **reply)
            return
        await thread.send(**reply)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(Ask(bot))
