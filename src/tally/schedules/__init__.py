"""Schedules: a refresh of a (database, resource) on a cron expression in a time zone."""
