"""The command line: `citebot [--db PATH|URL] COMMAND ...`. A thin adapter over bot.core.library.

Imports are lazy: the index, the tokeniser (nltk), aiohttp and discord.py are loaded by the commands that use
them, and a command that lives in its own module (`_ELSEWHERE`) is imported only when it is the one run. So
`citebot health` (Docker runs it every minute) and `citebot --help` start in a fraction of a second.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import difflib
import importlib
import os
import re
import signal
import sys
from collections.abc import Callable, Coroutine, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

from bot import __version__
from bot.console import (
    EXIT_ERROR,
    EXIT_OK,
    EXIT_USAGE,
    STOPPED_ADDING,
    STOPPED_WHOLE,
    ProgressBar,
    print_report,
    scope_argument,
    setup_logging,
    whole_number,
)
from bot.core.errors import ReindexNeeded, StoreUnavailable
from bot.core.location import ModelError
from bot.core.models import MAX_RETENTION_DAYS, SHARED_SCOPE

if TYPE_CHECKING:
    from bot.config import Settings
    from bot.core.library import Library

Handler = Callable[[argparse.Namespace, "Settings"], Coroutine[Any, Any, int]]

# Commands registered by their own modules: name → (module, one line for `citebot --help`). The module is
# imported, and registers its commands' arguments, only when one of its commands is on the command line.
_ELSEWHERE: dict[str, tuple[str, str]] = {
    "eval": ("bot.tools.evaluate", "measure answer quality on a dataset (corpus.jsonl + queries.jsonl)"),
    "tune": ("bot.tools.tune", "learn the reader's weights, cross-validated across datasets"),
    "bench": ("bot.tools.bench", "benchmark citebot's index against rank-bm25 on the same tokens"),
    "synonyms": ("bot.tools.synonyms", "derive the reader's synonym table from a WordNet database folder"),
    "model": ("bot.tools.model", "install the optional language model the reader can weigh meaning with"),
    "run": ("bot.discord.runner", "start the Discord bot"),
    "sync": ("bot.discord.runner", "sync the slash commands with Discord and exit"),
    "export": (
        "bot.tools.backup",
        "write articles as JSON lines (readable by `citebot import` and `citebot index`)",
    ),
    "import": ("bot.tools.backup", "restore articles from a `citebot export` file, verbatim"),
    "backup": (
        "bot.tools.backup",
        "copy the store with SQLite's online backup (safe while the bot runs) and verify the copy",
    ),
    "health": (
        "bot.tools.health",
        "check the store, the index and (when running) the bot's gateway; exit 0 healthy, 1 not",
    ),
    "migrate-store": (
        "bot.tools.migrate",
        "copy a whole store from SQLite to PostgreSQL or back, and check the row counts",
    ),
}


async def _open(settings: Settings, *, create: bool = True, answers: bool = False) -> Library:
    """The library at settings.db. ``create`` False (commands that only read or change what is stored): a SQLite
    store that does not exist is an error, not a new empty store made where a mistyped CITEBOT_DB points.
    ``answers``: with the language model (CITEBOT_MODEL), which only answering reads."""
    from bot.core.library import Library

    if not create:
        _require_store(settings)
    model = settings.model if answers else None
    return await Library.open(settings.db, fetch_policy=settings.fetch_policy(), model=model)


def _require_store(settings: Settings) -> None:
    if (missing := settings.missing_store) is not None:
        raise StoreUnavailable(missing)


async def cmd_index(args: argparse.Namespace, settings: Settings) -> int:
    given = args.paths or [str(settings.corpus)]
    paths = [Path(p) for p in given]
    library = await _open(settings)
    notes = []
    try:
        bar = ProgressBar("indexing", unit="article")
        report = await library.add_paths(
            paths,
            args.scope,
            progress=bar,
            stored_sentences=bar.sentences,
            reading=ProgressBar("reading", unit="file"),
        )
        # After indexing: a renamed file's article now comes from its new name, so it is not taken for gone.
        for name, path in zip(given, paths, strict=True):
            gone = await library.files_gone(path, args.scope)
            if args.prune and gone and (pruned := await library.prune(path, gone, args.scope)):
                report.pruned += pruned
                gone = []  # every one removed (here, or by another process meanwhile)
            if gone:
                report.gone += gone
                notes.append(_gone_note(settings, name, args.scope, len(gone), pruning=args.prune))
        if args.scope == SHARED_SCOPE and settings.corpus.resolve() in {p.resolve() for p in paths}:
            # Indexed by hand is seeded: a later start must not bring back the sample articles removed since.
            await library.mark_corpus_seeded()
    finally:
        await library.close()
    print_report(report)
    for note in notes:
        print(note)
    return EXIT_ERROR if report.rejected and not (report.added or report.unchanged or report.moved) else EXIT_OK


def _gone_note(settings: Settings, folder: str, scope: str, count: int, *, pruning: bool) -> str:
    """What to do about the articles of files no longer in ``folder`` (as the host typed it)."""
    articles = f"{count} article{'s' if count != 1 else ''} came from files no longer in {folder}"
    them = "them" if count != 1 else "it"
    if pruning:  # Library.prune removed nothing: the folder holds no article file at all
        return (
            f"{articles}, and it holds no article file at all, so none was removed: if it is a disk or a share, "
            f"mount it and run this again; if you emptied it on purpose, remove {them} with "
            f"{settings.command('remove', 'ID', *_scoped(scope))}"
        )
    return f"{articles}: run {settings.command('index', folder, *_scoped(scope), '--prune')} to remove {them}"


def _scoped(scope: str) -> list[str]:
    """The --scope a command given next needs to act on ``scope`` (none for the shared one, its default)."""
    return ["--scope", scope] if scope != SHARED_SCOPE else []


async def cmd_add(args: argparse.Namespace, settings: Settings) -> int:
    library = await _open(settings)
    try:
        if args.source.startswith(("http://", "https://")) or "://" in args.source:
            report = await library.add_url(args.source, args.scope)
        else:
            report = await library.add_paths([Path(args.source)], args.scope)
            if not Path(args.source).exists() and "." in args.source.split("/")[0]:
                print(f"(a web page? give its whole address: https://{args.source})", file=sys.stderr)
    finally:
        await library.close()
    print_report(report)
    return EXIT_ERROR if report.rejected else EXIT_OK


async def cmd_remove(args: argparse.Namespace, settings: Settings) -> int:
    library = await _open(settings, create=False)
    try:
        removed = await library.remove(args.id, [args.scope])
    finally:
        await library.close()
    if removed is None:
        print(f"No article #{args.id} in scope {args.scope!r}. {_ids(settings, args.scope)}", file=sys.stderr)
        return EXIT_ERROR
    print(f"removed #{removed.id} {removed.title or 'untitled'}")
    return EXIT_OK


def _ids(settings: Settings, scope: str) -> str:
    return f"{settings.command('list', *_scoped(scope))} shows the ids."


async def cmd_list(args: argparse.Namespace, settings: Settings) -> int:
    library = await _open(settings, create=False)
    try:
        rows = await library.list([args.scope], offset=args.offset, limit=args.limit, search=args.search)
        total = await library.count([args.scope])
        # With --search, "3 of 280" read as 280 matches: how many match, for paging with --offset, is its own count.
        matching = await library.count([args.scope], search=args.search) if args.search else 0
    finally:
        await library.close(save_snapshot=False)
    for a in rows:
        print(f"#{a.id:<6} {a.date or '----------':10}  {(a.source or 'unknown')[:24]:24}  {a.title or 'untitled'}")
    if args.search:
        print(f"({len(rows)} of {matching} articles matching {args.search!r}, of {total} in scope {args.scope!r})")
    else:
        print(f"({len(rows)} of {total} articles in scope {args.scope!r})")
    return EXIT_OK


async def cmd_show(args: argparse.Namespace, settings: Settings) -> int:
    library = await _open(settings, create=False)
    try:
        article = await library.get(args.id, [args.scope], with_text=True)
    finally:
        await library.close(save_snapshot=False)
    if article is None:
        print(f"No article #{args.id} in scope {args.scope!r}. {_ids(settings, args.scope)}", file=sys.stderr)
        return EXIT_ERROR
    print(f"#{article.id}  {article.title or 'untitled'}")
    print(f"outlet: {article.source or 'unknown'}   date: {article.date or 'unknown'}   url: {article.url or 'none'}")
    print(f"added {article.added_at} from {article.origin or 'unknown'}\n")
    print(article.text)
    return EXIT_OK


async def cmd_ask(args: argparse.Namespace, settings: Settings) -> int:
    question = " ".join(args.question).strip()
    if not question:
        print('Give a question, e.g. citebot ask "Why did Johnson suspend Parliament?"', file=sys.stderr)
        return EXIT_USAGE
    library = await _open(settings, answers=True)
    try:
        bar = ProgressBar(f"indexing {settings.corpus} (first run)", unit="article")
        await library.seed_corpus(
            settings.corpus, enabled=settings.shared_corpus, progress=bar, stored_sentences=bar.sentences
        )
        answer = await library.ask(question, [args.scope], quotes=args.top, log_scope=args.scope)
    finally:
        await library.close()
    from bot.core import render

    print(
        render.to_json(answer) if args.json else render.to_text(answer, bold=sys.stdout.isatty()),
        end="" if not args.json else "\n",
    )
    return EXIT_OK


async def cmd_config(args: argparse.Namespace, settings: Settings) -> int:
    """Every setting as this command sees it (after the environment and .env), secrets hidden, paths resolved:
    what a host checks before `citebot run`, since relative paths are read from the folder citebot starts in."""
    from bot.config import ENV_FILE, ENV_NAMES
    from bot.core.location import is_postgres, without_password
    from bot.core.semantic import SentenceEncoder

    problems = []
    env_file = Path(ENV_FILE).resolve()
    print(f"{'.env':34}{env_file} ({'read' if env_file.exists() else 'none here'})")
    for name in type(settings).model_fields:
        value = getattr(settings, name)
        if name == "token":
            shown = "set (hidden)" if value else "not set (citebot run needs it)"
        elif name == "db":
            shown = without_password(value)
            if not is_postgres(value):
                path = settings.db_path.resolve()
                shown = f"{path}" + ("" if path.exists() else " (no store yet: the first ask or index makes it)")
        elif name == "corpus":
            shown = str(value.resolve())
            if settings.shared_corpus and not value.exists():
                shown += " (MISSING: nothing to index)"
                problems.append(f"{ENV_NAMES[name]}: the folder {value.resolve()} does not exist")
        elif name == "model" and value is not None:
            shown = str(value.resolve())
            try:  # loaded, not only looked at: a file cut short or damaged stops `citebot run`, so say so here
                await asyncio.to_thread(SentenceEncoder, value)
            except ModelError as error:
                shown += " (UNUSABLE: citebot run would stop)"
                problems.append(f"{ENV_NAMES[name]}: {error}")
        else:
            shown = "not set" if value is None else str(value)
        print(f"{ENV_NAMES[name]:34}{shown}")
    for problem in problems:
        print(f"! {problem}", file=sys.stderr)
    return EXIT_ERROR if problems else EXIT_OK


async def cmd_reindex(args: argparse.Namespace, settings: Settings) -> int:
    """Stop the bot first (or let it do this itself at start): other processes refuse the store until done."""
    from bot.core.library import reindex

    _require_store(settings)  # not a new empty store where a mistyped path points
    rewritten = await reindex(settings.db, progress=ProgressBar("re-tokenising"))
    print(f"re-tokenised {rewritten} articles" if rewritten else "the stored terms are up to date: nothing to do")
    return EXIT_OK


async def cmd_purge(args: argparse.Namespace, settings: Settings) -> int:
    days = settings.retention_days if args.older_than is None else args.older_than
    if args.older_than is None and days == 0:
        print("CITEBOT_RETENTION_DAYS=0 keeps questions forever; give --older-than DAYS to purge.", file=sys.stderr)
        return EXIT_USAGE
    library = await _open(settings, create=False)
    try:
        deleted = await library.purge_questions(days)
    finally:
        await library.close(save_snapshot=False)
    print(f"deleted {deleted} logged question{'s' if deleted != 1 else ''} older than {days} days")
    return EXIT_OK


class _Parser(argparse.ArgumentParser):
    """argparse, and for a mistyped command the one meant: "citebot aks" → did you mean 'ask'?"""

    def error(self, message: str) -> NoReturn:
        typed = re.search(r"invalid choice: '([^']*)' \(choose from (.*)\)", message)
        if typed:
            commands = re.findall(r"'([^']*)'", typed.group(2))
            if close := difflib.get_close_matches(typed.group(1), commands, n=1):
                message = f"unknown command '{typed.group(1)}'; did you mean '{close[0]}'? (citebot --help lists them)"
        super().error(message)


def build_parser(argv: Sequence[str] = ()) -> argparse.ArgumentParser:
    """The whole parser; commands of ``_ELSEWHERE`` get their arguments only when named in ``argv``."""
    parser = _Parser(
        prog="citebot",
        description="Answer questions about the news with quoted, cited sentences from your own articles.",
        epilog='Start with: citebot ask "Did the US confirm the Putin residence strike?"',
    )
    parser.add_argument(
        "--db",
        help="the store: a SQLite file (path or sqlite:///path) or postgresql://user@host/db"
        " (default: $CITEBOT_DB, else data/citebot.db)",
    )
    parser.add_argument("--version", action="version", version=f"citebot {__version__}")
    parser.add_argument("-v", "--verbose", action="store_true", help="log what happens")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")

    def command(name: str, handler: Handler, help_text: str, stopped: str | None = None) -> argparse.ArgumentParser:
        p = sub.add_parser(name, help=help_text, description=help_text)
        p.set_defaults(handler=handler, stopped=stopped)
        return p

    def scoped(p: argparse.ArgumentParser) -> argparse.ArgumentParser:
        p.add_argument(
            "--scope",
            type=scope_argument,
            default=SHARED_SCOPE,
            help="whose articles: 'shared' (default) or guild:<server id>",
        )
        return p

    p = scoped(command("ask", cmd_ask, "ask a question; indexes the corpus first if the store is empty"))
    p.add_argument("question", nargs="+", help="the question, in plain English")
    p.add_argument("--json", action="store_true", help="print one JSON object instead of text")
    p.add_argument(
        "--top", type=whole_number(1, 25), default=None, help="how many quotes, 1 to 25 (default 3; fewer may qualify)"
    )

    p = scoped(command("index", cmd_index, "add files and folders (default: the corpus folder)", STOPPED_ADDING))
    p.add_argument("paths", nargs="*", help=".txt .md .html .jsonl files or folders")
    p.add_argument(
        "--prune",
        action="store_true",
        help="also remove the articles of files deleted from these folders (without it they are only listed)",
    )

    p = scoped(command("add", cmd_add, "add one file or one web page (URL)", STOPPED_ADDING))
    p.add_argument("source", help="a file path or an http(s) URL")

    p = scoped(command("remove", cmd_remove, "remove an article by id", STOPPED_WHOLE))
    p.add_argument("id", type=int, help="the article id (see `citebot list`)")

    p = scoped(command("list", cmd_list, "list stored articles, newest first"))
    p.add_argument("--search", help="only titles or outlets containing this")
    p.add_argument("--limit", type=whole_number(1), default=50, help="at most this many (default 50)")
    p.add_argument("--offset", type=whole_number(0), default=0, help="skip this many newest first (default 0)")

    p = scoped(command("show", cmd_show, "show one article with its metadata and text"))
    p.add_argument("id", type=int, help="the article id (see `citebot list`)")

    command("config", cmd_config, "show every setting as citebot reads it (secrets hidden) and check the paths")

    command(
        "reindex",
        cmd_reindex,
        "re-tokenise every article after a tokeniser change (resumable)",
        "the articles re-tokenised before the stop are kept; run the same command again to finish (it goes on "
        "where it stopped).",
    )

    p = command(
        "purge", cmd_purge, "delete logged questions (with Discord user ids and votes) older than N days", STOPPED_WHOLE
    )
    p.add_argument(
        "--older-than",
        type=whole_number(1, MAX_RETENTION_DAYS),
        default=None,
        metavar="DAYS",
        help=f"1 to {MAX_RETENTION_DAYS} (default: $CITEBOT_RETENTION_DAYS, else 90)",
    )

    # A module's own commands are listed without their help line when it is imported (the help is here, once).
    named = {_ELSEWHERE[word][0] for word in argv if word in _ELSEWHERE}
    registered: set[str] = set()
    for name, (module, help_text) in _ELSEWHERE.items():
        if module in named:
            if module not in registered:  # the module adds each of its commands, with its arguments
                importlib.import_module(module).register(sub)
                registered.add(module)
        else:  # listed for `citebot --help`; never parsed, since the module is imported whenever it is named
            sub.add_parser(name, help=help_text)
    return parser


def _lost_connection(error: BaseException) -> bool:
    """The PostgreSQL server went away mid-command (restarted, shut down, the network dropped)."""
    import asyncpg

    return isinstance(
        error,
        asyncpg.InterfaceError
        | asyncpg.PostgresConnectionError
        | asyncpg.exceptions.OperatorInterventionError
        | ConnectionError,
    )


async def _stoppable(command: Coroutine[Any, Any, int], stopped: str | None) -> int:
    """``command``, which SIGTERM (kill, a service manager, a CI timeout) cancels as asyncio.run cancels it on
    Ctrl-C, so that it ends its child processes and removes its temporary files; then 143, as a shell reports a
    command SIGTERM ended. Python's default ended at once and left them behind (bench's timing process and /tmp
    folder). Not through SIGINT: a command started in the background by a script ignores that. Either way, a
    command that changes something says what its stop left (``stopped``); one that only reads stops quietly."""
    loop, task = asyncio.get_running_loop(), asyncio.current_task()
    assert task is not None
    terminated = False

    def terminate() -> None:
        nonlocal terminated
        terminated = True
        task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # Windows; main() called off the main thread
        loop.add_signal_handler(signal.SIGTERM, terminate)
    try:
        return await command
    except asyncio.CancelledError:
        if stopped:
            ProgressBar.close_all()
            print(f"Stopped: {stopped}", file=sys.stderr)
        if not terminated:
            raise
        return 128 + signal.SIGTERM
    finally:
        with contextlib.suppress(NotImplementedError):
            loop.remove_signal_handler(signal.SIGTERM)  # `citebot run` set its own meanwhile: the loop ends anyway


def main(argv: Sequence[str] | None = None) -> int:
    try:
        return _main(sys.argv[1:] if argv is None else list(argv))
    except KeyboardInterrupt:  # Ctrl-C, also before the command ran (importing its module, reading the settings)
        return 130


def _main(argv: list[str]) -> int:
    parser = build_parser(argv)
    args = parser.parse_args(argv)
    if not getattr(args, "handler", None):
        parser.print_help()
        return EXIT_USAGE
    # pydantic: after parsing, so --help does without it
    from bot.config import SettingsError, load_settings, warn_unknown_variables

    overrides: dict[str, Any] = {"db": args.db} if args.db is not None else {}
    if getattr(args, "ignores_model", False):
        overrides["model"] = None
    try:
        settings = load_settings(**overrides)
    except SettingsError as error:
        setup_logging(None)
        warn_unknown_variables()  # a misspelt name may be why (CITEBOT_SHARDCOUNT, so SHARD_IDS lacks its count)
        print(error, file=sys.stderr)
        return EXIT_USAGE
    level = settings.log_level
    if args.verbose and level not in ("DEBUG", "INFO"):
        level = "INFO"
    setup_logging(level)
    # Named only now, through the handler and level just set up: before, a bare line in another format, or none.
    warn_unknown_variables()
    try:
        return asyncio.run(_stoppable(args.handler(args, settings), getattr(args, "stopped", None)))
    except ReindexNeeded as outdated:
        print(outdated.advice(settings.command("reindex")), file=sys.stderr)
        return EXIT_ERROR
    except StoreUnavailable as error:
        print(str(error), file=sys.stderr)
        return EXIT_ERROR
    except ModelError as error:  # files there, but not a model the reader can run (a damaged download)
        print(f"CITEBOT_MODEL: {error}", file=sys.stderr)
        return EXIT_ERROR
    except asyncio.CancelledError:  # SIGTERM as the command was returning: its cancel came after its last await
        return 128 + signal.SIGTERM
    except BrokenPipeError:
        # `citebot list | head`: the reader of the output stopped. Quiet, with the status of a command ended by
        # SIGPIPE, and stdout pointed at nothing, or Python complains again when it flushes stdout at exit.
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
        return 128 + 13
    except Exception as error:
        from bot.core.location import is_postgres, without_password

        if not (is_postgres(settings.db) and _lost_connection(error)):
            raise
        print(
            f"Lost the connection to the PostgreSQL store {without_password(settings.db)} ({error!r}). Every change "
            "committed before that is kept; when the server is back, run the same command again (articles already "
            "stored are skipped).",
            file=sys.stderr,
        )
        return EXIT_ERROR


if __name__ == "__main__":
    raise SystemExit(main())
