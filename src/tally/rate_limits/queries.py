"""The SQL of the shared buckets (PostgreSQL): one statement takes from a token's bucket."""

from __future__ import annotations

from sqlalchemy import text

#: The seconds to wait (0 when the request passes and is counted). The update locks the
#: token's row, so concurrent requests of one token from any process queue on it; a
#: refused request changes nothing, and the wait is read from the row as it stood.
TAKE = text("""
WITH clock AS (SELECT extract(epoch FROM clock_timestamp())::float8 AS now),
taken AS (
    INSERT INTO rate_limits (token_id, tat)
    SELECT :token_id, clock.now + :interval FROM clock
    ON CONFLICT (token_id) DO UPDATE
        SET tat = greatest(rate_limits.tat, excluded.tat - :interval) + :interval
        WHERE greatest(rate_limits.tat, excluded.tat - :interval) - (excluded.tat - :interval) <= :tolerance
    RETURNING 0.0::float8 AS wait
)
SELECT wait FROM taken
UNION ALL
SELECT greatest(rate_limits.tat - clock.now - :tolerance, 0.001)
FROM rate_limits, clock
WHERE rate_limits.token_id = :token_id AND NOT EXISTS (SELECT FROM taken)
""")
