"""Databases (of profiles) and resources (what profiles subscribe to, over channels)."""
