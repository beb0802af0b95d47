"""A protocol-level fake of Discord (REST, gateway, CDN) to run the real discord.py against."""

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
)
from .records import InteractionRecord, MessageEdit, RequestRecord, UploadedFile, Violation
from .server import ApiError, CommandNotAvailable, FakeDiscord, GatewaySession

__all__ = [
    "ApiError",
    "ChannelType",
    "CommandNotAvailable",
    "FakeChannel",
    "FakeDiscord",
    "FakeGuild",
    "FakeMember",
    "FakeRole",
    "FakeUser",
    "GatewaySession",
    "Intent",
    "InteractionRecord",
    "MessageEdit",
    "MessageFlag",
    "Overwrite",
    "Perm",
    "RequestRecord",
    "UploadedFile",
    "Violation",
]
