"""Tally: subscription statistics for marketing profile databases."""

__version__ = "0.1.0"
