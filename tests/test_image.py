"""The Dockerfile, .dockerignore and .ci/run (which replays the image's install steps) stay in step."""

from __future__ import annotations

import re
import shlex
from pathlib import Path

REPO = Path(__file__).parent.parent
DOCKERFILE = (REPO / "Dockerfile").read_text(encoding="utf-8")
CI = (REPO / ".ci" / "run").read_text(encoding="utf-8")
README = (REPO / "README.md").read_text(encoding="utf-8")


def _pip_installs(text: str) -> list[list[str]]:
    """The arguments of every `pip install` (flags that only quieten output left out)."""
    out = []
    for match in re.finditer(r"pip install ([^&\n]+)", text):
        args = [a for a in shlex.split(match.group(1)) if a not in {"--quiet", "-q"}]
        out.append(args)
    return out


def test_the_image_installs_the_lock_file_before_copying_the_code() -> None:
    lock = DOCKERFILE.index("pip install --no-cache-dir -r requirements.lock")
    assert lock < DOCKERFILE.index("COPY bot")
    assert "--no-deps" in DOCKERFILE[DOCKERFILE.index("COPY bot") :]


def test_ci_replays_the_images_install_steps() -> None:
    image = [[a.replace("/tmp/citebot-src", ".") for a in args] for args in _pip_installs(DOCKERFILE)]
    replay = _pip_installs("\n".join(line for line in CI.splitlines() if line.startswith(".ci-image-venv/bin/pip")))
    assert replay == image


def test_ci_runs_exactly_the_readmes_test_command() -> None:
    command = re.search(r"\. \.venv/bin/activate && (pip install -r requirements-dev\.lock [^\n]+)", README)
    assert command is not None
    assert f"\n{command.group(1)}\n" in CI


def test_the_image_healthcheck_requires_the_bot_it_runs() -> None:
    assert 'CMD ["citebot", "run"]' in DOCKERFILE
    assert 'CMD ["citebot", "health", "--require-bot"]' in DOCKERFILE


def test_the_build_context_leaves_out_secrets_and_local_state() -> None:
    lines = (REPO / ".dockerignore").read_text(encoding="utf-8").splitlines()
    ignore = [line.strip() for line in lines if line.strip() and not line.startswith("#")]
    assert ignore[0] == "*"  # everything is excluded (.env, .venv, data/, .git …), then only what the image needs
    included = {line[1:] for line in ignore if line.startswith("!")}
    assert included == {"requirements.lock", "pyproject.toml", "README.md", "bot", "corpus"}
    copied = set(re.findall(r"^COPY (.+) \S+$", DOCKERFILE, re.MULTILINE))
    sources = {s for line in copied for s in line.split()}
    assert sources <= included


def test_compose_gives_the_postgresql_password_apart_from_the_url() -> None:
    """Pasted into the URL, a generated password's / or @ broke it (and its error quoted the password)."""
    compose = (REPO / "compose.postgres.yaml").read_text(encoding="utf-8")
    assert "${POSTGRES_PASSWORD" not in "".join(line for line in compose.splitlines() if "postgresql://" in line)
    assert "PGPASSWORD: ${POSTGRES_PASSWORD" in compose


def test_compose_keeps_the_images_settings_when_dotenv_leaves_them_blank() -> None:
    """`CITEBOT_CORPUS=` from .env.example, passed by env_file, replaced the image's /app/corpus with nothing, and
    the bot looked for corpus/ in its working directory: every CITEBOT_ value the image sets is set again."""
    image = dict(re.findall(r"(CITEBOT_\w+)=(\S+)", DOCKERFILE))
    assert "CITEBOT_CORPUS" in image
    for name in ("compose.yaml", "compose.postgres.yaml"):
        compose = (REPO / name).read_text(encoding="utf-8")
        for variable, value in image.items():
            given = re.search(rf"^\s+{variable}: (\S+)", compose, re.MULTILINE)
            assert given is not None, f"{name} leaves {variable} to env_file"
            # ${VAR-value}: a blank value from .env stays blank (CITEBOT_MODEL= turns the model off).
            accepted = (value, f"${{{variable}:-{value}}}", f"${{{variable}-{value}}}")
            assert given.group(1) in accepted or "://" in given.group(1), name
