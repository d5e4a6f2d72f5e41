"""The preset catalogue: SQLite schema and migrations, sources, reference renders, vector search."""
