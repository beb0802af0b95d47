"""Settings from the environment and `.env`, validated once at start-up (documented in README.md and .env.example).

pydantic-settings reads the process environment first, then `.env` in the working directory, converts each
value to its type and reports every bad value at once; :func:`load_settings` turns that report into a
message naming each variable and what it should be.
"""

from __future__ import annotations

import difflib
import logging
import os
import shlex
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any

from pydantic import AliasChoices, Field, PrivateAttr, ValidationError, field_validator, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

from bot.core.location import check_model_folder, checked, local_path, without_password
from bot.core.models import MAX_RETENTION_DAYS

if TYPE_CHECKING:  # aiohttp is imported by the commands that fetch, not by every command's settings
    from bot.core.fetch import FetchPolicy

LOG_LEVELS = ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL")
ENV_FILE = ".env"
# CITEBOT_ variables that are no setting and no mistake: the tests' own (tests/conftest.py, test_crash.py).
NOT_SETTINGS = ("CITEBOT_TEST_", "CITEBOT_CRASH_SEED")


def default_corpus() -> Path:
    """The corpus/ folder of a checkout, else the one next to the working directory."""
    here = Path(__file__).resolve().parent.parent / "corpus"
    return here if here.is_dir() else Path("corpus")


PositiveInt = Annotated[int, Field(gt=0)]


class Settings(BaseSettings):
    model_config = SettingsConfigDict(
        env_file=ENV_FILE,
        env_file_encoding="utf-8",
        env_ignore_empty=True,  # `.env.example` leaves optional values blank: blank means "not set"
        extra="ignore",  # `.env` may hold other tools' variables
        frozen=True,
        validate_by_name=True,
        validate_default=True,
    )

    # The store: a SQLite file (a path or sqlite:///path) or a PostgreSQL URL (postgresql://user@host/db).
    db: str = Field("data/citebot.db", min_length=1, validation_alias=AliasChoices("CITEBOT_DB"))
    corpus: Path = Field(default_factory=default_corpus, validation_alias=AliasChoices("CITEBOT_CORPUS"))
    token: str | None = Field(None, validation_alias=AliasChoices("DISCORD_TOKEN"))
    dev_guild: int | None = Field(None, gt=0, validation_alias=AliasChoices("CITEBOT_DEV_GUILD"))
    api_base: str | None = Field(None, validation_alias=AliasChoices("CITEBOT_DISCORD_API_BASE"))
    gateway: str | None = Field(None, validation_alias=AliasChoices("CITEBOT_DISCORD_GATEWAY"))
    # Whether the host's corpus/ (scope "shared") is visible in every server.
    shared_corpus: bool = Field(True, validation_alias=AliasChoices("CITEBOT_SHARED_CORPUS"))
    cooldown_seconds: float = Field(10.0, ge=0, validation_alias=AliasChoices("CITEBOT_COOLDOWN_SECONDS"))
    cooldown_rate: int = Field(3, ge=0, validation_alias=AliasChoices("CITEBOT_COOLDOWN_RATE"))
    max_upload_bytes: PositiveInt = Field(5 * 1024 * 1024, validation_alias=AliasChoices("CITEBOT_MAX_UPLOAD_BYTES"))
    max_fetch_bytes: PositiveInt = Field(5 * 1024 * 1024, validation_alias=AliasChoices("CITEBOT_MAX_FETCH_BYTES"))
    # UNSAFE, tests only: lets add-by-URL reach loopback and private addresses (see bot/core/fetch.py).
    unsafe_allow_private_urls: bool = Field(False, validation_alias=AliasChoices("CITEBOT_UNSAFE_ALLOW_PRIVATE_URLS"))
    # Questions and the Discord user ids stored with them are deleted after this many days; 0 keeps them.
    retention_days: int = Field(
        90, ge=0, le=MAX_RETENTION_DAYS, validation_alias=AliasChoices("CITEBOT_RETENTION_DAYS")
    )
    # None: INFO for the bot, WARNING for one-off commands (their output is the point, not the log).
    log_level: str | None = Field(None, validation_alias=AliasChoices("CITEBOT_LOG_LEVEL"))
    # Discord gateway sharding across processes: how many shards in all, and which this process runs ("0-3", "4,5").
    shard_count: int | None = Field(None, ge=1, validation_alias=AliasChoices("CITEBOT_SHARD_COUNT"))
    shard_ids: str | None = Field(None, validation_alias=AliasChoices("CITEBOT_SHARD_IDS"))
    # A folder with the all-MiniLM-L6-v2 language model (model.safetensors, vocab.txt): the reader weighs meaning too.
    model: Path | None = Field(None, validation_alias=AliasChoices("CITEBOT_MODEL"))
    _db_given: bool = PrivateAttr(False)  # the store was named with --db (load_settings), which command() repeats

    @field_validator("log_level", mode="before")
    @classmethod
    def _known_level(cls, value: object) -> str | None:
        if value is None:
            return None
        level = str(value).strip().upper()
        if level not in LOG_LEVELS:
            raise ValueError(f"must be one of {', '.join(LOG_LEVELS)}")
        return level

    @field_validator("unsafe_allow_private_urls", mode="before")
    @classmethod
    def _exactly_one(cls, value: object) -> bool:
        # Unsafe: only the exact value 1 turns it on; a typo or "false" must leave the protection on.
        return value is True or str(value).strip() == "1"

    @field_validator("model")
    @classmethod
    def _model_folder(cls, value: Path | None) -> Path | None:
        if value is None:
            return None
        if not str(value).strip():  # " " (pydantic ignores only ""), like CITEBOT_CORPUS: no folder one can install to
            raise ValueError("names no folder: give the model's folder, or leave it empty to answer without the model")
        return check_model_folder(value)

    @field_validator("shard_ids")
    @classmethod
    def _shard_list(cls, value: str | None) -> str | None:
        if value is not None:
            parse_shard_ids(value)
        return value

    @model_validator(mode="after")
    def _shards_within_count(self) -> Settings:
        ids = self.shards
        if ids and self.shard_count is None:
            raise ValueError("CITEBOT_SHARD_IDS needs CITEBOT_SHARD_COUNT (the total number of shards)")
        if ids and self.shard_count is not None and max(ids) >= self.shard_count:
            raise ValueError(f"CITEBOT_SHARD_IDS must be below CITEBOT_SHARD_COUNT ({self.shard_count})")
        return self

    @property
    def shards(self) -> list[int] | None:
        """This process's shard ids; None: all of them (or no sharding)."""
        return parse_shard_ids(self.shard_ids) if self.shard_ids else None

    @property
    def syncs_commands(self) -> bool:
        """Exactly one process syncs the application commands: the one running shard 0 (or the only one)."""
        return self.shard_count is None or 0 in (self.shards or [0])

    @property
    def process_path(self) -> Path:
        """Beside which this process keeps its heartbeat: the store's local path, with the shard ids when sharded,
        so that processes serving other shards of one store run side by side."""
        if self.shard_count is None:
            return self.db_path
        ids = self.shard_ids or f"0-{self.shard_count - 1}"
        return self.db_path.with_name(f"{self.db_path.name}.shards-{ids.replace(',', '_')}")

    @field_validator("corpus")
    @classmethod
    def _a_folder(cls, value: Path) -> Path:
        # A file here was indexed as the whole shared corpus without a word; one file is `citebot index FILE`'s job.
        # os.path: False, not PermissionError, for a path this user may not look into (then a missing folder).
        if not str(value).strip():  # " " (pydantic ignores only ""): the working folder or a folder named " "
            raise ValueError("names no folder: give the folder of articles, or leave it empty for the default")
        if os.path.exists(value) and not os.path.isdir(value):
            folder = Path(os.path.abspath(value)).parent
            raise ValueError(
                f"is a file, not a folder: CITEBOT_CORPUS must be the folder of articles (e.g. {folder}); "
                f"to add this one file, run `citebot index {value}`"
            )
        return value

    @field_validator("db", mode="before")
    @classmethod
    def _store_location(cls, value: object) -> object:
        return str(value) if isinstance(value, Path) else value

    @field_validator("db")
    @classmethod
    def _known_store(cls, value: str) -> str:
        return checked(value)

    @property
    def db_path(self) -> Path:
        """The local file beside which the index snapshot, run lock and heartbeat live (see store.local_path)."""
        return local_path(self.db)

    def command(self, *words: str) -> str:
        """`citebot …` for the host to run next, on this same store: with --db when this command was given --db,
        since without it the command would act on CITEBOT_DB's store or the default one. A password shows as ***."""
        store = ["--db", without_password(self.db)] if self._db_given else []
        return f"`citebot {shlex.join([*store, *words])}`"

    @property
    def missing_store(self) -> str | None:
        """Why there is no store to read at CITEBOT_DB (a SQLite file that does not exist), and what to do; None
        when there is one, or it is PostgreSQL's. For the commands that must not make an empty store there."""
        from bot.core.location import is_postgres, sqlite_path

        path = sqlite_path(self.db)
        if is_postgres(self.db) or path.exists():
            return None
        # SQLAlchemy's spelling, which a host may not know: sqlite:///tmp/c.db is tmp/c.db, not /tmp/c.db.
        relative = self.db.startswith("sqlite:///") and not path.is_absolute()
        hint = f" ({self.db} is relative to the working folder; /{path} is sqlite:////{path})" if relative else ""
        return (
            f"there is no store at {path.resolve()}: check --db or CITEBOT_DB{hint}, or make one there "
            f"with {self.command('index')} (or {self.command('ask')}, which indexes the built-in corpus first)"
        )

    @field_validator("api_base", "gateway", "token", mode="before")
    @classmethod
    def _stripped(cls, value: object) -> object:
        return value.strip().rstrip("/") or None if isinstance(value, str) else value

    @field_validator("api_base", "gateway")
    @classmethod
    def _web_address(cls, value: str | None) -> str | None:
        if value is not None and not value.startswith(("http://", "https://", "ws://", "wss://")):
            raise ValueError("must be a full address starting with http(s):// or ws(s)://")
        return value

    def fetch_policy(self) -> FetchPolicy:
        if self.unsafe_allow_private_urls:
            logging.getLogger(__name__).warning(
                "CITEBOT_UNSAFE_ALLOW_PRIVATE_URLS is on: URL fetching may reach loopback and private addresses. "
                "Never use this in production."
            )
        from bot.core.fetch import FetchPolicy

        return FetchPolicy(max_bytes=self.max_fetch_bytes, allow_private_addresses=self.unsafe_allow_private_urls)


# The variable each field is read from, for messages.
ENV_NAMES = {
    name: str(field.validation_alias.choices[0])  # type: ignore[union-attr]
    for name, field in Settings.model_fields.items()
}


def parse_shard_ids(text: str) -> list[int]:
    """'0-3' → [0, 1, 2, 3]; '0,2,5-6' → [0, 2, 5, 6]."""
    ids: list[int] = []
    for part in text.replace(" ", "").split(","):
        low, dash, high = part.partition("-")
        if not low.isdigit() or (dash and not high.isdigit()) or (dash and int(high) < int(low)):
            raise ValueError("must be shard ids and ranges, e.g. 0-3 or 0,2,4")
        ids += range(int(low), int(high or low) + 1)
    return sorted(set(ids))


def _shown(field: str, value: object) -> object:
    """A setting's value as an error message may print it: never the token, never a store's password."""
    if field == "token":
        return "(hidden)"
    if isinstance(value, Path):  # a default checked too (CITEBOT_CORPUS's corpus/): shown as typed, not PosixPath(…)
        return str(value)
    return without_password(value) if isinstance(value, str) else value


class SettingsError(Exception):
    """Some settings are invalid; ``str()`` names each variable, its value and what it should be."""


_warned: set[str] = set()


def warn_unknown_variables() -> None:
    """Name each CITEBOT_ variable of the environment or `.env` that is no setting (`CITEBOT_CORPUSS`), once, with
    the setting it is closest to: pydantic-settings ignores it, so the setting it was meant for keeps its default."""
    from dotenv import dotenv_values  # pydantic-settings' own reader of .env

    known = set(ENV_NAMES.values())
    # Compared without the CITEBOT_ every name shares, which would make any two names look alike.
    by_word = {known_name.removeprefix("CITEBOT_"): known_name for known_name in known}
    # A blank value is "not set" for every setting, so a blank unknown one changes nothing either: not named (an old
    # .env's `CITEBOT_RENAMED=`, or `docker run --env-file` passing each blank line as an empty variable).
    try:
        from_file = dotenv_values(ENV_FILE, encoding="utf-8")
    except UnicodeDecodeError:  # load_settings says which line is not UTF-8
        from_file = {}
    values = [*os.environ.items(), *from_file.items()]
    given = {name.upper() for name, value in values if value and value.strip()}
    for name in sorted(given - known - _warned):
        if name.startswith("CITEBOT_") and not name.startswith(NOT_SETTINGS):
            _warned.add(name)
            word = name.removeprefix("CITEBOT_")
            # Else a setting the name only adds to ("CITEBOT_DB_PATH", "CITEBOT_CORPUS_DIR"): the longest such.
            longer = [known_word for known_word in by_word if word.startswith(known_word + "_")]
            closest = [
                by_word[w] for w in difflib.get_close_matches(word, by_word, n=1) or sorted(longer, key=len)[-1:]
            ]
            logging.getLogger(__name__).warning(
                "%s is not a citebot setting and is ignored%s (README.md, Configuration, lists every setting)",
                name,
                f": did you mean {closest[0]}?" if closest else "",
            )


def _check_env_file() -> None:
    """SettingsError for a `.env` that is not UTF-8 (a Latin-1 editor's é, Notepad's "Unicode", which is UTF-16),
    naming the file and where: pydantic-settings stopped on it with a bare UnicodeDecodeError traceback."""
    path = Path(ENV_FILE)
    if not path.is_file():
        return
    data = path.read_bytes()
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as error:
        line = data.count(b"\n", 0, error.start) + 1
        column = error.start - (data.rfind(b"\n", 0, error.start) + 1) + 1
        raise SettingsError(
            f"{path.resolve()} is not UTF-8 text: line {line}, at its byte {column} (0x{data[error.start]:02x}; byte "
            f"{error.start + 1} of the file). Save it as UTF-8 (an editor's Save As, encoding UTF-8) and start again."
        ) from None


def load_settings(**overrides: Any) -> Settings:
    """The settings from the environment and `.env`, every value checked; raises SettingsError. Unknown variables
    are named by :func:`warn_unknown_variables`, called once logging is set up (which needs these settings)."""
    _check_env_file()
    try:
        settings = Settings(**overrides)
        settings._db_given = "db" in overrides
        return settings
    except ValidationError as error:
        names = ENV_NAMES | {name: f"--{name}" for name in overrides}  # `citebot --db URL`: not CITEBOT_DB's fault
        lines = []
        for problem in error.errors():
            message = problem["msg"].removeprefix("Value error, ")
            if not problem["loc"]:  # a rule between settings: its message names them; the input is all of them
                lines.append(f"  {message}")
                continue
            where = str(problem["loc"][0])
            lines.append(f"  {names.get(where, where)}={_shown(where, problem['input'])!r}: {message}")
        raise SettingsError(
            "Invalid settings (from the environment or .env):\n" + "\n".join(lines) + "\nFix them and start again "
            "(README.md, Configuration, lists every setting)."
        ) from None
