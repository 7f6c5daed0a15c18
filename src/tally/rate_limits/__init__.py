"""Requests per second and burst per token, answered 429 with Retry-After past them."""
