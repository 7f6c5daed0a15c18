"""The dashboard: server-rendered pages at ``/`` for the people who read the counts."""
