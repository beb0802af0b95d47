-- The PostgreSQL dialect of ../V2__votes_and_retention.sql.
CREATE TABLE votes (
    query_id BIGINT  NOT NULL REFERENCES queries (id) ON DELETE CASCADE,
    user_id  TEXT    NOT NULL,
    value    INTEGER NOT NULL CHECK (value IN (-1, 1)),
    voted_at TEXT    NOT NULL DEFAULT to_char(now() AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS"Z"'),
    PRIMARY KEY (query_id, user_id)
);
CREATE INDEX votes_user ON votes (user_id);
INSERT INTO votes (query_id, user_id, value) SELECT id, '', feedback FROM queries WHERE feedback IS NOT NULL;
ALTER TABLE queries DROP COLUMN feedback;

CREATE INDEX queries_asked_at ON queries (asked_at);
CREATE INDEX queries_user ON queries (user_id);
