-- The PostgreSQL dialect of ../V4__hedged_answers.sql.
ALTER TABLE queries ADD COLUMN hedged INTEGER NOT NULL DEFAULT 0;
