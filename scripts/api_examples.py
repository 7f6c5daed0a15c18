"""Write docs/api.md from real calls: every example on that page is a real response.

Runs the app in-process on a temporary SQLite file, makes each call, and prints Markdown.
Usage: make docs  (PYTHONPATH=. .venv/bin/python scripts/api_examples.py > docs/api.md)
"""

from __future__ import annotations

import asyncio
import json
import re
import tempfile
from pathlib import Path
from typing import Any

from tests.helpers import make_app

from tally.accounts.service import token_create
from tally.config import Settings
from tally.store.engine import create_engine
from tally.store.migrate import upgrade

HEADER = """# API by example

Every request and response below was produced by `scripts/api_examples.py` against a real
Tally (the token is shortened to `TOKEN`; ids and times are those of that run). The
contract is `shared/spec/api.md`; the interactive reference with every method is `/docs`.

All methods are `POST /api/v1.1/<area>/<method>`. Send JSON (`Content-Type:
application/json`) or XML (`application/xml`); the token as the `token` field or
`Authorization: Bearer <token>`; `format` (`json`/`xml`) chooses the response format.

Every reply carries `X-Request-ID` (yours, if you send a sane one, else a new one); quote it
when you report a problem. A body may hold at most 500,000 JSON values or XML elements,
nested at most 32 levels. A token in the header is checked before a large body is read, so
a 401 then answers in the query's `format` or as `Accept` asks.
"""


def _show(text: str, token: str, fence: str) -> str:
    return f"```{fence}\n{text.replace(token, 'TOKEN').strip()}\n```\n"


async def main() -> None:
    url = f"sqlite+aiosqlite:///{Path(tempfile.mkdtemp()) / 'docs.db'}"
    engine = create_engine(url)
    await upgrade(engine)
    token = (await token_create(engine, "docs")).token
    await engine.dispose()
    out = [HEADER]
    async with make_app(Settings(database_url=url, poll_interval=0.01)) as client:

        async def call(title: str, method: str, body: dict[str, Any], note: str = "") -> Any:
            response = await client.post(f"/api/v1.1/{method}", json={"token": token, **body})
            out.append(f"\n## {title}\n\n{note}`POST /api/v1.1/{method}`\n\n")
            out.append(_show(json.dumps({"token": token, **body}, indent=2, ensure_ascii=False), token, "json"))
            out.append(f"HTTP {response.status_code}\n\n")
            out.append(_show(json.dumps(response.json(), indent=2, ensure_ascii=False), token, "json"))
            return response.json().get("data")

        async def call_xml(title: str, method: str, xml: str) -> None:
            response = await client.post(
                f"/api/v1.1/{method}", content=xml.encode(), headers={"content-type": "application/xml"}
            )
            out.append(f"\n## {title}\n\n`POST /api/v1.1/{method}` with `Content-Type: application/xml`\n\n")
            out.append(_show(xml, token, "xml"))
            out.append(f"HTTP {response.status_code}\n\n")
            out.append(_show(response.text, token, "xml"))

        database_id = (await call("Create a database", "databases/add", {"name": "Customers"}))["id"]
        resource_id = (
            await call(
                "Create a resource linked to it",
                "resources/add",
                {"name": "Newsletter", "channels": ["email", "sms", "push"], "dbs_ids": [database_id]},
            )
        )["id"]
        archive_id = (await call("Create a second database", "databases/add", {"name": "Archive"}))["id"]
        await call(
            "Rename a database (ext)",
            "databases/update",
            {"id": database_id, "description": "Shop and newsletter sign-ups"},
            "Fields left out stay as they are; the answer is the database as `databases/get` shows it.\n\n",
        )
        await call(
            "Change a resource: its name, its channels, its databases (ext)",
            "resources/update",
            {"id": resource_id, "name": "Weekly newsletter", "dbs_ids": [database_id, archive_id]},
            "`channels` and `dbs_ids` are the full new lists.\n\n",
        )
        await call(
            "List the databases",
            "databases/list",
            {"from_id": 1, "limit": 100},
            "As Altcraft's own: `data` is the list, `next_from_id` (0 on the last page) and "
            "`total_count` follow `error_text`.\n\n",
        )
        await call_xml(
            "List the resources, in XML (one <data> per item)",
            "resources/list",
            f"<xml>\n<token>{token}</token>\n<format>xml</format>\n</xml>",
        )
        ann = {
            "email": "ann@example.org",
            "phones": ["+79001234567"],
            "_fname": "Ann",
            "city": "Riga",
            "subscriptions": [
                {"resource_id": resource_id, "channel": "email", "email": "ann@example.org"},
                {"resource_id": resource_id, "channel": "sms", "phone": "+79001234567", "status": 4},
            ],
        }
        await call("Add a profile", "profiles/add", {"db_id": database_id, "data": ann})
        bob = {
            "email": "bob@example",
            "subscriptions": [
                {"resource_id": resource_id, "channel": "email", "email": "bob@example", "status": "subscribed"}
            ],
        }
        await call(
            "Add profiles in a batch (each item succeeds or fails alone)",
            "profiles/add_batch",
            {"db_id": database_id, "data": [bob, {"subscriptions": [{"resource_id": 999, "channel": "email"}]}]},
        )
        imported = await call(
            "Add or update a profile found by its email (case does not matter)",
            "profiles/import",
            {
                "db_id": database_id,
                "matching": "email",
                "email": "ANN@example.org",
                "data": {
                    "city": "Tallinn",
                    "subscriptions": [
                        {"resource_id": resource_id, "channel": "email", "email": "ann@example.org", "status": 1}
                    ],
                },
            },
            "Fields given are set, the others kept; subscriptions are upserted by identity.\n\n",
        )
        await call(
            "Update a profile found by its phone (404 when none matches)",
            "profiles/update",
            {"db_id": database_id, "matching": "phone", "phone": "+7 900 123-45-67", "data": {"_status": "subscribed"}},
            "A phone matches in its E.164 form. A change of `_status` recomputes what is sendable.\n\n",
        )
        await call(
            "Import a batch: each item holds its key; items for one key apply in order",
            "profiles/import_batch",
            {
                "db_id": database_id,
                "matching": "email",
                "data": [{"email": "carl@example.org", "_fname": "Carl"}, {"_fname": "no key"}],
            },
        )
        await call(
            "Read a profile by its email",
            "profiles/get",
            {"db_id": database_id, "matching": "email", "email": "ann@example.org"},
        )
        await call("List a database's profiles", "profiles/list", {"db_id": database_id, "limit": 2})
        await call(
            "List one profile's subscriptions",
            "subscriptions/list",
            {"db_id": database_id, "profile_id": imported["profile_id"]},
        )
        await call(
            "Suspend every sms subscription of a database",
            "subscriptions/suspend_all",
            {"db_id": database_id, "resource_id": resource_id, "channel": "sms"},
        )
        task = await call(
            "Start a recount", "databases/refresh_counters", {"id": database_id, "resource_id": resource_id}
        )
        for _ in range(500):  # until the embedded worker has finished the task
            status = await client.post("/api/v1.1/tasks/status", json={"token": token, **task})
            if status.json()["data"]["status"] in ("completed", "error"):
                break
            await asyncio.sleep(0.02)
        await call(
            "Read the task and its result",
            "tasks/status",
            task,
            note="Poll it until `status` is `completed` or `error`. On PostgreSQL an API process may "
            "answer a poll from memory: a change of the task shows within milliseconds of its commit "
            '(operations.md, "tasks/status polls").\n\n',
        )
        await call_xml(
            "The same in XML",
            "tasks/status",
            f"<xml>\n<task_id>{task['task_id']}</task_id>\n<token>{token}</token>\n<format>xml</format>\n</xml>",
        )
        await call(
            "Read the stored counters without counting",
            "databases/get_counters",
            {"id": database_id, "resource_id": resource_id},
        )
        # One more profile and one more refresh, so that the history below has a change.
        bob = {"email": "bob@example.org", "subscriptions": [{"resource_id": resource_id, "channel": "email"}]}
        await client.post("/api/v1.1/profiles/add", json={"token": token, "db_id": database_id, "data": bob})
        again = await client.post(
            "/api/v1.1/databases/refresh_counters", json={"token": token, "id": database_id, "resource_id": resource_id}
        )
        for _ in range(500):
            status = await client.post("/api/v1.1/tasks/status", json={"token": token, **again.json()["data"]})
            if status.json()["data"]["status"] in ("completed", "error"):
                break
            await asyncio.sleep(0.02)
        await call(
            "The counters over time, each refresh with what changed since the one before (ext)",
            "databases/counters_history",
            {"id": database_id, "resource_id": resource_id, "limit": 2},
            "Newest first (`order`: `asc` for oldest first); `from` (inclusive) and `to` (exclusive) "
            "take RFC 3339 times; `from_id` and `limit` page as in `databases/list`. Refreshes are kept "
            "`TALLY_HISTORY_DAYS` (400) days.\n\n",
        )
        await call(
            "Two refreshes side by side: each counter before, after and its change (ext)",
            "databases/counters_diff",
            {"id": database_id, "resource_id": resource_id},
            "By default the last refresh and the one before it; or name each side by the task that "
            "counted it (`before_task_id`, `after_task_id`) or by a time (`before_time`, "
            "`after_time`: the last refresh counted by then).\n\n",
        )
        schedule = await call(
            "Refresh on a schedule of its own: a cron in a time zone (ext)",
            "schedules/add",
            {"db_id": database_id, "resource_id": resource_id, "cron": "0 6 * * 1-5", "timezone": "Europe/Berlin"},
            "Each due time queues one `refresh_counters` task, however many processes run (the workers' "
            "maintenance queues it within a third of `TALLY_LEASE_SECONDS`); a refresh of the pair "
            "already queued or running is joined; after downtime the missed times run once. "
            "`schedules/list`, `schedules/get` and `schedules/delete` take what their names say.\n\n",
        )
        await call(
            "Pause a schedule (and resume it with false: from its next due time on)",
            "schedules/update",
            {"id": schedule["id"], "paused": True},
        )
        await call(
            "Delete a database with its profiles, subscriptions and counters (ext)",
            "databases/delete",
            {"id": archive_id},
            "409 while a task of the database (a refresh) is queued or running.\n\n",
        )
        out.append("\n# Errors\n\nThe HTTP status equals `error`; `error_text` names the problem and the value.\n")
        await call("A parameter of the wrong type", "databases/refresh_counters", {"id": "abc", "resource_id": 1})
        await call("An unknown (or another account's) database", "databases/get", {"id": 987654})
        await call("A task id that names no task", "tasks/status", {"task_id": "nope"})
        await call(
            "Removing a channel that live subscriptions use",
            "resources/update",
            {"id": resource_id, "channels": ["push"]},
        )
    text = "".join(out)
    print(re.sub(r"\n{3,}", "\n\n", text).rstrip())


if __name__ == "__main__":
    asyncio.run(main())
