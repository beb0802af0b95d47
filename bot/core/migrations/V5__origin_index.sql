-- Articles by where they came from: a file indexed again replaces the versions of it stored before
-- (Library.add_articles with replace=True looks them up by scope and origin).
CREATE INDEX articles_origin ON articles (scope, origin);
