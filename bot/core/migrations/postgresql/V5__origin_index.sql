-- The PostgreSQL dialect of ../V5__origin_index.sql.
CREATE INDEX articles_origin ON articles (scope, origin);
