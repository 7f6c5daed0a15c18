"""The seed example of counting.md, end to end through the HTTP API."""

from __future__ import annotations

from typing import Any

from tests.counters.model import STATUS_KEYS
from tests.helpers import Api

RESULT_KEYS = [
    "channels",
    "in_progress",
    "last_count_time",
    "refresh_task_id",
    "resource_id",
    "total_count",
    "updated",
]


def zeros(**counts: int) -> dict[str, int]:
    return {key: counts.get(key, 0) for key in STATUS_KEYS}


SEED_CHANNELS = [
    {"channel": "email", "status": zeros(all=1336, subscribed=925, subscribed_sendable=925, hardbounced=411)},
    {"channel": "push", "status": zeros(all=1336)},
    {"channel": "sms", "status": zeros(all=1336)},
]


def seed_profiles(resource_id: int) -> list[dict[str, Any]]:
    """925 subscribed (deliverable, not blocked), then 411 hardbounced, in mixed spellings."""
    items: list[dict[str, Any]] = []
    for n in range(925):
        item: dict[str, Any] = {
            "email": f"user{n}@example.org",
            "subscriptions": [
                {
                    "resource_id": resource_id,
                    "channel": "email",
                    "email": f"user{n}@example.org",
                    "status": ["subscribed", 0, "0", "SUBSCRIBED"][n % 4],
                }
            ],
        }
        if n % 3 == 0:
            item["_status"] = "subscribed"  # a global status that does not block
        items.append(item)
    for n in range(411):
        email = f"bounced{n}@example.org"
        status = ["hardbounced", 3, "3"][n % 3]
        items.append(
            {
                "email": email,
                "subscriptions": [{"resource_id": resource_id, "channel": "email", "email": email, "status": status}],
            }
        )
    return items


async def load_seed(api: Api) -> tuple[int, int]:
    database_id, resource_id = await api.setup_catalog(["sms", "email", "push"])
    results = await api.ok("profiles/add_batch", {"db_id": database_id, "data": seed_profiles(resource_id)})
    assert len(results) == 1336
    assert all(item["error"] == 0 and item["profile_id"] for item in results)
    return database_id, resource_id


async def test_seed_refresh_result_equals_seed_channels(api: Api) -> None:
    database_id, resource_id = await load_seed(api)
    task = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    status = await api.wait_task(task["task_id"])
    assert list(status)[:5] == ["status", "progress", "result", "task_id", "error_text"]
    assert status["status"] == "completed", status
    assert status["progress"] == 100
    [element] = status["result"]
    assert list(element) == RESULT_KEYS
    assert element["channels"] == SEED_CHANNELS
    assert [entry["channel"] for entry in element["channels"]] == ["email", "push", "sms"]
    for entry in element["channels"]:
        assert list(entry) == ["channel", "status"]
        assert list(entry["status"]) == STATUS_KEYS
    assert element["resource_id"] == resource_id
    assert element["total_count"] == 1336
    assert element["in_progress"] is False
    assert element["refresh_task_id"] == ""


async def test_seed_get_counters_after_refresh_equals_seed_channels(api: Api) -> None:
    database_id, resource_id = await load_seed(api)
    task = await api.ok("resources/refresh_counters", {"id": resource_id, "list_id": database_id})
    assert (await api.wait_task(task["task_id"]))["status"] == "completed"
    counters = await api.ok("databases/get_counters", {"id": database_id, "resource_id": resource_id})
    assert counters == SEED_CHANNELS
    for entry in counters:
        assert list(entry["status"]) == STATUS_KEYS


async def test_get_counters_before_any_refresh_is_all_zeros(api: Api) -> None:
    database_id, resource_id = await load_seed(api)
    counters = await api.ok("databases/get_counters", {"id": database_id, "resource_id": resource_id})
    assert counters == [{"channel": channel, "status": zeros()} for channel in ("email", "push", "sms")]
    for entry in counters:
        assert list(entry["status"]) == STATUS_KEYS
