-- The change log: every add and remove of an article, numbered, written in the same transaction as the change.
-- An in-memory index records the last ``seq`` it applied and catches up by reading the rows after it, so every
-- process (the bot, the command line) follows the store. ``removed`` holds what the index must subtract for a
-- removal (the article's terms and its sentences' ids and terms, see bot/core/store.py), since the rows are gone.
-- kind 'reset': the stored terms were rewritten (citebot reindex); an index rebuilds from the store.
CREATE TABLE changes (
    seq        INTEGER PRIMARY KEY AUTOINCREMENT,
    kind       TEXT    NOT NULL CHECK (kind IN ('add', 'remove', 'reset')),
    article_id INTEGER,
    removed    BLOB
);

-- The log starts with the articles already stored, so "every change up to seq N" describes the whole store.
INSERT INTO changes (kind, article_id) SELECT 'add', id FROM articles ORDER BY id;

-- A random id: a snapshot from another store (an unrelated backup restored here) never matches this one.
INSERT INTO meta (key, value) VALUES ('store_id', lower(hex(randomblob(16))));

-- A store that already holds articles was seeded (or deliberately emptied of the built-in corpus) before.
INSERT INTO meta (key, value) SELECT 'corpus_seeded', '1' WHERE EXISTS (SELECT 1 FROM articles);

-- Replaced by the change log's sequence numbers.
DELETE FROM meta WHERE key = 'generation';
