"""Where a store is: a SQLite file or a PostgreSQL URL, the local files kept beside it, and the names `citebot
health` reads in it (migrations, the pruned log's bound); and what a language model's folder must hold. Its own
module, importing no database driver, so that quick commands and the settings can use it without paying for
aiosqlite, asyncpg or numpy."""

from __future__ import annotations

import os
import re
from pathlib import Path
from urllib.parse import unquote, urlsplit

POSTGRES_SCHEMES = ("postgresql://", "postgres://")
MIGRATION_NAME = re.compile(r"V(\d+)__\w+\.sql$")
# meta key: every change-log entry numbered up to this may have been deleted (Store.prune_changes). A follower
# whose index is older than that cannot catch up entry by entry and rebuilds from the store instead.
PRUNED_KEY = "changes_pruned_through"
# scheme://user:password@host: the password runs from the user's colon to the last @, not the first, since an
# unencoded password may hold / # ? or @, any of which ends a URL's user part for every URL parser.
USER_PASSWORD = re.compile(r"^([A-Za-z][A-Za-z0-9+.-]*://[^:/?#@]*:)(.*)@", re.DOTALL)
# Where the query string begins: a ? and a parameter's name (?sslmode=, ?options=, ?sslrootcert=). An @ after it is
# the query's (options=-c search_path=a@b, sslrootcert=/certs/@x), not a password's end; a password's own ? is
# seldom followed by a name and an =.
QUERY = re.compile(r"\?[A-Za-z_][A-Za-z0-9_]*=")
QUERY_PASSWORD = re.compile(r"([?&](?:ssl)?password=)[^&]*", re.IGNORECASE)
PERCENT_ENCODE = (
    "not a PostgreSQL URL (postgresql://user:password@host:port/database): percent-encode the password's / # ? @ "
    'and % (/ → %2F, # → %23, ? → %3F, @ → %40, % → %25; python3 -c "import urllib.parse; '
    "print(urllib.parse.quote(input(), safe=''))\" encodes it), or leave the password out of the URL and set PGPASSWORD"
)


def checked(location: str) -> str:
    """A store location as given, or ValueError for an address of no store we know ("postgresq://…",
    "postgresql+asyncpg://…"), which would otherwise be taken as a relative SQLite file path, for a blank one or a
    folder, and for a PostgreSQL URL that no parser reads as meant."""
    if "://" in location and not location.startswith((*POSTGRES_SCHEMES, "sqlite:///")):
        raise ValueError(
            "not a store address: give a file path, sqlite:///path or postgresql://user:password@host/database"
        )
    if not location.removeprefix("sqlite:///").strip():  # else a store file named " ", or the working folder
        raise ValueError("names no store: give a file path, sqlite:///path or postgresql://user:password@host/database")
    if not is_postgres(location) and sqlite_path(location).is_dir():
        raise ValueError(a_folder(sqlite_path(location)))
    if is_postgres(location):
        # Unencoded, a password's / ? # or @ moves the host, cuts the URL short or makes a port of a word, which
        # asyncpg reports (if at all) as a bad port, in words that quote the password.
        password = password_of(location) or ""
        if any(mark in password for mark in "/?#@"):
            raise ValueError(PERCENT_ENCODE)
        # An unencoded % before two hex digits that make no UTF-8 (50%ff) is decoded to U+FFFD, and the server's
        # "password authentication failed" never says why. (%41 decodes to A: that, only a failed login can show.)
        try:
            _ = unquote(password, errors="strict")
        except UnicodeDecodeError:
            raise ValueError(PERCENT_ENCODE) from None
        try:
            _ = urlsplit(location).port
        except ValueError:
            raise ValueError(PERCENT_ENCODE) from None
    return location


def a_folder(path: Path) -> str:
    """What to say of a store location that is a folder (SQLite would say "unable to open database file")."""
    return f"is a folder, not a file: name the store's file, e.g. {path / 'citebot.db'}"


def is_postgres(location: str | Path) -> bool:
    return str(location).startswith(POSTGRES_SCHEMES)


def sqlite_path(location: str | Path) -> Path:
    """A path, or ``sqlite:///relative/file.db`` / ``sqlite:////absolute/file.db`` (SQLAlchemy's spelling)."""
    text = str(location)
    return Path(text.removeprefix("sqlite:///")) if text.startswith("sqlite:///") else Path(text)


def local_path(location: str | Path) -> Path:
    """The local file the index snapshot, the bot's run lock and heartbeat are kept beside: the SQLite file
    itself, or for PostgreSQL ``data/<host>-<port>-<database>.postgres`` (relative to the working directory,
    like the default SQLite store; each process keeps its own)."""
    if not is_postgres(location):
        return sqlite_path(location)
    parts = urlsplit(str(location))
    database = parts.path.lstrip("/") or parts.username or "postgres"
    name = re.sub(r"[^A-Za-z0-9_.-]", "_", f"{parts.hostname or 'local'}-{parts.port or 5432}-{database}")
    return Path("data") / f"{name}.postgres"


def _before_query(location: str) -> str:
    """The URL up to its query string (all of it when it has none)."""
    query = QUERY.search(location)
    return location[: query.start()] if query else location


def password_of(location: str) -> str | None:
    """A URL's password as written (percent-encoded or not), or None."""
    password = USER_PASSWORD.match(_before_query(location))
    return password.group(2) if password else None


def without_password(location: str) -> str:
    """The store's location as messages may show it: a URL's password replaced by ``***``, even in a URL no parser
    reads (an unencoded password is the likeliest reason for that)."""
    head = _before_query(location)
    # asyncpg also takes the password (and the client key's) from the query string: ?password=…, &sslpassword=…
    query = QUERY_PASSWORD.sub(r"\1***", location[len(head) :])
    return USER_PASSWORD.sub(r"\1***@", head, count=1) + query


MODEL_FILES = ("model.safetensors", "vocab.txt")  # what bot/core/semantic.py reads of a model's folder


class ModelError(ValueError):
    """The model folder is missing, incomplete or not a BERT model the reader can run."""


def check_model_folder(folder: Path) -> Path:
    """The folder, if it holds the files the encoder reads; otherwise a ModelError saying what is missing."""
    install = f"`citebot model install {folder}` puts the model there"
    # A model installed by root (a strict umask, root's home) and read by the bot's own user: said, not a traceback.
    unreadable = (
        f"this user may not read {{}}: make the model readable to the user citebot runs as (chmod -R a+rX {folder})"
    )
    try:
        if not folder.is_dir():
            raise ModelError(f"{folder} is not a folder holding {' and '.join(MODEL_FILES)}; {install}")
        missing = [name for name in MODEL_FILES if not (folder / name).is_file()]
    except PermissionError as error:
        raise ModelError(unreadable.format(error.filename)) from None
    if missing:
        raise ModelError(f"{folder} has no {' or '.join(missing)}; {install}")
    for name in MODEL_FILES:
        if not os.access(folder / name, os.R_OK):
            raise ModelError(unreadable.format(folder / name))
    return folder
