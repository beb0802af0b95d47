"""Settings from the environment, in one place (documented in README.md and .env.example)."""

from __future__ import annotations

import os
from dataclasses import dataclass, field
from pathlib import Path


def _int(name: str, default: int) -> int:
    raw = os.environ.get(name, "").strip()
    try:
        return int(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a whole number, not {raw!r}") from None


def _float(name: str, default: float) -> float:
    raw = os.environ.get(name, "").strip()
    try:
        return float(raw) if raw else default
    except ValueError:
        raise SystemExit(f"{name} must be a number, not {raw!r}") from None


def _flag(name: str, default: bool = False) -> bool:
    raw = os.environ.get(name, "").strip().lower()
    return default if not raw else raw in {"1", "true", "yes", "on"}


def default_corpus() -> Path:
    """The corpus/ folder of a checkout, else the one next to the working directory."""
    here = Path(__file__).resolve().parent.parent / "corpus"
    return here if here.is_dir() else Path("corpus")


@dataclass(frozen=True)
class Settings:
    db: Path = field(default_factory=lambda: Path(os.environ.get("CITEBOT_DB") or "data/citebot.db"))
    corpus: Path = field(
        default_factory=lambda: (
            Path(os.environ["CITEBOT_CORPUS"]) if os.environ.get("CITEBOT_CORPUS") else default_corpus()
        )
    )
    token: str | None = field(default_factory=lambda: os.environ.get("DISCORD_TOKEN") or None)
    dev_guild: int | None = field(default_factory=lambda: _int("CITEBOT_DEV_GUILD", 0) or None)
    api_base: str | None = field(
        default_factory=lambda: (os.environ.get("CITEBOT_DISCORD_API_BASE") or "").rstrip("/") or None
    )
    gateway: str | None = field(default_factory=lambda: os.environ.get("CITEBOT_DISCORD_GATEWAY") or None)
    # Whether the host's corpus/ (scope "shared") is visible in every server.
    shared_corpus: bool = field(default_factory=lambda: _flag("CITEBOT_SHARED_CORPUS", True))
    cooldown_seconds: float = field(default_factory=lambda: _float("CITEBOT_COOLDOWN_SECONDS", 10.0))
    cooldown_rate: int = field(default_factory=lambda: _int("CITEBOT_COOLDOWN_RATE", 3))
    max_upload_bytes: int = field(default_factory=lambda: _int("CITEBOT_MAX_UPLOAD_BYTES", 5 * 1024 * 1024))
    log_level: str = field(default_factory=lambda: os.environ.get("CITEBOT_LOG_LEVEL", "INFO").upper())
