"""Small corpora and a world of servers for the Discord tests (nothing here reads /work/shared)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from fakediscord import FakeDiscord, Perm

from bot.config import Settings

SHARED_ARTICLES = {
    "putin-residence.md": """---
title: Ukraine denies drone attack on Putin residence
source: The Independent
date: 2026-01-05
url: https://www.independent.co.uk/news/world/putin-residence
---
Ukraine has denied launching a drone attack on Vladimir Putin's residence in the Novgorod region.

Russian foreign minister Sergei Lavrov claimed that 91 drones had targeted the residence overnight.

President Volodymyr Zelensky called the claim a lie intended to derail peace talks.

The United States said it had seen no evidence of the drone strike on the residence.

Analysts said the accusation could harden Moscow's position in the negotiations.
""",
    "storm-bram.md": """---
title: Storm Bram brings flooding to Dublin
source: RTÉ
date: 2026-01-07
url: https://www.rte.ie/news/storm-bram
---
Storm Bram brought heavy rain and flooding to Dublin on Tuesday.

Met Éireann issued an orange warning for wind in several counties.

More than 20,000 homes lost power during Storm Bram, the ESB said.

Dublin City Council opened emergency shelters for people forced from their homes.
""",
    "fed-rates.md": """---
title: Federal Reserve holds interest rates steady
source: Reuters
date: 2026-01-08
url: https://www.reuters.com/markets/fed-rates
---
The Federal Reserve held interest rates steady on Wednesday.

Fed chair Jerome Powell said inflation remained above the central bank's target.

Markets had expected the pause after three cuts last year.
""",
}

ZEBRA_ARTICLE = """---
title: Council votes to repaint zebra crossings
source: Ballymore Gazette
date: 2026-01-09
url: https://gazette.example/zebra
---
The town council voted on Monday to repaint every zebra crossing in Ballymore.

Councillor Aoife Byrne said the faded zebra crossings had caused three accidents this year.

The work will cost 40,000 euro and begin in March.
"""

RESIDENCE_QUESTION = "Did the United States see evidence of the drone strike on Putin's residence?"
# Four sentences answer this: one page of three, and "More quotes" for the fourth.
CLAIM_QUESTION = "What did Ukraine, Russia and the United States say about the drone attack claim on Putin's residence?"
STORM_QUESTION = "How many homes lost power in Storm Bram?"
ZEBRA_QUESTION = "Why did the Ballymore council vote to repaint the zebra crossings?"
UNANSWERABLE = "What is the capital of Mongolia?"


def write_corpus(root: Path) -> Path:
    folder = root / "corpus"
    folder.mkdir(parents=True, exist_ok=True)
    for name, text in SHARED_ARTICLES.items():
        (folder / name).write_text(text, encoding="utf-8")
    return folder


def bulk_jsonl(n: int, topic: str = "lighthouse") -> bytes:
    """``n`` distinct small articles as JSON lines."""
    lines = [
        json.dumps(
            {
                "id": f"b{i}",
                "title": f"The {topic} report number {i}",
                "source": "Harbour Weekly",
                "date": "2026-01-10",
                "url": f"https://harbour.example/{topic}/{i}",
                "text": f"Keepers inspected {topic} number {i} on the northern pier. "
                f"The {topic} lamp {i} was repaired by volunteers after the winter storms damaged it.",
            }
        )
        for i in range(n)
    ]
    return ("\n".join(lines) + "\n").encode()


def make_settings(tmp_path: Path, **overrides: Any) -> Settings:
    values: dict[str, Any] = {
        "db": tmp_path / "citebot.db",
        "corpus": tmp_path / "corpus",
        "token": "fake-bot-token",
        "dev_guild": None,
        "api_base": None,
        "gateway": None,
        "shared_corpus": True,
        "cooldown_seconds": 60.0,
        "cooldown_rate": 50,
        "max_upload_bytes": 1024 * 1024,
        "log_level": "INFO",
    }
    values.update(overrides)
    return Settings(_env_file=None, **values)  # type: ignore[call-arg]  # a developer's .env must not leak in


@dataclass
class Server:
    """One guild with a channel, a moderator (Manage Server) and two ordinary members."""

    guild_id: int
    channel_id: int
    mod: int
    alice: int
    bob: int


def add_server(fake: FakeDiscord, name: str, guild_id: int | None = None) -> Server:
    guild = fake.add_guild(guild_id, name=name)
    channel = fake.add_channel(guild.id, name="news")
    mod = fake.add_member(guild.id, name=f"{name}-mod", permissions=Perm.MANAGE_GUILD)
    alice = fake.add_member(guild.id, name=f"{name}-alice")
    bob = fake.add_member(guild.id, name=f"{name}-bob")
    return Server(guild.id, channel.id, mod.user_id, alice.user_id, bob.user_id)


def embed_text(message: dict[str, Any]) -> str:
    """Everything a reader sees in a message: content, then each embed's parts."""
    parts = [message.get("content") or ""]
    for embed in message.get("embeds") or []:
        parts += [embed.get("title", ""), embed.get("description", "")]
        parts += [f"{f['name']}\n{f['value']}" for f in embed.get("fields", [])]
        parts.append((embed.get("footer") or {}).get("text", ""))
    return "\n".join(p for p in parts if p)


def custom_ids(message: dict[str, Any]) -> list[str]:
    return [
        c["custom_id"] for row in message.get("components") or [] for c in row.get("components", []) if "custom_id" in c
    ]
