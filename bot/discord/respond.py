"""Answering an interaction with the right visibility, whether or not it was deferred.

Discord fixes a deferred response's visibility at the defer: the first follow-up *replaces* the
"citebot is thinking…" placeholder and inherits its flags, whatever ``ephemeral`` it asks for. So a
public defer whose outcome must be private (an abstention, a refusal, an error) deletes the placeholder
first; the follow-up then becomes a message of its own and may be ephemeral.
"""

from __future__ import annotations

import contextlib
from typing import Any

import discord

_PLACEHOLDER = "citebot.public_placeholder"  # in Interaction.extras: a public "thinking…" awaits replacement


async def defer(interaction: discord.Interaction, *, ephemeral: bool) -> None:
    await interaction.response.defer(ephemeral=ephemeral, thinking=True)
    interaction.extras[_PLACEHOLDER] = not ephemeral


async def finish(interaction: discord.Interaction, *, ephemeral: bool, **message: Any) -> None:
    """Send the final answer: the response itself, or the follow-up that replaces a defer."""
    if not interaction.response.is_done():
        await interaction.response.send_message(ephemeral=ephemeral, **message)
        return
    if ephemeral and interaction.extras.pop(_PLACEHOLDER, False):
        with contextlib.suppress(discord.NotFound):
            await interaction.delete_original_response()
    interaction.extras.pop(_PLACEHOLDER, None)
    await interaction.followup.send(ephemeral=ephemeral, **message)
