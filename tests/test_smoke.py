"""The shortest path through the product: data in, refresh, counters out."""

from __future__ import annotations

from tests.helpers import Api


async def test_refresh_counts_added_profiles(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subscription = {"resource_id": resource_id, "channel": "email", "email": "ann@example.org"}
    await api.ok("profiles/add", {"db_id": database_id, "data": {"subscriptions": [subscription]}})
    task = await api.ok("databases/refresh_counters", {"id": database_id, "resource_id": resource_id})
    status = await api.wait_task(task["task_id"])
    assert status["status"] == "completed", status
    [element] = status["result"]
    email = element["channels"][0]
    assert email["channel"] == "email"
    assert email["status"]["subscribed"] == 1
    assert email["status"]["subscribed_sendable"] == 1
    assert element["total_count"] == 1
