"""``GET /metrics``: what every part counts, in Prometheus' text format, and the queue's depth."""
