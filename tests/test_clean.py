"""clean_text and remove_repeated_paragraphs: boilerplate goes, the article's own words all stay."""

from __future__ import annotations

import re
import unicodedata
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.clean import (
    _normalise_whitespace,
    clean_text,
    is_normal,
    normalise_whitespace,
    remove_repeated_paragraphs,
)

FIXTURES = Path(__file__).parent / "fixtures"
SEED = FIXTURES / "independent-2026-01-05-putin-residence.txt"

# The seed's real article, paragraph by paragraph, exactly as published (captions and appeal excluded).
SEED_ARTICLE = [
    "President Donald Trump has announced that US officials have concluded Ukraine did not target a residence "
    "belonging to Russian President Vladimir Putin in a drone attack last week.",
    "This statement directly refutes earlier claims from the Kremlin, which President Trump had initially "
    "viewed with considerable concern.",
    "Last week, Russian Foreign Minister Sergey Lavrov asserted that Ukraine had launched a wave of drones at "
    "Mr Putin’s state residence in the northwestern Novgorod region.",
    "He claimed Russian defence systems successfully thwarted the assault.",
    "Mr Lavrov also criticised Kyiv for orchestrating the attack during a period of intense negotiations aimed "
    "at ending the conflict.",
    "The allegation came just a day after Ukrainian President Volodymyr Zelensky had traveled to Florida for "
    "talks with Trump on the U.S. administration's still-evolving 20-point plan aimed at ending the war. "
    "Zelensky quickly denied the Kremlin allegation.",
    "Trump said that “something happened nearby” Putin's residence but that Americans officials didn't find "
    "the Russian president's residence was targeted.",
    '“I don’t believe that strike happened," Trump told reporters as he traveled back to Washington on Sunday '
    "after spending two weeks at his home in Florida. “We don't believe that happened, now that we've been "
    "able to check.”",
    "Trump addressed the U.S. determination after European officials argued that the Russian claim was nothing "
    "more than an effort by Moscow to undermine the peace effort.",
    "But Trump, at least initially, had appeared to take the Russian allegations at face value. He told "
    "reporters last Monday that Putin had also raised the matter during a phone he had with the Russian "
    "leader earlier that day.",
    "And Trump said he was “very angry” about the accusation.",
    "By Wednesday, Trump appeared to be downplaying the Russian claim. He posted a link to a New York Post "
    "editorial on his social media platform that raised doubt about the Russian allegation.",
    'The editorial lambasted Putin for choosing "lies, hatred, and death” at a moment that Trump has claimed '
    "is “closer than ever before” to moving the two sides to a deal to end the war.",
    "The U.S. president has struggled to fulfill a pledge to quickly end the war in Ukraine and has shown "
    "irritation with both Zelenskyy and Putin as he tried to mediate an end to a conflict he boasted on the "
    "campaign trail that he could end in one day.",
    "Both Trump and Zelenskyy said last week they made progress in their talks at Trump's Mar-a-Lago resort.",
    "But Putin has shown little interest in ending the war until all of Russia's objectives are met, including "
    "winning control of all Ukrainian territory in the key industrial Donbas region and imposing severe "
    "restrictions on the size of Ukraine's post-war military and the type of weaponry it can possess.",
]
SEED_BOILERPLATE = [
    "Your support helps us",
    "Read more",
    "Support Now",
    "Your donation",
    "paywalls",
    "open image in gallery",
    "Copyright",
    "Associated Press",
    "All rights reserved",
    "REUTERS",
    "The accusation from Russia came at a critical time",  # caption 1
    "Trump told reporters the US didn’t believe",  # caption 2
    "(",
    ")",
]


def seed_body() -> str:
    return re.sub(r"^\s*date\s+\d{4}-\d{2}-\d{2}", "", SEED.read_text(encoding="utf-8"))


# -- the seed ---------------------------------------------------------------------------------------------


def test_seed_cleans_to_exactly_its_article() -> None:
    assert clean_text(seed_body()) == "\n\n".join(SEED_ARTICLE)


def test_seed_keeps_every_sentence_and_no_boilerplate() -> None:
    cleaned = clean_text(seed_body())
    for paragraph in SEED_ARTICLE:
        assert paragraph in cleaned.split("\n\n")
    for boilerplate in SEED_BOILERPLATE:
        assert boilerplate not in cleaned


def test_caption_repeating_an_article_sentence_leaves_no_duplicate() -> None:
    sentence = "Zelensky quickly denied the Kremlin allegation."
    text = f"{sentence}\n\nopen image in gallery {sentence} ( REUTERS )\n\nThe talks went on for hours."
    assert clean_text(text) == f"{sentence}\n\nThe talks went on for hours."


# -- appeals ---------------------------------------------------------------------------------------------


def test_appeal_glued_to_article_text_keeps_the_article() -> None:
    text = (
        "Your support helps us to tell the story Read more Support Now We rely on readers. Your donation "
        "keeps our journalists in the field. Read more The river burst its banks on Sunday night."
    )
    assert clean_text(text) == "The river burst its banks on Sunday night."


def test_appeal_after_article_text_in_one_paragraph() -> None:
    text = (
        "The river burst its banks on Sunday night. Sign up to our newsletter to get the news delivered to "
        "your inbox. Subscribe now for unlimited access."
    )
    assert clean_text(text) == "The river burst its banks on Sunday night."


def test_news_about_donations_and_newsletters_survives() -> None:
    paragraphs = [
        "The charity said donations rose by a fifth last year, and it urged supporters to sign up to its newsletter.",
        "The newspaper introduced a paywall in 2010; subscribers now pay 26 pounds a month for its journalism.",
        "“Thank you for your support,” the senator told the crowd after the vote.",
        "Readers were told they could read more about the case in the court's published judgment.",
    ]
    text = "\n\n".join(paragraphs)
    assert clean_text(text) == text


def test_newsletter_promo_paragraph_is_removed() -> None:
    text = (
        "The bridge reopened on Thursday.\n\n"
        "Sign up for our free morning newsletter and get the day's news delivered to your inbox.\n\n"
        "Traffic was light."
    )
    assert clean_text(text) == "The bridge reopened on Thursday.\n\nTraffic was light."


# -- captions and credits ------------------------------------------------------------------------------


def test_caption_markers_drop_the_paragraph() -> None:
    for caption in [
        "Image: Jane Doe/Reuters",
        "Photo: The minister at the summit on Monday",
        "Pictured: the damaged residence",
        "View gallery",
        "Click to enlarge",
        "Caption: Rescuers at the scene",
        "Protesters outside parliament. Image: John Smith (flickr).",
    ]:
        assert clean_text(f"The vote passed on Tuesday.\n\n{caption}\n\nIt was close.") == (
            "The vote passed on Tuesday.\n\nIt was close."
        ), caption


def test_gallery_caption_glued_inside_a_paragraph() -> None:
    text = (
        "The vote passed on Tuesday. open image in gallery MPs in the chamber (Getty Images) "
        "The result surprised ministers."
    )
    assert clean_text(text) == "The vote passed on Tuesday. The result surprised ministers."


def test_trailing_credit_is_removed_from_a_sentence() -> None:
    for credit in ["( REUTERS )", "(Getty Images)", "(AFP via Getty)", "(PA)", "(AP Photo/Evan Vucci)", "(© 2025 AP)"]:
        assert clean_text(f"The minister resigned on Monday. {credit}") == "The minister resigned on Monday."


def test_credited_line_without_sentence_end_is_a_caption() -> None:
    text = "Crowds gathered on Sunday.\n\nThe prime minister waves to supporters (AFP via Getty Images)"
    assert clean_text(text) == "Crowds gathered on Sunday."


def test_credit_lines_and_copyright_notices_are_removed() -> None:
    text = (
        "The storm hit the coast on Friday.\n\n(Getty Images)\n\nAP Photo/Evan Vucci\n\n"
        "Copyright 2025 The Associated Press. All rights reserved. This material may not be published, "
        "broadcast, rewritten or redistributed."
    )
    assert clean_text(text) == "The storm hit the coast on Friday."


def test_parentheses_that_are_article_text_survive() -> None:
    paragraphs = [
        "WASHINGTON (AP) — The Senate passed the bill on Friday.",
        "The Federal Security Service (FSB) said it had found no explosives.",
        "The vote was close (52 to 48).",
        "A spokesman told Reuters the company would appeal (a decision expected next month).",
        "The bank extended a line of credit: 5 billion dollars.",
        "Getty Images said the photographer had not been paid.",
    ]
    text = "\n\n".join(paragraphs)
    assert clean_text(text) == text


# -- furniture ------------------------------------------------------------------------------------------


def test_furniture_lines_are_removed() -> None:
    for line in ["Advertisement", "Read more", "READ MORE:", "Share this article", "Read more: Trump's plan"]:
        assert clean_text(f"Prices rose.\n\n{line}\n\nWages fell.") == "Prices rose.\n\nWages fell.", line


def test_glued_furniture_is_removed() -> None:
    assert clean_text("Prices rose. Advertisement Wages fell.") == "Prices rose. Wages fell."
    assert clean_text("Advertisement The index fell.") == "The index fell."
    assert clean_text("Prices rose sharply. Read more") == "Prices rose sharply."


# -- whitespace -----------------------------------------------------------------------------------------


def test_whitespace_is_normalised() -> None:
    text = "  First\u00a0para\u200bgraph   here.  \r\n\r\n\r\n\n Second\tparagraph,\nhard wrapped.\u2029Third.  "
    assert clean_text(text) == "First paragraph here.\n\nSecond paragraph, hard wrapped.\n\nThird."


def test_empty_and_blank_input() -> None:
    assert clean_text("") == ""
    assert clean_text(" \n\n\u00a0\u200b \n") == ""


# -- repeated paragraphs --------------------------------------------------------------------------------


def _article(i: int, *extra: str, tail: str = "") -> str:
    parts = [f"Story {i} begins with its own first sentence.", f"Story {i} has a middle.", *extra]
    return "\n\n".join(parts + ([tail] if tail else []))


def test_repeated_footer_is_removed() -> None:
    footer = "Bill Thompson is a regular commentator on the BBC World Service programme Go Digital."
    texts = [_article(i, tail=footer) for i in range(4)] + [_article(9)]
    cleaned = remove_repeated_paragraphs(texts)
    assert all(footer not in text for text in cleaned)
    assert cleaned[0] == _article(0)
    assert cleaned[4] == texts[4]


def test_repeated_paragraph_below_the_threshold_stays() -> None:
    footer = "Follow us on social media."
    texts = [_article(i, tail=footer) for i in range(2)] + [_article(5)]
    assert remove_repeated_paragraphs(texts) == texts
    assert remove_repeated_paragraphs(texts[:2], min_articles=3) == texts[:2]


def test_identical_duplicate_articles_count_once() -> None:
    text = _article(1, tail="This paragraph is shared by three copies of one article.")
    texts = [text, text, text, _article(2)]
    assert remove_repeated_paragraphs(texts) == texts


def test_mid_article_repetition_in_a_few_articles_stays() -> None:
    # The same interview question put to several candidates is each interview's own text.
    question = "((WN)) What would you do about climate change?"
    texts = [
        "\n\n".join([f"Intro {i}.", f"Background {i}.", f"More {i}.", question, *(f"Answer {i}{j}." for j in "abcd")])
        for i in range(4)
    ] + [_article(i) for i in range(10, 60)]
    assert remove_repeated_paragraphs(texts) == texts


def test_pervasive_promo_is_removed_mid_article() -> None:
    promo = "Follow our live coverage of the election here."
    texts = [_article(i, promo, f"Story {i} ends here.") for i in range(4)]
    assert remove_repeated_paragraphs(texts) == [_article(i, f"Story {i} ends here.") for i in range(4)]


def test_repeated_paragraph_is_peeled_only_from_the_edges() -> None:
    line = "Terms were not disclosed."
    at_end = [_article(i, tail=line) for i in range(3)]
    in_middle = _article(7, line, "Story 7 goes on after it.")
    others = [_article(i) for i in range(20, 30)]
    cleaned = remove_repeated_paragraphs([*at_end, in_middle, *others])
    assert cleaned[:3] == [_article(i) for i in range(3)]
    assert cleaned[3] == in_middle


def test_long_repeated_paragraphs_stay() -> None:
    long_paragraph = "A long shared paragraph. " * 20
    texts = [_article(i, tail=long_paragraph.strip()) for i in range(5)]
    assert remove_repeated_paragraphs(texts) == texts


# -- properties --------------------------------------------------------------------------------------------

FRAGMENTS = [
    "Read more",
    "Support Now",
    "Your support",
    "your donation",
    "subscribe",
    "newsletter",
    "sign up to our",
    "paywalls",
    "open image in gallery",
    "( REUTERS )",
    "(Getty Images)",
    "(AP)",
    "Image: ",
    "Photo:",
    "Advertisement",
    "Copyright 2025",
    "All rights reserved.",
    "Trump said.",
    "The talks ended",
    "\n\n",
    "\n",
    " ",
    ". ",
    "“",
    "”",
    "(",
    ")",
    "\u00a0",
    "\u200b",
    "\u2029",
    "\r\n",
]
texts = st.lists(st.one_of(st.sampled_from(FRAGMENTS), st.text(max_size=12)), max_size=30).map("".join)


def _words(text: str) -> list[str]:
    """Word tokens of ``text`` once invisible characters are gone (cleaning deletes them inside words)."""
    visible = "".join(
        c
        for c in text
        if not (unicodedata.category(c) == "Cf" or (unicodedata.category(c) == "Cc" and not c.isspace()))
    )
    return re.findall(r"\w+", visible)


def _is_subsequence(needle: list[str], haystack: list[str]) -> bool:
    it = iter(haystack)
    return all(any(word == candidate for candidate in it) for word in needle)


@settings(max_examples=300, deadline=None)
@given(texts)
def test_clean_text_is_idempotent_and_invents_nothing(text: str) -> None:
    cleaned = clean_text(text)
    assert clean_text(cleaned) == cleaned
    assert _is_subsequence(_words(cleaned), _words(text))
    assert "\n\n\n" not in cleaned and not cleaned.startswith((" ", "\n")) and not cleaned.endswith((" ", "\n"))
    assert all(paragraph.strip() == paragraph and paragraph for paragraph in cleaned.split("\n\n") if cleaned)


@settings(max_examples=200, deadline=None)
@given(st.text())
def test_normalise_whitespace_is_idempotent(text: str) -> None:
    once = normalise_whitespace(text)
    assert normalise_whitespace(once) == once
    assert "\u00a0" not in once and "\r" not in once and "  " not in once


@settings(max_examples=100, deadline=None)
@given(
    st.lists(st.lists(st.sampled_from(["A.", "B is here.", "C", "Footer line.", "x" * 300]), max_size=6), max_size=8)
)
def test_remove_repeated_paragraphs_only_removes_whole_paragraphs(groups: list[list[str]]) -> None:
    texts = ["\n\n".join(paragraphs) for paragraphs in groups]
    cleaned = remove_repeated_paragraphs(texts)
    assert len(cleaned) == len(texts)
    for before, after in zip(texts, cleaned, strict=True):
        remaining = after.split("\n\n") if after else []
        assert _is_subsequence(remaining, before.split("\n\n"))


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from([" ", "\n", "\n\n", "a", "B.", "é", "\u00a0", "\t", "\r", "\u200b", "\u2029"])).map(
            "".join
        ),
    )
)
def test_normalise_whitespace_fast_path_changes_nothing(text: str) -> None:
    # Text found already normal is returned as it is: it must be exactly what normalising it again gives.
    assert normalise_whitespace(text) == _normalise_whitespace(text)
    once = _normalise_whitespace(text)
    assert normalise_whitespace(once) is once


@settings(max_examples=300, deadline=None)
@given(
    st.one_of(
        st.text(),
        st.lists(st.sampled_from([" ", "\n", "\n\n", "a", "B.", "É", "\t", "\x1c", "\x0b", "Straße", "ﬁ"])).map(
            "".join
        ),
    )
)
def test_content_hash_of_normal_text_skips_nothing(text: str) -> None:
    # For text found normal, content_hash skips splitting ASCII into words: the same digest as splitting it.
    from bot.core.library import content_hash

    for body in (text, normalise_whitespace(text)):
        assert content_hash(body, normal=is_normal(body)) == content_hash(body)
