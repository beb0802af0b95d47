"""The citebot core: ingest → text → index → answer, over a SQLite store. Knows nothing of Discord."""
