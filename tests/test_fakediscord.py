"""End-to-end tests proving the fake Discord works with the real discord.py client."""

from __future__ import annotations

import asyncio
import io
from typing import Any, TypeVar

import aiohttp
import discord
import pytest
from discord import app_commands
from discord.ext import commands
from discord.http import Route
from fakediscord import (
    ChannelType,
    CommandNotAvailable,
    FakeDiscord,
    FakeGuild,
    FakeUser,
    Intent,
    MessageFlag,
    Overwrite,
    Perm,
)
from fakediscord.runner import pointed_at, run_bot

pytest_plugins = ["fakediscord.fixtures"]

T = TypeVar("T")


def present(value: T | None) -> T:
    """``value``, asserted to be there (the fake returns None for what it has not seen)."""
    assert value is not None
    return value


class ReplyModal(discord.ui.Modal, title="Tell me more"):
    """A modal whose submission is echoed back."""

    note: discord.ui.TextInput[ReplyModal] = discord.ui.TextInput(label="Note", custom_id="note", max_length=50)

    async def on_submit(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"noted: {self.note.value}", ephemeral=True)


class ButtonView(discord.ui.View):
    """One button that opens :class:`ReplyModal`."""

    @discord.ui.button(label="More", custom_id="more", style=discord.ButtonStyle.primary)
    async def more(self, interaction: discord.Interaction, button: discord.ui.Button[ButtonView]) -> None:
        await interaction.response.send_modal(ReplyModal())


class TestBot(commands.Bot):
    """A small bot exercising every response style; records what it saw."""

    __test__ = False

    def __init__(self, *, intents: discord.Intents | None = None, slow_seconds: float = 0.0) -> None:
        super().__init__(command_prefix="!", intents=intents or discord.Intents.default())
        self.slow_seconds = slow_seconds
        self.errors: list[BaseException] = []
        self.seen: list[discord.Message] = []
        self.responded = asyncio.Event()
        self.tree.on_error = self._on_tree_error  # type: ignore[method-assign]
        self._add_commands()

    async def setup_hook(self) -> None:
        await self.tree.sync()

    async def on_message(self, message: discord.Message) -> None:
        if message.author == self.user:
            return
        self.seen.append(message)
        if self.user in message.mentions:
            await message.reply("on it")

    async def _on_tree_error(self, interaction: discord.Interaction, error: app_commands.AppCommandError) -> None:
        self.errors.append(getattr(error, "original", error))

    def _add_commands(self) -> None:
        tree = self.tree

        @tree.command(description="Answer directly")
        async def ping(interaction: discord.Interaction, text: str = "") -> None:
            await interaction.response.send_message(f"pong {text}".strip())

        @tree.command(description="Defer, then follow up with an embed")
        async def research(interaction: discord.Interaction, query: str) -> None:
            await interaction.response.defer(thinking=True)
            await asyncio.sleep(0.01)
            embed = discord.Embed(title=f"Results for {query}", description="Quoted sentence.")
            embed.add_field(name="Source", value="https://example.org/a")
            await interaction.followup.send(embed=embed)

        @tree.command(description="Only you can see this")
        async def secret(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("psst", ephemeral=True)

        @tree.command(description="Sleeps before answering")
        async def sleepy(interaction: discord.Interaction) -> None:
            await asyncio.sleep(self.slow_seconds)
            await interaction.response.send_message("finally")

        @tree.command(description="Reads an uploaded file")
        async def upload(interaction: discord.Interaction, file: discord.Attachment) -> None:
            data = await file.read()
            await interaction.response.send_message(f"{file.filename}: {len(data)} bytes, {data[:5]!r}")

        @tree.command(description="Shows a button")
        async def button(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("press it", view=ButtonView())

        @tree.command(description="Autocompleted topic")
        async def topic(interaction: discord.Interaction, name: str) -> None:
            await interaction.response.send_message(name)

        @topic.autocomplete("name")
        async def topic_complete(interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
            options = ["economy", "elections", "energy", "sport"]
            return [app_commands.Choice(name=o, value=o) for o in options if o.startswith(current)]

        @tree.context_menu(name="Quote this")
        async def quote(interaction: discord.Interaction, message: discord.Message) -> None:
            await interaction.response.send_message(f"> {message.content}", ephemeral=True)

        admin = app_commands.Group(name="admin", description="Admin tools")
        admin = app_commands.default_permissions(manage_guild=True)(admin)

        @admin.command(name="reload", description="Reload the corpus")
        async def reload(interaction: discord.Interaction) -> None:
            await interaction.response.send_message("reloaded", ephemeral=True)

        tree.add_command(admin)


class World:
    """A guild with a text channel, an ordinary member and a moderator."""

    def __init__(self, fake: FakeDiscord) -> None:
        self.fake = fake
        self.guild: FakeGuild = fake.add_guild(name="News Club")
        self.channel = fake.add_channel(self.guild.id, name="general")
        self.alice: FakeUser = fake.users[fake.add_member(self.guild.id, name="alice").user_id]
        mod = fake.add_member(self.guild.id, name="mod", permissions=Perm.MANAGE_GUILD)
        self.mod: FakeUser = fake.users[mod.user_id]

    async def slash(
        self, name: str, options: dict[str, Any] | None = None, *, user: FakeUser | None = None, **kwargs: Any
    ) -> Any:
        """Send a slash command in the general channel."""
        uid = (user or self.alice).id
        return await self.fake.send_slash_command(self.guild.id, self.channel.id, uid, name, options, **kwargs)


@pytest.fixture
def world(fake_discord: FakeDiscord) -> World:
    return World(fake_discord)


async def test_rest_basics_exact_json_content_type_auth_and_unknown_routes(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    fake.allowed_violation_codes.add(0)
    async with aiohttp.ClientSession() as session:
        headers = {"Authorization": f"Bot {fake.token}"}
        async with session.get(f"{fake.api_base}/users/@me", headers=headers) as resp:
            assert resp.status == 200
            assert resp.headers["Content-Type"] == "application/json"
            assert (await resp.json())["id"] == str(fake.bot_user.id)
        async with session.get(f"{fake.api_base}/users/@me", headers={"Authorization": "Bot nope"}) as resp:
            assert resp.status == 401
        async with session.get(f"{fake.api_base}/gateway/bot", headers=headers) as resp:
            body = await resp.json()
            assert body["url"] == fake.gateway_url and body["shards"] == 1
        async with session.post(f"{fake.api_base}/nope/123", headers=headers, json={"a": 1}) as resp:
            assert resp.status == 404
            assert await resp.json() == {"message": "Unknown", "code": 0}
    assert [r.path for r in fake.unknown_routes] == ["/nope/123"]
    assert fake.unknown_routes[0].json == {"a": 1}


async def test_identify_sync_and_every_response_style(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    old_base = Route.BASE
    bot = TestBot()
    async with run_bot(bot, fake):
        assert fake.api_base == Route.BASE
        # Gateway: identified with the bot's intents; guild cached with the bot's computed permissions.
        assert fake.identifies[0]["intents"] == bot.intents.value
        guild = bot.get_guild(world.guild.id)
        assert guild is not None and guild.name == "News Club"
        assert guild.me.guild_permissions.embed_links and not guild.me.guild_permissions.manage_guild
        assert bot.get_channel(world.channel.id) is not None

        # Commands synced: recorded with ids, the group carries default_member_permissions.
        names = {c["name"] for c in fake.global_commands}
        assert {"ping", "research", "secret", "admin", "Quote this"} <= names
        assert present(fake.command("admin"))["default_member_permissions"] == str(Perm.MANAGE_GUILD)
        assert present(fake.command("ping"))["default_member_permissions"] is None
        assert fake.command("Quote this", type=3) is not None

        # Direct response.
        ix = await fake.wait_for_response(await world.slash("ping", {"text": "hi"}))
        assert ix.callback_type == 4 and not ix.ephemeral
        assert ix.payload["data"]["id"] == present(fake.command("ping"))["id"]
        assert ix.original is not None and present(ix.original)["content"] == "pong hi"
        assert ix.latency is not None and ix.latency < fake.interaction_deadline

        # Defer, then follow up with an embed: the follow-up replaces the "thinking" placeholder.
        ix = await world.slash("research", {"query": "inflation"})
        reply = await fake.wait_for_reply(ix)
        assert ix.callback_type == 5 and ix.deferred
        assert reply["embeds"][0]["title"] == "Results for inflation"
        assert reply["embeds"][0]["fields"] == [{"name": "Source", "value": "https://example.org/a", "inline": True}]
        assert reply["id"] == present(ix.original)["id"] and not ix.is_loading()

        # Ephemeral.
        ix = await fake.wait_for_response(await world.slash("secret"))
        assert ix.ephemeral and present(ix.original)["flags"] & MessageFlag.EPHEMERAL

        # default_member_permissions: hidden from alice, usable by the moderator.
        with pytest.raises(CommandNotAvailable):
            await world.slash("admin", subcommand="reload")
        ix = await fake.wait_for_response(await world.slash("admin", subcommand="reload", user=world.mod))
        assert present(ix.original)["content"] == "reloaded"
        assert ix.payload["data"]["options"] == [{"name": "reload", "type": 1, "options": []}]

        # Options are checked against the synced schema, like Discord's client would.
        with pytest.raises(CommandNotAvailable):
            await world.slash("research")
    assert old_base == Route.BASE
    assert bot.errors == []
    fake.assert_no_violations()


async def test_rate_limited_followup_is_retried(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    async with run_bot(TestBot(), fake):
        fake.rate_limit_next("POST", r"/webhooks/\d+/[^/]+", times=1, retry_after=0.05)
        ix = await world.slash("research", {"query": "rates"})
        reply = await fake.wait_for_reply(ix)
        assert reply["embeds"][0]["title"] == "Results for rates"
    statuses = [r.status for r in fake.requests_to("POST", r"/webhooks/\d+/[^/]+")]
    assert statuses == [429, 200]


async def test_three_second_deadline_gives_unknown_interaction(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    fake.interaction_deadline = 0.2
    fake.allowed_violation_codes.add(10062)
    bot = TestBot(slow_seconds=0.35)
    async with run_bot(bot, fake):
        ix = await world.slash("sleepy")
        await fake.wait_until(lambda: ix.rejected, 3, "the late callback")
        await fake.wait_until(lambda: bot.errors, 3, "the bot to see the error")
    assert ix.expired and not ix.acknowledged
    assert [v.code for v in ix.rejected] == [10062]
    assert isinstance(bot.errors[0], discord.NotFound) and bot.errors[0].code == 10062


async def test_double_acknowledgement_from_two_instances(fake_discord: FakeDiscord, world: World) -> None:
    """Two processes running the same token both answer: Discord accepts one and rejects the other."""
    fake = fake_discord
    fake.allowed_violation_codes.add(40060)
    first, second = TestBot(), TestBot()
    async with run_bot(first, fake), run_bot(second, fake):
        assert len(fake.live_sessions()) == 2
        ix = await world.slash("ping")
        await fake.wait_until(lambda: ix.rejected and ix.acknowledged, 3, "both answers")
        await fake.wait_until(lambda: first.errors or second.errors, 3, "the loser's error")
    assert [v.code for v in ix.rejected] == [40060]
    errors = first.errors + second.errors
    assert len(errors) == 1 and isinstance(errors[0], discord.HTTPException) and errors[0].code == 40060


async def test_message_create_and_message_content_intent(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    bot = TestBot()  # default intents: no MESSAGE_CONTENT
    async with run_bot(bot, fake):
        await fake.send_message_create(world.channel.id, world.alice.id, f"<@{fake.bot_user.id}> what about tariffs?")
        await fake.send_message_create(world.channel.id, world.alice.id, "chatting without a mention")
        await fake.wait_until(lambda: len(bot.seen) == 2, 3, "two messages")
        reply = await fake.wait_for_message(world.channel.id, lambda m: m["content"] == "on it")
    mention, other = bot.seen
    assert mention.content == f"<@{fake.bot_user.id}> what about tariffs?"
    assert bot.user in mention.mentions and mention.guild is not None
    assert other.content == ""  # Discord blanks content without the privileged intent
    assert reply["type"] == 19 and reply["message_reference"]["message_id"] == str(mention.id)
    assert fake.message_pings[int(reply["id"])]["users"] == [world.alice.id]  # replies ping by default


async def test_privileged_intents_must_be_enabled(fake_discord: FakeDiscord) -> None:
    fake = fake_discord
    fake.allowed_privileged_intents = 0
    intents = discord.Intents.default()
    intents.message_content = True
    with pytest.raises(discord.PrivilegedIntentsRequired):
        async with run_bot(TestBot(intents=intents), fake, ready_timeout=5):
            pass
    assert fake.identifies[0]["intents"] & Intent.MESSAGE_CONTENT


async def test_files_threads_and_cdn(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    bot = TestBot()
    async with run_bot(bot, fake):
        channel = bot.get_channel(world.channel.id)
        assert isinstance(channel, discord.TextChannel)
        msg = await channel.send("report", file=discord.File(io.BytesIO(b"hello world"), filename="r.txt"))
        assert msg.attachments[0].filename == "r.txt"
        assert await msg.attachments[0].read() == b"hello world"  # served by the fake CDN
        fake.fail_next_download(503)
        with pytest.raises(discord.HTTPException) as failed:
            await msg.attachments[0].read()
        assert failed.value.status == 503
        fake.fail_next_download(None, times=2)  # aiohttp retries a dropped connection once
        with pytest.raises(aiohttp.ServerDisconnectedError):
            await msg.attachments[0].read()
        fake.fail_next_download(200, delay=0.2)  # served, late
        assert await msg.attachments[0].read() == b"hello world"
        stored = fake.messages[msg.id]
        assert stored["attachments"][0]["size"] == 11

        thread = await msg.create_thread(name="discussion")
        assert thread.id == msg.id  # threads started from a message share its id
        await fake.wait_until(lambda: bot.get_channel(thread.id), 3, "THREAD_CREATE")
        await thread.send("in the thread")
        assert fake.threads[0]["name"] == "discussion"
        assert [m["content"] for m in fake.channel_messages(thread.id)] == ["in the thread"]

        edited = await msg.edit(content="report v2")
        assert edited.content == "report v2" and fake.edits[-1].after["content"] == "report v2"

        # Slash command with an attachment option: the bot downloads it from the fake CDN.
        att = fake.add_attachment("notes.txt", b"abcdefgh", "text/plain")
        ix = await world.slash("upload", {"file": att})
        reply = await fake.wait_for_reply(ix)
        assert reply["content"] == "notes.txt: 8 bytes, b'abcde'"


async def test_components_modal_autocomplete_and_context_menu(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    bot = TestBot()
    async with run_bot(bot, fake):
        ix = await fake.wait_for_response(await world.slash("button"))
        message_id = int(present(ix.original)["id"])
        assert present(ix.original)["components"][0]["components"][0]["custom_id"] == "more"

        click = await fake.send_component(world.guild.id, world.channel.id, world.alice.id, "more", message_id)
        await fake.wait_for_response(click)
        assert click.callback_type == 9 and present(click.modal)["title"] == "Tell me more"

        with pytest.raises(CommandNotAvailable):  # max_length=50 on the text input
            await fake.send_modal_submit(
                world.guild.id, world.channel.id, world.alice.id, present(click.modal)["custom_id"], {"note": "x" * 51}
            )
        submit = await fake.send_modal_submit(
            world.guild.id, world.channel.id, world.alice.id, present(click.modal)["custom_id"], {"note": "great"}
        )
        reply = await fake.wait_for_reply(submit)
        assert reply["content"] == "noted: great" and submit.ephemeral

        ac = await fake.send_autocomplete(
            world.guild.id, world.channel.id, world.alice.id, "topic", {"name": "e"}, focused="name"
        )
        await fake.wait_for_response(ac)
        assert [c["value"] for c in present(ac.choices)] == ["economy", "elections", "energy"]

        target = await fake.send_message_create(world.channel.id, world.alice.id, "Prices rose 3%.")
        ctx = await fake.send_message_context_menu(
            world.guild.id, world.channel.id, world.alice.id, "Quote this", int(target["id"])
        )
        assert (await fake.wait_for_reply(ctx))["content"] == "> Prices rose 3%."
    assert bot.errors == []


@pytest.mark.parametrize(
    ("payload", "code", "path"),
    [
        ({"content": "x" * 2001}, 50035, "content"),
        ({"embeds": [{"title": "t" * 257}]}, 50035, "embeds.0.title"),
        ({"embeds": [{"description": "d" * 4097}]}, 50035, "embeds.0.description"),
        ({"embeds": [{"description": "d"}] * 11}, 50035, "embeds"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v"}] * 26}]}, 50035, "embeds.0.fields"),
        ({"embeds": [{"fields": [{"name": "n" * 257, "value": "v"}]}]}, 50035, "embeds.0.fields.0.name"),
        ({"embeds": [{"fields": [{"name": "n", "value": "v" * 1025}]}]}, 50035, "embeds.0.fields.0.value"),
        ({"embeds": [{"fields": [{"name": "", "value": "v"}]}]}, 50035, "embeds.0.fields.0.name"),
        ({"embeds": [{"footer": {"text": "f" * 2049}}]}, 50035, "embeds.0.footer.text"),
        ({"embeds": [{"author": {"name": "a" * 257}}]}, 50035, "embeds.0.author.name"),
        ({"embeds": [{"description": "d" * 4000}, {"description": "d" * 2001}]}, 50035, "embeds"),
        ({"embeds": [{"title": "t", "url": "not a url"}]}, 50035, "embeds.0.url"),
        (
            {
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": str(i)}]}
                    for i in range(6)
                ]
            },
            50035,
            "components",
        ),
        (
            {
                "components": [
                    {
                        "type": 1,
                        "components": [{"type": 2, "style": 1, "label": "b", "custom_id": str(i)} for i in range(6)],
                    }
                ]
            },
            50035,
            "components.0.components",
        ),
        (
            {
                "components": [
                    {"type": 1, "components": [{"type": 2, "style": 1, "label": "b", "custom_id": "c" * 101}]}
                ]
            },
            50035,
            "components.0.components.0.custom_id",
        ),
        (
            {"components": [{"type": 1, "components": [{"type": 2, "style": 1, "label": "l" * 81, "custom_id": "c"}]}]},
            50035,
            "components.0.components.0.label",
        ),
        ({"content": "   "}, 50006, None),
        ({"content": "hi", "allowed_mentions": {"parse": ["users"], "users": ["1"]}}, 50035, "allowed_mentions.parse"),
    ],
)
async def test_message_limits_are_enforced(
    fake_discord: FakeDiscord, world: World, payload: dict[str, Any], code: int, path: str | None
) -> None:
    fake = fake_discord
    fake.allowed_violation_codes.add(code)
    async with run_bot(TestBot(), fake) as bot:
        route = Route("POST", "/channels/{channel_id}/messages", channel_id=world.channel.id)
        with pytest.raises(discord.HTTPException) as info:
            await bot.http.request(route, json=payload)
    assert info.value.code == code
    violation = fake.violations[-1]
    assert violation.code == code
    if path is not None:
        assert any(d.startswith(f"{path}:") for d in violation.details), violation.details


async def test_interaction_limits_and_followup_rules(fake_discord: FakeDiscord, world: World) -> None:
    """Limits apply to interaction callbacks too; a rejected callback leaves the interaction open."""
    fake = fake_discord
    fake.allowed_violation_codes.update({50035, 10015})
    bot = TestBot(slow_seconds=0.3)

    @bot.tree.command(description="Too long, then fine")
    async def long(interaction: discord.Interaction) -> None:
        try:
            await interaction.response.send_message("x" * 2001)
        except discord.HTTPException as exc:
            bot.errors.append(exc)
            await interaction.response.send_message("short")

    async with run_bot(bot, fake):
        ping_id = present(fake.command("ping"))["id"]
        await bot.tree.sync()  # re-syncing keeps command ids stable, like Discord
        assert present(fake.command("ping"))["id"] == ping_id and len(fake.command_syncs) == 2

        ix = await fake.wait_for_response(await world.slash("long"))
        assert [v.code for v in ix.rejected] == [50035]
        assert present(ix.original)["content"] == "short"

        # Follow-ups need an acknowledged interaction: before that the webhook is unknown.
        pending = await world.slash("sleepy")
        async with aiohttp.ClientSession() as session:
            url = f"{fake.api_base}/webhooks/{fake.application_id}/{pending.token}?wait=1"
            async with session.post(url, json={"content": "too early"}) as resp:
                assert resp.status == 404 and (await resp.json())["code"] == 10015
            await fake.wait_for_response(pending)
            async with session.post(url, json={"content": "now fine"}) as resp:
                assert resp.status == 200 and (await resp.json())["content"] == "now fine"
    assert [m["content"] for m in pending.messages] == ["finally", "now fine"]
    assert isinstance(bot.errors[0], discord.HTTPException) and bot.errors[0].code == 50035


async def test_permissions_missing_access_and_dropped_embeds(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    fake.allowed_violation_codes.add(50013)
    locked = fake.add_channel(
        world.guild.id,
        name="announcements",
        overwrites=[
            Overwrite(id=fake.bot_role(world.guild.id).id, type=0, deny=Perm.SEND_MESSAGES),
        ],
    )
    fake.bot_role(world.guild.id).permissions &= ~Perm.EMBED_LINKS
    world.guild.everyone.permissions &= ~Perm.EMBED_LINKS  # @everyone grants it by default
    async with run_bot(TestBot(), fake) as bot:
        channel = bot.get_channel(locked.id)
        assert isinstance(channel, discord.TextChannel)
        assert not channel.permissions_for(channel.guild.me).send_messages  # discord.py agrees with the fake
        with pytest.raises(discord.Forbidden) as info:
            await channel.send("hello")
        assert info.value.code == 50013
        general = bot.get_channel(world.channel.id)
        assert isinstance(general, discord.TextChannel)
        msg = await general.send("with embed", embed=discord.Embed(title="gone"))
        assert msg.embeds == []
    assert any("EMBED_LINKS" in v.message for v in fake.violations)


async def test_allowed_mentions_in_interaction_replies(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    bot = TestBot()

    @bot.tree.command(description="Echo text")
    async def echo(interaction: discord.Interaction, text: str) -> None:
        await interaction.response.send_message(text, allowed_mentions=discord.AllowedMentions.none())

    async with run_bot(bot, fake):
        ix = await fake.wait_for_response(await world.slash("echo", {"text": f"@everyone <@{world.alice.id}>"}))
    pings = fake.message_pings[int(present(ix.original)["id"])]
    assert pings == {"users": [], "roles": [], "everyone": False}


async def test_reconnect_resumes_session(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    bot = TestBot()
    resumed = asyncio.Event()

    async def on_resumed() -> None:
        resumed.set()

    bot.add_listener(on_resumed)
    async with run_bot(bot, fake):
        session = fake.live_sessions()[0]
        await fake.drop_connections(code=4000)
        await asyncio.wait_for(resumed.wait(), 5)
        assert fake.live_sessions() == [session]  # same session, resumed
        ix = await fake.wait_for_response(await world.slash("ping"))
        assert present(ix.original)["content"] == "pong"


async def test_dm_channel_and_closed_dms(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    fake.allowed_violation_codes.add(50007)
    shy = fake.add_member(world.guild.id, name="shy", dms_open=False)
    async with run_bot(TestBot(), fake) as bot:
        user = await bot.fetch_user(world.alice.id)
        msg = await user.send("hi alice")
        dm = fake.dm_channel(world.alice.id)
        assert fake.channel_messages(dm.id)[0]["id"] == str(msg.id)
        shy_user = await bot.fetch_user(shy.user_id)
        with pytest.raises(discord.Forbidden) as info:
            await shy_user.send("hi")
        assert info.value.code == 50007
    assert dm.type == ChannelType.DM


def test_pointed_at_restores_discord_py_globals() -> None:
    fake = FakeDiscord(port=1)
    before = (Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)
    with pointed_at(fake):
        assert Route.BASE == "http://127.0.0.1:1/api/v10"
    assert before == (Route.BASE, discord.gateway.DiscordWebSocket.DEFAULT_GATEWAY)


class UpdateView(discord.ui.View):
    """Buttons answering with UPDATE_MESSAGE (7) and DEFERRED_UPDATE_MESSAGE (6), plus selects."""

    @discord.ui.button(label="Edit", custom_id="edit")
    async def edit(self, interaction: discord.Interaction, button: discord.ui.Button[UpdateView]) -> None:
        await interaction.response.edit_message(content="edited via 7", view=None)

    @discord.ui.button(label="Later", custom_id="later")
    async def later(self, interaction: discord.Interaction, button: discord.ui.Button[UpdateView]) -> None:
        await interaction.response.defer()
        await interaction.edit_original_response(content="edited after 6")
        await interaction.followup.send("only for you", ephemeral=True)

    @discord.ui.select(custom_id="pick", options=[discord.SelectOption(label="A", value="a")])
    async def pick(self, interaction: discord.Interaction, select: discord.ui.Select[UpdateView]) -> None:
        await interaction.response.send_message(f"picked {select.values}")

    @discord.ui.select(cls=discord.ui.UserSelect, custom_id="who")
    async def who(self, interaction: discord.Interaction, select: discord.ui.UserSelect[UpdateView]) -> None:
        await interaction.response.send_message(f"user {select.values[0].name}")


async def test_sharded_bot_chunking_components_dms_and_forums(fake_discord: FakeDiscord, world: World) -> None:
    fake = fake_discord
    fake.shard_count = 2
    forum = fake.add_channel(world.guild.id, name="forum", type=ChannelType.FORUM)
    intents = discord.Intents.default()
    intents.members = True
    bot = commands.AutoShardedBot(command_prefix="!", intents=intents)

    @bot.tree.command(description="Shows a view")
    @app_commands.guild_only()
    async def view(interaction: discord.Interaction) -> None:
        await interaction.response.send_message("view", view=UpdateView())

    @bot.tree.context_menu(name="Inspect")
    async def inspect(interaction: discord.Interaction, member: discord.Member) -> None:
        await interaction.response.send_message(f"{member.name} {interaction.app_permissions.embed_links}")

    @bot.tree.command(description="Works in DMs")
    @app_commands.allowed_contexts(guilds=True, dms=True, private_channels=True)
    async def hello(interaction: discord.Interaction) -> None:
        await interaction.response.send_message(f"hello {interaction.user.name} {interaction.guild_id}")

    bot.setup_hook = bot.tree.sync  # type: ignore[method-assign,assignment]

    async def no_identify_pacing(shard_id: int | None, *, initial: bool = False) -> None:
        """discord.py otherwise sleeps 5 s before each non-initial shard IDENTIFY."""

    bot.before_identify_hook = no_identify_pacing  # type: ignore[method-assign]
    gid, cid, alice = world.guild.id, world.channel.id, world.alice.id
    async with run_bot(bot, fake):
        assert sorted(s.shard for s in fake.sessions.values()) == [(0, 2), (1, 2)]  # via GET /gateway/bot
        guild = bot.get_guild(gid)
        assert guild is not None and guild.get_member(alice) is not None  # chunked with op 8

        ix = await fake.wait_for_response(await fake.send_slash_command(gid, cid, alice, "view"))
        mid = int(present(ix.original)["id"])
        later = await fake.send_component(gid, cid, alice, "later", mid)
        (secret,) = await fake.wait_for_followups(later)
        assert fake.messages[mid]["content"] == "edited after 6" and secret["flags"] & MessageFlag.EPHEMERAL
        pick = await fake.send_component(gid, cid, alice, "pick", mid, values=["a"])
        assert (await fake.wait_for_reply(pick))["content"] == "picked ['a']"
        who = await fake.send_component(gid, cid, alice, "who", mid, values=[alice])
        assert (await fake.wait_for_reply(who))["content"] == "user alice"
        edit = await fake.send_component(gid, cid, alice, "edit", mid)
        await fake.wait_for_response(edit)
        assert edit.callback_type == 7 and fake.messages[mid]["content"] == "edited via 7"
        assert fake.messages[mid]["components"] == []

        ctx = await fake.send_user_context_menu(gid, cid, alice, "Inspect", alice)
        assert (await fake.wait_for_reply(ctx))["content"] == "alice True"
        dm = await fake.send_slash_command(None, fake.dm_channel(alice).id, alice, "hello")
        assert (await fake.wait_for_reply(dm))["content"] == "hello alice None"
        with pytest.raises(CommandNotAvailable):  # guild_only: Discord hides it in DMs
            await fake.send_slash_command(None, fake.dm_channel(alice).id, alice, "view")

        forum_channel = bot.get_channel(forum.id)
        assert isinstance(forum_channel, discord.ForumChannel)
        post = await forum_channel.create_thread(
            name="post", content="first", file=discord.File(io.BytesIO(b"x"), "a.txt")
        )
        assert post.thread.id == post.message.id and post.message.attachments[0].filename == "a.txt"
