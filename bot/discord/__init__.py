"""The Discord adapter: cogs and views over bot.core."""
