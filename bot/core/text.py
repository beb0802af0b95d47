"""Sentence splitting and retrieval tokenization.

Everything here works offline: the Punkt parameters and the stopword list are in code, and the Snowball
stemmer needs no data. Nothing may ever call ``nltk.download``.

* :func:`split_sentences` cuts an article into :class:`Sentence` objects whose offsets index the original
  text, so every quote stays a verbatim slice of the article.
* :func:`tokenize` turns articles and questions alike into BM25 terms; :func:`token_spans` gives the same
  terms with their character offsets, so a renderer can bold the words that matched.
"""

from __future__ import annotations

import hashlib
import re
import unicodedata
from collections.abc import Callable, Sequence
from functools import lru_cache
from typing import TypeVar

from nltk import redos
from nltk.stem.snowball import SnowballStemmer
from nltk.tokenize.punkt import (
    _ORTHO_BEG_LC,
    _ORTHO_BEG_UC,
    _ORTHO_LC,
    _ORTHO_MID_LC,
    _ORTHO_MID_UC,
    _ORTHO_UC,
    PunktLanguageVars,
    PunktParameters,
    PunktSentenceTokenizer,
    PunktToken,
)

from bot.core.models import Sentence
from bot.core.stopwords import STOPWORDS

_Value = TypeVar("_Value")

__all__ = ["split_sentences", "surface_terms", "token_spans", "tokenize"]

# --------------------------------------------------------------------------------------------------
# Sentence splitting
# --------------------------------------------------------------------------------------------------


def _words(block: str) -> frozenset[str]:
    return frozenset(block.split())


# Punkt normally learns these from a training corpus; we ship them instead (no nltk_data). Entries are
# lower case without the final period, as Punkt looks them up ("U.S." -> "u.s").
_ABBREVIATIONS: frozenset[str] = _words(
    """
    mr mrs ms messrs mme dr prof rev fr hon pres gov govt sen sens rep reps amb supt det insp atty
    gen lt col maj capt cpt cmdr cdr adm sgt cpl pvt brig gens
    st ste mt ft ave blvd rd
    jr sr
    inc corp ltd co cos bros plc llc llp assn dept univ intl natl
    vs v etc e.g i.e cf al approx est viz ca
    vol vols pp fig op
    jan feb mar apr jun jul aug sep sept oct nov dec
    u.s u.s.a u.k u.n e.u u.s.s.r d.c n.y l.a n.j a.m p.m a.d b.c ph.d
    ala ariz calif colo conn fla ga kan kans ky md mich minn mont neb nev okla tenn tex wis wyo
    """
)

# Words that, capitalised after an abbreviation or an initial, almost always open a new sentence
# ("... the U.S. He said"). Without them Punkt would never split after a known abbreviation. "And"/"Or"
# are left out: "the U.S. And Japan" occurs mid-sentence in wire copy.
_SENT_STARTERS: frozenset[str] = _words(
    """
    the a an he she it they we i you his her its their our my this that these those there
    but so yet however meanwhile also still then now in on at for after before when while if
    as although though since despite some many most both all what who why how where
    last earlier later mr mrs ms
    """
)

# Curly quotes -> ASCII, one character for one, so Punkt's spans index the original text unchanged.
_QUOTE_MAP: tuple[tuple[str, str], ...] = (
    ("\u201c", '"'),  # “
    ("\u201d", '"'),  # ”
    ("\u201e", '"'),  # „
    ("\u201f", '"'),  # ‟
    ("\u00ab", '"'),  # «
    ("\u00bb", '"'),  # »
    ("\u2033", '"'),  # ″
    ("\u2018", "'"),  # ‘
    ("\u2019", "'"),  # ’
    ("\u201a", "'"),  # ‚
    ("\u201b", "'"),  # ‛
    ("\u2032", "'"),  # ′
)


WINDOW_CHARS = 20_000
MAX_SENTENCE_CHARS = 2_000
_SENTENCE_END = re.compile(r"[.!?][\"')\]]*\s+")


def _ascii_quotes(text: str) -> str:
    # A few str.replace calls beat str.translate with a dict table, which is slow on long texts.
    for curly, ascii_quote in _QUOTE_MAP:
        if curly in text:
            text = text.replace(curly, ascii_quote)
    return text


_PARAGRAPH_BREAK = re.compile(r"\n\s*\n")
# A line that ends a sentence (or a lead-in such as "He said:"), allowing closing quotes/brackets after it.
_LINE_ENDS_CLAUSE = re.compile(r"[.!?\u2026:;][\"'\u201d\u2019)\]]*$")
_LINE_STARTS_ITEM = re.compile(r"(?:[-*\u2022\u00b7\u2013\u2014]|\d+[.)])\s")
_FIRST_WORD = re.compile(r"[^\W\d_]+")

# Hard-wrapped plain text (e-mail, .txt files) has many lines of similar length near a fixed width.
_WRAP_MIN_WIDTH = 40
_WRAP_MAX_WIDTH = 100
_WRAP_FILL = 0.6


_DOTTED_INITIALS = re.compile(r"(?:[^\W\d_]\.)+[^\W\d_]")


class _Abbreviations(set[str]):
    """Punkt's abbreviation set, plus every dotted-initials form ("e.f" for "E.F. Hutton", "n.z", "j.c"),
    which a fixed list can never cover. Punkt only ever tests membership."""

    def __contains__(self, word: object) -> bool:
        return super().__contains__(word) or (isinstance(word, str) and _DOTTED_INITIALS.fullmatch(word) is not None)


def _punkt_parameters() -> PunktParameters:
    params = PunktParameters()
    params.abbrev_types = _Abbreviations(_ABBREVIATIONS)
    params.sent_starters = set(_SENT_STARTERS)
    for word in _SENT_STARTERS:
        # "Seen capitalised only at sentence starts, lower case mid-sentence": makes Punkt's orthographic
        # heuristic treat "B. The" (an initial before a starter) as a boundary too.
        params.add_ortho_context(word, _ORTHO_BEG_UC | _ORTHO_MID_LC)
    return params


# nltk (>= 3.10) runs every Punkt regex in the third-party `regex` engine under a time limit: safe on any input,
# but the engine and the wrapper around each call were half of the splitting time. The same Punkt, with the
# same patterns compiled by the standard `re`, splits a window in well under half the time. The two engines
# differ only in what some characters are (`regex` counts combining marks and superscripts as \w, `re` counts
# U+001C-U+001F as \s, ...), so the fast Punkt is used only for windows whose every character the two engines
# class alike, and not past _FAST_PUNKT_CHARS; anything else goes through nltk's own path, as before.
_FAST_PUNKT_CHARS = 2 * WINDOW_CHARS
_CLASSES = (r"\s", r"\w", r"\d")  # every class Punkt's patterns use (\S, \W and [^\W\d] derive from them)
_STD_CLASSES = tuple(re.compile(c) for c in _CLASSES)
_NLTK_CLASSES = tuple(redos.compile(c) for c in _CLASSES)
_ASCII_APART = "\x1c\x1d\x1e\x1f"
_CLASSED: set[str] = set()  # characters checked so far
_CLASSED_APART: set[str] = set()  # of which those the two engines class differently


def _engines_agree(chunk: str) -> bool:
    """Whether `re` and nltk's `regex` class every character of ``chunk`` alike (checked once per character)."""
    if chunk.isascii():  # of ASCII, they class only U+001C-U+001F differently (test_text checks)
        return not any(char in chunk for char in _ASCII_APART)
    chars = set(chunk)
    for char in chars - _CLASSED:
        if any(
            (std.match(char) is None) != (timed.match(char) is None)
            for std, timed in zip(_STD_CLASSES, _NLTK_CLASSES, strict=True)
        ):
            _CLASSED_APART.add(char)
        _CLASSED.add(char)
    return chars.isdisjoint(_CLASSED_APART)


def _std(pattern: redos.TimedPattern) -> re.Pattern[str]:
    return re.compile(pattern.pattern, pattern.flags & (re.IGNORECASE | re.MULTILINE | re.DOTALL | re.VERBOSE))


class _StdLanguageVars(PunktLanguageVars):
    """Punkt's English patterns, compiled by `re` (see above)."""

    __slots__ = ()
    re_boundary_realignment = _std(PunktLanguageVars.re_boundary_realignment)

    _period_context = _std(PunktLanguageVars().period_context_re())
    _word_tokenizer = _std(PunktLanguageVars()._word_tokenizer_re())

    def period_context_re(self) -> re.Pattern[str]:
        return self._period_context

    def _word_tokenizer_re(self) -> re.Pattern[str]:
        return self._word_tokenizer


_NON_PUNCT = re.compile(r"[^\W\d]")


class _StdToken(PunktToken):
    """Punkt's token, its patterns compiled by `re`."""

    __slots__ = ()
    _RE_ELLIPSIS = _std(PunktToken._RE_ELLIPSIS)
    _RE_NUMERIC = _std(PunktToken._RE_NUMERIC)
    _RE_INITIAL = _std(PunktToken._RE_INITIAL)
    _RE_ALPHA = _std(PunktToken._RE_ALPHA)

    @property
    def is_non_punct(self) -> re.Match[str] | None:
        return _NON_PUNCT.search(self.type)


_PUNKT = PunktSentenceTokenizer(_punkt_parameters())
_FAST_PUNKT = PunktSentenceTokenizer(_punkt_parameters(), lang_vars=_StdLanguageVars(), token_cls=_StdToken)


# Punkt's span_tokenize, for the fast Punkt, again in fewer Python objects: nltk builds a PunktToken per word of
# every candidate's context, a slice per sentence and a generator per step, and that bookkeeping (not the regexes)
# was most of the splitting time. The functions below take the same decisions from the same patterns and
# parameters, on plain strings (test_text checks them against nltk's, context by context and text by text).
_LANG = _FAST_PUNKT._lang_vars
_PARAMS = _FAST_PUNKT._params
_PERIOD_CONTEXT = _LANG.period_context_re()
_PUNKT_WORD = _LANG._word_tokenizer_re()
_REALIGN = _LANG.re_boundary_realignment
_ELLIPSIS = _StdToken._RE_ELLIPSIS
_NUMERIC = _StdToken._RE_NUMERIC
_INITIAL = _StdToken._RE_INITIAL
_SENT_END_CHARS = frozenset(_LANG.sent_end_chars)
_PUNCTUATION = frozenset(PunktSentenceTokenizer.PUNCTUATION)
_ASCII_WHITESPACE = " \t\n\r\x0b\x0c"  # string.whitespace: what Punkt looks for before a candidate
# Matched from a start: as far as the last of them (greedy, then back to it), in one call rather than one per kind.
_TO_LAST_WHITESPACE = re.compile(rf".*[{re.escape(_ASCII_WHITESPACE)}]", re.DOTALL)
_UNKNOWN = "unknown"


def _punkt_type(token: str) -> str:
    low = token.lower()
    return "##number##" if _NUMERIC.match(low) else low


def _no_period(token_type: str) -> str:
    return token_type[:-1] if len(token_type) > 1 and token_type[-1] == "." else token_type


def _first_pass(token: str) -> tuple[bool, bool]:
    """Punkt's first pass for one token: (sentence break, abbreviation or ellipsis)."""
    if token in _SENT_END_CHARS:
        return True, False
    if _ELLIPSIS.match(token):
        return False, True
    if token[-1] == "." and not token.endswith(".."):
        low = token[:-1].lower()
        abbreviations = _PARAMS.abbrev_types
        if low in abbreviations or low.split("-")[-1] in abbreviations:
            return False, True
        return True, False
    return False, False


def _ortho_heuristic(token: str, token_type: str) -> bool | str:
    if token in _PUNCTUATION:
        return False
    context = _PARAMS.ortho_context.get(token_type, 0)
    if token[0].isupper() and context & _ORTHO_LC and not context & _ORTHO_MID_UC:
        return True
    if token[0].islower() and (context & _ORTHO_UC or not context & _ORTHO_BEG_LC):
        return False
    return _UNKNOWN


def _second_pass(token: str, breaks: bool, abbreviation: bool, following: str, following_breaks: bool) -> bool:
    """Whether ``token`` ends a sentence after Punkt's second pass, given its first pass and the next token's."""
    if token[-1] != ".":
        return breaks
    typ = _no_period(_punkt_type(token))
    next_type = _punkt_type(following)
    if following_breaks:
        next_type = _no_period(next_type)
    initial = _INITIAL.match(token) is not None
    if (typ, next_type) in _PARAMS.collocations:
        return False
    if abbreviation and not initial:
        if _ortho_heuristic(following, next_type) is True:
            return True
        if following[0].isupper() and next_type in _PARAMS.sent_starters:
            return True
    if initial or typ == "##number##":
        starts = _ortho_heuristic(following, next_type)
        if starts is False:
            return False
        if (
            starts == _UNKNOWN
            and initial
            and following[0].isupper()
            and not (_PARAMS.ortho_context.get(next_type, 0) & _ORTHO_LC)
        ):
            return False
    return breaks


class _Memo(dict[str, _Value]):
    """key -> compute(key), for strings that recur constantly: looked up with ``map(memo.__getitem__, ...)``
    the whole loop stays in C and only misses run Python code. Cleared when full, so a long-running bot cannot
    grow it without bound."""

    def __init__(self, compute: Callable[[str], _Value], max_size: int) -> None:
        super().__init__()
        self._compute = compute
        self._max_size = max_size

    def __missing__(self, key: str) -> _Value:
        if len(self) >= self._max_size:
            self.clear()
        value = self[key] = self._compute(key)
        return value


def _contains_sentbreak(context: str) -> bool:
    """``_FAST_PUNKT.text_contains_sentbreak(context)``: does a token other than the last end a sentence?"""
    tokens: list[str] = []
    for line in context.split("\n"):
        if line.strip():
            tokens += _PUNKT_WORD.findall(line)
    if len(tokens) < 2:
        return False
    breaks, abbreviation = _first_pass(tokens[0])
    for i in range(len(tokens) - 1):
        following = tokens[i + 1]
        following_breaks, following_abbreviation = _first_pass(following)
        if _second_pass(tokens[i], breaks, abbreviation, following, following_breaks):
            return True
        breaks, abbreviation = following_breaks, following_abbreviation
    return False


# A third of the contexts in a news corpus recur ("said. The", "year. But").
_BREAKS = _Memo(_contains_sentbreak, 1 << 16)


def _last_whitespace(text: str, start: int, end: int) -> int:
    """Punkt's _get_last_whitespace_index(text[start:end]): the last ASCII whitespace's index in it, 0 if none."""
    found = _TO_LAST_WHITESPACE.match(text, start, end)
    return found.end() - 1 - start if found is not None else 0


def _punkt_spans(text: str) -> list[tuple[int, int]]:
    """``list(_FAST_PUNKT.span_tokenize(text))``."""
    # _slices_from_text over _match_potential_end_contexts: each candidate's context is the word before it (back
    # to the last whitespace after the previous candidate), the candidate and what follows; a candidate whose
    # word overlaps the next candidate's is dropped.
    candidates = [*_PERIOD_CONTEXT.finditer(text)]
    if not candidates:  # most paragraphs: one sentence, its full stop at the end (no candidate without a next token)
        stop = len(text.rstrip())
        return [(0, stop)] if stop > 0 else []
    slices: list[tuple[int, int]] = []
    last_break = 0
    previous: re.Match[str] | None = None
    word_start = word_stop = 0
    breaks = _BREAKS.__getitem__
    for match in [*candidates, None]:
        if match is not None:
            index = _last_whitespace(text, word_stop, match.start())
            start = index + word_stop + 1 if index else word_start
        if previous is not None and (match is None or word_stop <= start):
            context = text[word_start:word_stop] + previous.group() + previous.group("after_tok")
            if breaks(context):
                slices.append((last_break, previous.end()))
                last_break = previous.start("next_tok") if previous.group("next_tok") else previous.end()
        if match is not None:
            previous = match
            word_start, word_stop = start, match.start()
    slices.append((last_break, len(text.rstrip())))
    # _realign_boundaries: closing punctuation after a break moves to the sentence it closes.
    spans: list[tuple[int, int]] = []
    realign = 0
    last = len(slices) - 1
    for i, (start, stop) in enumerate(slices):
        start += realign
        if i == last:
            if start < stop:
                spans.append((start, stop))
            continue
        next_start, next_stop = slices[i + 1]
        aligned = _REALIGN.match(text, next_start, next_stop)  # as on the slice: the pattern looks at nothing before
        if aligned:
            spans.append((start, next_start + len(aligned.group(0).rstrip())))
            realign = aligned.end() - next_start
        else:
            realign = 0
            if start < stop:
                spans.append((start, stop))
    return spans


def _strip_span(text: str, start: int, end: int) -> tuple[int, int]:
    """Shrink ``[start, end)`` so it neither starts nor ends with whitespace."""
    if start < end and not text[start].isspace() and not text[end - 1].isspace():
        return start, end  # the usual case, without copying the segment (str.strip strips what isspace says)
    segment = text[start:end]
    left = segment.lstrip()
    start += len(segment) - len(left)
    return start, start + len(left.rstrip())


def _looks_hard_wrapped(lines: list[str]) -> bool:
    """Whether the (stripped) lines of a paragraph look like one text wrapped at a fixed width."""
    width = max(len(line) for line in lines)
    if not _WRAP_MIN_WIDTH <= width <= _WRAP_MAX_WIDTH:
        return False
    if any(_LINE_STARTS_ITEM.match(line) for line in lines):
        return False
    return all(len(line) >= _WRAP_FILL * width for line in lines[:-1])


def _blocks(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """Split one paragraph at its hard line breaks; each block is then split by Punkt on its own.

    A single newline is a hard boundary (headings, bylines, list items and one-paragraph-per-line text
    are common in pasted articles) unless it is evidently a soft wrap: the whole paragraph looks
    hard-wrapped at a fixed width, or the line does not end a clause and the next starts in lower case.
    """
    if text.find("\n", start, end) < 0:
        return [(start, end)]
    line_spans: list[tuple[int, int]] = []
    pos = start
    while True:
        nl = text.find("\n", pos, end)
        line_end = end if nl < 0 else nl
        s, e = _strip_span(text, pos, line_end)
        if s < e:
            line_spans.append((s, e))
        if nl < 0:
            break
        pos = nl + 1
    lines = [text[s:e] for s, e in line_spans]
    if len(lines) > 1 and _looks_hard_wrapped(lines):
        return [(line_spans[0][0], line_spans[-1][1])]
    blocks: list[tuple[int, int]] = []
    block_start = line_spans[0][0]
    for i in range(1, len(lines)):
        soft = lines[i][0].islower() and not _LINE_ENDS_CLAUSE.search(lines[i - 1])
        if not soft:
            blocks.append((block_start, line_spans[i - 1][1]))
            block_start = line_spans[i][0]
    blocks.append((block_start, line_spans[-1][1]))
    return blocks


# "No." abbreviates "number" only before a numeral ("No. 10 Downing Street"); as an abbreviation for
# Punkt it would also glue "He said no. Smith disagreed." together, so it is handled here instead.
_ENDS_WITH_NUMBER_ABBREVIATION = re.compile(r"(?<![^\W_])(?:[Nn]o|[Nn]os|NOS?)\.$")


def _continues_sentence(chunk: str, previous: tuple[int, int], start: int, end: int) -> bool:
    """Whether Punkt cut ``chunk[start:end]`` off the sentence ``chunk[previous[0]:previous[1]]`` wrongly.

    A "sentence" opening with an all-lower-case word is a continuation: typically '"Really?" he asked.'
    or an abbreviation missing from our list ("approx. three"). Mixed-case openers such as "iPhone" or
    "eBay" do start sentences, so they do not count. A numeral after "No." continues too.
    """
    match = _FIRST_WORD.match(chunk, start, end)  # no anchor nor look-behind: as on the slice, without copying it
    if match is not None and match.group().islower():
        return True
    return (
        chunk[start : start + 1].isdigit()
        and _ENDS_WITH_NUMBER_ABBREVIATION.search(chunk[previous[0] : previous[1]]) is not None
    )


def _windows(translated: str, start: int, end: int) -> list[tuple[int, int]]:
    """Cut a huge block into windows Punkt handles quickly, each ending after a sentence-end candidate.

    Punkt's regexes slow down on megabyte-long runs (and nltk >= 3.10 gives up after 5 s), so a block
    longer than WINDOW_CHARS is cut at the first ". ", "? " or "! " past each WINDOW_CHARS.
    """
    windows = []
    while end - start > WINDOW_CHARS:
        match = _SENTENCE_END.search(translated, start + WINDOW_CHARS, end)
        if match is None:
            break
        windows.append((start, match.end()))
        start = match.end()
    windows.append((start, end))
    return windows


def _cap(text: str, start: int, end: int) -> list[tuple[int, int]]:
    """A "sentence" longer than MAX_SENTENCE_CHARS (no full stop in sight) is cut at word boundaries:
    a quote is read by people, and every piece is still verbatim text."""
    pieces = []
    while end - start > MAX_SENTENCE_CHARS:
        cut = text.rfind(" ", start + MAX_SENTENCE_CHARS // 2, start + MAX_SENTENCE_CHARS)
        cut = cut if cut > start else start + MAX_SENTENCE_CHARS
        piece_start, piece_end = _strip_span(text, start, cut)
        if piece_start < piece_end:
            pieces.append((piece_start, piece_end))
        start = cut
    piece_start, piece_end = _strip_span(text, start, end)
    if piece_start < piece_end:
        pieces.append((piece_start, piece_end))
    return pieces


def _split_block(text: str, translated: str, start: int, end: int, out: list[tuple[int, int]], agree: bool) -> None:
    for window_start, window_end in _windows(translated, start, end):
        _split_window(text, translated, window_start, window_end, out, agree)


def _split_window(text: str, translated: str, start: int, end: int, out: list[tuple[int, int]], agree: bool) -> None:
    chunk = translated[start:end]
    spans: list[tuple[int, int]] = []
    try:
        fast = len(chunk) <= _FAST_PUNKT_CHARS and (agree or _engines_agree(chunk))
        punkt_spans = _punkt_spans(chunk) if fast else list(_PUNKT.span_tokenize(chunk))
    except TimeoutError:
        # nltk >= 3.10 runs its regexes under a time limit; on a pathological block keep it whole
        # rather than failing the article.
        punkt_spans = [(0, len(chunk))]
    for s, e in punkt_spans:
        s, e = _strip_span(chunk, s, e)
        if s >= e:
            continue
        if spans:
            prev_start, prev_end = spans[-1]
            if s < prev_end or _continues_sentence(chunk, spans[-1], s, e):
                # Merge continuations (and, defensively, any overlap) into the previous sentence.
                spans[-1] = (prev_start, max(e, prev_end))
                continue
        spans.append((s, e))
    for s, e in spans:
        s += start
        e += start
        if e - s <= MAX_SENTENCE_CHARS:  # what _cap returns for it: the span is stripped already
            out.append((s, e))
            continue
        for piece_start, piece_end in _cap(text, s, e):
            out.append((piece_start, piece_end))


def split_sentences(text: str) -> list[Sentence]:
    """Split ``text`` into sentences with offsets into ``text``; never across a paragraph (blank line).

    Each ``Sentence.text == text[start:end]`` and has no surrounding whitespace; sentences are in order and
    do not overlap. Curly quotes are mapped to ASCII only for Punkt's benefit (same length), so a closing
    ” stays with the sentence it ends.
    """
    return [Sentence(start, end, text[start:end]) for start, end in sentence_spans(text)]


def sentence_spans(text: str) -> list[tuple[int, int]]:
    """:func:`split_sentences` as ``(start, end)`` pairs (ingest needs no Sentence objects)."""
    translated = text if text.isascii() else _ascii_quotes(text)
    agree = _engines_agree(translated)  # then every window does too; else each window is checked
    out: list[tuple[int, int]] = []
    para_start = 0
    for sep in [*_PARAGRAPH_BREAK.finditer(text), None]:
        para_end = len(text) if sep is None else sep.start()
        s, e = _strip_span(text, para_start, para_end)
        if (
            s < e
            and agree
            and e - s <= MAX_SENTENCE_CHARS
            and text.find("\n", s, e) < 0
            and _PERIOD_CONTEXT.search(translated, s, e) is None  # it sees nothing outside [s, e): as on the slice
        ):
            out.append((s, e))  # most paragraphs: one line with no sentence-end candidate, which Punkt takes whole
        elif s < e:
            for block_start, block_end in _blocks(text, s, e):
                _split_block(text, translated, block_start, block_end, out, agree)
        if sep is not None:
            para_start = sep.end()
    return out


# --------------------------------------------------------------------------------------------------
# Tokenization
# --------------------------------------------------------------------------------------------------
#
# Acronyms: "U.S.", "US" (upper case in the text), "u.s.", "USA", "United States" and "the us" all become
# the term "usa". The bare lower-case "us" is the pronoun and a stopword, so "told us" never matches the
# country. Likewise "U.K."/"UK"/"United Kingdom" -> "uk", "E.U."/"EU"/"European Union" -> "eu",
# "U.N."/"UN"/"United Nations" -> "un", "WHO"/"World Health Organization" -> "who" (lower-case "who" is a
# stopword). Other dotted acronyms just lose their dots ("N.H.S." == "NHS").
#
# Hyphens separate words: "20-point" -> "20", "point"; "post-war" -> "post", "war". A question typed with
# or without the hyphen then gets the same terms.
#
# Numbers keep their decimal point and lose thousands separators: "464,000" -> "464000", "$1.13bn" ->
# "1.13bn". Apostrophes: possessive "'s" is dropped (Putin's -> putin), contractions are stopwords
# (don't, we've), other apostrophes are removed (O'Brien -> obrien). A trailing apostrophe (Putins’) is
# not part of the word.
#
# Unicode: NFKC, case folding and accent folding (Pérez == Perez) are applied per matched word rather
# than to the whole text, so offsets stay those of the original text. For letters, digits, full-width
# forms, ligatures, combining accents and Unicode spaces this gives the same terms as normalising first
# (a property test checks it); symbols that NFKC turns into letters (Ⓐ, ㎞) are simply not words here.

_COMBINING = "\u0300-\u036f\u1ab0-\u1aff\u1dc0-\u1dff\u20d0-\u20ff\ufe20-\ufe2f"
_APOSTROPHES = "'\u2018\u2019\u02bc\uff07"


def _token_regex(word: str, letter: str, digit: str) -> re.Pattern[str]:
    # Every alternative starts at a word character (the leading lookahead lets the regex engine skip
    # other positions quickly), and matches are consumed left to right, so no leading \b is needed.
    # Phrases end with (?!word) rather than \b so a trailing combining accent blocks them, as it would
    # after NFKC composed it into the letter.
    return re.compile(
        rf"""(?={word})(?:
          [Tt]he\s+us(?!{word})                            # "the us": the country, never the pronoun
        | [UuEeWw](?i:nited\s+(?:states|kingdom|nations)|uropean\s+union
                    |orld\s+health\s+organi[sz]ation)(?!{word})
        | {letter}\.(?:{letter}\.)*{letter}\.?(?!{word})     # dotted acronyms: U.S., e.g., U.S.A
        | {digit}+(?:[.,]{digit}+)+{word}*                  # 1.13bn, 464,000
        | {word}+(?:[{_APOSTROPHES}]{word}+)*               # words: don't, Putin's, O'Brien
        )""",
        re.VERBOSE,
    )


# Two compiled variants: most text is pure ASCII, and plain character classes are the fast path.
_ASCII_TOKEN_RE = _token_regex("[A-Za-z0-9]", "[A-Za-z]", "[0-9]")
# An acronym letter must stay one letter under NFKC, so Latin ligatures (ﬁ -> fi, ĳ -> ij) are excluded.
_MULTI_LETTER = "\ufb00-\ufb06\u0132\u0133\u0149\u01c4-\u01cc\u01f1-\u01f3"
_UNICODE_TOKEN_RE = _token_regex(
    rf"(?:[^\W_]|[{_COMBINING}])", rf"(?:(?![{_MULTI_LETTER}])[^\W\d_][{_COMBINING}]*)", r"\d"
)

_PHRASES: dict[str, str] = {
    "the us": "usa",
    "united states": "usa",
    "united kingdom": "uk",
    "united nations": "un",
    "european union": "eu",
    "world health organization": "who",
    "world health organisation": "who",
}
# Checked on the original case: upper-case "US"/"WHO" are organisations, lower-case ones are stopwords.
_CASED: dict[str, str] = {"US": "usa", "WHO": "who"}
# Dotted lower-case forms: "u.s." is the country; "a.m.", "e.g." carry nothing.
_DOTTED: dict[str, str | None] = {"us": "usa", "am": None, "pm": None, "eg": None, "ie": None}

_APOSTROPHE_TABLE = str.maketrans({c: "'" for c in _APOSTROPHES})
# After NFKC a word can contain symbols ("⑴" -> "(1)"); keep only what the ASCII path could see.
_NOT_TOKEN_CHAR = re.compile(r"[^\w'.,\s]|_")

_STEMMER = SnowballStemmer("english")


@lru_cache(maxsize=1 << 16)
def _stem(word: str) -> str:
    return _STEMMER.stem(word)


def _fold_unicode(surface: str) -> str:
    """NFKC + ASCII apostrophes + accent folding, keeping case (needed for "US" vs "us")."""
    folded = unicodedata.normalize("NFKC", surface).translate(_APOSTROPHE_TABLE)
    if not folded.isascii():
        decomposed = unicodedata.normalize("NFD", folded)
        stripped = "".join(c for c in decomposed if not unicodedata.combining(c))
        folded = unicodedata.normalize("NFC", stripped)
    return _NOT_TOKEN_CHAR.sub("", folded)


def _term(surface: str, stem: Callable[[str], str] = _stem) -> str | None:
    """The index term for one matched surface string, or None for a stopword. With ``stem=str`` it tells
    cheaply whether a surface yields a term at all (a stem is never empty)."""
    word = surface if surface.isascii() else _fold_unicode(surface)
    if not word:
        return None
    if not word.isalnum():
        if any(c.isspace() for c in word):
            return _PHRASES.get(" ".join(word.casefold().split()))
        if word[0].isdigit() and ("." in word or "," in word):
            number = word.replace(",", "").strip(".").casefold()
            return number or None
        if "." in word:  # a dotted acronym
            letters = word.replace(".", "")
            low = letters.casefold()
            if low in _DOTTED:
                return _DOTTED[low]
            word = letters
        if "'" in word:
            low = word.casefold()
            if low in STOPWORDS or low.endswith("n't"):
                return None
            if low.endswith("'s"):
                word = word[:-2]
            word = word.replace("'", "").replace(".", "").replace(",", "")
        if not word.isalnum():  # anything odd left over from NFKC
            word = "".join(c for c in word if c.isalnum())
            if not word:
                return None
    cased = _CASED.get(word)
    if cased is not None:
        return cased
    low = word.casefold()
    if low in STOPWORDS:
        return None
    return stem(low)


def _cached_term(surface: str) -> str:
    """What _TERMS holds for a surface: its term, "" for a stopword, and tokenize_marked's separator itself."""
    return surface if surface == _SEPARATOR else _term(surface) or ""


_TERMS = _Memo(_cached_term, 1 << 18)
_lookup = _TERMS.__getitem__


def tokenize(text: str) -> list[str]:
    """The BM25 terms of ``text``: normalised, stopwords removed, Snowball-stemmed, in order."""
    pattern = _ASCII_TOKEN_RE if text.isascii() else _UNICODE_TOKEN_RE
    return list(filter(None, map(_lookup, pattern.findall(text))))


# Many texts tokenised in one regex pass (an article's sentences at ingest): joined by a separator the token
# patterns never match nor cross (a NUL between line breaks: for the patterns' lookaheads and their \s+ it is as
# the end of the text is), which the variants below also match, so each text's terms end where a separator is.
_SEPARATOR = "\x00"
_JOINER = f"\n{_SEPARATOR}\n"
_ASCII_JOINED_RE = re.compile(rf"{_SEPARATOR}|{_ASCII_TOKEN_RE.pattern}", re.VERBOSE)
_UNICODE_JOINED_RE = re.compile(rf"{_SEPARATOR}|{_UNICODE_TOKEN_RE.pattern}", re.VERBOSE)


SEPARATOR = _SEPARATOR


def tokenize_marked(texts: Sequence[str]) -> list[str]:
    """``tokenize`` of each of ``texts``, end to end, each text's terms followed by SEPARATOR (never a term)."""
    joined = _JOINER.join([*texts, ""])  # a separator after every text
    if joined.count(_SEPARATOR) != len(texts):  # a text holds the separator itself: one by one
        marked: list[str] = []
        for one in texts:
            marked += tokenize(one)
            marked.append(_SEPARATOR)
        return marked
    # A text of ASCII gets the same matches from either pattern (they differ only on other characters).
    pattern = _ASCII_JOINED_RE if joined.isascii() else _UNICODE_JOINED_RE
    return list(filter(None, map(_lookup, pattern.findall(joined))))


def token_spans(text: str) -> list[tuple[int, int, str]]:
    """``(start, end, term)`` for each term :func:`tokenize` returns, in the same order.

    ``text[start:end]`` is the surface form (e.g. "Putin's" for the term "putin", "United States" for
    "usa"), ready for highlighting.
    """
    pattern = _ASCII_TOKEN_RE if text.isascii() else _UNICODE_TOKEN_RE
    return [(*match.span(), term) for match in pattern.finditer(text) if (term := _lookup(match.group()))]


def token_spans_of(text: str, terms: Sequence[str]) -> list[tuple[int, int, str]] | None:
    """:func:`token_spans` for a text whose terms are already known (stored at ingest), without stemming:
    each surface that yields a term is paired with the next of ``terms``. None when they do not line up
    (terms of another analysis), so the caller can fall back to :func:`token_spans`."""
    pattern = _ASCII_TOKEN_RE if text.isascii() else _UNICODE_TOKEN_RE
    spans: list[tuple[int, int, str]] = []
    get = _TERMS.get
    for match in pattern.finditer(text):
        surface = match.group()
        cached = get(surface)
        # A surface never tokenised here (a stored text's, in a new process) asks _YIELDS, which remembers it.
        if cached == "" or (cached is None and not _YIELDS[surface]):
            continue
        if len(spans) == len(terms) or (cached and cached != terms[len(spans)]):
            return None
        spans.append((*match.span(), terms[len(spans)]))
    return spans if len(spans) == len(terms) else None


def term_count(text: str) -> int:
    """``len(tokenize(text))`` without stemming: whether a surface yields a term does not need its stem. Tells
    how many of an article's stored terms are its title's (they come first)."""
    pattern = _ASCII_TOKEN_RE if text.isascii() else _UNICODE_TOKEN_RE
    return sum(map(_YIELDS.__getitem__, pattern.findall(text)))


def _yields_term(surface: str) -> bool:
    cached = _TERMS.get(surface)
    return _term(surface, str) is not None if cached is None else cached != ""


_YIELDS = _Memo(_yields_term, 1 << 16)


def surface_terms(text: str) -> list[tuple[str, str]]:
    """``(surface, term)`` pairs, e.g. ``("Putin's", "putin")``; convenience over :func:`token_spans`."""
    return [(text[start:end], term) for start, end, term in token_spans(text)]


# Words whose terms show what the rules above do; a change of stemmer, stopwords or token rules changes them.
_ANALYSIS_PROBE = (
    "Running runs ran easily fairly generously the U.S. US us WHO who Putin's don't 1,130.5 N.H.S. "
    "United States café naïve organisations organization's 2020 COVID-19 e.g. a.m. said say may"
)


@lru_cache(maxsize=1)
def analysis_version() -> str:
    """A fingerprint of tokenisation (rules, stopwords, stemmer), stored with the terms it produced: stored
    term ids and a question's terms only match when both came from the same analysis."""
    facts = repr(
        (
            tokenize(_ANALYSIS_PROBE),
            sorted(STOPWORDS),
            sorted(_PHRASES.items()),
            sorted(_CASED.items()),
            sorted(_DOTTED.items()),
            _ASCII_TOKEN_RE.pattern,
            _UNICODE_TOKEN_RE.pattern,
        )
    )
    return hashlib.sha256(facts.encode("utf-8")).hexdigest()[:16]
