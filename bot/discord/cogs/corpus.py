"""Moderators curate their server's articles: ``/corpus add-url | add-file | add-text | remove | list | show |
gaps | moderators``.

Every subcommand is scoped to the server it runs in (``guild:<id>``): passing only that scope to the core
is what keeps one server from seeing or deleting another's articles. The host's shared corpus can be
listed and shown, read-only. Replies are private: curating is not channel conversation.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import math
import re
import time
from pathlib import Path
from typing import Any, NamedTuple

import aiohttp
import discord
from discord import app_commands
from discord.ext import commands

from bot.core import clean
from bot.core.ingest import normalise_date
from bot.core.library import SHARED_SCOPE, IndexReport, guild_scope
from bot.core.models import Article, Citation, Rejected
from bot.core.sizes import human_size
from bot.discord import embeds, respond
from bot.discord.checks import (
    MODERATOR_ROLE_KEY,
    bot_of,
    is_moderator,
    moderator_role_id,
    require_manager,
    require_moderator,
)
from bot.discord.client import CitebotBot
from bot.discord.views import CUSTOM_ID_PREFIX, data_of, guarded, reply_privately

log = logging.getLogger(__name__)

UPLOAD_SUFFIXES = (".txt", ".md", ".markdown", ".html", ".htm", ".jsonl")
PAGE_SIZE = 10
SEARCH_ROWS = 500  # a filtered list is read whole and paged in memory (the store does not count searches)
SEARCH_MAX = 60  # characters: a page button's custom_id carries the search, and Discord allows 100 in all
LIST_TEMPLATE = (  # the button, the page it shows, the server's (g) or the shared (s) list, the search
    rf"{CUSTOM_ID_PREFIX}list:(?P<kind>prev|at|next):(?P<page>[0-9]{{1,7}}):(?P<where>[gs]):"
    rf"(?P<search>.{{0,{SEARCH_MAX}}})"
)
ADD_TEXT_FORM = CUSTOM_ID_PREFIX + "add-text"
REPORT_LINES = 12
PROGRESS_EVERY = 2.0  # seconds between progress edits: Discord rate-limits message edits


def parse_article_id(value: str) -> int | None:
    """'42', '#42' or an autocomplete label '#42 Title — …' → 42."""
    match = re.match(r"\s*#?(\d{1,18})\b", value)
    return int(match.group(1)) if match else None


async def download(file: discord.Attachment, timeout: float) -> bytes | str:
    """The attachment's bytes, or why Discord's CDN did not give them (a transient failure, not a bug)."""
    try:
        return await asyncio.wait_for(file.read(), timeout)
    except (discord.NotFound, discord.Forbidden):
        return "it is no longer there"
    except discord.HTTPException as error:
        return f"HTTP {error.status}"
    except TimeoutError:  # before OSError: TimeoutError is one
        return f"it took longer than {timeout:g} seconds"
    except (aiohttp.ClientError, OSError) as error:  # reset, refused, dropped mid-file
        log.warning("attachment download failed: %r", error)
        return "the connection broke"


def report_embed(report: IndexReport, *, what: str) -> discord.Embed:
    """The outcome of an addition, with each refusal's reason (the core writes them for people)."""
    added, unchanged, rejected = len(report.added), len(report.unchanged), len(report.rejected)
    if added:
        headline = f"Added {added} article{'s' if added != 1 else ''} from {what}."
        colour = embeds.ARTICLE_COLOUR
    elif unchanged and not rejected:
        headline = f"Nothing new in {what}: already stored."
        colour = embeds.ABSTAIN_COLOUR
    else:
        headline = f"Nothing was added from {what}."
        colour = embeds.ERROR_COLOUR
    lines = [headline]
    if added + unchanged + rejected > 1:  # one item says it all: the counts only repeat the headline
        lines.append(f"added **{added}** · unchanged **{unchanged}** · rejected **{rejected}**")
    lines.append("")
    items: list[str] = []
    items += [
        f"➕ `#{a.article_id}` {embeds.escape(embeds.trim(embeds.one_line(a.title or embeds.UNTITLED), 80))}"
        f" ({a.sentences} sentence{'s' if a.sentences != 1 else ''})"
        for a in report.added
    ]
    # A page added again replaces its earlier version: say which article number is gone, and why.
    items += [
        f"♻️ replaced `#{r.article_id}` {embeds.escape(embeds.trim(embeds.one_line(r.title or embeds.UNTITLED), 80))}"
        " (the earlier version)"
        for r in report.replaced
    ]
    items += [
        f"🟰 `#{u.article_id}` already stored ({embeds.escape(embeds.trim(u.where, 80))})" for u in report.unchanged
    ]
    # The core's reasons for a URL already name it ("Refused http://…: …"); don't say it twice.
    items += [
        f"⚠️ {embeds.escape(embeds.trim(r.reason, 300))}"
        if r.where in r.reason or r.reason.startswith("Refused ")
        else f"⚠️ {embeds.escape(embeds.trim(r.where, 80))}: {embeds.escape(embeds.trim(r.reason, 300))}"
        for r in report.rejected
    ]
    lines += items[:REPORT_LINES]
    if len(items) > REPORT_LINES:
        lines.append(f"… and {len(items) - REPORT_LINES} more")
    if added:
        lines += ["", "Members can ask about it now with `/ask`."]
    return embeds.notice("\n".join(lines).strip(), colour=colour)


class Progress:
    """Edits the deferred reply as a bulk import goes; the core calls ``__call__`` between batches."""

    def __init__(self, interaction: discord.Interaction, label: str) -> None:
        self.interaction = interaction
        self.label = label
        self.done = 0
        self.total = 0
        self._shown = (0, 0)
        self._task: asyncio.Task[None] | None = None

    def __call__(self, done: int, total: int) -> None:
        self.done, self.total = done, total
        if self._task is None and total > 1:
            self._task = asyncio.create_task(self._run())

    async def _run(self) -> None:
        while True:
            if (self.done, self.total) != self._shown and self.done < self.total:
                self._shown = (self.done, self.total)
                try:
                    await self.interaction.edit_original_response(
                        content=f"⏳ {self.label}: {self.done} of {self.total} articles indexed…"
                    )
                except discord.HTTPException as error:
                    log.warning("progress edit failed: %s", error)
            await asyncio.sleep(PROGRESS_EVERY)

    async def stop(self) -> None:
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task


class Page(NamedTuple):
    """A page as rendered now, with where it is: the list it belongs to can grow or shrink meanwhile."""

    embed: discord.Embed
    number: int  # from 0
    pages: int


async def list_page(bot: CitebotBot, guild_id: int, shared: bool, search: str | None, n: int) -> Page:
    """Page ``n`` of a server's (or the shared) articles, or the last page when there are no longer n + 1."""
    library = bot.library
    scopes = [SHARED_SCOPE] if shared else [guild_scope(guild_id)]
    # Read afresh for every page: articles come and go while a list is open.
    found = await library.list(scopes, limit=SEARCH_ROWS + 1, search=search) if search else None
    # One more than is shown: a search matching more than SEARCH_ROWS says so, not a count it never made.
    cut = found is not None and len(found) > SEARCH_ROWS
    found = found[:SEARCH_ROWS] if found is not None else None
    total = len(found) if found is not None else await library.count(scopes)
    pages = max(math.ceil(total / PAGE_SIZE), 1)
    n = min(n, pages - 1)
    if found is not None:
        rows = found[n * PAGE_SIZE : (n + 1) * PAGE_SIZE]
    else:
        rows = await library.list(scopes, offset=n * PAGE_SIZE, limit=PAGE_SIZE)
    what = "Shared corpus (read-only)" if shared else "This server's articles"
    # Members' questions also search the host's articles, which this list leaves out: say where they are.
    hint = (
        "\nThe host's shared articles: `/corpus list shared:True`." if bot.settings.shared_corpus and not shared else ""
    )
    if rows:
        body = embeds.article_lines(rows)
    elif search:
        body = f"No article matches “{embeds.escape(search)}”.{hint}"
    else:
        body = f"No articles yet. Add one with `/corpus add-url`, `/corpus add-file` or `/corpus add-text`.{hint}"
    embed = discord.Embed(title=what, description=body, colour=embeds.ARTICLE_COLOUR)
    counted = (
        f"the newest {total} of more (narrow the search)" if cut else f"{total} article{'s' if total != 1 else ''}"
    )
    embed.set_footer(text=f"{counted} · page {n + 1} of {pages} · /corpus show to read one")
    return Page(embeds.fit_embed(embed), n, pages)


def list_view(page: Page, shared: bool, search: str | None) -> discord.ui.View | None:
    """◀ page / ▶ under a list of more than one page."""
    if page.pages <= 1:
        return None
    view = discord.ui.View(timeout=None)
    last = page.pages - 1
    view.add_item(ListButton("prev", max(page.number - 1, 0), shared, search, disabled=page.number <= 0))
    view.add_item(ListButton("at", page.number, shared, search, label=f"{page.number + 1} / {page.pages}"))
    view.add_item(ListButton("next", min(page.number + 1, last), shared, search, disabled=page.number >= last))
    return view


class ListButton(discord.ui.DynamicItem[discord.ui.Button[Any]], template=LIST_TEMPLATE):
    """A page button of ``/corpus list``: the page it shows, the list (the server's or the shared one) and the
    search are in its custom_id, so a list still pages after a restart, however long it stays open. The
    server is the interaction's, never the button's: a forged id cannot list another server's articles. The
    list is private, so only the moderator who ran the command sees its buttons; still, they must be one now."""

    def __init__(
        self, kind: str, page: int, shared: bool, search: str | None, *, label: str = "", disabled: bool = False
    ) -> None:
        self.page = page
        self.shared = shared
        self.search = search
        super().__init__(
            discord.ui.Button(
                style=discord.ButtonStyle.secondary,
                label={"prev": "◀", "next": "▶"}.get(kind, label),
                disabled=disabled if kind != "at" else True,  # the position is a label, never enabled
                custom_id=f"{CUSTOM_ID_PREFIX}list:{kind}:{page}:{'s' if shared else 'g'}:{search or ''}",
            )
        )

    @classmethod
    async def from_custom_id(
        cls, interaction: discord.Interaction, item: discord.ui.Item[Any], match: re.Match[str], /
    ) -> ListButton:
        return cls(match["kind"], int(match["page"]), match["where"] == "s", match["search"] or None)

    async def callback(self, interaction: discord.Interaction) -> None:
        await guarded(interaction, self._turn)

    async def _turn(self, interaction: discord.Interaction) -> None:
        await require_moderator(interaction)
        bot = bot_of(interaction)
        if interaction.guild_id is None:
            return
        if self.shared and not bot.settings.shared_corpus:
            await reply_privately(interaction, "This bot no longer shares a corpus with servers.")
            return
        page = await list_page(bot, interaction.guild_id, self.shared, self.search, self.page)
        await interaction.response.edit_message(embed=page.embed, view=list_view(page, self.shared, self.search))


class AddTextModal(discord.ui.Modal, title="Add an article"):
    """The form only. What is typed is read from the submission itself (Corpus.on_interaction), not from this
    object: discord.py forgets its forms when the process ends, and a moderator who pasted an article into a
    form opened before a restart must not lose it."""

    article_title: discord.ui.TextInput[AddTextModal] = discord.ui.TextInput(
        label="Title", max_length=300, custom_id="title"
    )
    outlet: discord.ui.TextInput[AddTextModal] = discord.ui.TextInput(
        label="Outlet", placeholder="e.g. The Guardian", required=False, max_length=100, custom_id="outlet"
    )
    date: discord.ui.TextInput[AddTextModal] = discord.ui.TextInput(
        label="Date published", placeholder="2026-01-05", required=False, max_length=30, custom_id="date"
    )
    url: discord.ui.TextInput[AddTextModal] = discord.ui.TextInput(
        label="Link to the article", placeholder="https://…", required=False, max_length=1000, custom_id="url"
    )
    body: discord.ui.TextInput[AddTextModal] = discord.ui.TextInput(
        label="Article text",
        style=discord.TextStyle.paragraph,
        min_length=20,
        max_length=4000,
        placeholder="Paste the article's own words (up to 4,000 characters; longer: /corpus add-file).",
        custom_id="body",
    )

    def __init__(self) -> None:
        super().__init__(custom_id=ADD_TEXT_FORM)


def submitted(components: list[Any]) -> dict[str, str]:
    """A form submission's values by input custom_id, in action rows or labels."""
    values: dict[str, str] = {}
    for component in components:
        if not isinstance(component, dict):
            continue
        if isinstance(component.get("value"), str) and isinstance(component.get("custom_id"), str):
            values[component["custom_id"]] = component["value"]
        values |= submitted(list(component.get("components") or []))
        values |= submitted([component.get("component")])
    return values


@app_commands.guild_only()
@app_commands.default_permissions(manage_guild=True)
class Corpus(commands.GroupCog, group_name="corpus", group_description="Manage this server's articles (moderators)"):
    def __init__(self, bot: CitebotBot) -> None:
        self.bot = bot
        super().__init__()

    async def interaction_check(self, interaction: discord.Interaction) -> bool:
        # default_member_permissions only hides the command; server admins can change who sees it.
        if interaction.command is not None and interaction.command.name == "moderators":
            return await require_manager(interaction)
        return await require_moderator(interaction)

    def scope(self, interaction: discord.Interaction) -> str:
        assert interaction.guild_id is not None  # guild_only
        return guild_scope(interaction.guild_id)

    def readable_scopes(self, interaction: discord.Interaction) -> list[str]:
        return [self.scope(interaction)] + ([SHARED_SCOPE] if self.bot.settings.shared_corpus else [])

    def log_report(
        self, kind: str, interaction: discord.Interaction, report: IndexReport, started: float | None = None
    ) -> None:
        log.info(
            "event=corpus_add kind=%s guild=%s user=%s added=%d unchanged=%d rejected=%d seconds=%.2f",
            kind,
            interaction.guild_id,
            interaction.user.id,
            len(report.added),
            len(report.unchanged),
            len(report.rejected),
            time.perf_counter() - started if started else 0.0,
        )

    # -- autocomplete ---------------------------------------------------------------------------------------
    async def _choices(
        self, interaction: discord.Interaction, current: str, scopes: list[str]
    ) -> list[app_commands.Choice[str]]:
        # Autocomplete skips checks; only moderators get suggestions (the titles are theirs to manage).
        if interaction.guild_id is None or not await is_moderator(interaction):
            return []
        search = current.strip().lstrip("#").strip() or None
        rows = await self.bot.library.list(scopes, limit=25, search=search)
        return [
            app_commands.Choice(name=embeds.article_label(a.id, a.title, a.source, a.date), value=str(a.id))
            for a in rows
        ]

    async def own_articles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current, [guild_scope(interaction.guild_id or 0)])

    async def readable_articles(self, interaction: discord.Interaction, current: str) -> list[app_commands.Choice[str]]:
        return await self._choices(interaction, current, self.readable_scopes(interaction))

    # -- adding ----------------------------------------------------------------------------------------------
    @app_commands.command(name="add-url", description="Add a news article from its web address.")
    @app_commands.describe(url="The article's address, starting with https://")
    async def add_url(self, interaction: discord.Interaction, url: app_commands.Range[str, 1, 2000]) -> None:
        url = url.strip().strip("<>")  # people paste <https://…> to suppress Discord's preview
        if not re.match(r"https?://", url, re.IGNORECASE):
            await interaction.response.send_message(
                "That doesn't look like a web address. Paste the full link, starting with `https://`.", ephemeral=True
            )
            return
        await respond.defer(interaction, ephemeral=True)
        started = time.perf_counter()
        report = await self.bot.library.add_url(url, self.scope(interaction), added_by=str(interaction.user.id))
        self.log_report("add-url", interaction, report, started)
        await interaction.edit_original_response(embed=report_embed(report, what="that page"))

    @app_commands.command(name="add-file", description="Add articles from a file: .txt, .md, .html or .jsonl.")
    @app_commands.describe(file="A .txt, .md or .html article, or a .jsonl file with one article per line")
    async def add_file(self, interaction: discord.Interaction, file: discord.Attachment) -> None:
        name = file.filename
        if not name.lower().endswith(UPLOAD_SUFFIXES):
            await interaction.response.send_message(
                f"I can read .txt, .md, .html and .jsonl files, not “{embeds.escape(name)}”.", ephemeral=True
            )
            return
        limit = self.bot.settings.max_upload_bytes
        if file.size > limit:  # checked before downloading anything
            await interaction.response.send_message(
                f"“{embeds.escape(name)}” is {human_size(file.size)}; the limit is {human_size(limit)}. "
                "Split it into smaller files.",
                ephemeral=True,
            )
            return
        await respond.defer(interaction, ephemeral=True)
        started = time.perf_counter()
        data = await download(file, self.bot.download_seconds)
        if isinstance(data, str):
            log.warning(
                "event=download_failed guild=%s user=%s file=%r reason=%r",
                interaction.guild_id,
                interaction.user.id,
                name,
                data,
            )
            await interaction.edit_original_response(
                content=f"I couldn't download “{embeds.escape(name)}” from Discord ({data}), so nothing was added. "
                "Please try `/corpus add-file` again."
            )
            return
        if len(data) > limit:  # the CDN served more than the attachment said
            await interaction.edit_original_response(content=f"That file is larger than {human_size(limit)}.")
            return
        progress = Progress(interaction, f"Indexing {Path(name).name}")
        try:
            report = await self.bot.library.add_bytes(
                data,
                Path(name).name,
                self.scope(interaction),
                content_type=file.content_type,
                added_by=str(interaction.user.id),
                progress=progress,
            )
        finally:
            await progress.stop()
        self.log_report("add-file", interaction, report, started)
        embed = report_embed(report, what=f"“{embeds.escape(name)}”")
        if report.added and (note := await self.earlier_uploads(self.scope(interaction), Path(name).name, report)):
            embed.description = (embed.description or "") + "\n\n" + note
        await interaction.edit_original_response(content=None, embed=embeds.fit_embed(embed))

    async def earlier_uploads(self, scope: str, name: str, report: IndexReport) -> str | None:
        """An upload replaces nothing: its only origin is a file name, which does not say it holds the same
        article (two moderators' article.txt). But an edited file uploaded again leaves both versions quoted
        unless a moderator removes one: say which are there."""
        ours = {r.article_id for r in report.added + report.unchanged}
        earlier = [
            row.article_id for row in await self.bot.library.from_origin(scope, name) if row.article_id not in ours
        ]
        if not earlier:
            return None
        shown = ", ".join(f"`#{i}`" for i in earlier[:5]) + (
            f" and {len(earlier) - 5} more" if len(earlier) > 5 else ""
        )
        return (
            f"An earlier upload named “{embeds.escape(name)}” is still stored ({shown}). If this file replaces it, "
            f"remove {'that' if len(earlier) == 1 else 'those'} with `/corpus remove`."
        )

    @app_commands.command(name="add-text", description="Add an article by pasting its text (opens a form).")
    async def add_text(self, interaction: discord.Interaction) -> None:
        await interaction.response.send_modal(AddTextModal())

    @commands.Cog.listener()
    async def on_interaction(self, interaction: discord.Interaction) -> None:
        form = interaction.type is discord.InteractionType.modal_submit
        if form and data_of(interaction).get("custom_id") == ADD_TEXT_FORM:
            await guarded(interaction, self.add_typed_text)

    async def add_typed_text(self, interaction: discord.Interaction) -> None:
        """The add-text form, submitted (whenever it was opened)."""
        await require_moderator(interaction)  # app-command checks do not run for forms
        if interaction.guild_id is None:
            return
        typed = submitted(list(data_of(interaction).get("components") or []))
        notes: list[str] = []
        date = None
        if typed.get("date", "").strip():
            date = normalise_date(typed["date"])  # never "01/02/2026": that would be a guess
            if date is None:
                # A modal cannot be shown again with what was typed, so refusing would lose the text:
                # keep the article, leave the date out (never guessed), and say so.
                notes.append(f"The date “{embeds.escape(typed['date'])}” was not understood; stored without a date.")
        url = None
        if typed.get("url", "").strip():
            url = embeds.safe_url(typed["url"].strip().strip("<>"))  # as /corpus add-url takes it
            if url is None:
                notes.append("The link is not an http(s) address; stored without a link.")
        text = clean.clean_text(typed.get("body", ""))
        await respond.defer(interaction, ephemeral=True)
        article = Article(
            text=text,
            title=typed.get("title", ""),  # tidied as every added article's metadata is
            source=typed.get("outlet", ""),
            date=date,
            url=url,
        )
        report = await self.bot.library.add_articles(
            [(article, "the text you typed")] if text.strip() else [],
            guild_scope(interaction.guild_id),
            origin="discord:add-text",
            added_by=str(interaction.user.id),
        )
        if not text.strip():
            report.rejected.append(Rejected("the text you typed", "no article text left after cleaning"))
        self.log_report("add-text", interaction, report)
        embed = report_embed(report, what="the text you typed")
        if notes and report.added:  # about what was stored: nothing was
            embed.description = (embed.description or "") + "\n\n" + "\n".join(notes)
        await interaction.edit_original_response(embed=embeds.fit_embed(embed))

    # -- removing --------------------------------------------------------------------------------------------
    @app_commands.command(name="remove", description="Remove one of this server's articles.")
    @app_commands.describe(article="Start typing its title, outlet or #number")
    async def remove(self, interaction: discord.Interaction, article: str) -> None:
        article_id = parse_article_id(article)
        if article_id is None:
            await interaction.response.send_message(
                "Pick an article from the suggestions (or type its number, e.g. `#42`).", ephemeral=True
            )
            return
        # Acknowledge before writing: the write may wait on another process's transaction (busy timeout).
        await respond.defer(interaction, ephemeral=True)
        removed = await self.bot.library.remove(article_id, [self.scope(interaction)])
        if removed is None:
            shared = await self.bot.library.get(article_id, [SHARED_SCOPE])
            message = (
                f"Article #{article_id} is part of the host's shared corpus, which servers can't change."
                if shared is not None
                else f"This server has no article #{article_id}. `/corpus list` shows the numbers."
            )
            await respond.finish(interaction, ephemeral=True, content=message)
            return
        log.info(
            "event=corpus_remove guild=%s user=%s article=%d", interaction.guild_id, interaction.user.id, removed.id
        )
        label = embeds.citation_text(Citation(removed.id, removed.title, removed.source, removed.date, removed.url))
        await respond.finish(interaction, ephemeral=True, content=f"Removed `#{removed.id}` {label}.")

    remove.autocomplete("article")(own_articles)

    # -- reading ---------------------------------------------------------------------------------------------
    @app_commands.command(name="list", description="List this server's articles, newest first.")
    @app_commands.describe(
        search="Only titles or outlets containing this", shared="List the host's shared corpus instead"
    )
    async def list_articles(
        self,
        interaction: discord.Interaction,
        search: app_commands.Range[str, 1, SEARCH_MAX] | None = None,
        shared: bool = False,
    ) -> None:
        assert interaction.guild_id is not None  # guild_only
        if shared and not self.bot.settings.shared_corpus:
            await interaction.response.send_message("This bot does not share a corpus with servers.", ephemeral=True)
            return
        page = await list_page(self.bot, interaction.guild_id, shared, search, 0)
        view = list_view(page, shared, search) or discord.utils.MISSING
        await interaction.response.send_message(embed=page.embed, view=view, ephemeral=True)

    @app_commands.command(name="show", description="Show one article: where it is from and how it begins.")
    @app_commands.describe(article="Start typing its title, outlet or #number")
    async def show(self, interaction: discord.Interaction, article: str) -> None:
        article_id = parse_article_id(article)
        found = None
        if article_id is not None:
            found = await self.bot.library.get(article_id, self.readable_scopes(interaction), with_text=True)
        if found is None:
            await interaction.response.send_message(
                "No such article here. Pick one from the suggestions, or see `/corpus list`.", ephemeral=True
            )
            return
        embed = embeds.article_embed(
            article_id=found.id,
            title=found.title,
            source=found.source,
            date=found.date,
            url=found.url,
            body=found.text,
            scope_label="Shared corpus (read-only)" if found.scope == SHARED_SCOPE else "This server",
            added_at=found.added_at,
            added_by=found.added_by,
        )
        await interaction.response.send_message(embed=embed, ephemeral=True)

    show.autocomplete("article")(readable_articles)

    @app_commands.command(
        name="gaps", description="Recent questions nobody could answer, or only unsure: what the articles are missing."
    )
    async def gaps(self, interaction: discord.Interaction) -> None:
        rows = await self.bot.library.gaps(self.scope(interaction), 15)
        if not rows:
            text = "No unanswered questions in the last 30 days. 🎉"
        else:
            lines = [
                f"**{gap.times}×** {embeds.escape(embeds.trim(embeds.one_line(gap.question), 150))}"
                f" · last {embeds.human_date(gap.last_asked)}{' · answered unsure' if gap.unsure else ''}"
                for gap in rows
            ]
            text = "\n".join(lines) + "\n\nAdd articles that answer them with `/corpus add-url`."
        await interaction.response.send_message(
            embed=embeds.notice(text, title="Questions without an answer (30 days)"), ephemeral=True
        )

    @app_commands.command(
        name="moderators", description="Choose the role that may manage articles (besides Manage Server)."
    )
    @app_commands.describe(role="Members with this role may manage articles", clear="Remove the moderator role")
    async def moderators(
        self, interaction: discord.Interaction, role: discord.Role | None = None, clear: bool = False
    ) -> None:
        assert interaction.guild_id is not None
        scope = self.scope(interaction)
        library = self.bot.library
        # Acknowledge before writing: the write may wait on another process's transaction (busy timeout).
        await respond.defer(interaction, ephemeral=True)
        if clear:
            await library.set_setting(scope, MODERATOR_ROLE_KEY, None)
            message = "Done: only members with **Manage Server** can manage articles now."
        elif role is None:
            current = await moderator_role_id(self.bot, interaction.guild_id)
            message = (
                f"Members with **Manage Server** or the <@&{current}> role can manage articles."
                if current
                else "Only members with **Manage Server** can manage articles. Pick a role to add moderators."
            )
        elif role.is_default() or role.managed:
            message = "Pick a role members are given (not @everyone or a bot's own role)."
        else:
            await library.set_setting(scope, MODERATOR_ROLE_KEY, str(role.id))
            log.info(
                "event=moderator_role guild=%s user=%s role=%s", interaction.guild_id, interaction.user.id, role.id
            )
            message = f"Done: members with the <@&{role.id}> role can now manage this server's articles."
        await respond.finish(interaction, ephemeral=True, content=message)


async def setup(bot: CitebotBot) -> None:
    await bot.add_cog(Corpus(bot))
    # Registered by class, so the pages of a list sent before a restart still turn.
    bot.add_dynamic_items(ListButton)
    bot.form_ids.add(ADD_TEXT_FORM)  # answered by Corpus.on_interaction, not by discord.py
