"""Embed building and escaping: third-party text can't format, mask links or ping; Discord's limits hold."""

from __future__ import annotations

import dataclasses
import re

import discord
from hypothesis import given, settings
from hypothesis import strategies as st

from bot.core.models import Answer, Citation, Quote
from bot.discord import embeds

CITE = Citation(1, "Strike on residence", "The Independent", "2026-01-05", "https://example.com/a")


def answer(*quotes: Quote, searched: int = 12, question: str = "Did the US confirm the strike?") -> Answer:
    return Answer(
        question=question,
        abstained=False,
        message="2 quotes from 1 article:",
        quotes=quotes,
        articles_searched=searched,
        query_id=7,
    )


def quote(text: str, *citations: Citation, terms: frozenset[str] = frozenset()) -> Quote:
    return Quote(text=text, score=1.0, citations=citations or (CITE,), matched_terms=terms)


def payload_text(embed: discord.Embed) -> str:
    d = embed.to_dict()
    parts = [d.get("title", ""), d.get("description", ""), d.get("footer", {}).get("text", "")]
    parts += [f["name"] + "\n" + f["value"] for f in d.get("fields", [])]
    return "\n".join(parts)


def assert_within_limits(embed: discord.Embed) -> None:
    d = embed.to_dict()
    assert len(d.get("title", "")) <= 256
    assert len(d.get("description", "")) <= 4096
    assert len(d.get("fields", [])) <= 25
    for f in d.get("fields", []):
        assert 1 <= len(f["name"]) <= 256 and 1 <= len(f["value"]) <= 1024
    assert len(d.get("footer", {}).get("text", "")) <= 2048
    assert len(embed) <= 6000


# -- escaping ------------------------------------------------------------------------------------------


def test_mass_mentions_are_broken_with_a_zero_width_space() -> None:
    out = embeds.escape("Hello @everyone and @here")
    assert "@everyone" not in out and "@here" not in out
    assert "@\u200beveryone" in out and "@\u200bhere" in out


def test_user_role_and_channel_mentions_are_escaped() -> None:
    out = embeds.escape("ping <@123> <@!123> <@&456> <#789> </ask:1> <t:1700000000:R> <:emo:42>")
    assert not re.search(r"(?<!\\)<[@#/:t]", out)
    assert r"\<@123\>" in out and r"\<@&456\>" in out and r"\<#789\>" in out


def test_masked_links_cannot_form() -> None:
    out = embeds.escape("[click](http://evil.example/steal)")
    assert not re.search(r"(?<!\\)\[[^\]]*(?<!\\)\]\(", out)
    assert out.startswith(r"\[click\]")


def test_code_fences_and_formatting_are_escaped() -> None:
    out = embeds.escape("```py\nprint(1)\n``` **bold** __u__ ~~s~~ ||spoiler|| `x`")
    assert "```" not in out
    for marker in ("**", "__", "~~", "||"):
        assert marker not in out.replace("\\" + marker[0], "")
    assert r"\`\`\`" in out


def test_line_start_markdown_is_escaped() -> None:
    assert embeds.escape("# Heading") == r"\# Heading"
    assert embeds.escape("-# subtext") == r"\-# subtext"  # "-#" is subtext only unescaped
    assert embeds.escape("> quote") == r"\> quote"
    assert embeds.escape("1. item") == r"1\. item"


def test_bare_links_stay_intact() -> None:
    out = embeds.escape("see https://example.com/a_b_c?x=1*2 now")
    assert "https://example.com/a_b_c?x=1*2" in out


def test_invisible_and_bidi_characters_are_removed() -> None:
    assert embeds.escape("a\u202eb\u200bc") == "abc"


def test_highlight_bolds_matched_words_after_escaping() -> None:
    out = embeds.highlight("Putin's *residence* was hit, said Donald Trump.", {"putin", "resid", "donald", "trump"})
    assert out.startswith("**Putin's**")
    assert r"\***residence**\*" in out  # the literal asterisks are escaped, the bold is ours
    assert "**Donald Trump**" in out  # neighbours merged


def test_highlight_never_bolds_inside_links() -> None:
    out = embeds.highlight("Putin said https://putin.example/putin today", {"putin"})
    assert "https://putin.example/putin" in out
    assert out.startswith("**Putin**")


def test_highlight_uses_spans_of_the_original_text() -> None:
    # An escaped character before the match must not shift the bold onto the wrong letters.
    out = embeds.highlight("<@1> [x](y) strike", {"strike"})
    assert out.endswith("**strike**")


# -- URLs -------------------------------------------------------------------------------------------------


def test_only_http_urls_are_linked() -> None:
    for bad in (
        "file:///etc/passwd",
        "/home/host/corpus/a.md",
        "javascript:alert(1)",
        "ftp://x/y",
        "data:text/html,x",
        "https://",
        "http://exa mple.com",
    ):
        assert embeds.safe_url(bad) is None, bad
    assert embeds.safe_url("https://example.com/a") == "https://example.com/a"


def test_url_characters_that_break_masked_links_are_encoded() -> None:
    url = embeds.safe_url("https://example.com/a_(b)>c")
    assert url is not None and "(" not in url and ")" not in url and ">" not in url


def test_non_http_citation_url_is_omitted_from_the_answer() -> None:
    cite = Citation(2, "Local file", "Host", "2026-01-05", "/srv/corpus/secret.md")
    embed = embeds.answer_embed(answer(quote("The strike was confirmed.", cite)))
    text = payload_text(embed)
    assert "/srv/corpus" not in text and "](" not in text
    assert embed.url is None


# -- answers ----------------------------------------------------------------------------------------------


def test_answer_embed_layout() -> None:
    q1 = quote("The US confirmed the strike on Monday.", terms=frozenset({"usa", "confirm", "strike"}))
    cite2 = Citation(2, "Second story", "Reuters", "2026-01-06", "https://example.org/b")
    q2 = quote("Officials confirmed it.", CITE, cite2, terms=frozenset({"confirm"}))
    embed = embeds.answer_embed(answer(q1, q2))
    d = embed.to_dict()
    assert d["title"] == "Did the US confirm the strike?"
    assert "> “The **US confirmed** the **strike** on Monday.” **[1]**" in d["description"]
    assert "**[1][2]**" in d["description"]
    sources = d["fields"][0]
    assert sources["name"] == "Sources"
    assert "**[1]** [Strike on residence](<https://example.com/a>) — The Independent, 5 Jan 2026" in sources["value"]
    assert "**[2]** [Second story](<https://example.org/b>) — Reuters, 6 Jan 2026" in sources["value"]
    assert d["footer"]["text"].startswith("Searched 12 articles")
    assert_within_limits(embed)


def test_hostile_article_text_is_inert_in_the_answer() -> None:
    hostile = "@everyone <@123> <@&456> [click](http://evil) ```x``` **y**"
    cite = Citation(3, "@here [t](http://evil) <@1>", "<@&2> outlet", "not a date", "https://ok.example")
    embed = embeds.answer_embed(answer(quote(hostile, cite)))
    text = payload_text(embed)
    assert "@everyone" not in text and "@here" not in text
    assert not re.search(r"(?<!\\)<@", text)
    assert "[click](" not in text and "[t](" not in text
    assert "```" not in text


def test_long_quote_is_trimmed_at_a_word_boundary_with_a_link() -> None:
    long = "word " * 400 + "end."
    embed = embeds.answer_embed(answer(quote(long)))
    desc = embed.description or ""
    assert "…” **[1]** [full article](<https://example.com/a>)" in desc
    assert "wor…" not in desc  # cut between words
    assert len(desc) < 1000
    assert_within_limits(embed)


def test_many_long_quotes_with_long_urls_stay_within_limits() -> None:
    cites = [Citation(i, "T" * 300, "O" * 300, "2026-01-05", "https://example.com/" + "p" * 480) for i in range(40)]
    quotes = [quote("@everyone " * 300, *cites[i * 3 : i * 3 + 3], terms=frozenset({"everyon"})) for i in range(12)]
    embed = embeds.answer_embed(answer(*quotes, question="q" * 500))
    assert_within_limits(embed)
    assert "@everyone" not in payload_text(embed)
    assert 1 <= assert_sources_match_quotes(embed) < 12  # not only sizes: what is shown still adds up


def _numbers(text: str) -> list[int]:
    """Source numbers in bold markers: '**[1][2]**' in a quote, '**[1]**' in the sources list."""
    return [int(n) for group in re.findall(r"\*\*((?:\[\d+\])+)", text) for n in re.findall(r"\d+", group)]


def assert_sources_match_quotes(embed: discord.Embed) -> int:
    """Every [n] in the quotes is listed, every listed source is referenced, numbered 1..k; returns quotes shown."""
    description = embed.description or ""
    referenced = set(_numbers(description))
    listed = _numbers("\n".join(f.value or "" for f in embed.fields))
    assert listed == list(range(1, len(listed) + 1))
    assert referenced == set(listed)
    shown = description.count("\n> “")
    assert description.startswith(f"{shown} quote{'s' if shown != 1 else ''} from")
    return shown


def test_a_hedged_answer_says_so_in_amber_also_when_paged() -> None:
    quotes = [quote(f"Quote {i}.", Citation(i, f"Title {i}", "Outlet", "2026-01-05", None)) for i in range(4)]
    doubtful = dataclasses.replace(answer(*quotes), hedged=True, message="I'm not sure these answer it.")
    page, more = embeds.first_page(doubtful, 3)
    assert more and page.message == "I'm not sure these answer it. The closest I found, 3 quotes from 3 articles:"
    embed = embeds.answer_embed(page)
    assert embed.colour == embeds.HEDGED_COLOUR and (embed.description or "").startswith("I'm not sure")
    assert embeds.answer_embed(answer(*quotes)).colour == embeds.ANSWER_COLOUR


def test_overflow_drops_source_links_before_any_quote() -> None:
    cites = [
        Citation(i, f"Title {i} " * 20, "Outlet", "2026-01-05", f"https://example.com/{i}/" + "p" * 470)
        for i in range(8)
    ]
    embed = embeds.answer_embed(
        dataclasses.replace(
            answer(*[quote(f"Quote {i} " + "word " * 80, c) for i, c in enumerate(cites)]),
            message="8 quotes from 8 articles:",
        )
    )
    assert_within_limits(embed)
    assert assert_sources_match_quotes(embed) == 8
    assert "https://example.com" not in "\n".join(f.value or "" for f in embed.fields)


def test_overflow_renumbers_sources_from_the_quotes_kept() -> None:
    cites = [Citation(i, "T" * 300, "O" * 300, "2026-01-05", "https://example.com/" + "p" * 480) for i in range(40)]
    quotes = [quote(f"Quote {i} " + "word " * 200, *cites[i * 3 : i * 3 + 3]) for i in range(12)]
    embed = embeds.answer_embed(answer(*quotes))
    assert_within_limits(embed)
    shown = assert_sources_match_quotes(embed)
    assert 1 <= shown < 12


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.text(min_size=0, max_size=900), min_size=1, max_size=6),
    st.text(max_size=400),
    st.text(max_size=300),
)
def test_any_text_stays_within_limits_and_never_mass_pings(texts: list[str], title: str, question: str) -> None:
    cite = Citation(1, title, title, "2026-01-05", "https://example.com/x")
    embed = embeds.answer_embed(
        answer(*[quote(t or "x", cite, terms=frozenset({"a", "the"})) for t in texts], question=question or "?")
    )
    assert_within_limits(embed)
    text = payload_text(embed)
    assert not re.search(r"@(everyone|here)", text, re.IGNORECASE)
    assert not re.search(r"(?<!\\)<[@#]", text)


def test_abstention_lists_closest_articles_and_a_hint() -> None:
    a = Answer(
        question="Who won?",
        abstained=True,
        message="I couldn't find anything.",
        closest=(CITE, Citation(9, None, None, None, None)),
        articles_searched=3,
    )
    embed = embeds.answer_embed(a)
    d = embed.to_dict()
    assert "Strike on residence" in d["description"] and "Untitled article — unknown, date unknown" in d["description"]
    assert "ask a moderator" in d["description"]
    assert d["footer"]["text"] == "Searched 3 articles"
    assert_within_limits(embed)


def test_more_quotes_page_footer_numbers_the_quotes() -> None:
    embed = embeds.answer_embed(answer(quote("A."), quote("B.")), first_quote=4)
    assert "quotes 4–5" in (embed.footer.text or "")


# -- labels -------------------------------------------------------------------------------------------------


def test_article_label_fits_autocomplete() -> None:
    label = embeds.article_label(42, "A very long title " * 20, "The Independent", "2026-01-05")
    assert len(label) <= 100 and label.startswith("#42 A very long") and label.endswith("The Independent, 2026-01-05")
    assert len(embeds.article_label(7, "t", "o" * 300, None)) <= 100


def test_article_embed_is_escaped_and_limited() -> None:
    embed = embeds.article_embed(
        article_id=5,
        title="@everyone <@1>",
        source="[x](http://e)",
        date="2026-01-05",
        url="file:///etc/passwd",
        body="para one @here\n\n" + "long " * 2000,
        scope_label="This server",
        added_by="123",
        added_at="2026-01-05T10:00:00Z",
    )
    text = payload_text(embed)
    assert embed.url is None and "file://" not in text
    assert "@everyone" not in text and "@here" not in text
    assert_within_limits(embed)


def test_pack_lines_respects_field_limit() -> None:
    chunks = embeds.pack_lines(["x" * 600, "y" * 600, "z" * 2000])
    assert all(len(c) <= 1024 for c in chunks) and len(chunks) == 3


def test_the_answer_span_is_bold_and_the_context_comes_first_in_italics() -> None:
    q = dataclasses.replace(
        quote("She was 81.", terms=frozenset()),
        context="The singer *Marie* died on Friday, @everyone.",
        answer_spans=((8, 10),),
    )
    description = embeds.answer_embed(answer(q)).to_dict()["description"]
    assert (
        "> *(before: “The singer \\*Marie\\* died on Friday, @\u200beveryone.”)*\n> “She was **81**.” **[1]**"
        in description
    )


def test_highlight_merges_question_words_and_answer_phrases() -> None:
    shown = embeds.highlight("Seven people were killed in the storm.", {"storm"}, ["Seven"])
    assert shown == "**Seven** people were killed in the **storm**."


def test_small_talk_gets_a_plain_pointer() -> None:
    reply = Answer(question="thanks!", abstained=True, message="Hi!", small_talk=True)
    d = embeds.abstain_embed(reply).to_dict()
    assert d["description"] == "Hi! See /help." and "Closest" not in d["description"]
