-- One vote per (question, member): a click by someone else no longer overwrites the asker's.
CREATE TABLE votes (
    query_id INTEGER NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL,
    value    INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at TEXT    NOT NULL DEFAULT (strftime('%Y-%m-%dT%H:%M:%SZ', 'now')),
    PRIMARY KEY (query_id, user_id)
);
CREATE INDEX votes_user ON votes (user_id);
-- The single value stored so far: who clicked was not recorded, so it is kept as an anonymous vote.
INSERT INTO votes (query_id, user_id, value) SELECT id, '', feedback FROM queries WHERE feedback IS NOT NULL;
ALTER TABLE queries DROP COLUMN feedback;

-- Retention deletes by age; "forget me" deletes by member.
CREATE INDEX queries_asked_at ON queries (asked_at);
CREATE INDEX queries_user ON queries (user_id);
