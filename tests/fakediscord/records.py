"""Records the fake keeps for assertions: requests, violations, interactions."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from .builders import MessageFlag

if TYPE_CHECKING:
    from .server import FakeDiscord


@dataclass
class UploadedFile:
    """One file part of a multipart request."""

    field: str
    filename: str
    content_type: str | None
    data: bytes


@dataclass
class RequestRecord:
    """One REST request as the fake received it, and what it answered."""

    method: str
    path: str
    query: dict[str, str]
    json: Any
    files: list[UploadedFile]
    headers: dict[str, str]
    time: float
    status: int | None = None
    response: Any = None
    injected: bool = False

    def __repr__(self) -> str:
        return f"<{self.method} {self.path} -> {self.status}{' (injected)' if self.injected else ''}>"


@dataclass
class Violation:
    """A request Discord would have rejected (or a silent Discord-side degradation)."""

    status: int
    code: int
    message: str
    method: str
    path: str
    details: list[str] = field(default_factory=list)
    interaction_id: int | None = None

    def __str__(self) -> str:
        extra = f" {self.details}" if self.details else ""
        return f"{self.method} {self.path}: {self.status} code={self.code} {self.message}{extra}"


@dataclass
class MessageEdit:
    """An edit applied to a stored message."""

    message_id: int
    body: dict[str, Any]
    before: dict[str, Any]
    after: dict[str, Any]
    via: str
    time: float


@dataclass(eq=False)
class InteractionRecord:
    """An interaction the fake dispatched, and everything the bot did with it."""

    id: int
    token: str
    type: int
    payload: dict[str, Any]
    guild_id: int | None
    channel_id: int
    user_id: int
    created_at: float
    fake: FakeDiscord = field(repr=False)
    #: Message id a component/modal interaction came from (what type 6/7 responses edit).
    source_message_id: int | None = None
    callback_type: int | None = None
    callback: dict[str, Any] | None = None
    acknowledged_at: float | None = None
    original_message_id: int | None = None
    followup_ids: list[int] = field(default_factory=list)
    edits: list[dict[str, Any]] = field(default_factory=list)
    deleted_ids: list[int] = field(default_factory=list)
    rejected: list[Violation] = field(default_factory=list)
    expired: bool = False

    @property
    def acknowledged(self) -> bool:
        """Whether an initial response (callback) was accepted."""
        return self.callback_type is not None

    @property
    def latency(self) -> float | None:
        """Seconds from dispatch to the accepted callback."""
        return None if self.acknowledged_at is None else self.acknowledged_at - self.created_at

    @property
    def deferred(self) -> bool:
        """Whether the initial response was a defer (type 5 or 6)."""
        return self.callback_type in (5, 6)

    @property
    def data(self) -> dict[str, Any]:
        """``data`` of the accepted callback (empty for bare defers)."""
        return (self.callback or {}).get("data") or {}

    @property
    def ephemeral(self) -> bool:
        """Whether the initial response was ephemeral (flag 64)."""
        return bool(int(self.data.get("flags") or 0) & MessageFlag.EPHEMERAL)

    @property
    def original(self) -> dict[str, Any] | None:
        """Current state of the original response message (after edits)."""
        if self.original_message_id is None:
            return None
        return self.fake.messages.get(self.original_message_id)

    @property
    def followups(self) -> list[dict[str, Any]]:
        """Current state of follow-up messages, in order (includes one that replaced a defer)."""
        return [self.fake.messages[m] for m in self.followup_ids if m in self.fake.messages]

    @property
    def messages(self) -> list[dict[str, Any]]:
        """Original (if any) then follow-ups that are separate messages."""
        out = [m for m in [self.original] if m is not None]
        out.extend(m for m in self.followups if m["id"] != (out[0]["id"] if out else None))
        return out

    @property
    def modal(self) -> dict[str, Any] | None:
        """The modal sent (callback type 9)."""
        return self.data if self.callback_type == 9 else None

    @property
    def choices(self) -> list[dict[str, Any]] | None:
        """Autocomplete choices (callback type 8)."""
        return self.data.get("choices") if self.callback_type == 8 else None

    def is_loading(self) -> bool:
        """Whether the original response is still a "thinking..." placeholder."""
        msg = self.original
        return bool(msg and int(msg.get("flags") or 0) & MessageFlag.LOADING)
