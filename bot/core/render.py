"""Answers as plain text (terminal) and JSON (scripts). The Discord embed lives in bot/discord/embeds.py."""

from __future__ import annotations

import json
import textwrap

from bot.core.models import Answer, Citation

UNKNOWN = "unknown"


def citation_line(citation: Citation) -> str:
    """'Title — Outlet, 2026-01-05' with "unknown" for what the source did not say."""
    title = citation.title or "Untitled article"
    return f"{title} — {citation.source or UNKNOWN}, {citation.date or 'date ' + UNKNOWN}"


def to_text(answer: Answer, width: int = 100) -> str:
    lines = [answer.message, ""]
    if answer.abstained:
        for citation in answer.closest:
            lines.append(f"  • {citation_line(citation)}  (#{citation.article_id})")
        if answer.closest:
            lines.append("")
        lines.append("Add an article that covers it (citebot add FILE|URL) and ask again.")
        return "\n".join(lines).rstrip() + "\n"
    # Sources are numbered once, in order of first use; each quote ends with its [n] markers.
    sources: dict[int, tuple[int, Citation]] = {}
    for quote in answer.quotes:
        for citation in quote.citations:
            sources.setdefault(citation.article_id, (len(sources) + 1, citation))
    for quote in answer.quotes:
        markers = "".join(f"[{sources[c.article_id][0]}]" for c in quote.citations)
        wrapped = textwrap.wrap(f"“{quote.text}” {markers}", width=width - 2) or [""]
        lines += [f"  {line}" for line in wrapped]
        lines.append("")
    lines.append("Sources:")
    for number, citation in sources.values():
        lines.append(f"  [{number}] {citation_line(citation)}  (#{citation.article_id})")
        if citation.url:
            lines.append(f"      {citation.url}")
    lines.append("")
    lines.append(f"Searched {answer.articles_searched} articles.")
    return "\n".join(lines) + "\n"


def to_json(answer: Answer) -> str:
    """One object; each quote carries its first citation's fields, and all of them under "citations"."""
    quotes = []
    for quote in answer.quotes:
        first = quote.citations[0]
        quotes.append(
            {
                "text": quote.text,
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
        "message": answer.message,
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
