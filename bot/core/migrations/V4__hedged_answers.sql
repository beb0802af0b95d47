-- Answers quoted with a hedge (the reader was unsure they answer, see AnswerParams.hedge_below): listed with the
-- unanswered questions in the gaps report, since an article that answers them is likely missing too.
ALTER TABLE queries ADD COLUMN hedged INTEGER NOT NULL DEFAULT 0;
