"""The store: schema, migrations and every SQL statement the service runs (SQLite and PostgreSQL)."""
