"""databases/counters_history: every finished refresh, its changes, windows, paging, purge."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from sqlalchemy import func, select
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.counters.history import purge_history
from tally.store.engine import read_transaction, write_transaction
from tally.store.tables import counter_history
from tally.store.types import utcnow
from tests.counters.support import refresh
from tests.helpers import Api
from tests.wire.support import envelope, post_raw


async def add_subscribed(api: Api, database_id: int, resource_id: int, emails: list[str]) -> list[str]:
    items = [{"email": email, "subscriptions": [{"resource_id": resource_id, "channel": "email"}]} for email in emails]
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": items})
    return [result["profile_id"] for result in results]


def email(channels: list[dict[str, Any]]) -> dict[str, int]:
    [entry] = [entry for entry in channels if entry["channel"] == "email"]
    counts: dict[str, int] = entry["status"]
    return counts


def difference(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    old = {entry["channel"]: entry["status"] for entry in before}
    return [
        {
            "channel": entry["channel"],
            "status": {key: value - old[entry["channel"]][key] for key, value in entry["status"].items()},
        }
        for entry in after
    ]


async def three_refreshes(api: Api) -> tuple[int, int, list[dict[str, Any]]]:
    """Three refreshes with writes between them; their results, oldest first."""
    database_id, resource_id = await api.setup_catalog()
    ids = await add_subscribed(api, database_id, resource_id, ["a@example.org", "b@example.org", "c@example.org"])
    results = [(await refresh(api, database_id, resource_id))["result"][0]]
    await add_subscribed(api, database_id, resource_id, ["d@example.org", "e@example.org"])
    body = {"resource_id": resource_id, "channel": "email", "email": "a@example.org", "status": "unsubscribed"}
    await api.ok("subscriptions/set", {"db_id": database_id, "profile_id": ids[0], **body})
    results.append((await refresh(api, database_id, resource_id))["result"][0])
    await api.ok("profiles/delete", {"profile_id": ids[1]})
    results.append((await refresh(api, database_id, resource_id, recount=True))["result"][0])
    return database_id, resource_id, results


async def test_history_gives_every_refresh_newest_first_with_its_changes(api: Api) -> None:
    database_id, resource_id, results = await three_refreshes(api)
    envelope = await api.call("databases/counters_history", {"id": database_id, "resource_id": resource_id})
    entries = envelope["data"]
    assert (envelope["total_count"], envelope["next_from_id"]) == (3, 0)
    assert [entry["updated"] for entry in entries] == [result["updated"] for result in reversed(results)]
    for entry, result in zip(entries, reversed(results), strict=True):
        assert {key: entry[key] for key in result} == result  # the seed's element, as the refresh gave it
        assert len(entry["task_id"]) == 36
    assert "changes" not in entries[2]  # the first refresh has nothing to compare with
    assert entries[1]["changes"] == difference(results[0]["channels"], results[1]["channels"])
    assert entries[0]["changes"] == difference(results[1]["channels"], results[2]["channels"])
    # By hand: two added and one unsubscribed; then a subscribed profile deleted.
    assert {k: email(entries[1]["changes"])[k] for k in ("all", "subscribed", "unsubscribed")} == {
        "all": 2,
        "subscribed": 1,
        "unsubscribed": 1,
    }
    assert {k: email(entries[0]["changes"])[k] for k in ("all", "subscribed", "unsubscribed")} == {
        "all": -1,
        "subscribed": -1,
        "unsubscribed": 0,
    }


async def test_history_pages_in_either_order(api: Api) -> None:
    database_id, resource_id, results = await three_refreshes(api)
    pair = {"id": database_id, "resource_id": resource_id}
    for order, expected in (("desc", list(reversed(results))), ("asc", results)):
        seen, from_id = [], 0
        while True:
            envelope = await api.call(
                "databases/counters_history", pair | {"order": order, "limit": 1, "from_id": from_id}
            )
            assert envelope["total_count"] == 3
            seen += [entry["updated"] for entry in envelope["data"]]
            from_id = envelope["next_from_id"]
            if not from_id:
                break
        assert seen == [result["updated"] for result in expected]


async def test_history_within_a_time_window_keeps_the_changes_against_the_refresh_before(api: Api) -> None:
    database_id, resource_id, results = await three_refreshes(api)
    pair = {"id": database_id, "resource_id": resource_id}
    middle = await api.call(
        "databases/counters_history", pair | {"from": results[1]["updated"], "to": results[2]["updated"]}
    )
    assert middle["total_count"] == 1
    [entry] = middle["data"]
    assert entry["updated"] == results[1]["updated"]
    assert entry["changes"] == difference(results[0]["channels"], results[1]["channels"])
    later = await api.ok("databases/counters_history", pair | {"from": results[1]["updated"]})
    assert [entry["updated"] for entry in later] == [results[2]["updated"], results[1]["updated"]]
    assert await api.ok("databases/counters_history", pair | {"to": results[0]["updated"]}) == []


async def test_history_older_than_the_retention_is_purged(api: Api, engine: AsyncEngine, settings: Settings) -> None:
    database_id, resource_id, _ = await three_refreshes(api)
    async with write_transaction(engine) as conn:
        await purge_history(conn, utcnow(), settings)  # nothing is 400 days old yet
    assert len(await api.ok("databases/counters_history", {"id": database_id, "resource_id": resource_id})) == 3
    async with write_transaction(engine) as conn:
        await purge_history(conn, utcnow() + timedelta(days=settings.history_days, seconds=1), settings)
    assert await api.ok("databases/counters_history", {"id": database_id, "resource_id": resource_id}) == []


async def test_deleting_the_database_deletes_its_history(api: Api, engine: AsyncEngine) -> None:
    database_id, _, _ = await three_refreshes(api)
    await api.ok("databases/delete", {"id": database_id})
    async with read_transaction(engine) as conn:
        left = await conn.scalar(
            select(func.count()).select_from(counter_history).where(counter_history.c.database_id == database_id)
        )
    assert left == 0


async def test_history_refuses_bad_parameters_naming_them(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    pair = {"id": database_id, "resource_id": resource_id}
    for body, field in (
        (pair | {"from": "yesterday"}, "from"),
        (pair | {"to": "2026-12-03T10:00:00"}, "to"),  # no offset
        (pair | {"order": "newest"}, "order"),
        (pair | {"limit": 0}, "limit"),
        (pair | {"limit": 1001}, "limit"),
        (pair | {"from_id": -1}, "from_id"),
        (pair | {"from": "9999-12-31T23:59:59-05:00"}, "from"),  # past the calendar's end in UTC
        (pair | {"to": "0001-01-01T00:00:00+05:00"}, "to"),
    ):
        refused = await api.call("databases/counters_history", body)
        assert refused["error"] == 400, refused
        assert refused["error_text"].startswith(f"Invalid parameter: {field} "), refused


async def test_history_of_unknown_or_foreign_objects_is_404(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    other = await Api.for_new_account(api.client, engine)
    for caller, body in (
        (api, {"id": database_id + 1000, "resource_id": resource_id}),
        (api, {"id": database_id, "resource_id": resource_id + 1000}),
        (other, {"id": database_id, "resource_id": resource_id}),
    ):
        assert (await caller.call("databases/counters_history", body))["error"] == 404


async def test_history_in_xml(api: Api) -> None:
    database_id, resource_id, results = await three_refreshes(api)
    inner = f"<id>{database_id}</id><resource_id>{resource_id}</resource_id><order>asc</order><limit>2</limit>"
    body = f"<xml><token>{api.token}</token><format>xml</format>{inner}</xml>"
    decoded = envelope(await post_raw(api.client, "databases/counters_history", body, "application/xml"))
    entries = decoded["data"]
    assert [entry["updated"] for entry in entries] == [result["updated"] for result in results[:2]]
    assert "changes" not in entries[0] and entries[1]["changes"][0]["channel"] == "email"
    as_json = await api.call(
        "databases/counters_history", {"id": database_id, "resource_id": resource_id, "order": "asc", "limit": 2}
    )
    assert [entry["task_id"] for entry in entries] == [entry["task_id"] for entry in as_json["data"]]
    assert int(decoded["next_from_id"]) == as_json["next_from_id"] != 0


def side_by_side(before: list[dict[str, Any]], after: list[dict[str, Any]]) -> list[dict[str, Any]]:
    old = {entry["channel"]: entry["status"] for entry in before}
    return [
        {
            "channel": entry["channel"],
            "status": {
                key: {
                    "before": old[entry["channel"]][key],
                    "after": value,
                    "change": value - old[entry["channel"]][key],
                }
                for key, value in entry["status"].items()
            },
        }
        for entry in after
    ]


async def test_diff_defaults_to_the_last_two_refreshes(api: Api) -> None:
    database_id, resource_id, results = await three_refreshes(api)
    diff = await api.ok("databases/counters_diff", {"id": database_id, "resource_id": resource_id})
    assert (diff["before"]["updated"], diff["after"]["updated"]) == (results[1]["updated"], results[2]["updated"])
    assert diff["channels"] == side_by_side(results[1]["channels"], results[2]["channels"])
    assert email(diff["channels"])["all"] == {"before": 5, "after": 4, "change": -1}  # type: ignore[comparison-overlap]


async def test_diff_by_task_ids_and_by_times(api: Api) -> None:
    database_id, resource_id, results = await three_refreshes(api)
    pair = {"id": database_id, "resource_id": resource_id}
    entries = await api.ok("databases/counters_history", pair | {"order": "asc"})
    by_tasks = await api.ok(
        "databases/counters_diff",
        pair | {"before_task_id": entries[0]["task_id"], "after_task_id": entries[2]["task_id"]},
    )
    assert by_tasks["channels"] == side_by_side(results[0]["channels"], results[2]["channels"])
    # A time names the last refresh counted by it (to the millisecond `updated` shows).
    by_times = await api.ok(
        "databases/counters_diff", pair | {"before_time": results[0]["updated"], "after_time": results[1]["updated"]}
    )
    assert (by_times["before"]["task_id"], by_times["after"]["task_id"]) == (
        entries[0]["task_id"],
        entries[1]["task_id"],
    )
    assert by_times["channels"] == side_by_side(results[0]["channels"], results[1]["channels"])


async def test_diff_without_two_refreshes_or_with_bad_points_says_why(api: Api, engine: AsyncEngine) -> None:
    database_id, resource_id = await api.setup_catalog()
    pair = {"id": database_id, "resource_id": resource_id}
    none_yet = await api.call("databases/counters_diff", pair)
    assert none_yet["error"] == 404 and "No refresh of database" in none_yet["error_text"], none_yet
    await refresh(api, database_id, resource_id)
    one = await api.call("databases/counters_diff", pair)
    assert one["error"] == 404 and "before the one compared with" in one["error_text"], one
    unknown = await api.call("databases/counters_diff", pair | {"after_task_id": "nope"})
    assert unknown["error"] == 404 and "by task nope" in unknown["error_text"], unknown
    both = await api.call(
        "databases/counters_diff", pair | {"before_task_id": "x", "before_time": "2026-12-03T10:00:00Z"}
    )
    assert both["error"] == 400 and "before_task_id or before_time" in both["error_text"], both
    for time in ("noon", "9999-12-31T23:59:59.9999Z"):
        bad_time = await api.call("databases/counters_diff", pair | {"after_time": time})
        assert bad_time["error"] == 400, bad_time
        assert bad_time["error_text"].startswith("Invalid parameter: after_time "), bad_time
    other = await Api.for_new_account(api.client, engine)
    assert (await other.call("databases/counters_diff", pair))["error"] == 404


async def test_diff_in_xml(api: Api) -> None:
    database_id, resource_id, _ = await three_refreshes(api)
    inner = f"<id>{database_id}</id><resource_id>{resource_id}</resource_id>"
    body = f"<xml><token>{api.token}</token><format>xml</format>{inner}</xml>"
    decoded = envelope(await post_raw(api.client, "databases/counters_diff", body, "application/xml"))
    as_json = await api.ok("databases/counters_diff", {"id": database_id, "resource_id": resource_id})
    assert decoded["data"]["after"]["task_id"] == as_json["after"]["task_id"]
    [email_xml] = [entry for entry in decoded["data"]["channels"] if entry["channel"] == "email"]
    assert int(email_xml["status"]["all"]["change"]) == email(as_json["channels"])["all"]["change"] == -1  # type: ignore[index]
