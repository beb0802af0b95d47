"""A `citebot` command run in a process of its own and stopped part-way, as a host stops one: Ctrl-C at its
terminal (SIGINT to its whole process group, its children too) or SIGTERM to it alone."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def stop_when(
    args: list[str],
    ready: Callable[[subprocess.Popen[str]], bool],
    signum: int,
    *,
    whole_group: bool,
    environment: dict[str, str] | None = None,
    waiting_for: str,
) -> tuple[int, str]:
    """Run `citebot ARGS`, send ``signum`` once ``ready(process)`` holds (to its process group with
    ``whole_group``); its exit status and standard error. No citebot setting of this environment reaches it."""
    clean = {k: v for k, v in os.environ.items() if not k.startswith(("CITEBOT_", "DISCORD_"))}
    process = subprocess.Popen(
        [sys.executable, "-m", "bot", *args],
        cwd=REPO,
        env=clean | (environment or {}),
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        start_new_session=True,  # its own process group, as at a terminal: a Ctrl-C reaches its children too
    )
    try:
        deadline = time.monotonic() + 120
        while not ready(process) and process.poll() is None:
            assert time.monotonic() < deadline, f"never {waiting_for}"
            time.sleep(0.02)
        assert process.poll() is None, f"it ended before {waiting_for}: {process.communicate()}"
        if whole_group:
            os.killpg(process.pid, signum)
        else:
            process.send_signal(signum)
        _, errors = process.communicate(timeout=60)
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
    return process.returncode, errors
