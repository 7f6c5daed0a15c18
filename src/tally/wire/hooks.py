"""Request hooks: what runs for every call once its token is known (rate limits, metrics).

The app keeps a list of them in ``app.state.request_hooks`` (the capabilities' ones, such as
rate_limits/, when their settings ask for them); each runs in order after authentication
and before the parameters are validated, so a refused token never reaches one. A hook
refuses a call by raising a ``TallyError``, which is answered as an envelope like any other
(with its headers: a 429 carries ``Retry-After``).
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from tally.wire.methods import Call, Method

RequestHook = Callable[[Call, Method], Awaitable[None]]
