"""Buttons under answers: feedback and "More quotes" (persistent), and what answers a stale component.

The answer buttons are :class:`discord.ui.DynamicItem` s: everything they need is in their ``custom_id``
(``citebot:fb:up:<query id>``, ``citebot:more:<query id>:<offset>``), and the classes are registered once
in ``setup_hook``, so a button on a message sent before a restart still works after it. The question and
its server come from the query log, never from the button, so a forged id cannot reach another server's
articles. Every component and form citebot sends is made that way, with a ``custom_id`` starting
``citebot:`` (the list's pages, the add-text form: cogs/corpus.py); anything else is from an older version, and
a ``citebot:`` id that none of them matches is forged or another version's: both are answered by :func:`answer_stale`.
"""

from __future__ import annotations

import contextlib
import logging
import re
from collections.abc import Awaitable, Callable
from typing import TYPE_CHECKING, Any, cast

import discord

from bot.discord import embeds, respond
from bot.discord.checks import bot_of, log_scope, search_scopes

if TYPE_CHECKING:
    from bot.core.models import Answer

log = logging.getLogger(__name__)

FEEDBACK_TEMPLATE = r"citebot:fb:(?P<vote>up|down):(?P<query_id>[0-9]{1,18})"
MORE_TEMPLATE = r"citebot:more:(?P<query_id>[0-9]{1,18}):(?P<offset>[0-9]{1,4})"
MAX_OFFSET = 30  # "More quotes" stops after this many quotes: by then they are rarely relevant
CUSTOM_ID_PREFIX = "citebot:"  # every component and form this version sends, none of discord.py's random ids
STALE_BUTTON = (
    "These buttons are from before I restarted and no longer work: run the command again "
    "(`/corpus list` for the list of articles)."
)
STALE_FORM = "This form was opened before I restarted, so it was not saved: run `/corpus add-text` again."


def answer_view(query_id: int | None, next_offset: int | None) -> discord.ui.View | None:
    """👍 / 👎 and "More quotes" under an answer; None when there is nothing to attach them to."""
    if query_id is None:
        return None
    view = discord.ui.View(timeout=None)
    view.add_item(FeedbackButton("up", query_id))
    view.add_item(FeedbackButton("down", query_id))
    if next_offset is not None and next_offset < MAX_OFFSET:
        view.add_item(MoreQuotesButton(query_id, next_offset))
    return view


def data_of(interaction: discord.Interaction) -> dict[str, Any]:
    """The interaction's raw data (a union of typed dicts, one per interaction type), to read by key."""
    return cast(dict[str, Any], interaction.data or {})


async def reply_privately(interaction: discord.Interaction, content: str) -> None:
    await respond.finish(interaction, ephemeral=True, content=content)


class FeedbackButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=FEEDBACK_TEMPLATE):
    def __init__(self, vote: str, query_id: int) -> None:
        self.vote = vote
        self.query_id = query_id
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                emoji="👍" if vote == "up" else "👎",
                custom_id=f"citebot:fb:{vote}:{query_id}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> FeedbackButton:
        return cls(match["vote"], int(match["query_id"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._record)

    async def _record(self, interaction: discord.Interaction) -> None:
        # Acknowledge before writing: a write can wait on another process's transaction (busy timeout),
        # and Discord forgets an interaction not answered within 3 s.
        await respond.defer(interaction, ephemeral=True)
        # Scope-checked: a click only counts for a question asked in the same server. One vote per member.
        stored = await bot_of(interaction).library.vote(
            self.query_id, log_scope(interaction.guild_id), str(interaction.user.id), helpful=self.vote == "up"
        )
        log.info(
            "event=feedback query=%d vote=%s guild=%s user=%s stored=%s",
            self.query_id,
            self.vote,
            interaction.guild_id,
            interaction.user.id,
            stored,
        )
        if not stored:
            await reply_privately(interaction, "That answer is no longer on record, so the vote was not kept.")
        elif self.vote == "up":
            await reply_privately(interaction, "Thanks! Your vote: this answer helped. 👍 (👎 changes it.)")
        else:
            await reply_privately(
                interaction,
                "Thanks! Your vote: this answer did not help. 👎 (👍 changes it.) If an article that answers it is "
                "missing, ask a moderator to add it.",
            )


class MoreQuotesButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=MORE_TEMPLATE):
    def __init__(self, query_id: int, offset: int) -> None:
        self.query_id = query_id
        self.offset = offset
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.primary,
                label="More quotes",
                custom_id=f"citebot:more:{query_id}:{offset}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> MoreQuotesButton:
        return cls(int(match["query_id"]), int(match["offset"]))

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._more)

    async def _more(self, interaction: discord.Interaction) -> None:
        bot = bot_of(interaction)
        # Each click runs the question again: it spends the member's question allowance like /ask does.
        cooldown = bot.cooldowns.hit(interaction.guild_id, interaction.user.id)
        if cooldown is not None:
            raise cooldown
        # Privately: whoever clicks gets the next quotes without adding a message for everyone.
        await interaction.response.defer(ephemeral=True, thinking=True)
        question = await bot.library.logged_question(self.query_id, log_scope(interaction.guild_id))
        if question is None:
            await interaction.followup.send(
                "That question is no longer on record; ask it again with `/ask`.", ephemeral=True
            )
            return
        scopes = search_scopes(interaction.guild_id, bot.settings.shared_corpus)
        # Not logged again: the gaps report counts questions, not pages of one question.
        answer = await bot.library.ask(question, scopes, quotes=bot.quotes_per_answer + 1, offset=self.offset)
        message = more_quotes_message(answer, self.query_id, self.offset, bot.quotes_per_answer)
        await interaction.followup.send(**message, ephemeral=True)


def more_quotes_message(answer: Answer, query_id: int, offset: int, per_page: int) -> dict[str, Any]:
    """The next page of quotes (``answer`` was asked for one extra), with "More quotes" while there are more."""
    if answer.abstained or not answer.quotes:
        return {"content": "There are no more quotes for this question."}
    page, more = embeds.first_page(answer, per_page)
    view = answer_view(query_id, offset + len(page.quotes) if more else None)
    return {"embed": embeds.answer_embed(page, first_quote=offset + 1)} | ({"view": view} if view else {})


async def guarded(interaction: discord.Interaction, handler: Callable[[discord.Interaction], Awaitable[None]]) -> None:
    """Button callbacks and forms do not pass through tree.on_error; give them the same treatment."""
    try:
        await handler(interaction)
    except Exception as error:
        from bot.discord.errors import report_error

        await report_error(interaction, error)


def is_answered(interaction: discord.Interaction, custom_id: str) -> bool:
    """Whether a handler of this process answers the component or form: a `citebot:` id it registered."""
    if not custom_id.startswith(CUSTOM_ID_PREFIX):
        return False
    bot = bot_of(interaction)
    if interaction.type is discord.InteractionType.modal_submit:
        return custom_id in bot.form_ids
    return any(template.fullmatch(custom_id) for template in bot.component_templates)  # as discord.py matches


async def answer_stale(interaction: discord.Interaction) -> None:
    """A button or form no handler knows (an older version's, whose ids were random, or a `citebot:` id that no
    template matches: forged, or a newer version's) would go unanswered, and Discord would say only "This
    interaction failed": say what to do instead."""
    if interaction.type not in (discord.InteractionType.component, discord.InteractionType.modal_submit):
        return
    custom_id = str(data_of(interaction).get("custom_id", ""))
    if is_answered(interaction, custom_id) or interaction.response.is_done():
        return
    log.info(
        "event=stale_interaction guild=%s user=%s custom_id=%r", interaction.guild_id, interaction.user.id, custom_id
    )
    stale = STALE_FORM if interaction.type is discord.InteractionType.modal_submit else STALE_BUTTON
    with contextlib.suppress(discord.HTTPException):  # e.g. answered meanwhile by a handler after all
        await reply_privately(interaction, stale)
