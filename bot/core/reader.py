"""The reader: which retrieved sentence answers the question, and how sure we are that any does.

Pure functions over plain data, no I/O: the Library retrieves candidates from the index and fetches their texts,
this module turns (question, candidates) into feature rows, scores them with learned weights and gives the
answer a calibrated confidence. Weights are data (``bot/core/data/reader.json``) written by ``citebot tune``;
the README says how they were learned and what they gave.

Features are plain and lexical on purpose (regular expressions and the retrieval tokenizer, nothing to
download): BM25 of the sentence and its article, how much of the question the sentence holds (also through
a small table of synonyms and demonyms), whether it holds a span of the type the question asks for (a number
for "how many", a date for "when", ...), how close together the question's words stand, and the preceding
sentence's evidence for a sentence that opens with a pronoun ("She was 81."). The weights that combine them
depend on the family of answer asked for (a count, a date, a name, a reason, yes/no, anything else).
"""

from __future__ import annotations

import itertools
import json
import math
import operator
import re
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from functools import lru_cache
from pathlib import Path
from typing import NamedTuple

import numpy as np
import numpy.typing as npt

from bot.core.stopwords import STOPWORDS
from bot.core.text import token_spans, token_spans_of, tokenize

FloatArray = npt.NDArray[np.float64]

WEIGHTS_PATH = Path(__file__).with_name("data") / "reader.json"
# The weights for a reader that also has the language model's "meaning" (bot/core/semantic.py; CITEBOT_MODEL).
MEANING_WEIGHTS_PATH = Path(__file__).with_name("data") / "reader-meaning.json"
# Synonym groups from WordNet, as stems (bot/tools/synonyms.py): the rest of the language, beside the hand-written
# news vocabulary below.
SYNONYMS_PATH = Path(__file__).with_name("data") / "synonyms.txt"

# --------------------------------------------------------------------------------------------------
# The question: its terms, the type of answer it expects, whether it is a question at all
# --------------------------------------------------------------------------------------------------

ANSWER_TYPES = ("number", "age", "date", "duration", "money", "percent", "person", "organisation", "place", "reason")
# ``yesno`` and ``other`` expect no particular span.

_Q = re.IGNORECASE
# "which", "what" and up to two words that qualify the noun after them: "which ex uk pm", "what law firm", but
# not "what did the party say".
_WHICH = (
    r"\b(?:which|what)\s+"
    r"(?:(?!(?:did|does|do|is|was|were|are|has|have|had|will|would|can|could|should|the|a|an|of|to|in|on|than)\b)"
    r"[\w-]+\s+){0,2}"
)
_QUESTION_TYPES: tuple[tuple[str, re.Pattern[str]], ...] = (
    (
        "percent",
        re.compile(
            r"\b(?:what|which)\s+(?:percent(?:age)?|proportion|share|fraction)\b|\bper\s?cent|%|\bhow much of\b"
            r"|\bwhat\s+(?:was|is|were)\s+(?:the\s+)?(?:\w+\s+)?turnout\b|^\W*turnout\b",
            _Q,
        ),
    ),
    (
        "duration",
        re.compile(
            r"\bhow\s+long\b|\bfor\s+how\s+(?:many|much)\s+(?:years|months|weeks|days|hours|minutes)\b|\bhow\s+many\s+(?:years|months|weeks|days|hours|minutes|decades)\b",
            _Q,
        ),
    ),
    (
        "money",
        re.compile(
            r"\bhow\s+much\b.*\b(?:cost|costs|pay|paid|paying|worth|money|price|spend|spending|spent|raise|raised|fund|funding|earn|earned|earns|sell|sold|fine|fined|budget|invest|invested|bid|offer|deal|compensation|salary|wage|profit|loss|revenue|debt|tax|bill|charge|bail|ransom|reward|bonus|prize|damages|settlement|fees?|rent|fare|loan|bailout|donate|donated|grant|value|valued|buy|bought|purchase)\b|\bhow\s+much\s+(?:money|cash)\b|\bwhat\s+(?:price|sum|amount|fee)\b",
            _Q,
        ),
    ),
    (
        "date",
        re.compile(
            r"\bwhen\b|\bwhat\s+(?:year|yr|date|day|month|time)\b|\bwhich\s+(?:year|yr|date|day|month)\b|\bsince\s+when\b|\bhow\s+soon\b",
            _Q,
        ),
    ),
    ("age", re.compile(r"\bhow\s+old\b|\b(?:what|which)\s+ages?\b", _Q)),
    (
        "number",
        re.compile(
            r"\bhow\s+(?:many|much|far|big|large|high|tall|deep|fast|often|close)\b|\bwhat\s+(?:number|size|score|distance|magnitude|speed|height|depth|altitude|temperature|weight|margin|attendance)\b"
            r"|\bnumber\s+of\b|\bhow\s+much\b|\b(?:death|casualty)\s+toll\b|\b(?:vote|body|death)\s+count\b|\bscore\b"
            r"|\bwhat\s+(?:was|is|were)\s+the\s+(?:\w+\s+)?(?:vote|margin|tally|population)\b",
            _Q,
        ),
    ),
    (
        "person",
        re.compile(
            r"\b(?:who|whom|whose|whos)\b|"
            + _WHICH
            + r"(?:person|man|woman|players?|ministers?|presidents?|leaders?|officials?|politicians?"
            r"|actors?|actress|singers?|directors?|judges?|coach|coaches|managers?|chief|boss|authors?|writers?"
            r"|spokesman|spokeswoman|mps?|senators?|candidates?|inmates?|officers?|doctors?|athletes?|drivers?"
            r"|pilots?|members?|chancellor|king|queen|pm|governor|mayor|ceo|founder|owner|winners?|victims?"
            r"|suspects?|killer|attacker|gunman|lawyers?|host|moderator|footballers?|scientists?|historians?|professors?"
            r"|democrats?|republicans?|tories|tory|astronauts?|survivors?|heir|heiress|celebrit(?:y|ies)|meps?|justices?"
            r"|emperor|composers?|artists?|poets?|architects?|philosophers?|scholars?|friends?|ruler|bishop|priest"
            r"|commander|engineers?|inventor|explorer|musicians?|rapper|producers?|journalists?|reporters?|editor)\b"
            r"|\bname\s+of\s+the\s+(?:person|man|woman)\b|\b(?:real|full|birth)\s+name\b",
            _Q,
        ),
    ),
    (
        "organisation",
        re.compile(
            _WHICH
            + r"(?:company|companies|firms?|party|parties|teams?|clubs?|groups?|organi[sz]ations?|agency|agencies"
            r"|band|network|channel|newspaper|banks?|airlines?|union|court|council|body|government|department"
            r"|ministry|university|universities|unis?|schools?|colleges?|broadcaster|studio|label|brand|carmaker|hospitals?"
            r"|airports?|charity|charities|websites?|app|platform)\b",
            _Q,
        ),
    ),
    (
        "place",
        re.compile(
            r"\bwhere\b|"
            + _WHICH
            + r"(?:country|countries|city|cities|towns?|states?|region|place|area|province|county|island|venue|stadium"
            r"|capital|nation|continent|borough|street|district|neighbou?rhood|village|river|location)\b"
            r"|\bwhich\s+part\s+of\b",
            _Q,
        ),
    ),
    (
        "reason",
        re.compile(
            r"\bwhy\b|\bhow\s+come\b|\bwhat\s+(?:caused|causes|led\s+to|made|prompted|triggered|is\s+behind|was\s+behind)\b|\breasons?\b|\bwhat\s+for\b"
            # a cause of death or illness: "what did he die of", "what was she sick with"
            r"|\b(?:die|died|dies|dying)\s+(?:of|from)\b|\bcause\s+of\s+death\b|\bwhat\s+killed\b|\bhow\s+did\b.*\bdie\b"
            r"|\b(?:sick|ill)\s+with\b|\bsuffering\s+from\b|\bwhat\s+(?:illness|disease|condition)\b",
            _Q,
        ),
    ),
)
_YESNO = re.compile(
    r"^\W*(?:is|are|was|were|did|does|do|has|have|had|can|could|will|would|should|shall|may|might|must|isn't|aren't|wasn't|weren't|didn't|doesn't|don't|hasn't|haven't)\b",
    _Q,
)

# Messages that are not questions: every word is a function word or one of these (greetings, thanks,
# acknowledgements, laughter, asking about the bot itself). "help with brexit" has a content word and is asked.
_CHAT_TEXT = """
    hi hii hiii hello helo hey heya hiya yo sup howdy gm gn morning evening night afternoon day
    thanks thank thankyou thx ty tysm tyvm cheers ta appreciate appreciated
    ok okay k kk cool nice great awesome sure yes yeah yep yup no nope nah fine alright right true
    lol lmao lmfao rofl haha hahaha hehe xd wow omg hmm hmmm uh um oh ah bye goodbye cya ya gg bruh
    help commands command bot bots citebot real person human robot ai anyone anybody someone everyone guys folks
    u ur r pls please plz nvm never mind figured np problem welcome good bad love like works working
    test testing ping pong sorry oops lmk idk dunno wdym ikr smh tbh ngl one job work brilliant perfect amazing
"""
_CHAT_WORDS = frozenset(_CHAT_TEXT.split())
_WORD_RE = re.compile(r"[^\W\d_]+(?:'[^\W\d_]+)?")


def is_small_talk(message: str) -> bool:
    """Greetings, thanks, one-word reactions: answered with a pointer to /help, never with a quote."""
    words = [w.casefold() for w in _WORD_RE.findall(message)]
    if not any(len(w) > 1 for w in words):
        return True
    return all(w in _CHAT_WORDS or w in STOPWORDS for w in words)


# "Do you know who ...", "can anyone tell me when ...": a question put inside a yes/no one.
_INDIRECT = re.compile(
    r"^\W*(?:do|does|did|can|could|would|will|has|have)\s+(?:you|u|anyone|anybody|someone|somebody|we)\s+"
    r"(?:know|tell|say|explain|remember|find|have\s+any)\b|\bany\s+idea\b|\btell\s+me\b",
    _Q,
)


# After an opening "what", "which" or "how", a "when" starts a clause that only sets the scene: "what were MPs
# shouting when it was suspended" asks for words, not a date.
_WHEN_CLAUSE = re.compile(r"(?<=\S)\s+when\b.*", re.IGNORECASE | re.DOTALL)
_OPENS_UNTYPED = re.compile(r"^\W*(?:what|whats|what's|which|how)\b", re.IGNORECASE)

# A statement ("Everyone who died in the crash was a tourist", a claim to check) asks for no particular span:
# its "who", "when" or "which" after a word opens a relative clause. After a preposition they still ask: "since
# when had he run the city".
_OPENS_QUESTION = re.compile(
    r"^\W*(?:(?:so|ok|okay|and|but|hey|btw|also|then|wait|um|hi|hello)\W+)*"
    r"(?:who|whom|whose|whos|what|whats|which|when|whens|where|wheres|why|how|hows)\b",
    re.IGNORECASE,
)
_RELATIVE = re.compile(r"(\w+)(,?\s+)(?:who|whom|whose|which|when|where|why)\b", re.IGNORECASE)
_ASKING_PREPOSITIONS = frozenset(
    {"since", "till", "until", "from", "at", "by", "to", "for", "in", "on", "of", "under", "after", "before"}
)


def _without_relative_words(statement: str) -> str:
    return _RELATIVE.sub(
        lambda m: m.group(0) if m.group(1).casefold() in _ASKING_PREPOSITIONS else m.group(1) + m.group(2), statement
    )


# Question words as members contract them ("why'd", "whyd", "how'd", "what're"), and "y" for "why" before an
# auxiliary ("y did he quit"): spelled out before a question is read. The contraction is no word to search for
# ("whyd" weighed as the rarest word there is), and "why'd" asks for a reason as "why did" does.
_CONTRACTED = re.compile(r"\b(why|how|what|who|when|where)(?:['’](d|re)|(d))\b", re.IGNORECASE)
_Y_FOR_WHY = re.compile(
    r"^(\W*)y(?=\s+(?:did|does|do|is|are|was|were|has|have|had|would|will|can|could|should)\b)", re.IGNORECASE
)
# Question words as chat spells them, opening the question ("wen did kobe retire", "hw many died"); and "r" for
# "are" before a pronoun or determiner ("r they gonna", "how old r those", "where r the").
_CHAT_QUESTION_WORDS = {"wat": "what", "wut": "what", "wen": "when", "hw": "how", "whr": "where", "wher": "where"}
_CHAT_QUESTION_WORD = re.compile(r"^(\W*)(" + "|".join(_CHAT_QUESTION_WORDS) + r")(?=\s)")  # lower case: "Wat Arun"
_R_FOR_ARE = re.compile(r"\br(?=\s+(?i:the|they|these|those|u|you|we|there|ppl|people|all|any|some|most|it|he|she)\b)")
# Lower-case "us" is the pronoun ("what did he tell us"), a stopword; but members type the country that way too.
# After a question word, an auxiliary or a quantifier, and before another word, it can only be the country:
# "how many us covid deaths", "did us troops leave", "which us state" ("the us" is the country already: text.py).
_US_COUNTRY = re.compile(
    r"(^\W*|\b(?:what|which|whose|did|does|do|is|are|was|were|has|have|had|will|would|can|could|should|may|might"
    r"|many|much|any|all|most|some|out|that|this|and|or|vs)\s+)us(?=\s+\w)",
    re.IGNORECASE,
)
_US = re.compile(r"\bus\b", re.IGNORECASE)
# Likewise lower-case "who" is a question word, but "the who" before another word is the organisation ("when did
# the who declare a pandemic"). Questions only: an article writes "the WHO", which text.py reads as the organisation.
_WHO_ORGANISATION = re.compile(r"\b(the\s+)who(?=\s+\w)", re.IGNORECASE)
# Chat's "w/" and "w/o" are "with" and "without", not a word "w"; "passed away" is "died" and "locked up" "jailed",
# which reports write too.
_WITH = re.compile(r"\bw/(o\b)?", re.IGNORECASE)
_PASSED_AWAY = re.compile(r"\b(pass(?:ed|es)?|passing)\s+away\b", re.IGNORECASE)
_DIED = {"pass": "die", "passed": "died", "passes": "dies", "passing": "dying"}
_LOCKED_UP = re.compile(r"\b(?:lock(?:ed|s)?|locking)\s+up\b", re.IGNORECASE)  # "how long was he locked up": jailed
_THE_WHO = re.compile(r"\b(?:(?i:the)\s+)?WHO\b")  # the organisation, as _as_meant leaves it


@lru_cache(maxsize=1024)  # read three times a question: its type, its terms, whether it asks for news
def _as_meant(question: str) -> str:
    """The question as the member means it, for its terms and for what it asks: contracted and chat-spelled question
    words spelled out, and lower-case "us" and "who" where they can only be the country and the organisation as "US"
    and "WHO"."""

    def verb(match: re.Match[str]) -> str:
        return f"{match.group(1)} {'are' if (match.group(2) or '').casefold() == 're' else 'did'}"

    spelled = _CHAT_QUESTION_WORD.sub(lambda m: m.group(1) + _CHAT_QUESTION_WORDS[m.group(2)], question)
    spelled = _WITH.sub(lambda m: "without" if m.group(1) else "with", spelled)
    spelled = _PASSED_AWAY.sub(lambda m: _DIED[m.group(1).casefold()], spelled)
    spelled = _LOCKED_UP.sub("jailed", spelled)
    spelled = _R_FOR_ARE.sub("are", _Y_FOR_WHY.sub(r"\1why", _CONTRACTED.sub(verb, spelled)))
    if _US.search(spelled):  # _US_COUNTRY, tried at every position, is the slowest of these: only where "us" is
        spelled = _US_COUNTRY.sub(r"\1US", spelled)
    return _WHO_ORGANISATION.sub(r"\1WHO", spelled)


def answer_type(question: str) -> str:
    """What kind of span would answer: one of ANSWER_TYPES, "yesno", or "other".

    A question opening like a yes/no one is one ("were the kids who died vaccinated"), unless it only wraps
    another ("do you know who won"). Otherwise the question phrase that comes first decides: "how old was he
    when he died" asks for a number.
    """
    question = _as_meant(question)
    if _YESNO.match(question) and not _INDIRECT.search(question):
        return "yesno"
    question = _THE_WHO.sub("the agency", question)  # "what did the WHO say" asks for no person
    if "?" not in question and not _OPENS_QUESTION.match(question) and not _YESNO.match(question):
        question = _without_relative_words(question)
    elif _OPENS_UNTYPED.match(question):
        question = _WHEN_CLAUSE.sub("", question)
    first: tuple[int, str] | None = None
    for name, pattern in _QUESTION_TYPES:
        match = pattern.search(question)
        if match and (first is None or match.start() < first[0]):
            first = (match.start(), name)
    return first[1] if first is not None else "other"


# --------------------------------------------------------------------------------------------------
# Typed spans in a sentence
# --------------------------------------------------------------------------------------------------


def _set(words: str) -> frozenset[str]:
    return frozenset(words.split())


# Typed spans are found over the sentence's words (text.token_spans: offsets and stems), by set look-ups in one
# pass: much faster than a regular expression per type, and the words are needed for coverage anyway.
_NUMBER_WORDS = _set(
    """one two three four five six seven eight nine ten eleven twelve thirteen fourteen fifteen sixteen
    seventeen eighteen nineteen twenty thirty forty fifty sixty seventy eighty ninety hundred hundreds thousand
    thousands million millions billion billions trillion dozen dozens half third quarter twice double triple
    bn tn m k"""
)
# Fractions that are also ordinals or parts of a match: a count only as "a third", "one half", "half of".
_FRACTIONS = _set("half third quarter")
_FRACTION_BEFORE = re.compile(r"\b(?:a|an|one)[\s-]+$", re.IGNORECASE)
_NO_BEFORE = re.compile(r"\bno\s+$", re.IGNORECASE)  # "no two people": searched in the few characters before
_FRACTION_AFTER = re.compile(r"\s+(?:of|a|an)\b", re.IGNORECASE)
_MONTHS = _set(
    "january february march april may june july august september october november december "
    "jan feb mar apr jun jul aug sep sept oct nov dec"
)
_DAYS = _set(
    "monday tuesday wednesday thursday friday saturday sunday yesterday today tonight tomorrow "
    "weekend spring summer autumn winter morning evening afternoon midnight noon"
)
_TIME_UNITS = _set(
    "second seconds minute minutes hour hours day days week weeks fortnight month months year years decade "
    "decades century centuries"
)
_CURRENCY_WORDS = _set(
    "dollars dollar pounds pound euros euro yen yuan rupees rupee francs pence cents usd gbp eur rubles roubles "
    "lira pesos peso kronor krona rand baht shekels dinars riyals dirhams ringgit renminbi"
)
# Whose currency, between the amount and its name: "five million US dollars", "HK$": "2 billion Hong Kong dollars".
_CURRENCY_OF = _set("us american australian canadian hong kong new zealand singapore hk nz")
# "The phenomenon lasted about an hour": a duration without a number.
_ONE_TIME_UNIT = re.compile(r"\ban?\s+(?:hour|day|week|fortnight|month|year|decade|century)\b", re.IGNORECASE)
_CURRENCY_SIGNS = frozenset("$£€¥")
_PERCENT_WORDS = _set("percent per percentage")
_TITLES = _set(
    "mr mrs ms dr prof sir dame lord lady president minister secretary senator governor judge chancellor king "
    "queen prince princess pope chief general captain coach manager mayor spokesman spokeswoman"
)
_ORG_ENDINGS = _set(
    "inc corp corporation ltd plc party council ministry department bank union association committee commission "
    "group agency authority institute university college club fc united city airline airlines motors records "
    "studios network foundation office court parliament assembly congress senate police service services "
    "company co times news post journal league federation organisation organization "
    "airport airports hospital school academy museum charity trust"
)
_PLACE_BEFORE = re.compile(
    r"\b(?:in|at|from|near|to|across|into|outside|inside|around|throughout)\s+(?:the\s+)?$", re.I
)
_REASON = re.compile(
    r"\b(?:because|due\s+to|owing\s+to|as\s+a\s+result|result(?:ed|s)?\s+(?:of|from)|caus(?:e|es|ed|ing)|blamed|blames|"
    r"in\s+a\s+bid\s+to|for\s+(?:this|that|these|those|the\s+same)\s+reasons?|purpose|motivat(?:ed|ion)|so\s+as\s+to|"
    r"in\s+protest|cardiac\s+arrest|error|on\s+the\s+grounds?|effects?\s+of|reflect(?:s|ed|ing)?|(?:means?|meant)\s+that|"
    r"thanks\s+to|in\s+order\s+to|so\s+that|since|after|amid|following|reasons?|led\s+to|leading\s+to|"
    r"aim(?:ed|s)?\s+(?:at|to)|in\s+response|over\s+concerns?|concerns?\s+(?:over|about|that)|fears?\s+(?:of|that|over)|"
    r"attributed|explained|cited|citing|to\s+(?:help|make|stop|prevent|protect|avoid|ensure|boost|cut|reduce|show|save)|"
    r"(?:intended|designed|meant)\s+to|reasoning|advantages?\s+of|injury|injuries|injured|"
    r"(?:died|dies|death)\s+(?:of|from)|succumbed|suffer(?:ed|ing|s)?\s+from|complications|cancer|disease|illness|"
    r"pneumonia|heart\s+attack|stroke|infection|overdose|poisoning)\b",
    re.I,
)
_DIGITS = re.compile(r"\d")
_YEAR = re.compile(r"(?:1[89]|20)\d\ds?")


_AGE_BEFORE = re.compile(r"(?:\baged?|\bage of|\b(?:was|is|were|are|turned|turns|at))\s+$|\($", re.IGNORECASE)
_NAME_COMMA = re.compile(r"\b[A-Z][\w'’-]+,\s*$")
_AGE_AFTER = re.compile(r"\s*(?:[.,;:)]|and\b|$)")


def _age(
    sentence: str, words: Sequence[tuple[int, int, str]], lower: Sequence[str], i: int, j: int
) -> tuple[bool, int]:
    """Whether the number in words[i:j] is someone's age ("95-year-old", "aged 86", "He was 95.", "(86)"),
    and where the span ends."""
    end = words[j - 1][1]
    if j + 1 < len(words) and lower[j] in ("year", "years") and lower[j + 1] == "old":
        return True, words[j + 1][1]  # "95 years old", "a 60-year-old"
    before = sentence[max(0, words[i][0] - 12) : words[i][0]]
    if _AGE_BEFORE.search(before) and _AGE_AFTER.match(sentence[end:]):
        return True, end
    # In apposition after a name: "Adamowicz, 53, has ...", "James Ford, 42, a convicted murderer"
    surface = sentence[words[i][0] : end]
    return bool(
        surface.isdigit() and int(surface) < 120 and _NAME_COMMA.search(before) and sentence[end:].startswith(",")
    ), end


def _is_number(surface: str) -> bool:
    return bool(_DIGITS.match(surface)) or surface in _NUMBER_WORDS


def _not_a_count(sentence: str, words: Sequence[tuple[int, int, str]], lower: Sequence[str], i: int) -> bool:
    """A number word used otherwise: "her third husband", "the first half", "Goody Two-Shoes", "no two people"
    ("no one was hurt" is a count: none), or digits that end a name: "COVID-19", "SARS-CoV-2", "F-16"."""
    word = lower[i]
    start, end = words[i][0], words[i][1]
    if word[0].isdigit() and start >= 2 and sentence[start - 1] == "-" and sentence[start - 2].isalpha():
        return True
    if word != "one" and not word[0].isdigit() and _NO_BEFORE.search(sentence, max(0, start - 4), start):
        return True
    if word in _FRACTIONS:
        before = sentence[max(0, start - 12) : start]
        if _FRACTION_BEFORE.search(before) or (
            i and lower[i - 1] not in _FRACTIONS and _is_number(lower[i - 1]) and _adjacent(sentence, words, i)
        ):
            return False
        return not _FRACTION_AFTER.match(sentence, end)
    return not word[0].isdigit() and sentence[end : end + 1] == "-" and sentence[end + 1 : end + 2].isupper()


def _adjacent(sentence: str, words: Sequence[tuple[int, int, str]], j: int) -> bool:
    """Word j follows word j - 1 with nothing but a space or a hyphen between them."""
    return not sentence[words[j - 1][1] : words[j][0]].strip(" -\u00a0")


def _opens_with_name(sentence: str, words: Sequence[tuple[int, int, str]], lower: Sequence[str]) -> bool:
    """Whether the sentence's capitalised first word may be part of a name: a title ("Dr"), or no stop word and
    followed by another capitalised word ("Nancy Pelosi resumed ...") or an acronym ("NASA said"). Every
    sentence's first word is capitalised, so alone it names nothing ("Officials said", "The ...")."""
    first = lower[0]
    if first in _TITLES:
        return True
    if first in STOPWORDS:
        return False
    surface = sentence[words[0][0] : words[0][1]]
    if 2 <= len(surface) <= 6 and surface.isupper():
        return True
    return len(words) > 1 and sentence[words[1][0]].isupper() and not sentence[words[0][1] : words[1][0]].strip()


def typed_spans(sentence: str, kind: str, words: Sequence[tuple[int, int, str]] | None = None) -> list[tuple[int, int]]:
    """Character spans in ``sentence`` that could be an answer of ``kind`` (empty for yesno/other)."""
    if kind == "reason":
        return [(m.start(), m.end()) for m in _REASON.finditer(sentence)]
    if kind not in ANSWER_TYPES:
        return []
    words = token_spans(sentence) if words is None else words
    lower = [sentence[s:e].casefold() for s, e, _ in words]
    spans: list[tuple[int, int]] = []
    if kind in ("person", "organisation", "place"):
        i = 0
        while i < len(words):
            start = words[i][0]
            if not sentence[start].isupper() or (start == 0 and not _opens_with_name(sentence, words, lower)):
                i += 1
                continue
            j = i + 1  # a run of capitalised words separated by spaces only
            while (
                j < len(words)
                and sentence[words[j][0]].isupper()
                and not sentence[words[j - 1][1] : words[j][0]].strip()
            ):
                j += 1
            run = range(i, j)
            surface = sentence[start : words[j - 1][1]]
            if kind == "person":
                keep = j - i >= 2 and not surface.isupper() and lower[j - 1] not in _ORG_ENDINGS
            elif kind == "organisation":
                keep = lower[j - 1] in _ORG_ENDINGS or any(
                    2 <= len(sentence[words[k][0] : words[k][1]]) <= 6 and sentence[words[k][0] : words[k][1]].isupper()
                    for k in run
                )
            else:
                keep = bool(_PLACE_BEFORE.search(sentence[max(0, start - 12) : start]))
            if keep:
                spans.append((start, words[j - 1][1]))
            i = j
        return spans
    i = 0
    while i < len(words):
        word = lower[i]
        if kind == "date":
            if word in _MONTHS or word in _DAYS or _YEAR.fullmatch(word):
                j = i + 1
                while j < len(words) and j - i < 3 and _adjacent(sentence, words, j):
                    if not (lower[j] in _MONTHS or _DIGITS.match(lower[j])):
                        break
                    j += 1
                first = i - 1 if i and _DIGITS.match(lower[i - 1]) and _adjacent(sentence, words, i) else i
                spans.append((words[first][0], words[j - 1][1]))
                i = j
                continue
            i += 1
            continue
        if not _is_number(word) or (word in ("m", "k", "bn", "tn")) or _not_a_count(sentence, words, lower, i):
            i += 1
            continue
        j = i + 1
        while j < len(words) and _is_number(lower[j]) and _adjacent(sentence, words, j):
            j += 1
        start, end = words[i][0], words[j - 1][1]
        after = lower[j] if j < len(words) else ""
        tail = sentence[end : end + 2]
        if kind == "number":
            keep = not _YEAR.fullmatch(word) or j - i > 1
        elif kind == "age":
            keep, end = _age(sentence, words, lower, i, j)
        elif kind == "percent":
            keep = tail.startswith("%") or after in _PERCENT_WORDS
            if tail.startswith("%"):
                end += 1
            elif keep:
                end = words[j + 1][1] if after == "per" and j + 1 < len(words) else words[j][1]
        elif kind == "money":
            keep = sentence[max(0, start - 1) : start] in _CURRENCY_SIGNS or after in _CURRENCY_WORDS
            if not keep and after in _CURRENCY_OF:
                k = next((k for k in range(j + 1, min(j + 3, len(words))) if lower[k] not in _CURRENCY_OF), None)
                keep = k is not None and lower[k] in _CURRENCY_WORDS
        else:  # duration
            keep = after in _TIME_UNITS
            if keep:
                end = words[j][1]
        if keep:
            spans.append(
                (
                    max(0, start - 1) if kind == "money" and sentence[start - 1 : start] in _CURRENCY_SIGNS else start,
                    end,
                )
            )
        i = j
    if kind == "duration":
        spans = sorted(spans + [m.span() for m in _ONE_TIME_UNIT.finditer(sentence)])
    return spans


# A reason's weakest cues: they count as evidence of a cause, but bolded as "the answer" they mislead ("**after**").
_WEAK_REASON = frozenset({"after", "following", "since", "amid"})


def shown_spans(sentence: str, spans: Sequence[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """The answer spans worth bolding in a quote: all but a bare "after"/"following"/"since"/"amid"."""
    return tuple((s, e) for s, e in spans if sentence[s:e].casefold() not in _WEAK_REASON)


def answer_spans(
    sentence: str, question: Question, words: Sequence[tuple[int, int, str]] | None = None
) -> list[tuple[int, int]]:
    """Spans of the expected type that the question does not already contain: what to bold as the answer.

    ``words``: the sentence's ``token_spans``, if already computed.
    """
    if question.answer_type not in ANSWER_TYPES:
        return []
    words = token_spans(sentence) if words is None else words
    asked = set(question.tokens)
    out = []
    for start, end in typed_spans(sentence, question.answer_type, words):
        inside = {t for s, e, t in words if s >= start and e <= end}
        if question.answer_type == "reason" or not inside or not inside <= asked:
            out.append((start, end))
    return out


# --------------------------------------------------------------------------------------------------
# Synonyms and demonyms: different words for the same thing, as stems
# --------------------------------------------------------------------------------------------------

_RELATED_WORDS = """
die died dies dead death deaths dying kill killed killing fatal fatalities lives succumb succumbed
hurt injure injured injuries injury wounded wound casualties
quit resign resigned resignation step stepped retire retired retirement
buy bought purchase purchased acquire acquired acquisition takeover
sell sold sale
win won winner victory victorious beat triumph
lose lost loss defeat defeated
start started begin began begun launch launched commence
end ended finish finished conclude concluded over
suspend suspended suspension prorogue prorogation prorogued
legal lawful legitimate
illegal unlawful unconstitutional
arrest arrested detain detained custody
sue sued lawsuit legal action
elect elected election vote voted poll ballot
share shared post posted publish published tweet tweeted
rise rose risen increase increased grow grew growth up jump jumped surge soared
fall fell fallen drop dropped decline declined decrease cut slump down
say said says claim claimed state stated told tells assert asserted allege alleged
ban banned prohibit prohibited outlaw
fire fired sack sacked dismiss dismissed
hire hired employ employed recruit
job jobs employment work workers staff
money cash funds funding
cost costs price priced
company firm business group
car cars vehicle vehicles
film films movie movies
boss chief head leader ceo captain led
military defence defense
child children kid kids
doctor doctors doc docs physician
police officers cops
attack attacked strike struck assault hit
admit admitted acknowledge acknowledged confess confessed
plane planes jet jets aircraft airliner
tory tories conservative conservatives
jail jailed prison imprisoned imprisonment sentenced
protest protests protester protesters demonstration demonstrations demonstrators rally rallies
quake earthquake
crash crashed collision collided
blast blasts explosion explosions explode exploded
cancel cancelled canceled cancellation scrap scrapped
deep depth
tall height
far distance
fast speed
wide width
heavy weight weighs weighed
evacuate evacuated evacuation evacuations evacuees flee fled
judge judges justice justices
"""
# Questions ask in the present ("did they shoot", "how many did it take"), news reports in the past: the
# stemmer joins "killed" to "kill" but not "shot" to "shoot". Forms that are often another word are left out
# ("lay", "lent", "sat", "tear", "mean").
_IRREGULAR_VERBS = """
break broke broken
bring brought
build built
catch caught
choose chose chosen
come came
draw drew drawn
drive drove driven
eat ate eaten
feel felt
fight fought
find found
flee fled
fly flew flown
forget forgot forgotten
freeze froze frozen
get got gotten
give gave given
go went gone
hang hung hanged
hear heard
hide hid hidden
hold held
keep kept
know knew known
lead led
leave left
make made
meet met
pay paid
ride rode ridden
run ran
see saw seen
seek sought
send sent
shake shook shaken
shoot shot
sing sang sung
sink sank sunk
sleep slept
speak spoke spoken
spend spent
stand stood
steal stole stolen
swear swore sworn
swim swam swum
take took taken
teach taught
think thought
throw threw thrown
wake woke woken
wear wore worn
write wrote written
"""
_ABBREVIATIONS = """
ppl people
govt gov government
uni university
dems dem democrats democrat
gop republicans republican
pm premier
hk kong hongkong
yr yrs year years
hr hrs hour hours
mins minute minutes
wk wks week weeks
bn billion
mln million
dept department
govts governments
info information
prez potus president
vp veep vice
xmas christmas
bday birthday
maths math mathematics
prof professor
reps representatives congressmen
devs developers
intl international
natl national
approx approximately
nz zealand
nh hampshire
ny nyc york
nj jersey
uae emirates
scotus supreme
sgt sergeant
jab jabs vaccine vaccines vaccination vaccinated
op surgery operation
1st first
2nd second
3rd third
jan january
feb february
apr april
jun june
jul july
aug august
sep sept september
oct october
nov november
dec december
hq headquarters
mlk luther king
pts points
pct percent
avg average averaged
loo toilet
lib liberal liberals
meds medication medications medicine medicines
mom mum mother
dad father
journo journos journalist journalists
mil million
aussie aussies australian australia
brit brits british britain
"""
_DEMONYMS = """
ukraine ukrainian ukrainians
russia russian russians
britain british uk briton britons
usa america american americans us
china chinese
france french
germany german germans
iran iranian iranians
iraq iraqi iraqis
israel israeli israelis
japan japanese
india indian indians
pakistan pakistani pakistanis
canada canadian canadians
australia australian australians
spain spanish
italy italian italians
mexico mexican mexicans
brazil brazilian brazilians
turkey turkish
syria syrian syrians
afghanistan afghan afghans
egypt egyptian egyptians
greece greek greeks
ireland irish
scotland scottish scots
wales welsh
england english
europe european europeans eu
korea korean koreans
poland polish poles
sweden swedish swedes
norway norwegian
netherlands dutch holland
switzerland swiss
venezuela venezuelan
nigeria nigerian
kenya kenyan
philippines filipino filipinos
vietnam vietnamese
indonesia indonesian
saudi saudis arabia
palestine palestinian palestinians
hongkong hong kong
"""


def synonym_table(path: Path = SYNONYMS_PATH) -> tuple[str, dict[str, str]]:
    """The analysis the table's stems were made with, and stem → the stems that stand for it, space-separated."""
    analysis, table = "", {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("# analysis "):
            analysis = line.removeprefix("# analysis ")
        elif line and not line.startswith("#"):
            stem, _, others = line.partition(" ")
            table[stem] = others
    return analysis, table


def by_stem(groups: Iterable[Iterable[str]]) -> dict[str, set[str]]:
    """Groups of stems that mean nearly the same → stem → the other stems of every group it is in."""
    related: dict[str, set[str]] = {}
    for group in groups:
        stems = set(group)
        for stem in stems:
            related.setdefault(stem, set()).update(stems - {stem})
    return related


@lru_cache(maxsize=1)
def _written() -> dict[str, frozenset[str]]:
    """stem → the stems that mean nearly the same in the hand-written groups (itself excluded)."""
    lines = (_RELATED_WORDS + _IRREGULAR_VERBS + _ABBREVIATIONS + _DEMONYMS).strip().splitlines()
    related = by_stem([t for word in line.split() for t in tokenize(word)] for line in lines)
    return {stem: frozenset(others) for stem, others in related.items()}


@lru_cache(maxsize=1)
def _wordnet() -> dict[str, str]:
    """stem → its WordNet synonyms, space-separated: the table's 30,000 lines are split only for the words asked
    about (loading it whole as sets took half a second and 12 MB)."""
    return synonym_table()[1]


def written_related_terms(term: str) -> frozenset[str]:
    """The hand-written synonyms only: what retrieval looks up in the index. WordNet's (five times as many a
    question) would each be looked up in the postings, +0.4 ms a question at 1M for 0.5 points of Hit@3."""
    return _written().get(term, frozenset())


@lru_cache(maxsize=4096)
def related_terms(term: str) -> frozenset[str]:
    """Every synonym, written and WordNet's: what the reader counts as holding a question word."""
    return written_related_terms(term) | frozenset(_wordnet().get(term, "").split())


# --------------------------------------------------------------------------------------------------
# Candidates and features
# --------------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Question:
    text: str
    tokens: tuple[str, ...]  # retrieval terms, in order (repeats kept)
    answer_type: str
    weights: dict[str, float] = field(default_factory=dict)  # term → share of the question's IDF mass (sums to 1)


# "how many", "how much": the word after "how" says what kind of answer is wanted, not what about. As a search
# word it would favour sentences repeating "many" over the one that gives the number. (Dropping "old", "long"
# and "far" too was measured and lost 1-2 points Hit@1: answers say "95-year-old", "a long way".)
_HOW_WORD = re.compile(r"\b(how)\s+(?:many|much)\b", re.IGNORECASE)


# What members type around the question itself: question words without their apostrophe ("whats", "wheres"; the
# stemmer would keep "what" and "where"), negations without it ("didnt"), and fillers ("has anyone been arrested",
# "how many actually voted"). No article needs to hold them, and as question terms they weighed as much as a name.
_FILLER = re.compile(
    r"(?<!\.)\b(?:whats|whos|wheres|whens|hows|whys|thats|theres|anyone|anybody|someone|somebody|actually"
    r"|dont|doesnt|didnt|cant|wont|isnt|wasnt|arent|werent|havent|hasnt|hadnt|couldnt|wouldnt|shouldnt|aint"
    # chat around the question: "... rn", "... or nah", "lol"
    r"|lol|lmao|lmfao|rofl|haha|hahaha|omg|tbh|ngl|imo|imho|idk|dunno|rn|nah|yeah|yep|yup|nope|pls|plz|btw|smh|ikr"
    r"|tf|wtf|bruh"
    r"|gonna|wanna|gotta|kinda|sorta|lemme|ya|u|ur"
    # stop words as chat spells them: "before", "because", "about", "through", "though"
    r"|b4|cuz|coz|bcuz|abt|thru|tho)\b"
    r"(?!\.\w)",  # "u" is "you", but "U.S.", "U.K." and "E.U." are not
    re.IGNORECASE,
)


@lru_cache(maxsize=1)
def _stop_word_typos() -> frozenset[str]:
    """The terms of stop words as members mistype them: a letter left out ("frm", "wat") or two swapped ("otu",
    "teh", "whcih"), where that is no stop word itself."""
    typos: set[str] = set()
    for word in STOPWORDS:
        if len(word) >= 3 and word.isalpha():
            typos.update(word[:i] + word[i + 1 :] for i in range(len(word)))
            typos.update(word[:i] + word[i + 1] + word[i] + word[i + 2 :] for i in range(len(word) - 1))
    return frozenset(term for typo in typos - STOPWORDS for term in tokenize(typo))


def is_stop_word_typo(term: str) -> bool:
    """Whether ``term`` is a stop word mistyped ("frm" for "from"). Only for a word no article holds: "hat" and
    "wit" are words too."""
    return term in _stop_word_typos()


# Asking for news of a story: "what's the latest on brexit", "any news about the grayback". The story is what to
# search; "latest" (in few articles) weighed more than "brexit" and the question was declined.
_NEWS_OF = re.compile(
    r"\b(?:(?:the\s+)?latest(?:\s+(?:news|updates?|word))?|any\s+(?:news|updates?|word))"
    r"(?=\s+(?:on|about|regarding|re|with|from)\b)",
    re.IGNORECASE,
)


def asks_for_news(question: str) -> bool:
    """Whether the question asks for the latest on a story ("what's the latest on brexit", "any news about the
    grayback"), where a member wants the newest article's account, not the one that repeats the story's name most."""
    return _NEWS_OF.search(_as_meant(question)) is not None


def question_terms(question: str) -> list[str]:
    """The retrieval terms of a question, without the answer-type word of "how many" and "how much" and without
    what members type around the question (_FILLER, _NEWS_OF), read as meant (_as_meant)."""
    return tokenize(_FILLER.sub(" ", _NEWS_OF.sub(" ", _HOW_WORD.sub(r"\1", _as_meant(question)))))


def unheard_words(question: str, held: Callable[[str], bool], limit: int = 3) -> tuple[str, ...]:
    """The question's words, as typed, whose term ``held`` says no article holds: "beirut" in "how many died in
    the beirut explosion" asked of articles that never mention Beirut. Chat words ("lol") are not named."""
    asked = set(question_terms(question))
    words: list[str] = []
    for start, end, term in token_spans(question):
        word = question[start:end]
        if term in asked and word.casefold() not in _CHAT_WORDS and word not in words and not held(term):
            words.append(word)
            if len(words) == limit:
                break
    return tuple(words)


_LETTERS = "abcdefghijklmnopqrstuvwxyz"


def spelling_variants(term: str) -> set[str]:
    """Terms one edit away (a letter dropped, added, changed, or two swapped): "posion" → "poison"."""
    splits = [(term[:i], term[i:]) for i in range(len(term) + 1)]
    return (
        {a + b[1:] for a, b in splits if b}
        | {a + b[1] + b[0] + b[2:] for a, b in splits if len(b) > 1}
        | {a + c + b[1:] for a, b in splits if b for c in _LETTERS}
        | {a + c + b for a, b in splits for c in _LETTERS}
    ) - {term}


def analyse(question: str, idf: dict[str, float] | None = None, tokens: Sequence[str] | None = None) -> Question:
    """``idf``: term → IDF in the corpus asked (a term the corpus lacks should get the highest IDF).
    ``tokens``: the question's terms when the caller has them (e.g. with spelling corrected)."""
    tokens = tuple(question_terms(question) if tokens is None else tokens)
    distinct = list(dict.fromkeys(tokens))
    raw = {t: max((idf or {}).get(t, 1.0), 1e-6) for t in distinct}
    mass = sum(raw.values())
    weights = {t: w / mass for t, w in raw.items()} if mass else {}
    return Question(question, tokens, answer_type(question), weights)


@dataclass(slots=True)
class Candidates:
    """What retrieval knows of each candidate sentence, plus the texts fetched for it (parallel sequences)."""

    sentence_bm25: FloatArray  # divided by the best sentence's BM25 for the question
    article_bm25: FloatArray  # the sentence's article's BM25, divided by the best article's
    article_rank: npt.NDArray[np.int64]  # 0 for the best article
    article_cover: FloatArray  # share of the question's IDF mass the article holds
    article_chance: FloatArray  # the share an article that long would hold by chance (Index.chance_idf)
    positions: npt.NDArray[np.int64]  # the sentence's position in its article
    texts: list[str]
    previous: list[str | None]  # the sentence before it in the article, if any
    titles: list[str | None]
    neighbour: npt.NDArray[np.bool_]  # added as the sentence after a strong candidate, not retrieved itself
    # The stored terms of each text and of the one before it, when known: tokenising (stemming) the texts
    # again gives the same terms, more slowly. None where unknown (the Library leaves out the previous sentence's
    # terms where features() does not read them: the text does not refer back).
    terms: Sequence[Sequence[str] | None] = ()
    previous_terms: Sequence[Sequence[str] | None] = ()
    title_terms: Sequence[Sequence[str] | None] = ()  # the same for each title
    # Cosine of the question's and each text's vectors from the language model (CITEBOT_MODEL); empty without one.
    meaning: Sequence[float] = ()

    def __len__(self) -> int:
        return len(self.texts)

    def words(self, i: int) -> list[tuple[int, int, str]]:
        """The ``token_spans`` of text ``i``, from its stored terms when known."""
        known = _known(self.terms, i)
        return (known is not None and token_spans_of(self.texts[i], known)) or token_spans(self.texts[i])

    def term_list(self, i: int) -> Sequence[str]:
        known = _known(self.terms, i)
        return known if known is not None else tokenize(self.texts[i])

    def previous_term_list(self, i: int) -> Sequence[str]:
        known = _known(self.previous_terms, i)
        return known if known is not None else tokenize(self.previous[i] or "")

    def title_term_list(self, i: int) -> Sequence[str]:
        known = _known(self.title_terms, i)
        return known if known is not None else tokenize(self.titles[i] or "")


def _known(terms: Sequence[Sequence[str] | None], i: int) -> Sequence[str] | None:
    """Candidates.terms, previous_terms or title_terms of candidate ``i``: None when not given at all or not known
    for it."""
    return terms[i] if terms else None


FEATURES = (
    "sentence_bm25",
    "article_bm25",
    "article_top",  # 1 / (1 + article rank)
    "best_in_article",  # the sentence with the highest BM25 of its article among the candidates
    "cover",  # share of the question's IDF mass in the sentence
    "cover_related",  # the same, counting synonyms and demonyms as matches
    "cover_fuzzy",  # the same, also counting words that share their first five letters (typos, derived forms)
    "cover_count",  # share of the question's distinct terms in the sentence, each counting the same
    "context_cover",  # the same over the sentence and, when it refers back, the sentence before it
    "local_cover",  # context_cover with each term weighed by how few candidates hold it: what tells them apart
    "focus_cover",  # the share, in context, of the question words the title lacks (what is asked about the story);
    # for a question the title holds whole, 1 for the lead
    "article_cover",
    "all_covered",  # the sentence holds every question term (or a synonym)
    "unmatched_rare",  # the largest share of a single question term the sentence lacks
    "previous_cover",  # share in the preceding sentence, when this one opens with a pronoun or reference
    "refers_back",  # opens with a pronoun or reference ("She", "It", "They")
    "neighbour",
    "number_found",  # a count, amount, share or duration the question does not hold, when it asks for one
    "date_found",
    "name_found",  # a person, organisation or place name, when the question asks for one
    "reason_found",
    "type_missing",  # the question asks for a typed answer and the sentence holds none
    "type_near_terms",  # such a span stands within three words of a question word ("ten drones", "lost 42")
    "counts_asked",  # "how many bodies": a number followed by "bodies" (or a synonym) within three words
    "typed_cover",  # context_cover when the sentence holds such a span: the answer, about what was asked
    "proximity",  # matched terms close together: matched / window length
    "bigrams",  # share of the question's adjacent term pairs found adjacent
    "title_cover",  # share of the question in the article's title
    "first_sentence",
    "lead_title",  # title_cover for the article's first sentence, which the title usually sums up
    "log_length",
    "quotation",  # reported speech in quotation marks
    "yesno_cover",  # coverage again, for yes/no questions, where it is all there is
    "meaning",  # the language model's cosine of question and sentence; 0 without a model (its weights ignore it)
    "article_meaning",  # the highest meaning among the candidates of the sentence's article
)
_COLUMN = {name: i for i, name in enumerate(FEATURES)}
_ZERO_ROW = dict.fromkeys(FEATURES, 0.0)  # a candidate's row before its features are set (never changed itself)

# What makes a sentence the answer depends on what is asked: a number beside the question's words for "how many",
# a name for "who", coverage alone for a yes/no question. Each family of answer types has its own sentence
# weights, learned as shared weights plus a family part held small (README).
ANSWER_FAMILIES = ("count", "date", "name", "reason", "yesno", "other")
_FAMILY_OF_TYPE = {
    "number": "count",
    "age": "count",
    "duration": "count",
    "money": "count",
    "percent": "count",
    "date": "date",
    "person": "name",
    "organisation": "name",
    "place": "name",
    "reason": "reason",
    "yesno": "yesno",
}


def answer_family(answer_type: str) -> str:
    return _FAMILY_OF_TYPE.get(answer_type, "other")


# The feature that marks a span of the expected type, by family (yes/no and other questions expect no span).
_FAMILY_FEATURE = {"count": "number_found", "date": "date_found", "name": "name_found", "reason": "reason_found"}
_TYPE_FEATURE = {t: _FAMILY_FEATURE[f] for t, f in _FAMILY_OF_TYPE.items() if f in _FAMILY_FEATURE}


_QUOTE_MARKS = frozenset("\"“‘'")
_TIME_WORDS = (
    "morning|afternoon|evening|night|week|weekend|month|year|season|time|past|coming|spring|summer|autumn|winter"
    "|monday|tuesday|wednesday|thursday|friday|saturday|sunday"
)
_REFERS_BACK = re.compile(
    r"^\W*(?:(?:but|and|so|however|yet|still|now|then|later|also)\b[\s,]*)?"
    r"(?:he|she|it|they|his|her|its|their|him|them|such"
    # "This is ...", "These findings ...", but not "This morning ..." or "Those who ...": no referent behind them
    rf"|(?:this|that|these|those)\b(?!\s+(?:who|{_TIME_WORDS})\b)"
    # "Both were ...", "Both on Thursday ...", but not "Both houses of Parliament" or "Both Warren and Sanders"
    r"|both\b(?!\s+(?:houses\b|(?:\S+\s+){0,2}and\b))"
    r"|the\s+(?!\d)[a-z]+(?:\s+[a-z]+)?\s+"
    r"(?:said|says|was|is|has|had|were|are|will|would|must|can|could|should|may|might|added|told|also))\b",
    re.IGNORECASE,
)


# A sentence that ends by asking, before any closing quotation marks or brackets.
_ASKS = re.compile(r"\?[\"'”’)\]]*\s*$")


def is_question(sentence: str) -> bool:
    """Whether the sentence asks rather than tells: an interviewer's "How many people were involved?" holds the
    question's words, but the answer is what follows it."""
    return bool(_ASKS.search(sentence))


@lru_cache(maxsize=1 << 12)  # asked of the same sentences up to three times an answer (neighbours, features, quotes)
def refers_back(sentence: str, previous: str | None = None) -> bool:
    """Opens with a pronoun or a definite reference, so its subject is named in an earlier sentence; or answers
    the ``previous`` sentence, a question (an interview's)."""
    return bool(_REFERS_BACK.match(sentence)) or (previous is not None and is_question(previous))


class _Cover(NamedTuple):  # a tuple: built several times per candidate, cheaper than a frozen dataclass
    exact: float  # share of the question's mass whose terms the text holds
    related: float  # ... counting synonyms and demonyms
    fuzzy: float  # ... and words sharing their first five letters
    missing: float  # the largest share of one term held in none of these ways
    held_count: float  # share of the distinct terms held exactly


# A term's first five letters, for cover's fuzzy match, mapped over a text's terms in C. Shorter terms give
# themselves, which no five-letter prefix equals: the same matches as taking prefixes of long terms only.
_FIRST_FIVE = operator.itemgetter(slice(0, 5))


class _QuestionTerms:
    """The question's terms with what may stand for each, prepared once per question."""

    def __init__(self, question: Question) -> None:
        self.weights = question.weights
        self.accept = {t: frozenset({t}) | related_terms(t) for t in question.weights}
        self.wanted = frozenset().union(*self.accept.values()) if self.accept else frozenset()
        self.terms = frozenset(question.weights)
        # The question's adjacent term pairs, and the words that open one: what bigrams look for.
        self.pairs = frozenset((a, b) for a, b in itertools.pairwise(question.tokens) if a != b)
        self.pair_starts = frozenset(a for a, _ in self.pairs)
        self.all_weighed = self.terms.issuperset(question.tokens)  # as analyse() makes them: every pair is of terms
        # What cover() looks at per term, in the weights' order (its sums add in that order): the term, its
        # weight, what stands for it, and its first five letters when it has five or more.
        self._items = [(t, w, self.accept[t], t[:5] if len(t) >= 5 else None) for t, w in question.weights.items()]

    def held(self, present: set[str]) -> set[str]:
        """The question terms held, themselves or through a synonym."""
        return {t for t, accepted in self.accept.items() if not accepted.isdisjoint(present)}

    def cover(self, present: set[str]) -> _Cover:
        exact = related = fuzzy = missing = 0.0
        count = 0
        prefixes: set[str] | None = None
        for term, weight, accepted, prefix in self._items:
            if term in present:
                exact += weight
                related += weight
                fuzzy += weight
                count += 1
            elif not accepted.isdisjoint(present):
                related += weight
                fuzzy += weight
            else:
                if prefix is not None:
                    if prefixes is None:
                        prefixes = set(map(_FIRST_FIVE, present))
                    if prefix in prefixes:
                        fuzzy += weight
                        continue
                if weight > missing:
                    missing = weight
        return _Cover(exact, related, fuzzy, missing, count / (len(self._items) or 1))

    def fuzzy(self, present: set[str]) -> float:
        """``cover(present).fuzzy`` alone (the same sum, in the same order), where nothing else of it is used."""
        fuzzy = 0.0
        prefixes: set[str] | None = None
        for term, weight, accepted, prefix in self._items:
            if term in present or not accepted.isdisjoint(present):
                fuzzy += weight
            elif prefix is not None:
                if prefixes is None:
                    prefixes = set(map(_FIRST_FIVE, present))
                if prefix in prefixes:
                    fuzzy += weight
        return fuzzy


def _proximity_and_bigrams(terms: Sequence[str], asked: _QuestionTerms, present: set[str]) -> tuple[float, float]:
    """``present``: set(terms)."""
    wanted = asked.terms
    need = len(wanted & present)  # the distinct question terms present
    if need < 2 and asked.all_weighed:
        return 0.0, 0.0  # no window of two, and a question pair needs two of them: skip the scan of the terms
    positions = [i for i, t in enumerate(terms) if t in wanted]
    proximity = 0.0
    if need >= 2:
        # the shortest window holding every distinct matched term
        left, best = 0, len(terms)
        have: dict[str, int] = {}
        for pos in positions:
            have[terms[pos]] = have.get(terms[pos], 0) + 1
            while len(have) == need:
                best = min(best, pos - positions[left] + 1)
                first = terms[positions[left]]
                have[first] -= 1
                if not have[first]:
                    del have[first]
                left += 1
        proximity = need / best
    pairs = asked.pairs
    bigrams = 0.0
    if pairs:
        if asked.pair_starts <= wanted:  # a matching pair opens at a position already found
            last = len(terms) - 1
            found = {(terms[i], terms[i + 1]) for i in positions if i < last}
        else:
            found = set(itertools.pairwise(terms))
        bigrams = len(pairs & found) / len(pairs)
    return proximity, bigrams


def _near_question_terms(
    words: Sequence[tuple[int, int, str]], spans: Sequence[tuple[int, int]], wanted: frozenset[str]
) -> bool:
    """Whether a question word (or a synonym) stands within three words of one of the spans."""
    for start, end in spans:
        inside = [i for i, (s, e, _) in enumerate(words) if s < end and e > start]
        if not inside:
            inside = [sum(1 for s, _, _ in words if s < start)]
        lo, hi = max(inside[0] - 3, 0), min(inside[-1] + 4, len(words))
        if any(words[i][2] in wanted for i in range(lo, hi) if i not in inside):
            return True
    return False


_HOW_MANY = re.compile(r"\bhow\s+many\s+(?:more\s+|of\s+(?:the\s+)?)?((?:[^\W\d_]+\s*){1,4})", re.IGNORECASE)
# "how many got arrested": what is counted is the verb after these
_COUNTED_SKIP = frozenset({"got", "get", "gotten"})
# "how many people died": people, and what happened to them
_WHO_COUNTED = frozenset({"peopl", "ppl", "person"})


def _counted(question: Question) -> frozenset[str]:
    """What a "how many" question counts, with its synonyms: "how many ppl died" → people, died, killed, ... ."""
    match = _HOW_MANY.search(question.text) if question.answer_type in ("number", "duration") else None
    if not match:
        return frozenset()
    terms = [t for w in match.group(1).split() if w.casefold() not in _COUNTED_SKIP for t in tokenize(w)]
    counted = terms[:2] if terms and terms[0] in _WHO_COUNTED else terms[:1]
    return frozenset(itertools.chain(counted, *(related_terms(t) for t in counted)))


def _counts(words: Sequence[tuple[int, int, str]], spans: Sequence[tuple[int, int]], counted: frozenset[str]) -> bool:
    """Whether one of the spans holds or is followed within three words by what is counted ("20 bodies had been",
    "over three days")."""
    for start, end in spans:
        inside = sum(1 for s, e, _ in words if s >= start and e <= end)
        held_or_after = [t for s, _, t in words if s >= start][: inside + 3]
        if not counted.isdisjoint(held_or_after):
            return True
    return False


class Features(NamedTuple):
    rows: FloatArray  # one per candidate, columns as FEATURES
    # Per candidate, its spans of the expected answer type (answer_spans; empty when the question expects none):
    # found for the features, kept for bolding the quotes shown.
    answer_spans: list[list[tuple[int, int]]]


# A run of capitalised words, with the small words names keep inside ("Department for Work and Pensions").
_RUN_SMALL_WORDS = frozenset({"of", "and", "for", "the", "on", "in", "&"})
_CAPITALISED_RUN = re.compile(
    r"\b[A-Z][\w'’-]*(?:\s+(?:(?:" + "|".join(map(re.escape, _RUN_SMALL_WORDS)) + r")\s+)*[A-Z][\w'’-]*)+"
)
_VOWELS = frozenset("aeiou")


def acronyms_asked(question: Question) -> frozenset[str]:
    """The question's terms typed as initials ("ntsb", "dwp", "blm"): short, and no English word without a
    vowel is left among the terms (stop words take "by", "my", "why")."""
    return frozenset(t for t in question.weights if 2 <= len(t) <= 6 and t.isalpha() and _VOWELS.isdisjoint(t))


def spelled_out(sentence: str, acronyms: frozenset[str]) -> set[str]:
    """Which of ``acronyms`` the sentence spells out: "the National Transportation Safety Board" for "ntsb"."""
    found: set[str] = set()
    for run in _CAPITALISED_RUN.finditer(sentence):
        initials = "".join(w[0] for w in run.group().split() if w not in _RUN_SMALL_WORDS).casefold()
        found.update(a for a in acronyms if a in initials)  # one letter a word: consecutive whole words
    return found


def features(question: Question, candidates: Candidates) -> Features:
    """The candidates' feature rows and answer spans. Plain Python per row: numpy pays off only on the columns."""
    type_feature = _TYPE_FEATURE.get(question.answer_type)
    counted = _counted(question)
    yesno = question.answer_type == "yesno"
    asked = _QuestionTerms(question)
    acronyms = acronyms_asked(question)
    sentence_bm25 = candidates.sentence_bm25.tolist()
    meaning = list(candidates.meaning) or [0.0] * len(candidates)
    article_bm25 = candidates.article_bm25.tolist()
    article_cover = candidates.article_cover.tolist()
    ranks = candidates.article_rank.tolist()
    best_of_article: dict[int, float] = {}  # by article rank, which tells articles apart
    meaning_of_article: dict[int, float] = {}
    for rank, score, close in zip(ranks, sentence_bm25, meaning, strict=True):
        best_of_article[rank] = max(best_of_article.get(rank, 0.0), score)
        meaning_of_article[rank] = max(meaning_of_article.get(rank, -1.0), close)
    # Per title: its share of the question, and the question terms it lacks with their weight ("when did kobe
    # bryant *retire*" asked of "Kobe Bryant dies in helicopter crash" is about the sentence that says "retired").
    per_title: dict[str | None, tuple[float, dict[str, float], float]] = {}
    held: list[set[str]] = []  # per candidate, the question terms held by it and the sentence it refers to
    rows: list[list[float]] = []
    all_spans: list[list[tuple[int, int]]] = []
    for i, sentence in enumerate(candidates.texts):
        row = _ZERO_ROW.copy()  # a copy of a dict made once costs a sixth of dict.fromkeys
        # Character spans only matter when a typed span is looked for; plain terms are cheaper.
        words = candidates.words(i) if type_feature is not None else None
        terms = [t for _, _, t in words] if words is not None else candidates.term_list(i)
        present = set(terms)
        if acronyms and not acronyms <= present:
            present |= spelled_out(sentence, acronyms - present)  # "ntsb": "National Transportation Safety Board"
        cover = asked.cover(present)
        context, context_terms = cover.fuzzy, present
        previous = candidates.previous[i]
        back = refers_back(sentence, previous)
        if back and previous:
            previous_terms = set(candidates.previous_term_list(i))
            row["previous_cover"] = asked.fuzzy(previous_terms)
            context_terms = present | previous_terms
            context = asked.fuzzy(context_terms)
        held_terms = asked.held(context_terms)
        held.append(held_terms)
        title = candidates.titles[i]
        if title not in per_title:
            title_terms = set(candidates.title_term_list(i))
            # Exact: "say" in a title leaves "claimed" in the question to be asked about.
            free = {t: w for t, w in question.weights.items() if t not in title_terms}
            per_title[title] = (asked.fuzzy(title_terms), free, sum(free.values()))
        title_cover, free, free_total = per_title[title]
        if free_total > 0:
            row["focus_cover"] = sum(free.get(t, 0.0) for t in held_terms) / free_total
        elif candidates.positions[i] == 0:
            row["focus_cover"] = 1.0  # the question asks what the title says: the lead says it too
        rank = ranks[i]
        row["sentence_bm25"] = sentence_bm25[i]
        row["article_bm25"] = article_bm25[i]
        row["article_top"] = 1.0 / (1.0 + rank)
        row["best_in_article"] = 1.0 if sentence_bm25[i] >= best_of_article[rank] > 0 else 0.0
        row["cover"] = cover.exact
        row["cover_related"] = cover.related
        row["cover_fuzzy"] = cover.fuzzy
        row["cover_count"] = cover.held_count
        row["context_cover"] = context
        row["article_cover"] = article_cover[i]
        row["all_covered"] = 1.0 if cover.missing == 0.0 else 0.0
        row["unmatched_rare"] = cover.missing
        row["refers_back"] = 1.0 if back else 0.0
        row["neighbour"] = 1.0 if candidates.neighbour[i] else 0.0
        spans = answer_spans(sentence, question, words) if words is not None else []
        all_spans.append(spans)
        if type_feature is not None and words is not None:
            if spans:
                row[type_feature] = 1.0
                row["type_near_terms"] = 1.0 if _near_question_terms(words, spans, asked.wanted) else 0.0
                row["counts_asked"] = 1.0 if counted and _counts(words, spans, counted) else 0.0
                row["typed_cover"] = context
            else:
                row["type_missing"] = 1.0
        row["proximity"], row["bigrams"] = _proximity_and_bigrams(terms, asked, present)
        row["title_cover"] = title_cover
        row["first_sentence"] = 1.0 if candidates.positions[i] == 0 else 0.0
        row["lead_title"] = title_cover if candidates.positions[i] == 0 else 0.0
        row["log_length"] = math.log1p(len(terms))
        row["quotation"] = 1.0 if sentence.lstrip()[:1] in _QUOTE_MARKS else 0.0
        row["yesno_cover"] = cover.related if yesno else 0.0
        row["meaning"] = meaning[i]
        row["article_meaning"] = meaning_of_article[rank]
        rows.append(list(row.values()))
    out = np.array(rows, dtype=np.float64).reshape(len(rows), len(FEATURES))
    if held:
        # A term every candidate holds (the story's subject) tells them apart less than one few hold.
        share = {t: sum(t in h for h in held) / len(held) for t in question.weights}
        local = {t: w * (1.0 - share[t]) for t, w in question.weights.items()}
        total = sum(local.values())
        if total > 0:
            out[:, _COLUMN["local_cover"]] = [sum(local[t] for t in h) / total for h in held]
    return Features(out, all_spans)


# --------------------------------------------------------------------------------------------------
# Weights and scoring
# --------------------------------------------------------------------------------------------------

CONFIDENCE_FEATURES = (
    "bias",
    "best_score",  # the reader's score of the first quote
    "margin",  # ... minus the second's
    "best_cover",  # question share held by the first quote (with synonyms)
    "best_article_cover",
    "max_cover",  # the best coverage among all candidates
    "unmatched_rare",  # the largest share of one question term missing from the first quote and its article
    "unknown_share",  # share of the question's mass in words the corpus does not hold at all
    "missing_share",  # the largest share of one question term that the best article lacks
    "best_article_chance",  # the share of the question the first quote's article would hold by its length alone
    "type_found",
    "type_expected",
    "type_near_terms",
    "log_terms",
    "one_term",
    "best_meaning",  # the language model's cosine for the first quote (0 without a model)
    "max_meaning",  # the highest among the candidates
)


@dataclass(frozen=True, slots=True)
class ReaderWeights:
    """Linear scorers for sentences, one per answer family, and a logistic model for "this question is answered"
    (README)."""

    sentence: dict[str, tuple[float, ...]]  # answer family → weights over FEATURES
    confidence: tuple[float, ...]
    threshold: float  # answer when the confidence is at least this
    mean: tuple[float, ...]  # feature standardisation learned with the sentence weights
    scale: tuple[float, ...]
    confidence_mean: tuple[float, ...] = ()
    confidence_scale: tuple[float, ...] = ()
    recipe: str = ""

    @classmethod
    def load(cls, path: Path = WEIGHTS_PATH) -> ReaderWeights:
        data = json.loads(path.read_text(encoding="utf-8"))
        if (
            tuple(data["features"]) != FEATURES
            or tuple(data["confidence_features"]) != CONFIDENCE_FEATURES
            or not isinstance(data["sentence"], dict)
            or tuple(data["sentence"]) != ANSWER_FAMILIES
        ):
            raise ValueError(f"{path} was trained for other features; run `citebot tune` again")
        return cls(
            sentence={family: tuple(w) for family, w in data["sentence"].items()},
            confidence=tuple(data["confidence"]),
            threshold=float(data["threshold"]),
            mean=tuple(data["mean"]),
            scale=tuple(data["scale"]),
            confidence_mean=tuple(data["confidence_mean"]),
            confidence_scale=tuple(data["confidence_scale"]),
            recipe=data.get("recipe", ""),
        )

    def save(self, path: Path, extra: dict[str, object] | None = None) -> None:
        data = {
            "features": list(FEATURES),
            "confidence_features": list(CONFIDENCE_FEATURES),
            "sentence": {family: [round(w, 6) for w in ws] for family, ws in self.sentence.items()},
            "mean": [round(w, 6) for w in self.mean],
            "scale": [round(w, 6) for w in self.scale],
            "confidence": [round(w, 6) for w in self.confidence],
            "confidence_mean": [round(w, 6) for w in self.confidence_mean],
            "confidence_scale": [round(w, 6) for w in self.confidence_scale],
            "threshold": round(self.threshold, 6),
            "recipe": self.recipe,
            **(extra or {}),
        }
        path.write_text(json.dumps(data, indent=1) + "\n", encoding="utf-8")


@lru_cache(maxsize=2)
def default_weights(meaning: bool = False) -> ReaderWeights:
    """The shipped weights: for the lexical reader, or for one with the language model's meaning feature."""
    return ReaderWeights.load(MEANING_WEIGHTS_PATH if meaning else WEIGHTS_PATH)


def sentence_scores(rows: FloatArray, weights: ReaderWeights, answer_type: str) -> FloatArray:
    if not len(rows):
        return np.zeros(0)
    sentence = np.asarray(weights.sentence[answer_family(answer_type)])
    return ((rows - np.asarray(weights.mean)) / np.asarray(weights.scale)) @ sentence


def confidence_row(
    question: Question,
    candidates: Candidates,
    rows: FloatArray,
    scores: FloatArray,
    unknown_share: float,
    missing_share: float,
) -> FloatArray:
    """Question-level evidence for "the corpus answers this" (CONFIDENCE_FEATURES), from the ranked candidates."""
    col = _COLUMN
    typed = question.answer_type in ANSWER_TYPES
    n_terms = len(question.weights)
    values = {
        "bias": 1.0,
        "unknown_share": unknown_share,
        "missing_share": missing_share,
        "type_expected": 1.0 if typed else 0.0,
        "log_terms": math.log1p(n_terms),
        "one_term": 1.0 if n_terms <= 1 else 0.0,
        "unmatched_rare": 1.0,
    }
    if len(rows):
        order = (-scores).argsort(kind="stable")
        best = rows[order[0]]
        values |= {
            "best_score": scores[order[0]],
            "margin": scores[order[0]] - scores[order[1]] if len(order) > 1 else 1.0,
            "best_cover": best[col["context_cover"]],
            "best_article_cover": best[col["article_cover"]],
            # A long page holds the common words of any question: what its cover says depends on its length.
            "best_article_chance": candidates.article_chance[order[0]],
            "max_cover": rows[:, col["context_cover"]].max(),
            "unmatched_rare": best[col["unmatched_rare"]] * (1.0 - best[col["article_cover"]]),
            "type_found": 1.0 - best[col["type_missing"]] if typed else 0.0,
            "type_near_terms": best[col["type_near_terms"]],
            "best_meaning": best[col["meaning"]],
            "max_meaning": rows[:, col["meaning"]].max(),
        }
    return np.array([values.get(name, 0.0) for name in CONFIDENCE_FEATURES])


def confidence(row: FloatArray, weights: ReaderWeights) -> float:
    z = float(
        ((row - np.asarray(weights.confidence_mean)) / np.asarray(weights.confidence_scale))
        @ np.asarray(weights.confidence)
    )
    return 1.0 / (1.0 + math.exp(-max(min(z, 40.0), -40.0)))
