"""Small pure parts of the Discord adapter: parsing, scopes, cooldowns, error wording, ingestion reports."""

from __future__ import annotations

import re

import discord
import pytest
from discord import app_commands

from bot.core.errors import StoreUnavailable
from bot.core.ingest import normalise_date as parse_date  # what /corpus add-text reads a typed date with
from bot.core.library import AddResult, IndexReport
from bot.core.models import Rejected
from bot.core.sizes import human_size
from bot.discord import errors
from bot.discord.checks import NotModerator, UserCooldowns, log_scope, search_scopes
from bot.discord.cogs.ask import plain_question
from bot.discord.cogs.corpus import LIST_TEMPLATE, SEARCH_MAX, Page, list_view, parse_article_id, report_embed


def test_parse_article_id_accepts_what_autocomplete_and_people_send() -> None:
    assert parse_article_id("42") == 42
    assert parse_article_id("#42") == 42
    assert parse_article_id(" #42 Council votes — Gazette, 2026-01-09") == 42
    assert parse_article_id("Council votes") is None
    assert parse_article_id("42abc") is None


def test_list_buttons_carry_the_longest_search_within_discords_100_characters() -> None:
    search = "é: " * (SEARCH_MAX // 3)  # the search is last, so a colon in it is no separator
    view = list_view(Page(discord.Embed(), 9_999_998, 9_999_999), True, search)
    assert view is not None
    ids = [item.custom_id for item in view.children if isinstance(item, discord.ui.DynamicItem)]
    assert len(ids) == 3 and all(len(i) <= 100 for i in ids)
    matches = [re.fullmatch(LIST_TEMPLATE, i) for i in ids]
    assert [(m["kind"], m["page"], m["where"], m["search"]) for m in matches if m] == [
        ("prev", "9999997", "s", search),
        ("at", "9999998", "s", search),
        ("next", "9999998", "s", search),
    ]


def test_parse_date_reads_unambiguous_dates_only() -> None:
    assert parse_date("2026-01-05") == "2026-01-05"
    assert parse_date("5 January 2026") == "2026-01-05"
    assert parse_date("Jan 5, 2026") == "2026-01-05"
    assert parse_date("01/02/2026") is None  # day or month first? not guessed
    assert parse_date("yesterday") is None


def test_sizes_read_the_same_in_every_limit_message() -> None:
    assert human_size(5 * 1024 * 1024) == "5 MB"
    assert human_size(2_000_000) == "1.9 MB"
    assert human_size(512 * 1024) == "512 KB"
    assert human_size(80) == "80 bytes"


def test_scopes_keep_servers_apart() -> None:
    assert search_scopes(1, shared=True) == ["guild:1", "shared"]
    assert search_scopes(1, shared=False) == ["guild:1"]
    assert search_scopes(None, shared=True) == ["shared"]
    assert search_scopes(None, shared=False) == []
    assert log_scope(7) == "guild:7" and log_scope(None) == "shared"


def test_cooldowns_are_per_user_per_server() -> None:
    cooldowns = UserCooldowns(rate=2, per=60)
    assert cooldowns.hit(1, 10) is None and cooldowns.hit(1, 10) is None
    error = cooldowns.hit(1, 10)
    assert isinstance(error, app_commands.CommandOnCooldown) and 0 < error.retry_after <= 60
    assert cooldowns.hit(1, 11) is None  # another member
    assert cooldowns.hit(2, 10) is None  # the same member elsewhere
    assert UserCooldowns(rate=0, per=60).hit(1, 10) is None  # 0 switches cooldowns off


def test_error_wording() -> None:
    cooldown = app_commands.CommandOnCooldown(app_commands.Cooldown(1, 10), 4.2)
    assert (
        errors.describe(cooldown) == "You're asking quickly (questions and More quotes count). Try again in 5 seconds."
    )
    assert (
        errors.describe(NotModerator("Only members with **Manage Server** can."))
        == "Only members with **Manage Server** can."
    )
    assert errors.describe(app_commands.NoPrivateMessage()) == "This command only works in a server."
    assert errors.describe(RuntimeError("boom")) is None  # a bug: the member gets the fixed sentence
    # The host's problem: members are told nothing was changed; the paths and what to do go to the log.
    assert errors.describe(StoreUnavailable("the disk holding the store /srv/c.db is full")) == errors.STORE_UNAVAILABLE


def test_report_embed_escapes_and_summarises() -> None:
    report = IndexReport(
        added=[AddResult("added", 5, "@everyone <@1> title", "a.md", 3)],
        unchanged=[AddResult("unchanged", 2, "t", "b.md")],
        rejected=[
            Rejected("c.jsonl:3", "not JSON: [x](http://evil)"),
            Rejected("http://x/", "Refused http://x/: private"),
        ],
    )
    embed = report_embed(report, what="the file")
    text = embed.description or ""
    assert text.startswith("Added 1 article from the file.")
    assert "added **1** · unchanged **1** · rejected **2**" in text
    assert "@everyone" not in text and "\\<@1\\>" in text and "[x](" not in text
    assert "⚠️ Refused http://x/: private" in text  # the URL is not repeated before its own reason


@pytest.mark.parametrize(
    ("typed", "asked"),
    [
        (
            "@everyone **did** the `Supreme Court` rule the __prorogation__ ||unlawful|| [here](https://evil.example)?",
            "did the Supreme Court rule the prorogation unlawful here?",
        ),
        (
            "<@&1576878478672920643> why did *Johnson* suspend <#42> parliament <:pog:123>",
            "why did Johnson suspend parliament",
        ),
        ("did it happen https://example.org/a?b=1 @here", "did it happen"),
    ],
)
def test_a_question_is_read_without_discord_formatting(typed: str, asked: str) -> None:
    """Bold, spoilers, link addresses and mentions changed the answer (and showed raw in the title)."""
    assert plain_question(typed) == asked
