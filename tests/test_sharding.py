"""Past one process: two real `citebot run` processes (shards 0 and 1 of 2) on one PostgreSQL store, serving two
guilds of the test Discord that live on different shards, with `citebot add` run beside them."""

from __future__ import annotations

import asyncio
import os
import signal
import sys
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
from conftest import fresh_postgres_database, postgres_server_url
from discord_helpers import ZEBRA_ARTICLE, ZEBRA_QUESTION, Server, add_server, embed_text, write_corpus
from fakediscord import FakeDiscord

from bot.config import SettingsError, load_settings, parse_shard_ids
from bot.core.location import local_path
from bot.tools.health import status_path

LIGHTHOUSE = """---
title: Volunteers relight the Ballycotton lighthouse
source: Harbour Weekly
date: 2026-01-11
---
Volunteers relit the Ballycotton lighthouse on Sunday after a two-year restoration.
"""
LIGHTHOUSE_QUESTION = "Who relit the Ballycotton lighthouse?"
KEEPERS = """---
title: Keepers return to Fastnet
source: Harbour Weekly
date: 2026-01-12
---
Two keepers returned to the Fastnet rock for the first time since automation.
"""
KEEPERS_QUESTION = "Who returned to the Fastnet rock?"


@pytest.fixture
async def postgres_url(tmp_path: Path) -> AsyncIterator[str]:
    async with fresh_postgres_database(await postgres_server_url()) as url:
        yield url


def test_shard_ids_are_ranges_and_lists() -> None:
    assert parse_shard_ids("0-3") == [0, 1, 2, 3]
    assert parse_shard_ids("4, 1,2-3") == [1, 2, 3, 4]
    for bad in ("", "a", "3-1", "-1", "1-"):
        with pytest.raises(ValueError):
            parse_shard_ids(bad)


async def test_two_sharded_processes_share_one_postgresql_store(postgres_url: str, tmp_path: Path) -> None:
    async with FakeDiscord(shard_count=2) as fake:
        # Guild ids chosen so that A is on shard 1 and B on shard 0: (id >> 22) % 2.
        guild_a, guild_b = add_server(fake, "a", guild_id=1001 << 22), add_server(fake, "b", guild_id=1000 << 22)
        write_corpus(tmp_path)
        env = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))} | {
            "DISCORD_TOKEN": fake.token,
            "CITEBOT_DB": postgres_url,
            "CITEBOT_CORPUS": str(tmp_path / "corpus"),
            "CITEBOT_DISCORD_API_BASE": fake.api_base,
            "CITEBOT_DISCORD_GATEWAY": fake.gateway_url,
            "CITEBOT_SHARD_COUNT": "2",
            "http_proxy": "",
            "https_proxy": "",
        }

        async def start(shard: int) -> asyncio.subprocess.Process:
            return await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", "run", stdin=asyncio.subprocess.DEVNULL,
                stdout=asyncio.subprocess.DEVNULL, stderr=asyncio.subprocess.PIPE,
                env=env | {"CITEBOT_SHARD_IDS": str(shard)}, cwd=tmp_path,
            )  # fmt: skip

        async def cli(*args: str) -> None:
            process = await asyncio.create_subprocess_exec(
                sys.executable, "-m", "bot", *args, stdout=asyncio.subprocess.DEVNULL,
                stderr=asyncio.subprocess.PIPE, env=env, cwd=tmp_path,
            )  # fmt: skip
            _, stderr = await asyncio.wait_for(process.communicate(), 60)
            assert process.returncode == 0, stderr.decode()

        async def answer(server: Server, question: str) -> str:
            ix = await fake.send_slash_command(
                server.guild_id, server.channel_id, server.alice, "ask", {"question": question}
            )
            return embed_text(await fake.wait_for_reply(ix, timeout=15))

        def shards_identified() -> set[int]:
            return {identify["shard"][0] for identify in fake.identifies}

        processes = {0: await start(0)}
        try:
            await fake.wait_until(lambda: 0 in shards_identified(), 60, "shard 0 identifies")
            processes[1] = await start(1)
            await fake.wait_until(lambda: 1 in shards_identified(), 60, "shard 1 identifies")
            assert all(identify["shard"][1] == 2 for identify in fake.identifies)
            await fake.wait_until(lambda: fake.command_syncs, 30, "the command sync")
            await asyncio.sleep(1)
            assert len(fake.command_syncs) == 1  # exactly one process (shard 0's) synced the commands

            # A moderator of A (served by process 1) adds an article: answered in A, invisible in B.
            attachment = fake.add_attachment("zebra.md", ZEBRA_ARTICLE.encode(), "text/markdown")
            ix = await fake.send_slash_command(
                guild_a.guild_id, guild_a.channel_id, guild_a.mod, "corpus", {"file": attachment}, subcommand="add-file"
            )
            await fake.wait_until(lambda: ix.original and "Added 1 article" in embed_text(ix.original), 15, "added")
            assert "Ballymore Gazette" in await answer(guild_a, ZEBRA_QUESTION)
            assert "Ballymore Gazette" not in await answer(guild_b, ZEBRA_QUESTION)

            # `citebot add` to the shared corpus: answered in both guilds, by both processes.
            (tmp_path / "lighthouse.md").write_text(LIGHTHOUSE, encoding="utf-8")
            await cli("add", str(tmp_path / "lighthouse.md"))
            for server in (guild_a, guild_b):
                assert "Volunteers relight the Ballycotton lighthouse" in await answer(server, LIGHTHOUSE_QUESTION)

            # Each process reports its own heartbeat (written when it starts, then every 30 s).
            store_files = tmp_path / local_path(postgres_url)
            for shard in (0, 1):
                assert status_path(store_files.with_name(f"{store_files.name}.shards-{shard}")).exists()

            # Kill process 1: process 0 keeps serving B. An article is added meanwhile; restarted, 1 catches up.
            processes[1].send_signal(signal.SIGKILL)
            await processes[1].wait()
            (tmp_path / "keepers.md").write_text(KEEPERS, encoding="utf-8")
            await cli("add", str(tmp_path / "keepers.md"))
            assert "Keepers return to Fastnet" in await answer(guild_b, KEEPERS_QUESTION)
            identified = len(fake.identifies)
            processes[1] = await start(1)
            await fake.wait_until(lambda: len(fake.identifies) > identified, 60, "shard 1 identifies again")
            await asyncio.sleep(1)  # its READY reaches the shard before the interaction does
            assert "Keepers return to Fastnet" in await answer(guild_a, KEEPERS_QUESTION)
        finally:
            for process in processes.values():
                if process.returncode is None:
                    process.send_signal(signal.SIGTERM)
            logs = {shard: (await asyncio.wait_for(p.communicate(), 30))[1].decode() for shard, p in processes.items()}
        assert processes[0].returncode == 0, logs[0]
        assert processes[1].returncode == 0, logs[1]


def test_shard_settings_are_checked_and_name_the_variable(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_SHARD_IDS", "0-1")
    with pytest.raises(SettingsError, match="CITEBOT_SHARD_COUNT"):
        load_settings()
    monkeypatch.setenv("CITEBOT_SHARD_COUNT", "2")
    settings = load_settings(db="postgresql://citebot@db/citebot")
    assert settings.shards == [0, 1] and settings.syncs_commands
    monkeypatch.setenv("CITEBOT_SHARD_IDS", "2")
    with pytest.raises(SettingsError, match="below CITEBOT_SHARD_COUNT"):
        load_settings()
    monkeypatch.setenv("CITEBOT_SHARD_IDS", "1")
    settings = load_settings()
    assert not settings.syncs_commands  # shard 0's process syncs, this one does not
    assert settings.process_path.name == "citebot.db.shards-1"
