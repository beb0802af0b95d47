"""Settings: read from the environment and `.env`, every value checked once, with messages that say what to fix."""

from __future__ import annotations

import logging
import os
import re
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import quote

import pytest

from bot import config
from bot.cli import main
from bot.config import ENV_NAMES, Settings, SettingsError, load_settings
from bot.core.errors import StoreUnavailable
from bot.core.fetch import FetchPolicy
from bot.core.location import without_password
from bot.core.store import open_store

pytestmark = pytest.mark.reads_dotenv


@pytest.fixture(autouse=True)
def clean_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """No CITEBOT_* variable and no .env from the machine running the tests; logging restored after."""
    for name in ENV_NAMES.values():
        monkeypatch.delenv(name, raising=False)
    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    level = root.level
    yield
    root.setLevel(level)


def test_dotenv_in_the_working_directory_is_read(tmp_path: Path) -> None:
    (tmp_path / ".env").write_text(
        "# copied from .env.example\nDISCORD_TOKEN=abc.def\nCITEBOT_DEV_GUILD=\nCITEBOT_COOLDOWN_RATE=5\n",
        encoding="utf-8",
    )
    settings = load_settings()
    assert settings.token == "abc.def"
    assert settings.dev_guild is None  # blank means not set, as .env.example leaves it
    assert settings.cooldown_rate == 5


def test_an_empty_value_is_the_default_for_every_setting(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """README: no setting gives an empty value a meaning, so `NAME=` in the environment or .env is "not set"."""
    defaults = Settings(_env_file=None)  # type: ignore[call-arg]
    (tmp_path / ".env").write_text("".join(f"{name}=\n" for name in ENV_NAMES.values()), encoding="utf-8")
    assert load_settings() == defaults
    for name in ENV_NAMES.values():
        monkeypatch.setenv(name, "")
    assert load_settings() == defaults


def test_the_environment_wins_over_dotenv(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (tmp_path / ".env").write_text("DISCORD_TOKEN=from-file\n", encoding="utf-8")
    monkeypatch.setenv("DISCORD_TOKEN", "from-env")
    assert load_settings().token == "from-env"


def test_run_finds_the_token_in_dotenv(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    """The README's step 1 puts the token in .env; `citebot run` must not then say "Set DISCORD_TOKEN"."""
    (tmp_path / "corpus").mkdir()
    # Nothing listens on port 9 of loopback: the login fails at once, after the token was found.
    (tmp_path / ".env").write_text(
        f"DISCORD_TOKEN=abc\nCITEBOT_DB={tmp_path / 'c.db'}\nCITEBOT_CORPUS={tmp_path / 'corpus'}\n"
        "CITEBOT_DISCORD_API_BASE=http://127.0.0.1:9/api/v10\n",
        encoding="utf-8",
    )
    assert main(["run"]) == 1
    err = capsys.readouterr().err
    assert "DISCORD_TOKEN" not in err.replace("(DISCORD_TOKEN)", "")
    assert "event=connection_failed" in caplog.text


def test_every_bad_value_is_reported_at_once_by_name(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MAX_FETCH_BYTES", "5MB")
    monkeypatch.setenv("CITEBOT_LOG_LEVEL", "loud")
    monkeypatch.setenv("CITEBOT_COOLDOWN_RATE", "-1")
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "CITEBOT_MAX_FETCH_BYTES='5MB'" in message
    assert "CITEBOT_LOG_LEVEL='loud': must be one of DEBUG, INFO" in message
    assert "CITEBOT_COOLDOWN_RATE='-1'" in message


@pytest.mark.parametrize(
    "bad",
    [{"CITEBOT_SHARD_IDS": "0-1"}, {"CITEBOT_SHARD_COUNT": "2", "CITEBOT_SHARD_IDS": "5"}, {"CITEBOT_SHARD_IDS": "x"}],
)
def test_bad_settings_never_print_the_token_or_a_store_password(
    bad: dict[str, str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """A rule between settings used to print every setting's value, the token among them."""
    monkeypatch.setenv("DISCORD_TOKEN", "MTAxNjQ4.FAKE.secretsecret")
    monkeypatch.setenv("CITEBOT_DB", "postgresql://citebot:hunter2@127.0.0.1:9/citebot")
    for name, value in bad.items():
        monkeypatch.setenv(name, value)
    with pytest.raises(SettingsError) as caught:
        load_settings()
    message = str(caught.value)
    assert "CITEBOT_SHARD_IDS" in message
    assert "secret" not in message and "hunter2" not in message


@pytest.mark.parametrize(
    "url", ["postgresq://citebot:hunter2@127.0.0.1:9/db", "postgresql+asyncpg://citebot:hunter2@127.0.0.1:9/db"]
)
def test_a_store_address_of_no_known_kind_is_refused_not_made_a_file(
    url: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """It used to become a SQLite file named after the URL, password and all, under the working directory."""
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("CITEBOT_DB", url)
    assert main(["ask", "who won"]) == 2
    err = capsys.readouterr().err
    assert "not a store address" in err and "hunter2" not in err and ":***@" in err
    with pytest.raises(SystemExit):
        main(["migrate-store", str(tmp_path / "a.db"), url])
    assert "not a store address" in capsys.readouterr().err
    assert list(tmp_path.iterdir()) == []


def test_cli_refuses_bad_settings_with_a_message_not_a_traceback(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.setenv("CITEBOT_MAX_FETCH_BYTES", "5MB")
    assert main(["list"]) == 2
    err = capsys.readouterr().err
    assert "CITEBOT_MAX_FETCH_BYTES='5MB'" in err and "Traceback" not in err


def test_fetch_limits_come_from_settings(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MAX_FETCH_BYTES", "1234")
    monkeypatch.setenv("CITEBOT_UNSAFE_ALLOW_PRIVATE_URLS", "1")
    policy = load_settings().fetch_policy()
    assert (policy.max_bytes, policy.allow_private_addresses) == (1234, True)


def test_defaults_match_the_fetchers_own() -> None:
    assert Settings(_env_file=None).fetch_policy() == FetchPolicy()  # type: ignore[call-arg]


@pytest.mark.parametrize("value", ["0", "true", "yes", " ", "2"])
def test_unsafe_private_urls_need_exactly_1(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_UNSAFE_ALLOW_PRIVATE_URLS", value)
    assert not load_settings().fetch_policy().allow_private_addresses


@pytest.mark.parametrize("value", ["0", "-5"])
def test_sizes_must_be_positive(value: str, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_MAX_UPLOAD_BYTES", value)
    with pytest.raises(SettingsError, match="CITEBOT_MAX_UPLOAD_BYTES"):
        load_settings()


def test_cli_honours_the_log_level(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("CITEBOT_LOG_LEVEL", "debug")
    (tmp_path / "c.db").touch()  # an empty file is a new SQLite store: `list` reads only a store that exists
    assert main(["--db", str(tmp_path / "c.db"), "list"]) == 0
    assert logging.getLogger().level == logging.DEBUG


def test_cli_is_quiet_by_default(tmp_path: Path) -> None:
    (tmp_path / "c.db").touch()
    assert main(["--db", str(tmp_path / "c.db"), "list"]) == 0
    assert logging.getLogger().level == logging.WARNING


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://citebot:hunter2@db/citebot", "postgresql://citebot:***@db/citebot"),
        ("postgresql://citebot:Ab3/xyZ+q9k=@127.0.0.1:5432/citebot", "postgresql://citebot:***@127.0.0.1:5432/citebot"),
        ("postgresql://citebot:s3cr@t/p#ss@db/citebot", "postgresql://citebot:***@db/citebot"),
        ("postgres://citebot:abc?def@db", "postgres://citebot:***@db"),
        ("postgresq://citebot:a@b:c@db", "postgresq://citebot:***@db"),
        ("postgresql://citebot@db:5432/citebot", "postgresql://citebot@db:5432/citebot"),
        ("postgresql://db:5432/citebot", "postgresql://db:5432/citebot"),
        ("postgresql://citebot@db/citebot?password=hunter2", "postgresql://citebot@db/citebot?password=***"),
        (
            "postgresql://citebot:pw@db/c?sslmode=verify-full&sslpassword=k3y&application_name=a@b",
            "postgresql://citebot:***@db/c?sslmode=verify-full&sslpassword=***&application_name=a@b",
        ),
    ],
)
def test_a_store_password_is_hidden_whatever_it_holds(url: str, shown: str) -> None:
    """The password is everything from the user's colon to the last @ before the query string, parsable URL or not;
    asyncpg also reads one from the query string (?password=), which `citebot config` and errors printed."""
    assert without_password(url) == shown


@pytest.mark.parametrize("password", ["Ab3/xyZ+q9k=", "abc?def", "s3cr@t/p#ss", "kq7#zx9"])
@pytest.mark.parametrize("command", [["list"], ["health"], ["config"], ["run"]])
def test_an_unencoded_password_stops_with_how_to_encode_it_never_shown(
    password: str, command: list[str], monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`openssl rand -base64` passwords hold / and +: such a URL crashed with "Port could not be cast to integer
    value as 'Ab3'", quoting the password, or connected to a host named after part of it."""
    monkeypatch.setenv("CITEBOT_DB", f"postgresql://citebot:{password}@127.0.0.1:9/citebot")
    assert main(command) == 2
    err = capsys.readouterr().err
    assert "CITEBOT_DB='postgresql://citebot:***@127.0.0.1:9/citebot'" in err
    assert "percent-encode" in err and "%2F" in err and "PGPASSWORD" in err and "Traceback" not in err
    assert not [piece for piece in re.split(r"[/?#@]", password) if len(piece) > 2 and piece in err]


def test_a_bad_db_option_is_named_as_the_option(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--db", "postgresql://citebot:Ab3/xyZ@db/citebot", "list"]) == 2
    err = capsys.readouterr().err
    assert "--db='postgresql://citebot:***@db/citebot': not a PostgreSQL URL" in err and "Ab3" not in err
    with pytest.raises(SystemExit):
        main(["migrate-store", "a.db", "postgresql://citebot:Ab3/xyZ@db/citebot"])
    err = capsys.readouterr().err
    assert "percent-encode" in err and "Ab3" not in err


def test_a_percent_encoded_password_is_taken_and_hidden(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    encoded = quote("s3cr@t/p#ss?Ab3+q9k=", safe="")
    monkeypatch.setenv("CITEBOT_DB", f"postgresql://citebot:{encoded}@db:5432/citebot")
    main(["config"])
    out = capsys.readouterr().out
    assert "postgresql://citebot:***@db:5432/citebot" in out and "s3cr" not in out


@pytest.mark.parametrize(
    ("url", "shown"),
    [
        ("postgresql://citebot@db/citebot?options=-c%20search_path%3Dx@y", None),
        ("postgresql://db:5432/citebot?sslmode=verify-full&sslrootcert=/certs/@x/root.crt", None),
        (
            "postgresql://citebot:pw@db/citebot?application_name=bot@host",
            "postgresql://citebot:***@db/citebot?application_name=bot@host",
        ),
        ("postgres://citebot:p%40ss@db?options=a@b", "postgres://citebot:***@db?options=a@b"),
    ],
)
def test_an_at_sign_in_the_query_string_is_no_password_s_end(url: str, shown: str | None) -> None:
    """The password ran to the URL's last @, wherever it was: `?sslrootcert=/certs/@x` was refused as an unencoded
    password, and shown with host and database hidden."""
    assert load_settings(db=url).db == url
    assert without_password(url) == (shown or url)


@pytest.mark.parametrize("password", ["50%ff", "%C3", "ab%e9cd"])
def test_a_percent_that_decodes_to_no_text_says_to_encode_it(password: str, capsys: pytest.CaptureFixture[str]) -> None:
    """Decoded to U+FFFD, such a password only ever got "password authentication failed"."""
    assert main(["--db", f"postgresql://citebot:{password}@127.0.0.1:9/citebot", "list"]) == 2
    err = capsys.readouterr().err
    assert "percent-encode" in err and "% → %25" in err and password not in err


async def test_a_refused_password_holding_a_percent_says_how_to_write_one(monkeypatch: pytest.MonkeyPatch) -> None:
    """An unencoded 50%41 reaches the server as 50A: nothing at start-up can tell, the failed login can."""
    import asyncpg

    from bot.core import store_postgres

    async def refuse(url: str, **options: object) -> None:
        raise asyncpg.InvalidPasswordError('password authentication failed for user "citebot"')

    monkeypatch.setattr(asyncpg, "connect", refuse)
    with pytest.raises(StoreUnavailable) as caught:
        await store_postgres.connect("postgresql://citebot:50%41@db/citebot")
    message = str(caught.value)
    assert "write a % in it as %25" in message and "PGPASSWORD" in message and "50%41" not in message
    with pytest.raises(StoreUnavailable) as caught:
        await store_postgres.connect("postgresql://citebot:hunter2@db/citebot")
    assert "%25" not in str(caught.value)  # no % in it: the password is simply wrong


@pytest.mark.parametrize("db", [" ", "sqlite:///", "{folder}", "sqlite:///{folder}"])
def test_a_blank_store_or_a_folder_is_refused_by_name_not_made_or_blamed_on_permissions(
    db: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`CITEBOT_DB=" "` made a store file named " "; a folder was "[Errno 21] … Make / writable by this user"."""
    (tmp_path / "stores").mkdir()
    monkeypatch.setenv("CITEBOT_DB", db.format(folder=tmp_path / "stores"))
    assert main(["ask", "who won"]) == 2
    err = capsys.readouterr().err
    assert "CITEBOT_DB=" in err and "writable" not in err and "Traceback" not in err
    assert (
        "names no store" in err
        if db.strip() in ("", "sqlite:///")
        else f"e.g. {tmp_path / 'stores' / 'citebot.db'}" in err
    )
    assert [path.name for path in tmp_path.iterdir()] == ["stores"]


async def test_a_store_opened_on_a_folder_says_so(tmp_path: Path) -> None:
    with pytest.raises(StoreUnavailable, match="is a folder, not a file") as caught:
        await open_store(tmp_path)
    assert "writable" not in str(caught.value)


def test_a_misspelt_variable_is_named_once_with_the_setting_it_is_closest_to(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Ignored without a word, `CITEBOT_CORPUSS` left the corpus at its default and the host wondering why."""
    monkeypatch.setattr(config, "_warned", set())
    monkeypatch.setenv("CITEBOT_CORPUSS", str(tmp_path))
    monkeypatch.setenv("CITEBOT_DB_PATH", str(tmp_path / "s.db"))  # nothing close, but it only adds to CITEBOT_DB
    monkeypatch.setenv("CITEBOT_TEST_POSTGRES_URL", "postgresql://citebot@db/test")  # the tests' own: no mistake
    (tmp_path / ".env").write_text("citebot_shard_id=1\nCITEBOT_FOO=1\nCITEBOT_LOG_LEVEL=info\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config.warn_unknown_variables()
        config.warn_unknown_variables()
    assert [record.getMessage().split(" (README")[0] for record in caplog.records] == [
        "CITEBOT_CORPUSS is not a citebot setting and is ignored: did you mean CITEBOT_CORPUS?",
        "CITEBOT_DB_PATH is not a citebot setting and is ignored: did you mean CITEBOT_DB?",
        "CITEBOT_FOO is not a citebot setting and is ignored",
        "CITEBOT_SHARD_ID is not a citebot setting and is ignored: did you mean CITEBOT_SHARD_IDS?",
    ]


def test_a_blank_variable_that_is_no_setting_is_not_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    """Blank is "not set" for every setting, so a blank unknown one changes nothing and is not worth a warning at
    every start: `docker run --env-file .env` passes each blank line of an old .env as an empty variable."""
    monkeypatch.setattr(config, "_warned", set())
    monkeypatch.setenv("CITEBOT_RENAMED", "")
    monkeypatch.setenv("CITEBOT_SPACES", "  ")
    (tmp_path / ".env").write_text("CITEBOT_GONE=\nCITEBOT_BARE\nCITEBOT_CORPUSS=articles\n", encoding="utf-8")
    with caplog.at_level(logging.WARNING, logger="bot.config"):
        config.warn_unknown_variables()
    assert [record.getMessage().split(" is not")[0] for record in caplog.records] == ["CITEBOT_CORPUSS"]


def test_a_corpus_of_spaces_is_refused_like_a_store_of_spaces(monkeypatch: pytest.MonkeyPatch) -> None:
    """`CITEBOT_CORPUS= ` (a stray space: `docker run --env-file` takes a value as written) was a folder named " "."""
    monkeypatch.setenv("CITEBOT_CORPUS", " ")
    with pytest.raises(SettingsError, match=r"CITEBOT_CORPUS=' ': names no folder"):
        load_settings()


def test_a_model_of_spaces_is_refused_like_a_corpus_of_spaces(
    monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """`CITEBOT_MODEL= ` was a folder named " ": "  is not a folder …; `citebot model install  ` puts the model
    there", a command that installs nowhere one can name."""
    monkeypatch.setenv("CITEBOT_MODEL", " ")
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert "CITEBOT_MODEL=' ': names no folder: give the model's folder, or leave it empty" in err
    assert "model install" not in err


def test_a_misspelt_variable_is_named_through_the_configured_logging(tmp_path: Path) -> None:
    """The warning came before logging was set up: a bare line unlike every other, shown even at
    CITEBOT_LOG_LEVEL=ERROR. A real process, since pytest's own handlers stand in for the configured one."""

    def citebot(*argv: str, **env: str) -> str:
        base = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))}
        done = subprocess.run(
            [sys.executable, "-m", "bot", *argv], cwd=tmp_path, env=base | env, capture_output=True, text=True
        )
        return done.stderr

    line = r"^\d{4}-\d\d-\d\d \d\d:\d\d:\d\d,\d{3} WARNING bot.config: CITEBOT_CORPUSS is not a citebot setting"
    assert re.search(line, citebot("config", CITEBOT_CORPUSS="articles"), re.MULTILINE)
    assert "CITEBOT_CORPUSS" not in citebot("config", CITEBOT_CORPUSS="articles", CITEBOT_LOG_LEVEL="error")
    # Named as well when the settings are refused: here the misspelling is the reason.
    err = citebot("config", CITEBOT_SHARDCOUNT="2", CITEBOT_SHARD_IDS="1")
    assert re.search(r"WARNING bot.config: CITEBOT_SHARDCOUNT .* did you mean CITEBOT_SHARD_COUNT\?", err)
    assert "CITEBOT_SHARD_IDS needs CITEBOT_SHARD_COUNT" in err


@pytest.mark.parametrize(
    ("content", "where"),
    [
        (b"DISCORD_TOKEN=abc\n# caf\xe9 notes\nCITEBOT_LOG_LEVEL=info\n", "line 2, at its byte 6 (0xe9; byte 24 of"),
        ("CITEBOT_LOG_LEVEL=info\n".encode("utf-16"), "line 1, at its byte 1 (0xff; byte 1 of"),  # Notepad's "Unicode"
    ],
    ids=["latin-1", "utf-16"],
)
def test_a_dotenv_that_is_not_utf8_is_named_with_where_not_a_traceback(
    content: bytes, where: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """pydantic-settings stopped on it with a bare UnicodeDecodeError traceback, naming neither file nor line. (The
    misspelt-name check, which reads .env too, runs after refused settings as well: it must not stop on it either.)"""
    (tmp_path / ".env").write_bytes(content)
    assert main(["config"]) == 2
    err = capsys.readouterr().err
    assert f"{tmp_path / '.env'} is not UTF-8 text: {where}" in err and "Save it as UTF-8" in err
    assert "Traceback" not in err
