"""profiles/add and add_batch with XML bodies: one element or array="true" is a list."""

from __future__ import annotations

from typing import Any

from tests.helpers import Api


async def post_xml(api: Api, method: str, inner: str) -> dict[str, Any]:
    body = f'<?xml version="1.0" encoding="UTF-8"?><xml><token>{api.token}</token>{inner}</xml>'
    response = await api.client.post(
        f"/api/v1.1/{method}", content=body.encode(), headers={"Content-Type": "application/xml"}
    )
    envelope: dict[str, Any] = response.json()
    assert response.status_code == (envelope["error"] or 200), envelope
    return envelope


async def stored(api: Api, envelope: dict[str, Any]) -> dict[str, Any]:
    assert envelope["error"] == 0, envelope
    profile = await api.ok("profiles/get", {"profile_id": envelope["data"]["profile_id"]})
    data: dict[str, Any] = profile["data"]
    return data


def subscription_xml(resource_id: int, email: str, attributes: str = "", status: str = "subscribed") -> str:
    return (
        f"<subscriptions{attributes}><resource_id>{resource_id}</resource_id><channel>email</channel>"
        f"<email>{email}</email><status>{status}</status><priority>2</priority></subscriptions>"
    )


async def test_profiles_add_xml_single_subscription_element_is_a_list_of_one(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    sub = subscription_xml(resource_id, "ann@example.org")
    inner = f"<db_id>{database_id}</db_id><data><email>ann@example.org</email>{sub}</data>"
    data = await stored(api, await post_xml(api, "profiles/add", inner))
    assert data["email"] == "ann@example.org"
    [sub] = data["subscriptions"]
    assert (sub["resource_id"], sub["channel"], sub["email"]) == (resource_id, "email", "ann@example.org")
    assert (sub["status"], sub["priority"]) == ("subscribed", 2)


async def test_profiles_add_xml_array_true_subscription_is_a_list_of_one(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    for attributes in (' array="true"', " array='true'"):
        sub = subscription_xml(resource_id, "bob@example.org", attributes, status="4")
        data = await stored(api, await post_xml(api, "profiles/add", f"<db_id>{database_id}</db_id><data>{sub}</data>"))
        [stored_sub] = data["subscriptions"]
        assert (stored_sub["email"], stored_sub["status"]) == ("bob@example.org", "unconfirmed")


async def test_profiles_add_xml_repeated_subscriptions_are_a_list(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    subs = subscription_xml(resource_id, "a@example.org") + subscription_xml(resource_id, "b@example.org", status="3")
    phones = "<phones>+79001234567</phones><phones>+79007654321</phones>"
    data = await stored(
        api, await post_xml(api, "profiles/add", f"<db_id>{database_id}</db_id><data>{phones}{subs}</data>")
    )
    assert data["phones"] == ["+79001234567", "+79007654321"]
    assert sorted((sub["email"], sub["status"]) for sub in data["subscriptions"]) == [
        ("a@example.org", "subscribed"),
        ("b@example.org", "hardbounced"),
    ]


async def test_profiles_add_xml_single_phone_is_a_list_of_one(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    inner = f"<db_id>{database_id}</db_id><data><phones>+79001234567</phones><_status>1</_status></data>"
    data = await stored(api, await post_xml(api, "profiles/add", inner))
    assert data["phones"] == ["+79001234567"]
    assert data["_status"] == "unsubscribed"


async def test_profiles_add_xml_empty_array_has_no_subscriptions(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    inner = f'<db_id>{database_id}</db_id><data><city>Riga</city><subscriptions array="true"/></data>'
    data = await stored(api, await post_xml(api, "profiles/add", inner))
    assert data["subscriptions"] == []
    assert data["city"] == "Riga"


async def test_profiles_add_xml_cc_data_address_is_an_object(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog(["telegram_bot"])
    sub = (
        f"<subscriptions><resource_id>{resource_id}</resource_id><channel>telegram_bot</channel>"
        "<cc_data><id>123456</id></cc_data></subscriptions>"
    )
    data = await stored(api, await post_xml(api, "profiles/add", f"<db_id>{database_id}</db_id><data>{sub}</data>"))
    [stored_sub] = data["subscriptions"]
    assert stored_sub["cc_data"] == {"id": "123456"}


async def test_profiles_add_xml_bad_status_names_the_field(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    sub = subscription_xml(resource_id, "a@example.org", status="sleeping")
    envelope = await post_xml(api, "profiles/add", f"<db_id>{database_id}</db_id><data>{sub}</data>")
    assert envelope["error"] == 400
    assert "data.subscriptions[0].status" in envelope["error_text"]


async def test_profiles_add_batch_xml_single_item_array_true(api: Api) -> None:
    database_id, resource_id = await api.setup_catalog()
    item = f'<data array="true"><email>ann@example.org</email>{subscription_xml(resource_id, "ann@example.org")}</data>'
    envelope = await post_xml(api, "profiles/add_batch", f"<db_id>{database_id}</db_id>{item}")
    assert envelope["error"] == 0, envelope
    [result] = envelope["data"]
    assert (result["error"], result["error_text"]) == (0, "Successful operation")
    profile = await api.ok("profiles/get", {"profile_id": result["profile_id"]})
    assert len(profile["data"]["subscriptions"]) == 1


async def test_profiles_add_batch_xml_repeated_items_fail_alone(api: Api) -> None:
    database_id, _ = await api.setup_catalog()
    items = "<data><email>a@example.org</email></data><data><_status>nope</_status></data><data><city>X</city></data>"
    envelope = await post_xml(api, "profiles/add_batch", f"<db_id>{database_id}</db_id>{items}")
    assert [result["error"] for result in envelope["data"]] == [0, 400, 0]
    assert "data[1]._status" in envelope["data"][1]["error_text"]
