# citebot: the Discord bot with its built-in corpus. The store lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    CITEBOT_DB=/data/citebot.db \
    CITEBOT_CORPUS=/app/corpus

RUN useradd --create-home --uid 10001 citebot && mkdir -p /data /app && chown citebot:citebot /data

WORKDIR /app
# Dependencies first, at the exact versions of the lock file: this layer is cached while only the code changes.
COPY requirements.lock ./
RUN pip install --no-cache-dir -r requirements.lock
# Then the package alone (--no-deps: nothing beyond the lock), built outside /app and removed with its
# build leftovers (build/, *.egg-info) in the same layer.
COPY pyproject.toml README.md /tmp/citebot-src/
COPY bot /tmp/citebot-src/bot
RUN pip install --no-cache-dir --no-deps /tmp/citebot-src && rm -rf /tmp/citebot-src
# The language model the reader also weighs meaning with (README, "Reading meaning too"): ~90 MB, pinned by hash
# and checked. `CITEBOT_MODEL=` (blank) in .env answers without it.
RUN citebot model install /opt/citebot-model
ENV CITEBOT_MODEL=/opt/citebot-model
COPY corpus ./corpus

USER citebot
VOLUME ["/data"]

# The image runs the bot (CMD), so a missing or stale bot heartbeat is unhealthy, as in compose.yaml.
HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 CMD ["citebot", "health", "--require-bot"]
CMD ["citebot", "run"]
