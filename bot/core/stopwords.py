"""English stopwords for retrieval, kept in code so nothing is ever fetched from nltk_data.

Function words only: pronouns, articles, auxiliaries, prepositions, conjunctions, question words and
contractions. Content-bearing verbs such as "said" stay, because BM25's IDF already discounts them and a
question like "what did X say" should still be able to match them. "may" is left out on purpose (the month,
Theresa May). Entries are lower case, with ASCII
apostrophes (the tokenizer maps curly ones before looking up).
"""

from __future__ import annotations

_WORDS = """
    a an the
    i me my mine myself we us our ours ourselves you your yours yourself yourselves
    he him his himself she her hers herself it its itself they them their theirs themselves
    this that these those
    what which who whom whose when where why how whatever whoever whichever
    am is are was were be been being
    have has had having do does did doing done
    will would shall should can could might must ought
    and but or nor if then else than so because as until while though although
    of at by for with about against between into through during before after above below
    to from up down in out on off over under again further once
    here there all any both each few more most other some such only own same too very
    no not just also yet ever even
    s t d m ll re ve o y
    mr mrs ms
    eg ie etc vs
    i'm you're we're they're i've you've we've they've i'd you'd he'd she'd we'd they'd it'd
    i'll you'll he'll she'll we'll they'll it'll that'll there'll who'll
    that's there's here's what's who's where's when's why's how's it's he's she's let's
"""

STOPWORDS: frozenset[str] = frozenset(_WORDS.split())
