"""The errors every adapter reports the same way (bot/cli.py turns them into exit 1 with their message).
Their own module, importing nothing, so that the command line can catch them without loading the store or the
index."""

from __future__ import annotations


class StoreUnavailable(Exception):
    """The store cannot be used as it is: its server cannot be reached or refuses us, or its disk is full (or has
    no room for the copy an upgrade makes first); ``str()`` says which, why and what to do (no password)."""


def disk_full(what_is_full: str, what_to_free: str) -> StoreUnavailable:
    """The one message of a write the store's disk had no room for (SQLite's file, PostgreSQL's server)."""
    return StoreUnavailable(
        f"{what_is_full}: the last change was not stored (what was stored before it is intact). {what_to_free}, "
        "then try again; adding a file again skips the articles already stored."
    )


class ReindexNeeded(Exception):
    """The store's terms come from another analysis (tokeniser, stemmer, stop words) than this code's."""

    def __init__(self, stored: str, current: str) -> None:
        super().__init__(f"the store's terms were made by analysis {stored}, this citebot uses {current}")

    def advice(self, reindex: str) -> str:
        """The message with what to do: ``reindex``, the command as the host runs it on this store."""
        return f"{self}: run {reindex} (the bot runs it itself at start)"
