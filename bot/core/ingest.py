"""Turn a source (file, upload, fetched page) into Articles: decode, recognise the format, parse, clean.

Formats are recognised from the content; a file's extension or a server's content type is only a hint
(a ``.txt`` that is really HTML is parsed as HTML):

* JSON lines (bulk import): one ``{"id", "title", "text", "source", "date", "url"}`` object per line, or a
  ``.json`` list of such objects. Bad lines are rejected one by one; the good ones still go in.
* HTML: the article is found by trafilatura; title, date and site name come from the page's metadata.
* Front matter: ``---`` / ``key: value`` lines / ``---``, then a Markdown or plain-text body.
* The seed format: the text starts with ``date YYYY-MM-DD`` and the article follows.
* Anything else that decodes as text: one plain-text article.

Every article's text goes through :func:`bot.core.clean.clean_text`. Metadata that is missing is inferred
only where the source itself says it (title from the first sentence or the file name, outlet from the
page's site name or host); otherwise it is ``None``, never invented.

``str(IngestError)`` and ``Rejected.reason`` are shown to the user, so they say what to do.
"""

from __future__ import annotations

import codecs
import dataclasses
import json
import os
import re
from datetime import date as Date
from itertools import takewhile
from pathlib import Path, PurePosixPath
from typing import Any
from urllib.parse import urlsplit

from bot.core.clean import clean_metadata, clean_text
from bot.core.models import Article, ParseResult, Rejected
from bot.core.sizes import MB, human_size
from bot.core.text import split_sentences

__all__ = [
    "CORPUS_EXTENSIONS",
    "MAX_BULK_BYTES",
    "MAX_BYTES",
    "MAX_TITLE_CHARS",
    "MIN_TEXT_CHARS",
    "IngestError",
    "decode_text",
    "iter_corpus_files",
    "normalise_date",
    "parse_bytes",
    "read_path",
]

MAX_BYTES = 5 * MB  # one document (text, Markdown, HTML)
# JSON-lines files hold many articles (the BBC sample is 5.2 MB, Reuters 21 MB); they get a larger cap.
MAX_BULK_BYTES = 256 * MB
MIN_TEXT_CHARS = 40  # shorter than this after cleaning is a fragment, not an article worth quoting
MAX_TITLE_CHARS = 120

CORPUS_EXTENSIONS = frozenset({".txt", ".md", ".markdown", ".html", ".htm", ".jsonl", ".json"})
_JSON_EXTENSIONS = frozenset({".jsonl", ".json", ".ndjson"})
_HTML_EXTENSIONS = frozenset({".html", ".htm", ".xhtml"})
_MARKDOWN_EXTENSIONS = frozenset({".md", ".markdown"})
_SKIPPED_STEMS = frozenset({"readme", "notice", "license", "licence", "copying", "changelog", "authors"})


class IngestError(ValueError):
    """A source that cannot be ingested; str(e) is a user-facing message that says what to do."""


# -- decoding ------------------------------------------------------------------------------------------

# Only signatures distinctive enough that no article starts with them; other binaries have NUL bytes.
_MAGIC: list[tuple[bytes, str]] = [
    (b"%PDF-", "a PDF document"),
    (b"\x89PNG\r\n\x1a\n", "a PNG image"),
    (b"\xff\xd8\xff", "a JPEG image"),
    (b"GIF87a", "a GIF image"),
    (b"GIF89a", "a GIF image"),
    (b"PK\x03\x04", "a ZIP archive (or a Word/OpenDocument file, which is one)"),
    (b"PK\x05\x06", "an empty ZIP archive"),
    (b"\x1f\x8b", "a gzip archive"),
    (b"\xfd7zXZ\x00", "an xz archive"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive"),
    (b"Rar!\x1a\x07", "a RAR archive"),
    (b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1", "an old Microsoft Office document"),
    (b"\x7fELF", "a program"),
]
_WHAT_TO_DO = "save the article as a .txt, .md, .html or .jsonl file (UTF-8) and add that instead"
_MAX_CONTROL_SHARE = 0.05  # real text has almost no control characters; binary data is full of them
# The control characters (category Cc) that are not whitespace, as a class: counting them a character at a time in
# Python was most of the cost of reading a small file (checked equal over every code point: test_ingest).
_CONTROL_RE = re.compile(r"[\x00-\x08\x0e-\x1b\x7f-\x84\x86-\x9f]")


def decode_text(data: bytes, name: str = "input") -> str:
    """Bytes → text with "\\n" line ends. UTF-8 (with or without BOM), UTF-16/32 with a BOM, else
    Windows-1252/Latin-1 (old files and some CMS exports). Raises IngestError for empty or binary input."""
    if not data.strip():
        raise IngestError(f"{name} is empty; there is no article text to add.")
    text = _decode_bom(data, name)
    if text is None:
        for magic, what in _MAGIC:
            if data.startswith(magic):
                raise IngestError(f"{name} looks like {what}, not text; {_WHAT_TO_DO}.")
        if b"\x00" in data:
            raise IngestError(
                f"{name} contains NUL bytes, so it is a binary file or UTF-16 text without a byte-order "
                f"mark; {_WHAT_TO_DO}."
            )
        text = _decode_8bit(data)
    if text.startswith("\ufeff"):
        text = text[1:]
    text = text.replace("\r\n", "\n").replace("\r", "\n")
    sample = text[:65536]
    if len(_CONTROL_RE.findall(sample)) > _MAX_CONTROL_SHARE * len(sample):
        raise IngestError(f"{name} looks like a binary file, not text; {_WHAT_TO_DO}.")
    if not text.strip():
        raise IngestError(f"{name} is empty; there is no article text to add.")
    return text


def _decode_bom(data: bytes, name: str) -> str | None:
    # UTF-32 first: its little-endian BOM begins with the UTF-16 one.
    for bom, codec in (
        (codecs.BOM_UTF32_LE, "utf-32"),
        (codecs.BOM_UTF32_BE, "utf-32"),
        (codecs.BOM_UTF8, "utf-8-sig"),
        (codecs.BOM_UTF16_LE, "utf-16"),
        (codecs.BOM_UTF16_BE, "utf-16"),
    ):
        if data.startswith(bom):
            try:
                return data.decode(codec)
            except UnicodeDecodeError as error:
                raise IngestError(
                    f"{name} starts with a {codec.upper()} byte-order mark but is not valid {codec.upper()} "
                    f"text ({error.reason} at byte {error.start}); re-save it as UTF-8."
                ) from None
    return None


def _decode_8bit(data: bytes) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError:
        pass
    # Windows-1252 rather than Latin-1 first: it has the curly quotes and dashes old Windows files use.
    # Five bytes are undefined in it; Latin-1 decodes anything.
    try:
        return data.decode("cp1252")
    except UnicodeDecodeError:
        return data.decode("latin-1")


# -- dates -----------------------------------------------------------------------------------------------

_MONTHS = {
    name: number
    for number, names in enumerate(
        [
            ("january", "jan"),
            ("february", "feb"),
            ("march", "mar"),
            ("april", "apr"),
            ("may",),
            ("june", "jun"),
            ("july", "jul"),
            ("august", "aug"),
            ("september", "sep", "sept"),
            ("october", "oct"),
            ("november", "nov"),
            ("december", "dec"),
        ],
        start=1,
    )
    for name in names
}
_MONTH = r"(?P<month>" + "|".join(sorted(_MONTHS, key=len, reverse=True)) + r")\.?"
_DAY = r"(?P<day>\d{1,2})(?:st|nd|rd|th)?"
_YEAR = r"(?P<year>\d{4})"
_DATE_PATTERNS = [
    re.compile(r"(?<!\d)(?P<year>\d{4})(?P<sep>[-/.])(?P<month>\d{1,2})(?P=sep)(?P<day>\d{1,2})(?!\d)"),  # 2026-01-05
    re.compile(rf"\b{_MONTH}\s+{_DAY},?\s+{_YEAR}\b", re.IGNORECASE),  # January 5, 2026
    re.compile(rf"\b{_DAY}\s+(?:of\s+)?{_MONTH},?\s+{_YEAR}\b", re.IGNORECASE),  # 5 Jan 2026
]


def normalise_date(value: str | None) -> str | None:
    """ISO ``YYYY-MM-DD`` from "2026-01-05", "2026-01-05T10:00Z", "January 5, 2026", "5 Jan 2026",
    "Mon, 05 Jan 2026 10:00:00 GMT"; ``None`` when there is no valid date (never a guess)."""
    if not value or len(value) > 200:
        return None
    for pattern in _DATE_PATTERNS:
        match = pattern.search(value)
        if match is None:
            continue
        month = match.group("month")
        month_number = int(month) if month.isdigit() else _MONTHS[month.lower().rstrip(".")]
        try:
            return Date(int(match.group("year")), month_number, int(match.group("day"))).isoformat()
        except ValueError:
            return None  # "2026-02-30": a date that does not exist is not a date
    return None


# -- metadata inference ----------------------------------------------------------------------------------


def _title_from_text(text: str) -> str | None:
    """The first sentence of the cleaned text, trimmed at a word boundary (titles are metadata, so an
    ellipsis marking the cut is fine)."""
    first_paragraph = text.split("\n\n", 1)[0].strip()
    if not first_paragraph:
        return None
    sentences = split_sentences(first_paragraph)  # the same Punkt splitter that makes the quotes
    sentence = (sentences[0].text if sentences else first_paragraph).strip()
    if sentence.endswith(".") and not sentence.endswith(".."):
        sentence = sentence[:-1]
    if len(sentence) <= MAX_TITLE_CHARS:
        return sentence or None
    cut = sentence[: MAX_TITLE_CHARS - 1]
    if " " in cut:
        cut = cut[: cut.rindex(" ")]
    return cut.rstrip(" ,;:–—-") + "…"


def _title_from_name(name: str) -> str | None:
    """'independent-2026-01-05-putin-residence.txt' → 'independent 2026 01 05 putin residence'."""
    stem = PurePosixPath(urlsplit(name).path if "://" in name else name.replace("\\", "/")).stem
    words = re.sub(r"[-_.+]+", " ", stem).strip()
    return words or None


def _source_from_url(url: str | None) -> str | None:
    """The outlet as the host name: https://www.independent.co.uk/… → independent.co.uk."""
    if not url:
        return None
    try:
        host = urlsplit(url.strip()).hostname
    except ValueError:
        return None
    if not host or "." not in host:
        return None
    return re.sub(r"^(?:www\d*|m|amp|mobile)\.", "", host)


def _finish(
    text: str,
    where: str,
    result: ParseResult,
    *,
    title: str | None = None,
    source: str | None = None,
    date: str | None = None,
    url: str | None = None,
    author: str | None = None,
    external_id: str | None = None,
    name_for_title: str | None = None,
) -> None:
    """Clean the text, check it is long enough, infer what is missing, and add the article or a rejection."""
    cleaned = clean_text(text)
    title = clean_metadata(title)
    if title and cleaned.split("\n\n", 1)[0].strip().rstrip(".").lower() == title.rstrip(".").lower():
        cleaned = cleaned.split("\n\n", 1)[1] if "\n\n" in cleaned else ""  # the headline repeated as text
    if not cleaned:
        result.rejected.append(Rejected(where, "no article text left after removing boilerplate"))
        return
    if len(cleaned) < MIN_TEXT_CHARS:
        result.rejected.append(
            Rejected(
                where,
                f"the article text is too short to quote from ({len(cleaned)} characters after cleaning; "
                f"at least {MIN_TEXT_CHARS} needed)",
            )
        )
        return
    result.articles.append(
        Article(
            text=cleaned,
            title=title or _title_from_text(cleaned) or (_title_from_name(name_for_title) if name_for_title else None),
            source=clean_metadata(source),
            date=normalise_date(date),
            url=clean_metadata(url),
            author=clean_metadata(author),
            external_id=clean_metadata(external_id),
        )
    )


def with_clean_metadata(article: Article) -> Article:
    """``article`` with its metadata as clean_metadata leaves it, whichever path built it (a form, an import)."""
    return dataclasses.replace(
        article,
        title=clean_metadata(article.title),
        source=clean_metadata(article.source),
        url=clean_metadata(article.url),
        author=clean_metadata(article.author),
        external_id=clean_metadata(article.external_id),
    )


# -- sniffing ------------------------------------------------------------------------------------------

_HTML_START_RE = re.compile(r"^\s*(?:<\?xml[^>]*>\s*)?(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html\b)", re.I | re.S)
_HTML_TAG_RE = re.compile(r"<(?:html|head|body|article|main|p|div|title|meta|h1|section)\b[^>]*>", re.I)
_SEED_RE = re.compile(r"^\s*date[ \t]*:?[ \t]+(\d{4}-\d{2}-\d{2})\b[ \t]*", re.IGNORECASE)
_FRONT_MATTER_RE = re.compile(r"^\s*---[ \t]*\n(.*?)\n(?:---|\.\.\.)[ \t]*(?:\n|$)", re.DOTALL)


def _extension(name: str) -> str:
    path = urlsplit(name).path if "://" in name else name
    return PurePosixPath(path.replace("\\", "/")).suffix.lower()


def _sniff(text: str, name: str, content_type: str | None) -> str:
    """'json', 'html', 'front-matter', 'header', 'seed' or 'text'. Content first, the hints only break ties."""
    ext = _extension(name)
    ctype = (content_type or "").split(";")[0].strip().lower()
    head = text.lstrip()[:4096]
    if head[:1] in ("{", "[") and (_looks_like_json(text) or ext in _JSON_EXTENSIONS or "json" in ctype):
        return "json"
    if _HTML_START_RE.match(head):
        return "html"
    if ext in _JSON_EXTENSIONS or "json" in ctype:
        return "json"  # not JSON after all, but meant to be: report its lines rather than index the junk
    if _front_matter(text) is not None:
        return "front-matter"
    if _header_block(text) is not None:
        return "header"
    if _SEED_RE.match(text):
        return "seed"
    if (ext in _HTML_EXTENSIONS or ctype in ("text/html", "application/xhtml+xml")) and _HTML_TAG_RE.search(head):
        return "html"
    if head.startswith("<") and len(_HTML_TAG_RE.findall(head)) >= 2:
        return "html"  # a fragment or a page without a doctype
    return "text"


def _first_line_is_json(text: str) -> bool:
    try:
        json.loads(text.lstrip().split("\n", 1)[0])
        return True
    except (ValueError, RecursionError):
        return False


def _looks_like_json(text: str) -> bool:
    if _first_line_is_json(text):
        return True
    try:
        json.loads(text)  # a pretty-printed document
        return True
    except (ValueError, RecursionError):
        return False


# -- the formats ---------------------------------------------------------------------------------------

_STRING_FIELDS = ("title", "source", "date", "url", "author")


def _parse_json(text: str, name: str, default_source: str | None) -> ParseResult:
    result = ParseResult(bulk=True)
    stripped = text.strip()
    try:
        whole: Any = json.loads(stripped)
    except ValueError as error:
        whole = None
        # A .json file whose first line is not JSON on its own is one (broken) document, not JSON lines.
        if _extension(name) == ".json" and not _first_line_is_json(stripped):
            raise IngestError(
                f"{name} is not valid JSON ({error}); fix it, or put one JSON object per line in a .jsonl file."
            ) from None
    except RecursionError:
        raise IngestError(f"{name} is nested too deeply to be an article file.") from None
    if isinstance(whole, dict):
        _json_record(whole, name, result, default_source)
    elif isinstance(whole, list):
        for index, item in enumerate(whole, start=1):
            _json_record(item, f"{name}:item {index}", result, default_source)
        if not whole:
            raise IngestError(f"{name} is an empty JSON list; there are no articles in it.")
    elif whole is not None:
        raise IngestError(f'{name} holds a single JSON value, not article objects with a "text" field.')
    else:
        for lineno, line in enumerate(text.split("\n"), start=1):
            if not line.strip():
                continue
            try:
                record = json.loads(line)
            except ValueError as error:
                reason = str(error)
                if isinstance(error, json.JSONDecodeError):  # "Unterminated string starting at" → at column 26
                    reason = f"{re.sub(r'(?: starting)? at$', '', error.msg)} at column {error.colno}"
                result.rejected.append(Rejected(f"{name}:{lineno}", f"not valid JSON: {reason}"))
                continue
            except RecursionError:
                result.rejected.append(Rejected(f"{name}:{lineno}", "JSON nested too deeply"))
                continue
            _json_record(record, f"{name}:{lineno}", result, default_source)
    return result


def _json_record(record: object, where: str, result: ParseResult, default_source: str | None) -> None:
    if not isinstance(record, dict):
        kind = type(record).__name__ if record is not None else "null"
        result.rejected.append(Rejected(where, f'expected a JSON object with a "text" field, got {kind}'))
        return
    text = record.get("text")
    if text is None:
        result.rejected.append(Rejected(where, 'no "text" field'))
        return
    if not isinstance(text, str):
        result.rejected.append(Rejected(where, f'"text" must be a string, not {_json_type(text)}'))
        return
    if not text.strip():
        result.rejected.append(Rejected(where, '"text" is empty'))
        return
    fields: dict[str, str | None] = {}
    for key in _STRING_FIELDS:
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            result.rejected.append(Rejected(where, f'"{key}" must be a string, not {_json_type(value)}'))
            return
        fields[key] = value
    raw_id = record.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        result.rejected.append(Rejected(where, f'"id" must be a string or a number, not {_json_type(raw_id)}'))
        return
    _finish(
        text,
        where,
        result,
        title=fields["title"],
        source=fields["source"] or default_source,
        date=fields["date"],
        url=fields["url"],
        author=fields["author"],
        external_id=str(raw_id) if raw_id is not None else None,
    )


def _json_type(value: object) -> str:
    return {bool: "true/false", int: "a number", float: "a number", list: "a list", dict: "an object"}.get(
        type(value), type(value).__name__
    )


_FRONT_MATTER_KEYS = {
    "title": "title",
    "headline": "title",
    "source": "source",
    "outlet": "source",
    "publisher": "source",
    "site": "source",
    "url": "url",
    "link": "url",
    "canonical": "url",
    "date": "date",
    "published": "date",
    "author": "author",
    "byline": "author",
    "id": "external_id",
}
_KEY_VALUE_RE = re.compile(r"^([A-Za-z_][\w-]*)[ \t]*:[ \t]*(.*?)[ \t]*$")


def _front_matter(text: str) -> tuple[dict[str, str], str] | None:
    """(metadata, body) when the text starts with a front-matter block, else None.

    The block must look like metadata: every line a ``key: value``, a comment, a list item or an
    indented continuation, with at least one ``key: value``. Otherwise a Markdown file that merely
    starts with a horizontal rule would lose its first paragraph."""
    match = _FRONT_MATTER_RE.match(text)
    if match is None:
        return None
    lines = [line for line in match.group(1).split("\n") if line.strip()]
    if not any(_KEY_VALUE_RE.match(line) for line in lines):
        return None
    for line in lines:
        if not (_KEY_VALUE_RE.match(line) or line[:1] in (" ", "\t", "#") or line.startswith("- ")):
            return None
    return _read_front_matter(match.group(1)), text[match.end() :]


def _header_block(text: str) -> tuple[dict[str, str], str] | None:
    """(metadata, body) when the text opens with a paragraph of known ``Key: value`` lines and no other line
    ("Title: …", "Source: …", "Date: …" then a blank line: metadata typed or pasted without ``---``), else None.
    Every line of that first paragraph must be one, so an article that opens "Update: the council has …" or a
    dateline is prose."""
    stripped = text.lstrip()
    block, blank, body = stripped.partition("\n\n")
    lines = block.split("\n")
    if not blank or len(lines) > len(_FRONT_MATTER_KEYS) or not body.strip():
        return None
    for line in lines:
        match = _KEY_VALUE_RE.match(line)
        if match is None or match.group(1).lower() not in _FRONT_MATTER_KEYS or not match.group(2):
            return None
    return _read_front_matter(block), body


def _read_front_matter(block: str) -> dict[str, str]:
    """Simple ``key: value`` lines (no YAML dependency): quotes stripped, comments, lists and nested
    values ignored, keys mapped onto Article fields; unknown keys are ignored."""
    meta: dict[str, str] = {}
    lines = block.split("\n")
    for at, line in enumerate(lines):
        match = _KEY_VALUE_RE.match(line)
        if match is None:
            continue  # a continuation, list item, comment or blank line
        key, value = match.group(1).lower(), match.group(2)
        field = _FRONT_MATTER_KEYS.get(key)
        if field is None or field in meta:
            continue
        if value.rstrip() in _BLOCK_SCALARS:  # "title: |" or ">": the value is the indented lines below
            indented = takewhile(
                lambda next_line: next_line[:1] in (" ", "\t") or not next_line.strip(), lines[at + 1 :]
            )
            value = " ".join(part.strip() for part in indented if part.strip())
        elif value.startswith("[") and value.rstrip().endswith("]"):  # "source: [a, b]": a flow list
            value = ", ".join(_unquote(item.strip()) for item in value.strip()[1:-1].split(",") if item.strip())
        else:
            value = _unquote(re.sub(r"\s+#.*$", "", value) if value[:1] not in "\"'" else value)
        if value:
            meta[field] = value
    return meta


_BLOCK_SCALARS = frozenset({"|", ">", "|-", ">-", "|+", ">+"})


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] == '"':
        try:
            loaded = json.loads(value)  # handles \" and \u escapes as YAML double quotes do
            if isinstance(loaded, str):
                return loaded
        except ValueError:
            pass
        return value[1:-1]
    if len(value) >= 2 and value[0] == value[-1] == "'":
        return value[1:-1].replace("''", "'")  # YAML's single-quote escape
    return value


# Markdown → prose. Each rule only deletes markup characters, never words, so quotes stay verbatim.
_MD_FENCE_RE = re.compile(r"^\s*(?:```|~~~).*$", re.MULTILINE)
_MD_IMAGE_RE = re.compile(r"!\[[^\]\n]*\]\([^)\n]*\)|!\[[^\]\n]*\]\[[^\]\n]*\]")
_MD_LINK_RE = re.compile(r"\[([^\]\n]+)\]\((?:[^()\s]|\([^()\s]*\))*(?:\s+\"[^\"\n]*\")?\)")
_MD_REF_LINK_RE = re.compile(r"\[([^\]\n]+)\]\[[^\]\n]*\]")
_MD_REF_DEF_RE = re.compile(r"^[ \t]{0,3}\[[^\]\n]+\]:[ \t]*\S+.*$", re.MULTILINE)
_MD_AUTOLINK_RE = re.compile(r"<((?:https?|mailto):[^>\s]+)>")
_MD_HTML_TAG_RE = re.compile(r"</?[A-Za-z][A-Za-z0-9-]*(?:\s[^<>]*)?/?>")
_MD_HEADING_RE = re.compile(r"^[ \t]{0,3}#{1,6}(?:[ \t]+|$)(.*?)(?:[ \t]+#+)?[ \t]*$", re.MULTILINE)
_MD_LEADING_H1_RE = re.compile(r"^\s*#[ \t]+(\S[^\n]*?)(?:[ \t]+#+)?[ \t]*(?:\n|$)")
_MD_SETEXT_RE = re.compile(r"^[ \t]*(?:=+|-+)[ \t]*$", re.MULTILINE)
_MD_RULE_RE = re.compile(r"^[ \t]*(?:[-*_][ \t]*){3,}$", re.MULTILINE)
_MD_TABLE_RULE_RE = re.compile(r"^[ \t]*\|?[ \t]*:?-{3,}:?[ \t]*(?:\|[ \t]*:?-{3,}:?[ \t]*)*\|?[ \t]*$", re.M)
_MD_QUOTE_RE = re.compile(r"^[ \t]*(?:>[ \t]?)+", re.MULTILINE)
_MD_BULLET_RE = re.compile(r"^[ \t]*(?:[-*+]|\d{1,3}[.)])[ \t]+", re.MULTILINE)
_MD_STRONG_RE = re.compile(r"(\*\*|__)(?=\S)(.+?)(?<=\S)\1")
_MD_EM_STAR_RE = re.compile(r"(?<![\w*])\*(?=[^\s*])(.+?)(?<=[^\s*])\*(?![\w*])")
_MD_EM_UNDERSCORE_RE = re.compile(r"(?<![\w_])_(?=[^\s_])(.+?)(?<=[^\s_])_(?![\w_])")
_MD_STRIKE_RE = re.compile(r"~~(?=\S)(.+?)(?<=\S)~~")
_MD_CODE_RE = re.compile(r"`+([^`\n]+?)`+")
_MD_ESCAPE_RE = re.compile(r"\\([\\`*_{}\[\]()#+\-.!|>~\"'])")


def markdown_to_text(markdown: str) -> str:
    """Markdown → plain prose: headings, emphasis, links ([text](url) → text), images, list bullets,
    block quotes and rules removed. Headings and list items become paragraphs of their own, so they are
    not glued onto the sentence that follows."""
    text = _MD_FENCE_RE.sub("", markdown)
    text = _MD_REF_DEF_RE.sub("", text)
    text = _MD_IMAGE_RE.sub("", text)
    text = _MD_LINK_RE.sub(r"\1", text)
    text = _MD_REF_LINK_RE.sub(r"\1", text)
    text = _MD_AUTOLINK_RE.sub(r"\1", text)
    text = _MD_HTML_TAG_RE.sub("", text)
    text = _MD_TABLE_RULE_RE.sub("", text)
    text = _MD_RULE_RE.sub("", text)
    text = _MD_SETEXT_RE.sub("", text)
    text = _MD_HEADING_RE.sub(lambda m: f"\n{m.group(1)}\n", text)
    text = _MD_QUOTE_RE.sub("", text)
    text = _MD_BULLET_RE.sub("\n", text)
    for _ in range(3):  # nested emphasis: ***both***, **bold _and italic_**
        text = _MD_STRONG_RE.sub(r"\2", text)
        text = _MD_EM_STAR_RE.sub(r"\1", text)
        text = _MD_EM_UNDERSCORE_RE.sub(r"\1", text)
        text = _MD_STRIKE_RE.sub(r"\1", text)
    text = _MD_CODE_RE.sub(r"\1", text)
    return _MD_ESCAPE_RE.sub(r"\1", text)


_MARKDOWN_SIGNS_RE = re.compile(
    r"^[ \t]{0,3}#{1,6}[ \t]+\S|\[[^\]\n]+\]\([^)\n]+\)|^[ \t]*[-*+][ \t]+\S.*\n[ \t]*[-*+][ \t]+\S|\*\*\S",
    re.MULTILINE,
)


def _is_markdown(text: str, name: str, content_type: str | None) -> bool:
    if _extension(name) in _MARKDOWN_EXTENSIONS or "markdown" in (content_type or "").lower():
        return True
    return len(_MARKDOWN_SIGNS_RE.findall(text[:20000])) >= 2


def _parse_plain(
    text: str, name: str, url: str | None, content_type: str | None, default_source: str | None
) -> ParseResult:
    result = ParseResult()
    meta: dict[str, str] = {}
    body = text
    kind = "text"
    front = _front_matter(text)
    if front is not None:
        meta, body = front
        kind = "front-matter"
    elif (header := _header_block(text)) is not None:
        meta, body = header
        kind = "header"
    elif (seed := _SEED_RE.match(text)) is not None:
        meta = {"date": seed.group(1)}
        body = text[seed.end() :]
        kind = "seed"
    # Front-matter files are Markdown by convention; the seed format and .txt files only when they show it.
    if kind == "front-matter" or _is_markdown(body, name, content_type):
        # A leading "# Headline" is the article's title, not its prose.
        if (headline := _MD_LEADING_H1_RE.match(body)) is not None:
            meta.setdefault("title", markdown_to_text(headline.group(1)).strip())
            body = body[headline.end() :]
        body = markdown_to_text(body)
    _finish(
        body,
        name,
        result,
        title=meta.get("title"),
        source=meta.get("source") or default_source,
        date=meta.get("date"),
        url=meta.get("url") or url,
        author=meta.get("author"),
        external_id=meta.get("external_id"),
        name_for_title=name,
    )
    return result


_META_CHARSET_RE = re.compile(rb"<meta[^>]+charset\s*=\s*[\"']?\s*([A-Za-z0-9_.:-]+)", re.IGNORECASE)


def _html_text(data: bytes, text: str) -> str:
    """Honour a page's declared <meta charset> when the bytes are not UTF-8 (Shift-JIS, KOI8-R, …)."""
    match = _META_CHARSET_RE.search(data[:4096])
    if match is None or data.startswith((codecs.BOM_UTF8, codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE)):
        return text  # a byte-order mark outranks the page's claim
    try:
        data.decode("utf-8")
        return text  # valid UTF-8 is UTF-8, whatever the page claims
    except UnicodeDecodeError:
        pass
    try:
        codec = codecs.lookup(match.group(1).decode("ascii"))
    except (LookupError, UnicodeDecodeError):
        return text
    if codec.name in ("latin-1", "iso8859-1", "cp1252", "ascii", "utf-8"):
        # Browsers read the first four as Windows-1252, as decode_text did; a page that claims UTF-8 but
        # is not keeps that reading too, rather than gaining U+FFFD characters it never had.
        return text
    return data.decode(codec.name, errors="replace").replace("\r\n", "\n").replace("\r", "\n")


def _parse_html(html: str, name: str, url: str | None, default_source: str | None) -> ParseResult:
    import trafilatura  # imported here: it is slow to import and most ingests are JSON lines or text

    try:
        document = trafilatura.bare_extraction(
            html,
            url=url,
            with_metadata=True,
            include_comments=False,
            include_tables=False,
            include_images=False,
            include_links=False,
            include_formatting=False,
            # Only dates the page states in its metadata or URL; no guessing from dates in the prose.
            date_extraction_params={"extensive_search": False, "original_date": True},
        )
    except Exception as error:  # trafilatura and lxml raise many kinds of errors on malformed pages
        raise IngestError(f"no article text found in {name}: the page could not be parsed ({error}).") from None
    text = getattr(document, "text", None) if document is not None else None
    if not text or not text.strip():
        raise IngestError(
            f"no article text found in {name}; if the page needs JavaScript or a login, save the article "
            f"text as a .txt file and add that instead."
        )
    page_url = url or getattr(document, "url", None)
    source = getattr(document, "sitename", None) or default_source or _source_from_url(page_url)
    result = ParseResult()
    _finish(
        text.replace("\n", "\n\n"),  # trafilatura puts one paragraph per line
        url or name,
        result,
        title=getattr(document, "title", None),
        source=source,
        date=getattr(document, "date", None),
        url=page_url,
        author=getattr(document, "author", None),
        name_for_title=name,
    )
    return result


# -- the public entry points -------------------------------------------------------------------------------


def parse_bytes(
    data: bytes,
    name: str,
    *,
    url: str | None = None,
    content_type: str | None = None,
    default_source: str | None = None,
) -> ParseResult:
    """Parse one source into articles. ``name`` is used in messages (a file name, a URL); ``url`` is the
    page's address when fetched; ``default_source`` is the outlet for articles that do not name one.
    Raises IngestError for input that is not article text at all; individual bad articles or JSON lines
    come back in ``rejected``."""
    text = decode_text(data, name)
    kind = _sniff(text, name, content_type)
    if kind == "json":
        return _parse_json(text, name, default_source)
    if kind == "html":
        return _parse_html(_html_text(data, text), name, url, default_source)
    return _parse_plain(text, name, url, content_type, default_source)


def read_path(path: Path, max_bytes: int | None = None) -> ParseResult:
    """Read and parse one file. The size is checked before reading: ``max_bytes`` defaults to
    MAX_BULK_BYTES for .jsonl/.json files and MAX_BYTES for everything else."""
    path = Path(path)
    if max_bytes is None:
        max_bytes = MAX_BULK_BYTES if path.suffix.lower() in _JSON_EXTENSIONS else MAX_BYTES
    try:
        size = path.stat().st_size
        if not path.is_file():
            raise IngestError(f"{path} is not a file; give a file or a folder of articles.")
        if size > max_bytes:
            raise IngestError(
                f"{path.name} is {human_size(size)}, more than the {human_size(max_bytes)} limit; "
                f"split it into smaller files."
            )
        data = path.read_bytes()
    except FileNotFoundError:
        raise IngestError(f"{path} does not exist.") from None
    except PermissionError:
        raise IngestError(f"{path} cannot be read (permission denied).") from None
    except IsADirectoryError:
        raise IngestError(f"{path} is a folder; give it to the folder import instead.") from None
    except OSError as error:
        raise IngestError(f"{path} cannot be read: {error.strerror or error}.") from None
    if len(data) > max_bytes:  # the file grew between stat() and read
        raise IngestError(f"{path.name} is more than the {human_size(max_bytes)} limit; split it into smaller files.")
    return parse_bytes(data, path.name)


def _skipped(path: Path) -> bool:
    stem = path.name.split(".", 1)[0].lower()
    return path.name.startswith(".") or stem in _SKIPPED_STEMS


def iter_corpus_files(paths: list[Path]) -> list[Path]:
    """Expand folders recursively to article files (.txt .md .markdown .html .htm .jsonl .json), sorted,
    skipping hidden files and folders and README/NOTICE/LICENSE files. A file named explicitly is kept
    whatever its name; paths that do not exist are left out (the caller reports them)."""
    found: set[Path] = set()
    for given in paths:
        given = Path(given)
        if given.is_file():
            found.add(given)
            continue
        if not given.is_dir():
            continue
        # Symlinked folders are followed (a host links shared folders in), each real folder once: a link loop
        # cannot make this run forever, nor a folder linked twice add its files twice.
        seen: set[str] = set()
        for root, dirs, files in os.walk(given, followlinks=True):
            if (real := os.path.realpath(root)) in seen:
                dirs[:] = []
                continue
            seen.add(real)
            dirs[:] = sorted(d for d in dirs if not d.startswith("."))  # the first link to a folder, always
            for file_name in files:
                path = Path(root) / file_name
                if path.suffix.lower() in CORPUS_EXTENSIONS and not _skipped(path) and path.is_file():
                    found.add(path)
    return sorted(found)
