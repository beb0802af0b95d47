-- Articles: one row per article per scope. ``scope`` is "shared" for the host's corpus/ or "guild:<id>".
CREATE TABLE articles (
    id           INTEGER PRIMARY KEY AUTOINCREMENT,
    scope        TEXT    NOT NULL,
    content_hash TEXT    NOT NULL,
    external_id  TEXT,
    title        TEXT,
    source       TEXT,
    date         TEXT,
    url          TEXT,
    author       TEXT,
    text         TEXT    NOT NULL,
    origin       TEXT,
    added_by     TEXT,
    added_at     TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    terms        BLOB    NOT NULL,  -- article-level term ids (uint32, little-endian) for the article index
    UNIQUE (scope, content_hash)
);
CREATE INDEX articles_scope ON articles (scope, id);
CREATE INDEX articles_external ON articles (scope, external_id);

-- Sentences with character offsets into articles.text; ``terms`` are their term ids for the index.
CREATE TABLE sentences (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    article_id INTEGER NOT NULL REFERENCES articles (id) ON DELETE CASCADE,
    position   INTEGER NOT NULL,
    start      INTEGER NOT NULL,
    "end"      INTEGER NOT NULL,
    terms      BLOB    NOT NULL
);
CREATE INDEX sentences_article ON sentences (article_id);

-- The vocabulary: a term's id is its row id, stable for the life of the store.
CREATE TABLE terms (
    id   INTEGER PRIMARY KEY,
    term TEXT NOT NULL UNIQUE
);

-- Key/value facts about the store, e.g. the generation counter that index snapshots are checked against.
CREATE TABLE meta (
    key   TEXT PRIMARY KEY,
    value TEXT NOT NULL
);
INSERT INTO meta (key, value) VALUES ('generation', '0');

-- Every question asked, for feedback, latency figures and the "gaps" report.
CREATE TABLE queries (
    id          INTEGER PRIMARY KEY AUTOINCREMENT,
    asked_at    TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    question    TEXT    NOT NULL,
    scope       TEXT    NOT NULL,
    user_id     TEXT,
    abstained   INTEGER NOT NULL,
    latency_ms  REAL    NOT NULL,
    n_quotes    INTEGER NOT NULL,
    feedback    INTEGER  -- +1, -1 or NULL
);
CREATE INDEX queries_scope ON queries (scope, abstained, asked_at);

-- Per-scope settings, e.g. a Discord server's moderator role.
CREATE TABLE settings (
    scope TEXT NOT NULL,
    key   TEXT NOT NULL,
    value TEXT NOT NULL,
    PRIMARY KEY (scope, key)
);
