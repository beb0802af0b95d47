-- The PostgreSQL dialect of ../V3__change_log.sql. ``seq`` is MAX(seq) + 1, assigned by the writer while it holds
-- the store-wide advisory lock (bot/core/store_postgres.py), not a sequence: numbers follow commit order (a follower
-- reading "seq > N" never skips an entry that commits later with a smaller number) and a rolled-back write leaves
-- no gap, exactly as with SQLite's single writer.
CREATE TABLE changes (
    seq        BIGINT PRIMARY KEY,
    kind       TEXT   NOT NULL CHECK (kind IN ('add', 'remove', 'reset')),
    article_id BIGINT,
    removed    BYTEA
);

INSERT INTO changes (seq, kind, article_id) SELECT row_number() OVER (ORDER BY id), 'add', id FROM articles;

INSERT INTO meta (key, value) VALUES ('store_id', md5(random()::text || clock_timestamp()::text));

INSERT INTO meta (key, value) SELECT 'corpus_seeded', '1' WHERE EXISTS (SELECT 1 FROM articles);

DELETE FROM meta WHERE key = 'generation';
