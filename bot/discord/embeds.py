"""Answers and articles as Discord embeds: pure functions over core data, no I/O.

Everything shown here is third-party text (article sentences, titles, outlets) or a member's question.
Both are escaped so they cannot format, mask a link, render a mention or ping anyone, and the matched
words are bolded *after* escaping, from spans computed on the original text. Discord's limits
(https://discord.com/developers/docs/resources/message#embed-object-embed-limits) are respected by
construction and checked at the end, because Discord rejects the whole message (50035) otherwise.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import quote as url_quote
from urllib.parse import urlsplit

import discord

from bot.core import text as core_text
from bot.core.answer import framing
from bot.core.models import Answer, Citation, Quote

if TYPE_CHECKING:
    from bot.core.store import StoredArticle

# Discord's limits.
TITLE_LIMIT = 256
DESCRIPTION_LIMIT = 4096
FIELD_NAME_LIMIT = 256
FIELD_VALUE_LIMIT = 1024
FIELD_COUNT_LIMIT = 25
FOOTER_LIMIT = 2048
AUTHOR_LIMIT = 256
EMBED_TOTAL_LIMIT = 6000
CONTENT_LIMIT = 2000
URL_LIMIT = 512  # longer links are legal but unreadable on a phone and eat the field budget; we leave them out

# Our own budgets, chosen for a phone screen: a quote longer than this is trimmed with a link to the article.
QUOTE_CHARS = 600
CONTEXT_CHARS = 300  # a quote's preceding sentence is shown shorter than the quote itself
TITLE_CHARS = 90  # an article title in a sources list
OUTLET_CHARS = 40
CITATIONS_PER_QUOTE = 3

ANSWER_COLOUR = discord.Colour(0x2B6CB0)
ABSTAIN_COLOUR = discord.Colour(0x718096)
HEDGED_COLOUR = discord.Colour(0xB7791F)  # quoted, but maybe not an answer: amber between answer and abstain
ARTICLE_COLOUR = discord.Colour(0x2F855A)
ERROR_COLOUR = discord.Colour(0xC53030)

ELLIPSIS = "…"
ZWSP = "\u200b"
UNTITLED = "Untitled article"
UNKNOWN = "unknown"

# Characters that start Discord markdown anywhere in a line. Discord accepts a backslash before any ASCII
# punctuation and hides it, so escaping unconditionally renders cleanly and leaves no pair to abuse.
_ALWAYS_ESCAPE = re.compile(r"([\\*_~|`\[\]<>])")
# Markdown that only counts at the start of a line: headings, subtext, lists ("> " is escaped above).
_LINE_START = re.compile(r"^(\s*)([#+-]|\d+\.)", re.MULTILINE)
# @everyone / @here work in plain text; <@id>, <@&id>, <#id>, </cmd:id>, <t:..> need the "<" we escape.
_MASS_MENTION = re.compile(r"@(everyone|here)", re.IGNORECASE)
# Bidirectional overrides can make text read differently from what it is; zero-width characters can
# hide a mention from a filter. Neither belongs in a quote.
_INVISIBLE = re.compile("[\u200b-\u200f\u202a-\u202e\u2060-\u2064\u2066-\u2069\ufeff]")
# Bare links are shown as they are (they are honest: the reader sees where they go); escaping inside
# them would corrupt the address, so they are left whole and never bolded.
_BARE_URL = re.compile(r"https?://[^\s<>\[\]]+[^\s<>\[\].,:;\"')\]]")


def _clean(text: str) -> str:
    return _INVISIBLE.sub("", text)


def _escape_plain(text: str) -> str:
    """Escape text that contains no link."""
    text = _ALWAYS_ESCAPE.sub(r"\\\1", text)
    return _MASS_MENTION.sub("@" + ZWSP + r"\1", text)


def escape(text: str) -> str:
    """Make third-party text inert in Discord markdown: no formatting, masked links, mentions or pings."""
    text = _clean(text)
    out: list[str] = []
    last = 0
    for match in _BARE_URL.finditer(text):
        out.append(_escape_plain(text[last : match.start()]))
        out.append(match.group())
        last = match.end()
    out.append(_escape_plain(text[last:]))
    return _LINE_START.sub(_escape_line_start, "".join(out))


def _escape_line_start(match: re.Match[str]) -> str:
    lead, mark = match.groups()
    # A backslash only escapes punctuation: "1." becomes "1\." (not "\1.", which would show the backslash).
    return lead + (mark[:-1] + "\\." if mark.endswith(".") else "\\" + mark)


def one_line(text: str) -> str:
    """Collapse whitespace (newlines would break a block quote or start markdown on a new line)."""
    return " ".join(text.split())


def trim(text: str, limit: int) -> str:
    """Cut plain text to ``limit`` characters at a word boundary, ending with an ellipsis when cut."""
    if len(text) <= limit:
        return text
    cut = text[: max(limit - 1, 0)]
    space = cut.rfind(" ")
    if space > limit // 2:  # a very long word: cut inside it rather than lose most of the text
        cut = cut[:space]
    return cut.rstrip(" ,;:-–—") + ELLIPSIS


def safe_url(url: str | None) -> str | None:
    """An http(s) URL fit for a masked link, or None: never a file path, javascript: or the like."""
    if not url:
        return None
    url = url.strip()
    try:
        parts = urlsplit(url)
    except ValueError:
        return None
    if parts.scheme.lower() not in {"http", "https"} or not parts.netloc or any(c.isspace() for c in url):
        return None
    # Characters that would end or confuse a masked link's target are percent-encoded.
    url = url_quote(url, safe=":/?#@!$&'*+,;=%~-._")
    return url if len(url) <= URL_LIMIT else None


def link(label: str, url: str | None) -> str:
    """``[label](<url>)`` with an already escaped label, or just the label when there is no usable URL."""
    target = safe_url(url)
    return f"[{label}](<{target}>)" if target else label


def human_date(date: str | None) -> str:
    """'2026-01-05' → '5 Jan 2026' (unambiguous in every locale); other strings are escaped as they are."""
    if not date:
        return f"date {UNKNOWN}"
    try:
        day = dt.date.fromisoformat(date[:10])
    except ValueError:
        return escape(trim(one_line(date), 20))
    return f"{day.day} {day:%b %Y}"


def citation_text(citation: Citation, *, linked: bool = True) -> str:
    """'Title — Outlet, 5 Jan 2026' with the title linked to the article when it has an http(s) URL."""
    title = escape(trim(one_line(citation.title or UNTITLED), TITLE_CHARS))
    outlet = escape(trim(one_line(citation.source or UNKNOWN), OUTLET_CHARS))
    title = link(title, citation.url) if linked else title
    return f"{title} — {outlet}, {human_date(citation.date)}"


def highlight(text: str, terms: Iterable[str], phrases: Iterable[str] = ()) -> str:
    """Escape ``text`` and bold the words whose index term (or lower-cased surface) is in ``terms``, and every
    occurrence of ``phrases`` (the span that answers: a number, a date, a name).

    Spans come from the original text, so escaping cannot shift them; neighbouring matches separated by
    spaces only are bolded together ("**Donald Trump**"), which reads better than two bold words.
    """
    wanted = {t.casefold() for t in terms}
    text = _clean(text)
    urls = [m.span() for m in _BARE_URL.finditer(text)]
    found: list[tuple[int, int]] = []
    if wanted:
        found += [
            (start, end)
            for start, end, term in core_text.token_spans(text)
            if term in wanted or text[start:end].casefold() in wanted
        ]
    for phrase in {p for p in (_clean(p).strip() for p in phrases) if p}:
        found += [(m.start(), m.end()) for m in re.finditer(re.escape(phrase), text)]
    spans: list[list[int]] = []
    for start, end in sorted(found):
        if any(s <= start < e for s, e in urls):
            continue
        if spans and start <= spans[-1][1]:
            spans[-1][1] = max(spans[-1][1], end)
        elif spans and not text[spans[-1][1] : start].strip():
            spans[-1][1] = end
        else:
            spans.append([start, end])
    out: list[str] = []
    last = 0
    for start, end in spans:
        out.append(escape(text[last:start]))
        out.append(f"**{escape(text[start:end])}**")
        last = end
    out.append(escape(text[last:]))
    return "".join(out)


def fit_embed(embed: discord.Embed) -> discord.Embed:
    """Last line of defence: clamp every part to Discord's limits (callers budget so this rarely cuts)."""
    if embed.title:
        embed.title = trim(embed.title, TITLE_LIMIT)
    if embed.description:
        embed.description = trim(embed.description, DESCRIPTION_LIMIT)
    if embed.footer.text:
        embed.set_footer(text=trim(embed.footer.text, FOOTER_LIMIT), icon_url=embed.footer.icon_url)
    fields = embed.fields[:FIELD_COUNT_LIMIT]
    embed.clear_fields()
    for f in fields:
        embed.add_field(
            name=trim(f.name or ZWSP, FIELD_NAME_LIMIT), value=trim(f.value or ZWSP, FIELD_VALUE_LIMIT), inline=f.inline
        )
    while len(embed) > EMBED_TOTAL_LIMIT and embed.fields:
        embed.remove_field(len(embed.fields) - 1)
    if len(embed) > EMBED_TOTAL_LIMIT and embed.description:
        embed.description = trim(embed.description, max(len(embed.description) - (len(embed) - EMBED_TOTAL_LIMIT), 1))
    return embed


def pack_lines(lines: Sequence[str], limit: int = FIELD_VALUE_LIMIT) -> list[str]:
    """Join lines into as few chunks of at most ``limit`` characters as possible (for field values)."""
    chunks: list[str] = []
    current = ""
    for line in lines:
        line = trim(line, limit)
        if current and len(current) + 1 + len(line) > limit:
            chunks.append(current)
            current = line
        else:
            current = f"{current}\n{line}" if current else line
    if current:
        chunks.append(current)
    return chunks


# -- answers ------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Numbered:
    quote: Quote
    markers: list[int]  # source numbers for this quote


def _number_sources(quotes: Sequence[Quote]) -> tuple[list[_Numbered], list[Citation]]:
    """Number sources in order of first appearance; a quote found in several articles gets several markers."""
    sources: list[Citation] = []
    index: dict[int, int] = {}
    numbered = []
    for q in quotes:
        markers = []
        for c in q.citations[:CITATIONS_PER_QUOTE]:
            if c.article_id not in index:
                sources.append(c)
                index[c.article_id] = len(sources)
            markers.append(index[c.article_id])
        numbered.append(_Numbered(q, markers))
    return numbered, sources


def _quote_block(item: _Numbered, limit: int, *, linked: bool = True) -> str:
    quote = item.quote
    body = one_line(quote.text)
    trimmed = trim(body, limit)
    shown = highlight(trimmed, quote.matched_terms, (quote.text[s:e] for s, e in quote.answer_spans))
    markers = "".join(f"[{n}]" for n in item.markers)
    extra = len(quote.citations) - CITATIONS_PER_QUOTE
    if extra > 0:
        markers += f" +{extra}"
    line = f"> “{shown}” **{markers}**"
    if quote.context:  # the sentence it refers back to, verbatim, so "She was 81." says who; labelled as the CLI
        # does, or on a phone it reads as a quote of its own without a source
        line = f"> *(before: “{escape(trim(one_line(quote.context), CONTEXT_CHARS))}”)*\n{line}"
    if trimmed != body and linked:
        url = next((c.url for c in quote.citations if safe_url(c.url)), None)
        if url:
            line += f" {link('full article', url)}"
    return line


def first_page(answer: Answer, per_page: int) -> tuple[Answer, bool]:
    """Keep ``per_page`` quotes of an answer asked for one more, and whether that extra one exists.

    Asking for one quote beyond the page is how "More quotes" is only offered when there are more.
    The framing line is rewritten to count what is shown.
    """
    if answer.abstained or len(answer.quotes) <= per_page:
        return answer, False
    quotes = answer.quotes[:per_page]
    return dataclasses.replace(
        answer, quotes=quotes, message=framing(quotes, hedged=answer.hedged, unheard=answer.unheard)
    ), True


def question_title(question: str) -> str:
    return trim(escape(one_line(question)), TITLE_LIMIT)


def answer_embed(answer: Answer, *, first_quote: int = 1) -> discord.Embed:
    """The answer: framing line, block-quoted quotes with [n] markers, a sources list, what was searched.

    ``first_quote`` > 1 for "More quotes" pages, so the footer says which quotes these are. When it does
    not fit, quotes are shortened first, then the sources lose their links, and only then are quotes
    dropped from the end; sources are numbered from the quotes kept, so every [n] shown is listed.
    """
    if answer.abstained:
        return abstain_embed(answer)
    limit = QUOTE_CHARS
    linked = True
    kept = list(answer.quotes)
    while True:
        numbered, sources = _number_sources(kept)
        message = (
            answer.message
            if len(kept) == len(answer.quotes)
            else framing(kept, hedged=answer.hedged, unheard=answer.unheard)
        )
        blocks = [_quote_block(item, limit, linked=linked) for item in numbered]
        description = "\n\n".join([escape(message), *blocks])
        embed = discord.Embed(
            title=question_title(answer.question),
            description=description,
            colour=HEDGED_COLOUR if answer.hedged else ANSWER_COLOUR,
        )
        source_lines = [f"**[{n}]** {citation_text(c, linked=linked)}" for n, c in enumerate(sources, 1)]
        for i, chunk in enumerate(pack_lines(source_lines)[:FIELD_COUNT_LIMIT]):
            embed.add_field(name="Sources" if i == 0 else ZWSP, value=chunk, inline=False)
        embed.set_footer(text=_answer_footer(answer.articles_searched, len(kept), first_quote))
        if len(description) <= DESCRIPTION_LIMIT and len(embed) <= EMBED_TOTAL_LIMIT:
            return embed
        if limit > 150:
            limit = int(limit * 0.7)
        elif linked:
            linked = False
        elif len(kept) > 1:
            kept.pop()
        else:
            return fit_embed(embed)


def _answer_footer(searched: int, shown: int, first_quote: int) -> str:
    footer = f"Searched {searched} article{'s' if searched != 1 else ''}"
    if shown == 1 and first_quote > 1:
        footer += f" · quote {first_quote}"
    elif shown and first_quote > 1:
        footer += f" · quotes {first_quote}–{first_quote + shown - 1}"
    return footer + " · quotes are verbatim; check the sources"


def abstain_embed(answer: Answer) -> discord.Embed:
    """Why there is no answer, the closest articles, and what a member can do about it."""
    if answer.small_talk:  # "thanks!", "hi": a friendly pointer, no articles to suggest
        return notice(f"{escape(answer.message)} See /help.")
    lines = [escape(answer.message)]
    if answer.closest:
        lines += ["", "**Closest articles**"]
        lines += [f"• {citation_text(c)}" for c in answer.closest[:5]]
    lines += [
        "",
        "If a trustworthy article covers this, ask a moderator to add it (`/corpus add-url`), then ask again.",
    ]
    embed = discord.Embed(title=question_title(answer.question), description="\n".join(lines), colour=ABSTAIN_COLOUR)
    embed.set_footer(text=f"Searched {answer.articles_searched} article{'s' if answer.articles_searched != 1 else ''}")
    return fit_embed(embed)


# -- articles -----------------------------------------------------------------------------------------------


def article_label(article_id: int, title: str | None, source: str | None, date: str | None, limit: int = 100) -> str:
    """'#42 Title — Outlet, 2026-01-05' as plain text (autocomplete names are not markdown), ≤ ``limit``."""
    tail = f" — {one_line(source or UNKNOWN)[:OUTLET_CHARS]}, {date or 'no date'}"
    head = f"#{article_id} "
    room = limit - len(head) - len(tail)
    if room < 12:  # an outlet name so long the title would vanish: drop the tail instead
        return trim(head + one_line(title or UNTITLED), limit)
    return head + trim(one_line(title or UNTITLED), room) + tail


def article_line(
    article_id: int, title: str | None, source: str | None, date: str | None, url: str | None, *, linked: bool = True
) -> str:
    """One line of a list: '`#42` [Title](url) — Outlet, 5 Jan 2026'."""
    citation = Citation(article_id, title, source, date, url)
    return f"`#{article_id}` {citation_text(citation, linked=linked)}"


def article_lines(articles: Sequence[StoredArticle], limit: int = DESCRIPTION_LIMIT) -> str:
    """``article_line`` for each, linked while the lines fit ``limit`` together: links with tracking parameters
    run to hundreds of characters, and a cut list loses its last articles. The longest links give way first."""
    lines = [article_line(a.id, a.title, a.source, a.date, a.url) for a in articles]
    for i in sorted(range(len(articles)), key=lambda i: (-len(articles[i].url or ""), -i)):  # the last first
        if sum(map(len, lines)) + len(lines) - 1 <= limit:
            break
        a = articles[i]
        lines[i] = article_line(a.id, a.title, a.source, a.date, a.url, linked=False)
    return "\n".join(lines)


def article_embed(
    *,
    article_id: int,
    title: str | None,
    source: str | None,
    date: str | None,
    url: str | None,
    body: str,
    scope_label: str,
    added_at: str | None = None,
    added_by: str | None = None,
    preview_chars: int = 1500,
) -> discord.Embed:
    """One stored article: metadata and the start of its text (escaped, trimmed, linked)."""
    target = safe_url(url)
    embed = discord.Embed(
        title=trim(escape(one_line(title or UNTITLED)), TITLE_LIMIT), url=target, colour=ARTICLE_COLOUR
    )
    paragraphs = [one_line(p) for p in body.split("\n\n") if p.strip()]
    preview = trim("\n\n".join(paragraphs), preview_chars)
    description = "\n\n".join(escape(p) for p in preview.split("\n\n"))
    if preview != "\n\n".join(paragraphs) and target:
        description += f"\n\n{link('Read the full article', target)}"
    embed.description = description or "*(no text)*"
    embed.add_field(name="Outlet", value=escape(trim(one_line(source or UNKNOWN), 200)), inline=True)
    embed.add_field(name="Date", value=human_date(date), inline=True)
    embed.add_field(name="Where", value=scope_label, inline=True)
    if added_by and added_by.isdigit():
        # A mention inside an embed never pings; it shows the moderator's name.
        embed.add_field(name="Added by", value=f"<@{added_by}>", inline=True)
    if added_at:
        embed.add_field(name="Added", value=human_date(added_at), inline=True)
    embed.set_footer(text=f"Article #{article_id}")
    return fit_embed(embed)


def notice(text: str, *, title: str | None = None, colour: discord.Colour | None = None) -> discord.Embed:
    """A short message (our own wording, not escaped) as an embed."""
    return fit_embed(discord.Embed(title=title, description=text, colour=colour or ANSWER_COLOUR))
