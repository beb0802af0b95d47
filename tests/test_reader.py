"""The reader: question types, typed spans, small talk, features and the shipped weights, end to end."""

from __future__ import annotations

import contextlib
import dataclasses
import json
from collections.abc import AsyncIterator
from pathlib import Path

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from bot.core import reader, render
from bot.core.answer import AnswerParams, Candidate, compose
from bot.core.library import SHARED_SCOPE, Library
from bot.core.models import Answer, Article, Citation
from bot.core.stopwords import STOPWORDS
from bot.core.text import tokenize
from bot.tools import tune


@pytest.mark.parametrize(
    ("question", "expected"),
    [
        ("How many people were hurt in the fire?", "number"),
        ("how old was mugabe when he died", "age"),  # the first question phrase decides
        ("When did the strike start?", "date"),
        ("how long did the hoverboard guy take to cross the channel?", "duration"),
        ("How much did the club pay for the striker?", "money"),
        ("how much is india spending on its military", "money"),
        ("how much is salling paying for the stores", "money"),
        ("what percentage of voters backed leave", "percent"),
        ("who claimed Ukraine attacked the residence", "person"),
        ("which company bought the airline", "organisation"),
        ("where was soleimani killed", "place"),
        ("why did the minister resign", "reason"),
        ("what did don imus die of", "reason"),  # a cause of death is a reason
        ("what was the bishop sick with", "reason"),
        ("Did the US confirm the strike?", "yesno"),
        ("were the kids who died of measles vaccinated", "yesno"),  # a yes/no question, whatever follows
        ("do you know who won the election", "person"),  # ... unless it wraps another one
        ("can anyone tell me when the strike began", "date"),
        ("what did the report say about emissions", "other"),
        # typed the way members type: a qualified noun, "whos", counts without "how many"
        ("which ex uk pm used to stay at the hotel", "person"),
        ("whos moderating the last debate", "person"),
        ("what was doris day's real name?", "person"),
        ("what law firm did ford bring in", "organisation"),
        ("which uni is he at", "organisation"),
        ("which african country still hasnt signed the deal", "place"),
        ("bahamas hurricane death toll", "number"),
        ("what was the final score caloundra v wynnum", "number"),
        ("what was the house vote on impeaching trump", "number"),
        ("what was the turnout in the hong kong local elections", "percent"),
        ("what yr did conyers first get into congress", "date"),
        ("how did jim morrison die", "reason"),
        ("What artist did Kanye interrupt Taylor Swift to defend?", "person"),
        ("What was Chopin's full name?", "person"),
        ("In what borough is Pennsylvania Station located?", "place"),
        ("What was the population of Plymouth in 2001?", "number"),
        ("what did the party say about the vote", "other"),  # "did" is not a qualifier of "party"
        ("what were mps shouting in the commons when it got suspended", "other"),  # "when" sets the scene
        ("how much was rittenhouse's bail", "money"),
        ("what magnitude was the quake", "number"),
        ("which democrats voted against impeachment", "person"),
        ("which unis were behind the study", "organisation"),
        # a statement (a claim to check) asks for no span: its "who" and "when" open relative clauses
        ("Everyone who died in the bus crash was a tourist", "other"),
        ("Kosgei was wearing Nike shoes when she broke the record", "other"),
        ("since when had adamowicz been running gdansk", "date"),  # after a preposition "when" asks
        ("so who won the election", "person"),
        # the WHO is an organisation, however it is typed: no person asked for
        ("what did the WHO say about masks", "other"),
        ("what did the who say about masks", "other"),
        ("when did the who declare a pandemic", "date"),
        ("who is the WHO's chief", "person"),
        # question words as members contract them
        ("why'd the plant close", "reason"),
        ("whyd the plant close", "reason"),
        ("how'd he die", "reason"),
        ("when'd it start", "date"),
        ("y did he quit", "reason"),
        # and as chat spells them, opening the question; "Wat" with a capital is a temple's name
        ("wen did kobe retire", "date"),
        ("hw many ppl died", "number"),
        ("wat did trump say", "other"),
        ("Wat Phra Kaew reopened after the fire", "other"),
    ],
)
def test_answer_type(question: str, expected: str) -> None:
    assert reader.answer_type(question) == expected


@pytest.mark.parametrize(
    "message", ["hi", "thanks!", "ok", "lol", "help", "good bot", "what can you do?", "hello?? anyone here", "ty", "👍"]
)
def test_small_talk(message: str) -> None:
    assert reader.is_small_talk(message)


@pytest.mark.parametrize("message", ["help with brexit", "thanks, who won the election?", "hi what did lavrov say"])
def test_questions_with_content_words_are_not_small_talk(message: str) -> None:
    assert not reader.is_small_talk(message)


_FILLER = sorted(reader._CHAT_WORDS | STOPWORDS)


@given(st.lists(st.sampled_from(_FILLER), max_size=8), st.sampled_from(["brexit", "Zelensky", "drones", "vaccine"]))
def test_a_content_word_always_makes_a_question(filler: list[str], content: str) -> None:
    assert reader.is_small_talk(" ".join(filler) + "!")
    assert not reader.is_small_talk(" ".join([*filler, content]))


def test_typed_spans() -> None:
    text = (
        "Saudi officials said 5.7 million barrels, worth $400m or 12%, were lost on 4 February 2019 after "
        "Dr John Smith of the Labour Party spoke in Paris for two hours. He was 95."
    )

    def found(kind: str) -> list[str]:
        return [text[s:e] for s, e in reader.typed_spans(text, kind)]

    assert found("number") == ["5.7 million", "400m", "12", "4", "two", "95"]
    assert found("money") == ["$400m"]
    assert found("percent") == ["12%"]
    assert found("duration") == ["two hours"]
    assert found("date") == ["4 February 2019"]
    assert found("person") == ["Dr John Smith"]
    assert "Labour Party" in found("organisation")
    assert found("place") == ["Paris"]
    assert found("other") == []
    assert found("age") == ["95"]


def test_the_shipped_synonym_table_was_made_with_this_analysis() -> None:
    from bot.core.text import analysis_version

    analysis, table = reader.synonym_table()
    assert analysis == analysis_version(), "the stemmer changed: run `citebot synonyms WORDNET_DICT` again"
    assert len(table) > 20_000


def test_wordnet_synonyms_stand_for_question_words_beside_the_written_ones() -> None:
    def stem(word: str) -> str:
        return tokenize(word)[0]

    assert stem("discontinue") in reader.related_terms(stem("quit"))  # WordNet
    assert stem("resign") in reader.related_terms(stem("quit"))  # both
    assert stem("killed") in reader.related_terms(stem("died"))  # written: WordNet has no sense of one for the other
    assert stem("prison") in reader.related_terms(stem("jail"))  # written: in WordNet, two senses apart
    assert stem("depth") in reader.related_terms(stem("deep"))  # "how deep": "at a depth of 430 metres"
    assert stem("distance") in reader.written_related_terms(stem("far"))
    assert stem("explosion") in reader.written_related_terms(stem("blast"))  # "what caused the blast"
    assert stem("cancelled") in reader.written_related_terms(stem("scrapped"))
    assert stem("retired") in reader.written_related_terms(stem("quit"))  # "why did markova quit dancing"
    assert stem("evacuate") in reader.written_related_terms(stem("fled"))  # "Minnis urged residents to evacuate"
    assert stem("justices") in reader.written_related_terms(stem("judges"))  # "all 11 Justices"
    assert stem("king") in reader.written_related_terms("mlk")  # "how long did conyers push for mlk day"
    assert stem("australian") in reader.written_related_terms(stem("aussie"))
    assert stem("september") in reader.written_related_terms(stem("sept"))  # "the sept 20 climate strikes"
    assert stem("averaged") in reader.written_related_terms("avg")  # "on avg what % die": "averaged around 50%"
    assert stem("toilet") in reader.written_related_terms("loo")
    assert stem("liberal") in reader.written_related_terms("lib")  # "the lib dem candidate"
    assert stem("medication") in reader.written_related_terms(stem("meds"))
    assert stem("physician") in reader.written_related_terms("doc")  # "the white house doc"
    assert stem("struck") in reader.written_related_terms("hit")  # "what car hit harry dunn": "struck by a Volvo"
    assert stem("succumbed") in reader.written_related_terms(stem("died"))
    assert stem("led") in reader.written_related_terms(stem("captaining"))  # "The side will now be led by"
    assert stem("defence") in reader.written_related_terms(stem("military"))  # "India's defence budget"
    assert stem("mother") in reader.written_related_terms("mom")  # "who's hana kimura's mom": "Her mother is"
    assert stem("father") in reader.written_related_terms("dad")
    assert stem("journalist") in reader.written_related_terms("journo")
    # A text's "Hong Kong" is stored as "hong" and "kong": "hk" stood for "hongkong", which no article holds
    assert tokenize("Hong Kong")[-1] in reader.written_related_terms("hk")
    assert reader.related_terms("zzzz") == frozenset()
    # Retrieval looks up the written ones only: WordNet's would each cost a look-up in the postings.
    assert stem("resign") in reader.written_related_terms(stem("quit"))
    assert stem("discontinue") not in reader.written_related_terms(stem("quit"))


@pytest.mark.parametrize(
    ("sentence", "counts"),
    [
        ("After the death of her third husband, she moved.", []),  # an ordinal
        ("They led in the first half and the third quarter.", []),
        ("A third of voters and one-third of homes, half of the 300 staff.", ["third", "one-third", "half", "300"]),
        ("Miss Goody Two-Shoes met Twenty-two people.", ["Twenty-two"]),  # a number word inside a name
        ("She said no two people should marry; no one was hurt.", ["one"]),  # "no one": a count of none
        ("SARS-CoV-2 and COVID-19 killed 1,000; the score was 2-1.", ["1,000", "2-1"]),  # digits ending a name
    ],
)
def test_fractions_count_only_as_fractions(sentence: str, counts: list[str]) -> None:
    assert [sentence[s:e] for s, e in reader.typed_spans(sentence, "number")] == counts


@pytest.mark.parametrize(
    ("sentence", "ages"),
    [
        ("Former president Jacques Chirac dies aged 86", ["86"]),
        ("A 60-year-old man and his 13-year-old daughter died.", ["60-year-old", "13-year-old"]),
        ("Warholm, who is 23 years old, won in 47.42 seconds.", ["23 years old"]),
        ("Doris Day (97) died at home.", ["97"]),
        ("Adamowicz, 53, has supported LGBT rights.", ["53"]),  # in apposition after a name
        ("In March, 2019, it fell; Paris, 75008, France.", []),
        ("He scored 95 points in 2019 and was 3 minutes late.", []),
    ],
)
def test_age_spans_are_ages_not_any_number(sentence: str, ages: list[str]) -> None:
    assert [sentence[s:e] for s, e in reader.typed_spans(sentence, "age")] == ages


@given(st.text(max_size=300), st.sampled_from([*reader.ANSWER_TYPES, "yesno", "other"]))
def test_typed_spans_lie_inside_the_sentence_in_order(text: str, kind: str) -> None:
    spans = reader.typed_spans(text, kind)
    assert all(0 <= s < e <= len(text) for s, e in spans)
    assert spans == sorted(spans)


def test_answer_spans_leave_out_what_the_question_holds() -> None:
    question = reader.analyse("How many of the 91 drones were shot down?")
    sentence = "All 91 drones were shot down, 12 over Novgorod."
    assert [sentence[s:e] for s, e in reader.answer_spans(sentence, question)] == ["12"]


@pytest.mark.parametrize(
    ("sentence", "expected"),
    [
        ("She was 81.", True),
        ("It began on 22 December.", True),
        ("But they refused.", True),
        ("Storms hit.", False),
        ("These findings were published in May.", True),
        ("Both officers were injured and taken to hospital.", True),
        ("Both on Thursday received seven-year prison terms.", True),
        ("The singer must serve 15 days in prison.", True),  # after the sentence naming him: "the singer" is he
        ("The spokesman added that talks would go on.", True),
        # A time, a new subject or a pair named on the spot: nothing earlier is referred to.
        ("This morning Jacques Chirac died at home.", False),
        ("Those who stayed were evacuated.", False),
        ("Both houses of Parliament held a minute of silence.", False),
        ("Both Warren and Sanders spoke.", False),
        ("Both the House and the Senate passed it.", False),
    ],
)
def test_refers_back(sentence: str, expected: bool) -> None:
    assert reader.refers_back(sentence) is expected


def _candidates(texts: list[str], previous: list[str | None] | None = None) -> reader.Candidates:
    n = len(texts)
    return reader.Candidates(
        sentence_bm25=np.ones(n),
        article_bm25=np.ones(n),
        article_rank=np.zeros(n, dtype=np.int64),
        article_cover=np.ones(n),
        article_chance=np.zeros(n),
        positions=np.arange(1, n + 1),
        texts=texts,
        previous=previous or [None] * n,
        titles=["Fire at a warehouse"] * n,
        neighbour=np.zeros(n, dtype=bool),
    )


def test_the_sentence_with_the_count_beats_the_one_repeating_the_question() -> None:
    question = reader.analyse("How many people were hurt in the fire?")
    candidates = _candidates(
        ["People fled the fire as the fire spread to people's homes.", "Twelve people were hurt in the blaze."]
    )
    scores = reader.sentence_scores(
        reader.features(question, candidates).rows, reader.default_weights(), question.answer_type
    )
    assert scores[1] > scores[0]


def test_the_shipped_weights_match_the_features_and_say_how_they_were_made() -> None:
    weights = reader.default_weights()
    assert tuple(weights.sentence) == reader.ANSWER_FAMILIES
    assert all(len(w) == len(reader.FEATURES) for w in weights.sentence.values())
    assert len(weights.confidence) == len(reader.CONFIDENCE_FEATURES)
    assert 0 < weights.threshold < 1
    data = json.loads(reader.WEIGHTS_PATH.read_text(encoding="utf-8"))
    assert data["recipe"].startswith("citebot tune") and data["cross_validation"]


def test_training_learns_the_feature_that_marks_answers() -> None:
    rng = np.random.default_rng(3)
    examples = []
    for i in range(60):
        rows = rng.random((8, len(reader.FEATURES)))
        labels = np.zeros(8, dtype=bool)
        labels[i % 8] = True
        rows[:, reader.FEATURES.index("number_found")] = labels  # the answer is the one with a number
        question = reader.analyse("how many drones")
        examples.append(
            tune.Example("set", "set", str(i), question, _candidates(["x"] * 8), rows, labels, True, 0.0, 0.0)
        )
    weights, _, _ = tune.fit_sentence_weights(examples)
    assert int(np.argmax(weights["count"])) == reader.FEATURES.index("number_found")


SINGER = """---
title: Singer dies in Paris
source: Example News
date: 2026-01-09
---
The French singer Marie Dubois died on Friday in Paris, her family said.

She was 81.

Her last album was released in 2019 and sold a million copies.
"""


@contextlib.asynccontextmanager
async def library_holding(tmp_path: Path, *articles: Article) -> AsyncIterator[Library]:
    """A library on a new store in ``tmp_path`` holding ``articles`` in the shared scope."""
    library = await Library.open(tmp_path / "store.db")
    try:
        await library.add_articles([(a, f"article-{i}") for i, a in enumerate(articles)], SHARED_SCOPE)
        yield library
    finally:
        await library.close()


@pytest.fixture
async def singer(tmp_path: Path) -> AsyncIterator[Library]:
    library = await Library.open(tmp_path / "store.db")
    await library.add_bytes(SINGER.encode(), "singer.md", SHARED_SCOPE)
    await library.add_articles(
        [(Article("Storms closed roads in Dublin on Tuesday.", title="Storms"), "x")], SHARED_SCOPE
    )
    yield library
    await library.close()


async def test_the_answer_in_the_next_sentence_is_quoted_with_its_context(singer: Library) -> None:
    answer = await singer.ask("how old was the singer when she died", [SHARED_SCOPE])
    assert not answer.abstained
    quote = next(q for q in answer.quotes if q.text == "She was 81.")
    assert quote.context == "The French singer Marie Dubois died on Friday in Paris, her family said."
    assert [quote.text[s:e] for s, e in quote.answer_spans] == ["81"]
    payload = json.loads(render.to_json(answer))
    shown = next(q for q in payload["quotes"] if q["text"] == "She was 81.")
    assert shown["context"] == quote.context and shown["answer_spans"] == [[8, 10]]
    assert 0 <= payload["confidence"] <= 1
    text = render.to_text(answer, bold=True)
    assert f"{render.BOLD}81{render.PLAIN}" in text and "(before: “The French singer" in text


@pytest.mark.parametrize("message", ["thanks!", "hi", "lol", "help"])
async def test_small_talk_gets_a_pointer_never_a_quote(singer: Library, message: str) -> None:
    answer = await singer.ask(message, [SHARED_SCOPE], log_scope="guild:1")
    assert answer.abstained and answer.small_talk and not answer.quotes and not answer.closest
    assert "Ask me a question" in answer.message and 'citebot ask "' in render.to_text(answer)
    assert answer.query_id is None and not await singer.gaps("guild:1")  # never logged, never a "gap"


async def test_an_unrelated_question_abstains_with_a_low_confidence(singer: Library) -> None:
    answer = await singer.ask("What is the interest rate set by the central bank of Japan?", [SHARED_SCOPE])
    assert answer.abstained and answer.confidence < singer.reader_weights.threshold


async def test_an_abstention_names_only_articles_holding_much_of_the_question(singer: Library) -> None:
    """Not the singer's obituary as "closest" to a pizza question because both say "best"."""
    await singer.add_articles(
        [(Article("Her best album was recorded in Lyon over one summer.", title="Albums"), "best")], SHARED_SCOPE
    )
    unrelated = await singer.ask("what is the best pizza topping in naples", [SHARED_SCOPE])
    assert unrelated.abstained and not unrelated.closest
    assert "closest articles" not in unrelated.message


def test_quotes_below_the_hedge_level_are_framed_as_the_closest_found() -> None:
    params = AnswerParams()
    citation = Citation(1, "Storm hits the coast", "Example News", "2026-01-10", None)
    candidates = [Candidate(1, "Seven were killed, officials said.", 2.0, citation)]

    def composed(confidence: float, offset: int = 0) -> Answer:
        return compose(
            "how many died",
            candidates,
            params,
            confidence=confidence,
            threshold=0.2,
            articles_searched=1,
            offset=offset,
        )

    sure, doubtful, none = composed(0.9), composed(params.hedge_below - 0.01), composed(0.1)
    assert not sure.hedged and sure.message == "1 quote from 1 article:"
    assert doubtful.hedged and doubtful.quotes == sure.quotes
    assert doubtful.message == "I'm not sure this answers it. The closest I found, 1 quote from 1 article:"
    assert none.abstained and not none.quotes and not none.hedged
    assert json.loads(render.to_json(doubtful))["hedged"] is True
    past_the_end = composed(params.hedge_below - 0.01, offset=1)  # "more quotes" when there are none
    assert not past_the_end.quotes and not past_the_end.hedged


def test_words_no_article_holds_are_named_when_unsure() -> None:
    """ "Closest found" quotes for "how many died in the beirut blast" say no article mentions Beirut."""
    params = AnswerParams()
    citation = Citation(1, "Storm hits the coast", "Example News", "2026-01-10", None)
    candidates = [Candidate(1, "Seven were killed, officials said.", 2.0, citation)]

    def composed(confidence: float) -> Answer:
        return compose(
            "how many died in the beirut blast",
            candidates,
            params,
            confidence=confidence,
            threshold=0.2,
            articles_searched=1,
            unheard=("beirut", "blast"),
        )

    sure, doubtful, none = composed(0.9), composed(params.hedge_below - 0.01), composed(0.1)
    assert sure.message == "1 quote from 1 article:" and sure.unheard == ()  # a sure answer is not second-guessed
    assert doubtful.message == (
        "I'm not sure this answers it: no article mentions “beirut” or “blast”. The closest I found, 1 quote from 1 "
        "article:"
    )
    assert none.message.endswith("None of them mentions “beirut” or “blast”.")
    assert json.loads(render.to_json(none))["unheard"] == ["beirut", "blast"]


def test_unheard_words_are_the_question_words_as_typed() -> None:
    held = {"die", "ppl"}.__contains__
    assert reader.unheard_words("so how many ppl died in the Beirut blast lol", held) == ("Beirut", "blast")
    assert reader.unheard_words("Beirut beirut BEIRUT blast port harbour", lambda t: False) == (
        "Beirut",
        "beirut",
        "BEIRUT",
    )
    assert reader.unheard_words("hi thanks", lambda t: False) == ()  # chat words are never named


def test_a_context_already_quoted_above_is_not_shown_again() -> None:
    citation = Citation(1, "Warholm wins gold", "Example News", "2019-10-01", None)
    lead = "Karsten Warholm of Norway won the 400 metres hurdles final in Doha."
    candidates = [
        Candidate(1, lead, 3.0, citation),
        Candidate(2, "The silver medal was won by Rai Benjamin.", 2.0, citation, context="Warholm won gold."),
        Candidate(3, "This was a successful defense of his 2017 title.", 1.0, citation, context=lead),
    ]
    answer = compose("who won", candidates, AnswerParams(), confidence=0.9, threshold=0.2, articles_searched=1)
    assert [q.context for q in answer.quotes] == [None, "Warholm won gold.", None]
    assert render.to_text(answer).count("Karsten Warholm") == 1


STORM = """---
title: Storm hits the coast
source: Example News
date: 2026-01-10
---
A storm hit the coast on Monday.

The storm brought down power lines across the county.

Rescuers worked through the night.

Seven were killed, officials said.
"""


async def test_a_sentence_saying_it_in_other_words_is_quoted(tmp_path: Path) -> None:
    library = await Library.open(tmp_path / "store.db")
    try:
        await library.add_bytes(STORM.encode(), "storm.md", SHARED_SCOPE)
        answer = await library.ask("how many died in the storm?", [SHARED_SCOPE])
        assert any(q.text == "Seven were killed, officials said." for q in answer.quotes)
    finally:
        await library.close()


def test_spelling_variants_are_one_edit_away() -> None:
    variants = reader.spelling_variants("posion")
    assert {"poison", "posio", "position"} & variants == {"poison", "posio"}
    assert "posion" not in variants


async def test_a_misspelt_question_word_is_read_as_the_stored_one(singer: Library) -> None:
    answer = await singer.ask("how old was the singr when she died", [SHARED_SCOPE])
    assert any(q.text == "She was 81." for q in answer.quotes)


async def test_a_misspelling_keeps_its_first_letter(tmp_path: Path) -> None:
    """ "depresion" is one edit from "depression" and, stemmed, from "represent": the commoner word won, and "why did
    it stop counting as a tropical depresion" asked about representatives."""
    async with library_holding(
        tmp_path,
        Article("The storm no longer qualified as a tropical depression by Tuesday.", title="Storm fades"),
        *[
            Article(f"Representatives met in session {i} to represent their voters.", title=f"Session {i}")
            for i in range(3)
        ],
    ) as library:
        reading = await library.read("when did it stop being a tropical depresion", [SHARED_SCOPE], library.params)
        assert tokenize("depression")[0] in reading.question.weights


@pytest.mark.parametrize("question", ["what did the storm do b4 it faded", "why did the storm fade tho"])
def test_stop_words_as_chat_spells_them_are_not_asked_about(question: str) -> None:
    # "b4" held by no article weighed as the rarest word there is: "... ireland b4 lorenzo" was declined.
    terms = reader.question_terms(question)
    assert "b4" not in terms and "tho" not in terms and "storm" in terms


async def test_a_unit_glued_to_a_number_is_read_as_the_number(tmp_path: Path) -> None:
    """Members type "400m"; the article writes "400 metres". Unread, "400m" weighed as the rarest word there is."""
    async with library_holding(
        tmp_path,
        Article("Warholm won the 400 metres hurdles in Doha in 47.42 seconds.", title="Gold in Doha"),
        Article("Warholm trains in Oslo most winters.", title="Training"),
    ) as library:
        reading = await library.read("how fast did warholm run the 400m hurdles", [SHARED_SCOPE], library.params)
        assert "400" in reading.question.weights and "400m" not in reading.question.weights
        answer = await library.ask("how fast did warholm run the 400m hurdles", [SHARED_SCOPE])
        assert not answer.abstained and "47.42" in answer.quotes[0].text


async def test_a_mistyped_stop_word_is_not_asked_about(tmp_path: Path) -> None:
    """ "frm" and "otu" are "from" and "out" mistyped. Held by no article, each weighed as the rarest word there is,
    and "where did the golden toilet get stolen frm" was declined as asking about something no article holds."""
    async with library_holding(
        tmp_path,
        Article("The golden toilet was stolen on Saturday from Blenheim Palace.", title="Toilet stolen"),
        Article("Blenheim Palace reopened to visitors on Monday.", title="Reopened"),
    ) as library:
        for question in ("where did the golden toilet get stolen frm", "where was teh golden toilet stolen"):
            answer = await library.ask(question, [SHARED_SCOPE])
            assert not answer.abstained and answer.quotes[0].text.startswith("The golden toilet"), question
        answer = await library.ask("what did the guards see frm the palace", [SHARED_SCOPE])
        assert "guards" in answer.unheard and "frm" not in answer.unheard  # not a word the articles lack


@pytest.mark.parametrize(
    ("term", "expected"),
    [("frm", True), ("otu", True), ("teh", True), ("whcih", True), ("abot", True), ("ali", False), ("trump", False)],
)
def test_stop_words_as_members_mistype_them(term: str, expected: bool) -> None:
    assert reader.is_stop_word_typo(term) is expected


async def test_a_number_glued_to_a_word_is_read_as_the_word_the_articles_write(tmp_path: Path) -> None:
    """Members type "covid19"; the articles write "COVID-19" (terms "covid" and "19"). Unread, "covid19" weighed as
    the rarest word there is and matched nothing."""
    async with library_holding(
        tmp_path,
        Article("COVID-19 deaths in Peru passed 10,000 on Monday.", title="Peru toll"),
        Article("Peru's football league resumed on Monday.", title="Football"),
        Article("WDR proteins fold into a seven-bladed propeller.", title="Folding"),
    ) as library:
        reading = await library.read("covid19 deaths in peru", [SHARED_SCOPE], library.params)
        assert "covid" in reading.question.weights and "covid19" not in reading.question.weights
        # A gene's name is not its family's: "wdr5" is not "wdr" (SciFact's claims lost four answers so).
        reading = await library.read("what does wdr5 bind", [SHARED_SCOPE], library.params)
        assert "wdr5" in reading.question.weights and "wdr" not in reading.question.weights
        answer = await library.ask("how many covid19 deaths in peru", [SHARED_SCOPE])
        assert not answer.abstained and "10,000" in answer.quotes[0].text


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        ("whats the name of the book bolton put out", ["name", "book", "bolton", "put"]),
        ("has anyone been arrested over the crash", ["arrest", "crash"]),
        ("why didnt the ntsb investigate", ["ntsb", "investig"]),
        ("how many ppl actually voted", ["ppl", "vote"]),
        ("why tf did he quit", ["quit"]),
        # contracted question words are no words to search for ("whyd" weighed as the rarest there is)
        ("why'd the plant close", ["plant", "close"]),
        ("whyd the plant close", ["plant", "close"]),
        ("what're they doing", []),
        ("wen did kobe retire", ["kobe", "retir"]),  # "wen": when, no word to search for
        ("how old r those bone tools", ["old", "bone", "tool"]),  # "r": are, before a pronoun or determiner
        ("what did r kelly say", ["r", "kelli", "say"]),  # elsewhere a name's initial
        # "w/" and "w/o": with and without, no word "w"; "passed away" is "died", as reports write it too
        ("why wasnt new orleans worried w/ barry coming", ["new", "orlean", "worri", "barri", "come"]),
        ("did he travel w/o a mask", ["travel", "without", "mask"]),
        ("where did mendez pass away", ["mendez", "die"]),
        ("which hospital did he passed away in", ["hospit", "die"]),
        ("how long was archer locked up", ["long", "archer", "jail"]),
        # asking for news of a story: the story is searched ("latest" weighed more than "brexit")
        ("what's the latest on brexit?", ["brexit"]),
        ("any news about the grayback sub", ["grayback", "sub"]),
        ("any updates on the toilet paper limits", ["toilet", "paper", "limit"]),
        ("what was the latest poll", ["latest", "poll"]),  # a word of the question here
        ("who broke the news that gloria vanderbilt died", ["broke", "news", "gloria", "vanderbilt", "die"]),
    ],
)
def test_what_members_type_around_a_question_is_not_searched_for(question: str, terms: list[str]) -> None:
    assert reader.question_terms(question) == terms


@pytest.mark.parametrize(
    ("question", "terms"),
    [
        # "u" (you) is chat filler, but it ate the U of "U.S." and left "U.K." as "k"
        ("what did the U.S. say", ["usa", "say"]),
        ("did the u.k. vote to leave", ["uk", "vote", "leav"]),
        ("how r u", []),  # "how are you"
        ("what did the E.U. decide", ["eu", "decid"]),
        ("when did the who declare a pandemic", ["who", "declar", "pandem"]),  # "the WHO", typed lower case
        # lower-case "us" is the pronoun after a verb or a preposition, the country where it cannot be one
        ("how many us covid deaths", ["usa", "covid", "death"]),
        ("did us troops leave iraq", ["usa", "troop", "leav", "iraq"]),
        ("why is the uk part of that us led patrol", ["uk", "part", "usa", "led", "patrol"]),
        ("us president says what", ["usa", "presid", "say"]),
        ("what did trump tell us", ["trump", "tell"]),
        ("what does the ruling mean for us", ["rule", "mean"]),
        ("how many of us voted", ["vote"]),
    ],
)
def test_the_us_the_uk_and_the_who_are_named_however_members_type_them(question: str, terms: list[str]) -> None:
    assert reader.question_terms(question) == terms


async def test_a_chat_abbreviation_is_read_as_the_word_the_articles_use(singer: Library) -> None:
    # "ppl" is in no article: it stands for "people", and weighs as that common word, not as the rarest there is.
    await singer.add_articles(
        [
            (
                Article(
                    "Many people came. Twelve people were hurt when the stage fell. It was frightening.", title="Stage"
                ),
                "y",
            )
        ],
        SHARED_SCOPE,
    )
    reading = await singer.read("how many ppl were hurt at the stage", [SHARED_SCOPE], singer.params)
    assert reading.question.tokens == ("peopl", "hurt", "stage")
    assert reading.question.weights["peopl"] < reading.question.weights["hurt"]


async def test_the_reader_uses_the_stored_terms_and_judges_as_if_it_tokenised_again(store_location: str) -> None:
    library = await Library.open(store_location)
    try:
        await library.add_bytes(SINGER.encode(), "singer.md", SHARED_SCOPE)
        for question in (
            "how old was the singer when she died",
            "where did the singer die",
            "when was her last album released",
        ):
            reading = await library.read(question, [SHARED_SCOPE], library.params)
            candidates = reading.candidates
            assert len(candidates) and all(terms is not None for terms in candidates.terms)
            # Titles' terms too, read from the article's stored terms (the title's come first).
            assert [list(t or ()) for t in candidates.title_terms] == [tokenize(t or "") for t in candidates.titles]
            assert all(terms is not None for terms in candidates.title_terms)
            tokenised = dataclasses.replace(candidates, terms=(), previous_terms=(), title_terms=())
            stored, again = reader.features(reading.question, candidates), reader.features(reading.question, tokenised)
            assert np.array_equal(stored.rows, again.rows)
            assert stored.answer_spans == again.answer_spans
            assert [candidates.words(i) for i in range(len(candidates))] == [
                tokenised.words(i) for i in range(len(candidates))
            ]
    finally:
        await library.close()


def test_a_bare_after_or_following_is_evidence_of_a_reason_but_not_bolded_as_one() -> None:
    sentence = "Following the vote, he resigned because of the scandal, after weeks of pressure."
    spans = reader.typed_spans(sentence, "reason")
    assert {sentence[s:e] for s, e in spans} >= {"Following", "because", "after"}
    assert [sentence[s:e] for s, e in reader.shown_spans(sentence, spans)] == ["because"]


@pytest.mark.parametrize(
    ("sentence", "kind", "spans"),
    [
        ("The artwork was valued at five to six million US dollars.", "money", ["six million"]),
        ("Each victim will get a payout of one million rubles.", "money", ["one million"]),
        ("The city lost 2 billion Hong Kong dollars.", "money", ["2 billion"]),
        ("The US sent 2 million doses.", "money", []),  # "US" then no currency: not money
        ("The phenomenon lasted about an hour.", "duration", ["an hour"]),
        ("It lasted two hours and then a day more.", "duration", ["two hours", "a day"]),
    ],
)
def test_amounts_and_durations_as_the_news_writes_them(sentence: str, kind: str, spans: list[str]) -> None:
    assert [sentence[s:e] for s, e in reader.typed_spans(sentence, kind)] == spans


@pytest.mark.parametrize(
    ("sentence", "kind", "names"),
    [
        ("Nancy Pelosi yesterday resumed the office of Speaker of the House.", "person", ["Nancy Pelosi"]),
        ("NASA said it would launch on Monday.", "organisation", ["NASA"]),
        ("Officials said three people died.", "person", []),  # every sentence's first word is capitalised
        ("The Prime Minister spoke.", "person", ["Prime Minister"]),  # "The": a stop word, never a name
    ],
)
def test_a_name_that_opens_the_sentence_is_found(sentence: str, kind: str, names: list[str]) -> None:
    # "who got voted in as house speaker": the answer's name opened the sentence and was neither found nor bolded.
    assert [sentence[s:e] for s, e in reader.typed_spans(sentence, kind)] == names


@pytest.mark.parametrize(
    ("sentence", "cue"),
    [
        ("The government announced the cause of death as a cardiac arrest.", "cause"),
        ("The killing occurred in the forest in a bid to gain jackal meat and teeth.", "in a bid to"),
        ("For this reason, he was not granted bail.", "For this reason"),
        ("Fars News said the crash involved pilot error.", "error"),
        ("The court found the advice was motivated by an improper purpose.", "motivated"),
        ("Tory MP Jonathan Sayeed is to stand down on the grounds of ill health.", "on the grounds"),
        ("The rise reflects stronger spending by businesses.", "reflects"),
        ("Last year, poor health was cited when he stepped down from his position.", "cited"),
        ("Nieminen pulled out with an abdominal injury.", "injury"),
        ("The phasing out of the franc was intended to distance the country from its past.", "intended to"),
        ("In a livestream, Sanders shared his reasoning with his supporters.", "reasoning"),
        ("One of the advantages of using bovid ribs was that they would not break.", "advantages of"),
    ],
)
def test_a_reason_is_found_by_its_cue_words(sentence: str, cue: str) -> None:
    # "why" and "what caused" are answered by these; without a cue the sentence counted as holding no reason.
    assert cue in [sentence[s:e] for s, e in reader.typed_spans(sentence, "reason")]


def test_a_count_of_what_was_asked_is_marked() -> None:
    question = reader.analyse("how many bodies have they recovered from the dive boat fire")
    counted = "As of late Tuesday, 20 bodies had been recovered, eleven women and nine men."
    other = "The boat was 75 ft long and carried 39 passengers."
    rows = reader.features(question, _candidates([counted, other])).rows
    column = reader.FEATURES.index("counts_asked")
    assert rows[:, column].tolist() == [1.0, 0.0]


@pytest.mark.parametrize(
    "question",
    ["how many got arrested at the rally", "how many people were arrested at the rally", "how many were arrested"],
)
def test_a_count_of_what_happened_is_marked_too(question: str) -> None:
    """Not "got" as the thing counted, and "people" alone says little: the verb is what is counted."""
    counted = "Twenty people were arrested, according to the mayor's office."
    other = "Several thousand people rallied at Freedom Plaza, 12 of them from out of state."
    rows = reader.features(reader.analyse(question), _candidates([counted, other])).rows
    assert rows[:, reader.FEATURES.index("counts_asked")].tolist()[0] == 1.0


@pytest.mark.parametrize(
    ("question", "sentence"),
    [
        ("did the ntsb investigate the bus crash", "The National Transportation Safety Board was absent."),
        ("how many jobs are being cut at the dwp", "The Department for Work and Pensions will cut 10,000 jobs."),
        ("was the stabbing connected to the blm protest", "A Black Lives Matter protest took place earlier."),
    ],
)
def test_initials_a_member_types_are_held_by_the_name_spelled_out(question: str, sentence: str) -> None:
    """Members type "ntsb"; articles write "the National Transportation Safety Board" without the initials."""
    rows = reader.features(reader.analyse(question), _candidates([sentence])).rows
    spelled = rows[0, reader.FEATURES.index("cover")]
    words_only = reader.features(reader.analyse(question), _candidates([sentence.lower()])).rows
    assert spelled > words_only[0, reader.FEATURES.index("cover")]


def test_only_initials_are_looked_for_in_capitalised_names() -> None:
    asked = reader.acronyms_asked(reader.analyse("why did the ntsb and the war office fly to new york"))
    assert asked == {"ntsb"}  # "war", "fly", "york": words, not initials
    assert reader.spelled_out("The National Safety Board met.", asked) == set()  # not every letter
    assert reader.spelled_out("The National Transportation Safety Board met.", asked) == {"ntsb"}


def test_a_duration_in_the_unit_asked_is_marked() -> None:
    """A span of days counts what "how many days" asks; "19 years" is a duration too, but not of days."""
    question = reader.analyse("how many days was the comic convention on this year")
    counted = "Spread between four venues over three days, May 24 to 26, the event featured voice actors."
    other = "Then just 19 years old, she looked at the role as a chance, having questioned her abilities for years."
    rows = reader.features(question, _candidates([counted, other])).rows
    assert rows[:, reader.FEATURES.index("counts_asked")].tolist() == [1.0, 0.0]


def test_focus_cover_is_what_the_question_asks_beyond_the_title() -> None:
    column = reader.FEATURES.index("focus_cover")
    beyond = reader.analyse("when will the warehouse fire inquiry report")  # "inquiry", "report": not in the title
    texts = ["The fire at the warehouse burned all night.", "The inquiry will report in June."]
    assert reader.features(beyond, _candidates(texts)).rows[:, column].tolist() == [0.0, 1.0]
    # Asked what the title says: the lead is the answer the title sums up.
    whole = reader.analyse("fire at a warehouse?")
    lead_first = dataclasses.replace(_candidates(texts), positions=np.arange(2))
    assert reader.features(whole, lead_first).rows[:, column].tolist() == [1.0, 0.0]


async def test_quotes_stay_on_the_story_asked_about(tmp_path: Path) -> None:
    library = await Library.open(tmp_path / "store.db")
    try:
        await library.add_articles(
            [
                (
                    Article(
                        "The roof of Notre Dame cathedral in Paris caught fire yesterday. The fire started at about "
                        "19:00 local time. Firefighters saved the towers of Notre Dame. The cause of the fire at "
                        "Notre Dame was not stated.",
                        title="Notre Dame in Paris catches fire",
                    ),
                    "notre-dame",
                ),
                (
                    Article(
                        "A hotel fire in Delhi killed guests overnight. At least seventeen people died in the fire, "
                        "officials said. Many people died in their rooms.",
                        title="Hotel fire kills seventeen in Delhi",
                    ),
                    "delhi",
                ),
                # Other stories make "people", "died" and "fire" common words, as they are in a real corpus.
                *(
                    (Article(f"{n} people died in a fire in a {place} yesterday.", title=f"Fire in a {place}"), place)
                    for n, place in [("Two", "factory"), ("Five", "school"), ("Nine", "market"), ("Four", "farm")]
                ),
            ],
            SHARED_SCOPE,
        )
        question = "how many people died in the notre dame fire"
        on_story = await library.ask(question, [SHARED_SCOPE], quotes=6)
        library.params = dataclasses.replace(library.params, off_story_gap=None)
        unlimited = await library.ask(question, [SHARED_SCOPE], quotes=6)
    finally:
        await library.close()
    assert any("Notre Dame" not in (c.title or "") for q in unlimited.quotes for c in q.citations)  # the limit's work
    assert on_story.quotes and all("Notre Dame" in (c.title or "") for q in on_story.quotes for c in q.citations)


async def test_the_latest_on_a_story_is_quoted_from_its_newest_article(tmp_path: Path) -> None:
    async with library_holding(
        tmp_path,
        Article(
            "Brexit talks stalled again. Brexit means the UK leaves the EU. The Brexit deadline is in March.",
            title="Brexit talks stall",
            date="2019-03-01",
        ),
        Article("The Brexit bill passed its final vote on Thursday.", title="Parliament votes", date="2020-01-09"),
        Article("Brexit was debated at length in the autumn.", title="Autumn debate", date="2019-10-02"),
        Article("A storm closed roads in Dublin.", title="Storm", date="2020-02-01"),  # newer, not on the story
    ) as library:
        latest = await library.ask("what's the latest on brexit?", [SHARED_SCOPE])
        assert latest.quotes[0].text == "The Brexit bill passed its final vote on Thursday."
        dates = [q.citations[0].date or "" for q in latest.quotes]
        assert dates == sorted(dates, reverse=True)
        # Asked without wanting the news, the sentence that says most about it comes first, whatever its date.
        about = await library.ask("what does brexit mean", [SHARED_SCOPE])
        assert about.quotes[0].text == "Brexit means the UK leaves the EU."
