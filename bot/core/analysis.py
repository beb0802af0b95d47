"""The stored terms' analysis version (bot.core.library.ANALYSIS_VERSION): the tokeniser's fingerprint and how
the article index weighs titles; and the same for quick commands, without importing the tokeniser.

Computing the version runs the stemmer, i.e. imports nltk (and numpy with it): half a second, more than
`citebot health` may spend. Every process that opens the store for answering has computed it anyway, so it
leaves a memo beside the store (``<db>.analysis.json``), keyed by what the version is made of: the source of
the modules that define the analysis, nltk's version and Python's (its regex and Unicode tables). A reader
whose key matches takes the memo; any other computes the version itself, so a stale memo is never believed.
"""

from __future__ import annotations

import hashlib
import importlib.util
import json
import os
import sys
from pathlib import Path

TITLE_REPEAT = 2  # the title counts this many times in the article index: headlines say what a story is about
# The modules whose source decides the analysis: the token rules and stemming, the stop words, and this one.
_SOURCES = ("text.py", "stopwords.py", "analysis.py")


def compute() -> str:
    """The version itself: runs the tokeniser (imports nltk)."""
    from bot.core import text

    return f"{text.analysis_version()}-title{TITLE_REPEAT}"


def memo_path(db: Path) -> Path:
    return db.with_name(db.name + ".analysis.json")


def code_key() -> str:
    """What the analysis version depends on, hashed: a few source files and two version strings (no imports)."""
    digest = hashlib.sha256(sys.version.encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    spec = importlib.util.find_spec("nltk")  # finds the package without importing it
    if spec is not None and spec.origin:
        version = Path(spec.origin).with_name("VERSION")
        digest.update(version.read_bytes() if version.is_file() else spec.origin.encode())
    return digest.hexdigest()[:16]


def remembered(db: Path) -> str | None:
    """The version in the memo beside ``db`` when it was written by code like this; else None."""
    try:
        memo = json.loads(memo_path(db).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(memo, dict) or memo.get("key") != code_key() or not isinstance(memo.get("analysis"), str):
        return None
    return memo["analysis"]


def remember(db: Path, version: str) -> None:
    """Leave the memo (atomically; a read-only folder only means the next quick command computes it)."""
    if remembered(db) == version:
        return
    path = memo_path(db)
    tmp = path.with_name(f"{path.name}.{os.getpid()}.tmp")
    try:
        tmp.write_text(json.dumps({"key": code_key(), "analysis": version}), encoding="utf-8")
        tmp.replace(path)
    except OSError:
        tmp.unlink(missing_ok=True)


def current(db: Path) -> str:
    """This code's analysis version: from the memo beside ``db`` if it is this code's, else computed."""
    version = remembered(db)
    return compute() if version is None else version  # computing imports nltk: slow, but exact
