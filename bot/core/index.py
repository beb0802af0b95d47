"""Sparse BM25 over term-id documents, scoring only the postings of the question's terms.

The score is rank-bm25's ``BM25Plus`` to the last digit (tests use rank-bm25 as the oracle)::

    idf(t)   = log((N + 1) / df(t))                      # always > 0, so a matching term never lowers a score
    score(d) = sum over query tokens t (repeats count) of
               idf(t) * (delta + tf * (k1 + 1) / (k1 * (1 - b + b * len(d) / avgdl) + tf))

BM25Okapi was rejected: its negative-IDF floor is ``epsilon * mean(idf)``, and in a small corpus that mean is
itself negative, so a sentence *without* a query term can outrank one with it. The ``delta`` term adds the
same constant to every document for a given question, so only documents holding a query term can differ;
they are the only ones scored.

Layout, like a search engine's segments: a compacted *base* (CSR postings per term, built with numpy in one
pass) and a small *delta* of documents added since, kept in Python lists. Adding a document touches only
the delta and the running statistics, whatever the corpus size; removing one marks it dead. ``compact()``
folds both back into a fresh base.
"""

from __future__ import annotations

import math
from collections import Counter, defaultdict
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any, cast

import numpy as np
import numpy.typing as npt

IntArray = npt.NDArray[np.int64]
AnyIntArray = npt.NDArray[np.integer]  # stored narrower where the values allow (see _narrowest)
FloatArray = npt.NDArray[np.float64]
BoolArray = npt.NDArray[np.bool_]

# Fold the delta into the base once it holds this many postings: keeps per-question delta work small.
COMPACT_AFTER_POSTINGS = 200_000
# Each bulk segment costs a lookup per question term; fold them once there are this many.
MAX_SEGMENTS = 16
# A bulk import merges the newest this many segments of about one size into one (BM25Index.merged_segments):
# at 1M sentences that keeps at most 15 segments, and each posting is merged about five times in all.
MERGE_FAN_IN = 4
CHANCE_MIN_DOCUMENTS = 30  # chance_idf counts document frequencies over at least this many documents


@dataclass(frozen=True, slots=True)
class BM25Params:
    k1: float = 1.5
    b: float = 0.75
    delta: float = 1.0


@dataclass(slots=True)
class Scored:
    """Sparse scores: ``slots`` (positions in the index) that hold at least one query term, and their scores.

    ``baseline`` is the score of every other live document (the delta constant), so that
    ``scores + 0`` compare directly with rank-bm25's ``get_scores`` at those positions.
    """

    slots: IntArray
    scores: FloatArray
    baseline: float
    matched_idf: FloatArray  # per slot: the IDF summed over the distinct query terms the document holds


Segment = tuple[IntArray, npt.NDArray[np.int32], npt.NDArray[np.uint16]]  # a term's postings: indptr, slots, tfs


def _merge_segments(segments: Sequence[Segment]) -> Segment:
    """Segments of consecutive slot ranges, oldest first, as one: each term's postings are its runs in the parts,
    in order, so every posting is placed by counting (no sort). The same arrays as building it in one go."""
    width = max(len(indptr) - 1 for indptr, _, _ in segments)
    counts = np.zeros((len(segments), width), dtype=np.int64)
    for i, (indptr, _, _) in enumerate(segments):
        counts[i, : len(indptr) - 1] = np.diff(indptr)
    indptr_out = np.zeros(width + 1, dtype=np.int64)
    np.cumsum(counts.sum(axis=0), out=indptr_out[1:])
    before = np.cumsum(counts, axis=0) - counts  # per part and term: the postings of earlier parts
    slots_out = np.empty(int(indptr_out[-1]), dtype=np.int32)
    tfs_out = np.empty(int(indptr_out[-1]), dtype=np.uint16)
    for i, (indptr, slots, tfs) in enumerate(segments):
        n = len(indptr) - 1
        shift = indptr_out[:n] + before[i, :n] - indptr[:-1]  # a posting's place, minus its place in the part
        where = np.repeat(shift, counts[i, :n]) + np.arange(len(slots))
        slots_out[where] = slots
        tfs_out[where] = tfs
    return indptr_out, slots_out, tfs_out


class BM25Index:
    """Documents are (key, term ids). Keys are caller ids (e.g. SQLite row ids), added in increasing order."""

    def __init__(self, params: BM25Params | None = None) -> None:
        self.params = params or BM25Params()
        # Per slot (a document's position, in order of addition). A compacted or loaded index keeps keys and
        # tags as uint32 and lengths as uint16 when their values fit (int64 / int32 otherwise).
        self._keys: AnyIntArray = np.zeros(0, dtype=np.int64)
        self._tags: AnyIntArray = np.zeros(0, dtype=np.int64)  # a caller's label per document, e.g. its article id
        self._lengths: AnyIntArray = np.zeros(0, dtype=np.int32)
        self._longest = 0  # the largest length ever added: the size of the length-norm table
        self._alive = np.zeros(0, dtype=bool)
        self._dead = 0  # slots marked dead in _alive (remove): with none, scoring skips the test
        # Base segment: postings of term t are _post_slots[_indptr[t]:_indptr[t+1]] with _post_tf alike
        # (uint8 term frequencies when every one is below 256, else uint16).
        self._indptr = np.zeros(1, dtype=np.int64)
        self._post_slots = np.zeros(0, dtype=np.int32)
        self._post_tf: AnyIntArray = np.zeros(0, dtype=np.uint16)
        # Bulk segments (CSR like the base) from add_many(compact=False), and the delta of single adds.
        self._segments: list[Segment] = []
        self._delta_keys: list[int] = []
        self._delta_tags: list[int] = []
        self._delta_lengths: list[int] = []
        self._delta_postings: defaultdict[int, list[tuple[int, int]]] = defaultdict(list)
        self._delta_size = 0
        # Statistics over live documents.
        self._df = np.zeros(0, dtype=np.int64)
        # Per term, for pruning (top_k): the largest tf and the largest tf / document length among its postings
        # ever added. Removals leave them as they are: still upper bounds.
        self._tf_max = np.zeros(0, dtype=np.float64)
        self._density_max = np.zeros(0, dtype=np.float64)
        self._live_count = 0
        self._total_length = 0
        self._norm_cache: tuple[tuple[int, int, int, float, float], FloatArray] | None = None  # by length
        # Per-question accumulators (see score); zero between questions.
        self._acc = np.zeros(0)
        self._acc_idf = np.zeros(0)
        self._mark = np.zeros(0, dtype=bool)

    # -- size -------------------------------------------------------------------------------------------
    @property
    def slot_count(self) -> int:
        return len(self._keys) + len(self._delta_keys)

    @property
    def live_count(self) -> int:
        return self._live_count

    def keys(self, slots: IntArray) -> IntArray:
        self.flush_delta()
        return self._keys[slots].astype(np.int64)

    def tags(self, slots: IntArray) -> IntArray:
        self.flush_delta()
        return self._tags[slots].astype(np.int64)

    # -- building ---------------------------------------------------------------------------------------
    def add(self, key: int, term_ids: Sequence[int], tag: int = 0) -> int:
        """Add one document; returns its slot. O(len(term_ids)), independent of the corpus size (no compaction)."""
        return self._append(key, term_ids, tag)

    @property
    def needs_compaction(self) -> bool:
        """Folding segments and delta into the base pays off now (the caller decides when to do it)."""
        return self._delta_size >= COMPACT_AFTER_POSTINGS or len(self._segments) >= MAX_SEGMENTS

    def add_many(
        self,
        keys: Sequence[int],
        docs: Sequence[npt.ArrayLike],
        tags: Sequence[int] | None = None,
        *,
        compact: bool = True,
    ) -> None:
        """Bulk add, vectorised. With ``compact=False`` the documents form a segment of their own, searched
        alongside the base until the next compaction (bulk imports add batch by batch, then compact once)."""
        if len(keys) == 0:
            self.flush_delta()
            return
        arrays = [np.asarray(d, dtype=np.int64) for d in docs]
        lengths = np.fromiter((len(a) for a in arrays), dtype=np.int64, count=len(arrays))
        self.add_flat(keys, np.concatenate(arrays), lengths, tags, compact=compact)

    def add_flat(
        self,
        keys: npt.ArrayLike,
        terms: npt.ArrayLike,
        lengths: npt.ArrayLike,
        tags: npt.ArrayLike | None = None,
        *,
        compact: bool = True,
    ) -> None:
        """add_many with the documents' terms end to end in one array and their lengths in another: what a bulk
        import has at hand, without a Python list per document."""
        self.flush_delta()
        keys = np.asarray(keys, dtype=np.int64)
        if len(keys) == 0:
            return
        terms = np.asarray(terms, dtype=np.int64)
        lengths = np.asarray(lengths, dtype=np.int64)
        first_slot = len(self._keys)
        slots = np.repeat(np.arange(first_slot, first_slot + len(keys), dtype=np.int64), lengths)
        width = int(max(terms.max(initial=-1) + 1, 1))
        self._grow_df(width)
        pairs, tfs = np.unique(terms * (first_slot + len(keys)) + slots, return_counts=True)  # by term, then slot
        new_terms, new_slots = np.divmod(pairs, first_slot + len(keys))
        self._df[:width] += np.bincount(new_terms, minlength=width)
        # Per-term maxima by runs (pairs are sorted by term): np.maximum.at is an unbuffered loop, many times slower.
        runs = np.flatnonzero(np.diff(new_terms, prepend=-1))
        terms_here = new_terms[runs]
        self._tf_max[terms_here] = np.maximum(self._tf_max[terms_here], np.maximum.reduceat(tfs, runs))
        densities = np.maximum.reduceat(tfs / lengths[new_slots - first_slot], runs)
        self._density_max[terms_here] = np.maximum(self._density_max[terms_here], densities)
        self._keys = np.concatenate([self._keys, np.asarray(keys, dtype=np.int64)])
        tag_array = np.zeros(len(keys), dtype=np.int64) if tags is None else np.asarray(tags, dtype=np.int64)
        self._tags = np.concatenate([self._tags, tag_array])
        self._lengths = np.concatenate([self._lengths, lengths.astype(np.int32)])
        self._longest = max(self._longest, int(lengths.max(initial=0)))
        self._alive = np.concatenate([self._alive, np.ones(len(keys), dtype=bool)])
        self._live_count += len(keys)
        self._total_length += int(lengths.sum())
        indptr = np.zeros(width + 1, dtype=np.int64)
        np.cumsum(np.bincount(new_terms, minlength=width), out=indptr[1:])
        self._segments.append((indptr, new_slots.astype(np.int32), np.minimum(tfs, 65535).astype(np.uint16)))
        if compact:
            self.compact()

    @property
    def segment_count(self) -> int:
        return len(self._segments)

    def merged_segments(self, fan_in: int = MERGE_FAN_IN) -> list[Segment] | None:
        """The segments after a tiered merge: while the newest ``fan_in`` are of about one size (within 2x), they
        become one; None when there is nothing to merge. A bulk import calls this after each batch instead of
        compacting everything: each posting is then merged about log_fan_in(batches) times instead of once per
        compaction of the whole growing index. Leaves this index untouched (a worker thread may run it; the caller
        keeps the index from changing meanwhile and swaps the result in with set_segments)."""
        segments = list(self._segments)
        merged = False
        while len(segments) >= fan_in:
            sizes = [len(slots) for _, slots, _ in segments[-fan_in:]]
            if max(sizes) > 2 * max(min(sizes), 1):
                break
            segments[-fan_in:] = [_merge_segments(segments[-fan_in:])]
            merged = True
        return segments if merged else None

    def set_segments(self, segments: list[Segment]) -> None:
        self._segments = segments

    def _append(self, key: int, term_ids: Sequence[int], tag: int) -> int:
        slot = self.slot_count
        self._delta_keys.append(key)
        self._delta_tags.append(tag)
        self._delta_lengths.append(len(term_ids))
        self._longest = max(self._longest, len(term_ids))
        counts = Counter(term_ids)
        self._grow_df(max(counts, default=-1) + 1)
        for term, tf in counts.items():
            self._delta_postings[term].append((slot, min(tf, 65535)))
        if counts:  # the term statistics a few at a time in numpy: item by item they were most of a small add
            terms = np.fromiter(counts.keys(), dtype=np.int64, count=len(counts))
            tfs = np.minimum(np.fromiter(counts.values(), dtype=np.float64, count=len(counts)), 65535)
            self._df[terms] += 1  # distinct terms: no index repeats
            self._tf_max[terms] = np.maximum(self._tf_max[terms], tfs)
            self._density_max[terms] = np.maximum(self._density_max[terms], tfs / len(term_ids))
        self._delta_size += len(counts)
        self._live_count += 1
        self._total_length += len(term_ids)
        return slot

    def remove(self, key: int, term_ids: Sequence[int]) -> bool:
        """Mark the document with this key dead; ``term_ids`` are its terms (the caller stored them)."""
        self.flush_delta()
        slot = (
            int(self._keys.searchsorted(self._keys.dtype.type(key)))  # its dtype: see holding
            if _holds(self._keys.dtype, np.array([key]))[0]
            else len(self._keys)
        )
        if slot >= len(self._keys) or self._keys[slot] != key or not self._alive[slot]:
            return False
        self._alive[slot] = False
        self._dead += 1
        for term in set(term_ids):
            self._df[term] -= 1
        self._live_count -= 1
        self._total_length -= int(self._lengths[slot])
        return True

    def compact(self) -> None:
        """Fold the segments and the delta into the base and drop dead documents, in place."""
        if self.is_compact:
            return
        vars(self).update(vars(self.compacted()))

    @property
    def is_compact(self) -> bool:
        return not self._delta_keys and not self._delta_postings and not self._segments and bool(self._alive.all())

    def compacted(self) -> BM25Index:
        """A compacted copy, leaving this index untouched: a worker thread builds it while questions keep
        reading this one (the caller keeps this one from changing meanwhile), then the caller swaps it in.
        O(total postings), numpy."""
        keys = np.concatenate([self._keys, np.asarray(self._delta_keys, dtype=np.int64)])
        tags = np.concatenate([self._tags, np.asarray(self._delta_tags, dtype=np.int64)])
        lengths = np.concatenate([self._lengths, np.asarray(self._delta_lengths, dtype=np.int32)])
        alive = np.concatenate([self._alive, np.ones(len(self._delta_keys), dtype=bool)])
        keep = np.flatnonzero(alive)
        # New slot numbers for surviving documents; -1 for dead ones.
        renumber = np.full(len(keys), -1, dtype=np.int64)
        renumber[keep] = np.arange(len(keep))
        n_terms = len(self._df)
        out = BM25Index(self.params)
        if self._delta_postings:
            out._indptr, out._post_slots, all_tfs = self._sorted_postings(renumber, n_terms)
        else:
            out._indptr, out._post_slots, all_tfs = self._merged_postings(renumber, n_terms, len(keep) < len(keys))
        out._post_tf = _narrowest(all_tfs, (np.uint8, np.uint16))
        out._keys = _narrowest(keys[keep], (np.uint32, np.int64))
        out._tags = _narrowest(tags[keep], (np.uint32, np.int64))
        out._lengths = _narrowest(lengths[keep], (np.uint16, np.int32))
        out._longest = self._longest
        out._alive = np.ones(len(keep), dtype=bool)
        out._df = self._df.copy()
        out._tf_max, out._density_max = _term_bounds(out._indptr, out._post_slots, out._post_tf, out._lengths)
        out._live_count, out._total_length = self._live_count, self._total_length
        return out

    def _merged_postings(
        self, renumber: IntArray, n_terms: int, any_dead: bool
    ) -> tuple[IntArray, npt.NDArray[np.int32], npt.NDArray[np.integer]]:
        """Base and segments (no delta postings) in one CSR, sorted by term then slot: they hold consecutive slot
        ranges in order, so merging them by counting gives what sorting would, in linear time."""
        base: Segment = (self._indptr, self._post_slots, self._post_tf.astype(np.uint16, copy=False))
        indptr, slots, tfs = _merge_segments([base, *self._segments])
        if any_dead:
            terms = np.repeat(np.arange(len(indptr) - 1), np.diff(indptr))
            new_slots = renumber[slots]
            live = new_slots >= 0
            slots, tfs = new_slots[live].astype(np.int32), tfs[live]
            indptr = np.zeros(len(indptr), dtype=np.int64)
            np.cumsum(np.bincount(terms[live], minlength=len(indptr) - 1), out=indptr[1:])
        out_indptr = np.full(n_terms + 1, indptr[-1], dtype=np.int64)
        out_indptr[: len(indptr)] = indptr
        return out_indptr, slots, tfs

    def _sorted_postings(
        self, renumber: IntArray, n_terms: int
    ) -> tuple[IntArray, npt.NDArray[np.int32], npt.NDArray[np.integer]]:
        """Base, delta and segments in one CSR, sorted by term then slot (the delta's slots interleave)."""
        base_terms = np.repeat(np.arange(len(self._indptr) - 1), np.diff(self._indptr))
        slots = [self._post_slots.astype(np.int64)]
        terms = [base_terms]
        tfs = [self._post_tf]
        for term, postings in list(self._delta_postings.items()):
            arr = np.asarray(postings, dtype=np.int64)
            terms.append(np.full(len(postings), term, dtype=np.int64))
            slots.append(arr[:, 0])
            tfs.append(arr[:, 1].astype(np.uint16))
        for indptr, seg_slots, seg_tfs in self._segments:
            slots.append(seg_slots.astype(np.int64))
            terms.append(np.repeat(np.arange(len(indptr) - 1), np.diff(indptr)))
            tfs.append(seg_tfs)
        all_slots = renumber[np.concatenate(slots)]
        all_terms = np.concatenate(terms)
        all_tfs = np.concatenate(tfs)
        live = all_slots >= 0
        all_slots, all_terms, all_tfs = all_slots[live], all_terms[live], all_tfs[live]
        order = np.lexsort((all_slots, all_terms))
        indptr = np.zeros(n_terms + 1, dtype=np.int64)
        np.cumsum(np.bincount(all_terms, minlength=n_terms), out=indptr[1:])
        return indptr, all_slots[order].astype(np.int32), all_tfs[order]

    def flush_delta(self) -> None:
        """Move the delta's per-slot lists into the arrays (postings stay in the delta)."""
        if self._delta_keys:
            self._keys = np.concatenate([self._keys, np.asarray(self._delta_keys, dtype=np.int64)])
            self._tags = np.concatenate([self._tags, np.asarray(self._delta_tags, dtype=np.int64)])
            self._lengths = np.concatenate([self._lengths, np.asarray(self._delta_lengths, dtype=np.int32)])
            self._alive = np.concatenate([self._alive, np.ones(len(self._delta_keys), dtype=bool)])
            self._delta_keys, self._delta_tags, self._delta_lengths = [], [], []

    def _grow_df(self, size: int) -> None:
        if size > len(self._df):
            extra = max(size - len(self._df), 1024)
            self._df = np.concatenate([self._df, np.zeros(extra, dtype=np.int64)])
            self._tf_max = np.concatenate([self._tf_max, np.zeros(extra)])
            self._density_max = np.concatenate([self._density_max, np.zeros(extra)])

    # -- scoring ----------------------------------------------------------------------------------------
    def idf(self, term: int) -> float:
        """rank-bm25 BM25Plus idf; a term no live document holds contributes nothing (as in rank-bm25)."""
        df = int(self._df[term]) if 0 <= term < len(self._df) else 0
        return math.log((self._live_count + 1) / df) if df > 0 else 0.0

    def _length_norm(self) -> FloatArray:
        """k1 * (1 - b + b * len / avgdl) per document length (index it with the lengths of the slots): a table
        of the few hundred lengths there are instead of a float per document, recomputed only when the
        statistics change. The same float operations per value as computing it per document: equal bits."""
        key = (self._longest, self._live_count, self._total_length, self.params.k1, self.params.b)
        if self._norm_cache is None or self._norm_cache[0] != key:
            avgdl = self._total_length / self._live_count if self._live_count else 1.0
            k1, b = self.params.k1, self.params.b
            norm = k1 * (1.0 - b + b * np.arange(self._longest + 1, dtype=np.float64) / (avgdl or 1.0))
            self._norm_cache = (key, norm)
        return self._norm_cache[1]

    def score(
        self, query: Sequence[int], within_tags: npt.ArrayLike | None = None, *, with_matched: bool = True
    ) -> Scored:
        """Scores of live documents holding at least one query term (query repeats count, as in rank-bm25).

        With ``within_tags``, only documents carrying one of those tags are scored (statistics stay global).
        Documents are added tag by tag in increasing order (sentences article by article), so each tag's
        documents are a run of slots, and each term's postings are cut by binary search, not scanned.
        ``with_matched=False`` skips the per-document IDF coverage (``matched_idf`` is then empty); ask
        ``matched_idf`` for the few documents that need it instead.

        Term at a time into two accumulators kept between questions (within tags: see _score_within): a term's
        postings hold each document once, so a plain scatter-add is exact, and only the touched entries are read
        (and reset afterwards).
        The work is proportional to the postings of the question's terms, not to the corpus size.
        """
        self.flush_delta()
        norm, lengths = self._length_norm(), self._lengths
        k1 = self.params.k1
        if within_tags is not None:
            wanted = np.unique(np.asarray(within_tags, dtype=np.int64))
            wanted = wanted[_holds(self._tags.dtype, wanted)].astype(self._tags.dtype)  # searched in its dtype
            starts, ends = self._tags.searchsorted(wanted, "left"), self._tags.searchsorted(wanted, "right")
            return self._score_within(query, _Runs(starts, ends, self._post_slots.dtype), with_matched)
        acc, acc_idf = self._accumulators()
        baseline = 0.0
        touched: list[npt.NDArray[np.integer]] = []  # positions in acc, first reached per term
        touched_slots: list[npt.NDArray[np.integer]] = []
        try:
            for term, repeats in Counter(query).items():
                idf = self.idf(term)
                if idf == 0.0:
                    continue
                baseline += repeats * idf * self.params.delta
                slots, tfs = self._postings(term)
                at: npt.NDArray[np.integer] = slots
                if len(slots) == 0:
                    continue
                tf = tfs.astype(np.float64)
                new = acc[at] == 0.0  # first reached here (every weight is > 0)
                touched.append(at[new])
                touched_slots.append(slots[new])
                acc[at] += repeats * idf * tf * (k1 + 1.0) / (norm[lengths[slots]] + tf)
                if with_matched:
                    acc_idf[at] += idf
            reached = np.concatenate(touched).astype(np.int64) if touched else np.zeros(0, dtype=np.int64)
            candidates = np.concatenate(touched_slots).astype(np.int64) if touched else np.zeros(0, dtype=np.int64)
            sums = acc[reached]
            matched = acc_idf[reached] if with_matched else np.zeros(0)
        finally:
            for at in touched:
                acc[at] = 0.0
                acc_idf[at] = 0.0
        return self._live_scored(candidates, sums, baseline, matched if with_matched else None)

    def _score_within(self, query: Sequence[int], runs: _Runs, with_matched: bool) -> Scored:
        """score() within the runs of some tags: every term's postings there are cut first, then scored in one
        pass, and summed per document by bincount, which adds them in the order given (term after term, as the
        accumulators of score() do): the same floats, in a fixed number of numpy calls instead of a dozen per term.
        Documents come in the order score() gives, the order a term first reaches them."""
        norm, lengths = self._length_norm(), self._lengths
        k1 = self.params.k1
        baseline = 0.0
        cut_slots: list[npt.NDArray[np.integer]] = []
        cut_tfs: list[npt.NDArray[np.integer]] = []
        cut_at: list[IntArray] = []
        weights: list[float] = []
        idfs: list[float] = []
        # One CSR (a loaded snapshot, or after compaction): every term's cut is taken in the same few numpy calls.
        spans: list[tuple[int, int]] | None = [] if not self._segments and not self._delta_postings else None
        for term, repeats in Counter(query).items():
            idf = self.idf(term)
            if idf == 0.0:
                continue
            baseline += repeats * idf * self.params.delta
            if spans is not None:
                if term + 1 < len(self._indptr) and self._indptr[term] < self._indptr[term + 1]:
                    spans.append((int(self._indptr[term]), int(self._indptr[term + 1])))
                    weights.append(repeats * idf)
                    idfs.append(idf)
                continue
            slots, tfs, at = runs.cut(*self._postings(term))
            if len(slots):
                cut_slots.append(slots)
                cut_tfs.append(tfs)
                cut_at.append(at)
                weights.append(repeats * idf)
                idfs.append(idf)
        if spans:
            slots, tfs, at, counts = runs.cut_spans(self._post_slots, self._post_tf, spans)
            cut_slots = [slots] if len(slots) else []
        else:
            counts = [len(slots) for slots in cut_slots]
        if not cut_slots:
            empty = np.zeros(0, dtype=np.int64)
            return Scored(empty, np.zeros(0), baseline, np.zeros(0))
        if not spans:
            slots, at, tfs = np.concatenate(cut_slots), np.concatenate(cut_at), np.concatenate(cut_tfs)
        tf = tfs.astype(np.float64)
        part = np.array(weights).repeat(counts) * tf * (k1 + 1.0) / (norm.take(lengths.take(slots)) + tf)
        first = np.unique(at, return_index=True)[1]  # where each document is first reached ...
        first.sort()  # ... in the order of reaching
        reached = at[first]
        candidates = slots[first].astype(np.int64)
        # (bincount with weights gives float64; numpy's stubs say integers)
        sums = cast(FloatArray, np.bincount(at, weights=part, minlength=runs.size)[reached])
        matched = (
            cast(FloatArray, np.bincount(at, weights=np.array(idfs).repeat(counts), minlength=runs.size)[reached])
            if with_matched
            else np.zeros(0)
        )
        return self._live_scored(candidates, sums, baseline, matched if with_matched else None)

    def matched_idf(self, query: Sequence[int], slots: IntArray) -> FloatArray:
        """For each slot, the IDF summed over the distinct query terms it holds (binary search per term)."""
        order = slots.argsort()
        ordered = slots[order]
        total = np.zeros(len(slots))
        searched: dict[np.dtype[Any], npt.NDArray[np.integer]] = {}  # the slots in each postings dtype, made once
        for term in set(query):
            idf = self.idf(term)
            if idf == 0.0 or not len(ordered):
                continue
            postings, _ = self._postings(term)
            if not len(postings):
                continue
            if postings.dtype not in searched:
                searched[postings.dtype] = ordered.astype(postings.dtype)
            # clip: a slot past the last posting reads the last one (not equal to it, so not held)
            found = postings.take(postings.searchsorted(searched[postings.dtype]), mode="clip")
            total += np.where(found == ordered, idf, 0.0)
        out = np.empty(len(slots))
        out[order] = total
        return out

    def chance_idf(self, query: Sequence[int], slots: IntArray) -> FloatArray:
        """For each slot, what ``matched_idf`` would expect from its length alone: per distinct query term, the IDF
        times the chance that a document this long holds the term, read as that many documents of average length
        that each hold it with its document frequency. A long page holds the common words of any question.
        Counted over at least CHANCE_MIN_DOCUMENTS: a store of three articles would call every word it holds
        common."""
        self.flush_delta()
        if not self._live_count or not len(slots):
            return np.zeros(len(slots))
        relative = self._lengths[slots] / (self._total_length / self._live_count)
        documents = max(self._live_count, CHANCE_MIN_DOCUMENTS)
        total = np.zeros(len(slots))
        for term in set(query):
            if idf := self.idf(term):
                share = min(int(self._df[term]) / documents, 1.0 - 1e-9)
                total += idf * -np.expm1(relative * math.log1p(-share))  # 1 - (1 - share) ** relative
        return total

    def holding(self, query: Sequence[int], slot: int) -> set[int]:
        """The distinct query terms (with an IDF above 0) that the document at ``slot`` holds: per term, what
        ``matched_idf`` sums for one document, by one binary search each."""
        held = set()
        for term in set(query):
            if self.idf(term) == 0.0:
                continue
            postings, _ = self._postings(term)
            # In the postings' dtype: with a Python int, numpy would first copy the term's postings to int64.
            at = int(postings.searchsorted(postings.dtype.type(slot)))
            if at < len(postings) and postings[at] == slot:
                held.add(term)
        return held

    def _accumulators(self) -> tuple[FloatArray, FloatArray]:
        """The score and matched-IDF accumulators, one entry per slot and all zero between uses, grown as needed."""
        if len(self._acc) < self.slot_count:
            self._acc = np.zeros(self.slot_count + 1024)
            self._acc_idf = np.zeros(self.slot_count + 1024)
        return self._acc, self._acc_idf

    def _marks(self) -> BoolArray:
        """A flag per slot, all False between uses (like the accumulators), grown as needed."""
        if len(self._mark) < self.slot_count:
            self._mark = np.zeros(self.slot_count + 1024, dtype=bool)
        return self._mark

    def _postings(self, term: int) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer]]:
        if not self._segments and not self._delta_postings:  # one CSR, as after loading or compacting: two slices
            if term + 1 < len(self._indptr):
                lo, hi = self._indptr[term], self._indptr[term + 1]
                return self._post_slots[lo:hi], self._post_tf[lo:hi]
            return self._post_slots[:0], self._post_tf[:0]
        parts_slots: list[npt.NDArray[np.integer]] = []
        parts_tf: list[npt.NDArray[np.integer]] = []
        for indptr, slots, tfs in [(self._indptr, self._post_slots, self._post_tf), *self._segments]:
            if term + 1 < len(indptr) and indptr[term] < indptr[term + 1]:
                lo, hi = indptr[term], indptr[term + 1]
                parts_slots.append(slots[lo:hi])
                parts_tf.append(tfs[lo:hi])
        delta = self._delta_postings.get(term)
        if delta:
            arr = np.asarray(delta, dtype=np.int64)
            parts_slots.append(arr[:, 0])
            parts_tf.append(arr[:, 1].astype(np.uint16))
        if not parts_slots:
            return self._post_slots[:0], self._post_tf[:0]
        if len(parts_slots) == 1:
            return parts_slots[0], parts_tf[0]
        slots, tfs = np.concatenate(parts_slots), np.concatenate(parts_tf)
        # Single adds made before a bulk segment sit in the delta with lower slots than the segment's:
        # callers binary-search postings, so keep them in slot order.
        if np.any(slots[1:] < slots[:-1]):
            order = np.argsort(slots, kind="stable")
            slots, tfs = slots[order], tfs[order]
        return slots, tfs

    def top_k(
        self, query: Sequence[int], k: int, admit: Callable[[IntArray], BoolArray] | None = None
    ) -> tuple[IntArray, FloatArray]:
        """The slots of exactly the ``k`` best live documents holding a query term that ``admit`` (given slots)
        accepts, and their scores without the delta baseline, best first, ties by key: the same as ranking
        every score(), but the postings of common terms are mostly not read (MaxScore).

        Terms are taken rarest-bound first and their postings scored in full until the documents reached hold
        a k-th best partial score above what all remaining terms together could add: then no unreached
        document can enter the top k, and the remaining terms are only looked up (binary search) for the
        reached documents whose partial score plus that bound can still reach the k-th best. The bound of a
        term is idf × the BM25 tf part at its largest tf and its densest document (tf / length), so it holds
        whatever k1, b and the average length are. Final scores are summed in the query's term order, as in
        score(), so equal documents tie exactly.
        """
        self.flush_delta()
        norm, lengths = self._length_norm(), self._lengths
        k1, b = self.params.k1, self.params.b
        avgdl = (self._total_length / self._live_count if self._live_count else 1.0) or 1.0
        weights = {term: repeats * self.idf(term) for term, repeats in Counter(query).items()}
        weights = {term: w for term, w in weights.items() if w > 0.0}
        if k <= 0 or not weights:
            return np.zeros(0, dtype=np.int64), np.zeros(0)
        bound = {
            t: w * (k1 + 1.0) / (1.0 + k1 * (1.0 - b) / self._tf_max[t] + k1 * b / (avgdl * self._density_max[t]))
            for t, w in weights.items()
        }
        by_bound = sorted(weights, key=lambda t: -bound[t])
        acc, _ = self._accumulators()
        touched: list[IntArray] = []
        admitted: list[IntArray] = []
        remaining = sum(bound.values())
        threshold = 0.0
        scanned = 0
        try:
            for term in by_bound:
                stored, tfs = self._postings(term)
                slots = stored.astype(np.intp)  # once: numpy converts any other index dtype at every use
                before = acc[slots]  # read once: a term's postings hold each document once
                first_reached = slots[before == 0.0]
                touched.append(first_reached)
                admitted.append(self._admitted(first_reached, admit))
                # before + weight * tf * (k1 + 1) / (norm + tf), in place: the same operations in the same order
                part = tfs.astype(np.float64)
                divisor = norm.take(lengths[slots])  # take: indexing by uint16 is several times slower
                divisor += part
                part *= weights[term]
                part *= k1 + 1.0
                part /= divisor
                part += before
                acc[slots] = part
                scanned += 1
                remaining -= bound[term]
                reached = np.concatenate(admitted)
                if len(reached) > k:
                    partial = acc[reached]
                    threshold = float(np.partition(partial, len(partial) - k)[len(partial) - k])
                    if remaining < threshold * (1.0 - _BOUND_SLACK):
                        break
            candidates = reached
            if len(candidates) <= k:  # else the last step read them already, after its term was added
                partial = acc[candidates]
        finally:
            for slots in touched:
                acc[slots] = 0.0
        # The rest of the terms, looked up for the candidates that can still make the top k. Their exact parts
        # are kept (by position among the first candidates) for the final sum instead of being looked up again.
        looked: dict[int, FloatArray] = {}
        reached_count = len(candidates)
        at = np.arange(reached_count)
        for term in by_bound[scanned:]:
            keep = partial + remaining >= threshold * (1.0 - _BOUND_SLACK)
            candidates, partial, at = candidates[keep], partial[keep], at[keep]
            part = self._contribution(term, weights[term], candidates, norm)
            looked[term] = np.zeros(reached_count)
            looked[term][at] = part
            partial = partial + part
            remaining -= bound[term]
            if len(partial) > k:  # partial scores only grow: the k-th best of them rules out more for the next term
                threshold = max(threshold, float(np.partition(partial, len(partial) - k)[len(partial) - k]))
        final = partial >= threshold * (1.0 - _BOUND_SLACK)
        order = candidates[final].argsort(kind="stable")
        candidates, at = candidates[final][order], at[final][order]
        scores = np.zeros(len(candidates))
        for term, weight in weights.items():  # exact, in the query's order
            scores += looked[term][at] if term in looked else self._contribution(term, weight, candidates, norm)
        # Ranked as score() ranks, with the baseline added the same way: sums one ulp apart can round to one
        # value there, and then the key decides (ranking the bare sums put key 1 before key 0 on such a tie).
        order = top_k_order(scores + self._baseline(query), k, tiebreak=self._keys[candidates])
        return candidates[order], scores[order]

    def _baseline(self, query: Sequence[int]) -> float:
        """The delta part every live document gets for this query, summed as score() sums it."""
        baseline = 0.0
        for term, repeats in Counter(query).items():
            idf = self.idf(term)
            if idf != 0.0:
                baseline += repeats * idf * self.params.delta
        return baseline

    def _live_scored(
        self, candidates: IntArray, sums: FloatArray, baseline: float, matched: FloatArray | None
    ) -> Scored:
        """Scored for the live ones of ``candidates`` (``matched`` None: not asked for, empty)."""
        if self._dead:
            alive = self._alive[candidates]
            candidates, sums = candidates[alive], sums[alive]
            matched = None if matched is None else matched[alive]
        return Scored(candidates, sums + baseline, baseline, np.zeros(0) if matched is None else matched)

    def _admitted(self, slots: IntArray, admit: Callable[[IntArray], BoolArray] | None) -> IntArray:
        """The live ``slots`` that ``admit`` accepts: all of them, as they are, when none is dead and none tested."""
        if admit is None and not self._dead:
            return slots
        alive = self._alive[slots]
        return slots[alive if admit is None else alive & admit(slots)]

    def _contribution(self, term: int, weight: float, slots: IntArray, norm: FloatArray) -> FloatArray:
        """One term's BM25 part (without the delta) for each of ``slots`` (sorted or not), 0 where absent.

        Binary search per slot; when the slots are many for the term's postings (a common term looked up for the
        thousands of candidates of a question of mid-frequency words), the postings are scored through the
        accumulator instead, which must then be zero (top_k calls this only outside its scan): a binary search
        costs about as much as scoring six postings. The same value for each slot either way."""
        postings, tfs = self._postings(term)
        out = np.zeros(len(slots))
        if not len(postings) or not len(slots):
            return out
        if _DENSE_LOOKUP * len(slots) >= len(postings):
            # Only the postings of the slots asked are scored: marked in a byte per slot, found in one pass.
            marks = self._marks()
            marks[slots] = True
            try:
                held = marks.take(postings)
            finally:
                marks[slots] = False
            hits = postings[held].astype(np.intp)
            tf = tfs[held].astype(np.float64)
            acc, _ = self._accumulators()
            try:
                acc[hits] = weight * tf * (self.params.k1 + 1.0) / (norm.take(self._lengths[hits]) + tf)
                return acc[slots]
            finally:
                acc[hits] = 0.0
        # Searched in the postings' own dtype: a mixed-dtype search would first copy all the term's postings.
        at = np.minimum(postings.searchsorted(slots.astype(postings.dtype)), len(postings) - 1)
        hit = postings[at] == slots
        tf = tfs[at[hit]].astype(np.float64)
        out[hit] = weight * tf * (self.params.k1 + 1.0) / (norm.take(self._lengths[slots[hit]]) + tf)
        return out

    def top(self, query: Sequence[int], k: int) -> tuple[IntArray, FloatArray]:
        """The keys and scores (as rank-bm25 gives them) of the ``k`` best documents holding a query term, best
        first: the pruned path, which `citebot bench` checks against rank-bm25."""
        slots, scores = self.top_k(query, k)
        baseline = sum(repeats * self.idf(term) * self.params.delta for term, repeats in Counter(query).items())
        return self.keys(slots), scores + baseline

    # -- persistence ------------------------------------------------------------------------------------
    def to_arrays(self) -> dict[str, np.ndarray]:
        """A compact index as arrays, for a snapshot. Copies what removals change in place (alive, df), so the
        arrays stay valid while this index goes on changing; the others are replaced, never written to."""
        if self._delta_keys or self._delta_postings or self._segments:
            raise ValueError("compact the index before taking its arrays")
        return {
            "keys": self._keys,
            "tags": self._tags,
            "lengths": self._lengths,
            "alive": self._alive.copy(),
            "indptr": self._indptr,
            "post_slots": self._post_slots,
            "post_tf": self._post_tf,
            "df": self._df.copy(),
            "tf_max": self._tf_max.copy(),
            "density_max": self._density_max.copy(),
            "stats": np.array([self._live_count, self._total_length], dtype=np.int64),
        }

    @classmethod
    def from_arrays(cls, data: dict[str, np.ndarray], params: BM25Params | None = None) -> BM25Index:
        """The arrays hold postings and statistics only; k1, b and delta act at question time.

        Arrays already in a dtype this index keeps are used as they are, without a copy (a snapshot's are
        read-only views of the mapped file, never written to: compaction builds new ones); the few that removals
        and additions change in place (alive, df and the term bounds) are copied. Anything else is converted
        after checking that its values fit, and inconsistent arrays raise ValueError."""
        index = cls(params)
        index._keys = _checked(data["keys"], (np.uint32, np.int64), "keys")
        index._tags = _checked(data["tags"], (np.uint32, np.int64), "tags")
        index._lengths = _checked(data["lengths"], (np.uint16, np.int32), "lengths")
        index._alive = np.array(data["alive"], dtype=bool)
        index._dead = len(index._alive) - int(np.count_nonzero(index._alive))
        index._indptr = np.asarray(_checked(data["indptr"], (np.int64,), "indptr"), dtype=np.int64)
        index._post_slots = np.asarray(_checked(data["post_slots"], (np.int32,), "post_slots"), dtype=np.int32)
        index._post_tf = _checked(data["post_tf"], (np.uint8, np.uint16), "post_tf")
        index._df = np.array(data["df"], dtype=np.int64)
        index._tf_max = np.array(data["tf_max"], dtype=np.float64)
        index._density_max = np.array(data["density_max"], dtype=np.float64)
        index._live_count, index._total_length = (int(x) for x in data["stats"])
        index._longest = int(index._lengths.max(initial=0))
        sizes = {len(index._keys), len(index._tags), len(index._lengths), len(index._alive)}
        if len({len(index._df), len(index._tf_max), len(index._density_max)}) != 1:
            raise ValueError("inconsistent term arrays")
        if (
            len(sizes) != 1
            or index._indptr[-1] != len(index._post_slots)
            or len(index._post_slots) != len(index._post_tf)
        ):
            raise ValueError("inconsistent index arrays")
        if index._indptr[0] != 0 or np.any(np.diff(index._indptr) < 0):
            raise ValueError("postings offsets out of order")
        if len(index._post_slots) and (
            int(index._post_slots.max()) >= len(index._keys) or int(index._post_slots.min()) < 0
        ):
            raise ValueError("postings point past the documents")
        return index


# On the answer path, arrays' methods (a.searchsorted, a.argsort, a.repeat, a.cumsum) rather than the np.*
# functions of the same name: those go through a Python wrapper first, ~1.5 us a call on arrays of a few dozen.

# Pruning compares float sums taken in different orders: keep a document unless it is clearly out.
_BOUND_SLACK = 1e-9
# _contribution scores a term's postings in full, instead of a binary search per slot, from this many slots per
# posting of the term on (measured: a search of thousands of unsorted slots in 30k postings costs ~150 ns a
# slot, scoring a posting into the accumulator ~17 ns).
_DENSE_LOOKUP = 6


def _narrowest(values: npt.NDArray[np.integer], dtypes: tuple[type[np.integer], ...]) -> AnyIntArray:
    """``values`` in the first of ``dtypes`` that holds them all (the last one otherwise)."""
    low, high = (int(values.min()), int(values.max())) if len(values) else (0, 0)
    for dtype in dtypes[:-1]:
        info = np.iinfo(dtype)
        if info.min <= low and high <= info.max:
            return values.astype(dtype, copy=False)
    return values.astype(dtypes[-1], copy=False)


def _checked(values: np.ndarray, dtypes: tuple[type[np.integer], ...], name: str) -> AnyIntArray:
    """A loaded array as it is when its dtype is one of ``dtypes``; else converted to the narrowest that holds
    its values. ValueError when it is not a 1-d integer array or its values fit none of them."""
    if values.ndim != 1 or not np.issubdtype(values.dtype, np.integer):
        raise ValueError(f"{name}: not a 1-d integer array")
    if any(values.dtype == dtype for dtype in dtypes):
        return values
    if len(values):
        info = np.iinfo(dtypes[-1])
        if int(values.min()) < info.min or int(values.max()) > info.max:
            raise ValueError(f"{name}: values out of range")
    return _narrowest(values, dtypes)


def _holds(dtype: np.dtype[Any], values: IntArray) -> BoolArray:
    """Which of ``values`` the integer ``dtype`` can hold (keys and tags outside it cannot be in such an array)."""
    info = np.iinfo(dtype)
    return (values >= info.min) & (values <= info.max)


def _term_bounds(
    indptr: IntArray, slots: npt.NDArray[np.int32], tfs: AnyIntArray, lengths: AnyIntArray
) -> tuple[FloatArray, FloatArray]:
    """Per term of CSR postings: the largest tf and the largest tf / document length (0 for a term without any)."""
    n_terms = len(indptr) - 1
    tf_max, density_max = np.zeros(n_terms), np.zeros(n_terms)
    held = np.flatnonzero(np.diff(indptr) > 0)
    if len(held):
        tf = tfs.astype(np.float64)
        tf_max[held] = np.maximum.reduceat(tf, indptr[held])
        density_max[held] = np.maximum.reduceat(tf / lengths[slots], indptr[held])
    return tf_max, density_max


class _Runs:
    """Runs of slots [starts[i], ends[i]), in increasing order, laid end to end in a small local array: where one
    question's postings are cut (score with ``within_tags``), prepared once for all its terms."""

    __slots__ = ("_bounds", "_count", "_shift", "size")

    def __init__(self, starts: IntArray, ends: IntArray, dtype: np.dtype[Any]) -> None:
        sizes = ends - starts
        self._count = len(starts)
        # Both ends of every run in one array, in the postings' own dtype (a mixed-dtype search would first copy
        # all the term's postings): one binary search per term finds them all.
        self._bounds = np.concatenate([starts, ends]).astype(dtype)
        self._shift = np.cumsum(sizes) - sizes - starts  # a slot's local position, minus the slot
        self.size = int(sizes.sum())

    def cut(
        self, slots: npt.NDArray[np.integer], tfs: npt.NDArray[np.integer]
    ) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer], IntArray]:
        """The postings (sorted by slot) whose slot lies in a run, and their local positions."""
        found = slots.searchsorted(self._bounds)
        lo = found[: self._count]
        lengths = found[self._count :] - lo
        total = int(lengths.sum())
        if not total:
            return slots[:0], tfs[:0], np.zeros(0, dtype=np.int64)
        # positions lo[i] .. lo[i] + lengths[i] - 1 for every run, without a Python loop (empty runs repeat 0 times)
        offsets = (lo - lengths.cumsum() + lengths).repeat(lengths) + np.arange(total)
        slots = slots[offsets]
        return slots, tfs[offsets], slots + self._shift.repeat(lengths)

    def cut_spans(
        self, slots: npt.NDArray[np.integer], tfs: npt.NDArray[np.integer], spans: Sequence[tuple[int, int]]
    ) -> tuple[npt.NDArray[np.integer], npt.NDArray[np.integer], IntArray, list[int]]:
        """``cut`` of each of several terms' postings, ``slots[lo:hi]`` for each span (lo, hi), end to end in span
        order, and how many postings each span kept: one binary search per span, the rest in one go."""
        starts, lengths = [], []
        for lo, hi in spans:
            found = slots[lo:hi].searchsorted(self._bounds)
            starts.append(found[: self._count] + lo)
            lengths.append(found[self._count :] - found[: self._count])
        kept = np.concatenate(lengths)
        counts = kept.reshape(len(spans), self._count).sum(axis=1).tolist()
        total = sum(counts)
        offsets = (np.concatenate(starts) - kept.cumsum() + kept).repeat(kept) + np.arange(total)
        cut = slots[offsets]
        return cut, tfs[offsets], cut + np.concatenate([self._shift] * len(spans)).repeat(kept), counts


_SORT_WHOLE = 128  # top_k_order sorts this many scores or fewer whole (measured: 54 scores, 12 -> 4 us)


def top_k_order(scores: FloatArray, k: int, tiebreak: npt.NDArray[np.integer] | None = None) -> IntArray:
    """Indices of the ``k`` largest scores, best first; ties broken by ``tiebreak`` (default: position)."""
    if k <= 0 or len(scores) == 0:
        return np.zeros(0, dtype=np.int64)
    if len(scores) <= _SORT_WHOLE:
        # One sort of them all costs less than partitioning first, and gives the same order: the scores outside
        # the k best sort after every one of them (scores are never NaN).
        whole = np.lexsort((tiebreak, -scores)) if tiebreak is not None else (-scores).argsort(kind="stable")
        return whole[:k].astype(np.int64)
    if len(scores) > k:
        part = (-scores).argpartition(k - 1)[:k]
        # argpartition picks arbitrarily among equal scores at the cut; take every tie of the k-th score.
        kth = scores[part].min()
        part = np.flatnonzero(scores >= kth)
    else:
        part = np.arange(len(scores))
    order = part[np.lexsort((part if tiebreak is None else tiebreak[part], -scores[part]))]
    return order[:k].astype(np.int64)
