"""From ranked candidate sentences to an Answer: abstain or quote, merge duplicate sentences, cite.

The ranking settings live here too (AnswerParams); the Library applies them and does the I/O. Pure functions
over plain data. Every quote's text is a stored sentence, verbatim.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Sequence
from dataclasses import dataclass, field

from bot.core.index import BM25Params
from bot.core.models import Answer, Citation, Quote
from bot.core.text import tokenize


@dataclass(frozen=True, slots=True)
class AnswerParams:
    """Ranking and abstention settings. How the defaults were chosen: docs/answer-quality-log.md."""

    quotes: int = 3
    # Sentences are short: length matters less than in articles (k1 = 1.2, b = 0.3, by cross-validation).
    sentence_bm25: BM25Params = field(default_factory=lambda: BM25Params(k1=1.2, b=0.3))
    article_bm25: BM25Params = field(default_factory=BM25Params)
    # Sentence score and article score are each divided by their best value for the question, then mixed:
    # a sentence is evidence inside a relevant article ("He claimed the systems thwarted the assault.").
    article_weight: float = 3.0
    # Plus this times the share of the question's IDF mass the sentence itself holds (coordination):
    # a sentence naming more of what was asked beats one repeating a single word.
    coverage_weight: float = 0.5
    # Quotes are chosen from the sentences of this many best articles (by article BM25).
    articles_read: int = 50
    # The reader (bot/core/reader.py) re-ranks this many first-stage candidates ...
    candidates: int = 25
    # ... plus the sentence after each of this many best ones ("She died on Friday." "She was 81.").
    neighbours: int = 6
    # ... plus this many sentences of the best few articles that hold a synonym of a question word.
    related_candidates: int = 4
    related_articles: int = 3
    # A quote's article may hold at most this much less of the question (its share of IDF mass) than the article
    # holding the most of it: quotes stay on the story asked about. None: no limit.
    off_story_gap: float | None = 0.4
    # Below this confidence the quotes are framed as the closest found, which may not answer: as likely as not,
    # the corpus does not hold the answer. Held out, that framing marked 6-15 % of first quotes that answered
    # and 54-92 % of the quotes given where the answer had been removed or the corpus was another
    # (docs/answer-quality-log.md).
    hedge_below: float = 0.5


@dataclass(frozen=True, slots=True)
class Candidate:
    """A candidate sentence with everything composition needs."""

    sentence_id: int
    text: str
    score: float  # the reader's
    citation: Citation
    context: str | None = None  # the preceding sentence, shown before a quote that refers back to it
    answer_spans: tuple[tuple[int, int], ...] = ()  # spans of the expected answer type in ``text``
    # The terms of ``text`` when the store already holds them (what tokenize(text) gives), else None.
    terms: Sequence[str] | None = None


_SINGLE_QUOTES = re.compile(r"[\u2018\u2019\u201a\u201b]")
_DOUBLE_QUOTES = re.compile(r"[\u201c\u201d\u201e\u201f]")


def named(words: Sequence[str]) -> str:
    """“beirut”, “beirut” or “dwp”, “a”, “b” or “c”."""
    quoted = [f"“{w}”" for w in words]
    return " or ".join([", ".join(quoted[:-1]), quoted[-1]] if len(quoted) > 1 else quoted)


def framing(quotes: Sequence[Quote], *, hedged: bool = False, unheard: Sequence[str] = ()) -> str:
    """'3 quotes from 2 articles:' for the quotes shown; hedged: they may not answer, and ``unheard``, the
    question's words no article holds, may say why."""
    articles = len({c.article_id for q in quotes for c in q.citations})
    counted = (
        f"{len(quotes)} quote{'s' if len(quotes) != 1 else ''} from {articles} article{'s' if articles != 1 else ''}"
    )
    if not hedged:
        return f"{counted}:"
    these = "these answer" if len(quotes) != 1 else "this answers"
    why = f": no article mentions {named(unheard)}" if unheard else ""
    return f"I'm not sure {these} it{why}. The closest I found, {counted}:"


def quote_key(text: str) -> str:
    """Sentences equal up to case, spacing and quote style are the same quote."""
    text = unicodedata.normalize("NFKC", text).casefold()
    if not text.isascii():  # curly quotes are not ASCII: most sentences skip both
        text = _SINGLE_QUOTES.sub("'", text)
        text = _DOUBLE_QUOTES.sub('"', text)
    return " ".join(text.split())  # \s is str.isspace() (checked over every code point): what split() splits on


def compose(
    question: str,
    candidates: Sequence[Candidate],
    params: AnswerParams,
    *,
    confidence: float,
    threshold: float,
    articles_searched: int,
    ranked_articles: Sequence[Citation] = (),
    closest: Sequence[Citation] = (),
    offset: int = 0,
    question_tokens: frozenset[str] = frozenset(),
    unheard: Sequence[str] = (),
) -> Answer:
    """Merge duplicate sentences (keeping every citation), keep the best ``params.quotes``, or abstain.

    ``confidence`` is the reader's probability that the articles answer the question; below ``threshold``
    the answer abstains and names the ``closest`` articles instead (at most three). ``unheard``: the question's
    words no article holds, named when the answer abstains or hedges.
    """
    merged: dict[str, list[Candidate]] = {}
    for candidate in candidates:  # already best first
        merged.setdefault(quote_key(candidate.text), []).append(candidate)
    groups = list(merged.values())
    if not groups or confidence < threshold:
        closest = tuple(closest[:3])
        message = "I couldn't find anything in the articles I have that answers this."
        if not articles_searched:
            message = "There are no articles here yet, so I have nothing to quote."
        else:
            if unheard:
                message += f" None of them mentions {named(unheard)}."
            if closest:
                message += " The closest articles are listed below."
        return Answer(
            question=question,
            abstained=True,
            message=message,
            closest=closest,
            articles_searched=articles_searched,
            ranked_articles=tuple(ranked_articles),
            confidence=confidence,
            unheard=tuple(unheard),
        )
    quotes: list[Quote] = []
    for group in groups[offset : offset + params.quotes]:
        citations: dict[int, Citation] = {}
        for candidate in group:
            citations.setdefault(candidate.citation.article_id, candidate.citation)
        # Oldest first, so a reader sees when each outlet reported the sentence.
        ordered = sorted(citations.values(), key=lambda c: (c.date or "9999", c.article_id))
        quotes.append(
            Quote(
                text=group[0].text,
                score=group[0].score,
                # not again when an earlier quote of this answer is that very sentence
                context=None if _shown_above(group[0].context, quotes) else group[0].context,
                answer_spans=group[0].answer_spans,
                citations=tuple(ordered),
                # The question's words to bold: from the stored terms, or tokenised again (only the quotes shown).
                matched_terms=frozenset(
                    question_tokens.intersection(
                        group[0].terms if group[0].terms is not None else tokenize(group[0].text)
                    )
                ),
            )
        )
    hedged = bool(quotes) and confidence < params.hedge_below  # "no more quotes" hedges nothing
    unheard = tuple(unheard) if hedged else ()
    message = (
        framing(quotes, hedged=hedged, unheard=unheard) if quotes else "There are no more quotes for this question."
    )
    return Answer(
        question=question,
        abstained=False,
        message=message,
        quotes=tuple(quotes),
        articles_searched=articles_searched,
        ranked_articles=tuple(ranked_articles),
        confidence=confidence,
        hedged=hedged,
        unheard=unheard,
    )


def _shown_above(context: str | None, quotes: Sequence[Quote]) -> bool:
    return context is not None and any(quote_key(q.text) == quote_key(context) for q in quotes)
