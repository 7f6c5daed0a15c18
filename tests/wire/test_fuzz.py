"""Schemathesis against a real ``tally serve``, from its own ``/openapi.json``.

Every operation gets generated bodies, valid and invalid, in JSON and in XML as the schema
declares both. Each reply must be no 5xx, a status the schema
declares, of a declared content type, matching the declared schema, and a well-formed
envelope whose ``error`` is the HTTP status (tests/wire/support.py's ``envelope``).

The server holds a small demo (databases, resources, profiles, subscriptions, a schedule
and a refresh), so that low ids exist and generated calls reach past "not found".
TALLY_FUZZ_EXAMPLES sets the examples per operation (default 40).
"""

from __future__ import annotations

import copy
import functools
import json
import os
import subprocess
from collections import Counter
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from schemathesis import GenerationMode
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_schema_conformance,
    status_code_conformance,
)

from tally.app import create_app
from tally.config import Settings
from tests.conftest import BACKENDS, free_port
from tests.processes import TALLY, sync_url, tally_processes
from tests.wire.support import envelope

API_PREFIX = "/api/v1.1/"
EXAMPLES = int(os.environ.get("TALLY_FUZZ_EXAMPLES", "40"))
#: Where each pytest worker writes what it sent and got, for the record (not asserted).
SUMMARY = Path("build/test-artifacts/fuzz")
CHECKS = [not_a_server_error, status_code_conformance, content_type_conformance, response_schema_conformance]


class FuzzTarget:
    def __init__(self, backend: str, url: str, token: str) -> None:
        self.backend = backend
        self.url = url
        self.token = token
        #: (operation, request body type, status) -> replies
        self.replies: Counter[tuple[str, str, int]] = Counter()

    def write_summary(self) -> None:
        SUMMARY.mkdir(parents=True, exist_ok=True)
        worker = os.environ.get("PYTEST_XDIST_WORKER", "main")
        rows = [
            {"operation": op, "body": body, "status": status, "replies": n}
            for (op, body, status), n in self.replies.items()
        ]
        (SUMMARY / f"{self.backend}-{worker}.json").write_text(json.dumps(rows, indent=1))


@pytest.fixture(scope="module", params=BACKENDS)
def fuzz_target(
    request: pytest.FixtureRequest, tmp_path_factory: pytest.TempPathFactory, postgres_database: str | None
) -> Iterator[FuzzTarget]:
    """``tally serve`` on the backend, holding a demo; the run's PostgreSQL database is shared."""
    directory = tmp_path_factory.mktemp("fuzz")
    database_url = (
        sync_url(postgres_database or "") if request.param == "postgres" else f"sqlite:///{directory / 'fuzz.db'}"
    )
    demo = subprocess.run(
        [TALLY, "demo", "--profiles", "50", "--database-url", database_url],
        capture_output=True,
        text=True,
        check=True,
    )
    token = demo.stdout.strip().splitlines()[-1]
    with tally_processes(database_url, directory) as processes:
        port = free_port()
        processes.serve(port, "--log-level", "warning")
        target = FuzzTarget(request.param, f"http://127.0.0.1:{port}", token)
        REAL_IDS.update(demo_objects(target))
        yield target
    target.write_summary()


def demo_objects(target: FuzzTarget) -> dict[str, Any]:
    """The ids of one of each object the demo made, plus a schedule and a refresh task."""

    def call(method: str, body: dict[str, Any]) -> Any:
        response = httpx.post(f"{target.url}/api/v1.1/{method}", json={"token": target.token, **body})
        return response.json()["data"]

    database = call("databases/list", {"limit": 1})[0]["id"]
    resource = call("resources/list", {"limit": 1})[0]["id"]
    profile = call("profiles/list", {"db_id": database, "limit": 1})[0]["profile_id"]
    schedule = call("schedules/add", {"db_id": database, "resource_id": resource, "cron": "0 6 * * *"})["id"]
    task = call("databases/refresh_counters", {"id": database, "resource_id": resource})["task_id"]
    return {"database": database, "resource": resource, "profile": profile, "schedule": schedule, "task": task}


def served_schema() -> dict[str, Any]:
    """The document ``GET /openapi.json`` serves, built without a server (it needs no database).

    Loaded at import, because schemathesis makes one test per operation at collection
    (its ``from_fixture`` does not run on pytest 9); the first test checks that the live
    server serves this very document.
    """
    app = create_app(Settings(database_url="sqlite:///unused.db"), embedded_worker=False)
    return app.openapi()


SCHEMA = served_schema()
schema = schemathesis.openapi.from_dict(copy.deepcopy(SCHEMA))  # it edits the document it is given
#: The demo's real ids, filled in by ``fuzz_target``: parameter name -> id.
REAL_IDS: dict[str, Any] = {}


#: Calls that would end a demo object, or unlink it: never given the demo's ids on purpose.
PROTECTED = {"databases/delete", "resources/delete", "resources/update", "profiles/delete", "schedules/delete"}


def object_parameters(path: str, body: dict[str, Any]) -> dict[str, str]:
    """The parameters of ``body`` that name an object, and which kind of object."""
    area = path.split("/")[0]
    kinds = {"db_id": "database", "list_id": "database", "resource_id": "resource", "profile_id": "profile"}
    kinds |= {
        "task_id": "task",
        "id": {"databases": "database", "resources": "resource", "schedules": "schedule"}.get(area, ""),
    }
    return {key: kinds[key] for key in body if kinds.get(key) in REAL_IDS}


def _operation(context: schemathesis.HookContext) -> str:
    return context.operation.path.removeprefix(API_PREFIX) if context.operation else ""


@schema.hook
def flatmap_body(context: schemathesis.HookContext, body: Any) -> st.SearchStrategy[Any]:
    """Half the generated bodies name the demo's objects: random ids are almost all unknown."""
    if not isinstance(body, dict) or _operation(context) in PROTECTED:
        return st.just(body)
    real = {key: REAL_IDS[kind] for key, kind in object_parameters(_operation(context), body).items()}
    if "dbs_ids" in body:
        real["dbs_ids"] = [REAL_IDS["database"]]
    return st.sampled_from([body, {**body, **real}]) if real else st.just(body)


@schema.hook
def filter_body(context: schemathesis.HookContext, body: Any) -> bool:
    """A protected call never names a demo object, even by chance (hypothesis likes id 1)."""
    if not isinstance(body, dict) or _operation(context) not in PROTECTED:
        return True
    named = object_parameters(_operation(context), body)
    return not any(str(body[key]).strip().removesuffix(".0") == str(REAL_IDS[kind]) for key, kind in named.items())


#: Every operation; those that end objects last (each pytest worker has its own server).
OPERATIONS = sorted(SCHEMA["paths"], key=lambda path: path.removeprefix(API_PREFIX) in PROTECTED)


@functools.cache
def cases_of(path: str) -> st.SearchStrategy[schemathesis.Case]:
    """Valid and invalid cases, in JSON and in XML (the body's media type is drawn too)."""
    operation = schema[path]["POST"]
    return st.one_of(operation.as_strategy(GenerationMode.POSITIVE), operation.as_strategy(GenerationMode.NEGATIVE))


def test_the_live_server_serves_the_fuzzed_schema(fuzz_target: FuzzTarget) -> None:
    assert httpx.get(f"{fuzz_target.url}/openapi.json").json() == SCHEMA


@pytest.mark.parametrize("path", OPERATIONS, ids=lambda path: path.removeprefix(API_PREFIX))
@settings(max_examples=EXAMPLES, deadline=None, derandomize=True, suppress_health_check=list(HealthCheck))
@given(data=st.data())
def test_every_reply_is_a_declared_envelope(path: str, data: st.DataObject, fuzz_target: FuzzTarget) -> None:
    case = data.draw(cases_of(path))
    if isinstance(case.body, dict):
        # A generated token would be tried before the header (api.md's order): 401 only.
        case.body.pop("token", None)
    response = case.call(base_url=fuzz_target.url, headers={"Authorization": f"Bearer {fuzz_target.token}"}, timeout=30)
    fuzz_target.replies[path, case.media_type or "none", response.status_code] += 1
    case.validate_response(response, checks=CHECKS)
    headers = [(name, value) for name, values in response.headers.items() for value in values]
    envelope(httpx.Response(response.status_code, headers=headers, content=response.content))


def test_the_fuzzed_schema_declares_xml_both_ways() -> None:
    """The XML request body is the JSON one's parameters under one root, not an opaque string."""
    operation = SCHEMA["paths"]["/api/v1.1/databases/get"]["post"]
    content = operation["requestBody"]["content"]
    assert content["application/xml"]["schema"]["properties"] == content["application/json"]["schema"]["properties"]
    assert content["application/xml"]["schema"]["xml"] == {"name": "xml"}
    assert set(operation["responses"]["404"]["content"]) == {"application/json", "application/xml"}
    listing = SCHEMA["paths"]["/api/v1.1/databases/list"]["post"]
    assert listing["requestBody"]["required"] is False, "every parameter is optional: an empty body is fine"
