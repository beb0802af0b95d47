"""The plain data that flows through the core: source → Article → Sentence → Quote → Answer."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import NamedTuple

SHARED_SCOPE = "shared"  # the host's corpus, seen by every server; a server's own articles are guild:<id>


def is_scope(text: str) -> bool:
    """Whose articles: the host's ('shared') or one server's (guild:<server id>)."""
    return text == SHARED_SCOPE or (text.startswith("guild:") and text.removeprefix("guild:").isdigit())


MAX_RETENTION_DAYS = 36_500  # logged questions kept longer overflow the date their age is counted back from


@dataclass(frozen=True, slots=True)
class Article:
    """One news article after parsing and cleaning.

    ``text`` is the cleaned body, paragraphs separated by a blank line. Every quote the bot shows is a
    substring of it. Metadata that could not be found or inferred is ``None`` (rendered "unknown"),
    never invented.
    """

    text: str
    title: str | None = None
    source: str | None = None  # the outlet, e.g. "The Independent"
    date: str | None = None  # ISO YYYY-MM-DD
    url: str | None = None
    author: str | None = None
    external_id: str | None = None  # the id a bulk file gave it (JSON lines "id")


@dataclass(frozen=True, slots=True)
class Rejected:
    """Input that could not become an article, with where it was and why (shown to the user)."""

    where: str  # a file name, "file.jsonl:17", a URL
    reason: str


@dataclass(slots=True)
class ParseResult:
    """What one source yielded: the articles, and the parts that were refused."""

    articles: list[Article] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    bulk: bool = False  # from a JSON (lines) file: one article per record, not one per file


@dataclass(frozen=True, slots=True)
class Sentence:
    """A sentence of an article's text: ``text == article.text[start:end]``."""

    start: int
    end: int
    text: str


@dataclass(frozen=True, slots=True)
class Citation:
    article_id: int
    title: str | None
    source: str | None
    date: str | None
    url: str | None
    external_id: str | None = None


@dataclass(frozen=True, slots=True)
class Quote:
    """A verbatim sentence with every article it appears in (the same sentence in two articles is one quote)."""

    text: str
    score: float
    citations: tuple[Citation, ...]
    matched_terms: frozenset[str] = frozenset()  # the question's tokens (stems) that the quote holds
    # The verbatim sentence before it, shown first when the quote refers back to it ("She was 81.").
    context: str | None = None
    # Character spans of ``text`` holding the kind of answer the question asks for (a number, a date, a name).
    answer_spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True, slots=True)
class Gap:
    """A recent question the articles did not answer, for the moderators' gaps report."""

    question: str  # lower-cased and trimmed: the same question asked twice is one gap
    times: int
    last_asked: str
    unsure: bool  # every time it was asked, quotes came with a hedge (none abstained): maybe answered


@dataclass(frozen=True, slots=True)
class LoggedQuestion:
    """A question as the query log keeps it (for feedback and the gaps report; purged after the retention days)."""

    question: str
    scope: str  # where it was asked (a guild's scope), not what it searched
    user_id: str | None
    abstained: bool
    latency_ms: float
    n_quotes: int  # the quotes shown
    hedged: bool = False


@dataclass(frozen=True, slots=True)
class Answer:
    question: str
    abstained: bool
    message: str  # the framing line
    quotes: tuple[Quote, ...] = ()
    closest: tuple[Citation, ...] = ()  # when abstaining: the nearest articles, if any
    articles_searched: int = 0
    ranked_articles: tuple[Citation, ...] = ()  # best first; used by evaluation and "more quotes"
    query_id: int | None = None  # the query-log row, for feedback
    confidence: float = 0.0  # the reader's probability that the articles answer the question (0..1)
    small_talk: bool = False  # "hi", "thanks!": not a question, answered with a pointer to /help
    hedged: bool = False  # quoted, but the reader is not sure the quotes answer (AnswerParams.hedge_below)
    unheard: tuple[str, ...] = ()  # words of the question no article holds, named when abstaining or hedged


class ChangeRef(NamedTuple):
    """What one log entry did: a snapshot records its last, so a start can tell a store that went another way
    after a copy (a restored backup, a copied store) from the one the snapshot was made of."""

    kind: str
    article_id: int | None
    content_hash: str | None  # the article's, while it is stored (None once removed: nothing left to compare)

    def matches(self, other: ChangeRef) -> bool:
        same_content = None in (self.content_hash, other.content_hash) or self.content_hash == other.content_hash
        return self.kind == other.kind and self.article_id == other.article_id and same_content


CHANGE_AT_SQL = (
    "SELECT c.kind, c.article_id, a.content_hash FROM changes c LEFT JOIN articles a ON a.id = c.article_id"
    " WHERE c.seq = $1"
)
