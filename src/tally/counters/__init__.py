"""Subscription statistics: the refresh task, the stored counter sets, and their methods."""
