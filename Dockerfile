# citebot: the Discord bot with its built-in corpus. The store lives on the /data volume.
FROM python:3.11-slim

ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    PIP_NO_CACHE_DIR=1 \
    CITEBOT_DB=/data/citebot.db \
    CITEBOT_CORPUS=/app/corpus

RUN useradd --create-home --uid 10001 citebot && mkdir -p /data /app && chown citebot:citebot /data

WORKDIR /app
# Dependencies first (cached while only the code changes), then the package itself.
COPY pyproject.toml README.md ./
COPY bot ./bot
RUN pip install --no-cache-dir .
COPY corpus ./corpus

USER citebot
VOLUME ["/data"]

HEALTHCHECK --interval=60s --timeout=10s --start-period=120s --retries=3 CMD ["citebot", "health"]
CMD ["citebot", "run"]
