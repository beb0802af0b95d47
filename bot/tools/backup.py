"""`citebot export`, `citebot import` and `citebot backup`: getting the articles out, back in, and copied safely.

- export writes JSON lines, one article a line, in the format `citebot index` reads, plus the fields a faithful
  restore needs (scope, origin, added_by, added_at, external_id).
- import reads such a file back verbatim: the text is stored exactly as exported (it was cleaned when first
  added; cleaning it again could change it), each line keeps its scope unless --scope overrides.
- backup copies the SQLite file with SQLite's online backup API: a consistent snapshot even while the bot
  writes, verified with `PRAGMA integrity_check` before it replaces DEST.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import sqlite3
import sys
import threading
import time
from collections import Counter
from collections.abc import Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

import asyncpg

from bot.config import Settings
from bot.console import EXIT_ERROR, EXIT_OK, STOPPED_ADDING, ProgressBar, print_report, scope_argument
from bot.core import snapshot
from bot.core.errors import StoreUnavailable
from bot.core.library import SHARED_SCOPE, IndexReport, Library, Progress
from bot.core.location import is_postgres, without_password
from bot.core.models import Article, Rejected, is_scope
from bot.core.store import ReadOnlyAccess, Store, StoredArticle, open_store

IMPORT_FLUSH = 5000  # articles per add_articles call: bounded memory, and few index compactions on big restores
_ADDED_AT = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}Z$")  # the store's own format, nothing else
_STRING_FIELDS = ("title", "source", "date", "url", "author", "origin", "added_by", "added_at", "external_id")


class BackupError(Exception):
    """A backup that could not be made or did not verify; the message says why."""


# -- export --------------------------------------------------------------------------------------------


def article_record(article: StoredArticle) -> dict[str, Any]:
    """One export line. "id" is what `citebot index` reads; "external_id" keeps a missing id missing on import."""
    return {
        "id": article.external_id or f"citebot-{article.id}",
        "title": article.title,
        "text": article.text,
        "source": article.source,
        "date": article.date,
        "url": article.url,
        "author": article.author,
        "scope": article.scope,
        "added_at": article.added_at,
        "origin": article.origin,
        "added_by": article.added_by,
        "external_id": article.external_id,
    }


async def export_articles(store: Store, out: IO[str], scopes: list[str] | None = None) -> Counter[str]:
    """Write every article of ``scopes`` (None: all) to ``out``; returns how many per scope."""
    counts: Counter[str] = Counter()
    async for batch in store.iter_articles(scopes):
        for article in batch:
            out.write(json.dumps(article_record(article), ensure_ascii=False) + "\n")
            counts[article.scope] += 1
    return counts


async def cmd_export(args: argparse.Namespace, settings: Settings) -> int:
    if (missing := settings.missing_store) is not None:
        print(f"Cannot export: {missing}", file=sys.stderr)
        return EXIT_ERROR
    try:
        store = await open_store(settings.db, readonly=True)  # read-only: an export never changes the live store
    except StoreUnavailable as error:
        print(f"Cannot export: {error}", file=sys.stderr)
        return EXIT_ERROR
    except (OSError, sqlite3.Error, asyncpg.PostgresError) as error:
        print(f"Cannot open the store {without_password(settings.db)}: {error}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.output in (None, "-"):
            counts = await export_articles(store, sys.stdout, args.scope)
            where = "standard output"
        else:
            target = Path(args.output)
            if refusal := _not_an_export_target(target, settings.db_path):
                print(f"Not exported: {refusal}", file=sys.stderr)
                return EXIT_ERROR
            # Written beside the target and renamed at the end, so a crash never leaves half an export under its name.
            tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
            try:
                with tmp.open("w", encoding="utf-8") as out:
                    counts = await export_articles(store, out, args.scope)
                    out.flush()
                    os.fsync(out.fileno())
                tmp.replace(target)
            except OSError as error:
                tmp.unlink(missing_ok=True)
                print(f"Cannot write {target}: {error.strerror or error}", file=sys.stderr)
                return EXIT_ERROR
            except BaseException:  # Ctrl-C (a cancel) mid-write: each one left a hidden half export beside the target
                tmp.unlink(missing_ok=True)
                raise
            where = str(target)
    except (sqlite3.Error, asyncpg.PostgresError) as error:
        print(f"Cannot read the store {without_password(settings.db)}: {error}", file=sys.stderr)
        return EXIT_ERROR
    except StoreUnavailable as error:  # written to while read from a read-only folder (ReadOnlyAccess)
        cut = " The lines written to standard output are incomplete." if args.output in (None, "-") else ""
        print(f"Cannot export: {error}{cut}", file=sys.stderr)
        return EXIT_ERROR
    finally:
        await store.close()
    per_scope = ", ".join(f"{scope}: {n}" for scope, n in sorted(counts.items())) or "none"
    print(f"exported {sum(counts.values())} articles ({per_scope}) to {where}", file=sys.stderr)
    if empty := sorted(set(args.scope or ()) - counts.keys()):  # a mistyped guild id in a nightly export
        shows = settings.command("list", "--scope", empty[0])
        print(f"! no articles in {', '.join(empty)} ({shows} shows a scope's)", file=sys.stderr)
        return EXIT_ERROR
    return EXIT_OK


def _not_an_export_target(target: Path, store_file: Path) -> str | None:
    """Why ``target`` must not be replaced by an export, if it must not: the store itself or a file kept beside
    it (one typo in a cron line), under the store's name or, for a linked store, its real one; or any other SQLite
    database (a backup)."""
    real_target = target.resolve()
    for store in {store_file.absolute(), store_file.resolve()}:
        if real_target.parent == store.parent.resolve() and (
            real_target.name in {store.name + suffix for suffix in _BESIDE_THE_STORE}
            or real_target.name.startswith((f"{store.name}.shards-", f"{store.name}.run-"))
        ):
            return f"{target} is the store or one of its files; give another file name"
        if real_target.parent == snapshot.path_for(store).parent.resolve():
            return f"{target} is in the store's index snapshot folder; give another file name"
    with contextlib.suppress(OSError), target.open("rb") as existing:
        if existing.read(16) == b"SQLite format 3\x00":
            return f"{target} is a database (a store or its backup), not an export; give another file name"
    return None


# What citebot keeps beside a store named S: S-wal and S-shm (SQLite), the tokeniser memo, the bot's heartbeat
# and run lock; per shard range, S.shards-<ids>.*; per shard and shard count, S.run-*.lock (_not_an_export_target).
_BESIDE_THE_STORE = ("", "-wal", "-shm", "-journal", ".analysis.json", ".status.json", ".run.lock")


# -- import --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class ImportLine:
    article: Article
    scope: str
    where: str  # becomes the stored origin (Library stores `where` when no origin is given)
    added_by: str | None
    added_at: str | None


def parse_export_line(line: str, where: str, scope_override: str | None) -> ImportLine | Rejected:
    """One JSON line → an article to restore verbatim, or the reason it cannot be."""
    try:
        record = json.loads(line)
    except (ValueError, RecursionError) as error:
        return Rejected(where, f"not valid JSON: {error}")
    if not isinstance(record, dict):
        return Rejected(where, 'expected a JSON object with a "text" field')
    body = record.get("text")
    if not isinstance(body, str) or not body.strip():
        return Rejected(where, '"text" must be a non-empty string')
    fields: dict[str, str | None] = {}
    for key in _STRING_FIELDS:
        value = record.get(key)
        if value is not None and not isinstance(value, str):
            return Rejected(where, f'"{key}" must be a string or null')
        fields[key] = value
    raw_id = record.get("id")
    if raw_id is not None and (isinstance(raw_id, bool) or not isinstance(raw_id, str | int)):
        return Rejected(where, '"id" must be a string or a number')
    # Our own exports say "external_id" explicitly (null when the article had none); other files only have "id".
    external_id = fields["external_id"] if "external_id" in record else (str(raw_id) if raw_id is not None else None)
    scope = scope_override or record.get("scope") or SHARED_SCOPE
    if not isinstance(scope, str) or not is_scope(scope.strip()):
        return Rejected(where, '"scope" must be "shared" or "guild:<server id>" (digits)')
    added_at = fields["added_at"]
    article = Article(
        text=body,
        title=fields["title"],
        source=fields["source"],
        date=fields["date"],
        url=fields["url"],
        author=fields["author"],
        external_id=external_id,
    )
    return ImportLine(
        article,
        scope.strip(),
        fields["origin"] or where,
        fields["added_by"],
        added_at if added_at and _ADDED_AT.match(added_at) else None,
    )


def _lines(source: IO[bytes]) -> Iterator[tuple[int, str | None]]:
    """Non-blank lines, decoded one by one: a line that is not UTF-8 is refused alone (None), never mangled."""
    for lineno, raw in enumerate(source, start=1):
        try:
            line = raw.decode("utf-8")
        except UnicodeDecodeError:
            yield lineno, None
            continue
        if line.strip():
            yield lineno, line


async def import_lines(
    library: Library,
    source: IO[bytes],
    name: str,
    *,
    scope: str | None = None,
    progress: Progress | None = None,
    total: int = 0,
) -> IndexReport:
    """Restore articles from export lines. Consecutive lines of one (scope, added_by) go in together, in file
    order, so a restored store lists articles in their original order; re-importing is a no-op."""
    report = IndexReport()
    run: list[ImportLine] = []
    done = 0

    async def flush() -> None:
        nonlocal done
        if not run:
            return
        first = run[0]
        # Written with each article (one transaction): an import stopped half-way never leaves one undated.
        report.extend(
            await library.add_articles(
                [(item.article, item.where) for item in run],
                first.scope,
                added_by=first.added_by,
                added_at=[item.added_at for item in run],
            )
        )
        done += len(run)
        if progress and total:
            progress(done, total)
        run.clear()

    for lineno, line in _lines(source):
        if line is None:
            report.rejected.append(Rejected(f"{name}:{lineno}", "not UTF-8 text"))
            continue
        parsed = parse_export_line(line, f"{name}:{lineno}", scope)
        if isinstance(parsed, Rejected):
            report.rejected.append(parsed)
            continue
        if run and ((run[0].scope, run[0].added_by) != (parsed.scope, parsed.added_by) or len(run) >= IMPORT_FLUSH):
            await flush()
        run.append(parsed)
    await flush()
    return report


def _not_an_export(path: Path) -> str | None:
    """Why a file is not export lines at all, judged by its first line; None when it could be. A file of other
    things (a README, a database) would otherwise be refused line by line, thousands of times."""
    with path.open("rb") as source:
        for lineno, line in _lines(source):
            if line is None:
                return f"line {lineno} is not UTF-8 text"
            parsed = parse_export_line(line, f"line {lineno}", None)
            return f"line {lineno}: {parsed.reason}" if isinstance(parsed, Rejected) else None
    return None


async def cmd_import(args: argparse.Namespace, settings: Settings) -> int:

    if args.file != "-" and Path(args.file).is_dir():
        print(
            f"{args.file} is a folder: import reads one file written by `citebot export` ("
            "`citebot index` adds a folder of articles).",
            file=sys.stderr,
        )
        return EXIT_ERROR
    if args.file != "-" and not Path(args.file).is_file():
        print(f"{args.file} does not exist.", file=sys.stderr)
        return EXIT_ERROR
    if args.file != "-" and (problem := _not_an_export(Path(args.file))):
        print(
            f"{args.file} is not a citebot export: {problem}. Nothing was imported (`citebot index` adds .txt, "
            ".md, .html and .jsonl articles).",
            file=sys.stderr,
        )
        return EXIT_ERROR
    library = await Library.open(settings.db)
    try:
        if args.file == "-":
            report = await import_lines(library, sys.stdin.buffer, "stdin", scope=args.scope)
        else:
            path = Path(args.file)
            with path.open("rb") as counting:
                total = sum(1 for _ in _lines(counting))
            with path.open("rb") as source:
                report = await import_lines(
                    library, source, path.name, scope=args.scope, progress=ProgressBar("importing"), total=total
                )
    finally:
        await library.close()
    print_report(report)
    # Stricter than `index`: a restore that dropped a line has lost data, so scripts must notice.
    return EXIT_ERROR if report.rejected else EXIT_OK


# -- backup --------------------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BackupResult:
    path: Path
    size: int
    articles: int
    seconds: float


def _target(db: Path, dest: Path) -> Path:
    if dest.is_dir():
        stamp = datetime.now(UTC).strftime("%Y%m%d-%H%M%S")
        dest = dest / f"{db.stem}-{stamp}{db.suffix or '.db'}"
    if dest.resolve() == db.resolve():
        raise BackupError("the backup cannot overwrite the store itself; give another file or a folder")
    if not dest.parent.is_dir():
        raise BackupError(f"the folder {dest.parent} does not exist")
    return dest


def _fsync_dir(folder: Path) -> None:
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return  # not every platform opens folders; the rename is still atomic
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


@dataclass
class Stopping:
    """A stop asked of a copy under way (Ctrl-C, SIGTERM). SQLite's copy cannot be interrupted, so it ends, and is
    then discarded instead of put in place; asked under the lock of that step, so that a stop comes either before
    it (no backup) or after it (a whole one), never unknown."""

    lock: threading.Lock = field(default_factory=threading.Lock)
    asked: bool = False

    def ask(self) -> None:
        with self.lock:
            self.asked = True


def backup_store(db: Path, dest: Path, stopping: Stopping | None = None) -> BackupResult:
    """Copy the store with SQLite's online backup API, verify the copy, then move it into place atomically.

    Blocking (call it in a thread). The source is opened read-only and copied in one step, i.e. inside one
    read transaction: in WAL mode that never blocks the bot's writers and sees only committed transactions.
    """
    stopping = stopping or Stopping()
    started = time.perf_counter()
    if not db.is_file():
        raise BackupError(f"there is no store at {db}")
    target = _target(db, dest)
    tmp = target.with_name(f".{target.name}.{os.getpid()}.tmp")
    try:
        reading = ReadOnlyAccess.of(db)
        source = sqlite3.connect(reading.uri, uri=True)
        try:
            source.execute("PRAGMA busy_timeout=10000")
            copy = sqlite3.connect(tmp)
            try:
                source.backup(copy)  # pages=-1: the whole database in one step, one snapshot
                # The copy inherits WAL mode; a single self-contained file is what a backup should be.
                copy.execute("PRAGMA journal_mode=DELETE")
                verdict = [row[0] for row in copy.execute("PRAGMA integrity_check")]
                if verdict != ["ok"]:
                    details = " ".join("; ".join(map(str, verdict[:5])).split())
                    raise BackupError(f"the copy failed PRAGMA integrity_check: {details[:300]}")
                articles = int(copy.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
                reading.check_unchanged()
            finally:
                copy.close()
        finally:
            source.close()
        with tmp.open("rb") as handle:
            os.fsync(handle.fileno())
        with stopping.lock:
            if stopping.asked:
                raise BackupError("stopped before the copy was put in place: it was discarded")
            tmp.replace(target)
        _fsync_dir(target.parent)
    except sqlite3.Error as error:
        raise BackupError(f"SQLite error while copying {db}: {error}") from error
    except OSError as error:
        raise BackupError(f"cannot write {target}: {error.strerror or error}") from error
    finally:
        tmp.unlink(missing_ok=True)
    return BackupResult(target, target.stat().st_size, articles, time.perf_counter() - started)


async def cmd_backup(args: argparse.Namespace, settings: Settings) -> int:
    if args.dest.endswith(("/", os.sep)) and not Path(args.dest).is_dir():  # Path() would drop the slash
        print(f"Backup failed: the folder {args.dest} does not exist", file=sys.stderr)
        return EXIT_ERROR
    if is_postgres(settings.db):
        print("citebot backup copies SQLite stores; back a PostgreSQL store up with pg_dump", file=sys.stderr)
        return EXIT_ERROR
    if (missing := settings.missing_store) is not None:
        print(f"Backup failed: {missing}", file=sys.stderr)
        return EXIT_ERROR
    stopping = Stopping()
    copying = asyncio.ensure_future(asyncio.to_thread(backup_store, settings.db_path, Path(args.dest), stopping))
    try:
        result = await asyncio.shield(copying)
    except (BackupError, StoreUnavailable) as error:
        print(f"Backup failed: {error}", file=sys.stderr)
        return EXIT_ERROR
    except asyncio.CancelledError:  # said here, not as a `stopped` note: only the end of the copy tells which
        stopping.ask()
        try:
            made = await copying
        except Exception:
            print("Stopped: no backup was made (the copy under way was finished, then discarded).", file=sys.stderr)
        else:
            print(f"Stopped once the backup was in place: {made.path} is whole and checked.", file=sys.stderr)
        raise
    print(
        f"backed up {settings.db} to {result.path}: {result.articles} articles, "
        f"{result.size / 2**20:.1f} MB, integrity ok, {result.seconds:.2f}s"
    )
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "export",
        description="Write one JSON object per article: id, title, text, source, date, url, author, scope, "
        "added_at, origin, added_by, external_id. Reads a consistent snapshot; safe while the bot runs.",
    )
    p.add_argument(
        "--scope",
        action="append",
        type=scope_argument,
        help="only this scope ('shared' or guild:<id>); repeatable; default: every scope",
    )
    p.add_argument("--output", "-o", help="the file to write (default: standard output)")
    p.set_defaults(
        handler=cmd_export,
        stopped="an --output file is written only whole, so none was; what went to standard output is incomplete.",
    )

    p = sub.add_parser(
        "import",
        description="Read JSON lines written by `citebot export`. Each line keeps its scope unless --scope is "
        "given; articles already stored are left as they are. Exits 1 if any line was refused.",
    )
    p.add_argument("file", help="a .jsonl file, or - for standard input")
    p.add_argument(
        "--scope", type=scope_argument, help="put every article in this scope instead of the one on its line"
    )
    p.set_defaults(handler=cmd_import, stopped=STOPPED_ADDING)

    p = sub.add_parser(
        "backup",
        description="Copy the SQLite store to DEST (a file, or a folder to get a time-stamped file in it), "
        "check the copy with PRAGMA integrity_check, then move it into place.",
    )
    p.add_argument("dest", help="the backup file, or an existing folder")
    p.set_defaults(handler=cmd_backup)
