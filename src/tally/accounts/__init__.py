"""Accounts and their API tokens.

A token is shown once, when it is created, and stored only as its SHA-256. Every object
belongs to one account; the account a token maps to is the only one it can see.
"""
