"""The time texts of a refresh result: Go's Duration.String() and RFC 3339 with milliseconds."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta, timezone

import pytest

from tally.timefmt import go_duration, rfc3339_ms, rfc3339_seconds

NS = 1
US = 1_000 * NS
MS = 1_000 * US
S = 1_000 * MS
M = 60 * S
H = 60 * M

# Outputs of Go's time.Duration(n).String() for the same numbers of nanoseconds.
GO_OUTPUTS = [
    (0, "0s"),
    (1 * NS, "1ns"),
    (999 * NS, "999ns"),
    (1 * US, "1µs"),
    (1_500 * NS, "1.5µs"),
    (1_001 * NS, "1.001µs"),
    (950 * US, "950µs"),
    (999_999 * NS, "999.999µs"),
    (1 * MS, "1ms"),
    (82_746_959 * NS, "82.746959ms"),
    (100 * MS, "100ms"),
    (999_999_999 * NS, "999.999999ms"),
    (1 * S, "1s"),
    (1_500 * MS, "1.5s"),
    (1 * S + 1 * NS, "1.000000001s"),
    (59 * S + 999_999_999 * NS, "59.999999999s"),
    (60 * S, "1m0s"),
    (61 * S, "1m1s"),
    (2 * M + 3_004 * MS, "2m3.004s"),
    (59 * M + 59 * S, "59m59s"),
    (1 * H, "1h0m0s"),
    (1 * H + 1 * NS, "1h0m0.000000001s"),
    (25 * H + 1 * M + 1 * S + 1 * NS, "25h1m1.000000001s"),
    (2**63 - 1, "2562047h47m16.854775807s"),
]


@pytest.mark.parametrize(("nanoseconds", "expected"), GO_OUTPUTS)
def test_go_duration_known_value_matches_go(nanoseconds: int, expected: str) -> None:
    assert go_duration(nanoseconds) == expected


@pytest.mark.parametrize(
    ("nanoseconds", "expected"),
    [
        (-1 * NS, "-1ns"),
        (-1_500 * NS, "-1.5µs"),
        (-82_746_959 * NS, "-82.746959ms"),
        (-1_500 * MS, "-1.5s"),
        (-(2 * M + 3_004 * MS), "-2m3.004s"),
        (-(25 * H + 1 * M + 1 * S + 1 * NS), "-25h1m1.000000001s"),
        (-(2**63), "-2562047h47m16.854775808s"),
    ],
)
def test_go_duration_negative_value_has_leading_minus(nanoseconds: int, expected: str) -> None:
    assert go_duration(nanoseconds) == expected


def test_go_duration_micro_sign_is_u00b5() -> None:
    # Go prints U+00B5 MICRO SIGN, not U+03BC GREEK SMALL LETTER MU.
    assert go_duration(950 * US).endswith("\u00b5s")


def test_rfc3339_ms_utc_moment_has_milliseconds_and_z() -> None:
    moment = datetime(2024, 4, 17, 21, 36, 1, 449_999, tzinfo=UTC)
    assert rfc3339_ms(moment) == "2024-04-17T21:36:01.449Z"


def test_rfc3339_ms_whole_second_keeps_three_zeros() -> None:
    assert rfc3339_ms(datetime(2024, 1, 2, 3, 4, 5, tzinfo=UTC)) == "2024-01-02T03:04:05.000Z"


def test_rfc3339_ms_other_offset_is_converted_to_utc() -> None:
    moment = datetime(2024, 4, 18, 0, 36, 1, 7_000, tzinfo=timezone(timedelta(hours=3)))
    assert rfc3339_ms(moment) == "2024-04-17T21:36:01.007Z"


def test_rfc3339_ms_none_is_empty_text() -> None:
    assert rfc3339_ms(None) == ""


def test_rfc3339_seconds_drops_the_fraction() -> None:
    moment = datetime(2024, 4, 17, 21, 36, 1, 999_999, tzinfo=UTC)
    assert rfc3339_seconds(moment) == "2024-04-17T21:36:01Z"
