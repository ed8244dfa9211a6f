"""Built-in LLM tools (see docs/database.md for the Postgres tool)."""
