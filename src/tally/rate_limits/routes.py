"""The rate limit as a request hook: after the token is known, before the parameters.

Off unless TALLY_RATE_LIMIT is set. Each token has its own bucket (not each account), so
that a batch job's token cannot starve the dashboard's or another client's.
"""

from __future__ import annotations

import math

from tally.capability import Capability
from tally.config import Settings
from tally.errors import TooManyRequests
from tally.rate_limits.buckets import MemoryBuckets, Rate, SharedBuckets
from tally.store.engine import is_sqlite
from tally.wire.hooks import RequestHook
from tally.wire.methods import Call, Method


def rate_limit_hook(settings: Settings) -> RequestHook | None:
    """The hook of this process, or None when no rate is set."""
    if settings.rate_limit <= 0:
        return None
    rate = Rate(settings.rate_limit, settings.rate_burst or max(1, math.ceil(settings.rate_limit)))
    memory = MemoryBuckets(rate)
    shared = SharedBuckets(rate)

    async def limit(call: Call, method: Method) -> None:
        engine = call.runtime.engine
        buckets = memory if is_sqlite(engine) else shared
        wait = await buckets.take(engine, call.token_id)
        if wait > 0:
            retry_after = max(1, math.ceil(wait))
            raise TooManyRequests(
                f"Too many requests: this token may send {rate.per_second:g} per second "
                f"(bursts of {rate.burst}); retry in {retry_after} s",
                headers={"Retry-After": str(retry_after)},
            )

    return limit


CAPABILITY = Capability(name="rate_limits", request_hooks=(rate_limit_hook,))
