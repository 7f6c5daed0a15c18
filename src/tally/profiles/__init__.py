"""Profiles and their subscriptions, with the derived data the count reads.

Every write keeps ``subscriptions.is_effective``/``is_sendable`` and
``databases.live_profiles`` exact in the same transaction (effective.py says how).
"""
