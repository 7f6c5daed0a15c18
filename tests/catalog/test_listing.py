"""databases/list and resources/list answer as Altcraft's do (api.md section 4, wire/listing.py).

``data`` is the list of items itself; ``next_from_id`` and ``total_count`` follow
``error_text`` in the envelope. In XML, one ``<data>`` element per item.
"""

from __future__ import annotations

import json

from tally.app import METHODS
from tally.wire.listing import Listing
from tests.helpers import Api
from tests.wire.support import XML_PROLOG, assert_listing, post_xml


async def _databases(api: Api, count: int) -> list[int]:
    return [(await api.ok("databases/add", {"name": f"db{i}"}))["id"] for i in range(count)]


async def test_databases_list_json_is_altcraft_shaped(api: Api) -> None:
    first, second = await _databases(api, 2)
    response = await api.raw("databases/list", {"limit": 1})
    # The exact bytes: data is the list, the paging keys come after error_text.
    assert json.loads(response.content) == {
        "data": [{"id": first, "name": "db0", "description": "", "profiles_count": 0, "resources_ids": []}],
        "error": 0,
        "error_text": "Successful operation",
        "next_from_id": second,
        "total_count": 2,
    }
    assert list(response.json()) == ["data", "error", "error_text", "next_from_id", "total_count"]


async def test_databases_list_pages_to_the_end(api: Api) -> None:
    ids = await _databases(api, 5)
    seen: list[int] = []
    from_id = 1
    while True:
        items, next_from_id, total_count = assert_listing(
            await api.raw("databases/list", {"from_id": from_id, "limit": 2})
        )
        assert total_count == 5
        seen += [item["id"] for item in items]
        if next_from_id == 0:
            break
        from_id = next_from_id
    assert seen == ids


async def test_databases_list_xml_repeats_data_per_item(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    second = (await api.ok("databases/add", {"name": "Second"}))["id"]
    response = await post_xml(api.client, "databases/list", {"token": api.token, "format": "xml"})
    assert response.text == "\n".join(
        [
            XML_PROLOG,
            "<xml>",
            "<data>",
            f"<id>{database_id}</id>",
            "<name>Customers</name>",
            "<description></description>",
            "<profiles_count>0</profiles_count>",
            f"<resources_ids>{resource_id}</resources_ids>",
            "</data>",
            "<data>",
            f"<id>{second}</id>",
            "<name>Second</name>",
            "<description></description>",
            "<profiles_count>0</profiles_count>",
            "<resources_ids></resources_ids>",
            "</data>",
            "<error>0</error>",
            "<error_text>Successful operation</error_text>",
            "<next_from_id>0</next_from_id>",
            "<total_count>2</total_count>",
            "</xml>",
        ]
    )
    items, next_from_id, total_count = assert_listing(response)
    assert [item["id"] for item in items] == [str(database_id), str(second)]
    assert (next_from_id, total_count) == (0, 2)


async def test_list_xml_of_one_item_and_of_none_reads_back_as_lists(api: Api) -> None:
    empty = await api.raw("resources/list", {"format": "xml"})
    assert "<data></data>\n<error>0</error>" in empty.text
    assert assert_listing(empty) == ([], 0, 0)
    _, resource_id = await api.setup_catalog(["sms", "email"])
    items, next_from_id, total_count = assert_listing(await api.raw("resources/list", {"format": "xml"}))
    assert items == [
        {"channels": ["email", "sms"], "dbs_ids": items[0]["dbs_ids"], "id": str(resource_id), "name": "Newsletter"}
    ]
    assert (next_from_id, total_count) == (0, 1)


async def test_resources_list_json_is_altcraft_shaped(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["email"])
    envelope = await api.call("resources/list", {"from_id": resource_id})
    assert envelope == {
        "data": [{"channels": ["email"], "dbs_ids": [database_id], "id": resource_id, "name": "Newsletter"}],
        "error": 0,
        "error_text": "Successful operation",
        "next_from_id": 0,
        "total_count": 1,
    }
    after = await api.call("resources/list", {"from_id": resource_id + 1})
    assert (after["data"], after["next_from_id"], after["total_count"]) == ([], 0, 1)


def test_every_list_method_answers_a_listing() -> None:
    listed = [method for method in METHODS if method.path.endswith("/list")]
    assert {"databases/list", "resources/list"} <= {method.path for method in listed}
    for method in listed:
        assert isinstance(method.response_example, Listing), method.path


async def test_openapi_shows_the_listing_envelope(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    answer = schema["paths"]["/api/v1.1/databases/list"]["post"]["responses"]["200"]["content"]
    example = answer["application/json"]["example"]
    assert list(example) == ["data", "error", "error_text", "next_from_id", "total_count"]
    assert isinstance(example["data"], list)
    assert list(answer["application/json"]["schema"]["properties"]) == list(example)
    assert "<next_from_id>0</next_from_id>\n<total_count>1</total_count>" in answer["application/xml"]["example"]
