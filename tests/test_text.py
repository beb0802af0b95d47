"""Sentence splitting and tokenization (bot.core.text)."""

from __future__ import annotations

import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core import text as text_module
from bot.core.answer import quote_key
from bot.core.text import (
    MAX_SENTENCE_CHARS,
    split_sentences,
    surface_terms,
    term_count,
    token_spans,
    token_spans_of,
    tokenize,
)

# Sentences from the seed article (The Independent, 2026-01-05), copied verbatim: curly and straight
# quotes mixed as in the source.
TRUMP_QUOTE_1 = (
    '“I don’t believe that strike happened," Trump told reporters as he traveled back to Washington '
    "on Sunday after spending two weeks at his home in Florida."
)
TRUMP_QUOTE_2 = "“We don't believe that happened, now that we've been able to check.”"
LAVROV = (
    "Last week, Russian Foreign Minister Sergey Lavrov asserted that Ukraine had launched a wave of "
    "drones at Mr Putin’s state residence in the northwestern Novgorod region."
)
ALLEGATION = (
    "The allegation came just a day after Ukrainian President Volodymyr Zelensky had traveled to Florida "
    "for talks with Trump on the U.S. administration's still-evolving 20-point plan aimed at ending the war."
)
DENIAL = "Zelensky quickly denied the Kremlin allegation."
NEARBY = (
    "Trump said that “something happened nearby” Putin's residence but that Americans officials didn't "
    "find the Russian president's residence was targeted."
)
DETERMINATION = (
    "Trump addressed the U.S. determination after European officials argued that the Russian claim was "
    "nothing more than an effort by Moscow to undermine the peace effort."
)
EDITORIAL = (
    'The editorial lambasted Putin for choosing "lies, hatred, and death” at a moment that Trump has '
    "claimed is “closer than ever before” to moving the two sides to a deal to end the war."
)

SEED_TEXT = "\n\n".join(
    [LAVROV, f"{ALLEGATION} {DENIAL}", NEARBY, f"{TRUMP_QUOTE_1} {TRUMP_QUOTE_2}", DETERMINATION, EDITORIAL]
)


def texts(text: str) -> list[str]:
    return [s.text for s in split_sentences(text)]


def assert_well_formed(text: str) -> None:
    """The invariants every caller relies on."""
    previous_end = 0
    for sentence in split_sentences(text):
        assert sentence.text == text[sentence.start : sentence.end]
        assert sentence.text and sentence.text == sentence.text.strip()
        assert sentence.start >= previous_end
        assert "\n\n" not in sentence.text
        previous_end = sentence.end


# --- split_sentences ---------------------------------------------------------------------------------


def test_seed_article_sentences() -> None:
    assert texts(SEED_TEXT) == [
        LAVROV,
        ALLEGATION,
        DENIAL,
        NEARBY,
        TRUMP_QUOTE_1,
        TRUMP_QUOTE_2,
        DETERMINATION,
        EDITORIAL,
    ]
    assert_well_formed(SEED_TEXT)


def test_closing_curly_quote_stays_with_its_sentence() -> None:
    sentences = split_sentences(f"{TRUMP_QUOTE_1} {TRUMP_QUOTE_2}")
    assert [s.text for s in sentences] == [TRUMP_QUOTE_1, TRUMP_QUOTE_2]
    assert sentences[1].text.endswith("check.”")
    assert texts("He said: “It is over.” Then he left.") == ["He said: “It is over.”", "Then he left."]
    assert texts("He said: 'It is over.' Then he left.") == ["He said: 'It is over.'", "Then he left."]
    assert texts("(It was late.) Then he left.") == ["(It was late.)", "Then he left."]


@pytest.mark.parametrize(
    "sentence",
    [
        "Mr Putin’s spokesman declined to comment.",
        "Mr. Putin’s spokesman declined to comment.",
        "The U.S. administration's plan was published.",
        "Gen. Smith and Dr. Jones met Sen. Brown in St. Louis on Jan. 5 at 9 a.m. local time.",
        "The Acme Corp. board met Prof. Lee at No. 10 Downing Street.",
        "It fell 3.5% to $1.13bn, e.g. in the U.K. and the E.U. markets.",
        "George W. Bush met J. K. Rowling.",
        "Joseph Phillippi of E.F. Hutton said so.",
        "Sales rose in the U.S. And Japan.",
        "It cost approx. three dollars.",
        '"Really?" he asked.',
        "“Why now?” asked the minister.",
    ],
)
def test_does_not_split(sentence: str) -> None:
    assert texts(sentence) == [sentence]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("He said so. Then he left.", ["He said so.", "Then he left."]),
        ("Why? Nobody knows. Stop! Now.", ["Why?", "Nobody knows.", "Stop!", "Now."]),
        (
            "Talks were held with the U.S. He said they went well.",
            ["Talks were held with the U.S.", "He said they went well."],
        ),
        ("The vote was 52-48. The result stood.", ["The vote was 52-48.", "The result stood."]),
        ("He backed Plan B. The board agreed.", ["He backed Plan B.", "The board agreed."]),
        ("He said no. Smith disagreed.", ["He said no.", "Smith disagreed."]),
        ("It was sold in N.Z. The price rose.", ["It was sold in N.Z.", "The price rose."]),
        ("It rose in 2020. Analysts were surprised.", ["It rose in 2020.", "Analysts were surprised."]),
    ],
)
def test_splits(text: str, expected: list[str]) -> None:
    assert texts(text) == expected


def test_us_at_paragraph_end() -> None:
    text = "Zelensky flew to the U.S.\n\nThe talks resumed on Monday."
    assert texts(text) == ["Zelensky flew to the U.S.", "The talks resumed on Monday."]
    assert texts("Zelensky flew to the U.S.") == ["Zelensky flew to the U.S."]


def test_no_sentence_spans_paragraphs() -> None:
    text = "First paragraph without a full stop\n\nsecond paragraph in lower case\n \t\nThird."
    assert texts(text) == [
        "First paragraph without a full stop",
        "second paragraph in lower case",
        "Third.",
    ]


def test_offsets_round_trip_and_strip_whitespace() -> None:
    text = "  \n  Hello there.   How are you?  \n\n\n   Bye now.  \n"
    sentences = split_sentences(text)
    assert [s.text for s in sentences] == ["Hello there.", "How are you?", "Bye now."]
    for s in sentences:
        assert text[s.start : s.end] == s.text
    assert sentences[0].start == text.index("Hello")


def test_empty_and_blank() -> None:
    assert split_sentences("") == []
    assert split_sentences(" \n\n \t ") == []
    assert texts("...") == ["..."]


def test_single_newline_is_a_hard_break_for_headings_and_lists() -> None:
    text = "Key points\nUkraine denied the claim. Russia insisted.\n- Talks go on\n- No deal yet"
    assert texts(text) == [
        "Key points",
        "Ukraine denied the claim.",
        "Russia insisted.",
        "- Talks go on",
        "- No deal yet",
    ]


def test_single_newline_before_lower_case_is_a_soft_wrap() -> None:
    text = "The minister said the talks\nwould continue next week. Nobody disagreed."
    assert texts(text) == ["The minister said the talks\nwould continue next week.", "Nobody disagreed."]
    # ...but not after a finished sentence.
    assert texts("It ended.\niPhone sales rose.") == ["It ended.", "iPhone sales rose."]


def test_hard_wrapped_paragraph_is_rejoined() -> None:
    text = (
        "President Donald Trump has announced that US officials have\n"
        "concluded Ukraine did not target a residence belonging to Russian\n"
        "President Vladimir Putin in a drone attack last week. This statement\n"
        "directly refutes earlier claims from the Kremlin."
    )
    sentences = texts(text)
    assert len(sentences) == 2
    assert sentences[0].startswith("President Donald Trump") and sentences[0].endswith("last week.")
    assert sentences[1].startswith("This statement\ndirectly")


def test_very_long_unsplittable_run_is_cut_at_word_boundaries() -> None:
    """No full stop in 25,000 characters: pieces of at most MAX_SENTENCE_CHARS, together the whole text."""
    text = "word " * 5000
    pieces = texts(text)
    assert len(pieces) > 1 and all(len(p) <= MAX_SENTENCE_CHARS for p in pieces)
    assert " ".join(pieces) == text.strip()


def test_a_huge_block_of_short_sentences_is_split_into_sentences() -> None:
    """Punkt is given windows, so a huge block still splits (nltk's regex time limit never hits)."""
    sentences = texts("Word. " * 50_000)
    assert len(sentences) == 50_000 and set(sentences) == {"Word."}


SENTENCE_PIECES = [
    "He said",
    " so",
    ". ",
    ".",
    "? ",
    "! ",
    " ",
    "\n",
    "\n\n",
    "\r\n",
    " \n \n",
    "U.S.",
    " Mr. ",
    "Gen.",
    " St.",
    "“",
    "”",
    '"',
    "'",
    "’",
    "(",
    ")",
    "...",
    "…",
    "then",
    "The",
    "a",
    "20-point",
    "1.5",
    "e.g.",
    "\t",
    "\u00a0",
    "-",
]


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_split_properties_on_any_text(text: str) -> None:
    assert_well_formed(text)


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(SENTENCE_PIECES), max_size=40).map("".join))
def test_split_properties_on_sentence_like_text(text: str) -> None:
    assert_well_formed(text)


# --- tokenize ------------------------------------------------------------------------------------------


def test_possessives() -> None:
    assert tokenize("Putin") == ["putin"]
    assert tokenize("Putin's") == ["putin"]
    assert tokenize("Putin’s") == ["putin"]
    assert tokenize("Putins’") == ["putin"]
    assert tokenize("PUTIN'S") == ["putin"]


@pytest.mark.parametrize("form", ["U.S.", "US", "u.s.", "U.S", "USA", "U.S.A.", "United States", "the us", "US's"])
def test_us_acronym_forms_match(form: str) -> None:
    assert tokenize(form) == ["usa"]


def test_us_pronoun_is_not_the_country() -> None:
    assert tokenize("He told us") == ["told"]
    assert tokenize("Us") == []
    assert "usa" in tokenize("officials in the US said")
    assert "usa" not in tokenize("they told us the usual")


@pytest.mark.parametrize(
    ("forms", "term"),
    [
        (["UK", "U.K.", "uk", "United Kingdom"], "uk"),
        (["EU", "E.U.", "European Union", "european union"], "eu"),
        (["UN", "U.N.", "United Nations"], "un"),
        (["WHO", "World Health Organization", "World Health Organisation"], "who"),
        (["NHS", "N.H.S."], "nhs"),
    ],
)
def test_other_acronyms(forms: list[str], term: str) -> None:
    for form in forms:
        assert tokenize(form) == [term], form


def test_stopwords_and_question_words() -> None:
    assert tokenize("What did the president say about it?") == ["presid", "say"]
    assert tokenize("Who is he and why does it matter?") == ["matter"]
    assert tokenize("don’t we've I'll it's they're") == []
    assert tokenize("e.g. at 9 a.m.") == ["9"]


def test_stemming() -> None:
    assert tokenize("negotiations") == tokenize("negotiation") == tokenize("negotiating")
    assert tokenize("running runs") == ["run", "run"]
    assert tokenize("Drones attacked") == tokenize("drone attack")


def test_hyphens_and_numbers() -> None:
    assert tokenize("20-point plan") == ["20", "point", "plan"]
    assert tokenize("post-war") == tokenize("post war") == ["post", "war"]
    assert tokenize("464,000 subscribers") == ["464000", "subscrib"]
    assert tokenize("$1.13bn (£600m) in 2020") == ["1.13bn", "600m", "2020"]
    assert tokenize("O’Brien") == tokenize("O'Brien") == ["obrien"]


def test_unicode_normalisation() -> None:
    assert tokenize("ＰＵＴＩＮ ＵＳＡ") == ["putin", "usa"]  # full-width letters
    assert tokenize("United\u00a0States") == ["usa"]  # NBSP
    assert tokenize("cafe\u0301") == tokenize("café") == tokenize("cafe") == ["cafe"]  # combining accent
    assert tokenize("Pérez") == tokenize("Perez")
    assert tokenize("ﬁnance") == tokenize("finance")  # ligature
    assert tokenize("STRASSE") == tokenize("Straße")  # case folding
    assert tokenize("Zelenskyy’s") == ["zelenskyy"]


def test_token_spans_give_surface_forms() -> None:
    text = "Mr Putin’s U.S. trip: the United States and the us."
    assert surface_terms(text) == [
        ("Putin’s", "putin"),
        ("U.S.", "usa"),
        ("trip", "trip"),
        ("United States", "usa"),
        ("the us", "usa"),
    ]
    for start, end, term in token_spans(text):
        assert tokenize(text[start:end]) == [term]


def test_seed_question_matches_seed_sentence() -> None:
    question = set(tokenize("What did the US say about the drone attack on Putin's residence?"))
    sentence = set(tokenize(TRUMP_QUOTE_1 + " " + NEARBY + " " + LAVROV))
    assert {"usa", "drone", "attack", "putin", "resid"} <= question
    assert {"putin", "resid", "drone"} <= sentence


def check_token_spans(text: str) -> None:
    spans = token_spans(text)
    assert [term for _, _, term in spans] == tokenize(text)
    previous_end = 0
    for start, end, term in spans:
        assert previous_end <= start < end <= len(text)
        assert term
        previous_end = end


@settings(max_examples=300, deadline=None)
@given(st.text())
def test_tokenize_properties(text: str) -> None:
    first = tokenize(text)
    assert first == tokenize(text)
    assert all(isinstance(t, str) and t for t in first)
    check_token_spans(text)


# Characters whose NFKC form is still letters/spaces/apostrophes: per-word normalisation must then give
# the same terms as normalising the whole text first.
NFKC_ALPHABET = [*"aeusUSthTHe .,'-’0", "\u0301", "\u00a0", "é", "ü", "ß", "ﬁ", "the us", "U.S."]


@settings(max_examples=300, deadline=None)
@given(st.lists(st.sampled_from(NFKC_ALPHABET), max_size=30).map("".join))
def test_tokenize_matches_normalising_first(text: str) -> None:
    assert tokenize(text) == tokenize(unicodedata.normalize("NFKC", text))
    check_token_spans(text)


@settings(max_examples=300, deadline=None)
@given(st.text() | st.lists(st.sampled_from(NFKC_ALPHABET), max_size=30).map("".join))
def test_spans_from_stored_terms_equal_token_spans(text: str) -> None:
    terms = tokenize(text)
    assert term_count(text) == len(terms)
    assert token_spans_of(text, terms) == token_spans(text)
    if terms:  # terms that do not line up with the text are refused
        assert token_spans_of(text, terms[:-1]) is None
        assert token_spans_of(text, [*terms, "extra"]) is None
        assert token_spans_of(text, ["zzz-not-a-term", *terms[1:]]) is None


# --- the fast Punkt (stdlib `re`) against nltk's own (`regex`, under a time limit) -------------------------

PUNKT_PIECES = [*SENTENCE_PIECES, "U.S.", "Mr.", "J.", "No.", "4.", "x\u0301", "\u00b2", "\x1c", "\u2019", "\u201d"]


@settings(max_examples=300, deadline=None)
@given(st.one_of(st.text(), st.lists(st.sampled_from(PUNKT_PIECES), max_size=60).map("".join)))
def test_fast_punkt_splits_as_nltk_does(text: str) -> None:
    if text_module._engines_agree(text):
        fast = list(text_module._FAST_PUNKT.span_tokenize(text))
        assert fast == list(text_module._PUNKT.span_tokenize(text))


# Punkt's decisions taken again on plain strings (_punkt_spans, _contains_sentbreak) against the fast Punkt's own.
CONTEXT_PIECES = [
    *PUNKT_PIECES,
    "The",
    "the",
    "He",
    "Smith",
    "said",
    "Jan.",
    "e.g.",
    "U.K.",
    "...",
    "..",
    "--",
    "-",
    "(",
    ")",
    '"',
    "'",
    ";",
    ":",
    ",",
    "1.",
    "1.5",
    "-3.",
    "ii.",
    "A.",
    "b.",
    "Inc.",
    "co-op.",
    "St.",
    "x",
    "\t",
    "\n\n",
]


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(CONTEXT_PIECES), max_size=12).map("".join))
def test_sentence_break_decisions_are_punkts(context: str) -> None:
    assert text_module._contains_sentbreak(context) == text_module._FAST_PUNKT.text_contains_sentbreak(context)


@settings(max_examples=500, deadline=None)
@given(st.one_of(st.text(), st.lists(st.sampled_from(CONTEXT_PIECES), max_size=80).map("".join)))
def test_punkt_spans_are_punkts(text: str) -> None:
    assert text_module._punkt_spans(text) == list(text_module._FAST_PUNKT.span_tokenize(text))


def test_punkt_spans_on_the_seed_corpus() -> None:
    lines = (Path(__file__).parents[1] / "corpus" / "wikinews-2019-2020.jsonl").read_text("utf-8").splitlines()
    samples = [json.loads(line)["text"] for line in lines[:300]]
    for sample in [*samples, "Mr. J. Smith arrived at 5 p.m. on Jan. 5. He left.  (Really.) Then -- no."]:
        assert text_module._punkt_spans(sample) == list(text_module._FAST_PUNKT.span_tokenize(sample))


@settings(max_examples=300, deadline=None)
@given(st.lists(st.text() | st.lists(st.sampled_from(NFKC_ALPHABET), max_size=30).map("".join), max_size=6))
def test_tokenize_marked_is_tokenize_of_each(texts: list[str]) -> None:
    # Each text's terms, then the separator: the terms of all and where each text's end, in one list.
    marked = text_module.tokenize_marked(texts)
    assert marked == [term for one in texts for term in (*tokenize(one), text_module.SEPARATOR)]


def test_tokenize_marked_of_sentences_that_end_mid_phrase() -> None:
    texts = ["He went to the", "us. The United", "States", "U.S", "A. 1,", "000 x\x00y", "", "café"]
    marked = text_module.tokenize_marked(texts)
    assert marked == [term for one in texts for term in (*tokenize(one), text_module.SEPARATOR)]


def test_fast_punkt_is_not_used_where_the_engines_class_a_character_differently() -> None:
    # `regex` counts a combining accent as \w and `re` does not; `re` counts U+001C as \s and `regex` does not.
    assert text_module._engines_agree("Plain text. Another sentence, “quoted”.")
    assert not text_module._engines_agree("Cafe\u0301. Next")
    assert not text_module._engines_agree("a.\x1cB")


def test_of_ascii_the_engines_class_only_the_information_separators_apart() -> None:
    apart = {chr(i) for i in range(128) if not text_module._engines_agree(f"a{chr(i)}é")}
    assert apart == set(text_module._ASCII_APART)


QUOTE_PIECES = [
    "a",
    "B",
    " ",
    "  ",
    "\t",
    "\n",
    "\u00a0",
    "\u2003",
    "\x1c",
    "\u2019",
    "\u201c",
    "\u201d",
    "ﬁ",
    "é",
    "'",
]


@settings(max_examples=300, deadline=None)
@given(st.text() | st.lists(st.sampled_from(QUOTE_PIECES), max_size=30).map("".join))
def test_quote_keys_fold_case_spacing_and_quote_style(text: str) -> None:
    folded = unicodedata.normalize("NFKC", text).casefold()
    folded = re.sub(r"[\u2018\u2019\u201a\u201b]", "'", folded)
    folded = re.sub(r"[\u201c\u201d\u201e\u201f]", '"', folded)
    assert quote_key(text) == re.sub(r"\s+", " ", folded).strip()


def _spans_paragraph_by_paragraph(text: str) -> list[tuple[int, int]]:
    """sentence_spans without its shortcut for one-line paragraphs: every paragraph through Punkt."""
    translated = text if text.isascii() else text_module._ascii_quotes(text)
    agree = text_module._engines_agree(translated)
    out: list[tuple[int, int]] = []
    para_start = 0
    for sep in [*text_module._PARAGRAPH_BREAK.finditer(text), None]:
        s, e = text_module._strip_span(text, para_start, len(text) if sep is None else sep.start())
        if s < e:
            for block_start, block_end in text_module._blocks(text, s, e):
                text_module._split_block(text, translated, block_start, block_end, out, agree)
        if sep is not None:
            para_start = sep.end()
    return out


@settings(max_examples=300, deadline=None)
@given(st.text() | st.lists(st.sampled_from([*SENTENCE_PIECES, "\n\n", "\n", "“", "”"]), max_size=40).map("".join))
def test_one_line_paragraphs_split_as_punkt_splits_them(text: str) -> None:
    assert text_module.sentence_spans(text) == _spans_paragraph_by_paragraph(text)


def test_one_line_paragraphs_of_the_seed_corpus_split_as_punkt_splits_them() -> None:
    lines = (Path(__file__).parents[1] / "corpus" / "wikinews-2019-2020.jsonl").read_text("utf-8").splitlines()
    for sample in [json.loads(line)["text"] for line in lines[:300]]:
        assert text_module.sentence_spans(sample) == _spans_paragraph_by_paragraph(sample)
