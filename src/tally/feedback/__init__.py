"""Feedback: delivering a finished task to the user's URL, signed, retried, never aimed inside.

Owns the delivery rows, the SSRF guard, the Standard Webhooks signature and the retry
policy. The payload is the tasks/status envelope, built once when the task finishes.
"""
