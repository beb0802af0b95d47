"""Parsing sources into articles: every format, every kind of bad input, and no invented text."""

from __future__ import annotations

import contextlib
import json
import re
import unicodedata
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from bot.core import ingest
from bot.core.ingest import (
    MAX_BYTES,
    IngestError,
    decode_text,
    iter_corpus_files,
    normalise_date,
    parse_bytes,
    read_path,
)
from bot.core.models import Article, ParseResult

FIXTURES = Path(__file__).parent / "fixtures"
CORPUS = Path(__file__).parent.parent / "corpus"
SEED = FIXTURES / "independent-2026-01-05-putin-residence.txt"

SEED_FIRST = (
    "President Donald Trump has announced that US officials have concluded Ukraine did not target a residence "
    "belonging to Russian President Vladimir Putin in a drone attack last week."
)
SEED_LAST = (
    "But Putin has shown little interest in ending the war until all of Russia's objectives are met, including "
    "winning control of all Ukrainian territory in the key industrial Donbas region and imposing severe "
    "restrictions on the size of Ukraine's post-war military and the type of weaponry it can possess."
)


def only_article(result: ParseResult) -> Article:
    assert result.rejected == []
    assert len(result.articles) == 1
    return result.articles[0]


def assert_clean_seed(text: str) -> None:
    paragraphs = text.split("\n\n")
    assert paragraphs[0] == SEED_FIRST
    assert paragraphs[-1] == SEED_LAST
    assert len(paragraphs) == 16
    for boilerplate in ["Your support", "Read more", "Support Now", "open image in gallery", "REUTERS", "Copyright"]:
        assert boilerplate not in text


# -- the seed format ---------------------------------------------------------------------------------------


def test_seed_format() -> None:
    article = only_article(read_path(SEED))
    assert_clean_seed(article.text)
    assert article.date == "2026-01-05"
    assert article.source is None  # the file does not say; never guessed
    assert article.url is None
    assert article.title is not None
    assert article.title.startswith("President Donald Trump has announced that US officials")
    assert len(article.title) <= ingest.MAX_TITLE_CHARS
    assert article.title.endswith("…")


def test_seed_format_with_given_source_and_leading_whitespace() -> None:
    data = b"\n  date 2024-02-29\nThe council met on Thursday and agreed to rebuild the old pier by the summer."
    article = only_article(parse_bytes(data, "note.txt", default_source="Coastal Herald"))
    assert article.date == "2024-02-29"
    assert article.source == "Coastal Herald"
    assert article.text == "The council met on Thursday and agreed to rebuild the old pier by the summer."
    assert article.title == "The council met on Thursday and agreed to rebuild the old pier by the summer"


# -- front matter and Markdown -----------------------------------------------------------------------------


def test_front_matter_markdown() -> None:
    article = only_article(read_path(FIXTURES / "front-matter.md"))
    assert article.title == 'Harbour ferry fares to rise in "spring"'
    assert article.source == "The Coastal Herald"  # from the `outlet` alias, quotes stripped
    assert article.date == "2026-01-05"
    assert article.url == "https://www.coastalherald.example/news/ferry-fares"
    assert article.author == "Maria Lopez"
    assert article.text.split("\n\n") == [
        "Ferry fares across the harbour will rise by ten per cent in April, the transport authority said on Monday.",
        "The authority said the increase would pay for two new boats. Read the full report for details.",
        "What changes",
        "Single tickets will cost 3.30 pounds.",
        "Season tickets will rise by 40 pounds a year.",
        '"Nobody likes paying more, but the old boats are worn out," said the authority\'s chair, Ruth Okafor.',
    ]
    for markup in ["#", "**", "*", "](", "![", "- ", "> ", "https://"]:
        assert markup not in article.text


def test_front_matter_without_title_uses_the_leading_heading() -> None:
    data = b"---\nsource: Daily Example\n---\n# Storm closes schools\n\nAll schools in the county closed on Monday as the storm arrived."
    article = only_article(parse_bytes(data, "storm.md"))
    assert article.title == "Storm closes schools"
    assert article.source == "Daily Example"
    assert article.text == "All schools in the county closed on Monday as the storm arrived."


def test_front_matter_block_and_list_values() -> None:
    """`title: |` became the title "|", and `source: [a, b]` was stored with its brackets."""
    data = (
        b"---\ntitle: |\n  Storm closes\n  county schools\nsource: [Daily Example, 'Wire']\ndate: 2026-01-05\n---\n"
        b"All schools in the county closed on Monday as the storm arrived."
    )
    article = only_article(parse_bytes(data, "storm.md"))
    assert (article.title, article.source, article.date) == (
        "Storm closes county schools",
        "Daily Example, Wire",
        "2026-01-05",
    )


def test_markdown_that_starts_with_a_rule_is_not_front_matter() -> None:
    data = b"---\nThe opening paragraph is not metadata at all.\n---\nA second paragraph follows it here."
    article = only_article(parse_bytes(data, "rule.md"))
    assert "The opening paragraph is not metadata at all." in article.text


def test_a_header_of_key_value_lines_without_dashes_is_metadata() -> None:
    # What a moderator types or pastes at the top of a .txt: "Title: …" lines, a blank line, the article.
    data = (
        b"Title: Harbour bridge approved\r\nSource: Coastal Herald\r\nDate: 2 March 2026\r\n\r\n"
        b"The council voted 7 to 2 on Tuesday to approve the new harbour bridge."
    )
    article = only_article(parse_bytes(data, "bridge.txt"))
    assert (article.title, article.source, article.date) == ("Harbour bridge approved", "Coastal Herald", "2026-03-02")
    assert article.text == "The council voted 7 to 2 on Tuesday to approve the new harbour bridge."


@pytest.mark.parametrize(
    "opening",
    [
        "Update: The council voted 7 to 2 on Tuesday to approve the bridge.",  # not a metadata key
        "Title: Harbour bridge approved\nThe council voted 7 to 2 on Tuesday to approve it.",  # prose in the block
        "Source:\nThe council voted 7 to 2 on Tuesday to approve the bridge.",  # no value
    ],
)
def test_an_opening_paragraph_that_is_not_all_metadata_stays_prose(opening: str) -> None:
    body = f"{opening}\n\nWork on the bridge starts in the spring, the council said."
    article = only_article(parse_bytes(body.encode(), "bridge.txt"))
    assert all(line in article.text for line in opening.split("\n"))


def test_corpus_seed_article_ingests_clean() -> None:
    article = only_article(read_path(CORPUS / "independent-2026-01-05-putin-residence.md"))
    assert_clean_seed(article.text)
    assert article.title == "Trump says US concluded Ukraine did not target Putin's residence"
    assert article.source == "The Independent"
    assert article.date == "2026-01-05"
    assert article.url is not None and article.url.startswith("https://www.independent.co.uk/")
    # The seed fixture and the shipped corpus file carry the same article.
    assert article.text == only_article(read_path(SEED)).text


# -- HTML ------------------------------------------------------------------------------------------------

HTML_PARAGRAPHS = [
    "The harbour bridge reopened to traffic on Thursday morning after a two-year repair programme that cost "
    "the city council more than 40 million pounds.",
    "Engineers replaced all 212 of the bridge's steel cables and resurfaced the main deck, which had been "
    "closed to heavy goods vehicles since a routine inspection found corrosion in 2022.",
    '"It is a relief for everyone who lives on the north shore," said council leader Amira Hassan, who cut a '
    "ribbon at the southern end of the bridge shortly after 7am.",
    "Local businesses said the closure had cost them trade. A survey by the chamber of commerce found that two "
    "in five shops on the north shore had lost customers during the works.",
    "The council said a cycle lane would open on the bridge in the summer, once the final safety checks are complete.",
]


def test_html_article() -> None:
    article = only_article(read_path(FIXTURES / "article.html"))
    assert article.text.split("\n\n") == HTML_PARAGRAPHS
    assert article.title == "Harbour bridge reopens after two years of repairs"
    assert article.source == "The Coastal Herald"
    assert article.date == "2024-03-14"
    assert article.url == "https://www.coastalherald.example/news/harbour-bridge-reopens"
    assert article.author == "Maria Lopez"
    for furniture in ["Home", "cookies", "Related stories", "Ferry timetable", "newsletter", "Privacy", "at dawn"]:
        assert furniture not in article.text


def test_html_outlet_from_the_url_host_when_the_page_has_no_site_name() -> None:
    html = (FIXTURES / "article.html").read_text(encoding="utf-8")
    html = re.sub(r'<meta property="og:site_name"[^>]*>|<link rel="canonical"[^>]*>', "", html)
    url = "https://www.independent.co.uk/news/bridge.html"
    article = only_article(parse_bytes(html.encode(), url, url=url, content_type="text/html"))
    assert article.source == "independent.co.uk"
    assert article.url == url
    # Without a URL or site name the outlet is unknown, not guessed.
    assert only_article(parse_bytes(html.encode(), "page.html")).source is None


def test_html_is_recognised_by_content_not_extension() -> None:
    data = (FIXTURES / "article.html").read_bytes()
    article = only_article(parse_bytes(data, "saved-page.txt"))
    assert article.text.split("\n\n") == HTML_PARAGRAPHS


def test_html_without_article_text() -> None:
    with pytest.raises(IngestError, match=r"no article text found in empty\.html"):
        parse_bytes(b"<!DOCTYPE html><html><head><title>Hi</title></head><body></body></html>", "empty.html")


def test_html_declared_charset_is_honoured() -> None:
    html = (
        '<html><head><meta charset="koi8-r"><title>Новости</title></head><body><article>'
        "<p>Городской совет в понедельник одобрил план строительства новой библиотеки в центре города.</p>"
        "<p>Строительство начнётся весной и продлится два года, сообщили в мэрии.</p></article></body></html>"
    )
    article = only_article(parse_bytes(html.encode("koi8-r"), "news.html"))
    assert "Городской совет в понедельник одобрил план" in article.text


# -- JSON lines ------------------------------------------------------------------------------------------


def test_json_lines_good_and_bad() -> None:
    result = read_path(FIXTURES / "bulk.jsonl")
    assert [a.external_id for a in result.articles] == ["ok-1", "42", "ok-3"]
    first, second, third = result.articles
    assert first == Article(
        text="The city council approved plans for a new central library on Tuesday.\n\n"
        "Construction is expected to begin next spring and take two years.",
        title="Council approves new library",
        source="Metro Daily",
        date="2024-05-07",
        url="https://metrodaily.example/library",
        external_id="ok-1",
    )
    assert second.title == "Flood warnings were issued for three river valleys after a week of heavy rain"
    assert second.date == "2026-01-05"  # "January 5, 2026"
    assert second.source is None and second.url is None
    assert third.date == "2026-01-05"  # "5 Jan 2026"
    rejected = {r.where: r.reason for r in result.rejected}
    assert set(rejected) == {f"bulk.jsonl:{n}" for n in (4, 5, 6, 7, 8, 9)}
    assert "not valid JSON" in rejected["bulk.jsonl:4"]
    assert "JSON object" in rejected["bulk.jsonl:5"]
    assert '"text"' in rejected["bulk.jsonl:6"]
    assert "empty" in rejected["bulk.jsonl:7"]
    assert '"title" must be a string' in rejected["bulk.jsonl:8"]
    assert "too short" in rejected["bulk.jsonl:9"]


def test_json_lines_entirely_bad() -> None:
    data = b'not json\n[1, 2]\n{"title": "no text"}\n'
    result = parse_bytes(data, "bad.jsonl")
    assert result.articles == []
    assert [r.where for r in result.rejected] == ["bad.jsonl:1", "bad.jsonl:2", "bad.jsonl:3"]


def test_json_list_file(tmp_path: Path) -> None:
    items = [
        {"id": "a", "text": "The first article in the list is long enough to keep.", "source": "Wire"},
        {"id": "b", "text": ""},
    ]
    path = tmp_path / "items.json"
    path.write_text(json.dumps(items, indent=2), encoding="utf-8")
    result = read_path(path)
    assert [a.external_id for a in result.articles] == ["a"]
    assert [r.where for r in result.rejected] == ["items.json:item 2"]


def test_json_default_source_and_broken_json_file() -> None:
    line = json.dumps({"text": "A wire story without a source field, long enough to keep."})
    assert only_article(parse_bytes(line.encode(), "w.jsonl", default_source="Wire")).source == "Wire"
    with pytest.raises(IngestError, match="not valid JSON"):
        parse_bytes(b'{\n  "text": "unterminated\n}', "broken.json")


def test_shipped_wikinews_corpus() -> None:
    result = read_path(CORPUS / "wikinews-2019-2020.jsonl")
    assert result.rejected == []
    assert len(result.articles) == 279
    assert all(a.source == "Wikinews" and a.url and a.date and a.title and a.external_id for a in result.articles)


# -- decoding and bad input ----------------------------------------------------------------------------


def test_latin1_and_cp1252_are_decoded() -> None:
    latin = only_article(read_path(FIXTURES / "latin1.txt"))
    assert latin.text.startswith("Café owners in Zürich said the façade")
    windows = only_article(read_path(FIXTURES / "cp1252.txt"))
    assert "“a fair deal for everyone” – but" in windows.text


def test_utf16_with_bom() -> None:
    article = only_article(read_path(FIXTURES / "utf16.txt"))
    assert article.text == (
        "Scientists in Kraków reported a new species of beetle found in a city park.\n\n"
        "The insect, about 4 mm long, was named after the park’s founder."
    )


def test_decode_text_variants() -> None:
    assert decode_text("\ufeffcafé\r\nbar".encode()) == "café\nbar"
    assert decode_text("café".encode("utf-16-be").join([b"\xfe\xff", b""])) == "café"
    assert decode_text("naïve".encode("latin-1")) == "naïve"


@pytest.mark.parametrize("data", [b"", b"   \n\t\n", "\ufeff".encode()])
def test_empty_input(data: bytes) -> None:
    with pytest.raises(IngestError, match="empty"):
        parse_bytes(data, "blank.txt")


@pytest.mark.parametrize(
    ("data", "what"),
    [
        (b"%PDF-1.7\n%\xe2\xe3\xcf\xd3\n1 0 obj", "PDF"),
        (b"\x89PNG\r\n\x1a\n\x00\x00\x00\rIHDR", "PNG"),
        (b"PK\x03\x04\x14\x00\x06\x00", "ZIP"),
        (b"\x1f\x8b\x08\x00\x00\x00\x00\x00", "gzip"),
        (bytes(range(256)) * 4, "binary"),
        (bytes(i % 32 for i in range(1, 2000) if i % 32 not in (0, 9, 10, 13)), "binary"),
    ],
)
def test_binary_input(data: bytes, what: str, tmp_path: Path) -> None:
    path = tmp_path / "upload.txt"
    path.write_bytes(data)
    with pytest.raises(IngestError, match=what):
        read_path(path)


def test_the_binary_check_counts_exactly_the_control_characters_that_are_not_space() -> None:
    every = "".join(map(chr, range(0x110000)))
    wanted = [c for c in every if unicodedata.category(c) == "Cc" and not c.isspace()]
    assert ingest._CONTROL_RE.findall(every) == wanted


def test_oversize_file_is_refused_before_reading(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    path = tmp_path / "huge.txt"
    with path.open("wb") as handle:
        handle.truncate(MAX_BYTES + 1)  # sparse: no need to write 5 MB

    def must_not_read(self: Path) -> bytes:
        raise AssertionError("read before the size check")

    monkeypatch.setattr(Path, "read_bytes", must_not_read)
    with pytest.raises(IngestError, match=r"5 MB.*5 MB limit"):
        read_path(path)
    small = tmp_path / "small.jsonl"
    small.write_bytes(b"x" * 2_000_000)
    with pytest.raises(IngestError, match=r"1\.9 MB.*1 MB limit"):
        read_path(small, max_bytes=1024 * 1024)


def test_bulk_files_get_the_larger_cap(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    # The BBC sample is 5.2 MB of JSON lines: bulk files must not be held to the one-article cap.
    parsed: list[int] = []

    def record_size(data: bytes, name: str) -> ParseResult:
        parsed.append(len(data))
        return ParseResult()

    monkeypatch.setattr(ingest, "parse_bytes", record_size)
    path = tmp_path / "bulk.jsonl"
    path.write_bytes(b"{}\n" * (MAX_BYTES // 3 + 10))
    read_path(path)
    assert parsed == [path.stat().st_size] and parsed[0] > MAX_BYTES
    text = tmp_path / "bulk.txt"
    text.write_bytes(b"{}\n" * (MAX_BYTES // 3 + 10))
    with pytest.raises(IngestError, match="limit"):
        read_path(text)


def test_missing_file_and_folder(tmp_path: Path) -> None:
    with pytest.raises(IngestError, match="does not exist"):
        read_path(tmp_path / "nope.txt")
    with pytest.raises(IngestError, match="not a file"):
        read_path(tmp_path)


def test_too_short_article_is_rejected() -> None:
    result = parse_bytes(b"Short note.", "note.txt")
    assert result.articles == []
    assert result.rejected[0].where == "note.txt"
    assert "too short" in result.rejected[0].reason


def test_article_that_is_only_boilerplate_is_rejected() -> None:
    result = parse_bytes(b"Advertisement\n\nRead more\n\n(Getty Images)", "furniture.txt")
    assert result.articles == []
    assert "boilerplate" in result.rejected[0].reason


def test_plain_text_title_from_first_sentence_and_abbreviations() -> None:
    data = b"The U.S. Senate voted on Friday to extend the programme. It now goes to the House."
    article = only_article(parse_bytes(data, "senate.txt"))
    assert article.title == "The U.S. Senate voted on Friday to extend the programme"
    assert article.date is None and article.source is None


# -- dates -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ("2026-01-05", "2026-01-05"),
        ("2026-01-05T10:30:00Z", "2026-01-05"),
        ("January 5, 2026", "2026-01-05"),
        ("Jan. 5, 2026", "2026-01-05"),
        ("5 Jan 2026", "2026-01-05"),
        ("5th January 2026", "2026-01-05"),
        ("Mon, 05 Jan 2026 10:00:00 GMT", "2026-01-05"),
        ("Monday, January 4, 2019", "2019-01-04"),
        ("2026-02-30", None),
        ("05/01/2026", None),  # day or month first? Not guessed.
        ("last Tuesday", None),
        ("", None),
        (None, None),
    ],
)
def test_normalise_date(value: str | None, expected: str | None) -> None:
    assert normalise_date(value) == expected


# -- folders ---------------------------------------------------------------------------------------------


def test_iter_corpus_files(tmp_path: Path) -> None:
    for name in [
        "b.txt",
        "a.md",
        "sub/c.html",
        "sub/deeper/d.jsonl",
        "sub/e.JSON",
        "README.md",
        "NOTICE",
        "LICENSE.txt",
        ".hidden.txt",
        ".git/config.txt",
        "image.png",
        "notes.markdown",
        "page.htm",
    ]:
        path = tmp_path / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text("x", encoding="utf-8")
    found = iter_corpus_files([tmp_path, tmp_path / "a.md", tmp_path / "missing"])
    assert [p.relative_to(tmp_path).as_posix() for p in found] == [
        "a.md",
        "b.txt",
        "notes.markdown",
        "page.htm",
        "sub/c.html",
        "sub/deeper/d.jsonl",
        "sub/e.JSON",
    ]
    # A file named explicitly is taken whatever its name.
    assert iter_corpus_files([tmp_path / "README.md"]) == [tmp_path / "README.md"]


def test_iter_corpus_files_follows_linked_folders_once(tmp_path: Path) -> None:
    shared = tmp_path / "shared"
    shared.mkdir()
    (shared / "wire.md").write_text("x", encoding="utf-8")
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "wire").symlink_to(shared)  # a host links a shared folder in
    (corpus / "again").symlink_to(shared)
    (shared / "loop").symlink_to(corpus)  # and a loop back
    found = iter_corpus_files([corpus])
    assert len(found) == 1 and found[0].name == "wire.md"


def test_shipped_corpus_folder() -> None:
    names = [p.name for p in iter_corpus_files([CORPUS])]
    assert names == ["independent-2026-01-05-putin-residence.md", "wikinews-2019-2020.jsonl"]


# -- properties ------------------------------------------------------------------------------------------


def _invisible(char: str) -> bool:
    """What cleaning deletes outright: format characters (zero-width, BOM) and non-space controls."""
    category = unicodedata.category(char)
    return category == "Cf" or (category == "Cc" and not char.isspace())


def _visible(text: str) -> str:
    return "".join(c for c in text if not c.isspace() and not _invisible(c))


def _invents_nothing(output: str, source: str) -> bool:
    """Parsing only deletes (markup, boilerplate) and changes whitespace: the output's visible characters
    are a subsequence of the input's."""
    it = iter(_visible(source))
    return all(any(c == s for s in it) for c in _visible(output))


def _parsed_inventing_nothing(source: str, name: str, reference: str) -> list[Article]:
    """The articles parse_bytes makes of ``source`` (none when it refuses it), each checked to hold no visible text
    that ``reference`` lacks (in order)."""
    try:
        articles = parse_bytes(source.encode(), name).articles
    except IngestError:
        return []
    for article in articles:
        assert _invents_nothing(article.text, reference)
    return articles


def _words_in(output: str, source: str) -> bool:
    """Every word of the output occurs in the source (for formats without markup to remove)."""
    visible = "".join(c for c in source if not _invisible(c))
    return all(word in visible for word in re.findall(r"\w+", output))


FRAGMENTS = st.sampled_from(
    ["Read more", "(Getty Images)", "open image in gallery", "**", "_", "[a](b)", "# ", "- ", "\n", "\n\n", ". ", "’"]
)
bodies = st.lists(st.one_of(FRAGMENTS, st.text(max_size=15)), max_size=20).map("".join)
meta_values = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), max_size=20)
FAST = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


@FAST
@given(st.binary(max_size=300))
def test_decode_text_never_crashes(data: bytes) -> None:
    try:
        text = decode_text(data, "x")
    except IngestError:
        return
    assert "\r" not in text and text.strip()


@FAST
@given(st.binary(max_size=300), st.sampled_from(["x.txt", "x.md", "x.jsonl", "x.json", "x.html", "x"]))
def test_parse_bytes_never_crashes_on_bytes(data: bytes, name: str) -> None:
    with contextlib.suppress(IngestError):
        parse_bytes(data, name)


@FAST
@given(
    st.dictionaries(
        st.sampled_from(["title", "source", "outlet", "date", "url", "author", "tags", "x"]), meta_values, max_size=6
    ),
    bodies,
    st.booleans(),
)
def test_front_matter_invents_no_text(meta: dict[str, str], body: str, quote: bool) -> None:
    header = "\n".join(f"{k}: {json.dumps(v) if quote else v}" for k, v in meta.items())
    for article in _parsed_inventing_nothing(f"---\n{header}\n---\n{body}", "doc.md", body):
        assert article.date is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", article.date)


@FAST
@given(st.dictionaries(st.sampled_from(["title", "Source", "outlet", "date", "URL", "author"]), meta_values), bodies)
def test_a_header_block_invents_no_text(meta: dict[str, str], body: str) -> None:
    header = "\n".join(f"{k}: {v}" for k, v in meta.items())
    source = f"{header}\n\n{body}"  # a block with an empty value stays prose: checked against the whole source
    for article in _parsed_inventing_nothing(source, "doc.txt", source):
        assert article.date is None or re.fullmatch(r"\d{4}-\d{2}-\d{2}", article.date)


@FAST
@given(bodies, st.dates().map(lambda d: d.isoformat()).filter(lambda s: len(s) == 10))
def test_seed_format_invents_no_text(body: str, day: str) -> None:
    for article in _parsed_inventing_nothing(f"date {day} {body}", "seed.txt", body):
        assert article.date == day


json_values = st.one_of(
    st.none(), st.integers(), st.booleans(), st.text(max_size=10), st.lists(st.integers(), max_size=2)
)
records = st.one_of(
    st.fixed_dictionaries(
        {"text": st.one_of(bodies, json_values)},
        optional={k: json_values for k in ("id", "title", "source", "date", "url", "extra")},
    ),
    json_values,
)
garbage = st.text(alphabet=st.characters(blacklist_categories=("Cs", "Cc")), min_size=1, max_size=30)
lines = st.lists(st.one_of(records.map(lambda r: json.dumps(r, ensure_ascii=False)), garbage), min_size=2, max_size=8)


@FAST
@given(lines)
def test_json_lines_account_for_every_line_and_invent_nothing(rows: list[str]) -> None:
    data = "\n".join(rows).encode()
    try:
        result = parse_bytes(data, "bulk.jsonl")
    except IngestError:
        return
    numbered = [(n, row) for n, row in enumerate("\n".join(rows).split("\n"), start=1) if row.strip()]
    try:
        json.loads(data)
        return  # the whole file is one JSON document (a list or an object); covered by the unit tests
    except ValueError:
        pass
    wheres = [r.where for r in result.rejected]
    assert len(result.articles) + len(result.rejected) == len(numbered)
    assert all(re.fullmatch(r"bulk\.jsonl:\d+", w) for w in wheres)
    given_texts = []
    for _, row in numbered:
        with contextlib.suppress(ValueError):
            record = json.loads(row)
            if isinstance(record, dict) and isinstance(record.get("text"), str):
                given_texts.append(record["text"])
    for article in result.articles:
        assert any(_words_in(article.text, text) and _invents_nothing(article.text, text) for text in given_texts)


_html_text = st.text(
    alphabet=st.characters(categories=["L", "N", "Zs", "P"], exclude_characters="<>&"), min_size=0, max_size=120
)


@settings(max_examples=40, deadline=None)
@given(
    title=_html_text,
    paragraphs=st.lists(_html_text, min_size=0, max_size=8),
    furniture=st.lists(
        st.sampled_from(
            [
                "<nav>Home | World</nav>",
                "<footer>© Outlet</footer>",
                "<script>x=1</script>",
                "<aside>Sign up to our newsletter</aside>",
                "<figure><figcaption>A photo</figcaption></figure>",
            ]
        ),
        max_size=3,
    ),
    meta=st.booleans(),
)
def test_html_extraction_never_crashes_and_invents_no_words(title, paragraphs, furniture, meta):
    """Structured pages through trafilatura and our glue: only IngestError, and every word comes from the page."""
    head = f"<title>{title}</title>" + ('<meta property="og:site_name" content="Outlet">' if meta else "")
    body = "".join(furniture) + "".join(f"<p>{p}</p>" for p in paragraphs)
    page = f"<html><head>{head}</head><body><article>{body}</article></body></html>"
    try:
        result = ingest.parse_bytes(page.encode(), "page.html", url="https://news.example/a")
    except ingest.IngestError:
        return
    source_words = set(re.findall(r"\w+", page))
    for article in result.articles:
        assert set(re.findall(r"\w+", article.text)) <= source_words
