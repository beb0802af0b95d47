"""The core's one entry point for adapters: add, remove, list and ask, over the store and the in-memory index.

Data flows one way: source → Article (ingest) → Sentences and tokens (text) → BM25 (index) → Answer (answer).
Writes commit to SQLite first and reach the index after, so a question never sees half an article.
"""

from __future__ import annotations

import asyncio
import builtins  # Library.list shadows the builtin inside the class
import concurrent.futures
import contextlib
import dataclasses
import hashlib
import logging
import math
import multiprocessing
import multiprocessing.forkserver
import os
import re
import secrets
import select
import signal
import threading
import time
import unicodedata
from collections import deque
from collections.abc import AsyncIterator, Callable, Iterable, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from itertools import chain, islice
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from bot.core import analysis, clean, fetch, ingest, reader, semantic, snapshot, text
from bot.core.analysis import TITLE_REPEAT
from bot.core.answer import AnswerParams, Candidate, compose
from bot.core.errors import ReindexNeeded, StoreUnavailable
from bot.core.index import MERGE_FAN_IN, BM25Index, BM25Params, top_k_order
from bot.core.models import (
    SHARED_SCOPE,
    Answer,
    Article,
    ChangeRef,
    Citation,
    Gap,
    LoggedQuestion,
    ParseResult,
    Rejected,
)
from bot.core.store import (
    ChangeBatch,
    NewArticle,
    OriginRow,
    ReadView,
    RemovedArticle,
    SentenceWindow,
    Store,
    StoredArticle,
    open_store,
    unpack_terms,
    unusable_store,
)

log = logging.getLogger(__name__)
# An abstention names an article as the closest only when it holds at least this share of the question's IDF mass.
CLOSEST_COVER = 0.5
# "What's the latest on X": the newest of this many best-ranked articles is quoted first.
LATEST_AMONG = 5
# "400m", "5km", "2020s": a number with a unit glued on, as members type it
_NUMBER_WITH_UNIT = re.compile(r"(\d+)[a-z]+")
# Not a gene's or a model's name ("mbd3", "wdr5", "notch1": one digit, or a short stem), which it would confuse with
# its family's: only a long word with a year or a number of two digits or more.
_WORD_WITH_NUMBER = re.compile(r"([a-z]{4,})\d{2,}")

INSERT_BATCH = 200  # articles per transaction in bulk imports (each article is still all-or-nothing)
PARALLEL_FROM = 2 * INSERT_BATCH  # articles from which a bulk import splits and tokenises in worker processes
PREPARE_AHEAD = 4  # chunks prepared ahead of the writer: keeps every worker busy, bounds memory
READ_AT_ONCE = 32  # files read per hop to a worker thread: one hop per file cost a second per 5,000 small files
BULK_SENTENCES = 500  # from this many sentences on, a write is indexed as a bulk segment
SMALL_TALK_MESSAGE = "Hi! Ask me a question about the news (who, what, when, why…) and I'll quote the articles."
# Longer questions are cut here before anything is scored or stored: a question, not an article.
MAX_QUESTION_CHARS = 1000
FOLLOW_BACKOFF_SECONDS = 30.0  # the longest wait between catch-ups while they fail
CATCH_UP_SECONDS = 1.0  # a long-running process looks for other processes' changes this often (answers look first)
SNAPSHOT_SECONDS = 300.0  # and saves a snapshot this often when its index changed
# A short-lived process (a CLI command) saves a snapshot on closing only this far ahead of the last one: one
# `citebot add` should not rewrite a large file; the next process applies the few changes from the log.
CLOSE_SNAPSHOT_AFTER_CHANGES = 1_000
# The newest change-log entries kept when the bot prunes the log (after each snapshot it saves): an index or
# snapshot that many changes behind still catches up entry by entry; one further behind rebuilds from the store.
CHANGE_LOG_KEEP = 10_000
CATCH_UP_WAIT_SECONDS = 0.25  # how long a question waits for index work in progress before answering without it
ANALYSIS_VERSION = analysis.compute()
SEEDED_KEY = "corpus_seeded"
SEEDING_KEY = "corpus_seeding"

Progress = Callable[[int, int], None]
SentenceCount = Callable[[int], None]  # told how many sentences each stored batch held (for a rate)


def guild_scope(guild_id: int) -> str:
    return f"guild:{guild_id}"


def content_hash(body: str, *, normal: bool = False) -> str:
    """Same text up to case and spacing is the same article, whatever the metadata says. ``normal``: the caller
    found ``clean.is_normal(body)``, so text of ASCII skips splitting into words (the same digest: test_clean)."""
    if normal and body.isascii():
        # NFKC leaves ASCII as it is and casefold is lower; in normal ASCII text the only runs of whitespace are
        # single spaces and paragraph breaks ("\n\n"), so this is the line below at a tenth of its cost.
        flat = body.lower().replace("\n\n", " ")
    else:
        flat = " ".join(unicodedata.normalize("NFKC", body).casefold().split())  # = re.sub(r"\s+", " ", …).strip()
    return hashlib.sha256(flat.encode("utf-8")).hexdigest()


def _pack(term_ids: Sequence[int]) -> bytes:
    return np.asarray(term_ids, dtype="<u4").tobytes()


@dataclass(frozen=True, slots=True)
class AddResult:
    # "added", "unchanged", "replaced" (an earlier version of a file indexed again, now removed), "moved" (its file
    # was renamed), "gone" (its file is no longer in the folder indexed) or "pruned" (and so it was removed)
    status: str
    article_id: int
    title: str | None
    where: str
    sentences: int = 0
    previous: str | None = None  # a moved article's path before


@dataclass(slots=True)
class IndexReport:
    added: list[AddResult] = field(default_factory=list)
    unchanged: list[AddResult] = field(default_factory=list)
    rejected: list[Rejected] = field(default_factory=list)
    replaced: list[AddResult] = field(default_factory=list)
    moved: list[AddResult] = field(default_factory=list)
    gone: list[AddResult] = field(default_factory=list)
    pruned: list[AddResult] = field(default_factory=list)

    def extend(self, other: IndexReport) -> None:
        self.added += other.added
        self.unchanged += other.unchanged
        self.rejected += other.rejected
        self.replaced += other.replaced
        self.moved += other.moved
        self.gone += other.gone
        self.pruned += other.pruned


def _report(results: Iterable[AddResult]) -> IndexReport:
    """Articles added or found unchanged (Library._add's results), as a report."""
    report = IndexReport()
    for result in results:
        (report.added if result.status == "added" else report.unchanged).append(result)
    return report


@dataclass(frozen=True, slots=True)
class _Prepared:
    """One article split and tokenised, in a few objects: what a worker process sends back is some small arrays
    and the article's distinct terms, not a list of strings per sentence (nor the text, unless it changed)."""

    body: str | None  # the normalised text when it differs from the article's, else None
    content_hash: str
    terms: list[str]  # the article's distinct terms, in order of first appearance (title first)
    # The article's tokens (the title TITLE_REPEAT times, then the body) as positions in terms.
    tokens: npt.NDArray[np.uint32]
    title_tokens: int  # how many of ``tokens`` the repeated title takes
    sentences: npt.NDArray[np.int64]  # rows start, end, end of the sentence's tokens in ``tokens``

    def packed(self) -> _PackedPrepared:
        """Plain strings and bytes, to cross the process boundary: a frozen dataclass and its arrays pickle through
        Python-level __getstate__/__reduce__ calls (measured: most of the cost of sending a result back)."""
        return (
            self.body,
            self.content_hash,
            self.terms,
            self.tokens.tobytes(),
            self.title_tokens,
            self.sentences.tobytes(),
        )

    @classmethod
    def unpacked(cls, packed: _PackedPrepared) -> _Prepared:
        body, content_hash, terms, tokens, title_tokens, sentences = packed
        rows = np.frombuffer(sentences, dtype=np.int64).reshape(-1, 3)
        return cls(body, content_hash, terms, np.frombuffer(tokens, dtype=np.uint32), title_tokens, rows)


_PackedPrepared = tuple[str | None, str, list[str], bytes, int, bytes]


@dataclass(frozen=True, slots=True)
class _ToAdd:
    """One article to store: what the report calls it (``where``) and what the store keeps as its origin."""

    article: Article
    where: str
    origin: str
    added_at: str | None = None  # when it was first added, if not now (a restored export)


@dataclass(frozen=True, slots=True)
class _Ready:
    """A prepared article back with the writer."""

    item: _ToAdd  # its text normalised (_Prepared.body)
    prepared: _Prepared

    @property
    def content_hash(self) -> str:
        return self.prepared.content_hash


def _prepare(article_text: str, title: str | None) -> _Prepared:
    """CPU work of one article (split, tokenise), done before any transaction and off the event loop.

    The text is normalised as every ingest path already does (a no-op for ingested text), so callers handing
    in raw text cannot store control characters: SQLite's substr stops at a NUL and would return an empty quote.
    """
    normal = clean.is_normal(article_text)
    body = article_text if normal else clean.normalise_whitespace(article_text)
    spans = text.sentence_spans(body)
    # The title's terms and each sentence's, in one regex pass, each followed by a SEPARATOR.
    marked = text.tokenize_marked([title or "", *[body[start:end] for start, end in spans]])
    cut = marked.index(text.SEPARATOR)
    title_terms = marked[:cut]
    # Positions in the article's distinct terms, in order of first appearance (title first), all in C loops; each
    # sentence's SEPARATOR becomes _SENTENCE_END, where its tokens end, and is dropped from the tokens after.
    positions = dict.fromkeys(marked, 0)
    del positions[text.SEPARATOR]
    distinct = list(positions)
    positions.update(zip(distinct, range(len(distinct)), strict=True))
    positions[text.SEPARATOR] = _SENTENCE_END
    title_tokens = len(title_terms) * TITLE_REPEAT
    tokens = np.fromiter(
        map(positions.__getitem__, chain(title_terms * TITLE_REPEAT, islice(marked, cut + 1, None))),
        dtype=np.uint32,
        count=title_tokens + len(marked) - cut - 1,
    )
    ends = tokens == _SENTENCE_END
    rows = np.empty((len(spans), 3), dtype=np.int64)
    rows[:, :2] = spans if spans else np.empty((0, 2))
    rows[:, 2] = np.flatnonzero(ends)
    rows[:, 2] -= np.arange(len(spans))  # the separators before it
    return _Prepared(
        None if body == article_text else body,
        content_hash(body, normal=normal),
        distinct,
        tokens[~ends],
        title_tokens,
        rows,
    )


_SENTENCE_END = 0xFFFFFFFF  # no article has that many distinct terms


@dataclass(frozen=True, slots=True)
class Retrieved:
    """What the index found: candidate sentences (best first by BM25 fusion) and the articles they come from."""

    sentence_ids: list[int]
    sentence_score: dict[int, float]  # sentence id → BM25 divided by the question's best
    article_score: dict[int, float]  # article id → BM25 divided by the question's best
    article_rank: dict[int, int]
    article_cover: dict[int, float]  # article id → share of the question's IDF mass it holds
    article_chance: dict[int, float]  # article id → the share its length alone would hold (Index.chance_idf)
    ranked_article_ids: list[int]
    missing_from_best: set[str]  # question terms the best article does not hold


@dataclass(frozen=True, slots=True)
class Reading:
    """The reader's input for one question: candidates with their texts, and the articles ranked."""

    question: reader.Question
    candidates: reader.Candidates
    sentence_ids: list[int]
    citations: list[Citation]  # per candidate
    unknown_share: float  # share of the question's IDF mass in words no stored article holds
    missing_share: float  # the largest share of one question term that the best article lacks
    ranked_articles: list[Citation]


def _all_stored(retrieved: Retrieved, windows: dict[int, SentenceWindow], stored: dict[int, StoredArticle]) -> bool:
    """Whether the store still holds every sentence and article the index retrieved."""
    return all(s in windows and windows[s].article_id in stored for s in retrieved.sentence_ids) and all(
        a in stored for a in retrieved.ranked_article_ids
    )


def _cosines(encoder: semantic.CachedEncoder, question: str, texts: Sequence[str]) -> list[float]:
    """The language model's cosine of the question and each text (their vectors have unit length)."""
    question_vector = encoder.encoder.encode([question])[0]  # not cached: questions seldom recur
    return (encoder.encode(texts) @ question_vector).tolist()


def _prepare_all(articles: Sequence[Article]) -> list[_Prepared]:
    return [_prepare(article.text, article.title) for article in articles]


def _prepare_packed(articles: Sequence[tuple[str, str | None]]) -> list[_PackedPrepared]:
    """_prepare_all in a worker process, on (text, title) pairs: an Article, a frozen dataclass, pickles through
    Python-level __getstate__/__setstate__, 20 times the cost of a tuple of its two strings (measured)."""
    return [_prepare(article_text, title).packed() for article_text, title in articles]


async def _unpacked(future: asyncio.Future[list[_PackedPrepared]]) -> list[_Prepared]:
    return [_Prepared.unpacked(packed) for packed in await future]


WORKER_NICENESS = 10  # added to the ingest workers' niceness (0 = same priority, 19 = lowest)

PreparedFutures = Callable[[Sequence[Article]], "asyncio.Future[list[_Prepared]]"]


WORKERS_IDLE_SECONDS = 30.0  # a bulk import's worker processes wait this long for the next one before exiting


class _Workers:
    """The process pool of bulk imports, kept between imports that follow one another (the bench's scopes, folders
    indexed one after another): a new process starts with empty caches (stems, terms, Punkt's decisions) and re-stems every
    word it meets, which at 1M sentences in seven imports was a fifth of the workers' CPU. The pool exits when it has
    been idle for WORKERS_IDLE_SECONDS, when an import using it fails, and when the library closes; and its
    processes with this one, however it ends (see _exit_with)."""

    def __init__(self) -> None:
        self._pool: concurrent.futures.ProcessPoolExecutor | None = None
        self._users = 0
        self._idle: asyncio.TimerHandle | None = None

    async def acquire(self, workers: int) -> concurrent.futures.ProcessPoolExecutor:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        self._users += 1
        if self._pool is None:
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["bot.core.library"])
            _start_fork_server()
            pool = concurrent.futures.ProcessPoolExecutor(
                max_workers=workers, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
            )
            self._pool = pool
            try:
                # Starting the processes (and, the first time, the fork server that imports this module) takes a
                # second or more, and the pool starts them on the thread that submits: start them all from a worker
                # thread, or the first chunk submitted from the event loop stalls it (measured: 1.4 s with questions
                # waiting).
                await asyncio.to_thread(_start_workers, pool, workers)
            except BaseException:
                self._users -= 1
                await self.close()
                raise
        return self._pool

    def release(self) -> None:
        self._users -= 1
        if self._users == 0 and self._pool is not None:
            self._idle = asyncio.get_running_loop().call_later(WORKERS_IDLE_SECONDS, self._expire)

    def _expire(self) -> None:
        self._idle = None
        if self._pool is None or self._users:
            return
        pool, self._pool = self._pool, None
        # Joining the processes off the loop; nothing waits for it.
        threading.Thread(target=pool.shutdown, kwargs={"wait": True}, name="ingest-workers-exit").start()

    async def close(self) -> None:
        if self._idle is not None:
            self._idle.cancel()
            self._idle = None
        pool, self._pool = self._pool, None
        if pool is not None:
            await asyncio.to_thread(pool.shutdown, wait=True, cancel_futures=True)  # joining them, off the loop too


@contextlib.asynccontextmanager
async def _preparer(article_count: int, workers_pool: _Workers) -> AsyncIterator[PreparedFutures]:
    """Where articles are split and tokenised: a process per core for a bulk import (Punkt and the stemmer are
    pure Python, so threads would share one core), a worker thread for a few articles (starting processes
    costs more than it saves). The processes come from a fork server, not a fork of this threaded process."""
    loop = asyncio.get_running_loop()
    workers = len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1
    if article_count < PARALLEL_FROM or workers < 2:
        yield lambda chunk: asyncio.ensure_future(asyncio.to_thread(_prepare_all, chunk))
        return
    pool = await workers_pool.acquire(workers)
    try:
        yield lambda chunk: asyncio.ensure_future(
            _unpacked(loop.run_in_executor(pool, _prepare_packed, [(a.text, a.title) for a in chunk]))
        )
    except BaseException:
        workers_pool.release()
        await workers_pool.close()  # a failed import leaves nothing running behind it
        raise
    workers_pool.release()


def _start_fork_server() -> None:
    """Start the fork server with SIGINT ignored, as it and the workers it forks then stay. A Ctrl-C at a terminal
    reaches every process of its group, and the fork server ignored it only once it had imported its modules (a
    second or more), printing a KeyboardInterrupt traceback meanwhile. The importing process stops the workers
    itself (a cancelled import shuts its pool down), and _exit_with ends them if it dies."""
    if threading.current_thread() is not threading.main_thread():  # only it may set a handler: started as before
        return
    handler = signal.signal(signal.SIGINT, signal.SIG_IGN)  # for the few milliseconds of a fork and exec
    try:
        multiprocessing.forkserver.ensure_running()
    finally:
        signal.signal(signal.SIGINT, handler if handler is not None else signal.default_int_handler)


def _start_worker(importer_pid: int) -> None:
    """Workers run at a lower priority than the process that answers: with as many workers as cores, its event
    loop otherwise waits for a time slice (measured at 1M sentences: 110-140 ms stalls during a bulk add).
    And they end with the importing process, however it ends (see _exit_with)."""
    if hasattr(os, "nice"):
        os.nice(WORKER_NICENESS)
    threading.Thread(target=_exit_with, args=(importer_pid,), name="exit-with-importer", daemon=True).start()


def _exit_with(pid: int) -> None:
    """Exit when process ``pid`` has. A SIGKILLed import (kill -9, the OOM killer) would otherwise leave its
    workers and the fork server waiting on each other for ever: the pool's queues and the fork server's
    liveness pipe are held open by the workers themselves."""
    try:
        handle = os.pidfd_open(pid)  # readable once the process has exited; immune to pid reuse (Linux 5.3+)
    except (AttributeError, OSError):
        handle = None
    if handle is not None:
        select.select([handle], [], [])
    else:
        while True:
            time.sleep(1.0)
            try:
                os.kill(pid, 0)
            except ProcessLookupError:
                break
            except PermissionError:
                pass  # alive, someone else's: cannot happen for our parent, but not a reason to exit
    os._exit(0)


def _start_workers(pool: concurrent.futures.ProcessPoolExecutor, workers: int) -> None:
    """Every worker process started and idle: submitted at once, each no-op starts a process of its own."""
    for future in [pool.submit(os.getpid) for _ in range(workers)]:
        future.result()


class _Added:
    """What one write stored, for the index: per article its id, term ids and sentences, kept as arrays."""

    def __init__(self) -> None:
        self._article_ids: list[int] = []
        self._article_terms: list[npt.NDArray[np.uint32]] = []
        self._sentence_ids: list[int] = []
        self._sentence_counts: list[int] = []  # per article
        self._title_tokens: list[int] = []  # per article: where its first sentence's tokens start
        self._sentence_ends: list[npt.NDArray[np.int64]] = []  # per article: where each sentence's tokens end
        self._sentence_terms: list[npt.NDArray[np.uint32]] = []
        self.sentence_count = 0

    def article(self, article_id: int, sentence_ids: list[int], terms: npt.NDArray[np.uint32], p: _Prepared) -> None:
        self._article_ids.append(article_id)
        self._article_terms.append(terms)
        self._sentence_ids += sentence_ids
        self._sentence_counts.append(len(sentence_ids))
        self._title_tokens.append(p.title_tokens)
        self._sentence_ends.append(p.sentences[:, 2])
        self._sentence_terms.append(terms[p.title_tokens :])  # the sentences' tokens, end to end
        self.sentence_count += len(sentence_ids)

    def articles(self) -> tuple[list[int], npt.NDArray[np.uint32], npt.NDArray[np.int64]]:
        lengths = np.array([len(t) for t in self._article_terms], dtype=np.int64)
        return self._article_ids, _joined(self._article_terms, np.uint32), lengths

    def sentences(
        self,
    ) -> tuple[list[int], npt.NDArray[np.uint32], npt.NDArray[np.int64], npt.NDArray[np.int64]]:
        terms = _joined(self._sentence_terms, np.uint32)
        # Whole-batch arrays rather than a few small ones per article: a sentence's tokens start where the one
        # before ends, an article's first sentence's where its title's end.
        counts = np.array(self._sentence_counts, dtype=np.int64)
        ends = _joined(self._sentence_ends, np.int64)
        starts = np.empty_like(ends)
        starts[1:] = ends[:-1]
        some = counts > 0
        starts[(np.cumsum(counts) - counts)[some]] = np.array(self._title_tokens, dtype=np.int64)[some]
        tags = np.repeat(np.array(self._article_ids, dtype=np.int64), counts)
        return self._sentence_ids, terms, ends - starts, tags

    def as_lists(self) -> tuple[list[tuple[int, list[int]]], list[tuple[int, list[int], int]]]:
        """For Library._index: (article id, terms) and (sentence id, terms, article id)."""
        articles = [(a, t.tolist()) for a, t in zip(self._article_ids, self._article_terms, strict=True)]
        _, terms, lengths, tags = self.sentences()
        ends = np.cumsum(lengths)
        sentences = [
            (sentence_id, terms[end - length : end].tolist(), tag)
            for sentence_id, end, length, tag in zip(
                self._sentence_ids, ends.tolist(), lengths.tolist(), tags.tolist(), strict=True
            )
        ]
        return articles, sentences


def _joined(parts: list[Any], dtype: type[np.generic]) -> Any:
    return np.concatenate(parts) if parts else np.zeros(0, dtype=dtype)


TITLES_KEPT = 1 << 14  # titles whose terms a Vocabulary remembers (a few MB at most)


class Vocabulary:
    """Term ↔ id. New ids are handed out inside a write transaction and kept only if it commits."""

    def __init__(self, pairs: Sequence[tuple[int, str]] = ()) -> None:
        self._ids: dict[str, int] = {term: i for i, term in pairs}
        self._terms: list[str | None] = []  # id → term, to read stored sentences' terms back
        self._titles: dict[str, list[str]] = {}  # title → its terms (title_terms), at most TITLES_KEPT
        self._name(pairs)
        self._next = max((i for i, _ in pairs), default=-1) + 1
        self.stored = self._next  # ids below this are in the store
        self._unsaved: dict[str, int] = {}

    def _name(self, pairs: Sequence[tuple[int, str]]) -> None:
        for term_id, term in pairs:
            if term_id >= len(self._terms):
                self._terms.extend([None] * (term_id + 1 - len(self._terms)))
            self._terms[term_id] = term

    def __len__(self) -> int:
        return self._next

    def get(self, term: str) -> int | None:
        return self._ids.get(term)

    def absorb(self, pairs: Sequence[tuple[int, str]]) -> None:
        """Terms another process stored (read inside our write transaction, so before we assign any)."""
        for term_id, term in pairs:
            self._ids[term] = term_id
            self._next = max(self._next, term_id + 1)
        self._name(pairs)
        self.stored = self._next

    def ids(self, tokens: Sequence[str]) -> list[int]:
        out: list[int | None] = list(map(self._ids.get, tokens))  # known terms in one C loop: most of them
        if None in out:
            for i, token in enumerate(tokens):
                if out[i] is None:  # new ids in order of first appearance
                    term_id = self._ids.get(token)
                    if term_id is None:
                        term_id = self._ids[token] = self._next
                        self._unsaved[token] = term_id
                        self._name([(term_id, token)])
                        self._next += 1
                    out[i] = term_id
        return out  # type: ignore[return-value]

    def unsaved(self) -> list[tuple[int, str]]:
        return [(i, t) for t, i in self._unsaved.items()]

    def commit(self) -> None:
        self._unsaved.clear()
        self.stored = self._next

    def rollback(self) -> None:
        for term in self._unsaved:
            del self._ids[term]
        self._unsaved.clear()
        self._next = self.stored
        del self._terms[self.stored :]

    def terms_of(self, packed: bytes | None) -> list[str] | None:
        """The terms of a stored sentence, in order; None when one of them is not known here yet."""
        if packed is None:
            return None
        names = self._terms
        try:
            terms = [names[i] for i in np.frombuffer(packed, dtype="<u4").tolist()]
        except IndexError:
            return None
        return None if None in terms else terms  # type: ignore[return-value]

    def title_terms(self, title: str | None, head: bytes | None) -> list[str] | None:
        """``tokenize(title)`` read from the first of its article's stored terms (``head``), which are the title's
        TITLE_REPEAT times: counting a title's terms needs no stemming. None when ``head`` does not hold them so."""
        known = self._titles.get(title or "")
        if known is not None:  # the same headline in several scopes, or asked about again
            return known
        width = 4 * text.term_count(title or "")
        if not width:
            return []
        if (
            head is None
            or len(head) < width * TITLE_REPEAT
            or head[:width] * TITLE_REPEAT != head[: width * TITLE_REPEAT]
        ):
            return None
        terms = self.terms_of(head[:width])
        if terms is not None:
            if len(self._titles) >= TITLES_KEPT:
                self._titles.clear()
            self._titles[title or ""] = terms
        return terms

    def terms_of_many(self, blobs: Sequence[bytes | None]) -> list[list[str] | None]:
        """``terms_of`` of each blob: decoded together (one buffer, one pass over the names), which for the
        ~70 blobs of an answer costs a fraction of decoding them one by one."""
        present = [blob for blob in blobs if blob is not None]
        if not present:
            return [None] * len(blobs)
        ids = np.frombuffer(b"".join(present), dtype="<u4")
        if len(ids) and int(ids.max()) >= len(self._terms):
            return [self.terms_of(blob) for blob in blobs]  # a term not known here yet: see terms_of
        names = list(map(self._terms.__getitem__, ids.tolist()))
        out: list[list[str] | None] = []
        at = 0
        for blob in blobs:
            if blob is None:
                out.append(None)
                continue
            terms = names[at : at + len(blob) // 4]
            at += len(blob) // 4
            out.append(None if None in terms else terms)  # type: ignore[arg-type]
        return out


class Library:
    """The store is the truth; the in-memory index is a cache that follows the store's change log (its own
    writes at once, other processes' before each answer and on a timer); a snapshot is a dated copy of that
    cache, stamped with the change it reflects."""

    def __init__(self, store: Store, params: AnswerParams, fetch_policy: fetch.FetchPolicy | None = None) -> None:
        self.store = store
        self.fetch_policy = fetch_policy or fetch.FetchPolicy()
        self.vocabulary = Vocabulary()
        self.sentences = BM25Index()  # key: sentence id, tag: article id
        self.articles = BM25Index()  # key: article id
        self.params = params
        self._reader_weights: reader.ReaderWeights | None = None  # the shipped weights, loaded when first needed
        self.encoder: semantic.CachedEncoder | None = None  # the language model, when the host provides one
        self._scope_codes: dict[str, int] = {}
        self._scope_counts: dict[int, int] = {}  # scope code → articles stored in it
        self._article_scope = np.full(0, -1, dtype=np.int32)  # article id → scope code, -1 when absent
        self._write_lock = asyncio.Lock()  # held while the index changes (writes, catch-up, compaction)
        self.index_seconds = 0.0  # time spent updating the in-memory index, for the benchmark
        self.reader_seconds = 0.0  # time spent judging candidates (features, scores, spans), for the benchmark
        self.applied_seq = 0  # the last change-log entry the index reflects
        self.store_id = ""
        self._data_version: int | None = None
        self._snapshot_seq = -1  # applied_seq of the snapshot last loaded or saved
        self._workers = _Workers()  # bulk imports' worker processes, kept between imports that follow one another

    # -- life cycle -------------------------------------------------------------------------------------
    @property
    def params(self) -> AnswerParams:
        return self._params

    @params.setter
    def params(self, params: AnswerParams) -> None:
        """Ranking settings act at question time, so they can change without re-indexing (tuning does)."""
        self._params = params
        self.sentences.params = params.sentence_bm25
        self.articles.params = params.article_bm25

    @property
    def reader_weights(self) -> reader.ReaderWeights:
        if self._reader_weights is None:
            self._reader_weights = reader.default_weights(meaning=self.encoder is not None)
        return self._reader_weights

    @reader_weights.setter
    def reader_weights(self, weights: reader.ReaderWeights) -> None:
        self._reader_weights = weights

    def use_model(self, folder: Path) -> None:
        """Read with the language model in ``folder`` too (semantic.SentenceEncoder), and the weights trained
        with it. Raises location.ModelError when the folder does not hold the model."""
        self.encoder = semantic.CachedEncoder(semantic.SentenceEncoder(folder))
        self._reader_weights = None
        log.info("event=model_loaded folder=%s: answers weigh meaning too", folder)

    @classmethod
    async def open(
        cls,
        db: str | Path,
        *,
        params: AnswerParams | None = None,
        fetch_policy: fetch.FetchPolicy | None = None,
        model: Path | None = None,
    ) -> Library:
        """Open the store and load the index: the snapshot plus the changes after it, else a rebuild. With
        ``model``, read with that language model too (use_model).

        Raises ReindexNeeded when the stored terms come from another analysis than this code's.
        """
        library = cls(await open_store(db), params or AnswerParams(), fetch_policy)
        try:
            if model is not None:
                await asyncio.to_thread(library.use_model, model)
            stored = await library.store.get_meta("analysis")
            if stored is None:  # a new store, or one from before analysis versions (made by this analysis)
                await library.store.set_meta("analysis", ANALYSIS_VERSION)
            elif stored != ANALYSIS_VERSION:
                raise ReindexNeeded(stored, ANALYSIS_VERSION)
            await asyncio.to_thread(analysis.remember, library.path, ANALYSIS_VERSION)  # for `citebot health`
            await library._load_index()
        except BaseException as error:
            await library.store.close()
            if (explained := unusable_store(library.path, error)) is not None:
                raise explained from error  # a damaged page found by the first reads, past the store's own open
            raise
        return library

    async def close(self, *, save_snapshot: bool = True) -> None:
        """With ``save_snapshot``, save one if none was loaded (the index was rebuilt) or the index is
        CLOSE_SNAPSHOT_AFTER_CHANGES ahead of it. A long-running process calls save_snapshot() itself."""
        behind = self._snapshot_seq < 0 or self.applied_seq - self._snapshot_seq >= CLOSE_SNAPSHOT_AFTER_CHANGES
        if save_snapshot and behind:
            try:
                await self.save_snapshot()
            except OSError as error:  # a read-only volume must not stop a clean shutdown
                log.warning("could not save the index snapshot: %s", error)
        await self._workers.close()
        await self.store.close()

    @property
    def path(self) -> Path:
        """The store's local file (a PostgreSQL store's local path: store.local_path), beside which the snapshot lives."""
        return self.store.path

    async def _load_index(self) -> None:
        self.vocabulary = Vocabulary(await self.store.vocabulary())
        self.store_id = await self.store.get_meta("store_id") or ""
        if not await self._load_snapshot():
            await self._rebuild()
        async with self._write_lock:
            await self._catch_up_locked(force=True)

    async def _rebuild(self) -> None:
        """The whole index from the store, read in one consistent view; built in a worker thread."""
        started = time.perf_counter()
        async with self.store.read_transaction() as db:
            seq = await self.store.last_seq(db)
            article_rows = await self.store.index_articles(db)
            sentence_rows = [row async for batch in self.store.index_rows(db) for row in batch]

        def build() -> tuple[BM25Index, BM25Index]:
            articles = BM25Index(self.params.article_bm25)
            articles.add_many([r[0] for r in article_rows], [unpack_terms(r[2]) for r in article_rows])
            sentences = BM25Index(self.params.sentence_bm25)
            sentences.add_many(
                [r[0] for r in sentence_rows],
                [unpack_terms(r[2]) for r in sentence_rows],
                [r[1] for r in sentence_rows],
            )
            return articles, sentences

        self.articles, self.sentences = await asyncio.to_thread(build)
        self._scope_codes, self._scope_counts = {}, {}
        self._article_scope = np.full(0, -1, dtype=np.int32)
        for article_id, scope, _ in article_rows:
            self._set_article_scope(article_id, scope)
        self.applied_seq = seq
        log.info(
            "index rebuilt from the store: %d sentences at change %d in %.2fs",
            len(sentence_rows),
            seq,
            time.perf_counter() - started,
        )

    # -- following the store ------------------------------------------------------------------------------
    async def catch_up(self) -> None:
        """Apply the changes other processes made to the store, then compact if due (in a worker thread)."""
        async with self._write_lock:
            await self._catch_up_locked()
            await self._compact_locked(only_if_due=True)

    async def _catch_up_before_answering(self) -> None:
        """Answer from the store's latest state (see _index_for_answering)."""
        async with self._index_for_answering() as held:
            if held:
                await self._catch_up_locked()

    @contextlib.asynccontextmanager
    async def _index_for_answering(self) -> AsyncIterator[bool]:
        """The index's write lock, if it comes soon (True). A catch-up or a small write holding the index is waited
        for; a compaction or a bulk write is not (False: the answer comes from the state before it, and the follow
        timer catches up right after)."""
        try:
            # Not wait_for, which on Python 3.11 starts a task and so gives the loop a turn even when the lock is free.
            async with asyncio.timeout(CATCH_UP_WAIT_SECONDS):
                await self._write_lock.acquire()
        except TimeoutError:
            held = False
        else:
            held = True
        try:
            yield held
        finally:
            if held:
                self._write_lock.release()

    async def _catch_up_locked(self, *, force: bool = False, view: ReadView | None = None) -> None:
        """Apply the log up to the store's latest state, or up to the state ``view`` (read_transaction) sees."""
        version = await self.store.data_version()
        if version == self._data_version and not force and view is None:
            return  # no connection has committed anything since the last look
        # Read before the log (a commit from now on is seen next time), recorded only once the log is applied:
        # a round that fails half-way (a dropped connection) must not leave the next rounds thinking it is done.
        self._data_version = None
        while await self.store.last_seq(view) > self.applied_seq:
            batch = await self.store.changes_since(self.applied_seq, self.vocabulary.stored, db=view)
            if any(change.kind == "reset" for change in batch.changes):
                await self._rebuild()  # the stored terms were rewritten (citebot reindex)
                self.vocabulary = Vocabulary(await self.store.vocabulary())
                continue
            self._apply(batch)
        self._data_version = version

    def _apply(self, batch: ChangeBatch) -> None:
        """Log entries in order; no await, so a question sees all of a batch or none of it. Idempotent:
        an add already indexed, or a remove of an article the index never held, is skipped."""
        self.vocabulary.absorb(batch.new_terms)
        articles: list[tuple[int, list[int]]] = []
        sentences: list[tuple[int, list[int], int]] = []
        for change in batch.changes:
            article_id = change.article_id
            if change.kind == "add" and article_id is not None and change.scope and not self._indexed(article_id):
                assert change.terms is not None
                self._set_article_scope(article_id, change.scope)
                articles.append((article_id, change.terms.tolist()))
                sentences += [(sentence_id, terms.tolist(), article_id) for sentence_id, terms in change.sentences]
            elif change.kind == "remove" and article_id is not None and self._indexed(article_id):
                self._index(articles, sentences)  # earlier adds first: the log's order
                articles, sentences = [], []
                assert change.terms is not None
                self._unindex(article_id, change.terms.tolist(), [(s, t.tolist()) for s, t in change.sentences])
        self._index(articles, sentences)
        self.applied_seq = batch.last_seq

    def _indexed(self, article_id: int) -> bool:
        return article_id < len(self._article_scope) and self._article_scope[article_id] >= 0

    async def follow(self, *, every: float = CATCH_UP_SECONDS, snapshot_every: float = SNAPSHOT_SECONDS) -> None:
        """For a long-running process (the bot; cancel to stop): catch up with other processes' changes every
        ``every`` seconds and save a snapshot every ``snapshot_every`` seconds when the index changed. A failed
        round is logged and the next one tries again: the store stays the truth whatever happens here."""
        last_snapshot = time.monotonic()
        failures = 0
        while True:
            # A notification from the store, else polling; while the store is down, less and less often (a
            # PostgreSQL server restarting wrote a traceback a second): back within one wait, at most 30 s.
            await self.store.wait_for_change(min(every * 2**failures, FOLLOW_BACKOFF_SECONDS))
            try:
                await self.catch_up()
                if time.monotonic() - last_snapshot >= snapshot_every and self.applied_seq != self._snapshot_seq:
                    await self.save_snapshot(adopt=True)
                    last_snapshot = time.monotonic()
                    await self.prune_change_log()
            except Exception as error:  # a background loop must outlive any one failure; the next round retries
                failures += 1
                if failures == 1:
                    log.exception("event=follow_failed")
                else:
                    log.warning("event=follow_failed failures=%d error=%r", failures, error)
            else:
                if failures:
                    log.info("event=follow_recovered failures=%d", failures)
                failures = 0

    async def prune_change_log(self, keep: int = CHANGE_LOG_KEEP) -> int:
        """Delete the change-log entries older than both this process's snapshot and the newest ``keep``;
        returns how many. Never loses a change: an index or snapshot older than what is left is answered by
        Store.changes_since with a reset, and rebuilds from the store (the truth) instead of catching up."""
        if self._snapshot_seq <= 0:
            return 0  # no snapshot of ours yet: the next start would need the whole log or a rebuild
        # The snapshot's own entry stays: a start checks that the store holds it (Library._load_snapshot).
        before = min(self._snapshot_seq, await self.store.last_seq() - keep + 1)
        deleted = await self.store.prune_changes(before) if before > 1 else 0
        if deleted:
            log.info("event=change_log_pruned deleted=%d kept_from=%d", deleted, before)
        return deleted

    async def compact(self) -> None:
        """Fold every segment and the delta into one index now (save_snapshot does this first), off the loop."""
        async with self._write_lock:
            await self._compact_locked()

    async def _compact_locked(self, *, only_if_due: bool = False) -> None:
        """Compact copies in a worker thread and swap them in. The caller holds the write lock, so nothing
        changes the index meanwhile, and questions keep reading the current one until the swap."""
        indexes = (self.sentences, self.articles)
        if only_if_due and not any(index.needs_compaction for index in indexes):
            return
        if all(index.is_compact for index in indexes):
            return
        started = time.perf_counter()
        for index in indexes:
            index.flush_delta()  # on the loop: a question's scoring would otherwise flush it under the thread
        self.sentences, self.articles = await asyncio.to_thread(lambda: tuple(i.compacted() for i in indexes))
        log.info("event=compacted sentences=%d seconds=%.2f", self.sentences.live_count, time.perf_counter() - started)

    # -- snapshots (bot/core/snapshot.py) -----------------------------------------------------------------
    def _identity(self) -> dict[str, Any]:
        return {"format": snapshot.FORMAT, "store_id": self.store_id, "analysis": ANALYSIS_VERSION}

    async def save_snapshot(self, *, adopt: bool = False) -> bool:
        """Save the index beside the store, so the next start reads only the changes after it. Compacted and
        written in worker threads; returns whether a snapshot was written (not when one as recent exists).

        With ``adopt`` (a long-running process), the index then answers from the file it wrote, mapped, in
        place of its compacted copy in memory, when nothing changed meanwhile: a compaction leaves every
        posting in anonymous memory, and the mapped file keeps only what questions touch resident."""
        async with self._write_lock:
            if self.applied_seq == self._snapshot_seq:
                return False
            await self._compact_locked()
            seq = self.applied_seq
            arrays: dict[str, Any] = {f"sentences.{k}": v for k, v in self.sentences.to_arrays().items()}
            arrays |= {f"articles.{k}": v for k, v in self.articles.to_arrays().items()}
            arrays["article_scope"] = self._article_scope.copy()
            scopes = sorted(self._scope_codes, key=self._scope_codes.__getitem__)
        stamp = self._identity() | {"seq": seq, "scopes": scopes, "saved_at": datetime.now(UTC).isoformat()}
        if seq and (last := await self.store.change_at(seq)) is not None:
            stamp["change"] = list(last)  # what change ``seq`` was: _load_snapshot checks the store still says so
        path = snapshot.path_for(self.store.path)
        written = await asyncio.to_thread(snapshot.write, path, arrays, stamp)
        self._snapshot_seq = seq
        if adopt and written:
            await self._adopt_snapshot(path, seq)
        return written

    async def _adopt_snapshot(self, path: Path, seq: int) -> None:
        try:
            stamp, sentences, articles, _ = await asyncio.to_thread(self._read_snapshot, path)
        except Exception as error:  # another writer replaced it meanwhile, or it cannot be read: keep ours
            log.warning("index snapshot %s not adopted (%s: %s)", path, type(error).__name__, error)
            return
        async with self._write_lock:
            if stamp["seq"] == seq == self.applied_seq and self.sentences.is_compact and self.articles.is_compact:
                self.sentences, self.articles = sentences, articles

    async def _load_snapshot(self) -> bool:
        """Use the snapshot if it belongs to this store, analysis and format and no later than the store.
        Anything wrong with it (missing, truncated, foreign, old) is logged and the index is rebuilt."""
        path = snapshot.path_for(self.store.path)
        if not path.exists():
            return False
        try:
            stamp, sentences, articles, article_scope = await asyncio.to_thread(self._read_snapshot, path)
            seq = stamp["seq"]
            # Read after the snapshot: a snapshot another process just wrote is never ahead of this view.
            ahead = seq > await self.store.last_seq()
            at = await self.store.change_at(seq) if seq and not ahead else None
            # Same number, other change: the store and the snapshot went separate ways after a copy (a backup
            # restored and written to, here or where another folder's snapshot was made; a copied store).
            diverged = at is not None and "change" in stamp and not at.matches(ChangeRef(*stamp["change"]))
            if ahead or diverged:
                await self._fork_identity()
            if ahead or diverged or (seq and at is None):
                raise ValueError(
                    f"it reflects change {seq}, which this store's log does not hold (pruned since, or a restored "
                    "backup or copied store?)"
                )
        except Exception as error:  # never fatal: the store holds everything the snapshot would
            why = str(error) if isinstance(error, snapshot.ForeignSnapshot) else f"{type(error).__name__}: {error}"
            log.warning("index snapshot %s not used (%s); rebuilding from the store", path, why)
            return False
        self.sentences, self.articles = sentences, articles
        self._scope_codes = {scope: code for code, scope in enumerate(stamp["scopes"])}
        counts = np.bincount(article_scope[article_scope >= 0], minlength=len(self._scope_codes))
        self._scope_counts = {code: int(n) for code, n in enumerate(counts)}
        self._article_scope = article_scope
        self.applied_seq = self._snapshot_seq = seq
        return True

    async def _fork_identity(self) -> None:
        """The store is behind its own snapshot, or holds another change under the snapshot's number: an older
        copy of it was restored (or it was copied and both went on). Its changes reuse numbers the snapshot has
        seen for other changes, so a snapshot of the other line could pass for this one (same id, same number,
        other articles), here or in another folder. A new store id makes every such snapshot foreign."""
        self.store_id = secrets.token_hex(16)
        try:
            await self.store.set_meta("store_id", self.store_id)
        except Exception as error:  # a store opened read-only: this process rebuilds; a writer will fork it
            log.warning("could not give the restored store a new id: %s", error)
        else:
            log.warning(
                "event=store_restored the store is not the one its index snapshot was made of (an older copy "
                "restored?): new store id, index rebuilt"
            )

    def _read_snapshot(self, path: Path) -> tuple[dict[str, Any], BM25Index, BM25Index, np.ndarray]:
        stamp, arrays = snapshot.read(path, self._identity())

        def index(prefix: str, params: BM25Params) -> BM25Index:
            return BM25Index.from_arrays(
                {k.removeprefix(prefix): v for k, v in arrays.items() if k.startswith(prefix)}, params
            )

        article_scope = arrays["article_scope"].astype(np.int32)  # a copy: it changes in place
        if len(article_scope) and int(article_scope.max()) >= len(stamp["scopes"]):
            raise ValueError("article scopes point past the scope list")
        sentences = index("sentences.", self.params.sentence_bm25)
        articles = index("articles.", self.params.article_bm25)
        snapshot.release(arrays)  # the checks read every posting: questions fault in only the pages they need
        return stamp, sentences, articles, article_scope

    def _set_article_scope(self, article_id: int, scope: str | None) -> None:
        if article_id >= len(self._article_scope):
            grown = np.full(max(article_id + 1, 2 * len(self._article_scope)), -1, dtype=np.int32)
            grown[: len(self._article_scope)] = self._article_scope
            self._article_scope = grown
        code = -1 if scope is None else self._scope_codes.setdefault(scope, len(self._scope_codes))
        previous = int(self._article_scope[article_id])
        if previous >= 0:
            self._scope_counts[previous] -= 1
        if code >= 0:
            self._scope_counts[code] = self._scope_counts.get(code, 0) + 1
        self._article_scope[article_id] = code

    # -- adding -----------------------------------------------------------------------------------------
    async def add_articles(
        self,
        articles: Sequence[tuple[Article, str]],
        scope: str,
        *,
        origin: str | None = None,
        added_by: str | None = None,
        progress: Progress | None = None,
        stored_sentences: SentenceCount | None = None,
        compact: bool = True,
        added_at: Sequence[str | None] = (),
    ) -> IndexReport:
        """Store and index (article, where-it-came-from) pairs. Re-adding the same text is a no-op.
        ``added_at``: per article, when it was first added (a restored export; None: now), written with it; a copy
        already stored keeps its own.
        ``progress`` is told the articles done after each batch, ``stored_sentences`` the sentences it stored.
        A bulk import ends with one compact index, unless ``compact`` is False: more imports follow and the caller
        compacts after the last (each compaction copies the whole index: once per import added up)."""
        dates = added_at or [None] * len(articles)
        items = [
            _ToAdd(article, where, origin or where, date)
            for (article, where), date in zip(articles, dates, strict=True)
        ]
        report = _report(await self._add(items, scope, added_by, progress=progress, stored_sentences=stored_sentences))
        if compact and len(items) > INSERT_BATCH:
            await self.compact()
        return report

    async def _add(
        self,
        items: Sequence[_ToAdd],
        scope: str,
        added_by: str | None,
        *,
        progress: Progress | None,
        stored_sentences: SentenceCount | None,
    ) -> list[AddResult]:
        """add_articles's work, for articles that may each come from elsewhere (a folder's files): what became of
        each, in order ("added" or "unchanged"). Batches of INSERT_BATCH articles, each one write transaction."""
        items = [dataclasses.replace(i, article=ingest.with_clean_metadata(i.article)) for i in items]
        results: list[AddResult] = []

        async def insert_next() -> None:
            chunk, future = ahead.popleft()
            ready = []
            for item, p in zip(chunk, await future, strict=True):
                if p.body is not None:  # stored as normalised
                    item = dataclasses.replace(item, article=dataclasses.replace(item.article, text=p.body))
                ready.append(_Ready(item, p))
            stored = await self._insert(ready, scope, added_by, bulk=len(items) > INSERT_BATCH)
            results.extend(stored)
            if stored_sentences:
                stored_sentences(sum(r.sentences for r in stored if r.status == "added"))
            if progress:
                progress(len(results), len(items))

        async with _preparer(len(items), self._workers) as prepare:
            # Workers split and tokenise chunks ahead while this one writer stores them in order.
            ahead: deque[tuple[Sequence[_ToAdd], asyncio.Future[list[_Prepared]]]] = deque()
            try:
                for start in range(0, len(items), INSERT_BATCH):
                    chunk = items[start : start + INSERT_BATCH]
                    ahead.append((chunk, prepare([item.article for item in chunk])))
                    if len(ahead) > PREPARE_AHEAD:
                        await insert_next()
                while ahead:
                    await insert_next()
            finally:
                for _, future in ahead:  # a failed write leaves nothing running behind it
                    future.cancel()
        return results

    async def _insert(
        self, prepared: list[_Ready], scope: str, added_by: str | None, *, bulk: bool = False
    ) -> list[AddResult]:
        """One write transaction: what became of each article, in order."""
        async with self._write_lock:
            known = await self.store.existing_hashes(scope, (p.content_hash for p in prepared))
            results: dict[int, AddResult] = {
                i: AddResult("unchanged", known[p.content_hash], p.item.article.title, p.item.where)
                for i, p in enumerate(prepared)
                if p.content_hash in known
            }
            fresh_at = [i for i in range(len(prepared)) if i not in results]
            fresh = [prepared[i] for i in fresh_at]
            if not fresh:
                return [results[i] for i in range(len(prepared))]
            ids_of: list[npt.NDArray[np.uint32]] = []  # per fresh article: its term ids, title and body

            def build(others: list[tuple[int, str]]) -> tuple[list[NewArticle], list[tuple[int, str]]]:
                self.vocabulary.absorb(others)
                items = []
                for ready in fresh:
                    p, item = ready.prepared, ready.item
                    # New ids go to the article's terms in order of first appearance: as when looked up token by token.
                    article_ids = np.asarray(self.vocabulary.ids(p.terms), dtype="<u4")[p.tokens]
                    ids_of.append(article_ids)
                    packed = article_ids.tobytes()
                    byte_ends = (4 * p.sentences[:, 2]).tolist()
                    byte_starts = [4 * p.title_tokens, *byte_ends][: len(byte_ends)]  # each sentence's first token
                    terms = map(packed.__getitem__, map(slice, byte_starts, byte_ends))
                    spans = list(zip(p.sentences[:, 0].tolist(), p.sentences[:, 1].tolist(), terms, strict=True))
                    items.append(
                        NewArticle(
                            scope, item.article, p.content_hash, packed, spans, item.origin, added_by, item.added_at
                        )
                    )
                return items, self.vocabulary.unsaved()

            try:
                inserted = await self.store.insert_articles(build, self.vocabulary.stored, ANALYSIS_VERSION)
            except BaseException:
                self.vocabulary.rollback()
                raise
            self.vocabulary.commit()
            # Not stored: the same text earlier in this batch, or stored by another process since existing_hashes
            # (then its id is read back: a file's report, and what its run holds, name the article stored).
            pairs = list(zip(fresh, inserted, strict=True))
            seen = {ready.content_hash: row.article_id for ready, row in pairs if row is not None}
            if lost := {ready.content_hash for ready, row in pairs if row is None} - seen.keys():
                seen |= await self.store.existing_hashes(scope, lost)
            # Committed: now (and only now) the index learns of them, at once when the index already holds
            # every earlier change, else by catching up with the log (others wrote in between).
            seqs = [row.seq for row in inserted if row is not None]
            direct = bool(seqs) and self.applied_seq == seqs[0] - 1
            added = _Added()
            for at, ready, article_terms, row in zip(fresh_at, fresh, ids_of, inserted, strict=True):
                item = ready.item
                if row is None:
                    found = seen.get(ready.content_hash, 0)  # 0: removed again meanwhile
                    results[at] = AddResult("unchanged", found, item.article.title, item.where)
                    continue
                results[at] = AddResult("added", row.article_id, item.article.title, item.where, len(row.sentence_ids))
                if direct:
                    self._set_article_scope(row.article_id, scope)
                    added.article(row.article_id, row.sentence_ids, article_terms, ready.prepared)
            if direct:  # no await from the loop above to here: a question sees none or all of an article
                self._index_added(added, bulk=bulk)
                self.applied_seq = seqs[-1]
            elif seqs:
                await self._catch_up_locked(force=True)
            await self._merge_segments_locked()
            await self._compact_locked(only_if_due=True)  # amortised: after ~200k new postings or 16 segments
        return [results[i] for i in range(len(prepared))]

    def _index_added(self, added: _Added, *, bulk: bool) -> None:
        """The articles one write stored, into the index: a bulk import's batch (its last, short one too: compacting
        segments is linear, a delta needs a sort of every posting) straight from its flat arrays."""
        if added.sentence_count < BULK_SENTENCES and not bulk:
            self._index(*added.as_lists())
            return
        started = time.perf_counter()
        self.articles.add_flat(*added.articles(), compact=False)
        self.sentences.add_flat(*added.sentences(), compact=False)
        self.index_seconds += time.perf_counter() - started

    async def _merge_segments_locked(self) -> None:
        """A bulk import's tiered merge of the newest segments (BM25Index.merged_segments), in a worker thread; the
        caller holds the write lock, so nothing changes the segments meanwhile, and questions read the old list
        until the swap."""
        indexes = (self.sentences, self.articles)
        if all(index.segment_count < MERGE_FAN_IN for index in indexes):
            return
        merged = await asyncio.to_thread(lambda: [index.merged_segments() for index in indexes])
        for index, segments in zip(indexes, merged, strict=True):
            if segments is not None:
                index.set_segments(segments)

    def _index(self, articles: list[tuple[int, list[int]]], sentences: list[tuple[int, list[int], int]]) -> None:
        """A few documents go to the delta one by one; a bulk batch becomes a segment (vectorised)."""
        started = time.perf_counter()
        if len(sentences) < BULK_SENTENCES:
            for article_id, terms in articles:
                self.articles.add(article_id, terms)
            for sentence_id, terms, article_id in sentences:
                self.sentences.add(sentence_id, terms, tag=article_id)
        else:
            self.articles.add_many([a for a, _ in articles], [t for _, t in articles], compact=False)
            self.sentences.add_many(
                [s for s, _, _ in sentences], [t for _, t, _ in sentences], [a for _, _, a in sentences], compact=False
            )
        self.index_seconds += time.perf_counter() - started

    async def add_parsed(
        self,
        parsed: ParseResult,
        where: str,
        scope: str,
        *,
        added_by: str | None = None,
        progress: Progress | None = None,
    ) -> IndexReport:
        """``where`` names the source: stored as every article's origin, and in the report (a JSON-lines record
        with its id)."""
        # Off the loop: a pass over every article of the file (about 0.1 s for 5,000 on a busy machine).
        articles, emptied = await asyncio.to_thread(without_repeated_boilerplate, parsed.articles)
        report = await self.add_articles(
            [(a, _where(where, a)) for a in articles], scope, origin=where, added_by=added_by, progress=progress
        )
        report.rejected = _rejected(parsed, where, emptied)
        return report

    async def add_bytes(
        self,
        data: bytes,
        name: str,
        scope: str,
        *,
        url: str | None = None,
        content_type: str | None = None,
        added_by: str | None = None,
        progress: Progress | None = None,
        replacing: Sequence[str] = (),
    ) -> IndexReport:
        """An upload or a fetched page. Unreadable input is reported in ``rejected``, never raised.
        ``replacing``: what was stored from these origins before is an earlier version of what this adds."""
        try:
            parsed = await asyncio.to_thread(ingest.parse_bytes, data, name, url=url, content_type=content_type)
        except ingest.IngestError as error:
            return IndexReport(rejected=[Rejected(name, str(error))])
        origin = url or name
        added = await self.add_parsed(parsed, origin, scope, added_by=added_by, progress=progress)
        if replacing:
            held = {r.article_id for r in added.added + added.unchanged}
            stored = await self.store.same_origin(scope, sorted(set(replacing)))
            added.replaced += await self._remove_earlier_versions(stored, origin, parsed, added, held, scope)
        return added

    async def add_url(
        self, url: str, scope: str, *, policy: fetch.FetchPolicy | None = None, added_by: str | None = None
    ) -> IndexReport:
        """Fetch a page (refusing private addresses, oversize and non-text bodies) and add its article."""
        try:
            page = await fetch.fetch_url(url, policy or self.fetch_policy)
        except fetch.FetchError as error:
            return IndexReport(rejected=[Rejected(url, str(error))])
        # The same page fetched again is the page refreshed (an update, a correction): like a file indexed again,
        # it replaces what the page gave before, or answers quote both. Each version is stored under its final
        # address (after redirects); an earlier one is one stored under any address this fetch went through, so a
        # page that moved since (a new slug for a corrected headline), reached by the link added before, is still
        # one page. (An upload's file name says less: two moderators' article.txt are not one article, so uploads
        # replace nothing.)
        return await self.add_bytes(
            page.body,
            page.url,
            scope,
            url=page.url,
            content_type=page.content_type,
            added_by=added_by,
            replacing=page.addresses,
        )

    async def add_paths(
        self,
        paths: Sequence[Path],
        scope: str,
        *,
        progress: Progress | None = None,
        stored_sentences: SentenceCount | None = None,
        reading: Progress | None = None,
    ) -> IndexReport:
        """Files and folders (recursively). Every file is read before anything is written. A file indexed again
        after an edit replaces what it held before (_remove_earlier_versions). ``reading`` is told the files read
        (of all), ``progress`` the articles stored (of all, known once every file is read)."""
        report = IndexReport()
        files = ingest.iter_corpus_files(list(paths))
        missing = [p for p in paths if not p.exists()]
        report.rejected += [Rejected(str(p), "no such file or folder") for p in missing]
        parsed_all: list[tuple[Path, ParseResult]] = []
        for start in range(0, len(files), READ_AT_ONCE):
            if reading:  # thousands of small files take seconds to read, before the first article is stored
                reading(start, len(files))
            chunk = files[start : start + READ_AT_ONCE]
            for path, parsed in zip(chunk, await asyncio.to_thread(_read_files, chunk), strict=True):
                if isinstance(parsed, Rejected):
                    report.rejected.append(parsed)
                else:
                    parsed_all.append((path, parsed))
        if reading and files:
            reading(len(files), len(files))
        cleaned = await asyncio.to_thread(_without_repeated_boilerplate_each, [p for _, p in parsed_all])
        # All files' articles as one import: many small files' articles share a batch (one write transaction,
        # split and tokenised ahead in the worker processes), as one JSON-lines file's do.
        # Stored under its real path: the same file however a later command names it (relative, via a link).
        real = [path.resolve() for path, _ in parsed_all]
        items: list[_ToAdd] = []
        for (path, _), resolved, (articles, _) in zip(parsed_all, real, cleaned, strict=True):
            items += [_ToAdd(a, _where(str(path), a), str(resolved)) for a in articles]
        results = await self._add(items, scope, None, progress=progress, stored_sentences=stored_sentences)
        by_file: list[tuple[Path, ParseResult, IndexReport, set[str]]] = []
        at = 0
        for (path, parsed), resolved, (articles, emptied) in zip(parsed_all, real, cleaned, strict=True):
            added = _report(results[at : at + len(articles)])  # _add keeps the order: each file's results in turn
            at += len(articles)
            added.rejected = _rejected(parsed, str(path), emptied)
            # Its names, as earlier versions were stored: its real path, the path given, relative to here.
            by_file.append((path, parsed, added, {str(resolved), str(path), os.path.relpath(resolved)}))
        # After every file is in: an article two files share (the same text) is not one's earlier version.
        held = {r.article_id for _, _, added, _ in by_file for r in added.added + added.unchanged}
        # What every file held before, in one read (two per file took seconds for thousands of files).
        before: dict[str, list[OriginRow]] = {}
        names = sorted({origin for *_, origins in by_file for origin in origins})
        for row in await self.store.same_origin(scope, names):
            before.setdefault(row.origin, []).append(row)
        for path, parsed, added, origins in by_file:
            stored = [row for origin in origins for row in before.get(origin, [])]
            stored += await self._record_moves(path, stored, added, scope)
            added.replaced += await self._remove_earlier_versions(stored, str(path), parsed, added, held, scope)
            report.extend(added)
        if len(items) > INSERT_BATCH:
            await self.compact()
        return report

    async def _record_moves(
        self, path: Path, stored: Sequence[OriginRow], added: IndexReport, scope: str
    ) -> builtins.list[OriginRow]:
        """A file renamed since it was indexed: its text is stored (unchanged) under a path that no longer exists.
        Its article now comes from the new path, so that an edit of the renamed file replaces it (matched by path)
        instead of standing beside it. A copy (the old file still there) and a member's upload keep theirs.
        ``stored``: what the scope holds from this file (Store.same_origin); returns the articles moved to it."""
        here = {row.article_id for row in stored}
        elsewhere = sorted({r.article_id for r in added.unchanged} - here)
        if not elsewhere:  # the common case, a file indexed again under its name: no further read
            return []
        articles = await self.store.articles_by_id(elsewhere)
        moved = {
            article_id: article.origin
            for article_id, article in articles.items()
            if article.scope == scope and article.added_by is None and article.origin and _file_gone(article.origin)
        }
        if not moved:
            return []
        origin = str(path.resolve())
        await self.store.set_origin(sorted(moved), origin)
        rows = [OriginRow(i, articles[i].external_id, articles[i].title, origin) for i in sorted(moved)]
        for result in added.unchanged:
            if (previous := moved.pop(result.article_id, None)) is not None:  # once, if the file holds it twice
                added.moved.append(dataclasses.replace(result, status="moved", previous=previous))
        moved_ids = {r.article_id for r in added.moved}
        added.unchanged = [r for r in added.unchanged if r.article_id not in moved_ids]
        return rows

    async def files_gone(self, folder: Path, scope: str) -> builtins.list[AddResult]:
        """The scope's articles indexed from files inside ``folder`` that no longer exist (deleted, or moved out),
        each named as the host names the folder. Nothing when ``folder`` is not a folder (missing, a file): then
        nothing can be told of its files. Only files strictly inside it, compared as resolved paths (a link or a
        ``..`` leading out is not inside), and never an article a member added (an upload, a page, typed text)."""
        if not folder.is_dir() or _not_utf8_name(folder) is not None:  # no stored path lies under such a name
            return []
        root = folder.resolve()
        gone_inside: dict[str, Path | None] = {}  # each file looked at once: a JSON-lines file holds many articles
        gone = []
        for row in await self.store.from_files_under(scope, os.path.join(root, "")):
            if row.origin not in gone_inside:
                inside = _path_inside(row.origin, root)
                is_gone = inside is not None and _file_gone(row.origin) and _file_gone(str(root / inside))
                gone_inside[row.origin] = inside if is_gone else None
            if (inside := gone_inside[row.origin]) is not None:
                gone.append(AddResult("gone", row.article_id, row.title, str(folder / inside)))
        return gone

    async def prune(self, folder: Path, gone: Sequence[AddResult], scope: str) -> builtins.list[AddResult]:
        """Remove the articles ``files_gone(folder)`` found (``gone``). Nothing while the folder holds no article
        file at all: the empty mount point of a disk not mounted looks just like every file deleted."""
        if not gone or not await asyncio.to_thread(ingest.iter_corpus_files, [folder]):
            return []
        pruned = []
        for item in gone:
            if await self.remove(item.article_id, [scope]):
                pruned.append(dataclasses.replace(item, status="pruned"))
        return pruned

    async def _remove_earlier_versions(
        self,
        stored: Sequence[OriginRow],
        where: str,
        parsed: ParseResult,
        added: IndexReport,
        held: set[int],
        scope: str,
    ) -> list[AddResult]:
        """Remove what an edited file (or a refreshed page) held before: otherwise both versions stay, and answers
        quote a correction beside what it corrects. An earlier version of an article file (.md, .txt, .html) is any
        article of the scope from that file (``stored``: Store.same_origin of its names); of a JSON-lines record,
        one from that file with its "id". Records without an id are never matched (a file rewritten daily with only
        that day's articles would empty the store).

        Only versions stored before the one this run holds are removed, and nothing this run holds (``held``):
        two runs indexing the same edited file at once each keep the newer version, never remove each other's,
        and nothing is removed when the new version was refused (rejected: the old one stays)."""
        mine = {r.article_id for r in added.added + added.unchanged}
        ids = {a.external_id for a in parsed.articles if a.external_id}
        if not mine or (parsed.bulk and not ids):
            return []
        versions: dict[str | None, list[OriginRow]] = {}
        for row in stored:
            if not parsed.bulk or row.external_id in ids:
                versions.setdefault(row.external_id if parsed.bulk else None, []).append(row)
        replaced = []
        for rows in versions.values():
            current = max((row.article_id for row in rows if row.article_id in mine), default=None)
            if current is None:
                continue
            for row in rows:
                earlier = row.article_id < current and row.article_id not in held
                if earlier and await self.remove(row.article_id, [scope]):
                    replaced.append(AddResult("replaced", row.article_id, row.title, where))
        return replaced

    async def seed_corpus(
        self,
        corpus: Path,
        *,
        enabled: bool,
        progress: Progress | None = None,
        stored_sentences: SentenceCount | None = None,
    ) -> IndexReport | None:
        """Index the host's corpus folder into the shared scope of a new store, once in its life (a flag in
        ``meta``), so sample articles a host removed stay removed; never when the shared corpus is off. Resumable:
        an interrupted seeding runs again (re-adding is a no-op) until it completes and sets the flag.

        A store whose shared scope already holds articles (imported or indexed by hand) is not new: the samples
        would come back among the host's own, even ones it had removed before an export. Servers' own articles do
        not count: a host may turn the shared corpus on after they were added."""
        if not enabled or await self.store.get_meta(SEEDED_KEY):
            return None
        if not await self.store.get_meta(SEEDING_KEY) and await self.store.count_articles([SHARED_SCOPE]):
            log.warning(
                "the shared scope already holds articles, so the corpus folder %s was not indexed into it; "
                "`citebot index` adds it (articles already stored are skipped)",
                corpus,
            )
            await self.mark_corpus_seeded()
            return None
        if not corpus.exists():
            # Not an error (a host may add every article by hand), but never silent: a relative CITEBOT_CORPUS
            # read from another folder left members with an empty store and no word of why.
            log.warning(
                "the corpus folder %s does not exist, so no shared articles were indexed: set CITEBOT_CORPUS to "
                "the folder of articles (an absolute path), or CITEBOT_SHARED_CORPUS=0 to run without one",
                corpus.resolve(),
            )
            return None
        log.info("event=seed corpus=%s", corpus)
        await self.store.set_meta(SEEDING_KEY, datetime.now(UTC).isoformat())  # begun: resumed if interrupted
        report = await self.add_paths([corpus], SHARED_SCOPE, progress=progress, stored_sentences=stored_sentences)
        await self.mark_corpus_seeded()
        return report

    async def mark_corpus_seeded(self) -> None:
        """The host's corpus is in the store (seeded, or indexed by hand): never seed it again."""
        await self.store.set_meta(SEEDED_KEY, datetime.now(UTC).isoformat())

    # -- removing ---------------------------------------------------------------------------------------
    async def remove(self, article_id: int, scopes: Sequence[str]) -> StoredArticle | None:
        """Remove an article if it is in one of ``scopes``; returns what was removed."""
        async with self._write_lock:
            removed: RemovedArticle | None = await self.store.delete_article(article_id, scopes)
            if removed is None:
                return None
            if self.applied_seq == removed.seq - 1:
                sentences = [(i, unpack_terms(blob).tolist()) for i, blob in removed.sentences]
                self._unindex(article_id, unpack_terms(removed.terms).tolist(), sentences)
                self.applied_seq = removed.seq
            else:
                await self._catch_up_locked(force=True)
            return removed.article

    def _unindex(self, article_id: int, terms: list[int], sentences: list[tuple[int, list[int]]]) -> None:
        self._set_article_scope(article_id, None)
        self.articles.remove(article_id, terms)
        for sentence_id, sentence_terms in sentences:
            self.sentences.remove(sentence_id, sentence_terms)

    # -- reading ----------------------------------------------------------------------------------------
    def scope_article_count(self, scopes: Sequence[str]) -> int:
        return sum(self._scope_counts.get(self._scope_codes[s], 0) for s in set(scopes) if s in self._scope_codes)

    def _admitted_by(self, scopes: Sequence[str]) -> Callable[[npt.NDArray[np.int64]], npt.NDArray[np.bool_]]:
        """The article index's scope test (BM25Index.top_k's ``admit``): for article slots, which are in ``scopes``."""
        allowed = self._in_scopes(scopes)

        def admit(slots: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
            # take: indexing by the int32 scope codes would be several times slower (numpy casts them first)
            return allowed.take(self._article_scope[self.articles.keys(slots)])  # type: ignore[no-any-return]

        return admit

    def _asks_everything(self, scopes: Sequence[str]) -> bool:
        """Whether ``scopes`` hold (nearly) every article, as in a bot with one server: the scope test can wait."""
        return self.scope_article_count(scopes) >= self.articles.live_count

    def _in_scopes(self, scopes: Sequence[str]) -> np.ndarray:
        """A lookup table by scope code (the last entry stands for -1, "no article"): O(1) per article."""
        allowed = np.zeros(len(self._scope_codes) + 1, dtype=bool)
        allowed[[self._scope_codes[s] for s in scopes if s in self._scope_codes]] = True
        return allowed

    async def get(self, article_id: int, scopes: Sequence[str], *, with_text: bool = False) -> StoredArticle | None:
        return await self.store.get_article(article_id, scopes, with_text=with_text)

    async def list(
        self, scopes: Sequence[str], *, offset: int = 0, limit: int = 50, search: str | None = None
    ) -> list[StoredArticle]:
        return await self.store.list_articles(scopes, offset=offset, limit=limit, search=search)

    async def from_origin(self, scope: str, origin: str) -> builtins.list[OriginRow]:
        """The scope's articles stored from ``origin`` (an upload's file name, a page's address), oldest first."""
        return sorted(await self.store.same_origin(scope, [origin]))

    async def count(self, scopes: Sequence[str], *, search: str | None = None) -> int:
        """Articles stored in ``scopes`` (read from the store, so it includes other processes' additions), those
        ``search`` finds when given (as ``list``)."""
        return await self.store.count_articles(scopes, search=search)

    # -- the question log, votes and per-scope settings --------------------------------------------------
    async def logged_question(self, query_id: int, scope: str) -> str | None:
        """A logged question's text, if it was asked in ``scope`` (a forged id cannot reach another's)."""
        record = await self.store.get_query(query_id)
        return record[0] if record is not None and record[1] == scope else None

    async def vote(self, query_id: int, scope: str, user_id: str, helpful: bool) -> bool:
        """Record one member's 👍/👎 on a question asked in ``scope``; False when it is no longer on record."""
        return await self.store.set_vote(query_id, scope, user_id, 1 if helpful else -1)

    async def gaps(self, scope: str, limit: int = 10, days: int = 30) -> builtins.list[Gap]:
        """Recent questions that found nothing, or only quotes given with a hedge, most asked first."""
        return await self.store.gaps(scope, limit, days)

    async def setting(self, scope: str, key: str) -> str | None:
        return await self.store.get_setting(scope, key)

    async def set_setting(self, scope: str, key: str, value: str | None) -> None:
        """None deletes the setting."""
        await self.store.set_setting(scope, key, value)

    # -- privacy ----------------------------------------------------------------------------------------
    async def purge_questions(self, older_than_days: int, *, now: datetime | None = None) -> int:
        """Delete logged questions (with their member ids and votes) older than ``older_than_days``."""
        if older_than_days < 0:
            raise ValueError("older_than_days must be 0 or more")
        cutoff = (now or datetime.now(UTC)) - timedelta(days=older_than_days)
        return await self.store.delete_queries_before(cutoff.strftime("%Y-%m-%dT%H:%M:%SZ"))

    async def forget_user(self, user_id: str) -> tuple[int, int, int]:
        """Delete everything stored about one member: (questions, votes, articles no longer credited to them)."""
        return await self.store.forget_user(user_id)

    # -- asking -----------------------------------------------------------------------------------------
    async def ask(
        self,
        question: str,
        scopes: Sequence[str],
        *,
        quotes: int | None = None,
        offset: int = 0,
        articles: int = 10,
        user_id: str | None = None,
        log_scope: str | None = None,
        look_ahead: int = 0,
    ) -> Answer:
        """Answer from the articles in ``scopes`` with verbatim quotes, or abstain. Logged when ``log_scope`` (small
        talk never is).

        ``look_ahead`` of the ``quotes`` are asked for only to learn whether there are more (a "More quotes"
        button): the log counts the quotes shown, not those. Questions are cut to MAX_QUESTION_CHARS.
        """
        started = time.perf_counter()
        await self._catch_up_before_answering()
        question = question[:MAX_QUESTION_CHARS]
        params = self.params
        if quotes is not None:
            params = dataclasses.replace(params, quotes=quotes)
        try:
            answer = await self._answer(question, scopes, params, offset, articles)
        except Exception as error:
            if (explained := unusable_store(self.path, error)) is not None:
                raise explained from error  # a damaged page of the store, read for the first time
            raise
        latency_ms = (time.perf_counter() - started) * 1000
        if log_scope is not None and not answer.small_talk:  # "thanks!" is not a question to keep or count
            try:
                query_id = await self.store.log_query(
                    LoggedQuestion(
                        question,
                        log_scope,
                        user_id,
                        answer.abstained,
                        latency_ms,
                        _shown(answer, quotes, look_ahead),
                        answer.hedged,
                    )
                )
            except StoreUnavailable as error:  # a full disk: the member still gets the answer, without its buttons
                log.error("question not logged: %s", error)
            else:
                answer = dataclasses.replace(answer, query_id=query_id)
        log.info(
            "ask scope=%s abstained=%s quotes=%d latency_ms=%.1f",
            log_scope or ",".join(scopes),
            answer.abstained,
            len(answer.quotes),
            latency_ms,
        )
        return answer

    async def read(
        self, question: str, scopes: Sequence[str], params: AnswerParams, *, offset: int = 0, n_articles: int = 10
    ) -> Reading:
        """Retrieve candidate sentences from the index and fetch what the reader needs to judge them."""
        analysed, unknown, retrieved = self._look_up(question, scopes, params, offset, n_articles)
        # One read for the candidates' sentences and every article the answer cites (theirs, and the ranked).
        windows, stored = await self.store.windows_and_articles(retrieved.sentence_ids, retrieved.ranked_article_ids)
        if not _all_stored(retrieved, windows, stored):
            # Another process removed some of them after this one caught up (a file re-indexed, an article
            # replaced): look again, so the answer is the store's and not a gap between the two.
            # The index catches up to one view of the store and the answer reads through that view: all the index
            # retrieves is in it, however often other processes rewrite meanwhile. Skipped (the missing ones are
            # left out) only while a compaction or bulk write holds the index.
            async with self._index_for_answering() as held:
                if held:
                    async with self.store.read_transaction() as view:
                        await self._catch_up_locked(view=view)
                        analysed, unknown, retrieved = self._look_up(question, scopes, params, offset, n_articles)
                        windows, stored = await self.store.windows_and_articles(
                            retrieved.sentence_ids, retrieved.ranked_article_ids, db=view
                        )
        # The sentence after each of the strongest candidates may be the answer ("She was 81."), and so may
        # the one after any candidate when it goes on about the same subject ("He retired in 2016.").
        wanted = retrieved.sentence_ids
        taken = set(wanted)
        neighbours = []
        for rank, sentence_id in enumerate(wanted):
            window = windows.get(sentence_id)
            if (
                window
                and window.next_id is not None
                and window.next_text is not None
                and window.next_id not in taken
                and (rank < params.neighbours or reader.refers_back(window.next_text, window.text))
            ):
                taken.add(window.next_id)
                neighbours.append(window.next_id)
                # Its window is known from this one: same article, one further, preceded by this sentence.
                windows[window.next_id] = SentenceWindow(
                    window.article_id,
                    window.position + 1,
                    window.next_text,
                    window.text,
                    None,
                    None,
                    terms=window.next_terms,
                    previous_terms=window.terms,
                    title_head=window.title_head,
                )
        # Removed meanwhile (no window, or no article): skipped.
        found = [s for s in wanted + neighbours if s in windows and windows[s].article_id in stored]
        chosen = [windows[s] for s in found]
        article_ids = [w.article_id for w in chosen]
        # One citation per article (a candidate's article is often another candidate's too).
        citations = {
            a: _citation(stored[a]) for a in dict.fromkeys((*article_ids, *retrieved.ranked_article_ids)) if a in stored
        }
        started = time.perf_counter()  # the reader's words, read back from the stored terms: its share of time
        # The sentence before a candidate counts only when the candidate refers back to it (reader.features): the
        # others' (three in four) are not decoded. refers_back remembers its answers for the reader.
        back = [bool(w.previous) and reader.refers_back(w.text, w.previous) for w in chosen]
        decoded = self.vocabulary.terms_of_many(
            [w.terms for w in chosen] + [w.previous_terms for w, b in zip(chosen, back, strict=True) if b]
        )
        terms, decoded_previous = decoded[: len(found)], iter(decoded[len(found) :])
        previous_terms = [next(decoded_previous) if b else None for b in back]
        titled: dict[int, list[str] | None] = {}
        for w in chosen:
            if w.article_id not in titled:
                titled[w.article_id] = self.vocabulary.title_terms(stored[w.article_id].title, w.title_head)
        title_terms = [titled[a] for a in article_ids]
        self.reader_seconds += time.perf_counter() - started
        texts = [w.text for w in chosen]
        meaning: Sequence[float] = ()
        if self.encoder is not None and texts:
            meaning = await asyncio.to_thread(_cosines, self.encoder, question, texts)
        unranked = len(retrieved.article_rank)
        candidates = reader.Candidates(
            sentence_bm25=np.array([retrieved.sentence_score.get(s, 0.0) for s in found]),
            article_bm25=np.array([retrieved.article_score.get(a, 0.0) for a in article_ids]),
            article_rank=np.array([retrieved.article_rank.get(a, unranked) for a in article_ids]),
            article_cover=np.array([retrieved.article_cover.get(a, 0.0) for a in article_ids]),
            article_chance=np.array([retrieved.article_chance.get(a, 0.0) for a in article_ids]),
            positions=np.array([w.position for w in chosen], dtype=np.int64),
            texts=texts,
            previous=[w.previous for w in chosen],
            titles=[stored[a].title for a in article_ids],
            neighbour=np.array([s not in retrieved.sentence_score for s in found], dtype=bool),
            terms=terms,
            previous_terms=previous_terms,
            title_terms=title_terms,
            meaning=meaning,
        )
        return Reading(
            analysed,
            candidates,
            found,
            [citations[a] for a in article_ids],
            unknown,
            max((analysed.weights.get(t, 0.0) for t in retrieved.missing_from_best), default=0.0),
            [citations[i] for i in retrieved.ranked_article_ids if i in stored],
        )

    def _look_up(
        self, question: str, scopes: Sequence[str], params: AnswerParams, offset: int, n_articles: int
    ) -> tuple[reader.Question, float, Retrieved]:
        """The question analysed, the share of it no stored article holds, and what the index retrieves."""
        tokens = [self._spelled(t) for t in reader.question_terms(question) if not self._mistyped_stop_word(t)]
        idf = _question_idf(self.sentences, tokens, self.vocabulary)
        analysed = reader.analyse(question, idf, tokens)
        # Each distinct word's ids and its synonyms', looked up once for everything below.
        term_ids = {t: self._term_ids(t) for t in idf}
        unknown = sum(w for t, w in analysed.weights.items() if not term_ids[t])
        retrieved = self._retrieve(tokens, scopes, params, offset, n_articles, term_ids, sum(idf.values()))
        return analysed, unknown, retrieved

    def _retrieve(
        self,
        tokens: Sequence[str],
        scopes: Sequence[str],
        params: AnswerParams,
        offset: int,
        n_articles: int,
        term_ids: dict[str, tuple[int, ...]],
        sentence_mass: float,
    ) -> Retrieved:
        """Index work only: rank articles, then score the sentences of the best ones (two-stage BM25).
        ``term_ids``: _term_ids of each distinct token; ``sentence_mass``: _question_mass over the sentences."""
        known = [i for t in tokens if (i := self.vocabulary.get(t)) is not None]
        admit = self._admitted_by(scopes)

        # Articles: BM25 over title and text, and the share of the question's IDF mass each one holds.
        # Only the best are needed, so the index prunes (exact top k); the best of all is the first of them.
        k = max(params.articles_read, n_articles)
        best: tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]] | None = None
        if self._asks_everything(scopes):
            # Asked of (nearly) every article, as in a bot with one server: rank without the scope test, which
            # costs a look-up per article reached. When the k best all pass it, they are the k best that pass.
            best = self.articles.top_k(known, k)
            if not admit(best[0]).all():
                best = None
        best_slots, best_raw_scores = best or self.articles.top_k(known, k, admit=admit)
        best_articles = self.articles.keys(best_slots)
        mass = _question_mass(self.articles, tokens, self.vocabulary)
        article_cover = self.articles.matched_idf(known, best_slots) / mass
        article_chance = self.articles.chance_idf(known, best_slots) / mass
        best_raw = float(best_raw_scores[0]) if len(best_raw_scores) else 0.0
        article_norm = best_raw_scores / best_raw if best_raw > 0 else np.zeros(len(best_slots))

        # Sentences of the best articles, with their own BM25 and the share of the question they hold.
        # No scope test here: the best articles all passed it (top_k's admit, or the check after it), and these
        # sentences are theirs.
        scored = self.sentences.score(known, within_tags=best_articles[: params.articles_read])
        slots, sentence_articles = scored.slots, self.sentences.tags(scored.slots)
        sentence_raw = scored.scores - scored.baseline
        sentence_norm = sentence_raw / sentence_raw.max() if len(slots) and sentence_raw.max() > 0 else sentence_raw
        sentence_cover = scored.matched_idf / sentence_mass

        # First stage: BM25 of sentence and article, plus coverage; the reader re-ranks the best of these.
        # Each sentence's article norm (0 for an article not ranked), found by binary search among the few ranked:
        # an array over every article id cost a 1 MB allocation a question at 1M sentences.
        by_id = best_articles.argsort()
        at = by_id[np.minimum(best_articles.searchsorted(sentence_articles, sorter=by_id), len(by_id) - 1)]
        ranked_norm = (
            np.where(best_articles[at] == sentence_articles, article_norm[at], 0.0)
            if len(by_id)
            else np.zeros(len(sentence_articles))
        )
        fused = sentence_norm + params.article_weight * ranked_norm + params.coverage_weight * sentence_cover
        order = top_k_order(fused, params.candidates + offset, tiebreak=slots)
        # To Python values with tolist(), one call per array: int() and float() of each numpy scalar cost more.
        sentence_ids: list[int] = self.sentences.keys(slots[order]).tolist()
        sentence_score = dict(zip(sentence_ids, sentence_norm[order].tolist(), strict=True))
        extra = self._related_sentences(term_ids, known, best_articles[: params.related_articles], params)
        added = [i for i in extra if i not in sentence_score]
        sentence_score |= dict.fromkeys(added, 0.0)  # retrieved for their synonyms, not by BM25
        candidate_ids = [*sentence_ids, *added]
        article_ids: list[int] = best_articles.tolist()
        missing = set(tokens)
        if len(best_slots):
            held = self.articles.holding([i for ids in term_ids.values() for i in ids], int(best_slots[0]))
            missing = {t for t in tokens if held.isdisjoint(term_ids[t])}
        return Retrieved(
            sentence_ids=candidate_ids,
            sentence_score=sentence_score,
            article_score=dict(zip(article_ids, article_norm.tolist(), strict=True)),
            article_rank={a: r for r, a in enumerate(article_ids)},
            article_cover=dict(zip(article_ids, article_cover.tolist(), strict=True)),
            article_chance=dict(zip(article_ids, article_chance.tolist(), strict=True)),
            ranked_article_ids=article_ids[:n_articles],
            missing_from_best=missing,
        )

    def _spelled(self, token: str) -> str:
        """A question word no article holds, as the articles write it: its most common stored written synonym
        ("ppl" → "people", "govt" → "government": weighed as those words, not as the rarest word there is), else
        the most common stored word one edit away ("posion" → "poison"; one with the same first letter first), else
        its number when a unit is glued to
        it ("400m" → "400": the articles write "400 metres"), else its word when a number of two or more digits is
        ("covid19" → "covid": the articles write "COVID-19"); unchanged when it is known, or short and without such
        a synonym, or has no such neighbour."""
        if self.vocabulary.get(token) is not None:
            return token
        variants = reader.spelling_variants(token) if len(token) >= 5 else set()
        # A word's first letter is seldom the one mistyped: "depresion" is "depression", not "repression".
        same_first = {v for v in variants if v[:1] == token[:1]}
        for candidates in (
            reader.written_related_terms(token),
            same_first,
            variants - same_first,
            (glued.group(1),) if (glued := _NUMBER_WITH_UNIT.fullmatch(token)) else (),
            (glued.group(1),) if (glued := _WORD_WITH_NUMBER.fullmatch(token)) else (),
        ):
            known = [(self.sentences.idf(i), t) for t in candidates if (i := self.vocabulary.get(t)) is not None]
            known = [(idf, t) for idf, t in known if idf > 0]
            if known:
                return min(known)[1]
        return token

    def _mistyped_stop_word(self, token: str) -> bool:
        """A question word no article holds that is a stop word mistyped ("frm", "otu"): not asked for. As the
        rarest word there is, it made the question look unanswerable."""
        return self.vocabulary.get(token) is None and reader.is_stop_word_typo(token)

    def _term_ids(self, token: str) -> tuple[int, ...]:
        """The stored ids of a question word and of its synonyms ("die": die, kill, dead, ...)."""
        related = reader.written_related_terms(token)
        return tuple(i for t in (token, *related) if (i := self.vocabulary.get(t)) is not None)

    def _related_sentences(
        self,
        term_ids: dict[str, tuple[int, ...]],
        known: Sequence[int],
        articles: npt.NDArray[np.int64],
        params: AnswerParams,
    ) -> tuple[int, ...]:
        """Sentences of the best articles that say it in other words ("killed" for "died", "Ukraine" for
        "Ukrainian"), best first: candidates even when they hold none of the question's own words."""
        related = {term_id for ids in term_ids.values() for term_id in ids} - set(known)
        if not related or not params.related_candidates or not len(articles):
            return ()
        # Sentences of the best articles, which all passed the scope test (see _retrieve).
        scored = self.sentences.score(sorted(related), within_tags=articles, with_matched=False)
        slots, scores = scored.slots, scored.scores
        order = top_k_order(scores, params.related_candidates, tiebreak=slots)
        return tuple(self.sentences.keys(slots[order]).tolist())

    async def _answer(
        self, question: str, scopes: Sequence[str], params: AnswerParams, offset: int, n_articles: int
    ) -> Answer:
        searched = self.scope_article_count(scopes)
        if reader.is_small_talk(question):
            return Answer(question, True, SMALL_TALK_MESSAGE, articles_searched=searched, small_talk=True)
        if not reader.question_terms(question):
            return Answer(
                question,
                True,
                "Ask a question with a few content words (names, places, events).",
                articles_searched=searched,
            )
        reading = await self.read(question, scopes, params, offset=offset, n_articles=n_articles)
        started = time.perf_counter()
        weights = self.reader_weights
        rows, spans = reader.features(reading.question, reading.candidates)
        scores = reader.sentence_scores(rows, weights, reading.question.answer_type)
        sure = reader.confidence(
            reader.confidence_row(
                reading.question, reading.candidates, rows, scores, reading.unknown_share, reading.missing_share
            ),
            weights,
        )
        order = np.lexsort((np.arange(len(scores)), -scores))
        if reader.asks_for_news(question):
            order = _newest_first(order, reading)
        order = _questions_last(order, reading.candidates.texts)
        # A quote must hold something of the question, itself or in the sentence it refers back to.
        related = rows[:, reader.FEATURES.index("context_cover")] > 0
        if related.any() and params.off_story_gap is not None:
            # Quotes stay on the story asked about: not "At least seventeen people died" from another fire's
            # article under "how many died in the notre dame fire", an article without the words naming it.
            article_cover = rows[:, reader.FEATURES.index("article_cover")]
            related &= article_cover >= article_cover[related].max() - params.off_story_gap
        candidates = []
        # Only quotes that can be shown are annotated; duplicates merge, so a few more than asked for.
        for i in order[related[order]][: offset + params.quotes + 10]:
            sentence = reading.candidates.texts[i]
            previous = reading.candidates.previous[i]
            candidates.append(
                Candidate(
                    sentence_id=reading.sentence_ids[i],
                    text=sentence,
                    score=float(scores[i]),
                    citation=reading.citations[i],
                    context=previous if previous and reader.refers_back(sentence, previous) else None,
                    answer_spans=reader.shown_spans(sentence, spans[i]),
                    terms=reading.candidates.terms[i] if reading.candidates.terms else None,
                )
            )
        self.reader_seconds += time.perf_counter() - started
        # Told when the answer is unsure: what no article here mentions is often why ("beirut").
        unheard = self._unheard(question, scopes) if sure < params.hedge_below else ()
        # Named when it abstains: only articles holding much of the question, not one sharing "best" with it.
        covers = reading.candidates.article_cover.tolist()  # an article's share of the question, per candidate
        held = {c.article_id: cover for c, cover in zip(reading.citations, covers, strict=True)}
        closest = [c for c in reading.ranked_articles if held.get(c.article_id, 0.0) >= CLOSEST_COVER]
        return compose(
            question,
            candidates,
            params,
            confidence=sure,
            threshold=weights.threshold,
            articles_searched=searched,
            ranked_articles=_by_best_quote(reading.ranked_articles, reading.citations, scores),
            closest=closest,
            offset=offset,
            question_tokens=frozenset(reading.question.tokens),
            unheard=unheard,
        )

    def _unheard(self, question: str, scopes: Sequence[str]) -> tuple[str, ...]:
        """The question's words that no article in ``scopes`` holds, nor any of their written synonyms. Only
        these scopes: that another server's articles hold a word must not show."""
        admit, everywhere = self._admitted_by(scopes), self._asks_everything(scopes)

        def held(term: str) -> bool:
            if self._mistyped_stop_word(term):
                return True  # not a word the question asks about
            ids = self._term_ids(self._spelled(term))
            if not ids or everywhere:
                return bool(ids)
            if any(self.articles.idf(i) == 0.0 for i in ids):  # in every article: top_k skips such a term
                return True
            return len(self.articles.top_k(list(ids), 1, admit=admit)[0]) > 0

        return reader.unheard_words(question, held)


def _questions_last(order: npt.NDArray[np.intp], texts: Sequence[str]) -> npt.NDArray[np.intp]:
    """``order`` with the sentences that ask (an interviewer's question) after those that tell: a question is
    never the answer, though it holds the question's words."""
    asks = np.fromiter((reader.is_question(texts[i]) for i in order.tolist()), dtype=bool, count=len(order))
    return np.concatenate((order[~asks], order[asks])) if asks.any() else order


def _newest_first(order: npt.NDArray[np.intp], reading: Reading) -> npt.NDArray[np.intp]:
    """The candidates of the best few articles newest article first, each article's in ``order`` (best first),
    then the rest as they were: a story told again and again is asked about as it stands now."""
    ranks = reading.candidates.article_rank.tolist()

    def published(i: int) -> str:
        return (reading.citations[i].date or "") if ranks[i] < LATEST_AMONG else ""

    # sorted is stable, also in reverse: within one date (or none), the reader's order stays.
    return np.array(sorted(order.tolist(), key=published, reverse=True), dtype=order.dtype)


def _by_best_quote(
    ranked: Sequence[Citation], citations: Sequence[Citation], scores: npt.NDArray[np.float64]
) -> list[Citation]:
    """``ranked`` (BM25 order) with the articles holding candidates first, by their best candidate's reader score.

    What the reader makes of an article's best sentence ranks articles better than BM25 over the whole text
    (SciFact claims: nDCG@10 0.705 to 0.710, and 0.719 with the language model)."""
    best: dict[int, float] = {}
    for citation, score in zip(citations, scores.tolist(), strict=True):
        best[citation.article_id] = max(best.get(citation.article_id, -math.inf), score)
    # sorted() is stable: articles without candidates keep their BM25 order, after those with.
    return sorted(ranked, key=lambda c: -best.get(c.article_id, -math.inf))


def _shown(answer: Answer, asked: int | None, look_ahead: int) -> int:
    """How many of an answer's quotes are shown when ``look_ahead`` of the ``asked`` were only a peek."""
    if asked is None or not look_ahead:
        return len(answer.quotes)
    return min(len(answer.quotes), max(asked - look_ahead, 0))


def _question_idf(index: BM25Index, tokens: Sequence[str], vocabulary: Vocabulary) -> dict[str, float]:
    """Each distinct question word's IDF; a word no document holds weighs the most possible."""
    most = math.log(index.live_count + 1) if index.live_count else 1.0
    return {
        token: (index.idf(term) if (term := vocabulary.get(token)) is not None else 0.0) or most
        for token in dict.fromkeys(tokens)
    }


def _question_mass(index: BM25Index, tokens: Sequence[str], vocabulary: Vocabulary) -> float:
    """The IDF summed over the question's distinct words."""
    return sum(_question_idf(index, tokens, vocabulary).values())


REINDEX_BATCH = 200  # articles per transaction when re-tokenising


async def reindex(db: str | Path, *, progress: Progress | None = None) -> int:
    """Re-tokenise every stored article with this code's analysis; returns how many were rewritten.

    Batch by batch, each one transaction that also records how far it got, so a crash loses at most one
    batch and the next run resumes there. The store's analysis version changes only in the last transaction,
    with a 'reset' entry in the change log that makes every running index rebuild. Until then no process of
    this version opens the store for answering (Library.open raises ReindexNeeded).
    """
    store = await open_store(db)
    try:
        if await store.get_meta("analysis") in (None, ANALYSIS_VERSION):
            return 0
        resumed = await store.get_meta("reindex_target") == ANALYSIS_VERSION
        done_up_to = int(await store.get_meta("reindex_done") or 0) if resumed else 0
        total = await store.count_all_articles()
        done = await store.count_all_articles(up_to=done_up_to)
        vocabulary = Vocabulary(await store.vocabulary())
        rewritten = 0
        while batch := await store.articles_after(done_up_to, REINDEX_BATCH):

            def tokenise(batch: list[Any] = batch) -> list[tuple[int, list[str], list[tuple[int, list[str]]]]]:
                return [
                    (article_id, text.tokenize(title or ""), [(i, text.tokenize(s)) for i, s in spans])
                    for article_id, title, _, spans in batch
                ]

            tokens = await asyncio.to_thread(tokenise)

            def build(
                others: list[tuple[int, str]], tokens: list[Any] = tokens
            ) -> tuple[list[tuple[int, bytes]], list[tuple[int, bytes]], list[tuple[int, str]]]:
                vocabulary.absorb(others)
                articles, sentences = [], []
                for article_id, title_tokens, sentence_tokens in tokens:
                    body = [t for _, ts in sentence_tokens for t in ts]
                    articles.append((article_id, _pack(vocabulary.ids(title_tokens * TITLE_REPEAT + body))))
                    sentences += [(i, _pack(vocabulary.ids(ts))) for i, ts in sentence_tokens]
                return articles, sentences, vocabulary.unsaved()

            done_up_to = batch[-1][0]
            marker = {"reindex_target": ANALYSIS_VERSION, "reindex_done": str(done_up_to)}
            try:
                await store.rewrite_terms(build, vocabulary.stored, marker)
            except BaseException:
                vocabulary.rollback()
                raise
            vocabulary.commit()
            rewritten += len(batch)
            done += len(batch)
            if progress:
                progress(done, total)
        await store.finish_reindex(ANALYSIS_VERSION, ["reindex_target", "reindex_done"])
        log.info("event=reindexed articles=%d analysis=%s", rewritten, ANALYSIS_VERSION)
        return rewritten
    finally:
        await store.close()


def without_repeated_boilerplate(articles: list[Article]) -> tuple[list[Article], list[Article]]:
    """In a bulk file, short paragraphs repeated across many articles of one outlet are page furniture.

    Returns the cleaned articles and those that held nothing else (reported, not silently dropped).
    """
    by_source: dict[str | None, list[int]] = {}
    for i, article in enumerate(articles):
        by_source.setdefault(article.source, []).append(i)
    out = list(articles)
    for indices in by_source.values():
        cleaned = clean.remove_repeated_paragraphs([articles[i].text for i in indices])
        for i, body in zip(indices, cleaned, strict=True):
            if body != articles[i].text:
                out[i] = dataclasses.replace(articles[i], text=body)
    return [a for a in out if a.text.strip()], [a for a in out if not a.text.strip()]


def _read_files(paths: Sequence[Path]) -> list[ParseResult | Rejected]:
    """Each file read and parsed (ingest.read_path), or why it was refused."""
    out: list[ParseResult | Rejected] = []
    for path in paths:
        if (shown := _not_utf8_name(path)) is not None:
            # The store keeps each file's path as text (to match it again, to tell it is gone): a name that is
            # not UTF-8 cannot be stored, and once stopped the whole command with a traceback.
            out.append(Rejected(shown, _NOT_UTF8_NAME))
            continue
        try:
            out.append(ingest.read_path(path))
        except ingest.IngestError as error:
            out.append(Rejected(str(path), str(error)))
    return out


def _without_repeated_boilerplate_each(files: list[ParseResult]) -> list[tuple[list[Article], list[Article]]]:
    """without_repeated_boilerplate of each file's articles (a file's outlet's furniture is its own)."""
    return [without_repeated_boilerplate(parsed.articles) for parsed in files]


def _where(where: str, article: Article) -> str:
    """How a report names an article of the file ``where``: a JSON-lines record by its id too."""
    return f"{where}#{article.external_id}" if article.external_id else where


def _rejected(parsed: ParseResult, where: str, emptied: Sequence[Article]) -> list[Rejected]:
    """What a file's reading refused, and its articles that held only boilerplate (without_repeated_boilerplate)."""
    return list(parsed.rejected) + [
        Rejected(f"{where}#{a.external_id or a.title}", "only text repeated in many articles of this outlet")
        for a in emptied
    ]


_NOT_UTF8_NAME = (
    "its name (or a folder's on its path) is not UTF-8 text, so it cannot be stored: rename it, then index it again"
)


def _not_utf8_name(path: Path) -> str | None:
    """None when ``path``, made absolute, is UTF-8 text; else the path with its undecodable bytes shown as �
    (printable whatever the terminal's encoding)."""
    raw = os.fsencode(os.path.abspath(path))
    try:
        raw.decode("utf-8")
    except UnicodeDecodeError:
        return os.fsencode(path).decode("utf-8", "replace")
    return None


def _file_gone(origin: str) -> bool:
    """Whether ``origin`` is the absolute path of a file that no longer exists. Not a relative path (no one file:
    it depends on the folder a command ran in), a page's address or an upload's name, nor a path that cannot be
    looked at (a folder it may not read): only "no such file" tells it is gone."""
    if not os.path.isabs(origin):
        return False
    try:
        os.lstat(origin)
    except (FileNotFoundError, NotADirectoryError):
        return True
    except OSError:
        return False
    return False


def _path_inside(origin: str, root: Path) -> Path | None:
    """``origin``'s path inside the folder ``root`` (resolved), once links and ``..`` are resolved; None when it
    lies outside or is the folder itself."""
    try:
        resolved = Path(origin).resolve()
    except (OSError, RuntimeError):  # a link loop
        return None
    if resolved == root or not resolved.is_relative_to(root):
        return None
    return resolved.relative_to(root)


def _citation(article: StoredArticle) -> Citation:
    return Citation(article.id, article.title, article.source, article.date, article.url, article.external_id)
