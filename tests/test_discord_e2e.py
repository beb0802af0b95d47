"""The real bot (real discord.py) against the fake Discord on 127.0.0.1, journey by journey."""

from __future__ import annotations

import asyncio
import contextlib
import functools
import json
import logging
import os
import signal
import sqlite3
import sys
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
import pytest_asyncio
from aiohttp import web
from discord_helpers import (
    CLAIM_QUESTION,
    RESIDENCE_QUESTION,
    STORM_QUESTION,
    UNANSWERABLE,
    ZEBRA_ARTICLE,
    ZEBRA_QUESTION,
    Server,
    add_server,
    bulk_jsonl,
    custom_ids,
    embed_text,
    make_settings,
    write_corpus,
)
from fakediscord import CommandNotAvailable, FakeDiscord, InteractionRecord, MessageFlag, Overwrite, Perm
from fakediscord.runner import run_bot

from bot.config import Settings
from bot.core import reader, snapshot
from bot.core.library import Library, guild_scope
from bot.core.models import Article
from bot.discord.client import CitebotBot
from bot.tools import health

pytest_plugins = ["fakediscord.fixtures"]

MANAGE_GUILD = str(int(Perm.MANAGE_GUILD))  # "32"


# -- fixtures ---------------------------------------------------------------------------------------------


async def open_seeded(settings: Settings) -> Library:
    """The library at settings.db with the corpus folder seeded into it, as the bot opens it at start."""
    lib = await Library.open(settings.db)
    await lib.seed_corpus(settings.corpus, enabled=settings.shared_corpus)
    return lib


@pytest_asyncio.fixture
async def library(tmp_path: Path) -> AsyncIterator[Library]:
    write_corpus(tmp_path)
    lib = await open_seeded(make_settings(tmp_path))
    try:
        yield lib
    finally:
        await lib.close()


@contextlib.asynccontextmanager
async def running(fake: FakeDiscord, library: Library, settings: Settings) -> AsyncIterator[CitebotBot]:
    bot = CitebotBot(library, settings)
    async with run_bot(bot, fake) as started:
        yield started


async def reply_to(fake: FakeDiscord, ix: InteractionRecord) -> dict[str, Any]:
    return await fake.wait_for_reply(ix, timeout=8)


def is_ephemeral(message: dict[str, Any]) -> bool:
    return bool(int(message.get("flags") or 0) & MessageFlag.EPHEMERAL)


async def ask(fake: FakeDiscord, server: Server, user: int, question: str, **options: Any) -> InteractionRecord:
    return await fake.send_slash_command(
        server.guild_id, server.channel_id, user, "ask", {"question": question, **options}
    )


async def corpus(
    fake: FakeDiscord, server: Server, user: int, sub: str, options: Any = None, **kw: Any
) -> InteractionRecord:
    return await fake.send_slash_command(
        server.guild_id, server.channel_id, user, "corpus", options, subcommand=sub, **kw
    )


async def add_zebra(fake: FakeDiscord, server: Server) -> str:
    """A moderator uploads the zebra article; returns its id as the summary shows it."""
    att = fake.add_attachment("zebra.md", ZEBRA_ARTICLE.encode(), "text/markdown")
    ix = await corpus(fake, server, server.mod, "add-file", {"file": att})
    await fake.wait_until(lambda: ix.original and "Added 1 article" in embed_text(ix.original), 8, "add-file summary")
    text = embed_text(ix.original or {})
    return text.split("`#", 1)[1].split("`", 1)[0]


async def citebot_process(env: dict[str, str], *args: str) -> asyncio.subprocess.Process:
    """`python -m bot ARGS` as a real process: no stdin, its output piped."""
    return await asyncio.create_subprocess_exec(
        sys.executable,
        "-m",
        "bot",
        *args,
        stdin=asyncio.subprocess.DEVNULL,
        stdout=asyncio.subprocess.PIPE,
        stderr=asyncio.subprocess.PIPE,
        env=env,
    )


def assert_never_pings(fake: FakeDiscord) -> None:
    """Every message-bearing request the bot made says allowed_mentions {"parse": []}."""
    checked = 0
    for r in fake.requests:
        body = r.json if isinstance(r.json, dict) else None
        if body is None:
            continue
        if "/callback" in r.path:
            body = body.get("data") if body.get("type") in (4, 7) else None
            if body is None:
                continue
        elif not (
            (r.method == "POST" and (r.path.startswith("/webhooks/") or r.path.endswith("/messages")))
            or (r.method == "PATCH" and "/messages/" in r.path)
        ):
            continue
        mentions = body.get("allowed_mentions")
        assert mentions is not None and mentions["parse"] == [], (r, body)
        assert not mentions.get("users") and not mentions.get("roles") and not mentions.get("replied_user"), (r, body)
        checked += 1
    assert checked, "no message requests were checked"


# -- start, identify, sync ------------------------------------------------------------------------------------


async def test_start_identifies_without_privileged_intents_and_syncs_the_contract(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        assert bot.synced.is_set()
        intents = fake.identifies[-1]["intents"]
        assert not intents & ((1 << 1) | (1 << 8) | (1 << 15)), "members, presences and message content stay off"
        names = {(c["name"], int(c.get("type", 1))) for c in fake.commands_for(None)}
        assert names == {
            ("ask", 1),
            ("corpus", 1),
            ("help", 1),
            ("about", 1),
            ("privacy", 1),
            ("Fact-check this message", 3),
        }

        ask_cmd = fake.command("ask")
        assert ask_cmd is not None
        options = {o["name"]: o for o in ask_cmd["options"]}
        assert options["question"]["type"] == 3 and options["question"]["required"]
        assert options["private"]["type"] == 5 and not options["private"].get("required")
        assert all(o["description"] != "…" for o in ask_cmd["options"])

        group = fake.command("corpus")
        assert group is not None
        assert group["default_member_permissions"] == MANAGE_GUILD
        assert group.get("contexts") == [0]  # guild only
        subs = {o["name"]: o for o in group["options"]}
        assert set(subs) == {"add-url", "add-file", "add-text", "remove", "list", "show", "gaps", "moderators"}
        for name in ("remove", "show"):
            article = {o["name"]: o for o in subs[name]["options"]}["article"]
            assert article["type"] == 3 and article["autocomplete"] is True
        assert {o["name"]: o for o in subs["add-file"]["options"]}["file"]["type"] == 11


async def test_dev_guild_gets_the_commands_instantly(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path, dev_guild=one.guild_id)):
        assert {c["name"] for c in fake.commands_for(one.guild_id)} >= {"ask", "corpus", "Fact-check this message"}
        assert fake.commands_for(None) == []


# -- asking -----------------------------------------------------------------------------------------------------


async def test_ask_public_answer_with_quotes_sources_and_buttons(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        ix = await ask(fake, one, one.alice, RESIDENCE_QUESTION)
        reply = await reply_to(fake, ix)
        assert ix.latency is not None and ix.latency < 3
        assert not is_ephemeral(reply)
        text = embed_text(reply)
        assert (
            # "see", which no article holds, is read as the stored "seen" (its irregular past form): bold too.
            "> “The **United States** said it had **seen** no **evidence** of the **drone strike** on the **residence**.” **[1]**"
            in text
        )
        assert (
            "[Ukraine denies drone attack on Putin residence](<https://www.independent.co.uk/news/world/putin-residence>)"
            in text
        )
        assert "The Independent, 5 Jan 2026" in text and "Searched 3 articles" in text
        ids = custom_ids(reply)
        assert any(i.startswith("citebot:fb:up:") for i in ids) and any(i.startswith("citebot:fb:down:") for i in ids)
        assert not any(i.startswith("citebot:more:") for i in ids)  # all three quotes there are, shown
    assert_never_pings(fake)


async def test_ask_with_the_language_model_answers_the_same_way(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path, real_model: Path
) -> None:
    """CITEBOT_MODEL: the bot reads with the model and its own weights; the answer is still quoted verbatim."""
    fake = fake_discord
    one = add_server(fake, "one")
    library.use_model(real_model)
    async with running(fake, library, make_settings(tmp_path, model=real_model)):
        ix = await ask(fake, one, one.alice, RESIDENCE_QUESTION)
        text = embed_text(await reply_to(fake, ix))
        assert "no **evidence** of the **drone strike** on the **residence**.” **[1]**" in text
    assert library.reader_weights == reader.default_weights(meaning=True)
    assert_never_pings(fake)


async def test_ask_private_is_ephemeral(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        ix = await ask(fake, one, one.alice, STORM_QUESTION, private=True)
        reply = await reply_to(fake, ix)
        assert is_ephemeral(reply)
        assert "20,000" in embed_text(reply)


async def test_ask_in_a_dm_searches_the_shared_corpus(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    dm = fake.dm_channel(one.alice)
    async with running(fake, library, make_settings(tmp_path)):
        ix = await fake.send_slash_command(None, dm.id, one.alice, "ask", {"question": STORM_QUESTION})
        assert "20,000" in embed_text(await reply_to(fake, ix))
        with pytest.raises(CommandNotAvailable):  # /corpus is for servers only
            await fake.send_slash_command(None, dm.id, one.alice, "corpus", None, subcommand="list")


async def test_abstention_is_private_and_lists_a_hint(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        ix = await ask(fake, one, one.alice, UNANSWERABLE)
        reply = await reply_to(fake, ix)
        assert is_ephemeral(reply)
        assert "ask a moderator" in embed_text(reply)
        assert "None of them mentions" in embed_text(reply) and "“Mongolia”" in embed_text(reply)  # why
        assert not custom_ids(reply)


async def test_slow_answer_defers_then_follows_up_with_the_right_visibility(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        bot.fast_answer_seconds = 0.0  # as if the answer took longer than the window
        public = await ask(fake, one, one.alice, RESIDENCE_QUESTION)
        reply = await reply_to(fake, public)
        assert public.deferred and not public.ephemeral and not is_ephemeral(reply)
        assert "evidence" in embed_text(reply)

        # A public defer that ends in an abstention: the placeholder goes, the answer is private.
        abstained = await ask(fake, one, one.bob, UNANSWERABLE)
        await fake.wait_until(lambda: abstained.followups and abstained.deleted_ids, 8, "ephemeral follow-up")
        follow = abstained.followups[-1]
        assert is_ephemeral(follow) and "ask a moderator" in embed_text(follow)
        assert abstained.original is None  # the public "thinking…" is gone


async def test_rate_limited_follow_up_is_retried(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        bot.fast_answer_seconds = 0.0  # the answer goes out as a follow-up (a webhook POST)
        fake.rate_limit_next("POST", r"/webhooks/\d+/[^/]+", times=1, retry_after=0.2)
        ix = await ask(fake, one, one.alice, STORM_QUESTION)
        reply = await reply_to(fake, ix)
        assert "20,000" in embed_text(reply)
        posts = fake.requests_to("POST", r"/webhooks/\d+/[^/]+")
        assert [r.status for r in posts][:2] == [429, 200]


async def test_mention_answers_in_a_thread_and_follow_ups_stay_there(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="bot.discord.cogs.ask")
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        me = bot.user
        assert me is not None
        asked = await fake.send_message_create(one.channel_id, one.alice, f"<@{me.id}> {STORM_QUESTION}")
        thread_id = int(asked["id"])  # a thread started from a message takes the message's id
        answer = await fake.wait_for_message(thread_id, lambda m: m["author"]["id"] == str(me.id), timeout=8)
        assert "20,000" in embed_text(answer)
        assert [t for t in fake.threads if int(t["id"]) == thread_id]

        follow = await fake.send_message_create(thread_id, one.alice, f"<@{me.id}> {RESIDENCE_QUESTION}")
        second = await fake.wait_for_message(
            thread_id, lambda m: m["author"]["id"] == str(me.id) and m["id"] != answer["id"], timeout=8
        )
        assert "evidence" in embed_text(second)
        assert (second.get("message_reference") or {}).get("message_id") == follow["id"]
        assert len(fake.threads) == 1

        # A follow-up that leans on the thread's question is read with it ("they" and "it" name nothing alone).
        leaning = await fake.send_message_create(thread_id, one.alice, f"<@{me.id}> and what did they say about it?")
        third = await fake.wait_for_message(
            thread_id, lambda m: (m.get("message_reference") or {}).get("message_id") == leaning["id"], timeout=8
        )
        assert "20,000" in embed_text(third) and "RTÉ" in embed_text(third)
        assert third["embeds"][0]["title"].startswith("and what did they say about it?")

        # A mention is read whole, past /ask's 300 characters: its question may come last.
        chatter = "Long day at work, finally home and catching up on the news of the week. " * 5
        long = await fake.send_message_create(thread_id, one.alice, f"<@{me.id}> {chatter}{RESIDENCE_QUESTION}")
        fourth = await fake.wait_for_message(
            thread_id, lambda m: (m.get("message_reference") or {}).get("message_id") == long["id"], timeout=8
        )
        assert len(chatter) > 300 and "evidence" in embed_text(fourth)

        # @everyone is not a mention of the bot; a plain message is ignored.
        before = len(fake.channel_messages(one.channel_id))
        plain = await fake.send_message_create(one.channel_id, one.bob, "@everyone meeting at 5")
        # Wait for the bot's decision (not a fixed sleep): a late reply would still be caught below.
        await fake.wait_until(lambda: f"reason=not_mentioned message={plain['id']}" in caplog.text, 8, "decision")
        await fake.flush()
        assert len(fake.threads) == 1
        assert len(fake.channel_messages(one.channel_id)) == before + 1  # only bob's message
    assert_never_pings(fake)
    assert all(
        not p.get("users") and not p.get("roles") and not p.get("everyone")
        for mid, p in fake.message_pings.items()
        if fake.messages.get(mid, {}).get("author", {}).get("id") == str(fake.bot_user.id)
    )


async def test_mention_without_thread_or_reply_rights_still_answers(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    # A channel where the bot may post but neither start threads nor read history (so no replies).
    bot_member = 1  # overwrite type: member
    denied = Perm.CREATE_PUBLIC_THREADS | Perm.READ_MESSAGE_HISTORY
    locked = fake.add_channel(
        one.guild_id, name="locked", overwrites=[Overwrite(fake.bot_user.id, bot_member, deny=denied)]
    )
    fake.allowed_violation_codes |= {50013, 160002}  # the refused thread and reply, as Discord refuses them
    async with running(fake, library, make_settings(tmp_path)):
        await fake.send_message_create(locked.id, one.alice, f"<@{fake.bot_user.id}> {STORM_QUESTION}")
        answer = await fake.wait_for_message(locked.id, lambda m: m["author"]["id"] == str(fake.bot_user.id), timeout=8)
        assert "20,000" in embed_text(answer)
        assert not fake.threads


@pytest.mark.parametrize(
    ("denied", "expected"),
    [
        (Perm.SEND_MESSAGES_IN_THREADS, "20,000"),  # the answer, in the channel: no empty thread left behind
        (Perm.EMBED_LINKS, "Embed Links"),  # not an empty message (Discord drops the embed): what is missing
    ],
)
async def test_mention_where_the_bot_cannot_write_in_threads_or_embed(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path, denied: int, expected: str
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    channel = fake.add_channel(one.guild_id, name="limited", overwrites=[Overwrite(fake.bot_user.id, 1, deny=denied)])
    async with running(fake, library, make_settings(tmp_path)):
        await fake.send_message_create(channel.id, one.alice, f"<@{fake.bot_user.id}> {STORM_QUESTION}")
        reply = await fake.wait_for_message(channel.id, lambda m: m["author"]["id"] == str(fake.bot_user.id), timeout=8)
        assert expected in embed_text(reply) + reply["content"]
        assert not fake.threads


async def test_fact_check_context_menu_answers_privately(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        claim = await fake.send_message_create(
            one.channel_id, one.bob, "Storm Bram left 20,000 homes without power in Dublin"
        )
        ix = await fake.send_message_context_menu(
            one.guild_id, one.channel_id, one.alice, "Fact-check this message", int(claim["id"])
        )
        reply = await reply_to(fake, ix)
        assert is_ephemeral(reply)
        assert "More than 20,000 homes lost power" in embed_text(reply).replace("**", "")
        assert "may confirm or contradict it" in embed_text(reply)  # quotes, not a verdict

        # A bare link is checked by its preview: the address is not words of a claim.
        link = await fake.send_message_create(
            one.channel_id,
            one.bob,
            "https://news.example/storm-bram-power",
            embeds=[{"type": "link", "title": "Storm Bram leaves 20,000 homes without power in Dublin"}],
        )
        ix = await fake.send_message_context_menu(
            one.guild_id, one.channel_id, one.alice, "Fact-check this message", int(link["id"])
        )
        assert "More than 20,000 homes lost power" in embed_text(await reply_to(fake, ix)).replace("**", "")


async def test_feedback_click_is_stored_and_more_quotes_pages(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        ix = await ask(fake, one, one.alice, CLAIM_QUESTION)
        reply = await reply_to(fake, ix)
        assert "3 quotes from 1 article" in embed_text(reply)
        assert all(who in embed_text(reply) for who in ("Lavrov", "United States", "Zelensky"))  # each side's word
        down = next(i for i in custom_ids(reply) if i.startswith("citebot:fb:down:"))
        query_id = int(down.rsplit(":", 1)[1])
        click = await fake.send_component(one.guild_id, one.channel_id, one.bob, down, int(reply["id"]))
        ack = await reply_to(fake, click)
        assert is_ephemeral(ack) and "did not help" in ack["content"]
        assert await bot.library.store.votes(query_id) == {str(one.bob): -1}

        more = next(i for i in custom_ids(reply) if i.startswith("citebot:more:"))
        page = await fake.send_component(one.guild_id, one.channel_id, one.bob, more, int(reply["id"]))
        shown = await reply_to(fake, page)
        assert is_ephemeral(shown)
        assert "has denied launching" in embed_text(shown) and "quotes 4–5" in embed_text(shown)
        assert not any(i.startswith("citebot:more:") for i in custom_ids(shown))  # that was the last one


async def test_a_reply_to_the_bot_that_asks_nothing_is_not_answered(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.cogs.ask")
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        me = bot.user
        assert me is not None
        asked = await fake.send_message_create(one.channel_id, one.alice, f"<@{me.id}> {STORM_QUESTION}")
        thread_id = int(asked["id"])
        answer = await fake.wait_for_message(thread_id, lambda m: m["author"]["id"] == str(me.id), timeout=8)

        # A reply with its ping on mentions the bot without the member writing a mention.
        thanks = await fake.send_message_create(
            thread_id, one.alice, "thanks!", mentions=[me.id], reply_to=int(answer["id"])
        )
        await fake.wait_until(
            lambda: (
                f"reason=reply_not_a_question guild={one.guild_id} user={one.alice} message={thanks['id']}"
                in caplog.text
            ),
            8,
            "the bot's decision",
        )
        await fake.flush()
        assert not [
            m
            for m in fake.channel_messages(thread_id)
            if (m.get("message_reference") or {}).get("message_id") == thanks["id"]
        ]

        # A reply that does ask something is answered.
        follow = await fake.send_message_create(
            thread_id,
            one.alice,
            "did the US see evidence of the drone strike?",
            mentions=[me.id],
            reply_to=int(answer["id"]),
        )
        second = await fake.wait_for_message(
            thread_id, lambda m: (m.get("message_reference") or {}).get("message_id") == follow["id"], timeout=8
        )
        assert "evidence" in embed_text(second)


async def test_votes_are_one_per_member(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        reply = await reply_to(fake, await ask(fake, one, one.alice, STORM_QUESTION))
        up = next(i for i in custom_ids(reply) if i.startswith("citebot:fb:up:"))
        down = up.replace(":up:", ":down:")
        for user, button in ((one.alice, up), (one.bob, down), (one.alice, down), (one.mod, up)):
            await reply_to(
                fake, await fake.send_component(one.guild_id, one.channel_id, user, button, int(reply["id"]))
            )
        votes = await bot.library.store.votes(int(up.rsplit(":", 1)[1]))
        assert votes == {str(one.alice): -1, str(one.bob): -1, str(one.mod): 1}


async def test_writes_are_acknowledged_before_they_wait_for_the_store(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    """Another process (say `citebot index`) holds the write lock: the bot answers "thinking…" at once."""
    fake = fake_discord
    one = add_server(fake, "one")
    role = fake.add_role(one.guild_id, name="curators")
    settings = make_settings(tmp_path)
    async with running(fake, library, settings):
        article_id = await add_zebra(fake, one)
        reply = await reply_to(fake, await ask(fake, one, one.alice, STORM_QUESTION))
        up = next(i for i in custom_ids(reply) if i.startswith("citebot:fb:up:"))

        other_process = sqlite3.connect(settings.db, isolation_level=None)
        other_process.execute("BEGIN IMMEDIATE")
        try:
            waiting = [
                await corpus(fake, one, one.mod, "remove", {"article": article_id}),
                await corpus(fake, one, one.mod, "moderators", {"role": role.id}),
                await fake.send_component(one.guild_id, one.channel_id, one.bob, up, int(reply["id"])),
            ]
            for ix in waiting:
                await fake.wait_until(functools.partial(getattr, ix, "deferred"), 5, "a defer while the store is busy")
                assert ix.ephemeral
        finally:
            other_process.execute("ROLLBACK")
            other_process.close()
        removed, moderators, vote = [await reply_to(fake, ix) for ix in waiting]
        assert removed["content"].startswith(f"Removed `#{article_id}`")
        assert f"<@&{role.id}>" in moderators["content"]
        assert "helped" in vote["content"]


async def test_more_quotes_spends_the_question_allowance(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path, cooldown_rate=2, cooldown_seconds=60)):
        reply = await reply_to(fake, await ask(fake, one, one.alice, CLAIM_QUESTION))
        more = next(i for i in custom_ids(reply) if i.startswith("citebot:more:"))
        first = await reply_to(
            fake, await fake.send_component(one.guild_id, one.channel_id, one.alice, more, int(reply["id"]))
        )
        assert "quotes 4–5" in embed_text(first)
        again = await reply_to(
            fake, await fake.send_component(one.guild_id, one.channel_id, one.alice, more, int(reply["id"]))
        )
        assert is_ephemeral(again) and "Try again in" in again["content"]


async def test_forget_me_and_about_say_what_is_kept(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path, retention_days=30)) as bot:
        reply = await reply_to(fake, await ask(fake, one, one.alice, STORM_QUESTION))
        await reply_to(fake, await ask(fake, one, one.bob, STORM_QUESTION))
        up = next(i for i in custom_ids(reply) if i.startswith("citebot:fb:up:"))
        await reply_to(fake, await fake.send_component(one.guild_id, one.channel_id, one.alice, up, int(reply["id"])))

        about = embed_text(
            await reply_to(fake, await fake.send_slash_command(one.guild_id, one.channel_id, one.alice, "about"))
        )
        assert "for 30 days" in about and "/privacy forget-me" in about
        ix = await fake.send_slash_command(one.guild_id, one.channel_id, one.alice, "privacy", subcommand="forget-me")
        done = await reply_to(fake, ix)
        assert is_ephemeral(done) and "Deleted 1 question and 1 vote" in done["content"]
        with sqlite3.connect(bot.library.path) as db:
            assert db.execute("SELECT user_id FROM queries").fetchall() == [(str(one.bob),)]
            assert db.execute("SELECT COUNT(*) FROM votes").fetchone() == (0,)


async def test_the_bot_applies_retention_when_it_starts(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO, logger="bot.discord.client")
    await library.ask(STORM_QUESTION, ["shared"], user_id="1", log_scope="shared")
    with sqlite3.connect(library.path) as db:
        db.execute("UPDATE queries SET asked_at = '2020-01-01T00:00:00Z'")
    async with running(fake_discord, library, make_settings(tmp_path, retention_days=90)):
        await fake_discord.wait_until(lambda: "event=retention days=90 deleted=1" in caplog.text, 8, "retention")
    with sqlite3.connect(library.path) as db:
        assert db.execute("SELECT COUNT(*) FROM queries").fetchone() == (0,)


async def test_cooldown_is_per_user_per_server(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one, two = add_server(fake, "one"), add_server(fake, "two")
    # alice is a member of both servers
    fake.add_member(two.guild_id, one.alice, name="alice-too")
    async with running(fake, library, make_settings(tmp_path, cooldown_rate=2, cooldown_seconds=60)):
        for _ in range(2):
            assert not is_ephemeral(await reply_to(fake, await ask(fake, one, one.alice, STORM_QUESTION)))
        third = await ask(fake, one, one.alice, STORM_QUESTION)
        refusal = await reply_to(fake, third)
        assert is_ephemeral(refusal) and "Try again in" in refusal["content"]
        assert third.callback_type == 4  # answered by tree.on_error, no defer
        # Someone else in the same server, and alice in another server, are not affected.
        assert "20,000" in embed_text(await reply_to(fake, await ask(fake, one, one.bob, STORM_QUESTION)))
        assert "20,000" in embed_text(await reply_to(fake, await ask(fake, two, one.alice, STORM_QUESTION)))


# -- the corpus -------------------------------------------------------------------------------------------------


async def test_add_file_from_the_cdn_then_ask_it(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        article_id = await add_zebra(fake, one)
        assert any(p.endswith("/zebra.md") for p in fake.cdn_downloads)  # read from the attachment URL
        ix = await ask(fake, one, one.alice, ZEBRA_QUESTION)
        text = embed_text(await reply_to(fake, ix))
        assert "zebra" in text and "Ballymore Gazette" in text
        # Re-adding the same text changes nothing, and says so.
        att = fake.add_attachment("zebra-again.md", ZEBRA_ARTICLE.encode())
        again = await corpus(fake, one, one.mod, "add-file", {"file": att})
        await fake.wait_until(lambda: again.original and "already stored" in embed_text(again.original), 8, "unchanged")
        assert f"#{article_id}" in embed_text(again.original or {})
        # An edited file of the same name replaces nothing (a name is no identity), but says what is still there.
        edited = fake.add_attachment("zebra.md", ZEBRA_ARTICLE.replace("40,000", "45,000").encode())
        update = await corpus(fake, one, one.mod, "add-file", {"file": edited})
        await fake.wait_until(lambda: update.original and "Added 1 article" in embed_text(update.original), 8, "edit")
        assert f"An earlier upload named “zebra.md” is still stored (`#{article_id}`)" in embed_text(
            update.original or {}
        )
        assert await library.count([guild_scope(one.guild_id)]) == 2
    assert_never_pings(fake)


async def test_add_file_bulk_jsonl_reports_progress(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        att = fake.add_attachment("bulk.jsonl", bulk_jsonl(450) + b"{not json}\n", "application/jsonl")
        ix = await corpus(fake, one, one.mod, "add-file", {"file": att})
        await fake.wait_until(
            lambda: ix.original and "Added 450 articles" in embed_text(ix.original), 15, "bulk summary"
        )
        assert is_ephemeral(ix.original or {})
        summary = embed_text(ix.original or {})
        assert "rejected **1**" in summary and "bulk.jsonl" in summary
        progress = [e for e in fake.edits if "articles indexed" in (e.body.get("content") or "")]
        assert progress, "a progress edit was made while importing"

        listing = await corpus(fake, one, one.mod, "list")
        page1 = await reply_to(fake, listing)
        assert "page 1 of 45" in embed_text(page1)
        nxt = next(i for i in custom_ids(page1) if "▶" in _label(page1, i))
        click = await fake.send_component(one.guild_id, one.channel_id, one.mod, nxt, int(page1["id"]))
        await fake.wait_for_response(click)
        assert "page 2 of 45" in embed_text(fake.messages[int(page1["id"])])
    assert_never_pings(fake)  # progress edits and the page turn (callback type 7) included


async def test_list_shows_every_article_with_long_links_and_pages_as_they_are_now(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    tracking = "?utm_source=newsletter&utm_medium=email&utm_campaign=" + "x" * 300  # links as they are shared
    articles = [
        (
            Article(
                text=f"Keepers inspected lighthouse number {i} on the pier. Volunteers repaired lamp {i} after storms.",
                title=f"Lighthouse report {i}",
                source="Harbour Weekly",
                url=f"https://harbour.example/{i}{tracking}",
            ),
            f"report {i}",
        )
        for i in range(12)
    ]
    report = await library.add_articles(articles, guild_scope(one.guild_id))
    async with running(fake, library, make_settings(tmp_path)):
        page1 = await reply_to(fake, await corpus(fake, one, one.mod, "list"))
        text = embed_text(page1)
        assert "page 1 of 2" in text
        assert len({line.split("`")[1] for line in text.splitlines() if line.startswith("`#")}) == 10
        assert "harbour.example/11" in text  # the newest keeps its link; older ones give theirs up to fit

        for added in report.added[:5]:  # removed while the list is open: page 2 is gone
            await library.remove(added.article_id, [guild_scope(one.guild_id)])
        nxt = next(i for i in custom_ids(page1) if "▶" in _label(page1, i))
        click = await fake.send_component(one.guild_id, one.channel_id, one.mod, nxt, int(page1["id"]))
        await fake.wait_for_response(click)
        shown = embed_text(fake.messages[int(page1["id"])])
        assert "7 articles · page 1 of 1" in shown and shown.count("`#") == 7
    assert_never_pings(fake)


def _label(message: dict[str, Any], custom_id: str) -> str:
    for row in message.get("components") or []:
        for c in row["components"]:
            if c.get("custom_id") == custom_id:
                return str(c.get("label") or "")
    return ""


async def test_add_file_too_large_is_refused_before_download(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path, max_upload_bytes=100)):
        att = fake.add_attachment("big.md", ZEBRA_ARTICLE.encode())
        ix = await corpus(fake, one, one.mod, "add-file", {"file": att})
        reply = await reply_to(fake, ix)
        assert is_ephemeral(reply) and "the limit is 100 bytes" in reply["content"]
        assert not fake.cdn_downloads

        exe = fake.add_attachment("tool.exe", b"MZ")
        bad = await reply_to(fake, await corpus(fake, one, one.mod, "add-file", {"file": exe}))
        assert ".jsonl" in bad["content"] and is_ephemeral(bad)


@pytest.mark.parametrize(
    ("fault", "says"),
    [
        ({"status": 503}, "HTTP 503"),
        ({"status": 404}, "no longer there"),
        ({"status": None, "times": 2}, "connection"),  # aiohttp retries a dropped connection once
        ({"status": 200, "delay": 5.0}, "longer than 0.5 seconds"),  # a CDN that stalls
    ],
    ids=["server-error", "gone", "connection-reset", "timeout"],
)
async def test_a_failed_download_says_so_and_to_try_again(
    fake_discord: FakeDiscord,
    library: Library,
    tmp_path: Path,
    fault: dict[str, Any],
    says: str,
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)) as bot:
        bot.download_seconds = 0.5
        fake.fail_next_download(**fault)
        att = fake.add_attachment("zebra.md", ZEBRA_ARTICLE.encode(), "text/markdown")
        ix = await corpus(fake, one, one.mod, "add-file", {"file": att})
        reply = await fake.wait_until(lambda: ix.original if ix.original and ix.original.get("content") else None, 8)
        assert is_ephemeral(reply)
        assert "download" in reply["content"] and says in reply["content"], reply["content"]
        assert "nothing was added" in reply["content"] and "again" in reply["content"]
        assert await library.count([guild_scope(one.guild_id)]) == 0
        # The same file, once Discord serves it again, goes in.
        await add_zebra(fake, one)


@pytest_asyncio.fixture
async def news_site() -> AsyncIterator[str]:
    """A local web server with one article page (127.0.0.1 only)."""
    html = (
        "<html><head><title>Harbour lighthouse relit</title>"
        '<meta property="og:site_name" content="Harbour Weekly">'
        '<meta property="article:published_time" content="2026-01-11T09:00:00Z"></head>'
        "<body><article><h1>Harbour lighthouse relit</h1>"
        "<p>The old harbour lighthouse was relit on Sunday after a two-year restoration.</p>"
        "<p>Volunteers raised 120,000 euro to replace the lamp and repair the tower.</p>"
        "<p>The lighthouse keeper said the beam can be seen twenty miles out to sea.</p>"
        "</article></body></html>"
    )

    async def page(_: web.Request) -> web.Response:
        return web.Response(text=html, content_type="text/html")

    app = web.Application()
    app.router.add_get("/lighthouse", page)
    app.router.add_get("/lighthouse-relit", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    port = site._server.sockets[0].getsockname()[1]  # type: ignore[union-attr]
    try:
        yield f"http://127.0.0.1:{port}/lighthouse"
    finally:
        await runner.cleanup()


async def test_add_url_from_a_local_server(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path, news_site: str
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        # Without the test-only allowance, a loopback URL is refused, with the reason.
        refused = await corpus(fake, one, one.mod, "add-url", {"url": news_site})
        await fake.wait_until(
            lambda: refused.original and "Nothing was added" in embed_text(refused.original), 8, "refusal"
        )
        assert "127.0.0.1" in embed_text(refused.original or {})

        library.fetch_policy = make_settings(tmp_path, unsafe_allow_private_urls=True).fetch_policy()
        ix = await corpus(fake, one, one.mod, "add-url", {"url": f"<{news_site}>"})
        await fake.wait_until(
            lambda: ix.original and "Added 1 article" in embed_text(ix.original), 8, "add-url summary"
        )
        answer = await reply_to(
            fake, await ask(fake, one, one.alice, "How much did volunteers raise for the lighthouse?")
        )
        assert "120,000" in embed_text(answer)


async def test_add_url_again_replaces_the_earlier_version_of_the_page(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    """A page added again (updated, corrected) stayed beside its earlier version, and answers quoted both."""
    fake = fake_discord
    one, two = add_server(fake, "one"), add_server(fake, "two")
    site: dict[str, Any] = {"status": 200, "raised": "120,000", "moved": False}

    async def page(request: web.Request) -> web.Response:
        if site["moved"] and request.path == "/lighthouse":  # a new address, and the old one redirects there
            raise web.HTTPMovedPermanently("/lighthouse-relit")
        body = (
            "<html><head><title>Harbour lighthouse relit</title></head><body><article><h1>Harbour lighthouse relit</h1>"
            "<p>The old harbour lighthouse was relit on Sunday after a two-year restoration.</p>"
            f"<p>Volunteers raised {site['raised']} euro to replace the lamp and repair the tower.</p>"
            "</article></body></html>"
        )
        return web.Response(text=body, content_type="text/html", status=site["status"])

    app = web.Application()
    app.router.add_get("/lighthouse", page)
    app.router.add_get("/lighthouse-relit", page)
    runner = web.AppRunner(app, access_log=None)
    await runner.setup()
    tcp = web.TCPSite(runner, "127.0.0.1", 0)
    await tcp.start()
    url = f"http://127.0.0.1:{tcp._server.sockets[0].getsockname()[1]}/lighthouse"  # type: ignore[union-attr]
    library.fetch_policy = make_settings(tmp_path, unsafe_allow_private_urls=True).fetch_policy()

    async def add_url(server: Server, wanted: str, shared_as: str = "") -> str:
        ix = await corpus(fake, server, server.mod, "add-url", {"url": url + shared_as})
        await fake.wait_until(lambda: ix.original and wanted in embed_text(ix.original), 8, wanted)
        return embed_text(ix.original or {})

    def ids(text: str) -> list[str]:
        return [part.split("`", 1)[0] for part in text.split("`#")[1:]]

    try:
        async with running(fake, library, make_settings(tmp_path)):
            first = ids(await add_url(one, "Added 1 article"))[0]
            ids(await add_url(two, "Added 1 article"))  # another server's copy of the page
            site["raised"] = "125,000"  # a correction, shared from a newsletter this time: still the same page
            again = await add_url(one, "Added 1 article", "?utm_source=newsletter&utm_medium=email#comments")
            second = ids(again)[0]
            assert f"♻️ replaced `#{first}` Harbour lighthouse relit (the earlier version)" in again
            assert [(a.id, a.url) for a in await library.list([guild_scope(one.guild_id)])] == [(int(second), url)]
            assert await library.count([guild_scope(two.guild_id)]) == 1  # never another server's
            answer = embed_text(await reply_to(fake, await ask(fake, one, one.alice, "How much did volunteers raise?")))
            assert "125,000" in answer and "120,000" not in answer

            # Refused, the new version removes nothing; the same text again is no new version.
            site["status"] = 503
            assert "replaced" not in await add_url(one, "Nothing was added")
            site["status"] = 200
            assert "replaced" not in await add_url(one, "already stored")
            assert [a.id for a in await library.list([guild_scope(one.guild_id)])] == [int(second)]

            # The page moved, and the link added before redirects to it: still the one page, cited where it is now.
            site["moved"], site["raised"] = True, "130,000"
            moved = await add_url(one, "Added 1 article")
            assert f"♻️ replaced `#{second}` Harbour lighthouse relit (the earlier version)" in moved
            assert [a.url for a in await library.list([guild_scope(one.guild_id)])] == [url + "-relit"]
    finally:
        await runner.cleanup()


async def test_add_text_modal(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        ix = await corpus(fake, one, one.mod, "add-text")
        await fake.wait_for_response(ix)
        modal = ix.modal
        assert modal is not None and modal["title"] == "Add an article"
        inputs = [c["custom_id"] for row in modal["components"] for c in row["components"]]
        values = dict(
            zip(
                inputs,
                [
                    "Ferry service resumes",
                    "Island Times",
                    "12 January 2026",
                    "not a link",
                    "The island ferry service resumed on Friday after the harbour wall was repaired. "
                    "Operators said sailings would run twice daily until the summer timetable starts.",
                ],
                strict=True,
            )
        )
        submit = await fake.send_modal_submit(one.guild_id, one.channel_id, one.mod, modal["custom_id"], values)
        await fake.wait_until(lambda: submit.original and "Added 1 article" in embed_text(submit.original), 8, "modal")
        assert "stored without a link" in embed_text(submit.original or {})
        stored = await library.list([f"guild:{one.guild_id}"])
        assert stored[0].date == "2026-01-12" and stored[0].url is None and stored[0].source == "Island Times"


async def test_remove_with_autocomplete(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        article_id = await add_zebra(fake, one)
        auto = await fake.send_autocomplete(
            one.guild_id, one.channel_id, one.mod, "corpus", {"article": "zebra"}, "article", subcommand="remove"
        )
        await fake.wait_for_response(auto)
        choices = auto.choices or []
        assert [c["value"] for c in choices] == [article_id]
        assert choices[0]["name"].startswith(f"#{article_id} Council votes to repaint zebra crossings")
        assert len(choices[0]["name"]) <= 100
        # Shared articles are not offered for removal.
        shared = await fake.send_autocomplete(
            one.guild_id, one.channel_id, one.mod, "corpus", {"article": "Storm"}, "article", subcommand="remove"
        )
        await fake.wait_for_response(shared)
        assert shared.choices == []

        ix = await corpus(fake, one, one.mod, "remove", {"article": choices[0]["value"]})
        reply = await reply_to(fake, ix)
        assert is_ephemeral(reply) and reply["content"].startswith(f"Removed `#{article_id}`")
        after = await reply_to(fake, await ask(fake, one, one.alice, ZEBRA_QUESTION))
        assert is_ephemeral(after)  # abstained: the article is gone

        storm_id = str((await library.list(["shared"], search="Storm"))[0].id)
        refused = await reply_to(fake, await corpus(fake, one, one.mod, "remove", {"article": storm_id}))
        assert "shared corpus" in refused["content"]


async def test_member_without_rights_is_refused_privately(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        # Discord hides /corpus from alice (default_member_permissions); an admin could override that,
        # so the bot checks again at run time and refuses through tree.on_error.
        ix = await corpus(fake, one, one.alice, "list", validate=False)
        reply = await reply_to(fake, ix)
        assert is_ephemeral(reply) and "Manage Server" in reply["content"]
        assert ix.callback_type == 4

        auto = await fake.send_autocomplete(
            one.guild_id,
            one.channel_id,
            one.alice,
            "corpus",
            {"article": ""},
            "article",
            subcommand="show",
            validate=False,
        )
        await fake.wait_for_response(auto)
        assert auto.choices == []

        # A moderator role, chosen by a Manage Server member, lets alice in.
        role = fake.add_role(one.guild_id, name="curators")
        fake.guilds[one.guild_id].members[one.alice].roles.append(role.id)
        denied = await reply_to(
            fake, await corpus(fake, one, one.alice, "moderators", {"role": role.id}, validate=False)
        )
        assert "Manage Server" in denied["content"]
        done = await reply_to(fake, await corpus(fake, one, one.mod, "moderators", {"role": role.id}))
        assert f"<@&{role.id}>" in done["content"]
        allowed = await reply_to(fake, await corpus(fake, one, one.alice, "list", validate=False))
        assert "This server's articles" in embed_text(allowed)
    assert_never_pings(fake)


async def test_two_servers_are_kept_apart(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one, two = add_server(fake, "one"), add_server(fake, "two")
    async with running(fake, library, make_settings(tmp_path)):
        zebra = await add_zebra(fake, one)

        listing = embed_text(await reply_to(fake, await corpus(fake, two, two.mod, "list")))
        assert "zebra" not in listing.lower() and "No articles yet" in listing
        assert "/corpus list shared:True" in listing  # the host's articles, which questions also search
        search = embed_text(await reply_to(fake, await corpus(fake, two, two.mod, "list", {"search": "zebra"})))
        assert "zebra crossings" not in search.lower()
        shown = await reply_to(fake, await corpus(fake, two, two.mod, "show", {"article": zebra}))
        assert "No such article" in shown["content"]
        removed = await reply_to(fake, await corpus(fake, two, two.mod, "remove", {"article": zebra}))
        assert "no article" in removed["content"]
        for sub in ("show", "remove"):
            auto = await fake.send_autocomplete(
                two.guild_id, two.channel_id, two.mod, "corpus", {"article": zebra}, "article", subcommand=sub
            )
            await fake.wait_for_response(auto)
            assert all("zebra" not in c["name"].lower() for c in auto.choices or [])
        answer = await reply_to(fake, await ask(fake, two, two.alice, ZEBRA_QUESTION))
        assert "Ballymore Gazette" not in embed_text(answer) and is_ephemeral(answer)

        # Server one still has it, and sees the shared corpus too.
        mine = await reply_to(fake, await ask(fake, one, one.alice, ZEBRA_QUESTION))
        assert "Ballymore Gazette" in embed_text(mine)
        about = embed_text(
            await reply_to(fake, await fake.send_slash_command(one.guild_id, one.channel_id, one.alice, "about"))
        )
        assert "**4** articles" in about and "1 added by this server" in about


async def test_show_gaps_help_and_about(fake_discord: FakeDiscord, library: Library, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        for user in (one.alice, one.bob):
            await reply_to(fake, await ask(fake, one, user, UNANSWERABLE))
        gaps = embed_text(await reply_to(fake, await corpus(fake, one, one.mod, "gaps")))
        assert "**2×** what is the capital of mongolia?" in gaps

        auto = await fake.send_autocomplete(
            one.guild_id, one.channel_id, one.mod, "corpus", {"article": "Storm"}, "article", subcommand="show"
        )
        await fake.wait_for_response(auto)
        value = (auto.choices or [])[0]["value"]
        shown = await reply_to(fake, await corpus(fake, one, one.mod, "show", {"article": value}))
        text = embed_text(shown)
        assert "Storm Bram brings flooding to Dublin" in text and "Shared corpus (read-only)" in text

        help_text = embed_text(
            await reply_to(fake, await fake.send_slash_command(one.guild_id, one.channel_id, one.alice, "help"))
        )
        assert "/ask" in help_text and "Fact-check this message" in help_text
        about = embed_text(
            await reply_to(fake, await fake.send_slash_command(one.guild_id, one.channel_id, one.alice, "about"))
        )
        assert "**3** articles" in about and "citebot 0.1.0" in about


# -- restart ------------------------------------------------------------------------------------------------------


async def test_feedback_buttons_survive_a_restart(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    write_corpus(tmp_path)
    settings = make_settings(tmp_path)

    lib = await open_seeded(settings)
    async with running(fake, lib, settings):
        reply = await reply_to(fake, await ask(fake, one, one.alice, STORM_QUESTION))
    await lib.close()

    up = next(i for i in custom_ids(reply) if i.startswith("citebot:fb:up:"))
    lib = await Library.open(settings.db)  # a new process, in effect: new library, new bot
    try:
        async with running(fake, lib, settings):
            click = await fake.send_component(one.guild_id, one.channel_id, one.bob, up, int(reply["id"]))
            ack = await reply_to(fake, click)
            assert is_ephemeral(ack) and "helped" in ack["content"]
            assert 1 in (await lib.store.votes(int(up.rsplit(":", 1)[1]))).values()
    finally:
        await lib.close()


async def test_a_list_and_a_form_from_before_a_restart_still_work(fake_discord: FakeDiscord, tmp_path: Path) -> None:
    fake = fake_discord
    one = add_server(fake, "one")
    write_corpus(tmp_path)
    settings = make_settings(tmp_path)
    lib = await open_seeded(settings)
    await lib.add_articles(
        [
            (Article(text=f"Keepers inspected lighthouse {i} on the pier.", title=f"Lighthouse {i}"), str(i))
            for i in range(25)
        ],
        guild_scope(one.guild_id),
    )
    async with running(fake, lib, settings):
        page1 = await reply_to(fake, await corpus(fake, one, one.mod, "list", {"search": "Lighthouse"}))
        opened = await corpus(fake, one, one.mod, "add-text")
        form = (await fake.wait_for_response(opened)).modal
    await lib.close()
    assert "25 articles · page 1 of 3" in embed_text(page1) and form is not None

    lib = await Library.open(settings.db)  # a new process, in effect: new library, new bot
    try:
        async with running(fake, lib, settings):
            nxt = next(i for i in custom_ids(page1) if "▶" in _label(page1, i))
            click = await fake.send_component(one.guild_id, one.channel_id, one.mod, nxt, int(page1["id"]))
            await fake.wait_for_response(click)
            page2 = fake.messages[int(page1["id"])]
            assert "25 articles · page 2 of 3" in embed_text(page2)  # the search is kept too
            assert _label(page2, next(i for i in custom_ids(page2) if ":at:" in i)) == "2 / 3"

            values: dict[str, str | list[str]] = {
                "title": "Ferry service resumes",
                "body": "The ferry resumed on Friday.",
            }
            submit = await fake.send_modal_submit(one.guild_id, one.channel_id, one.mod, form["custom_id"], values)
            await fake.wait_until(lambda: submit.original and "Added 1 article" in embed_text(submit.original), 8)
            assert (await lib.list([guild_scope(one.guild_id)], search="Ferry"))[0].title == "Ferry service resumes"

            # Who is no moderator (now) turns no page: a forged click, or a moderator whose role was taken away.
            nxt = next(i for i in custom_ids(page2) if "▶" in _label(page2, i))
            denied = await fake.send_component(one.guild_id, one.channel_id, one.alice, nxt, int(page1["id"]))
            assert "Only members with **Manage Server**" in (await reply_to(fake, denied))["content"]
    finally:
        await lib.close()


async def test_buttons_and_forms_of_an_older_version_say_what_to_do(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    """An older version's list buttons and forms had random ids that no process knows after a restart."""
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        page1 = await reply_to(fake, await corpus(fake, one, one.mod, "list"))
        old = "4f9c1e0b7d2a4c33a1e5b8f0c2d4e6a8"
        click = await fake.send_component(one.guild_id, one.channel_id, one.mod, old, int(page1["id"]), validate=False)
        reply = await reply_to(fake, click)
        assert is_ephemeral(reply) and "before I restarted" in reply["content"] and "/corpus list" in reply["content"]

        row = [{"type": 1, "components": [{"type": 4, "custom_id": "b1e0", "value": "Some text"}]}]
        submit = await fake.send_modal_submit(one.guild_id, one.channel_id, one.mod, old, components=row)
        reply = await reply_to(fake, submit)
        assert is_ephemeral(reply) and "/corpus add-text" in reply["content"]


async def test_citebot_ids_no_handler_knows_say_what_to_do(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    """A `citebot:` id that no handler matches (forged, or a newer or older version's) went unanswered: the member
    saw only "This interaction failed"."""
    fake = fake_discord
    one = add_server(fake, "one")
    async with running(fake, library, make_settings(tmp_path)):
        page1 = await reply_to(fake, await corpus(fake, one, one.mod, "list"))
        message_id = int(page1["id"])
        for unknown, values in [
            ("citebot:fb:sideways:12", None),  # forged: no such vote
            ("citebot:more:12", None),  # cut short: no offset
            ("citebot:rate:5:12", None),  # a button of another version
            ("citebot:pick-article", ["1"]),  # a select menu of another version
        ]:
            click = await fake.send_component(
                one.guild_id, one.channel_id, one.mod, unknown, message_id, values=values, validate=False
            )
            reply = await reply_to(fake, click)
            assert is_ephemeral(reply) and "run the command again" in reply["content"], unknown

        row = [{"type": 1, "components": [{"type": 4, "custom_id": "link", "value": "https://example.org/a"}]}]
        submit = await fake.send_modal_submit(one.guild_id, one.channel_id, one.mod, "citebot:add-link", components=row)
        reply = await reply_to(fake, submit)
        assert is_ephemeral(reply) and "/corpus add-text" in reply["content"]


# -- the process ---------------------------------------------------------------------------------------------------


def process_env(fake: FakeDiscord, tmp_path: Path, token: str) -> dict[str, str]:
    return {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))},
        "DISCORD_TOKEN": token,
        "CITEBOT_DB": str(tmp_path / "run.db"),
        "CITEBOT_CORPUS": str(tmp_path / "corpus"),
        "CITEBOT_DISCORD_API_BASE": fake.api_base + "/",  # a trailing slash is tolerated
        "CITEBOT_DISCORD_GATEWAY": fake.gateway_url,
        "http_proxy": "",
        "https_proxy": "",
        "HTTP_PROXY": "",
        "HTTPS_PROXY": "",
    }


async def test_citebot_run_syncs_and_exits_cleanly_on_sigterm(tmp_path: Path) -> None:
    """`citebot run` as a real process: no stdin, any token, only the configured hosts, exit 0 on SIGTERM."""
    token = "any old string, not a real token"
    async with FakeDiscord(token=token) as fake:
        add_server(fake, "one")
        write_corpus(tmp_path)
        env = process_env(fake, tmp_path, token)
        proc = await citebot_process(env, "run")
        try:
            await fake.wait_until(lambda: fake.command_syncs and fake.identifies, 30, "sync and identify")
            assert {c["name"] for c in fake.commands_for(None)} >= {"ask", "corpus"}
        finally:
            if proc.returncode is None:
                proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        log = stderr.decode()
        assert proc.returncode == 0, log
        assert token not in log
        assert "event=stopped" in log
        assert not fake.unknown_routes
        assert (tmp_path / "run.db.index" / "snapshot.npz").exists()  # the library closed and saved its snapshot


async def test_sigterm_while_the_login_hangs_stops_cleanly_without_a_traceback(tmp_path: Path) -> None:
    """A Discord (or proxy) that accepts the connection and never answers: SIGTERM closed the client under the
    pending login, whose "Connector is closed" ended the process in a traceback, exit 1."""
    contacted = asyncio.Event()
    held: list[asyncio.StreamWriter] = []

    async def never_answer(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        held.append(writer)
        contacted.set()

    server = await asyncio.start_server(never_answer, "127.0.0.1", 0)
    port = server.sockets[0].getsockname()[1]
    write_corpus(tmp_path)
    env = {
        **{k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))},
        "DISCORD_TOKEN": "any token",
        "CITEBOT_DB": str(tmp_path / "run.db"),
        "CITEBOT_CORPUS": str(tmp_path / "corpus"),
        "CITEBOT_DISCORD_API_BASE": f"http://127.0.0.1:{port}/api/v10",
        "http_proxy": "",
        "https_proxy": "",
        "HTTP_PROXY": "",
        "HTTPS_PROXY": "",
    }
    async with server:
        proc = await citebot_process(env, "run")
        try:
            await asyncio.wait_for(contacted.wait(), 30)  # the login's request is waiting for an answer
        finally:
            proc.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(proc.communicate(), 15)
        for writer in held:
            writer.close()
    log = stderr.decode()
    assert proc.returncode == 0, log
    assert "Traceback" not in log and "event=shutdown reason=signal" in log and "event=stopped" in log


async def test_a_running_bot_answers_from_what_the_command_line_adds_and_removes(tmp_path: Path) -> None:
    """`citebot run`, `citebot add` and `citebot remove` as separate processes on one store: the bot's next answer
    after each command comes from the store's new state (it catches up before answering), and its shutdown
    snapshot reflects the store's last change."""
    async with FakeDiscord() as fake:
        one = add_server(fake, "one")
        write_corpus(tmp_path)
        env = process_env(fake, tmp_path, fake.token)

        async def command(*args: str) -> str:
            proc = await citebot_process(env, *args)
            stdout, stderr = await asyncio.wait_for(proc.communicate(), 60)
            assert proc.returncode == 0, stderr.decode()
            return stdout.decode()

        bot = await citebot_process(env, "run")
        try:
            await fake.wait_until(lambda: fake.command_syncs and fake.identifies, 30, "sync and identify")
            zebra = tmp_path / "zebra.md"
            zebra.write_text(ZEBRA_ARTICLE, encoding="utf-8")
            article_id = (await command("add", str(zebra))).split("+ #", 1)[1].split()[0]
            reply = await reply_to(fake, await ask(fake, one, one.alice, ZEBRA_QUESTION))
            assert "three accidents" in embed_text(reply) or "repaint every zebra crossing" in embed_text(reply)
            await command("remove", article_id)
            reply = await reply_to(fake, await ask(fake, one, one.bob, ZEBRA_QUESTION))
            assert "three accidents" not in embed_text(reply) and "Ballymore Gazette" not in embed_text(reply)
        finally:
            if bot.returncode is None:
                bot.send_signal(signal.SIGTERM)
            _, stderr = await asyncio.wait_for(bot.communicate(), 30)
        assert bot.returncode == 0, stderr.decode()
        with sqlite3.connect(tmp_path / "run.db") as con:
            last = con.execute("SELECT MAX(seq) FROM changes").fetchone()[0]
        assert snapshot.read_stamp(snapshot.path_for(tmp_path / "run.db"))["seq"] == last


async def test_citebot_sync_to_one_guild(tmp_path: Path) -> None:
    async with FakeDiscord() as fake:
        one = add_server(fake, "one")
        proc = await citebot_process(process_env(fake, tmp_path, fake.token), "sync", "--guild", str(one.guild_id))
        stdout, stderr = await asyncio.wait_for(proc.communicate(), 20)
        assert proc.returncode == 0, stderr.decode()
        assert "synced 6 commands" in stdout.decode()
        assert {c["name"] for c in fake.commands_for(one.guild_id)} >= {"ask", "corpus"}
        assert not fake.identifies  # REST only: no gateway session for a sync


async def test_the_heartbeat_says_connected_as_soon_as_the_bot_is_ready(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
):
    """The heartbeat written at start (before the gateway) said "not connected", and `citebot health` said so for
    up to 30 s more (the next heartbeat) while the bot was answering."""
    settings = make_settings(tmp_path)
    async with running(fake_discord, library, settings) as bot:
        await fake_discord.wait_until(
            lambda: bot.status_path.exists() and json.loads(bot.status_path.read_text())["gateway_connected"],
            3,
            "a heartbeat saying connected",
        )
        assert "gateway connected" in await health.check(settings.db, require_bot=True)


async def test_running_bot_reports_its_gateway_state_for_health_checks(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
):
    """The heartbeat file `citebot health` reads: connected while running, gone after a clean stop (so health
    checks the store alone again, and --require-bot says the bot is not running)."""
    settings = make_settings(tmp_path)
    async with running(fake_discord, library, settings) as bot:
        bot.write_status()
        assert json.loads(bot.status_path.read_text())["gateway_connected"] is True
    assert not bot.status_path.exists()
    assert "gateway" not in await health.check(settings.db)
    with pytest.raises(health.Unhealthy, match="not running"):
        await health.check(settings.db, require_bot=True)


async def test_a_search_matching_more_than_it_reads_says_so(
    fake_discord: FakeDiscord, library: Library, tmp_path: Path
) -> None:
    """A search is read up to SEARCH_ROWS matches: the footer said "500 articles" of 520, and the rest were
    beyond every page, without a word."""
    fake = fake_discord
    one = add_server(fake, "one")
    await library.add_articles(
        [
            (Article(text=f"Keepers inspected lighthouse {i} on the pier.", title=f"Lighthouse {i}"), str(i))
            for i in range(503)
        ],
        guild_scope(one.guild_id),
    )
    async with running(fake, library, make_settings(tmp_path)):
        page1 = await reply_to(fake, await corpus(fake, one, one.mod, "list", {"search": "Lighthouse"}))
        footer = embed_text(page1).splitlines()[-1]
        assert "500 articles" not in footer and "the newest 500" in footer and "narrow the search" in footer
        everything = await reply_to(fake, await corpus(fake, one, one.mod, "list"))
        assert "503 articles · page 1 of 51" in embed_text(everything)  # unsearched lists are counted, not read
