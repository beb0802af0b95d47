"""A protocol-level fake of Discord (REST + gateway + CDN) for end-to-end tests.

The real discord.py client connects to it over 127.0.0.1. See README.md.
"""

from __future__ import annotations

import asyncio
import contextlib
import copy
import hashlib
import json
import logging
import mimetypes
import re
import secrets
import time
from collections.abc import Awaitable, Callable, Iterable
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiohttp import BodyPartReader, WSMsgType, web

from .builders import (
    ChannelType,
    FakeChannel,
    FakeGuild,
    FakeMember,
    FakeRole,
    FakeUser,
    Intent,
    MessageFlag,
    Overwrite,
    Perm,
    SnowflakeGenerator,
    has,
    iso_now,
)
from .records import InteractionRecord, MessageEdit, RequestRecord, UploadedFile, Violation
from .validation import (
    THREAD_NAME_MAX,
    FormErrors,
    is_empty_message,
    validate_choices,
    validate_commands,
    validate_message,
    validate_modal,
)

_log = logging.getLogger(__name__)

T = TypeVar("T")
Handler = Callable[..., Awaitable[Any]]

_USER_MENTION = re.compile(r"<@!?(\d+)>")
_ROLE_MENTION = re.compile(r"<@&(\d+)>")
_APPLICATION_OPTION_TYPES = {bool: 5, int: 4, float: 10, str: 3}


class ApiError(Exception):
    """An error reply in Discord's JSON shape."""

    def __init__(
        self,
        status: int,
        code: int,
        message: str,
        *,
        errors: FormErrors | None = None,
        record: bool = True,
    ) -> None:
        super().__init__(f"{status} {code} {message}")
        self.status = status
        self.code = code
        self.message = message
        self.errors = errors
        self.record = record

    def body(self) -> dict[str, Any]:
        """JSON body."""
        body: dict[str, Any] = {"message": self.message, "code": self.code}
        if self.errors:
            body["errors"] = self.errors.to_errors()
        return body


class CommandNotAvailable(LookupError):
    """Discord would never send this interaction (unknown command, hidden by permissions, bad options)."""


def form_error(errors: FormErrors) -> ApiError:
    """50035 Invalid Form Body."""
    return ApiError(400, 50035, "Invalid Form Body", errors=errors)


def _json_response(status: int, body: Any, headers: dict[str, str] | None = None) -> web.Response:
    # discord.py only parses JSON when the content type is exactly "application/json";
    # web.json_response / text= would append "; charset=utf-8".
    all_headers = {"Content-Type": "application/json"}
    all_headers.update(headers or {})
    return web.Response(status=status, body=json.dumps(body).encode(), headers=all_headers)


@dataclass
class _Injection:
    method: str
    pattern: re.Pattern[str]
    remaining: int
    status: int
    body: dict[str, Any]
    headers: dict[str, str]


@dataclass
class GatewaySession:
    """One identified gateway session (survives reconnects until invalidated)."""

    session_id: str
    intents: int
    shard: tuple[int, int]
    identify: dict[str, Any]
    seq: int = 0
    buffer: list[dict[str, Any]] = field(default_factory=list)
    conn: _Connection | None = None
    alive: bool = True
    events: list[tuple[str, dict[str, Any]]] = field(default_factory=list)

    def handles_guild(self, guild_id: int | None) -> bool:
        """Whether this shard receives events for the guild (DMs go to shard 0)."""
        shard_id, count = self.shard
        if guild_id is None:
            return shard_id == 0
        return (guild_id >> 22) % count == shard_id


class _Connection:
    def __init__(self, ws: web.WebSocketResponse, query: dict[str, str]) -> None:
        self.ws = ws
        self.query = query
        self.queue: asyncio.Queue[str | None] = asyncio.Queue()
        self.session: GatewaySession | None = None
        self.writer: asyncio.Task[None] | None = None
        self.heartbeats = 0
        self.closed_by_server = False

    def send(self, payload: dict[str, Any]) -> None:
        self.queue.put_nowait(json.dumps(payload))

    async def run_writer(self) -> None:
        while True:
            item = await self.queue.get()
            try:
                if item is None:
                    return
                if self.ws.closed:
                    continue
                with contextlib.suppress(ConnectionError, RuntimeError):
                    await self.ws.send_str(item)
            finally:
                self.queue.task_done()


class FakeDiscord:
    """Fake Discord: REST at ``api_base``, gateway at ``gateway_url``, CDN at ``cdn_base``."""

    def __init__(
        self,
        *,
        token: str = "fake-bot-token",
        bot_id: int | None = None,
        bot_name: str = "citebot",
        owner_id: int | None = None,
        owner_name: str = "owner",
        interaction_deadline: float = 3.0,
        heartbeat_interval_ms: int = 41_250,
        shard_count: int = 1,
        allowed_privileged_intents: int = Intent.PRIVILEGED,
        attachment_size_limit: int = 10 * 1024 * 1024,
        echo_bot_messages: bool = True,
        host: str = "127.0.0.1",
        port: int = 0,
    ) -> None:
        self.snowflake = SnowflakeGenerator()
        self.token = token
        self.bot_user = FakeUser(id=bot_id or self.snowflake(), username=bot_name, bot=True)
        self.application_id = self.bot_user.id
        owner = FakeUser(id=owner_id or self.snowflake(), username=owner_name)
        self.owner_id = owner.id
        #: Seconds the bot has for the first response to an interaction (Discord: 3).
        self.interaction_deadline = interaction_deadline
        self.heartbeat_interval_ms = heartbeat_interval_ms
        self.shard_count = shard_count
        self.allowed_privileged_intents = allowed_privileged_intents
        self.attachment_size_limit = attachment_size_limit
        #: Dispatch MESSAGE_CREATE/UPDATE for the bot's own messages, as Discord does.
        self.echo_bot_messages = echo_bot_messages
        self.host = host
        self.port = port

        self.users: dict[int, FakeUser] = {self.bot_user.id: self.bot_user, owner.id: owner}
        self.guilds: dict[int, FakeGuild] = {}
        self.channels: dict[int, FakeChannel] = {}
        self.cdn: dict[str, tuple[bytes, str]] = {}
        #: CDN paths requested (attachment downloads), in order.
        self.cdn_downloads: list[str] = []
        #: Faults for the next downloads (fail_next_download), oldest first.
        self._cdn_faults: list[tuple[int | None, float]] = []

        # Recorded state for assertions.
        self.requests: list[RequestRecord] = []
        self.violations: list[Violation] = []
        #: Violation codes a test expects; the fixture's teardown check ignores them.
        self.allowed_violation_codes: set[int] = set()
        self.unknown_routes: list[RequestRecord] = []
        self.messages: dict[int, dict[str, Any]] = {}
        self.channel_message_ids: dict[int, list[int]] = {}
        self.message_pings: dict[int, dict[str, Any]] = {}
        self.edits: list[MessageEdit] = []
        self.deleted_messages: list[dict[str, Any]] = []
        self.threads: list[dict[str, Any]] = []
        self.reactions: list[dict[str, Any]] = []
        self.global_commands: list[dict[str, Any]] = []
        self.guild_commands: dict[int, list[dict[str, Any]]] = {}
        self.command_syncs: list[tuple[int | None, list[dict[str, Any]]]] = []
        self.interactions: list[InteractionRecord] = []
        self.identifies: list[dict[str, Any]] = []
        self.presence_updates: list[dict[str, Any]] = []
        self.sessions: dict[str, GatewaySession] = {}

        self._interactions_by_id: dict[int, InteractionRecord] = {}
        self._interactions_by_token: dict[str, InteractionRecord] = {}
        self._command_ids: dict[tuple[int | None, int, str], int] = {}
        self._injections: list[_Injection] = []
        self._connections: set[_Connection] = set()
        self._waiters: set[asyncio.Future[None]] = set()
        self._runner: web.AppRunner | None = None
        self._routes: list[tuple[str, re.Pattern[str], Handler]] = []
        self._build_routes()

    # ------------------------------------------------------------------ lifecycle

    @property
    def base_url(self) -> str:
        """``http://host:port``."""
        return f"http://{self.host}:{self.port}"

    @property
    def api_base(self) -> str:
        """What ``discord.http.Route.BASE`` must be set to."""
        return f"{self.base_url}/api/v10"

    @property
    def gateway_url(self) -> str:
        """What ``DiscordWebSocket.DEFAULT_GATEWAY`` must be set to."""
        return f"ws://{self.host}:{self.port}/gateway"

    @property
    def cdn_base(self) -> str:
        """Base URL of the fake CDN."""
        return f"{self.base_url}/cdn"

    async def start(self) -> None:
        """Start serving on 127.0.0.1 (a free port unless ``port`` was given)."""
        app = web.Application(client_max_size=64 * 1024 * 1024)
        app.router.add_get("/gateway", self._gateway_handler)
        app.router.add_get("/cdn/{tail:.*}", self._cdn_handler)
        app.router.add_route("*", "/api/v10/{tail:.*}", self._rest_handler)
        app.router.add_route("*", "/{tail:.*}", self._not_found_handler)
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self.host, self.port)
        await site.start()
        server = getattr(site, "_server", None)
        sockets = getattr(server, "sockets", None) or []
        if sockets:
            self.port = sockets[0].getsockname()[1]

    async def stop(self) -> None:
        """Close every gateway connection and stop the server."""
        for conn in list(self._connections):
            conn.closed_by_server = True
            with contextlib.suppress(Exception):
                await conn.ws.close(code=1001, message=b"fake discord stopping")
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None

    async def __aenter__(self) -> FakeDiscord:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    # ------------------------------------------------------------------ world building

    def add_user(
        self, user_id: int | None = None, name: str = "user", *, bot: bool = False, dms_open: bool = True
    ) -> FakeUser:
        """Register a user (members are added with :meth:`add_member`)."""
        user = FakeUser(id=user_id or self.snowflake(), username=name, bot=bot, dms_open=dms_open)
        self.users[user.id] = user
        return user

    def add_guild(
        self,
        guild_id: int | None = None,
        name: str = "guild",
        *,
        owner_id: int | None = None,
        everyone_permissions: int = Perm.DEFAULT_EVERYONE,
        bot_permissions: int = Perm.DEFAULT_BOT,
        preferred_locale: str = "en-US",
    ) -> FakeGuild:
        """Create a guild with an @everyone role and the bot as a member (with a managed role)."""
        gid = guild_id or self.snowflake()
        guild = FakeGuild(id=gid, name=name, owner_id=owner_id or self.owner_id, preferred_locale=preferred_locale)
        guild.roles[gid] = FakeRole(id=gid, guild_id=gid, name="@everyone", permissions=everyone_permissions)
        bot_role = FakeRole(
            id=self.snowflake(),
            guild_id=gid,
            name=self.bot_user.username,
            permissions=bot_permissions,
            position=1,
            managed=True,
            bot_id=self.bot_user.id,
        )
        guild.roles[bot_role.id] = bot_role
        guild.members[self.bot_user.id] = FakeMember(user_id=self.bot_user.id, guild_id=gid, roles=[bot_role.id])
        if guild.owner_id not in self.users:
            self.users[guild.owner_id] = FakeUser(id=guild.owner_id, username="owner")
        guild.members.setdefault(guild.owner_id, FakeMember(user_id=guild.owner_id, guild_id=gid))
        self.guilds[gid] = guild
        self._dispatch_guild_create_if_live(guild)
        return guild

    def bot_role(self, guild_id: int) -> FakeRole:
        """The bot's managed role in a guild (edit ``permissions`` to change what the bot may do)."""
        return next(r for r in self.guilds[guild_id].roles.values() if r.bot_id == self.bot_user.id)

    def add_role(
        self,
        guild_id: int,
        role_id: int | None = None,
        name: str = "role",
        *,
        permissions: int = 0,
        position: int | None = None,
        mentionable: bool = False,
    ) -> FakeRole:
        """Add a role to a guild."""
        guild = self.guilds[guild_id]
        role = FakeRole(
            id=role_id or self.snowflake(),
            guild_id=guild_id,
            name=name,
            permissions=permissions,
            position=position if position is not None else len(guild.roles),
            mentionable=mentionable,
        )
        guild.roles[role.id] = role
        self._dispatch(
            "GUILD_ROLE_CREATE",
            {"guild_id": str(guild_id), "role": role.to_dict()},
            guild_id=guild_id,
            intents=Intent.GUILDS,
        )
        return role

    def add_channel(
        self,
        guild_id: int,
        channel_id: int | None = None,
        name: str = "general",
        *,
        type: int = ChannelType.TEXT,
        parent_id: int | None = None,
        topic: str | None = None,
        nsfw: bool = False,
        overwrites: Iterable[Overwrite] = (),
    ) -> FakeChannel:
        """Add a guild channel. ``overwrites`` are :class:`Overwrite` (type 0 role, 1 member)."""
        guild = self.guilds[guild_id]
        channel = FakeChannel(
            id=channel_id or self.snowflake(),
            type=type,
            name=name,
            guild_id=guild_id,
            parent_id=parent_id,
            position=len(guild.channels),
            topic=topic,
            nsfw=nsfw,
            overwrites=list(overwrites),
        )
        guild.channels[channel.id] = channel
        self.channels[channel.id] = channel
        self._dispatch("CHANNEL_CREATE", channel.to_dict(), guild_id=guild_id, intents=Intent.GUILDS)
        return channel

    def add_member(
        self,
        guild_id: int,
        user_id: int | None = None,
        name: str = "member",
        *,
        permissions: int | None = None,
        roles: Iterable[int] = (),
        nick: str | None = None,
        bot: bool = False,
        dms_open: bool = True,
    ) -> FakeMember:
        """Add a guild member; ``permissions`` creates a personal role granting exactly those bits."""
        guild = self.guilds[guild_id]
        uid = user_id or self.snowflake()
        if uid not in self.users:
            self.add_user(uid, name, bot=bot, dms_open=dms_open)
        role_ids = list(roles)
        if permissions is not None:
            role_ids.append(self.add_role(guild_id, name=f"{name}-perms", permissions=permissions).id)
        member = FakeMember(user_id=uid, guild_id=guild_id, roles=role_ids, nick=nick)
        guild.members[uid] = member
        self._dispatch(
            "GUILD_MEMBER_ADD",
            {**member.to_dict(self.users[uid]), "guild_id": str(guild_id)},
            guild_id=guild_id,
            intents=Intent.GUILD_MEMBERS,
        )
        return member

    def dm_channel(self, user_id: int) -> FakeChannel:
        """The DM channel between the bot and a user (created on first use)."""
        for channel in self.channels.values():
            if channel.type == ChannelType.DM and channel.recipient_id == user_id:
                return channel
        channel = FakeChannel(id=self.snowflake(), type=ChannelType.DM, name=None, recipient_id=user_id)
        self.channels[channel.id] = channel
        return channel

    def add_attachment(self, filename: str, data: bytes, content_type: str | None = None) -> dict[str, Any]:
        """Store a file on the fake CDN and return an attachment object (as in ``resolved.attachments``)."""
        att_id = self.snowflake()
        return self._store_attachment(att_id, filename, data, content_type, path=f"ephemeral-attachments/{att_id}")

    def _store_attachment(
        self,
        att_id: int,
        filename: str,
        data: bytes,
        content_type: str | None,
        *,
        path: str,
        description: str | None = None,
    ) -> dict[str, Any]:
        ctype = content_type or mimetypes.guess_type(filename)[0] or "application/octet-stream"
        key = f"{path}/{filename}"
        self.cdn[key] = (data, ctype)
        expires = int(time.time()) + 86400
        url = f"{self.cdn_base}/{key}?ex={expires:x}&is={int(time.time()):x}&hm={secrets.token_hex(8)}&"
        att: dict[str, Any] = {
            "id": str(att_id),
            "filename": filename,
            "size": len(data),
            "url": url,
            "proxy_url": url,
            "content_type": ctype,
        }
        if description is not None:
            att["description"] = description
        if path.startswith("ephemeral-"):
            att["ephemeral"] = True
        return att

    # ------------------------------------------------------------------ waiting

    def _notify(self) -> None:
        for fut in self._waiters:
            if not fut.done():
                fut.set_result(None)
        self._waiters.clear()

    async def wait_until(self, predicate: Callable[[], T | None], timeout: float = 5.0, what: str = "condition") -> T:
        """Wait until ``predicate()`` is truthy (re-checked on every recorded change); return its value."""
        loop = asyncio.get_running_loop()
        deadline = loop.time() + timeout
        while True:
            value = predicate()
            if value:
                return value
            remaining = deadline - loop.time()
            if remaining <= 0:
                raise TimeoutError(f"timed out after {timeout}s waiting for {what}\n{self.describe()}")
            fut: asyncio.Future[None] = loop.create_future()
            self._waiters.add(fut)
            # Also poll, so predicates about the bot (not the fake) are re-checked promptly.
            await asyncio.wait({fut}, timeout=min(remaining, 0.05))
            self._waiters.discard(fut)

    async def wait_ready(self, timeout: float = 10.0) -> GatewaySession:
        """Wait until a client has identified (READY and GUILD_CREATEs were queued)."""
        return await self.wait_until(
            lambda: next((s for s in self.sessions.values() if s.alive), None), timeout, "a gateway IDENTIFY"
        )

    async def wait_for_response(self, interaction: InteractionRecord, timeout: float = 5.0) -> InteractionRecord:
        """Wait for the interaction's accepted initial response; returns the record."""
        await self.wait_until(lambda: interaction.acknowledged, timeout, f"a response to interaction {interaction.id}")
        return interaction

    async def wait_for_followups(
        self, interaction: InteractionRecord, count: int = 1, timeout: float = 5.0
    ) -> list[dict[str, Any]]:
        """Wait until the interaction has at least ``count`` follow-ups."""
        await self.wait_until(
            lambda: len(interaction.followup_ids) >= count,
            timeout,
            f"{count} follow-up(s) to interaction {interaction.id}",
        )
        return interaction.followups

    async def wait_for_reply(self, interaction: InteractionRecord, timeout: float = 5.0) -> dict[str, Any]:
        """Wait for the first visible answer: a non-loading original, or else a follow-up."""

        def visible() -> dict[str, Any] | None:
            original = interaction.original
            if original is not None and not int(original.get("flags") or 0) & MessageFlag.LOADING:
                return original
            return interaction.followups[0] if interaction.followups else None

        return await self.wait_until(visible, timeout, f"a visible reply to interaction {interaction.id}")

    async def wait_for_message(
        self, channel_id: int, predicate: Callable[[dict[str, Any]], bool] | None = None, timeout: float = 5.0
    ) -> dict[str, Any]:
        """Wait for a (non-ephemeral or ephemeral) message in a channel matching ``predicate``."""

        def find() -> dict[str, Any] | None:
            for msg in self.channel_messages(channel_id):
                if predicate is None or predicate(msg):
                    return msg
            return None

        return await self.wait_until(find, timeout, f"a message in channel {channel_id}")

    def describe(self, last: int = 15) -> str:
        """Recent requests and violations, for timeout messages."""
        lines = ["recent requests:"]
        lines += [f"  {r.method} {r.path} -> {r.status}" for r in self.requests[-last:]]
        if self.violations:
            lines.append("violations:")
            lines += [f"  {v}" for v in self.violations[-last:]]
        return "\n".join(lines)

    # ------------------------------------------------------------------ assertions helpers

    def channel_messages(self, channel_id: int) -> list[dict[str, Any]]:
        """Messages currently in a channel, oldest first (includes ephemeral interaction messages)."""
        return [self.messages[m] for m in self.channel_message_ids.get(channel_id, []) if m in self.messages]

    def requests_to(self, method: str, path_regex: str) -> list[RequestRecord]:
        """Recorded requests whose method matches and whose path fully matches ``path_regex``."""
        pattern = re.compile(path_regex)
        return [r for r in self.requests if r.method == method.upper() and pattern.fullmatch(r.path)]

    def unexpected_violations(self) -> list[Violation]:
        """Violations whose code is not in ``allowed_violation_codes``."""
        return [v for v in self.violations if v.code not in self.allowed_violation_codes]

    def assert_no_violations(self) -> None:
        """Fail if any request was rejected the way Discord would reject it (or hit an unknown route)."""
        bad = self.unexpected_violations()
        if bad:
            raise AssertionError("fake Discord recorded violations:\n" + "\n".join(f"  {v}" for v in bad))

    def commands_for(self, guild_id: int | None = None) -> list[dict[str, Any]]:
        """Registered commands (global when ``guild_id`` is None)."""
        return self.global_commands if guild_id is None else self.guild_commands.get(guild_id, [])

    def command(self, name: str, guild_id: int | None = None, type: int = 1) -> dict[str, Any] | None:
        """A registered command by name (guild commands first, then global)."""
        pools = ([self.guild_commands.get(guild_id, [])] if guild_id else []) + [self.global_commands]
        for pool in pools:
            for cmd in pool:
                if cmd["name"] == name and int(cmd.get("type", 1)) == type:
                    return cmd
        return None

    # ------------------------------------------------------------------ fault injection

    def rate_limit_next(
        self, method: str, path_regex: str, times: int = 1, retry_after: float = 0.1, *, is_global: bool = False
    ) -> None:
        """Make the next ``times`` matching requests answer 429 (with ``Via`` so discord.py retries)."""
        body = {"message": "You are being rate limited.", "retry_after": retry_after, "global": is_global, "code": 0}
        headers = {
            "Via": "1.1 google",
            "Retry-After": str(max(1, round(retry_after))),
            "X-RateLimit-Limit": "5",
            "X-RateLimit-Remaining": "0",
            "X-RateLimit-Reset-After": str(retry_after),
            "X-RateLimit-Bucket": hashlib.sha1(path_regex.encode()).hexdigest()[:16],
            "X-RateLimit-Scope": "shared" if not is_global else "global",
        }
        if is_global:
            headers["X-RateLimit-Global"] = "true"
        self.fail_next(method, path_regex, status=429, body=body, times=times, headers=headers)

    def fail_next(
        self,
        method: str,
        path_regex: str,
        *,
        status: int,
        body: dict[str, Any] | None = None,
        times: int = 1,
        headers: dict[str, str] | None = None,
    ) -> None:
        """Make the next ``times`` matching requests fail with ``status``/``body`` (not recorded as violations)."""
        self._injections.append(
            _Injection(
                method=method.upper(),
                pattern=re.compile(path_regex),
                remaining=times,
                status=status,
                body=body or {"message": f"{status}: injected failure", "code": 0},
                headers=headers or {},
            )
        )

    def fail_next_download(self, status: int | None = 503, *, delay: float = 0.0, times: int = 1) -> None:
        """Make the next ``times`` CDN downloads fail: answer ``status`` after ``delay`` seconds (200: the file
        itself, late), or, with ``status=None``, close the connection without answering (a reset)."""
        self._cdn_faults += [(status, delay)] * times

    # ------------------------------------------------------------------ gateway

    def _dispatch(
        self,
        event: str,
        data: dict[str, Any],
        *,
        guild_id: int | None = None,
        intents: int = 0,
        sessions: Iterable[GatewaySession] | None = None,
        transform: Callable[[GatewaySession, dict[str, Any]], dict[str, Any] | None] | None = None,
    ) -> int:
        """Send a DISPATCH to every live session that has the shard and one of ``intents``; count them."""
        count = 0
        for session in list(sessions if sessions is not None else self.sessions.values()):
            if not session.alive or (sessions is None and not session.handles_guild(guild_id)):
                continue
            if intents and not session.intents & intents:
                continue
            payload = transform(session, data) if transform else data
            if payload is None:
                continue
            session.seq += 1
            frame = {"op": 0, "t": event, "s": session.seq, "d": payload}
            session.buffer.append(frame)
            del session.buffer[:-2000]
            session.events.append((event, payload))
            if session.conn is not None:
                session.conn.send(frame)
            count += 1
        return count

    async def flush(self, timeout: float = 5.0) -> None:
        """Wait until every queued gateway frame was written to its socket."""
        conns = [c for c in self._connections if c.writer is not None and not c.writer.done()]
        if conns:
            await asyncio.wait_for(asyncio.gather(*(c.queue.join() for c in conns)), timeout)

    def _dispatch_guild_create_if_live(self, guild: FakeGuild) -> None:
        for session in list(self.sessions.values()):
            if session.alive and session.handles_guild(guild.id):
                self._dispatch(
                    "GUILD_CREATE", self._guild_create_payload(guild, session), guild_id=guild.id, sessions=[session]
                )

    def _guild_create_payload(self, guild: FakeGuild, session: GatewaySession | None) -> dict[str, Any]:
        # Like Discord: the member list is complete only with the presences intent (and a small
        # guild); otherwise just the bot. member_count lets discord.py know whether to chunk.
        if session is None or session.intents & Intent.GUILD_PRESENCES:
            members = list(guild.members.values())
        else:
            members = [guild.members[self.bot_user.id]]
        channels = [c for c in guild.channels.values() if not c.is_thread]
        threads = [c for c in guild.channels.values() if c.is_thread and not c.archived]
        return {
            "id": str(guild.id),
            "name": guild.name,
            "icon": None,
            "splash": None,
            "discovery_splash": None,
            "owner_id": str(guild.owner_id),
            "afk_channel_id": None,
            "afk_timeout": 300,
            "verification_level": 0,
            "default_message_notifications": 1,
            "explicit_content_filter": 0,
            "roles": [r.to_dict() for r in guild.roles.values()],
            "emojis": [],
            "stickers": [],
            "features": [],
            "mfa_level": 0,
            "system_channel_id": None,
            "system_channel_flags": 0,
            "rules_channel_id": None,
            "vanity_url_code": None,
            "description": None,
            "banner": None,
            "premium_tier": 0,
            "premium_subscription_count": 0,
            "preferred_locale": guild.preferred_locale,
            "public_updates_channel_id": None,
            "nsfw_level": 0,
            "premium_progress_bar_enabled": False,
            "joined_at": guild.joined_at,
            "large": False,
            "unavailable": False,
            "member_count": len(guild.members),
            "voice_states": [],
            "members": [m.to_dict(self.users[m.user_id]) for m in members],
            "channels": [c.to_dict() for c in channels],
            "threads": [c.to_dict() for c in threads],
            "presences": [],
            "stage_instances": [],
            "guild_scheduled_events": [],
            "soundboard_sounds": [],
        }

    async def _gateway_handler(self, request: web.Request) -> web.WebSocketResponse:
        ws = web.WebSocketResponse(max_msg_size=0)
        await ws.prepare(request)
        conn = _Connection(ws, dict(request.query))
        self._connections.add(conn)
        conn.writer = asyncio.create_task(conn.run_writer())
        conn.send({"op": 10, "s": None, "t": None, "d": {"heartbeat_interval": self.heartbeat_interval_ms}})
        try:
            async for msg in ws:
                if msg.type is WSMsgType.TEXT:
                    await self._on_gateway_message(conn, json.loads(msg.data))
                elif msg.type is WSMsgType.ERROR:
                    break
        finally:
            session = conn.session
            if session is not None and session.conn is conn:
                session.conn = None
                # A client closing with 1000/1001 invalidates the session, like Discord.
                if not conn.closed_by_server and ws.close_code in (1000, 1001):
                    session.alive = False
            conn.queue.put_nowait(None)
            with contextlib.suppress(Exception):
                await asyncio.wait_for(conn.writer, 2)
            self._connections.discard(conn)
            self._notify()
        return ws

    async def _close(self, conn: _Connection, code: int, reason: str) -> None:
        conn.closed_by_server = True
        await self._drain(conn)
        await conn.ws.close(code=code, message=reason.encode())

    async def _drain(self, conn: _Connection) -> None:
        with contextlib.suppress(Exception):
            await asyncio.wait_for(conn.queue.join(), 2)

    async def _on_gateway_message(self, conn: _Connection, payload: dict[str, Any]) -> None:
        op = payload.get("op")
        data = payload.get("d")
        if op == 1:
            conn.heartbeats += 1
            conn.send({"op": 11, "s": None, "t": None, "d": None})
        elif op == 2:
            await self._on_identify(conn, data or {})
        elif op == 6:
            await self._on_resume(conn, data or {})
        elif op == 8:
            self._on_request_members(conn, data or {})
        elif op == 3:
            self.presence_updates.append(data or {})
        self._notify()

    async def _on_identify(self, conn: _Connection, data: dict[str, Any]) -> None:
        self.identifies.append(data)
        if conn.session is not None:
            await self._close(conn, 4005, "Already authenticated.")
            return
        if data.get("token") != self.token:
            await self._close(conn, 4004, "Authentication failed.")
            return
        if "intents" not in data:
            await self._close(conn, 4013, "Invalid intent(s).")
            return
        intents = int(data["intents"])
        if intents & Intent.PRIVILEGED & ~self.allowed_privileged_intents:
            await self._close(conn, 4014, "Disallowed intent(s).")
            return
        shard = tuple(data.get("shard") or (0, 1))
        if len(shard) != 2 or not 0 <= shard[0] < shard[1]:
            await self._close(conn, 4010, "Invalid shard.")
            return
        session = GatewaySession(
            session_id=secrets.token_hex(16), intents=intents, shard=(int(shard[0]), int(shard[1])), identify=data
        )
        session.conn = conn
        conn.session = session
        self.sessions[session.session_id] = session
        guilds = [g for g in self.guilds.values() if session.handles_guild(g.id)]
        ready = {
            "v": 10,
            "user": {
                **self.bot_user.to_dict(),
                "verified": True,
                "mfa_enabled": False,
                "email": None,
                "locale": "en-US",
            },
            "guilds": [{"id": str(g.id), "unavailable": True} for g in guilds],
            "session_id": session.session_id,
            "session_type": "normal",
            "resume_gateway_url": self.gateway_url,
            "shard": list(session.shard),
            "application": {"id": str(self.application_id), "flags": self._application_flags()},
            "private_channels": [],
            "relationships": [],
            "presences": [],
            "user_settings": {},
            "geo_ordered_rtc_regions": [],
            "_trace": ["fake-discord"],
        }
        self._dispatch("READY", ready, sessions=[session])
        for guild in guilds:
            self._dispatch(
                "GUILD_CREATE", self._guild_create_payload(guild, session), guild_id=guild.id, sessions=[session]
            )

    async def _on_resume(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = self.sessions.get(str(data.get("session_id")))
        if session is None or not session.alive or data.get("token") != self.token:
            conn.send({"op": 9, "s": None, "t": None, "d": False})
            return
        if session.conn is not None and session.conn is not conn:
            session.conn.closed_by_server = True
            with contextlib.suppress(Exception):
                await session.conn.ws.close(code=4000, message=b"session resumed elsewhere")
        session.conn = conn
        conn.session = session
        last = int(data.get("seq") or 0)
        for frame in session.buffer:
            if frame["s"] > last:
                conn.send(frame)
        self._dispatch("RESUMED", {"_trace": ["fake-discord"]}, sessions=[session])

    def _on_request_members(self, conn: _Connection, data: dict[str, Any]) -> None:
        session = conn.session
        if session is None:
            return
        guild = self.guilds.get(int(data.get("guild_id") or 0))
        if guild is None:
            return
        members = list(guild.members.values())
        user_ids = data.get("user_ids")
        query = data.get("query")
        if user_ids:
            wanted = {int(u) for u in ([user_ids] if isinstance(user_ids, str | int) else user_ids)}
            members = [m for m in members if m.user_id in wanted]
        elif query is not None:
            if query == "" and not session.intents & Intent.GUILD_MEMBERS:
                self._violation(
                    Violation(0, 4013, "Requesting all members needs the GUILD_MEMBERS intent", "GATEWAY", "op 8")
                )
                members = []
            members = [m for m in members if self.users[m.user_id].username.lower().startswith(query.lower())]
            limit = int(data.get("limit") or 0)
            if limit:
                members = members[:limit]
        chunk: dict[str, Any] = {
            "guild_id": str(guild.id),
            "members": [m.to_dict(self.users[m.user_id]) for m in members],
            "chunk_index": 0,
            "chunk_count": 1,
            "not_found": [],
        }
        if data.get("nonce") is not None:
            chunk["nonce"] = data["nonce"]
        self._dispatch("GUILD_MEMBERS_CHUNK", chunk, guild_id=guild.id, sessions=[session])

    def _application_flags(self) -> int:
        flags = 0
        if self.allowed_privileged_intents & Intent.GUILD_PRESENCES:
            flags |= 1 << 13
        if self.allowed_privileged_intents & Intent.GUILD_MEMBERS:
            flags |= 1 << 15
        if self.allowed_privileged_intents & Intent.MESSAGE_CONTENT:
            flags |= 1 << 19
        return flags

    async def request_reconnect(self) -> None:
        """Send op 7 RECONNECT to every connection (discord.py reconnects and RESUMEs)."""
        for conn in list(self._connections):
            if conn.session is not None:
                conn.send({"op": 7, "s": None, "t": None, "d": None})
        await self.flush()

    async def drop_connections(self, code: int = 4000) -> None:
        """Close every gateway connection with ``code`` (4000 keeps sessions resumable)."""
        for conn in list(self._connections):
            await self._close(conn, code, "dropped by test")

    def live_sessions(self) -> list[GatewaySession]:
        """Sessions that are alive and currently connected."""
        return [s for s in self.sessions.values() if s.alive and s.conn is not None]

    # ------------------------------------------------------------------ REST plumbing

    def _build_routes(self) -> None:
        sf = r"(\d+)"
        table: list[tuple[str, str, Handler]] = [
            ("GET", r"/gateway", self._get_gateway),
            ("GET", r"/gateway/bot", self._get_gateway_bot),
            ("GET", r"/users/@me", self._get_me),
            ("PATCH", r"/users/@me", self._patch_me),
            ("GET", rf"/users/{sf}", self._get_user),
            ("POST", r"/users/@me/channels", self._create_dm),
            ("GET", r"/oauth2/applications/@me", self._get_application),
            ("GET", r"/applications/@me", self._get_application),
            ("GET", rf"/applications/{sf}/commands", self._get_commands),
            ("PUT", rf"/applications/{sf}/commands", self._put_commands),
            ("POST", rf"/applications/{sf}/commands", self._post_command),
            ("GET", rf"/applications/{sf}/commands/{sf}", self._get_command),
            ("PATCH", rf"/applications/{sf}/commands/{sf}", self._patch_command),
            ("DELETE", rf"/applications/{sf}/commands/{sf}", self._delete_command),
            ("GET", rf"/applications/{sf}/guilds/{sf}/commands", self._get_commands),
            ("PUT", rf"/applications/{sf}/guilds/{sf}/commands", self._put_commands),
            ("POST", rf"/applications/{sf}/guilds/{sf}/commands", self._post_command),
            ("GET", rf"/applications/{sf}/guilds/{sf}/commands/permissions", self._get_command_permissions),
            ("GET", rf"/applications/{sf}/guilds/{sf}/commands/{sf}", self._get_command),
            ("PATCH", rf"/applications/{sf}/guilds/{sf}/commands/{sf}", self._patch_command),
            ("DELETE", rf"/applications/{sf}/guilds/{sf}/commands/{sf}", self._delete_command),
            ("GET", rf"/applications/{sf}/emojis", self._get_app_emojis),
            ("POST", rf"/interactions/{sf}/([^/]+)/callback", self._interaction_callback),
            ("POST", rf"/webhooks/{sf}/([^/]+)", self._webhook_execute),
            ("GET", rf"/webhooks/{sf}/([^/]+)/messages/(@original|\d+)", self._webhook_get_message),
            ("PATCH", rf"/webhooks/{sf}/([^/]+)/messages/(@original|\d+)", self._webhook_edit_message),
            ("DELETE", rf"/webhooks/{sf}/([^/]+)/messages/(@original|\d+)", self._webhook_delete_message),
            ("GET", rf"/channels/{sf}", self._get_channel),
            ("PATCH", rf"/channels/{sf}", self._patch_channel),
            ("GET", rf"/channels/{sf}/messages", self._get_messages),
            ("POST", rf"/channels/{sf}/messages", self._post_message),
            ("GET", rf"/channels/{sf}/messages/{sf}", self._get_message),
            ("PATCH", rf"/channels/{sf}/messages/{sf}", self._patch_message),
            ("DELETE", rf"/channels/{sf}/messages/{sf}", self._delete_message),
            ("POST", rf"/channels/{sf}/typing", self._typing),
            ("PUT", rf"/channels/{sf}/messages/{sf}/reactions/([^/]+)/@me", self._add_reaction),
            ("DELETE", rf"/channels/{sf}/messages/{sf}/reactions/([^/]+)/(@me|\d+)", self._remove_reaction),
            ("POST", rf"/channels/{sf}/messages/{sf}/threads", self._thread_from_message),
            ("POST", rf"/channels/{sf}/threads", self._thread_without_message),
            ("PUT", rf"/channels/{sf}/thread-members/(@me|\d+)", self._no_content),
            ("DELETE", rf"/channels/{sf}/thread-members/(@me|\d+)", self._no_content),
            ("GET", rf"/guilds/{sf}", self._get_guild),
            ("GET", rf"/guilds/{sf}/channels", self._get_guild_channels),
            ("GET", rf"/guilds/{sf}/roles", self._get_guild_roles),
            ("GET", rf"/guilds/{sf}/members", self._get_guild_members),
            ("GET", rf"/guilds/{sf}/members/{sf}", self._get_guild_member),
            ("GET", rf"/guilds/{sf}/threads/active", self._get_active_threads),
        ]
        self._routes = [(m, re.compile(p), h) for m, p, h in table]

    def _violation(self, violation: Violation) -> None:
        self.violations.append(violation)
        _log.info("fake discord violation: %s", violation)

    async def _read_request(self, request: web.Request, path: str) -> RequestRecord:
        body: Any = None
        files: list[UploadedFile] = []
        if request.content_type.startswith("multipart/"):
            reader = await request.multipart()
            async for part in reader:
                if not isinstance(part, BodyPartReader):
                    continue
                name = part.name or ""
                if name == "payload_json":
                    body = json.loads(await part.text())
                elif part.filename is not None:
                    files.append(
                        UploadedFile(
                            field=name,
                            filename=part.filename,
                            content_type=part.headers.get("Content-Type"),
                            data=bytes(await part.read()),
                        )
                    )
        else:
            raw = await request.read()
            if raw and request.content_type == "application/json":
                body = json.loads(raw)
            elif raw:
                body = raw.decode("utf-8", "replace")
        return RequestRecord(
            method=request.method,
            path=path,
            query=dict(request.query),
            json=body,
            files=files,
            headers=dict(request.headers),
            time=time.monotonic(),
        )

    async def _not_found_handler(self, request: web.Request) -> web.Response:
        rec = RequestRecord(
            request.method,
            request.path,
            dict(request.query),
            None,
            [],
            dict(request.headers),
            time.monotonic(),
            status=404,
        )
        self.requests.append(rec)
        self.unknown_routes.append(rec)
        self._violation(Violation(404, 0, "Unknown route", request.method, request.path))
        self._notify()
        return _json_response(404, {"message": "404: Not Found", "code": 0})

    async def _rest_handler(self, request: web.Request) -> web.Response:
        path = "/" + request.match_info["tail"]
        rec = await self._read_request(request, path)
        self.requests.append(rec)
        try:
            response = await self._route(request, rec)
        finally:
            self._notify()
        return response

    async def _route(self, request: web.Request, rec: RequestRecord) -> web.Response:
        for inj in self._injections:
            if inj.remaining > 0 and inj.method == rec.method and inj.pattern.fullmatch(rec.path):
                inj.remaining -= 1
                rec.status, rec.response, rec.injected = inj.status, inj.body, True
                return _json_response(inj.status, inj.body, inj.headers)
        self._injections = [i for i in self._injections if i.remaining > 0]
        handler: Handler | None = None
        args: tuple[str, ...] = ()
        for method, pattern, candidate in self._routes:
            match = pattern.fullmatch(rec.path)
            if match and method == rec.method:
                handler, args = candidate, match.groups()
                break
        try:
            if handler is None:
                self.unknown_routes.append(rec)
                raise ApiError(404, 0, "Unknown")
            public = rec.path.startswith(("/webhooks/", "/interactions/")) or rec.path == "/gateway"
            if not public and request.headers.get("Authorization") != f"Bot {self.token}":
                raise ApiError(401, 0, "401: Unauthorized")
            result = await handler(rec, *args)
        except ApiError as exc:
            rec.status, rec.response = exc.status, exc.body()
            if exc.record:
                violation = Violation(
                    exc.status, exc.code, exc.message, rec.method, rec.path, exc.errors.summary() if exc.errors else []
                )
                self._violation(violation)
                ix = self._interaction_for_path(rec.path)
                if ix is not None:
                    violation.interaction_id = ix.id
                    ix.rejected.append(violation)
            return _json_response(exc.status, exc.body())
        except Exception as exc:  # a bug in the fake: answer 400 (500s make discord.py sleep and retry)
            _log.exception("fake discord handler crashed on %s %s", rec.method, rec.path)
            message = f"fake Discord internal error: {exc!r}"
            body = {"message": message, "code": -1}
            rec.status, rec.response = 400, body
            self._violation(Violation(400, -1, message, rec.method, rec.path))
            return _json_response(400, body)
        if result is None:
            rec.status = 204
            return web.Response(status=204)
        rec.status, rec.response = 200, result
        return _json_response(200, result)

    def _interaction_for_path(self, path: str) -> InteractionRecord | None:
        parts = path.split("/")
        if len(parts) > 3 and parts[1] == "interactions":
            return self._interactions_by_id.get(int(parts[2])) if parts[2].isdigit() else None
        if len(parts) > 3 and parts[1] == "webhooks":
            return self._interactions_by_token.get(parts[3])
        return None

    async def _cdn_handler(self, request: web.Request) -> web.StreamResponse:
        self.cdn_downloads.append(request.match_info["tail"])
        if self._cdn_faults:
            status, delay = self._cdn_faults.pop(0)
            await asyncio.sleep(delay)
            if status is None:
                assert request.transport is not None
                request.transport.abort()  # no status line: the client sees the server disconnect
                return web.Response()
            if status != 200:
                return web.Response(status=status, text=f"{status}: injected failure")
        item = self.cdn.get(request.match_info["tail"])
        if item is None:
            return web.Response(status=404, text="Not Found")
        data, ctype = item
        return web.Response(body=data, headers={"Content-Type": ctype})

    # ------------------------------------------------------------------ lookups

    def _channel(self, channel_id: int | str) -> FakeChannel:
        channel = self.channels.get(int(channel_id))
        if channel is None:
            raise ApiError(404, 10003, "Unknown Channel")
        return channel

    def _guild(self, guild_id: int | str) -> FakeGuild:
        guild = self.guilds.get(int(guild_id))
        if guild is None:
            raise ApiError(404, 10004, "Unknown Guild")
        return guild

    def _message(self, channel_id: int, message_id: int | str) -> dict[str, Any]:
        msg = self.messages.get(int(message_id))
        if msg is None or int(msg["channel_id"]) != channel_id:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    def permissions(self, user_id: int, channel_id: int) -> int:
        """Computed permissions of a user in a channel (DMs: everything a DM allows)."""
        channel = self.channels.get(channel_id)
        if channel is None or channel.guild_id is None:
            return (
                Perm.VIEW_CHANNEL
                | Perm.SEND_MESSAGES
                | Perm.EMBED_LINKS
                | Perm.ATTACH_FILES
                | Perm.READ_MESSAGE_HISTORY
                | Perm.ADD_REACTIONS
                | Perm.USE_APPLICATION_COMMANDS
            )
        return self.guilds[channel.guild_id].channel_permissions(user_id, channel)

    def _check_app(self, app_id: str) -> None:
        if int(app_id) != self.application_id:
            raise ApiError(403, 50001, "Missing Access")

    # ------------------------------------------------------------------ simple REST handlers

    async def _no_content(self, rec: RequestRecord, *args: str) -> None:
        return None

    async def _get_gateway(self, rec: RequestRecord) -> dict[str, Any]:
        return {"url": self.gateway_url}

    async def _get_gateway_bot(self, rec: RequestRecord) -> dict[str, Any]:
        return {
            "url": self.gateway_url,
            "shards": self.shard_count,
            "session_start_limit": {"total": 1000, "remaining": 999, "reset_after": 0, "max_concurrency": 1},
        }

    async def _get_me(self, rec: RequestRecord) -> dict[str, Any]:
        return {
            **self.bot_user.to_dict(),
            "verified": True,
            "mfa_enabled": False,
            "locale": "en-US",
            "email": None,
            "bio": "",
        }

    async def _patch_me(self, rec: RequestRecord) -> dict[str, Any]:
        if isinstance(rec.json, dict) and rec.json.get("username"):
            self.bot_user.username = rec.json["username"]
        return await self._get_me(rec)

    async def _get_user(self, rec: RequestRecord, user_id: str) -> dict[str, Any]:
        user = self.users.get(int(user_id))
        if user is None:
            raise ApiError(404, 10013, "Unknown User")
        return user.to_dict()

    async def _create_dm(self, rec: RequestRecord) -> dict[str, Any]:
        recipient = int((rec.json or {}).get("recipient_id") or 0)
        if recipient not in self.users:
            raise ApiError(400, 50035, "Invalid Form Body")
        return self.dm_channel(recipient).to_dict(self.users)

    async def _get_application(self, rec: RequestRecord) -> dict[str, Any]:
        return {
            "id": str(self.application_id),
            "name": self.bot_user.username,
            "icon": None,
            "description": "",
            "summary": "",
            "type": None,
            "bot_public": True,
            "bot_require_code_grant": False,
            "verify_key": "0" * 64,
            "flags": self._application_flags(),
            "owner": self.users[self.owner_id].to_dict(),
            "team": None,
            "bot": self.bot_user.to_dict(),
            "hook": True,
            "interactions_endpoint_url": None,
            "redirect_uris": [],
            "tags": [],
            "approximate_guild_count": len(self.guilds),
            "integration_types_config": {"0": {}},
        }

    async def _get_app_emojis(self, rec: RequestRecord, app_id: str) -> dict[str, Any]:
        return {"items": []}

    async def _get_channel(self, rec: RequestRecord, channel_id: str) -> dict[str, Any]:
        channel = self._channel(channel_id)
        if channel.guild_id is not None and not self.permissions(self.bot_user.id, channel.id) & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        return channel.to_dict(self.users)

    async def _patch_channel(self, rec: RequestRecord, channel_id: str) -> dict[str, Any]:
        channel = self._channel(channel_id)
        body = rec.json or {}
        if "name" in body:
            errors = FormErrors()
            errors.length(("name",), body["name"], 1, THREAD_NAME_MAX)
            if errors:
                raise form_error(errors)
            channel.name = body["name"]
        for key in ("archived", "locked", "topic", "nsfw", "auto_archive_duration"):
            if key in body:
                setattr(channel, key, body[key])
        data = channel.to_dict(self.users)
        event = "THREAD_UPDATE" if channel.is_thread else "CHANNEL_UPDATE"
        self._dispatch(event, data, guild_id=channel.guild_id, intents=Intent.GUILDS)
        return data

    async def _get_guild(self, rec: RequestRecord, guild_id: str) -> dict[str, Any]:
        guild = self._guild(guild_id)
        payload = self._guild_create_payload(guild, None)
        for key in (
            "members",
            "channels",
            "threads",
            "presences",
            "voice_states",
            "joined_at",
            "large",
            "member_count",
            "stage_instances",
            "guild_scheduled_events",
            "soundboard_sounds",
        ):
            payload.pop(key, None)
        return payload

    async def _get_guild_channels(self, rec: RequestRecord, guild_id: str) -> list[dict[str, Any]]:
        guild = self._guild(guild_id)
        return [c.to_dict() for c in guild.channels.values() if not c.is_thread]

    async def _get_guild_roles(self, rec: RequestRecord, guild_id: str) -> list[dict[str, Any]]:
        return [r.to_dict() for r in self._guild(guild_id).roles.values()]

    async def _get_guild_members(self, rec: RequestRecord, guild_id: str) -> list[dict[str, Any]]:
        guild = self._guild(guild_id)
        members = sorted(guild.members.values(), key=lambda m: m.user_id)
        after = int(rec.query.get("after", 0))
        limit = int(rec.query.get("limit", 1))
        return [m.to_dict(self.users[m.user_id]) for m in members if m.user_id > after][:limit]

    async def _get_guild_member(self, rec: RequestRecord, guild_id: str, user_id: str) -> dict[str, Any]:
        guild = self._guild(guild_id)
        member = guild.members.get(int(user_id))
        if member is None:
            raise ApiError(404, 10007, "Unknown Member")
        return member.to_dict(self.users[member.user_id])

    async def _get_active_threads(self, rec: RequestRecord, guild_id: str) -> dict[str, Any]:
        guild = self._guild(guild_id)
        threads = [c.to_dict() for c in guild.channels.values() if c.is_thread and not c.archived]
        return {"threads": threads, "members": []}

    # ------------------------------------------------------------------ application commands

    def _command_pool(self, guild_id: str | None) -> list[dict[str, Any]]:
        if guild_id is None:
            return self.global_commands
        self._guild(guild_id)
        return self.guild_commands.setdefault(int(guild_id), [])

    def _normalise_command(self, body: dict[str, Any], guild_id: int | None) -> dict[str, Any]:
        ctype = int(body.get("type", 1))
        name = body["name"]
        key = (guild_id, ctype, name)
        cmd_id = self._command_ids.setdefault(key, self.snowflake())
        perms = body.get("default_member_permissions")
        cmd: dict[str, Any] = {
            "id": str(cmd_id),
            "application_id": str(self.application_id),
            "version": str(self.snowflake()),
            "type": ctype,
            "name": name,
            "name_localizations": body.get("name_localizations"),
            "description": body.get("description", ""),
            "description_localizations": body.get("description_localizations"),
            "options": copy.deepcopy(body.get("options") or []),
            "default_member_permissions": None if perms is None else str(perms),
            "dm_permission": body.get("dm_permission", True),
            "nsfw": body.get("nsfw", False),
            "contexts": body.get("contexts"),
            "integration_types": body.get("integration_types") or [0],
        }
        if guild_id is not None:
            cmd["guild_id"] = str(guild_id)
        return cmd

    async def _get_commands(self, rec: RequestRecord, app_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        self._check_app(app_id)
        return copy.deepcopy(self._command_pool(guild_id))

    async def _put_commands(self, rec: RequestRecord, app_id: str, guild_id: str | None = None) -> list[dict[str, Any]]:
        self._check_app(app_id)
        errors = FormErrors()
        validate_commands(rec.json, errors)
        if errors:
            raise form_error(errors)
        pool = self._command_pool(guild_id)
        gid = int(guild_id) if guild_id is not None else None
        new = [self._normalise_command(body, gid) for body in rec.json]
        pool[:] = new
        self.command_syncs.append((gid, copy.deepcopy(new)))
        return copy.deepcopy(new)

    async def _post_command(self, rec: RequestRecord, app_id: str, guild_id: str | None = None) -> dict[str, Any]:
        self._check_app(app_id)
        errors = FormErrors()
        validate_commands([rec.json], errors)
        if errors:
            raise form_error(errors)
        pool = self._command_pool(guild_id)
        cmd = self._normalise_command(rec.json, int(guild_id) if guild_id is not None else None)
        pool[:] = [c for c in pool if c["id"] != cmd["id"]] + [cmd]
        return copy.deepcopy(cmd)

    def _find_command(self, pool: list[dict[str, Any]], command_id: str) -> dict[str, Any]:
        for cmd in pool:
            if cmd["id"] == command_id:
                return cmd
        raise ApiError(404, 10063, "Unknown application command")

    async def _get_command(self, rec: RequestRecord, app_id: str, *ids: str) -> dict[str, Any]:
        self._check_app(app_id)
        guild_id, command_id = (ids[0], ids[1]) if len(ids) == 2 else (None, ids[0])
        return copy.deepcopy(self._find_command(self._command_pool(guild_id), command_id))

    async def _patch_command(self, rec: RequestRecord, app_id: str, *ids: str) -> dict[str, Any]:
        self._check_app(app_id)
        guild_id, command_id = (ids[0], ids[1]) if len(ids) == 2 else (None, ids[0])
        cmd = self._find_command(self._command_pool(guild_id), command_id)
        cmd.update({k: v for k, v in (rec.json or {}).items() if k != "id"})
        if cmd.get("default_member_permissions") is not None:
            cmd["default_member_permissions"] = str(cmd["default_member_permissions"])
        return copy.deepcopy(cmd)

    async def _delete_command(self, rec: RequestRecord, app_id: str, *ids: str) -> None:
        self._check_app(app_id)
        guild_id, command_id = (ids[0], ids[1]) if len(ids) == 2 else (None, ids[0])
        pool = self._command_pool(guild_id)
        cmd = self._find_command(pool, command_id)
        pool.remove(cmd)

    async def _get_command_permissions(self, rec: RequestRecord, app_id: str, guild_id: str) -> list[Any]:
        self._check_app(app_id)
        return []

    # ------------------------------------------------------------------ messages

    def _new_attachments(
        self,
        channel_id: int,
        payload: dict[str, Any],
        files: list[UploadedFile],
        keep: list[dict[str, Any]] | None = None,
    ) -> list[dict[str, Any]]:
        """Attachment objects for a create/edit: kept existing ones plus uploaded ``files[n]``."""
        for f in files:
            if len(f.data) > self.attachment_size_limit:
                raise ApiError(413, 40005, "Request entity too large")
        by_field = {f.field: f for f in files}
        meta = payload.get("attachments")
        out: list[dict[str, Any]] = []
        existing = {a["id"]: a for a in keep or []}
        used: set[str] = set()
        if isinstance(meta, list):
            for item in meta:
                item_id = str(item.get("id"))
                if item_id in existing:
                    out.append(existing[item_id])
                    continue
                upload = by_field.get(f"files[{item_id}]")
                if upload is None:
                    continue
                used.add(upload.field)
                att_id = self.snowflake()
                out.append(
                    self._store_attachment(
                        att_id,
                        item.get("filename") or upload.filename,
                        upload.data,
                        None,
                        path=f"attachments/{channel_id}/{att_id}",
                        description=item.get("description"),
                    )
                )
        elif keep:
            out.extend(keep)
        for upload in files:
            if upload.field not in used:
                att_id = self.snowflake()
                out.append(
                    self._store_attachment(
                        att_id, upload.filename, upload.data, None, path=f"attachments/{channel_id}/{att_id}"
                    )
                )
        return out

    def _mentions(
        self,
        content: str,
        allowed: dict[str, Any] | None,
        channel: FakeChannel,
        author_id: int,
        *,
        default_parse: tuple[str, ...],
        reply_author: int | None = None,
    ) -> tuple[list[int], list[int], bool]:
        """Users/roles/everyone that actually get pinged, applying allowed_mentions like Discord."""
        guild = self.guilds.get(channel.guild_id or 0)
        perms = self.permissions(author_id, channel.id)
        user_ids = list(dict.fromkeys(int(u) for u in _USER_MENTION.findall(content or "")))
        role_ids = list(dict.fromkeys(int(r) for r in _ROLE_MENTION.findall(content or "")))
        everyone = "@everyone" in (content or "") or "@here" in (content or "")
        if allowed is None:
            parse, ok_users, ok_roles, replied = set(default_parse), set(), set(), True
        else:
            parse = set(allowed.get("parse") or [])
            ok_users = {int(u) for u in allowed.get("users") or []}
            ok_roles = {int(r) for r in allowed.get("roles") or []}
            replied = bool(allowed.get("replied_user", False))
        users = [u for u in user_ids if u in self.users and ("users" in parse or u in ok_users)]
        roles = []
        if guild is not None:
            for r in role_ids:
                role = guild.roles.get(r)
                if role is None or not ("roles" in parse or r in ok_roles):
                    continue
                if role.mentionable or perms & Perm.MENTION_EVERYONE:
                    roles.append(r)
        ping_everyone = everyone and "everyone" in parse and bool(perms & Perm.MENTION_EVERYONE)
        if reply_author is not None and replied and reply_author not in users:
            users.append(reply_author)
        return users, roles, ping_everyone

    def _mention_user_payload(self, user_id: int, guild_id: int | None) -> dict[str, Any]:
        data = self.users[user_id].to_dict()
        guild = self.guilds.get(guild_id or 0)
        if guild is not None and user_id in guild.members:
            data["member"] = guild.members[user_id].to_dict()
        return data

    def _build_message(
        self,
        channel: FakeChannel,
        author: FakeUser,
        payload: dict[str, Any],
        attachments: list[dict[str, Any]],
        *,
        msg_type: int = 0,
        flags: int = 0,
        webhook_id: int | None = None,
        interaction: InteractionRecord | None = None,
        default_parse: tuple[str, ...] = ("users", "roles", "everyone"),
        message_id: int | None = None,
    ) -> dict[str, Any]:
        content = payload.get("content") or ""
        reference = payload.get("message_reference")
        referenced: dict[str, Any] | None = None
        if isinstance(reference, dict) and reference.get("message_id"):
            referenced = self.messages.get(int(reference["message_id"]))
            if referenced is None and reference.get("fail_if_not_exists", True):
                errors = FormErrors()
                errors.add(("message_reference",), "REPLIES_UNKNOWN_MESSAGE", "Unknown message")
                raise form_error(errors)
            if referenced is not None:
                msg_type = 19
        reply_author = int(referenced["author"]["id"]) if referenced else None
        users, roles, everyone = self._mentions(
            content,
            payload.get("allowed_mentions"),
            channel,
            author.id,
            default_parse=default_parse,
            reply_author=reply_author,
        )
        mid = message_id or self.snowflake()
        message: dict[str, Any] = {
            "id": str(mid),
            "channel_id": str(channel.id),
            "author": author.to_dict(),
            "content": content,
            "timestamp": iso_now(),
            "edited_timestamp": None,
            "tts": bool(payload.get("tts", False)),
            "mention_everyone": everyone,
            "mentions": [self._mention_user_payload(u, channel.guild_id) for u in users],
            "mention_roles": [str(r) for r in roles],
            "attachments": attachments,
            "embeds": copy.deepcopy(payload.get("embeds") or []),
            "components": copy.deepcopy(payload.get("components") or []),
            "reactions": [],
            "pinned": False,
            "type": msg_type,
            "flags": flags,
        }
        if payload.get("nonce") is not None:
            message["nonce"] = payload["nonce"]
        if webhook_id is not None:
            message["webhook_id"] = str(webhook_id)
            message["application_id"] = str(self.application_id)
        if interaction is not None:
            message["interaction_metadata"] = {
                "id": str(interaction.id),
                "type": interaction.type,
                "user": self.users[interaction.user_id].to_dict(),
                "authorizing_integration_owners": {"0": str(interaction.guild_id)}
                if interaction.guild_id
                else {"1": str(interaction.user_id)},
            }
        if referenced is not None:
            message["message_reference"] = {
                "type": 0,
                "message_id": referenced["id"],
                "channel_id": referenced["channel_id"],
                **({"guild_id": str(channel.guild_id)} if channel.guild_id else {}),
            }
            message["referenced_message"] = copy.deepcopy(referenced)
        self.message_pings[mid] = {"users": users, "roles": roles, "everyone": everyone}
        return message

    def _store_message(self, channel: FakeChannel, message: dict[str, Any], *, dispatch: bool = True) -> None:
        mid = int(message["id"])
        self.messages[mid] = message
        ids = self.channel_message_ids.setdefault(channel.id, [])
        if mid not in ids:
            ids.append(mid)
        channel.last_message_id = mid
        if channel.is_thread:
            channel.message_count += 1
        ephemeral = int(message.get("flags") or 0) & MessageFlag.EPHEMERAL
        if dispatch and not ephemeral:
            self._dispatch_message("MESSAGE_CREATE", channel, message)

    def _dispatch_message(self, event: str, channel: FakeChannel, message: dict[str, Any]) -> int:
        author_id = int(message["author"]["id"])
        if author_id == self.bot_user.id and not self.echo_bot_messages:
            return 0
        data = copy.deepcopy(message)
        if channel.guild_id is not None:
            data["guild_id"] = str(channel.guild_id)
            member = self.guilds[channel.guild_id].members.get(author_id)
            if member is not None and not message.get("webhook_id"):
                data["member"] = member.to_dict()
        mentioned = any(int(u["id"]) == self.bot_user.id for u in message.get("mentions", []))
        privileged_ok = author_id == self.bot_user.id or mentioned or channel.type == ChannelType.DM

        def redact(session: GatewaySession, payload: dict[str, Any]) -> dict[str, Any]:
            # Without the MESSAGE_CONTENT intent Discord blanks content-ish fields, except for
            # DMs, messages mentioning the bot and the bot's own messages.
            if privileged_ok or session.intents & Intent.MESSAGE_CONTENT:
                return payload
            out = dict(payload)
            out.update(content="", embeds=[], attachments=[], components=[])
            return out

        intents = Intent.DIRECT_MESSAGES if channel.type == ChannelType.DM else Intent.GUILD_MESSAGES
        return self._dispatch(event, data, guild_id=channel.guild_id, intents=intents, transform=redact)

    def _check_send_permissions(self, channel: FakeChannel, payload: dict[str, Any], file_count: int) -> None:
        """Permission checks Discord does for POST /channels/{id}/messages by the bot."""
        if channel.type == ChannelType.DM:
            recipient = self.users.get(channel.recipient_id or 0)
            if recipient is None or not recipient.dms_open or recipient.bot:
                raise ApiError(403, 50007, "Cannot send messages to this user")
            return
        if channel.type in (ChannelType.CATEGORY, ChannelType.FORUM):
            raise ApiError(400, 50008, "Cannot send messages in a non-text channel")
        perms = self.permissions(self.bot_user.id, channel.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        needed = Perm.SEND_MESSAGES_IN_THREADS if channel.is_thread else Perm.SEND_MESSAGES
        if not has(perms, needed):
            raise ApiError(403, 50013, "Missing Permissions")
        if channel.is_thread and channel.locked and not perms & Perm.MANAGE_THREADS:
            raise ApiError(403, 50083, "Thread is locked")
        if file_count and not perms & Perm.ATTACH_FILES:
            raise ApiError(403, 50013, "Missing Permissions")
        if payload.get("message_reference") and not perms & Perm.READ_MESSAGE_HISTORY:
            raise ApiError(400, 160002, "Cannot reply without permission to read message history")
        if payload.get("tts") and not perms & Perm.SEND_TTS_MESSAGES:
            payload["tts"] = False

    def _drop_embeds_without_permission(self, channel: FakeChannel, payload: dict[str, Any], path: str) -> None:
        """Discord silently drops a bot's embeds where it lacks EMBED_LINKS; recorded as a violation."""
        if channel.guild_id is None or not payload.get("embeds"):
            return
        if not self.permissions(self.bot_user.id, channel.id) & Perm.EMBED_LINKS:
            payload["embeds"] = []
            self._violation(Violation(200, 50013, "Embeds silently dropped: bot lacks EMBED_LINKS", "POST", path))

    def _validate_message_payload(
        self, payload: Any, files: list[UploadedFile], *, path: tuple[str, ...] = (), creating: bool = True
    ) -> dict[str, Any]:
        if not isinstance(payload, dict):
            payload = {}
        errors = FormErrors()
        validate_message(payload, errors, path, file_count=len(files))
        if errors:
            raise form_error(errors)
        if creating and is_empty_message(payload, len(files)):
            raise ApiError(400, 50006, "Cannot send an empty message")
        return payload

    async def _post_message(self, rec: RequestRecord, channel_id: str) -> dict[str, Any]:
        channel = self._channel(channel_id)
        payload = self._validate_message_payload(rec.json, rec.files)
        self._check_send_permissions(channel, payload, len(rec.files))
        self._drop_embeds_without_permission(channel, payload, rec.path)
        if channel.is_thread and channel.archived:
            channel.archived = False
        attachments = self._new_attachments(channel.id, payload, rec.files)
        flags = int(payload.get("flags") or 0) & (
            MessageFlag.SUPPRESS_EMBEDS | MessageFlag.SUPPRESS_NOTIFICATIONS | MessageFlag.IS_COMPONENTS_V2
        )
        message = self._build_message(channel, self.bot_user, payload, attachments, flags=flags)
        self._store_message(channel, message)
        return copy.deepcopy(message)

    async def _get_messages(self, rec: RequestRecord, channel_id: str) -> list[dict[str, Any]]:
        channel = self._channel(channel_id)
        perms = self.permissions(self.bot_user.id, channel.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if not perms & Perm.READ_MESSAGE_HISTORY:
            return []
        msgs = [m for m in self.channel_messages(channel.id) if not int(m.get("flags") or 0) & MessageFlag.EPHEMERAL]
        limit = int(rec.query.get("limit", 50))
        if "after" in rec.query:
            after = int(rec.query["after"])
            return [copy.deepcopy(m) for m in msgs if int(m["id"]) > after][:limit][::-1]
        before = int(rec.query.get("before", 1 << 63))
        picked = [m for m in msgs if int(m["id"]) < before][-limit:]
        return [copy.deepcopy(m) for m in reversed(picked)]

    async def _get_message(self, rec: RequestRecord, channel_id: str, message_id: str) -> dict[str, Any]:
        channel = self._channel(channel_id)
        perms = self.permissions(self.bot_user.id, channel.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        if not perms & Perm.READ_MESSAGE_HISTORY:
            raise ApiError(403, 50013, "Missing Permissions")
        msg = self._message(channel.id, message_id)
        if int(msg.get("flags") or 0) & MessageFlag.EPHEMERAL:
            raise ApiError(404, 10008, "Unknown Message")
        return copy.deepcopy(msg)

    def _apply_edit(
        self, message: dict[str, Any], body: Any, files: list[UploadedFile], *, via: str, path: tuple[str, ...] = ()
    ) -> dict[str, Any]:
        body = body if isinstance(body, dict) else {}
        errors = FormErrors()
        validate_message(body, errors, path, file_count=len(files))
        if errors:
            raise form_error(errors)
        before = copy.deepcopy(message)
        merged = dict(message)
        for key in ("content", "embeds", "components", "allowed_mentions"):
            if key in body:
                merged[key] = body[key] if body[key] is not None else ([] if key != "content" else "")
        if "flags" in body and body["flags"] is not None:
            keep = int(message.get("flags") or 0) & (MessageFlag.EPHEMERAL | MessageFlag.IS_COMPONENTS_V2)
            merged["flags"] = keep | (int(body["flags"]) & (MessageFlag.SUPPRESS_EMBEDS | MessageFlag.IS_COMPONENTS_V2))
        channel = self.channels[int(message["channel_id"])]
        if "attachments" in body or files:
            merged["attachments"] = self._new_attachments(channel.id, body, files, keep=message.get("attachments"))
        check = {k: merged.get(k) for k in ("content", "embeds", "components", "attachments")}
        if is_empty_message(check, 0):
            raise ApiError(400, 50006, "Cannot send an empty message")
        if "content" in body or "allowed_mentions" in body:
            default_parse = ("users",) if message.get("webhook_id") else ("users", "roles", "everyone")
            users, roles, everyone = self._mentions(
                merged.get("content") or "",
                body.get("allowed_mentions"),
                channel,
                int(message["author"]["id"]),
                default_parse=default_parse,
            )
            merged["mentions"] = [self._mention_user_payload(u, channel.guild_id) for u in users]
            merged["mention_roles"] = [str(r) for r in roles]
            merged["mention_everyone"] = everyone
        merged.pop("allowed_mentions", None)
        merged["flags"] = int(merged.get("flags") or 0) & ~MessageFlag.LOADING
        merged["edited_timestamp"] = iso_now()
        message.clear()
        message.update(merged)
        self.edits.append(
            MessageEdit(int(message["id"]), copy.deepcopy(body), before, copy.deepcopy(message), via, time.monotonic())
        )
        if not int(message.get("flags") or 0) & MessageFlag.EPHEMERAL:
            self._dispatch_message("MESSAGE_UPDATE", channel, message)
        return message

    async def _patch_message(self, rec: RequestRecord, channel_id: str, message_id: str) -> dict[str, Any]:
        channel = self._channel(channel_id)
        msg = self._message(channel.id, message_id)
        if int(msg["author"]["id"]) != self.bot_user.id or msg.get("webhook_id"):
            body = rec.json or {}
            if set(body) - {"flags"}:
                raise ApiError(403, 50005, "Cannot edit a message authored by another user")
        if channel.guild_id is not None and rec.json and rec.json.get("embeds"):
            self._drop_embeds_without_permission(channel, rec.json, rec.path)
        return copy.deepcopy(self._apply_edit(msg, rec.json, rec.files, via="channel"))

    async def _delete_message(self, rec: RequestRecord, channel_id: str, message_id: str) -> None:
        channel = self._channel(channel_id)
        msg = self._message(channel.id, message_id)
        if int(msg["author"]["id"]) != self.bot_user.id and not (
            self.permissions(self.bot_user.id, channel.id) & Perm.MANAGE_MESSAGES
        ):
            raise ApiError(403, 50013, "Missing Permissions")
        self._remove_message(channel, msg)

    def _remove_message(self, channel: FakeChannel, msg: dict[str, Any]) -> None:
        mid = int(msg["id"])
        self.messages.pop(mid, None)
        self.deleted_messages.append(msg)
        payload = {"id": msg["id"], "channel_id": msg["channel_id"]}
        if channel.guild_id is not None:
            payload["guild_id"] = str(channel.guild_id)
        if not int(msg.get("flags") or 0) & MessageFlag.EPHEMERAL:
            intents = Intent.DIRECT_MESSAGES if channel.type == ChannelType.DM else Intent.GUILD_MESSAGES
            self._dispatch("MESSAGE_DELETE", payload, guild_id=channel.guild_id, intents=intents)

    async def _typing(self, rec: RequestRecord, channel_id: str) -> None:
        self._channel(channel_id)
        return None

    async def _add_reaction(self, rec: RequestRecord, channel_id: str, message_id: str, emoji: str) -> None:
        channel = self._channel(channel_id)
        self._message(channel.id, message_id)
        perms = self.permissions(self.bot_user.id, channel.id)
        if not perms & Perm.READ_MESSAGE_HISTORY:
            raise ApiError(403, 50013, "Missing Permissions")
        self.reactions.append(
            {"channel_id": channel.id, "message_id": int(message_id), "emoji": emoji, "user_id": self.bot_user.id}
        )
        return None

    async def _remove_reaction(
        self, rec: RequestRecord, channel_id: str, message_id: str, emoji: str, user: str
    ) -> None:
        uid = self.bot_user.id if user == "@me" else int(user)
        self.reactions = [
            r
            for r in self.reactions
            if not (r["message_id"] == int(message_id) and r["emoji"] == emoji and r["user_id"] == uid)
        ]
        return None

    # ------------------------------------------------------------------ threads

    def _new_thread(
        self, parent: FakeChannel, body: dict[str, Any], ttype: int, thread_id: int | None = None
    ) -> FakeChannel:
        errors = FormErrors()
        errors.length(("name",), body.get("name"), 1, THREAD_NAME_MAX)
        duration = body.get("auto_archive_duration", 1440)
        if duration not in (60, 1440, 4320, 10080):
            errors.add(("auto_archive_duration",), "BASE_TYPE_CHOICES", "Value must be one of (60, 1440, 4320, 10080).")
        if errors:
            raise form_error(errors)
        perms = self.permissions(self.bot_user.id, parent.id)
        if not perms & Perm.VIEW_CHANNEL:
            raise ApiError(403, 50001, "Missing Access")
        needed = Perm.CREATE_PRIVATE_THREADS if ttype == ChannelType.PRIVATE_THREAD else Perm.CREATE_PUBLIC_THREADS
        if not perms & needed:
            raise ApiError(403, 50013, "Missing Permissions")
        thread = FakeChannel(
            id=thread_id or self.snowflake(),
            type=ttype,
            name=body["name"],
            guild_id=parent.guild_id,
            parent_id=parent.id,
            owner_id=self.bot_user.id,
            auto_archive_duration=duration,
            invitable=bool(body.get("invitable", True)),
        )
        self.channels[thread.id] = thread
        assert parent.guild_id is not None
        self.guilds[parent.guild_id].channels[thread.id] = thread
        return thread

    def _thread_payload(self, thread: FakeChannel) -> dict[str, Any]:
        data = thread.to_dict()
        data["member"] = {
            "id": str(thread.id),
            "user_id": str(self.bot_user.id),
            "join_timestamp": iso_now(),
            "flags": 1,
        }
        return data

    def _announce_thread(self, thread: FakeChannel, data: dict[str, Any]) -> None:
        self.threads.append(copy.deepcopy(data))
        self._dispatch(
            "THREAD_CREATE", {**data, "newly_created": True}, guild_id=thread.guild_id, intents=Intent.GUILDS
        )

    async def _thread_from_message(self, rec: RequestRecord, channel_id: str, message_id: str) -> dict[str, Any]:
        parent = self._channel(channel_id)
        if parent.type not in (ChannelType.TEXT, ChannelType.NEWS):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        msg = self._message(parent.id, message_id)
        if msg.get("thread"):
            raise ApiError(400, 160004, "A thread has already been created for this message")
        ttype = ChannelType.NEWS_THREAD if parent.type == ChannelType.NEWS else ChannelType.PUBLIC_THREAD
        # A thread started from a message shares the message's id.
        thread = self._new_thread(parent, rec.json or {}, ttype, thread_id=int(message_id))
        data = self._thread_payload(thread)
        msg["thread"] = thread.to_dict()
        self._announce_thread(thread, data)
        return data

    async def _thread_without_message(self, rec: RequestRecord, channel_id: str) -> dict[str, Any]:
        parent = self._channel(channel_id)
        body = rec.json if isinstance(rec.json, dict) else {}
        if parent.type == ChannelType.FORUM:
            starter = body.get("message")
            if not isinstance(starter, dict):
                errors = FormErrors()
                errors.add(("message",), "BASE_TYPE_REQUIRED", "This field is required")
                raise form_error(errors)
            self._validate_message_payload(starter, rec.files, path=("message",))
            thread = self._new_thread(parent, body, ChannelType.PUBLIC_THREAD)
            attachments = self._new_attachments(thread.id, starter, rec.files)
            message = self._build_message(thread, self.bot_user, starter, attachments, message_id=thread.id)
            data = self._thread_payload(thread)
            self._announce_thread(thread, data)
            self._store_message(thread, message)
            return {**data, "message": copy.deepcopy(message)}
        if parent.type not in (ChannelType.TEXT, ChannelType.NEWS):
            raise ApiError(400, 50024, "Cannot execute action on this channel type")
        ttype = int(body.get("type", ChannelType.PRIVATE_THREAD))
        if ttype not in ChannelType.THREADS:
            errors = FormErrors()
            errors.add(("type",), "BASE_TYPE_CHOICES", "Value must be one of (10, 11, 12).")
            raise form_error(errors)
        thread = self._new_thread(parent, body, ttype)
        data = self._thread_payload(thread)
        self._announce_thread(thread, data)
        return data

    # ------------------------------------------------------------------ interactions: responses

    async def _interaction_callback(self, rec: RequestRecord, interaction_id: str, token: str) -> dict[str, Any] | None:
        ix = self._interactions_by_id.get(int(interaction_id))
        if ix is None or ix.token != token:
            raise ApiError(404, 10062, "Unknown interaction")
        if ix.acknowledged:
            raise ApiError(400, 40060, "Interaction has already been acknowledged.")
        if time.monotonic() - ix.created_at > self.interaction_deadline:
            ix.expired = True
            raise ApiError(404, 10062, "Unknown interaction")
        body = rec.json if isinstance(rec.json, dict) else {}
        ctype = body.get("type")
        data = body.get("data")
        allowed = {2: {4, 5, 9}, 3: {4, 5, 6, 7, 9}, 4: {8}, 5: {4, 5, 6, 7}}.get(ix.type, set())
        if ix.type == 5 and ix.source_message_id is None:
            allowed = {4, 5}
        if ctype not in allowed:
            errors = FormErrors()
            errors.add(
                ("type",),
                "INTERACTION_RESPONSE_TYPE_INVALID",
                f"Response type {ctype} is not valid for interaction type {ix.type}",
            )
            raise ApiError(400, 50035, "Invalid Form Body", errors=errors)
        channel = self.channels[ix.channel_id]
        resource: dict[str, Any] = {"type": ctype}
        response_message: dict[str, Any] | None = None
        if ctype == 4:
            payload = self._validate_message_payload(data, rec.files, path=("data",))
            flags = int(payload.get("flags") or 0) & (
                MessageFlag.EPHEMERAL
                | MessageFlag.SUPPRESS_EMBEDS
                | MessageFlag.SUPPRESS_NOTIFICATIONS
                | MessageFlag.IS_COMPONENTS_V2
            )
            attachments = self._new_attachments(channel.id, payload, rec.files)
            response_message = self._build_message(
                channel,
                self.bot_user,
                payload,
                attachments,
                msg_type=self._response_message_type(ix),
                flags=flags,
                webhook_id=self.application_id,
                interaction=ix,
                default_parse=("users",),
            )
        elif ctype == 5:
            flags = MessageFlag.LOADING | (int((data or {}).get("flags") or 0) & MessageFlag.EPHEMERAL)
            response_message = self._build_message(
                channel,
                self.bot_user,
                {"content": ""},
                [],
                msg_type=self._response_message_type(ix),
                flags=flags,
                webhook_id=self.application_id,
                interaction=ix,
                default_parse=("users",),
            )
        elif ctype == 7:
            source = self.messages.get(ix.source_message_id or 0)
            if source is None:
                raise ApiError(404, 10008, "Unknown Message")
            self._apply_edit(source, data, rec.files, via="interaction", path=("data",))
            response_message = source
        elif ctype == 8:
            errors = FormErrors()
            validate_choices(data, errors)
            if errors:
                raise form_error(errors)
        elif ctype == 9:
            errors = FormErrors()
            validate_modal(data, errors)
            if errors:
                raise form_error(errors)
        # Accepted.
        ix.callback_type = ctype
        ix.callback = copy.deepcopy(body)
        ix.acknowledged_at = time.monotonic()
        if ctype in (4, 5) and response_message is not None:
            self._store_message(channel, response_message)
            ix.original_message_id = int(response_message["id"])
        elif ctype in (6, 7):
            ix.original_message_id = ix.source_message_id
        if response_message is not None:
            resource["message"] = copy.deepcopy(response_message)
        if rec.query.get("with_response") not in ("1", "true", "True"):
            return None
        flags = int((response_message or {}).get("flags") or 0)
        return {
            "interaction": {
                "id": str(ix.id),
                "type": ix.type,
                "activity_instance_id": None,
                "response_message_id": response_message["id"] if response_message else None,
                "response_message_loading": bool(flags & MessageFlag.LOADING),
                "response_message_ephemeral": bool(flags & MessageFlag.EPHEMERAL),
            },
            "resource": resource,
        }

    @staticmethod
    def _response_message_type(ix: InteractionRecord) -> int:
        if ix.type == 2:
            return 20 if int(ix.payload["data"].get("type", 1)) == 1 else 23
        return 0

    def _webhook_interaction(self, app_id: str, token: str) -> InteractionRecord:
        if int(app_id) != self.application_id:
            raise ApiError(404, 10015, "Unknown Webhook")
        ix = self._interactions_by_token.get(token)
        if ix is None or not ix.acknowledged or (ix.callback_type in (8, 9) and ix.source_message_id is None):
            raise ApiError(404, 10015, "Unknown Webhook")
        return ix

    def _webhook_message(self, ix: InteractionRecord, message_ref: str) -> dict[str, Any]:
        if message_ref == "@original":
            mid = ix.original_message_id
        else:
            mid = int(message_ref)
            if mid not in ix.followup_ids and mid != ix.original_message_id:
                raise ApiError(404, 10008, "Unknown Message")
        msg = self.messages.get(mid or 0)
        if msg is None:
            raise ApiError(404, 10008, "Unknown Message")
        return msg

    async def _webhook_execute(self, rec: RequestRecord, app_id: str, token: str) -> dict[str, Any] | None:
        ix = self._webhook_interaction(app_id, token)
        payload = self._validate_message_payload(rec.json, rec.files)
        channel = self.channels[ix.channel_id]
        original = ix.original
        if original is not None and int(original.get("flags") or 0) & MessageFlag.LOADING:
            # The first follow-up after a "thinking" defer replaces the placeholder; its ephemerality
            # comes from the defer, and the flags in this request are ignored.
            body = {k: v for k, v in payload.items() if k != "flags"}
            message = self._apply_edit(original, body, rec.files, via="followup")
        else:
            attachments = self._new_attachments(channel.id, payload, rec.files)
            flags = int(payload.get("flags") or 0) & (
                MessageFlag.EPHEMERAL
                | MessageFlag.SUPPRESS_EMBEDS
                | MessageFlag.SUPPRESS_NOTIFICATIONS
                | MessageFlag.IS_COMPONENTS_V2
            )
            message = self._build_message(
                channel,
                self.bot_user,
                payload,
                attachments,
                flags=flags,
                webhook_id=self.application_id,
                interaction=ix,
                default_parse=("users",),
            )
            self._store_message(channel, message)
        ix.followup_ids.append(int(message["id"]))
        if rec.query.get("wait") in ("1", "true", "True"):
            return copy.deepcopy(message)
        return None

    async def _webhook_get_message(self, rec: RequestRecord, app_id: str, token: str, ref: str) -> dict[str, Any]:
        ix = self._webhook_interaction(app_id, token)
        return copy.deepcopy(self._webhook_message(ix, ref))

    async def _webhook_edit_message(self, rec: RequestRecord, app_id: str, token: str, ref: str) -> dict[str, Any]:
        ix = self._webhook_interaction(app_id, token)
        msg = self._webhook_message(ix, ref)
        body = rec.json if isinstance(rec.json, dict) else {}
        message = self._apply_edit(msg, body, rec.files, via="webhook")
        ix.edits.append({"message_id": int(message["id"]), "ref": ref, "body": copy.deepcopy(body)})
        return copy.deepcopy(message)

    async def _webhook_delete_message(self, rec: RequestRecord, app_id: str, token: str, ref: str) -> None:
        ix = self._webhook_interaction(app_id, token)
        msg = self._webhook_message(ix, ref)
        ix.deleted_ids.append(int(msg["id"]))
        self._remove_message(self.channels[int(msg["channel_id"])], msg)

    # ------------------------------------------------------------------ interactions: sending

    def _require_sessions(self) -> None:
        if not any(s.alive for s in self.sessions.values()):
            raise RuntimeError("no gateway session has identified; start the bot first (fake.wait_ready)")

    def _interaction_base(
        self,
        itype: int,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        data: dict[str, Any],
        *,
        message: dict[str, Any] | None = None,
        locale: str = "en-US",
    ) -> InteractionRecord:
        channel = self._channel_for_interaction(guild_id, channel_id)
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}; add it with add_member/add_user")
        ix_id = self.snowflake()
        token = "aW50ZXJhY3Rpb246" + secrets.token_urlsafe(48)
        payload: dict[str, Any] = {
            "id": str(ix_id),
            "application_id": str(self.application_id),
            "type": itype,
            "data": data,
            "token": token,
            "version": 1,
            "locale": locale,
            "app_permissions": str(self.permissions(self.bot_user.id, channel.id)),
            "entitlements": [],
            "entitlement_sku_ids": [],
            "attachment_size_limit": self.attachment_size_limit,
            "channel_id": str(channel.id),
        }
        if guild_id is not None:
            guild = self.guilds[guild_id]
            member = guild.members.get(user_id)
            if member is None:
                raise KeyError(f"user {user_id} is not a member of guild {guild_id}")
            perms = guild.channel_permissions(user_id, channel)
            payload.update(
                guild_id=str(guild_id),
                guild={"id": str(guild_id), "locale": guild.preferred_locale, "features": []},
                guild_locale=guild.preferred_locale,
                member=member.to_dict(self.users[user_id], permissions=perms),
                channel={**channel.to_dict(), "permissions": str(perms)},
                context=0,
                authorizing_integration_owners={"0": str(guild_id)},
            )
        else:
            payload.update(
                user=self.users[user_id].to_dict(),
                channel=channel.to_dict(self.users),
                context=1,
                authorizing_integration_owners={"0": str(self.owner_id)},
            )
        if message is not None:
            payload["message"] = copy.deepcopy(message)
        return InteractionRecord(
            id=ix_id,
            token=token,
            type=itype,
            payload=payload,
            guild_id=guild_id,
            channel_id=channel.id,
            user_id=user_id,
            created_at=time.monotonic(),
            fake=self,
            source_message_id=int(message["id"]) if message is not None else None,
        )

    def _channel_for_interaction(self, guild_id: int | None, channel_id: int) -> FakeChannel:
        channel = self.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        if guild_id is not None and channel.guild_id != guild_id:
            raise KeyError(f"channel {channel_id} is not in guild {guild_id}")
        return channel

    async def _send_interaction(self, ix: InteractionRecord) -> InteractionRecord:
        self._require_sessions()
        self.interactions.append(ix)
        self._interactions_by_id[ix.id] = ix
        self._interactions_by_token[ix.token] = ix
        ix.created_at = time.monotonic()
        sent = self._dispatch("INTERACTION_CREATE", ix.payload, guild_id=ix.guild_id)
        if not sent:
            raise RuntimeError("no live gateway session handles this interaction's shard")
        await self.flush()
        self._notify()
        return ix

    def _resolve_command(
        self, name: str, guild_id: int | None, ctype: int, unregistered_ok: bool
    ) -> dict[str, Any] | None:
        cmd = self.command(name, guild_id, ctype)
        if cmd is None:
            anything = self.global_commands or (guild_id is not None and self.guild_commands.get(guild_id))
            if anything and not unregistered_ok:
                raise CommandNotAvailable(f"command {name!r} (type {ctype}) is not registered for guild {guild_id}")
        return cmd

    def _check_command_visible(
        self, cmd: dict[str, Any] | None, guild_id: int | None, channel_id: int, user_id: int
    ) -> None:
        """Discord only offers a command to users who may use it; refuse what the client couldn't send."""
        if cmd is None:
            return
        if guild_id is None:
            contexts = cmd.get("contexts")
            if (
                cmd.get("guild_id")
                or (contexts is not None and 1 not in contexts)
                or (contexts is None and cmd.get("dm_permission") is False)
            ):
                raise CommandNotAvailable(f"command {cmd['name']!r} is not available in DMs")
            return
        contexts = cmd.get("contexts")
        if contexts is not None and 0 not in contexts:
            raise CommandNotAvailable(f"command {cmd['name']!r} is not available in guilds")
        perms = self.guilds[guild_id].channel_permissions(user_id, self.channels[channel_id])
        if perms != Perm.ALL and not perms & Perm.USE_APPLICATION_COMMANDS:
            raise CommandNotAvailable("user lacks USE_APPLICATION_COMMANDS in this channel")
        required = cmd.get("default_member_permissions")
        if required is not None and perms != Perm.ALL:
            need = int(required)
            if need == 0 or not has(perms, need):
                raise CommandNotAvailable(
                    f"command {cmd['name']!r} needs default_member_permissions={need}; user has {perms}"
                )

    def _stable_command_id(self, name: str, ctype: int) -> str:
        digest = int(hashlib.sha1(f"{ctype}:{name}".encode()).hexdigest()[:12], 16)
        return str((digest << 20) | 1)

    def _resolve_value(
        self, otype: int, value: Any, guild_id: int | None, channel_id: int, resolved: dict[str, dict[str, Any]]
    ) -> Any:
        """Convert a test-friendly value into the wire value, filling ``resolved``."""
        if otype == 3:
            return str(value)
        if otype == 4:
            return int(value)
        if otype == 5:
            return bool(value)
        if otype == 10:
            return float(value) if not isinstance(value, int) else value
        if otype == 11:
            att = value if isinstance(value, dict) else None
            if att is None:
                raise ValueError("attachment options take the dict returned by fake.add_attachment()")
            resolved.setdefault("attachments", {})[att["id"]] = copy.deepcopy(att)
            return att["id"]
        ident = int(value["id"]) if isinstance(value, dict) else int(getattr(value, "id", value))
        guild = self.guilds.get(guild_id or 0)
        if otype in (6, 9) and ident in self.users:
            resolved.setdefault("users", {})[str(ident)] = self.users[ident].to_dict()
            if guild is not None and ident in guild.members:
                perms = guild.channel_permissions(ident, self.channels[channel_id])
                resolved.setdefault("members", {})[str(ident)] = guild.members[ident].to_dict(permissions=perms)
            return str(ident)
        if otype in (8, 9) and guild is not None and ident in guild.roles:
            resolved.setdefault("roles", {})[str(ident)] = guild.roles[ident].to_dict()
            return str(ident)
        if otype == 7 and ident in self.channels:
            ch = self.channels[ident]
            data = ch.to_dict(self.users)
            data["permissions"] = str(self.permissions(self.bot_user.id, ch.id))
            resolved.setdefault("channels", {})[str(ident)] = data
            return str(ident)
        raise ValueError(f"cannot resolve {value!r} for option type {otype}")

    def _build_options(
        self,
        schema: list[dict[str, Any]] | None,
        options: Any,
        guild_id: int | None,
        channel_id: int,
        resolved: dict[str, dict[str, Any]],
        *,
        validate: bool,
        focused: str | None = None,
    ) -> list[dict[str, Any]]:
        if options is None:
            items: list[dict[str, Any]] = []
        elif isinstance(options, dict):
            items = [{"name": k, "value": v} for k, v in options.items()]
        else:
            items = [dict(o) for o in options]
        by_name = {o["name"]: o for o in schema or []}
        out: list[dict[str, Any]] = []
        for item in items:
            spec = by_name.get(item["name"])
            if spec is None and schema is not None and validate:
                raise CommandNotAvailable(f"unknown option {item['name']!r}")
            otype = item.get("type") or (spec or {}).get("type")
            if otype is None:
                value = item["value"]
                otype = (
                    11
                    if isinstance(value, dict) and "filename" in value
                    else _APPLICATION_OPTION_TYPES.get(type(value), 3)
                )
            option: dict[str, Any] = {"name": item["name"], "type": otype}
            if focused is not None and item["name"] == focused:
                option["value"] = str(item["value"])
                option["focused"] = True
            else:
                option["value"] = self._resolve_value(otype, item["value"], guild_id, channel_id, resolved)
                if spec is not None and validate:
                    self._check_option_value(spec, option["value"])
            out.append(option)
        if schema is not None and validate and focused is None:
            given = {o["name"] for o in out}
            missing = [o["name"] for o in schema if o.get("required") and o["name"] not in given]
            if missing:
                raise CommandNotAvailable(f"missing required option(s) {missing}")
        return out

    @staticmethod
    def _check_option_value(spec: dict[str, Any], value: Any) -> None:
        choices = spec.get("choices")
        if choices and value not in [c["value"] for c in choices]:
            raise CommandNotAvailable(f"{value!r} is not one of the choices of {spec['name']!r}")
        if isinstance(value, int | float) and not isinstance(value, bool):
            if spec.get("min_value") is not None and value < spec["min_value"]:
                raise CommandNotAvailable(f"{spec['name']!r} must be >= {spec['min_value']}")
            if spec.get("max_value") is not None and value > spec["max_value"]:
                raise CommandNotAvailable(f"{spec['name']!r} must be <= {spec['max_value']}")
        if spec.get("type") == 3 and isinstance(value, str):
            if spec.get("min_length") is not None and len(value) < spec["min_length"]:
                raise CommandNotAvailable(f"{spec['name']!r} must be at least {spec['min_length']} characters")
            if spec.get("max_length") is not None and len(value) > spec["max_length"]:
                raise CommandNotAvailable(f"{spec['name']!r} must be at most {spec['max_length']} characters")

    def _command_data(
        self,
        name: str,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        options: Any,
        group: str | None,
        subcommand: str | None,
        *,
        validate: bool,
        unregistered_ok: bool,
        focused: str | None = None,
    ) -> dict[str, Any]:
        cmd = self._resolve_command(name, guild_id, 1, unregistered_ok)
        if validate:
            self._check_command_visible(cmd, guild_id, channel_id, user_id)
        schema: list[dict[str, Any]] | None = cmd["options"] if cmd is not None else None
        wrappers: list[tuple[int, str]] = []
        for kind, sub in ((2, group), (1, subcommand)):
            if sub is None:
                continue
            wrappers.append((kind, sub))
            if schema is not None:
                spec = next((o for o in schema if o["name"] == sub and o["type"] == kind), None)
                if spec is None:
                    raise CommandNotAvailable(f"{name!r} has no {'group' if kind == 2 else 'subcommand'} {sub!r}")
                schema = spec.get("options") or []
        if schema is not None and validate and not wrappers and any(o["type"] in (1, 2) for o in schema):
            raise CommandNotAvailable(f"{name!r} has subcommands; pass group=/subcommand=")
        resolved: dict[str, dict[str, Any]] = {}
        opts = self._build_options(schema, options, guild_id, channel_id, resolved, validate=validate, focused=focused)
        for kind, sub in reversed(wrappers):
            opts = [{"name": sub, "type": kind, "options": opts}]
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd else self._stable_command_id(name, 1),
            "name": name,
            "type": 1,
            "options": opts,
        }
        if cmd is not None and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        if resolved:
            data["resolved"] = resolved
        return data

    async def send_slash_command(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: list[dict[str, Any]] | dict[str, Any] | None = None,
        *,
        group: str | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
        validate: bool = True,
        unregistered_ok: bool = False,
    ) -> InteractionRecord:
        """Dispatch a chat-input command (INTERACTION_CREATE type 2).

        ``options`` is ``{name: value}`` (types come from the synced schema) or raw option dicts.
        Users/members/roles/channels take ids; attachments take :meth:`add_attachment`'s dict.
        Raises :class:`CommandNotAvailable` when Discord's client could not have sent it.
        """
        data = self._command_data(
            name,
            guild_id,
            channel_id,
            user_id,
            options,
            group,
            subcommand,
            validate=validate,
            unregistered_ok=unregistered_ok,
        )
        ix = self._interaction_base(2, guild_id, channel_id, user_id, data, locale=locale)
        return await self._send_interaction(ix)

    async def send_autocomplete(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        options: list[dict[str, Any]] | dict[str, Any],
        focused: str,
        *,
        group: str | None = None,
        subcommand: str | None = None,
        locale: str = "en-US",
        unregistered_ok: bool = False,
        validate: bool = True,
    ) -> InteractionRecord:
        """Dispatch an autocomplete request (type 4); ``focused`` names the option being typed.

        ``validate=False`` skips the visibility checks, as for a command an admin made visible to
        members that ``default_member_permissions`` would hide.
        """
        data = self._command_data(
            name,
            guild_id,
            channel_id,
            user_id,
            options,
            group,
            subcommand,
            validate=validate,
            unregistered_ok=unregistered_ok,
            focused=focused,
        )
        ix = self._interaction_base(4, guild_id, channel_id, user_id, data, locale=locale)
        return await self._send_interaction(ix)

    async def send_message_context_menu(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        message_id: int,
        *,
        unregistered_ok: bool = False,
    ) -> InteractionRecord:
        """Dispatch a message context-menu command (type 2, command type 3, ``resolved.messages``)."""
        cmd = self._resolve_command(name, guild_id, 3, unregistered_ok)
        self._check_command_visible(cmd, guild_id, channel_id, user_id)
        target = self.messages.get(message_id)
        if target is None:
            raise KeyError(f"unknown message {message_id}")
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd else self._stable_command_id(name, 3),
            "name": name,
            "type": 3,
            "target_id": str(message_id),
            "resolved": {"messages": {str(message_id): copy.deepcopy(target)}},
        }
        if cmd is not None and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        ix = self._interaction_base(2, guild_id, channel_id, user_id, data)
        return await self._send_interaction(ix)

    async def send_user_context_menu(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        name: str,
        target_user_id: int,
        *,
        unregistered_ok: bool = False,
    ) -> InteractionRecord:
        """Dispatch a user context-menu command (type 2, command type 2)."""
        cmd = self._resolve_command(name, guild_id, 2, unregistered_ok)
        self._check_command_visible(cmd, guild_id, channel_id, user_id)
        resolved: dict[str, dict[str, Any]] = {}
        self._resolve_value(6, target_user_id, guild_id, channel_id, resolved)
        data: dict[str, Any] = {
            "id": cmd["id"] if cmd else self._stable_command_id(name, 2),
            "name": name,
            "type": 2,
            "target_id": str(target_user_id),
            "resolved": resolved,
        }
        if cmd is not None and cmd.get("guild_id"):
            data["guild_id"] = cmd["guild_id"]
        ix = self._interaction_base(2, guild_id, channel_id, user_id, data)
        return await self._send_interaction(ix)

    @staticmethod
    def _find_component(components: list[dict[str, Any]], custom_id: str) -> dict[str, Any] | None:
        for comp in components:
            if comp.get("custom_id") == custom_id:
                return comp
            for key in ("components",):
                found = FakeDiscord._find_component(comp.get(key) or [], custom_id)
                if found is not None:
                    return found
            for key in ("component", "accessory"):
                if isinstance(comp.get(key), dict):
                    found = FakeDiscord._find_component([comp[key]], custom_id)
                    if found is not None:
                        return found
        return None

    async def send_component(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        custom_id: str,
        message_id: int,
        *,
        values: list[Any] | None = None,
        validate: bool = True,
    ) -> InteractionRecord:
        """Dispatch a button click / select choice (type 3) on a stored message's component."""
        message = self.messages.get(message_id)
        if message is None:
            raise KeyError(f"unknown message {message_id}")
        comp = self._find_component(message.get("components") or [], custom_id)
        if comp is None and validate:
            raise CommandNotAvailable(f"message {message_id} has no component with custom_id {custom_id!r}")
        if comp is not None and comp.get("disabled") and validate:
            raise CommandNotAvailable(f"component {custom_id!r} is disabled")
        ctype = int((comp or {}).get("type", 3 if values is not None else 2))
        data: dict[str, Any] = {"custom_id": custom_id, "component_type": ctype}
        if ctype in (3, 5, 6, 7, 8):
            data["values"] = [str(v) for v in values or []]
            if ctype == 3 and validate and comp is not None:
                allowed = {o["value"] for o in comp.get("options") or []}
                bad = [v for v in data["values"] if v not in allowed]
                if bad:
                    raise CommandNotAvailable(f"{bad} are not options of select {custom_id!r}")
            if ctype != 3:
                resolved: dict[str, dict[str, Any]] = {}
                otype = {5: 6, 6: 8, 7: 9, 8: 7}[ctype]
                for v in values or []:
                    self._resolve_value(otype, v, guild_id, channel_id, resolved)
                data["resolved"] = resolved
        ix = self._interaction_base(3, guild_id, channel_id, user_id, data, message=message)
        return await self._send_interaction(ix)

    async def send_modal_submit(
        self,
        guild_id: int | None,
        channel_id: int,
        user_id: int,
        custom_id: str,
        values: dict[str, str | list[str]] | None = None,
        *,
        components: list[dict[str, Any]] | None = None,
        validate: bool = True,
    ) -> InteractionRecord:
        """Dispatch a modal submission (type 5) for the last modal sent with ``custom_id``.

        ``values`` maps text-input (or select) custom_ids to what the user typed; the submitted
        component tree mirrors the modal's (action rows or labels). ``components`` sends raw data.
        """
        source = next(
            (
                ix
                for ix in reversed(self.interactions)
                if ix.modal is not None and ix.modal.get("custom_id") == custom_id
            ),
            None,
        )
        if source is None and components is None:
            raise CommandNotAvailable(f"no modal with custom_id {custom_id!r} was sent by the bot")
        values = values or {}
        if components is None:
            assert source is not None and source.modal is not None
            components = self._modal_submission(source.modal, values, validate)
        message = self.messages.get(source.source_message_id or 0) if source is not None else None
        data = {"custom_id": custom_id, "components": components}
        ix = self._interaction_base(5, guild_id, channel_id, user_id, data, message=message)
        return await self._send_interaction(ix)

    @staticmethod
    def _modal_submission(
        modal: dict[str, Any], values: dict[str, str | list[str]], validate: bool
    ) -> list[dict[str, Any]]:
        def submit(comp: dict[str, Any]) -> dict[str, Any]:
            cid = comp.get("custom_id") or ""
            out: dict[str, Any] = {"type": comp["type"], "custom_id": cid}
            if comp.get("id") is not None:
                out["id"] = comp["id"]
            if comp["type"] == 4:
                value = values.get(cid, "")
                if not isinstance(value, str):
                    raise CommandNotAvailable(f"text input {cid!r} takes a string")
                if validate:
                    if comp.get("required", True) and not value:
                        raise CommandNotAvailable(f"text input {cid!r} is required")
                    if value and len(value) < int(comp.get("min_length") or 0):
                        raise CommandNotAvailable(f"text input {cid!r} is shorter than min_length")
                    if len(value) > int(comp.get("max_length") or 4000):
                        raise CommandNotAvailable(f"text input {cid!r} is longer than max_length")
                out["value"] = value
            else:
                raw = values.get(cid, [])
                out["values"] = [raw] if isinstance(raw, str) else list(raw)
            return out

        submitted: list[dict[str, Any]] = []
        for comp in modal.get("components") or []:
            if comp.get("type") == 1:
                submitted.append({"type": 1, "components": [submit(c) for c in comp.get("components") or []]})
            elif comp.get("type") == 18 and isinstance(comp.get("component"), dict):
                entry: dict[str, Any] = {"type": 18, "component": submit(comp["component"])}
                if comp.get("id") is not None:
                    entry["id"] = comp["id"]
                submitted.append(entry)
            elif comp.get("type") == 10:
                submitted.append({"type": 10, **({"id": comp["id"]} if comp.get("id") is not None else {})})
        unknown = set(values) - {c.get("custom_id") for c in FakeDiscord._flatten(modal.get("components") or [])}
        if unknown and validate:
            raise CommandNotAvailable(f"modal has no inputs {sorted(unknown)}")
        return submitted

    @staticmethod
    def _flatten(components: list[dict[str, Any]]) -> list[dict[str, Any]]:
        out: list[dict[str, Any]] = []
        for comp in components:
            out.append(comp)
            out.extend(FakeDiscord._flatten(comp.get("components") or []))
            if isinstance(comp.get("component"), dict):
                out.extend(FakeDiscord._flatten([comp["component"]]))
        return out

    # ------------------------------------------------------------------ user messages

    async def send_message_create(
        self,
        channel_id: int,
        user_id: int,
        content: str = "",
        *,
        mentions: Iterable[int] = (),
        attachments: Iterable[dict[str, Any]] = (),
        embeds: list[dict[str, Any]] | None = None,
        reply_to: int | None = None,
    ) -> dict[str, Any]:
        """A user posts a message: stored, then MESSAGE_CREATE to sessions with the right intents.

        Mentions are parsed from ``<@id>`` in ``content``; ``mentions`` adds user ids. Without the
        MESSAGE_CONTENT intent the bot gets empty content unless it is mentioned (or in DMs).
        """
        self._require_sessions()
        channel = self.channels.get(channel_id)
        if channel is None:
            raise KeyError(f"unknown channel {channel_id}")
        if user_id not in self.users:
            raise KeyError(f"unknown user {user_id}")
        if channel.guild_id is not None and user_id not in self.guilds[channel.guild_id].members:
            raise KeyError(f"user {user_id} is not a member of guild {channel.guild_id}")
        payload: dict[str, Any] = {"content": content, "embeds": embeds or []}
        if reply_to is not None:
            payload["message_reference"] = {"message_id": str(reply_to)}
        message = self._build_message(channel, self.users[user_id], payload, [copy.deepcopy(a) for a in attachments])
        extra = [u for u in mentions if str(u) not in {m["id"] for m in message["mentions"]}]
        message["mentions"].extend(self._mention_user_payload(u, channel.guild_id) for u in extra)
        self._store_message(channel, message)
        await self.flush()
        self._notify()
        return message
