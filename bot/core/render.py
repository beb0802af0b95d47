"""Answers as plain text (terminal) and JSON (scripts). The Discord embed lives in bot/discord/embeds.py."""

from __future__ import annotations

import json
import re
import textwrap
from collections.abc import Sequence

from bot.core.models import Answer, Citation

UNKNOWN = "unknown"


def citation_line(citation: Citation) -> str:
    """'Title — Outlet, 2026-01-05' with "unknown" for what the source did not say."""
    title = citation.title or "Untitled article"
    return f"{title} — {citation.source or UNKNOWN}, {citation.date or 'date ' + UNKNOWN}"


BOLD, PLAIN = "\033[1m", "\033[0m"


def wrap_marked(text: str, spans: Sequence[tuple[int, int]], width: int, *, bold: bool) -> list[str]:
    """Wrap ``text`` at spaces; with ``bold``, the characters inside ``spans`` are wrapped in ANSI bold.

    Wrapping first and marking after would count the escape codes as width, so words carry their offsets.
    """
    lines: list[str] = []
    current: list[str] = []
    length = 0
    for match in re.finditer(r"\S+", text):
        word, start = match.group(), match.start()
        if bold and spans:
            word = "".join(
                f"{BOLD}{c}{PLAIN}" if any(s <= start + k < e for s, e in spans) else c for k, c in enumerate(word)
            ).replace(f"{PLAIN}{BOLD}", "")
        size = match.end() - start
        if current and length + 1 + size > width:
            lines.append(" ".join(current))
            current, length = [], 0
        length += size + (1 if current else 0)
        current.append(word)
    if current:
        lines.append(" ".join(current))
    return lines


def to_text(answer: Answer, width: int = 100, *, bold: bool = False) -> str:
    """Terminal text. With ``bold`` (a terminal), the span that answers (a number, a date, a name) is bold."""
    lines = [answer.message, ""]
    if answer.small_talk:
        return f'{answer.message} For example: citebot ask "Why did Johnson suspend Parliament?"\n'
    if answer.abstained:
        for citation in answer.closest:
            lines.append(f"  • {citation_line(citation)}  (#{citation.article_id})")
        if answer.closest:
            lines.append("")
        lines.append("Add an article that covers it (citebot add FILE|URL) and ask again.")
        lines += ["", searched_line(answer.articles_searched)]
        return "\n".join(lines).rstrip() + "\n"
    # Sources are numbered once, in order of first use; each quote ends with its [n] markers.
    sources: dict[int, tuple[int, Citation]] = {}
    for quote in answer.quotes:
        for citation in quote.citations:
            sources.setdefault(citation.article_id, (len(sources) + 1, citation))
    for quote in answer.quotes:
        markers = "".join(f"[{sources[c.article_id][0]}]" for c in quote.citations)
        if quote.context:  # the sentence it refers back to, verbatim, so "She was 81." says who
            lines += [f"  {line}" for line in textwrap.wrap(f"(before: “{quote.context}”)", width=width - 2)]
        spans = [(s + 1, e + 1) for s, e in quote.answer_spans]  # shifted by the opening quote mark
        lines += [f"  {line}" for line in wrap_marked(f"“{quote.text}” {markers}", spans, width - 2, bold=bold)]
        lines.append("")
    lines.append("Sources:")
    for number, citation in sources.values():
        lines.append(f"  [{number}] {citation_line(citation)}  (#{citation.article_id})")
        if citation.url:
            lines.append(f"      {citation.url}")
    lines.append("")
    lines.append(searched_line(answer.articles_searched))
    return "\n".join(lines) + "\n"


def searched_line(articles: int) -> str:
    return f"Searched {articles} article{'s' if articles != 1 else ''}."


def to_json(answer: Answer) -> str:
    """One object; each quote carries its first citation's fields, and all of them under "citations"."""
    quotes = []
    for quote in answer.quotes:
        first = quote.citations[0]
        quotes.append(
            {
                "text": quote.text,
                **({"context": quote.context} if quote.context else {}),
                "answer_spans": [list(span) for span in quote.answer_spans],
                "article_id": first.article_id,
                "title": first.title,
                "source": first.source,
                "date": first.date,
                "url": first.url,
                "score": round(quote.score, 6),
                "citations": [_citation(c) for c in quote.citations],
            }
        )
    payload = {
        "question": answer.question,
        "abstained": answer.abstained,
        "confidence": round(answer.confidence, 4),
        "hedged": answer.hedged,
        "message": answer.message,
        "unheard": list(answer.unheard),
        "quotes": quotes,
        "closest": [_citation(c) for c in answer.closest],
        "articles_searched": answer.articles_searched,
    }
    return json.dumps(payload, ensure_ascii=False, indent=2)


def _citation(citation: Citation) -> dict[str, object]:
    return {
        "article_id": citation.article_id,
        "external_id": citation.external_id,
        "title": citation.title,
        "source": citation.source,
        "date": citation.date,
        "url": citation.url,
    }
