"""Storage: the engine, the tables and the migrations.

Owns connection set-up for both dialects (SQLite embedded, PostgreSQL in production) and
the transaction helpers every other capability uses. Knows nothing about HTTP.
"""
