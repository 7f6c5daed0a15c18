"""Time texts of the statistics responses (api.md section 3)."""

from __future__ import annotations

from datetime import UTC, datetime


def rfc3339_ms(moment: datetime | None) -> str:
    """``2024-04-17T21:36:01.449Z``; ``""`` for a moment that has not happened."""
    if moment is None:
        return ""
    moment = moment.astimezone(UTC)
    return moment.strftime("%Y-%m-%dT%H:%M:%S.") + f"{moment.microsecond // 1000:03d}Z"


def rfc3339_seconds(moment: datetime) -> str:
    return moment.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def go_duration(nanoseconds: int) -> str:
    """A duration exactly as Go's ``time.Duration.String()`` prints it.

    ``82.746959ms``, ``950µs``, ``1.5s``, ``2m3.004s``, ``1h0m0s``, ``0s``.
    """
    if nanoseconds == 0:
        return "0s"
    sign = "-" if nanoseconds < 0 else ""
    value = abs(nanoseconds)
    if value < 1_000:
        return f"{sign}{value}ns"
    if value < 1_000_000:
        return f"{sign}{_fraction(value, 1_000)}µs"
    if value < 1_000_000_000:
        return f"{sign}{_fraction(value, 1_000_000)}ms"
    seconds = _fraction(value % 60_000_000_000, 1_000_000_000) + "s"
    minutes = value // 60_000_000_000
    if minutes == 0:
        return sign + seconds
    hours, minutes = divmod(minutes, 60)
    text = f"{minutes}m{seconds}"
    return sign + (f"{hours}h{text}" if hours else text)


def _fraction(value: int, unit: int) -> str:
    whole, rest = divmod(value, unit)
    digits = f"{rest:0{len(str(unit)) - 1}d}".rstrip("0")
    return f"{whole}.{digits}" if digits else str(whole)
