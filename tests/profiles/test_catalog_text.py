"""Names and descriptions of databases and resources must read back the same in XML."""

from __future__ import annotations

import pytest

from tests.helpers import Api


@pytest.mark.parametrize("method", ["databases/add", "resources/add"])
async def test_catalog_add_name_with_control_character_is_refused(api: Api, method: str) -> None:
    for name in ["Cust\x01omers", "Cust\x0bomers", "Cust\ufffeomers"]:
        envelope = await api.call(method, {"name": name, "channels": ["email"]})
        assert envelope["error"] == 400, envelope
        assert envelope["error_text"].startswith("Invalid parameter: name must not contain control characters")


async def test_databases_add_description_with_control_character_is_refused(api: Api) -> None:
    envelope = await api.call("databases/add", {"name": "Customers", "description": "a\x00b"})
    assert envelope["error"] == 400, envelope
    assert "description" in envelope["error_text"]


async def test_databases_add_name_with_tab_and_newline_is_kept(api: Api) -> None:
    database_id = (await api.ok("databases/add", {"name": "Cus\ttomers", "description": "line 1\nline 2"}))["id"]
    database = await api.ok("databases/get", {"id": database_id})
    assert (database["name"], database["description"]) == ("Cus\ttomers", "line 1\nline 2")
