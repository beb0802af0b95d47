"""The command line on a temporary database, through the real entry point."""

from __future__ import annotations

import json
import os
import re
import shlex
import shutil
import signal
import sqlite3
import subprocess
import sys
import threading
from collections.abc import Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from stopped_cli import stop_when

from bot.cli import main
from bot.tools.load import synthetic_articles

REPO = Path(__file__).parent.parent
SEED = REPO / "corpus" / "independent-2026-01-05-putin-residence.md"


@pytest.fixture
def corpus(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    folder = tmp_path / "corpus"
    folder.mkdir()
    shutil.copy(SEED, folder)
    monkeypatch.setenv("CITEBOT_CORPUS", str(folder))
    return folder


def test_ask_indexes_an_empty_store_then_answers_as_json(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
):
    db = tmp_path / "c.db"
    assert main(["--db", str(db), "ask", "--json", "Did the US confirm the Putin residence strike?"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert set(out) >= {"question", "abstained", "message", "quotes"}
    assert not out["abstained"]
    first = out["quotes"][0]
    assert set(first) >= {"text", "article_id", "title", "source", "date", "url", "score"}
    assert (first["source"], first["date"]) == ("The Independent", "2026-01-05")


def test_abstains_in_text_mode(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["--db", str(tmp_path / "c.db"), "ask", "What is the boiling point of mercury?"]) == 0
    assert "couldn't find" in capsys.readouterr().out


def test_ask_says_when_the_corpus_folder_is_missing_and_the_store_is_empty(
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
):
    """A relative CITEBOT_CORPUS read from another folder used to leave the store empty without a word."""
    monkeypatch.setenv("CITEBOT_CORPUS", str(tmp_path / "no-such-corpus"))
    assert main(["--db", str(tmp_path / "c.db"), "ask", "Who suspended Parliament?"]) == 0
    assert "no-such-corpus does not exist" in caplog.text and "CITEBOT_CORPUS" in caplog.text  # a warning
    out = capsys.readouterr().out
    assert "There are no articles here yet" in out and "Searched 0 articles." in out


@pytest.mark.parametrize("command", [["ask", "Who suspended Parliament?"], ["run"], ["config"], ["index"]])
def test_a_corpus_setting_naming_a_file_is_refused_at_start_up(
    command: list[str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """CITEBOT_CORPUS=…/article.md was indexed as the whole shared corpus, without a word."""
    shutil.copy(SEED, tmp_path / "article.md")
    monkeypatch.setenv("CITEBOT_CORPUS", str(tmp_path / "article.md"))
    monkeypatch.setenv("DISCORD_TOKEN", "abc")
    assert main(["--db", str(tmp_path / "c.db"), *command]) == 2
    err = capsys.readouterr().err
    assert f"CITEBOT_CORPUS='{tmp_path / 'article.md'}': is a file, not a folder" in err
    assert f"e.g. {tmp_path})" in err and f"citebot index {tmp_path / 'article.md'}" in err
    assert not (tmp_path / "c.db").exists()


def test_index_takes_a_file_argument_beside_a_corpus_folder(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
):
    """Only the setting must be a folder: `citebot index FILE` adds one file."""
    shutil.copy(SEED, tmp_path / "article.md")
    assert main(["--db", str(tmp_path / "c.db"), "index", str(tmp_path / "article.md")]) == 0
    assert capsys.readouterr().out.startswith("added 1, unchanged 0, rejected 0")


@pytest.mark.parametrize(
    ("argv", "complaint"),
    [
        (["ask", "--top", "0", "brexit"], "whole number from 1 to 25"),
        (["ask", "--top", "-1", "brexit"], "whole number from 1 to 25"),
        (["ask", "--scope", "guild", "brexit"], "not a scope"),
        (["list", "--scope", "guild:abc"], "not a scope"),
        (["list", "--limit", "0"], "whole number of at least 1"),
        (["export", "--scope", "shared:1"], "not a scope"),
        (["purge", "--older-than", "0"], "whole number from 1 to 36500"),  # 0 days in CITEBOT_RETENTION_DAYS: forever
        (["purge", "--older-than", "99999999999"], "whole number from 1 to 36500"),  # was an OverflowError
    ],
)
def test_bad_option_values_are_usage_errors(
    argv: list[str], complaint: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]
):
    """They used to be taken: --top 0 printed an empty answer, --scope foo searched an empty scope."""
    with pytest.raises(SystemExit) as exited:
        main(["--db", str(tmp_path / "c.db"), *argv])
    assert exited.value.code == 2 and complaint in capsys.readouterr().err
    assert not (tmp_path / "c.db").exists()


def test_a_mistyped_command_suggests_the_one_meant(capsys: pytest.CaptureFixture[str]):
    with pytest.raises(SystemExit):
        main(["aks", "who won"])
    assert "did you mean 'ask'?" in capsys.readouterr().err


def test_add_lists_each_article_with_its_sentences(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    one = tmp_path / "one.txt"
    one.write_text("The harbour closed on Monday because of the storm.\n")
    two = tmp_path / "two.txt"
    two.write_text("The bakery opened a second shop. It sells bread and cakes.\n")
    for path, shown in ((one, "(1 sentence)"), (two, "(2 sentences)")):
        assert main(["--db", str(tmp_path / "c.db"), "add", str(path)]) == 0
        assert shown in capsys.readouterr().out


def test_articles_removed_after_indexing_the_corpus_by_hand_stay_removed(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    (corpus / "a.txt").write_text("The harbour closed on Monday because of the storm.\n")
    (corpus / "b.txt").write_text("The bakery opened a second shop. It sells bread and cakes.\n")
    monkeypatch.setenv("CITEBOT_CORPUS", str(corpus))
    db = str(tmp_path / "c.db")
    assert main(["--db", db, "index"]) == 0
    assert main(["--db", db, "remove", "1"]) == 0
    assert main(["--db", db, "ask", "Why did the harbour close?"]) == 0  # would seed an unseeded store
    capsys.readouterr()
    assert main(["--db", db, "list"]) == 0
    listed = capsys.readouterr().out
    assert "bakery" in listed.casefold() and "harbour" not in listed.casefold()


def test_adding_an_address_without_its_scheme_says_how(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    assert main(["--db", str(tmp_path / "c.db"), "add", "example.org/page"]) == 1
    assert "https://example.org/page" in capsys.readouterr().err


def test_config_shows_resolved_paths_hides_the_token_and_fails_on_a_missing_corpus(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("DISCORD_TOKEN", "MTAxNjQ4.FAKE.secretsecret")
    monkeypatch.setenv("CITEBOT_CORPUS", "articles")  # relative: read from the folder citebot starts in
    assert main(["config"]) == 1
    captured = capsys.readouterr()
    assert "set (hidden)" in captured.out and "secret" not in captured.out + captured.err
    assert f"{tmp_path / 'articles'} (MISSING" in captured.out and "CITEBOT_CORPUS" in captured.err
    assert f"{tmp_path / 'data' / 'citebot.db'} (no store yet" in captured.out
    (tmp_path / "articles").mkdir()
    assert main(["config"]) == 0


def test_index_list_show_remove(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]):
    db = ["--db", str(tmp_path / "c.db")]
    assert main([*db, "index", str(corpus)]) == 0
    assert "added 1, unchanged 0, rejected 0" in capsys.readouterr().out
    assert main([*db, "index", str(corpus)]) == 0
    assert "added 0, unchanged 1" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    assert "The Independent" in capsys.readouterr().out
    assert main([*db, "show", "1"]) == 0
    shown = capsys.readouterr().out
    assert "Lavrov" in shown and "Support Now" not in shown
    assert main([*db, "remove", "1"]) == 0
    assert main([*db, "remove", "1"]) == 1
    assert "No article #1" in capsys.readouterr().err


@pytest.mark.parametrize(
    "command", [["list"], ["show", "1"], ["remove", "1"], ["purge", "--older-than", "3"], ["reindex"]]
)
def test_a_command_on_a_store_that_is_not_there_says_so_and_makes_none(
    tmp_path: Path, capsys: pytest.CaptureFixture[str], command: list[str]
):
    mistyped = tmp_path / "dta" / "citebot.db"
    assert main(["--db", str(mistyped), *command]) == 1
    error = capsys.readouterr().err
    assert f"no store at {mistyped}" in error and "CITEBOT_DB" in error and f"`citebot --db {mistyped} index`" in error
    assert not mistyped.parent.exists()


def test_refused_input_exits_non_zero(tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]):
    empty = tmp_path / "empty.txt"
    empty.write_bytes(b"")
    assert main(["--db", str(tmp_path / "c.db"), "add", str(empty)]) == 1
    assert "empty" in capsys.readouterr().out.lower()
    assert main(["--db", str(tmp_path / "c.db"), "add", "http://127.0.0.1/secret"]) == 1
    assert "loopback" in capsys.readouterr().out


def test_python_dash_m_bot_and_help():
    result = subprocess.run([sys.executable, "-m", "bot", "--help"], capture_output=True, text=True, check=True)
    for command in ("ask", "index", "add", "remove", "list", "show", "eval", "bench"):
        assert command in result.stdout


def test_output_read_by_a_command_that_stops_early_ends_quietly(tmp_path: Path, corpus: Path):
    # `citebot list | head -1`: the reader has gone before citebot prints, so its first print fails.
    assert main(["--db", str(tmp_path / "c.db"), "index", str(corpus)]) == 0
    command = [sys.executable, "-m", "bot", "--db", str(tmp_path / "c.db"), "list"]
    process = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    assert process.stdout is not None and process.stderr is not None
    process.stdout.close()
    errors = process.stderr.read().decode()
    assert process.wait(timeout=60) == 141 and "Traceback" not in errors and "Broken pipe" not in errors


NEWS_QA = REPO / "tests" / "data" / "news-qa"


def test_eval_scores_a_question_set_over_the_built_in_corpus(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["eval", str(NEWS_QA), "--json", "--limit", "12"]) == 0
    metrics = json.loads(capsys.readouterr().out)
    assert metrics["n_queries"] == 12 and 0 <= metrics["hit@1"] <= metrics["hit@3"] <= 1
    assert {"abstain_answerable", "abstain_unanswerable"} <= metrics.keys()


def test_tune_writes_weights_the_reader_can_load(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    from bot.core.reader import ReaderWeights

    weights = tmp_path / "reader.json"
    assert main(["tune", str(NEWS_QA), "--limit", "40", "--folds", "2", "--write", str(weights)]) == 0
    assert "2-fold news-qa" in capsys.readouterr().out
    loaded = ReaderWeights.load(weights)
    assert loaded.recipe.startswith("citebot tune") and 0 <= loaded.threshold <= 1


WORDNET = REPO / "tests" / "fixtures" / "wordnet"  # a few synsets in WordNet's own file format


def test_synonyms_joins_words_that_share_one_of_their_first_senses(tmp_path: Path) -> None:
    from bot.core import reader, text

    def stem(word: str) -> str:
        return text.tokenize(word)[0]

    table = tmp_path / "synonyms.txt"
    assert main(["synonyms", str(WORDNET), "--write", str(table)]) == 0
    analysis, related = reader.synonym_table(table)
    assert analysis == text.analysis_version()
    # "start" and "kick" have this synset as their second sense: in with two senses, out with one.
    assert set(related[stem("begin")].split()) == {stem("commence"), stem("start"), stem("kick")}
    assert related[stem("galore")] == stem("abundant")  # an adjective's position marker "(ip)" is not the word
    assert stem("sundae") not in related  # its synset's other lemma is two words ("ice_cream")
    assert main(["synonyms", str(WORDNET), "--senses", "1", "--write", str(table)]) == 0
    assert reader.synonym_table(table)[1][stem("begin")] == stem("commence")


def test_synonyms_names_the_files_a_wordnet_folder_lacks(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["synonyms", str(tmp_path), "--write", str(tmp_path / "out.txt")]) == 1
    assert "not a WordNet database folder: index.noun, data.noun" in capsys.readouterr().err
    assert not (tmp_path / "out.txt").exists()


def test_sqlite_urls_take_three_slashes_then_a_relative_path_four_for_an_absolute_one(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
):
    """SQLAlchemy's spelling, as README says; `sqlite:///tmp/x.db` meant as /tmp/x.db is named in the error."""
    monkeypatch.chdir(tmp_path)
    (tmp_path / "corpus").mkdir()
    monkeypatch.setenv("CITEBOT_CORPUS", str(tmp_path / "corpus"))
    absolute = tmp_path / "abs" / "sq.db"
    assert main(["--db", f"sqlite:///{absolute}", "ask", "anything"]) == 0  # four slashes: absolute.is_absolute()
    assert absolute.exists()
    assert main(["--db", "sqlite:///rel/sq.db", "ask", "anything"]) == 0
    assert (tmp_path / "rel" / "sq.db").exists()
    capsys.readouterr()
    assert main(["--db", "sqlite:///missing/sq.db", "list"]) == 1
    err = capsys.readouterr().err
    assert f"no store at {tmp_path / 'missing' / 'sq.db'}" in err
    assert (
        "sqlite:///missing/sq.db is relative to the working folder; /missing/sq.db is sqlite:////missing/sq.db" in err
    )


def test_index_reports_a_renamed_file_as_moved(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    db = ["--db", str(tmp_path / "c.db")]
    (corpus / "ferry.md").write_text("The ferry to the island was cancelled on Friday because of storms.")
    assert main([*db, "index", "corpus"]) == 0
    capsys.readouterr()
    (corpus / "ferry.md").rename(corpus / "boats.md")
    assert main([*db, "index", "corpus"]) == 0
    out = capsys.readouterr().out
    assert "added 0, unchanged 1, moved 1, rejected 0" in out
    assert "moved: corpus/ferry.md → corpus/boats.md (#1)" in out


def test_list_with_search_counts_the_matching_articles(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
):
    """`list --search zzz` ended "(0 of 3 articles in scope 'shared')": the scope's count, read as the matches'."""
    db = ["--db", str(tmp_path / "c.db")]
    for number in range(2):
        (corpus / f"ferry{number}.md").write_text(
            f"---\ntitle: Ferry line {number} cut\n---\nThe ferry {number} stopped running on Friday after the storm."
        )
    assert main([*db, "index", str(corpus)]) == 0
    capsys.readouterr()
    assert main([*db, "list", "--search", "ferry", "--limit", "1"]) == 0
    assert "(1 of 2 articles matching 'ferry', of 3 in scope 'shared')" in capsys.readouterr().out
    assert main([*db, "list", "--search", "zzz"]) == 0
    assert "(0 of 0 articles matching 'zzz', of 3 in scope 'shared')" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    assert "(3 of 3 articles in scope 'shared')" in capsys.readouterr().out


def test_index_shows_its_progress_while_it_reads_the_files(tmp_path: Path, capsys: pytest.CaptureFixture[str]):
    """Every file is read before the first article is stored: 5,000 small files took 7 s of saying nothing."""
    folder = tmp_path / "many"
    folder.mkdir()
    for number in range(25):
        (folder / f"n{number}.md").write_text(f"The council met on day {number} and approved budget line {number}.")
    assert main(["--db", str(tmp_path / "c.db"), "index", str(folder)]) == 0
    err = capsys.readouterr().err
    assert "reading: 100%" in err and "25/25" in err and "file/s" in err
    assert err.index("reading: 100%") < err.index("indexing:")


def test_index_refuses_a_file_whose_name_is_not_utf8_and_indexes_the_rest(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str]
):
    """A Latin-1 file name (from an old archive or a Windows share) stopped the whole command with a traceback."""
    db = ["--db", str(tmp_path / "c.db")]
    (corpus / os.fsdecode(b"r\xe9sum\xe9.md")).write_text("The ferry to the island was cancelled on Friday.")
    assert main([*db, "index", str(corpus)]) == 0
    out = capsys.readouterr().out
    assert "added 1, unchanged 0, rejected 1" in out and "Putin" in out
    assert "corpus/r\ufffdsum\ufffd.md: its name (or a folder's on its path) is not UTF-8 text" in out

    folder = tmp_path / os.fsdecode(b"archive-caf\xe9")  # a folder's name, which --prune also looks under
    folder.mkdir()
    (folder / "storm.md").write_text("The storm closed every school in the county on Monday.")
    assert main([*db, "index", "--prune", str(folder)]) == 1  # nothing could go in
    assert "archive-caf\ufffd/storm.md: its name (or a folder's" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    assert "(1 of 1 articles" in capsys.readouterr().out


def test_index_lists_articles_of_deleted_files_and_prunes_them_only_when_asked(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    monkeypatch.chdir(tmp_path)
    db = ["--db", str(tmp_path / "c.db")]
    (corpus / "ferry.md").write_text("The ferry to the island was cancelled on Friday because of storms.")
    assert main([*db, "index", "corpus"]) == 0
    (corpus / "ferry.md").unlink()
    capsys.readouterr()
    assert main([*db, "index", "corpus"]) == 0
    out = capsys.readouterr().out
    hint = (
        f"1 article came from files no longer in corpus: run `citebot --db {db[1]} index corpus --prune` to remove it"
    )
    assert hint in out
    assert "  ? #1 The ferry to the island" in out and "file corpus/ferry.md is gone" in out
    assert main([*db, "list"]) == 0
    assert "(2 of 2 articles" in capsys.readouterr().out

    assert main([*db, "index", "corpus", "--prune"]) == 0
    out = capsys.readouterr().out
    assert (
        "pruned 1" in out and "  - #1 The ferry to the island" in out and "file corpus/ferry.md is gone, removed" in out
    )
    assert main([*db, "list"]) == 0
    assert "(1 of 1 articles" in capsys.readouterr().out

    for path in corpus.iterdir():  # an empty folder, as a disk's mount point is while it is not mounted
        path.unlink()
    assert main([*db, "index", "corpus", "--prune"]) == 0
    assert "holds no article file at all, so none was removed: if it is a disk" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    assert "(1 of 1 articles" in capsys.readouterr().out


def hinted(printed: str) -> list[str]:
    """The arguments of the one `citebot …` command a message tells the host to run."""
    [command] = re.findall(r"`citebot ([^`]*)`", printed)
    return shlex.split(command)


def test_the_commands_hints_name_the_store_given_with_db(
    tmp_path: Path, corpus: Path, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
):
    """`citebot --db other.db index corpus` said to run `citebot index corpus --prune`, which looked at the
    default store instead; so did the other commands these messages name. Each hint is run here as printed."""
    monkeypatch.chdir(tmp_path)
    db = str(tmp_path / "other store.db")
    (corpus / "ferry.md").write_text("The ferry to the island was cancelled on Friday because of storms.")
    assert main(["--db", db, "index", "corpus", "--scope", "guild:7"]) == 0
    (corpus / "ferry.md").unlink()
    capsys.readouterr()
    assert main(["--db", db, "index", "corpus", "--scope", "guild:7"]) == 0
    prune = hinted(capsys.readouterr().out.splitlines()[-1])
    assert prune == ["--db", db, "index", "corpus", "--scope", "guild:7", "--prune"]
    assert main(prune) == 0 and "pruned 1" in capsys.readouterr().out

    assert main(["--db", db, "show", "99", "--scope", "guild:7"]) == 1
    listing = hinted(capsys.readouterr().err)
    assert main(listing) == 0 and "(1 of 1 articles in scope 'guild:7')" in capsys.readouterr().out
    assert main(["--db", db, "export", "--scope", "guild:8", "-o", "g.jsonl"]) == 1
    assert hinted(capsys.readouterr().err) == ["--db", db, "list", "--scope", "guild:8"]

    for path in corpus.iterdir():  # an empty folder: nothing is pruned, and the note names `remove`
        path.unlink()
    assert main(["--db", db, "index", "corpus", "--scope", "guild:7", "--prune"]) == 0
    assert hinted(capsys.readouterr().out.splitlines()[-1]) == ["--db", db, "remove", "ID", "--scope", "guild:7"]

    assert main(["--db", str(tmp_path / "no store.db"), "list"]) == 1
    assert f"make one there with `citebot --db '{tmp_path / 'no store.db'}' index`" in capsys.readouterr().err

    with sqlite3.connect(db) as connection:  # terms of another tokeniser version
        connection.execute("UPDATE meta SET value = 'old' WHERE key = 'analysis'")
    assert main(["--db", db, "ask", "Was the ferry cancelled?"]) == 1
    reindex = hinted(capsys.readouterr().err)
    assert reindex == ["--db", db, "reindex"] and main(reindex) == 0
    assert main(["--db", db, "ask", "Was the ferry cancelled?"]) == 0

    monkeypatch.setenv("CITEBOT_DB", db)  # the store named by the environment: a hint goes without --db
    assert main(["show", "99"]) == 1
    assert hinted(capsys.readouterr().err) == ["list"]


@pytest.fixture
def site(monkeypatch: pytest.MonkeyPatch) -> Iterator[tuple[str, dict[str, tuple[int, str]]]]:
    """A web site on 127.0.0.1 (its address, and its pages: path → (status, body, or for a redirect where to))."""
    pages: dict[str, tuple[int, str]] = {}

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            status, content = pages.get(self.path, (404, "not here"))
            self.send_response(status)
            if status in (301, 302):
                self.send_header("Location", content)
                content = ""
            body = content.encode()
            self.send_header("Content-Type", "text/html; charset=utf-8")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: object) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    monkeypatch.setenv("CITEBOT_UNSAFE_ALLOW_PRIVATE_URLS", "1")  # the site is on loopback
    try:
        yield f"http://127.0.0.1:{server.server_port}", pages
    finally:
        server.shutdown()
        server.server_close()


def story(headline: str) -> tuple[int, str]:
    return 200, (
        f"<html><head><title>{headline}</title></head><body><article><h1>{headline}</h1>"
        f"<p>{headline}, the council said on Monday after a vote of the whole chamber.</p>"
        "<p>Work on the bridge starts in spring and takes two years, the mayor told reporters.</p></article></body></html>"
    )


def test_a_page_that_moved_added_again_by_its_old_link_replaces_its_earlier_version(
    tmp_path: Path, site: tuple[str, dict[str, tuple[int, str]]], capsys: pytest.CaptureFixture[str]
):
    """A news site gives a corrected story a new address (the headline is in it) and redirects the old one there:
    the link added before, added again, stored the correction beside the story it corrects. So did a short link
    to it. Only a page's final address was matched; now every address its fetch went through is."""
    address, pages = site
    db = ["--db", str(tmp_path / "c.db")]
    pages["/s/abc"] = (302, "/news/bridge-approved")
    pages["/news/bridge-approved"] = story("Bridge approved")
    assert main([*db, "add", f"{address}/news/bridge-approved"]) == 0
    assert "added 1" in capsys.readouterr().out
    assert main([*db, "add", f"{address}/s/abc"]) == 0  # the short link to it: the same page, as before
    assert "already stored as #1" in capsys.readouterr().out

    pages["/news/bridge-approved"] = (301, "/news/bridge-approved-by-one-vote")
    pages["/news/bridge-approved-by-one-vote"] = story("Bridge approved by one vote")
    assert main([*db, "add", f"{address}/s/abc"]) == 0
    out = capsys.readouterr().out
    assert "added 1" in out and "replaced 1" in out and "#1 Bridge approved: the earlier version" in out

    pages["/news/bridge-approved-by-one-vote"] = (301, "/news/bridge-approved-after-recount")
    pages["/news/bridge-approved-after-recount"] = story("Bridge approved after recount")
    assert main([*db, "add", f"{address}/news/bridge-approved"]) == 0  # the first link, two moves on
    assert "replaced 1" in capsys.readouterr().out
    assert main([*db, "list"]) == 0
    listed = capsys.readouterr().out
    assert "(1 of 1 articles" in listed and "#3" in listed and "after recount" in listed
    assert main([*db, "show", "3"]) == 0
    assert f"url: {address}/news/bridge-approved-after-recount" in capsys.readouterr().out  # cited where it is now


def stored_articles(db: Path) -> int:
    if not db.exists():
        return 0
    with sqlite3.connect(f"file:{db}?mode=ro", uri=True) as connection:
        try:
            return int(connection.execute("SELECT COUNT(*) FROM articles").fetchone()[0])
        except sqlite3.OperationalError:  # the tables are not made yet
            return 0


@pytest.mark.parametrize(
    ("signum", "whole_group", "status"),
    [(signal.SIGINT, True, 130), (signal.SIGTERM, False, 143)],
    ids=["ctrl-c", "sigterm"],
)
def test_an_index_stopped_half_way_says_what_it_kept_and_the_same_command_finishes_it(
    tmp_path: Path, signum: int, whole_group: bool, status: int
):
    """Stopped half-way through a bulk import, `citebot index` exited 130 without a word (SIGTERM: at once, with no
    exit status of its own), its bar left half drawn; and a Ctrl-C reaching the worker processes' fork server
    while it loaded printed a KeyboardInterrupt traceback."""
    articles = synthetic_articles(3000, seed=11)
    lines = [json.dumps({"id": a.external_id, "title": a.title, "text": a.text}) for a in articles]
    (tmp_path / "wire.jsonl").write_text("\n".join(lines) + "\n", encoding="utf-8")
    db = tmp_path / "s.db"
    args = ["--db", str(db), "index", str(tmp_path / "wire.jsonl")]
    returncode, errors = stop_when(
        args, lambda _: stored_articles(db) > 0, signum, whole_group=whole_group, waiting_for="stored an article"
    )
    assert returncode == status, errors
    assert "Traceback" not in errors and "KeyboardInterrupt" not in errors
    assert errors.rstrip().endswith(
        "Stopped: the articles stored before the stop are kept, each whole; run the same command again to add the "
        "rest (those already stored are skipped)."
    )
    kept = stored_articles(db)
    assert 0 < kept < len(articles)
    environment = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))}
    command = [sys.executable, "-m", "bot", *args]
    finished = subprocess.run(command, cwd=REPO, env=environment, capture_output=True, text=True, timeout=300)
    assert finished.returncode == 0, finished.stderr
    assert f"added {len(articles) - kept}, unchanged {kept}," in finished.stdout
    assert stored_articles(db) == len(articles)
