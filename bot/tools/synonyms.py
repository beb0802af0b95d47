"""`citebot synonyms WORDNET_DICT`: derive the reader's synonym table (bot/core/data/synonyms.txt) from WordNet.

The reader counts a question word as held when a sentence holds a synonym ("quit" → "resign"). Its hand-written
groups cover news verbs; WordNet covers the rest of the language. A whole synset is too loose ("die" would stand
for "go" and "pass"), so a word joins a synset's group only when that synset is among the word's first
SENSES senses (WordNet lists them most frequent first): each word of a group means the others in one of its
common senses. Groups are stored as stems of the current analysis, so nothing is stemmed at run time; a test
checks that the table was made with the analysis the code uses (after a change of stemmer, run this again).

WordNet 3.0's database files (``index.noun`` … ``data.verb``, as in nltk's "wordnet" data or Princeton's
``dict`` folder) are read as plain text, offline. WordNet's licence allows this use; its notice is in the table.
"""

from __future__ import annotations

import argparse
import re
import sys
from collections.abc import Iterator
from pathlib import Path

from bot.config import Settings
from bot.console import EXIT_ERROR, EXIT_OK
from bot.core import reader, text

SENSES = 2  # cross-validated across datasets (docs/answer-quality-log.md, session 19)
POS = ("noun", "verb", "adj", "adv")
_MARKER = re.compile(r"\(\w+\)$")  # adjective position markers: "galore(ip)"
NOTICE = (
    "# Synonyms derived from WordNet 3.0 by `citebot synonyms` (bot/tools/synonyms.py), as stems: on each line a\n"
    "# stem, then the stems that stand for it. WordNet's licence, which asks for its notice on every copy:\n"
    "#\n"
    "# WordNet Release 3.0\n"
    "#\n"
    "# This software and database is being provided to you, the LICENSEE, by\n"
    "# Princeton University under the following license.  By obtaining, using\n"
    "# and/or copying this software and database, you agree that you have\n"
    "# read, understood, and will comply with these terms and conditions.:\n"
    "#\n"
    "# Permission to use, copy, modify and distribute this software and\n"
    "# database and its documentation for any purpose and without fee or\n"
    "# royalty is hereby granted, provided that you agree to comply with\n"
    "# the following copyright notice and statements, including the disclaimer,\n"
    "# and that the same appear on ALL copies of the software, database and\n"
    "# documentation, including modifications that you make for internal\n"
    "# use or for distribution.\n"
    "#\n"
    "# WordNet 3.0 Copyright 2006 by Princeton University. All rights reserved.\n"
    "#\n"
    '# THIS SOFTWARE AND DATABASE IS PROVIDED "AS IS" AND PRINCETON\n'
    "# UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES, EXPRESS OR\n"
    "# IMPLIED.  BY WAY OF EXAMPLE, BUT NOT LIMITATION, PRINCETON\n"
    "# UNIVERSITY MAKES NO REPRESENTATIONS OR WARRANTIES OF MERCHANT-\n"
    "# ABILITY OR FITNESS FOR ANY PARTICULAR PURPOSE OR THAT THE USE\n"
    "# OF THE LICENSED SOFTWARE, DATABASE OR DOCUMENTATION WILL NOT\n"
    "# INFRINGE ANY THIRD PARTY PATENTS, COPYRIGHTS, TRADEMARKS OR\n"
    "# OTHER RIGHTS.\n"
    "#\n"
    "# The name of Princeton University or Princeton may not be used in\n"
    "# advertising or publicity pertaining to distribution of the software\n"
    "# and/or database.  Title to copyright in this software, database and\n"
    "# any associated documentation shall at all times remain with\n"
    "# Princeton University and LICENSEE agrees to preserve same.\n"
)


def _records(path: Path) -> Iterator[list[str]]:
    """The fields of each line of a WordNet database file (its licence header's lines start with spaces)."""
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(" "):
            yield line.split()


def _first_senses(index_file: Path, senses: int) -> dict[str, frozenset[int]]:
    """lemma → the offsets of its first ``senses`` synsets, from an index.<pos> file."""
    first: dict[str, frozenset[int]] = {}
    for fields in _records(index_file):
        pointers = int(fields[3])
        synset_count = int(fields[2])
        offsets = fields[4 + pointers + 2 :][:synset_count]
        first[fields[0]] = frozenset(int(o) for o in offsets[:senses])
    return first


def _synsets(data_file: Path) -> list[tuple[int, list[str]]]:
    """(offset, lemmas) of every synset in a data.<pos> file."""
    synsets = []
    for fields in _records(data_file):
        count = int(fields[3], 16)
        words = [_MARKER.sub("", w).lower() for w in fields[4 : 4 + 2 * count : 2]]
        synsets.append((int(fields[0]), words))
    return synsets


def groups(wordnet: Path, senses: int = SENSES) -> list[list[str]]:
    """Synonym groups as sorted stems: the single-word lemmas of a synset that is among their first senses."""
    found: set[tuple[str, ...]] = set()
    for name in POS:
        first = _first_senses(wordnet / f"index.{name}", senses)
        for offset, words in _synsets(wordnet / f"data.{name}"):
            stems = set()
            for word in words:
                if "_" in word or "-" in word or offset not in first.get(word, ()):
                    continue
                tokens = text.tokenize(word)
                if len(tokens) == 1:  # a stop word or a number has none
                    stems.add(tokens[0])
            if len(stems) > 1:
                found.add(tuple(sorted(stems)))
    return [list(g) for g in sorted(found)]


def write(path: Path, table: list[list[str]]) -> None:
    """One line per stem: the stem, then the stems of every group it is in (what the reader reads)."""
    lines = [f"{stem} {' '.join(sorted(others))}\n" for stem, others in sorted(reader.by_stem(table).items())]
    path.write_text("".join([NOTICE, f"# analysis {text.analysis_version()}\n", *lines]), encoding="utf-8")


async def cmd_synonyms(args: argparse.Namespace, settings: Settings) -> int:
    wordnet: Path = args.wordnet
    missing = [f for n in POS for f in (f"index.{n}", f"data.{n}") if not (wordnet / f).is_file()]
    if missing:
        print(f"{wordnet} is not a WordNet database folder: {', '.join(missing)} not found", file=sys.stderr)
        return EXIT_ERROR
    table = groups(wordnet, args.senses)
    write(args.write, table)
    print(f"wrote {len(table):,} groups of {len({s for g in table for s in g}):,} stems to {args.write}")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "synonyms",
        description="Derive the reader's synonym table from a WordNet 3.0 database folder (index.noun, data.noun, "
        "...): words that share a synset among their first few senses.",
    )
    p.add_argument("wordnet", type=Path, help="the folder holding WordNet's index.* and data.* files")
    p.add_argument("--senses", type=int, default=SENSES, help=f"how many of a word's senses count (default {SENSES})")
    p.add_argument(
        "--write",
        type=Path,
        default=reader.SYNONYMS_PATH,
        help="where to write the table (default: the one the reader ships with)",
    )
    p.set_defaults(handler=cmd_synonyms)
