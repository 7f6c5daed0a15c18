"""Profiles and their subscriptions, with the derived data the count reads.

Every write keeps ``subscriptions.is_effective``/``is_sendable`` and the database's
live-profile count (a delta row, catalog/queries.py) exact in the same transaction:
effective.py holds the rules, queries.subscriptions_recompute_flags applies them in SQL. Nothing here knows whether a
request came as XML or JSON (wire/params.py applies the XML list rule).
"""
