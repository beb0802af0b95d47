"""Remove what is not the article from an article's text: appeals, captions, credits, page furniture.

Every quote the bot shows must be a verbatim substring of the stored text, so cleaning only ever
*deletes* (whole paragraphs, whole lines, or a marked span inside a paragraph) and normalises
whitespace; it never rewrites a word. The rules are general (cue phrases, caption markers, credit
patterns), not the exact strings of any one site, and each is tuned to err on the side of keeping text:
a stray "Read more" is a smaller harm than a lost sentence of the article.

``clean_text`` works on one article; ``remove_repeated_paragraphs`` works across the articles of one
outlet in a bulk import, where furniture shows itself by repeating.
"""

from __future__ import annotations

import re
import unicodedata
from collections import Counter

__all__ = ["clean_text", "is_normal", "normalise_whitespace", "remove_repeated_paragraphs"]

# -- whitespace -------------------------------------------------------------------------------------------

# Line and paragraph separators other than "\n" (U+2029 is a paragraph break by definition).
_NEWLINES = {"\r\n": "\n", "\r": "\n", "\x85": "\n", "\u2028": "\n", "\u2029": "\n\n"}
_NEWLINE_RE = re.compile("|".join(re.escape(k) for k in sorted(_NEWLINES, key=len, reverse=True)))


def _is_invisible(char: str) -> bool:
    """Format characters (zero-width space/joiners, BOM, soft hyphen, bidi marks) and non-space controls."""
    category = unicodedata.category(char)
    return category == "Cf" or (category == "Cc" and not char.isspace())


_ODD_ASCII = re.compile(r"[\x00-\x09\x0b-\x1f\x7f]")
_PLAIN: set[str] = {" ", "\n"}  # characters seen that normalise_whitespace keeps as they are (grows as text is seen)


def is_normal(text: str) -> bool:
    """Whether normalise_whitespace would return ``text`` unchanged: most text arrives already normalised (every
    ingest path normalises it, and bulk imports hand it over again), and checking is a fraction of redoing it.

    Text of " ", "\n" and visible characters only is normal unless it has whitespace at either end, a run of
    spaces, a space beside a newline, more than two newlines in a row or a lone one (with no run of three,
    every newline is in a pair exactly when there are twice as many newlines as pairs)."""
    if text[:1] in (" ", "\n") or text[-1:] in (" ", "\n"):
        return False
    if "  " in text or " \n" in text or "\n " in text or "\n\n\n" in text:
        return False
    if text.count("\n") != 2 * text.count("\n\n"):
        return False
    if text.isascii():  # then only these are spaces other than " " and "\n", or invisible
        return _ODD_ASCII.search(text) is None
    chars = set(text)
    for char in chars - _PLAIN:
        if char.isspace() or _is_invisible(char):
            return False  # another space, a newline other than "\n", a control or format character
        _PLAIN.add(char)
    return True


def normalise_whitespace(text: str) -> str:
    """NBSP and other spaces → " ", invisible characters removed, lines trimmed, runs of spaces collapsed,
    paragraphs joined by exactly one blank line. Lines inside a paragraph are joined with a space, so text
    hard-wrapped at 72 columns becomes one line per paragraph (a quote never contains a stray newline)."""
    if is_normal(text):
        return text
    return _normalise_whitespace(text)


def clean_metadata(value: str | None) -> str | None:
    """A title, outlet, author or link: one line without control or format characters (an escape sequence in a
    title would reach the terminal of whoever lists the articles); empty → None."""
    if value is None:
        return None
    return " ".join(normalise_whitespace(value).split()) or None


def _normalise_whitespace(text: str) -> str:
    text = _NEWLINE_RE.sub(lambda m: _NEWLINES[m.group()], text)
    # Only the distinct characters of the text are examined: a few hundred, not the whole of Unicode.
    odd = {c for c in set(text) if c != "\n" and (c.isspace() or _is_invisible(c))}
    if odd:
        text = text.translate({ord(c): (" " if c.isspace() else None) for c in odd})
    return "\n\n".join(_paragraphs(text))


def _paragraphs(text: str) -> list[str]:
    """Split on blank lines; each paragraph's lines trimmed, collapsed and joined with single spaces."""
    out = []
    for block in re.split(r"\n[ \t]*\n", text):
        paragraph = " ".join(line.strip() for line in block.split("\n") if line.strip())
        paragraph = re.sub(r" {2,}", " ", paragraph)
        if paragraph:
            out.append(paragraph)
    return out


# -- appeals (donation / subscription / newsletter boxes) ---------------------------------------------------

# Strong cues almost only occur in a site's appeal box; weak ones also occur in real news about, say, a
# charity's donations or a newspaper's paywall. A paragraph is an appeal only with several distinct cues,
# at least one of them strong, so an article *about* donations or newsletters survives.
_STRONG_CUES = [
    r"\byour support\b",
    r"\bsupport (?:now|us|our (?:work|journalism|reporting))\b",
    r"\bsupport (?:independent|quality) journalism\b",
    r"\byour (?:donation|contribution|subscription)\b",
    r"\b(?:donate|subscribe|contribute|register|join) (?:now|today)\b",
    r"\bmake a (?:donation|contribution)\b",
    r"\bbecome a (?:member|subscriber|supporter)\b",
    r"\balready a (?:subscriber|member)\b",
    r"\bread more\b",
    r"\bsign up (?:to|for) (?:our|the)\b",
    r"\bsubscribe to (?:our|the)\b",
    r"\b(?:to|in) your inbox\b",
    r"\bunlimited access\b",
    r"\bwe (?:choose not to lock|rely on (?:readers|you))\b",
]
_WEAK_CUES = [
    r"\bdonat(?:e|es|ed|ion|ions|ing)\b",
    r"\bsubscri(?:be|bed|ber|bers|ption|ptions)\b",
    r"\bpaywalls?\b",
    r"\bsign up\b",
    r"\bnewsletters?\b",
    r"\bjournalism\b",
    r"\bjournalists?\b",
    r"\bafford\b",
]
_STRONG_RE = [re.compile(p, re.IGNORECASE) for p in _STRONG_CUES]
_WEAK_RE = [re.compile(p, re.IGNORECASE) for p in _WEAK_CUES]
_ANY_STRONG_RE = re.compile("|".join(_STRONG_CUES), re.IGNORECASE)
_ANY_CUE_RE = re.compile("|".join(_STRONG_CUES + _WEAK_CUES), re.IGNORECASE)
_APPEAL_MIN_SCORE = 4  # strong = 2, weak = 1
_APPEAL_MIN_DISTINCT = 3

# Chunks for locating the appeal inside a paragraph: sentences, and also the button labels sites glue
# between sentences without punctuation ("… the story Read more Support Now From …").
_CHUNK_END_RE = re.compile(
    r"(?<=[.!?])[\"”’')\]]*\s+|\b(?:Read more|Support now|Subscribe now|Donate now)\b\s*",
    re.IGNORECASE,
)


def _appeal_score(text: str) -> tuple[int, int, bool]:
    strong = sum(1 for r in _STRONG_RE if r.search(text))
    weak = sum(1 for r in _WEAK_RE if r.search(text))
    return 2 * strong + weak, strong + weak, strong > 0


# Cheap tests first: most paragraphs contain none of these stems, or no strong cue, and the regexes are slow.
_CUE_STEMS = (
    "support",
    "donat",
    "subscri",
    "paywall",
    "sign up",
    "newsletter",
    "journalis",
    "read more",
    "inbox",
    "unlimited",
    "afford",
    "contribut",
    "member",
    "register",
    "join",
    "we choose",
    "we rely",
)


def _is_appeal(text: str) -> bool:
    lowered = text.lower()
    if not any(stem in lowered for stem in _CUE_STEMS) or not _ANY_STRONG_RE.search(text):
        return False
    score, distinct, has_strong = _appeal_score(text)
    return has_strong and score >= _APPEAL_MIN_SCORE and distinct >= _APPEAL_MIN_DISTINCT


def _chunks(paragraph: str) -> list[tuple[int, int]]:
    spans, start = [], 0
    for match in _CHUNK_END_RE.finditer(paragraph):
        if match.end() > start:
            spans.append((start, match.end()))
            start = match.end()
    if start < len(paragraph):
        spans.append((start, len(paragraph)))
    return spans


def _remove_appeal(paragraph: str) -> str:
    """Drop the span from the first to the last cue-bearing chunk; keep what is glued before or after it.

    The text outside that span has no cue at all, so it is article text that lost its paragraph break
    (e.g. "… makes all the difference. Read more President Trump has announced …")."""
    if not _is_appeal(paragraph):
        return paragraph
    cued = [span for span in _chunks(paragraph) if _ANY_CUE_RE.search(paragraph[span[0] : span[1]])]
    if not cued:  # a cue split across chunk boundaries; the paragraph is an appeal all the same
        return ""
    before, after = paragraph[: cued[0][0]].strip(), paragraph[cued[-1][1] :].strip()
    return "\n\n".join(part for part in (before, after) if part)


# -- captions and photo credits ------------------------------------------------------------------------

# Markers that only ever introduce a gallery caption, even in the middle of a paragraph.
_GALLERY_MARKER_RE = re.compile(
    r"\b(?:open image in gallery|view image in gallery|click to enlarge|enlarge this image|toggle caption)\b",
    re.IGNORECASE,
)
# Markers that introduce a caption or credit when they start a paragraph.
_CAPTION_START_RE = re.compile(
    r"^(?:(?:image|photo|photograph|picture|pictured|caption|image caption|media caption|image source|"
    r"photo credit|image credit|credit|file photo)\s*:|view gallery\b|gallery\s*:|watch\s*:|"
    r"open image in gallery\b|click to enlarge\b)",
    re.IGNORECASE,
)
_AGENCY = (
    r"(?:the )?associated press|AP(?: Photo)?|PA(?: Wire| Media| Archive)?|AFP|EPA(?:-EFE)?|UPI|Reuters|"
    r"Getty(?: Images)?|Bloomberg|Xinhua|ANSA|dpa|Anadolu(?: Agency)?|Sipa(?: USA)?|Rex(?: Features)?|"
    r"Shutterstock|Alamy|NurPhoto|SOPA Images|ZUMA(?: Press| Wire)?|TASS|Sputnik|Pool|Handout|File|"
    r"LightRocket|Imagn|AAP|Kyodo|Yonhap|Press Association|Corbis|WireImage|Bloomberg via Getty Images"
)
# A whole credit made only of agency names: "AP", "REUTERS", "AFP via Getty", "PA Wire/PA Images".
_AGENCY_ONLY_RE = re.compile(rf"^(?:{_AGENCY})(?:\s*(?:/|,|&|\bvia\b|\band\b)\s*(?:{_AGENCY}))*$", re.IGNORECASE)
_CREDIT_WORD_RE = re.compile(
    r"©|\bcopyright\b|\ball rights reserved\b|\bgetty\b|\bshutterstock\b|\balamy\b|"
    r"\b(?:photo|image|picture|credit|photograph)\s*:|\b(?:ap|file|handout|pool) photo\b",
    re.IGNORECASE,
)
# A short parenthesised credit at the very end of a paragraph, e.g. "( REUTERS )", "(Getty Images)".
_TRAILING_PAREN_RE = re.compile(r"\s*\(\s*([^()]{1,120}?)\s*\)\s*$")
# "… caption text. Image: Jane Doe." (the Wikinews style): a short attribution closing the paragraph.
# Case-sensitive on purpose: "a line of credit: $5bn." is prose, "Credit: Jane Doe." is not.
_TRAILING_ATTRIBUTION_RE = re.compile(r"(?:^|\s)(?:Image|Photo|Photograph|Picture|Credit)\s*:\s*[^.!?:]{1,80}[.]?$")
_SENTENCE_END_RE = re.compile(r"[.!?…:;][\"”’')\]]*$")
# A copyright notice paragraph: "Copyright 2025 The Associated Press. All rights reserved. …"
_COPYRIGHT_PARAGRAPH_RE = re.compile(r"^(?:©|\(c\)|copyright)\s*(?:©\s*)?(?:\d{4}|the\b)", re.IGNORECASE)


def _is_credit(inner: str) -> bool:
    return bool(_AGENCY_ONLY_RE.match(inner.strip()) or _CREDIT_WORD_RE.search(inner))


def _is_credit_line(paragraph: str) -> bool:
    """A short line that is nothing but a credit: one phrase, no sentence in it."""
    if len(paragraph) > 100 or re.search(r"[.!?]\s", paragraph) or _SENTENCE_END_RE.search(paragraph):
        return False
    inner = paragraph[1:-1] if paragraph.startswith("(") and paragraph.endswith(")") else paragraph
    return _is_credit(inner)


def _remove_gallery_captions(paragraph: str) -> str:
    """A gallery marker starts a caption that runs to the end of a credit parenthesis, if one follows
    (text after it is the article again), else to the end of the paragraph. Text before the marker stays."""
    lowered = paragraph.lower()
    if not any(word in lowered for word in ("gallery", "enlarge", "toggle caption")):
        return paragraph
    while (marker := _GALLERY_MARKER_RE.search(paragraph)) is not None:
        before = paragraph[: marker.start()].rstrip()
        rest = paragraph[marker.end() :]
        after = ""
        for paren in re.finditer(r"\(\s*([^()]{1,120}?)\s*\)", rest):
            if _is_credit(paren.group(1)):
                after = rest[paren.end() :].strip()
                break
        paragraph = " ".join(part for part in (before, after) if part)
    return paragraph


def _remove_captions_and_credits(paragraph: str) -> str:
    if _CAPTION_START_RE.match(paragraph):
        return ""
    if _COPYRIGHT_PARAGRAPH_RE.match(paragraph) and (
        len(paragraph) < 300 or re.search(r"all rights reserved|may not be (?:published|reproduced)", paragraph, re.I)
    ):
        return ""
    if len(paragraph) <= 400 and ":" in paragraph[-90:] and _TRAILING_ATTRIBUTION_RE.search(paragraph):
        return ""  # a caption with its attribution; article paragraphs don't end "Image: Jane Doe."
    paragraph = _remove_gallery_captions(paragraph)
    if _is_credit_line(paragraph):
        return ""  # a credit on its own: "(Getty Images)", "AP Photo/Evan Vucci"
    # Searching only the tail keeps this linear; the credit is at most 120 characters.
    tail = max(0, len(paragraph) - 140)
    trailing = _TRAILING_PAREN_RE.search(paragraph, tail) if paragraph.endswith(")") else None
    if trailing and _is_credit(trailing.group(1)):
        body = paragraph[: trailing.start()].rstrip()
        # Article paragraphs end like sentences; a credited line that doesn't is a caption.
        return body if _SENTENCE_END_RE.search(body) else ""
    return paragraph


# -- leftover page furniture ---------------------------------------------------------------------------

_FURNITURE_LINE_RE = re.compile(
    r"^(?:read more|read more:.*|also read:.*|related:.*|see also:.*|more on this story|most read|"
    r"advertisement|advert|ad|sponsored|skip advert|story continues below(?: advertisement)?|"
    r"continue reading(?: below)?|scroll to continue(?: with content)?|share this (?:article|story)|"
    r"share(?: this)?|share on (?:facebook|twitter|x|whatsapp|linkedin|email)|tweet|email|print|"
    r"copy link|link copied|comments?|listen to (?:this )?article|follow us|sign up|subscribe|"
    r"support now|donate|view gallery|open image in gallery|close|image|top stories|related (?:articles|stories))"
    r"[\s.:!»›>→|]*$",
    re.IGNORECASE,
)
# Button labels glued to a paragraph, only where they cannot be prose: after a sentence end and before a
# capital, or closing the paragraph after a sentence end.
_GLUED_LABELS = ("Read more", "READ MORE", "Advertisement", "ADVERTISEMENT")
_GLUED_FURNITURE_RE = re.compile(
    r"(?<=[.!?\"”’])\s+(?:Read more|READ MORE|Advertisement|ADVERTISEMENT)\s+(?=[A-Z“\"‘])"
)
_TRAILING_FURNITURE_RE = re.compile(r"(?<=[.!?\"”’])\s+(?:Read more|READ MORE|Advertisement|ADVERTISEMENT)$")
_LEADING_FURNITURE_RE = re.compile(r"^(?:Advertisement|ADVERTISEMENT)\s+(?=[A-Z“\"‘])")


def _remove_furniture(paragraph: str) -> str:
    if len(paragraph) < 200 and _FURNITURE_LINE_RE.match(paragraph):
        return ""
    if not any(label in paragraph for label in _GLUED_LABELS):
        return paragraph  # the common case, without running three regexes
    paragraph = _GLUED_FURNITURE_RE.sub(" ", paragraph)
    paragraph = _TRAILING_FURNITURE_RE.sub("", paragraph)
    return _LEADING_FURNITURE_RE.sub("", paragraph)


# -- the whole article -----------------------------------------------------------------------------------


def _clean_once(text: str) -> str:
    out = []
    for raw in _paragraphs(text):
        # Furniture, then appeals, then captions: each can expose the next (a trailing "Read more" button
        # hides a credit at the end of a caption). The loop in clean_text catches any other order.
        paragraph = _remove_furniture(raw)
        paragraph = _remove_appeal(paragraph)
        for part in paragraph.split("\n\n"):
            part = _remove_captions_and_credits(part.strip())
            part = _remove_furniture(part.strip()).strip()
            if part:
                out.append(re.sub(r" {2,}", " ", part))
    return "\n\n".join(out)


def clean_text(text: str) -> str:
    """The article's own text: boilerplate removed, whitespace normalised, paragraphs joined by "\\n\\n".

    Rules, each applied per paragraph (and inside one where boilerplate is glued to it):

    * appeal boxes: several distinct donation/subscription cue phrases, at least one of them strong;
    * gallery captions: "open image in gallery …", "Image: …", "Photo: …" paragraphs are dropped whole
      (a caption often repeats an article sentence, which must not be quoted twice);
    * photo credits: a short trailing "(Getty Images)", "( REUTERS )", "(© 2025 …)"; a credited line
      that does not end like a sentence is a caption and goes entirely;
    * copyright notices, and furniture lines such as "Read more", "Advertisement", "Share this article".

    Removing one thing can expose another (a credit hiding a trailing "Read more"), so the rules run
    until nothing changes, which also makes ``clean_text`` idempotent.
    """
    text = normalise_whitespace(text)
    # Every change a pass makes deletes something, so the text shrinks until a pass changes nothing
    # (usually after one or two); the length test is only a guard against a rule that would not delete.
    while (cleaned := _clean_once(text)) != text and len(cleaned) < len(text):
        text = cleaned
    return text


# -- bulk: furniture that repeats across one outlet's articles ----------------------------------------------

_REPEATED_MAX_CHARS = 300
_PERVASIVE_SHARE = 0.5  # in half of an outlet's articles: furniture wherever it sits


def remove_repeated_paragraphs(texts: list[str], min_articles: int = 3) -> list[str]:
    """Remove short paragraphs that recur verbatim across the articles of one outlet (the caller groups
    by source), such as an author's bio line or a site's "Follow us" footer.

    A paragraph is *repeated* when it is shorter than 300 characters and appears in at least
    ``min_articles`` different articles (identical duplicate articles count once). Repeated paragraphs are
    removed where they form an article's header or footer: peeled off from its start and its end until a
    paragraph of its own is reached. Mid-article they are removed only when they are pervasive, in at
    least half the articles. That spares an article's own text that legitimately recurs, such as the
    same interview question put to several candidates, which is always followed by its answer.
    Returns one text per input, in order; a text may become empty.
    """
    if len(texts) < min_articles:
        return list(texts)
    split = [text.split("\n\n") for text in texts]
    seen_texts: set[str] = set()
    counts: Counter[str] = Counter()
    for text, paragraphs in zip(texts, split, strict=True):
        if text not in seen_texts:
            seen_texts.add(text)
            counts.update(p for p in set(paragraphs) if p.strip() and len(p) < _REPEATED_MAX_CHARS)
    repeated = {p for p, n in counts.items() if n >= min_articles}
    if not repeated:
        return list(texts)
    pervasive = {p for p in repeated if counts[p] >= _PERVASIVE_SHARE * len(seen_texts)}
    out = []
    for paragraphs in split:
        start, end = 0, len(paragraphs)
        while start < end and paragraphs[start] in repeated:
            start += 1
        while end > start and paragraphs[end - 1] in repeated:
            end -= 1
        out.append("\n\n".join(p for p in paragraphs[start:end] if p not in pervasive))
    return out
