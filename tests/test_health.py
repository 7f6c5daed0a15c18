"""/healthz says the process is alive; /readyz that its database is usable."""

from __future__ import annotations

from pathlib import Path

from tally.config import Settings
from tally.store.engine import create_engine
from tally.store.migrate import upgrade
from tests.helpers import Api, make_app


async def test_healthz_ok(api: Api) -> None:
    response = await api.client.get("/healthz")
    assert (response.status_code, response.json()) == (200, {"status": "ok"})


async def test_readyz_ready_on_current_schema(api: Api) -> None:
    response = await api.client.get("/readyz")
    assert (response.status_code, response.json()) == (200, {"status": "ready"})


async def test_readyz_503_when_migrations_are_pending(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'old.db'}"
    engine = create_engine(url)
    await upgrade(engine, "0001")
    await engine.dispose()
    async with make_app(Settings(database_url=url), embedded_worker=False) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json() == {"status": "migrations pending: run 'tally migrate'"}


async def test_readyz_503_when_database_unreachable(tmp_path: Path) -> None:
    url = f"sqlite+aiosqlite:///{tmp_path / 'missing-dir' / 'x.db'}"
    async with make_app(Settings(database_url=url), embedded_worker=False) as client:
        response = await client.get("/readyz")
    assert response.status_code == 503
    assert response.json()["status"] == "database unreachable"
