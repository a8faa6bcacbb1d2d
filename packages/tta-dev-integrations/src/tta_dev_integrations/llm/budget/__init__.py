"""Budget profiles and the spend ledger (SQLite embedded, PostgreSQL shared)."""
