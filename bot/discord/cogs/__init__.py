"""One cog per feature area: asking (members), the corpus (moderators), help and about."""
