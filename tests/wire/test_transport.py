"""api.md section 1 over the ASGI app: paths, verbs, content types, token and format.

These tests exercise the request path up to authentication and touch no data beyond a
token lookup, so they run on SQLite only (the token lookup, ids and tasks are exercised on
every backend by test_params, test_ownership and test_seed). Remove the ``backend``
fixture below to run them on PostgreSQL too.
"""

from __future__ import annotations

import pytest

from tests.helpers import Api
from tests.wire.support import (
    API,
    assert_error,
    assert_listing,
    assert_ok,
    envelope,
    is_xml,
    post_json,
    post_raw,
    post_xml,
    to_xml_body,
)
from tests.wire.test_codec import HOSTILE


@pytest.fixture
def backend() -> str:
    return "sqlite"


MISSING_TOKEN = "Missing token: pass it as the token parameter or as 'Authorization: Bearer <token>'"
UNKNOWN_TOKEN = "Invalid token: unknown or revoked"
UNSUPPORTED = "Unsupported content type: {}. Send application/json, application/xml or text/xml"
NOT_ALLOWED = "Method not allowed: use POST."


# --- paths and verbs --------------------------------------------------------------------


async def test_unknown_method_is_404_naming_it(api: Api) -> None:
    response = await post_json(api.client, "x/y", {"token": api.token})
    assert_error(response, 404, "Unknown method: x/y")


async def test_unknown_method_without_token_is_still_404(api: Api) -> None:
    assert_error(await post_raw(api.client, "databases/nope", b"", None), 404, "Unknown method: databases/nope")


async def test_unknown_method_with_get_is_404(api: Api) -> None:
    assert_error(await api.client.get(f"{API}/a/b/c"), 404, "Unknown method: a/b/c")


async def test_unknown_method_answers_in_xml_when_accepted(api: Api) -> None:
    response = await post_raw(api.client, "x/y", headers={"Accept": "application/xml"})
    assert is_xml(response)
    assert_error(response, 404, "Unknown method: x/y")


async def test_known_method_other_verb_is_405_with_allow(api: Api) -> None:
    for verb in ["GET", "PUT", "PATCH", "DELETE", "OPTIONS"]:
        response = await api.client.request(verb, f"{API}/databases/get", params={"token": api.token})
        assert_error(response, 405, NOT_ALLOWED)
        assert response.headers["allow"] == "POST", verb


async def test_known_method_get_with_trailing_slash_is_405(api: Api) -> None:
    response = await api.client.get(f"{API}/tasks/status/?format=xml")
    assert is_xml(response)
    assert_error(response, 405, NOT_ALLOWED)
    assert response.headers["allow"] == "POST"


async def test_known_method_post_with_trailing_slash_is_accepted(api: Api) -> None:
    response = await api.client.post(f"{API}/databases/list/", json={"token": api.token})
    assert assert_listing(response) == ([], 0, 0)


async def test_known_method_post_with_repeated_slashes_is_accepted(api: Api) -> None:
    database_id = (await api.ok("databases/add", {"name": "Customers"}))["id"]
    # "/databases/list" makes /api/v1.1//databases/list, the path Altcraft clients send.
    for path in ["/databases/list", "databases//list", "databases/list//", "//databases///list/"]:
        response = await api.client.post(f"{API}/{path}", json={"token": api.token})
        items, next_from_id, total_count = assert_listing(response)
        assert ([item["id"] for item in items], next_from_id, total_count) == ([database_id], 0, 1), path


async def test_known_method_other_verbs_are_405_envelopes(api: Api) -> None:
    for verb in ["TRACE", "PROPFIND", "FOO", "HEAD"]:
        response = await api.client.request(verb, f"{API}/databases/list", params={"format": "json"})
        assert response.status_code == 405, verb
        assert response.headers["allow"] == "POST", verb
        if verb != "HEAD":
            assert_error(response, 405, NOT_ALLOWED)


async def test_unknown_method_with_made_up_verb_is_404_envelope(api: Api) -> None:
    response = await api.client.request("FOO", f"{API}/x/y")
    assert_error(response, 404, "Unknown method: x/y")
    assert "allow" not in response.headers


async def test_api_root_without_slash_is_404_not_a_redirect(api: Api) -> None:
    response = await api.client.post(API, headers={"Host": "evil.example"})
    assert "location" not in response.headers
    assert_error(response, 404, "Unknown method: /api/v1.1")


async def test_paths_under_api_outside_v1_1_are_404_envelopes(api: Api) -> None:
    for path in ["/api", "/api/", "/api/v2/databases/list", f"{API}/"]:
        response = await api.client.post(path)
        assert_error(response, 404, f"Unknown method: {path}")


async def test_unknown_method_long_name_is_cut(api: Api) -> None:
    response = await api.client.post(f"{API}/{'x' * 5000}")
    assert_error(response, 404, f"Unknown method: {'x' * 77}...")


async def test_unknown_path_with_get_is_not_405(api: Api) -> None:
    response = await api.client.get(f"{API}/databases/list/extra")
    assert_error(response, 404, "Unknown method: databases/list/extra")
    assert "allow" not in response.headers


# --- content types ----------------------------------------------------------------------


async def test_content_type_other_is_415(api: Api) -> None:
    for content_type in ["text/plain", "application/x-www-form-urlencoded", "text/html", "application/x-json"]:
        response = await post_raw(api.client, "databases/list", f'{{"token": "{api.token}"}}', content_type)
        assert_error(response, 415, UNSUPPORTED.format(content_type))


async def test_content_type_text_plain_with_empty_body_is_415(api: Api) -> None:
    assert_error(await post_raw(api.client, "databases/list", b"", "text/plain"), 415, UNSUPPORTED.format("text/plain"))


async def test_content_type_none_with_empty_body_is_empty_object(api: Api) -> None:
    # {} has no token, so authentication fails first.
    assert_error(await post_raw(api.client, "databases/get", b"", None), 401, MISSING_TOKEN)


async def test_content_type_none_with_empty_body_and_bearer_runs(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    response = await post_raw(api.client, "databases/list", b"", None, headers=headers)
    assert assert_listing(response) == ([], 0, 0)


async def test_content_type_none_with_body_is_415(api: Api) -> None:
    response = await post_raw(api.client, "databases/list", f'{{"token": "{api.token}"}}', None)
    assert_error(response, 415, UNSUPPORTED.format("none"))


async def test_content_type_json_with_parameters_is_accepted(api: Api) -> None:
    for content_type in ["application/json; charset=utf-8", "APPLICATION/JSON"]:
        response = await post_raw(api.client, "databases/add", f'{{"token": "{api.token}", "name": "C"}}', content_type)
        assert assert_ok(response)["id"] > 0
    assert (await api.call("databases/list"))["total_count"] == 2


async def test_content_type_xml_is_accepted(api: Api) -> None:
    for content_type in ["application/xml", "text/xml", "text/xml; charset=UTF-8"]:
        body = f"<xml><token>{api.token}</token><name>Customers</name></xml>"
        response = await post_raw(api.client, "databases/add", body, content_type)
        assert assert_ok(response)["id"] > 0
    assert (await api.call("databases/list"))["total_count"] == 3


async def test_content_type_json_with_empty_body_and_bearer_runs(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    response = await post_raw(api.client, "databases/list", b"", "application/xml", headers=headers)
    assert assert_listing(response) == ([], 0, 0)


async def test_hostile_bodies_over_the_app_are_400(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    for content_type, body, text in HOSTILE:
        response = await post_raw(api.client, "databases/list", body, content_type, headers=headers)
        assert_error(response, 400, text)


async def test_content_type_long_is_cut_in_the_415(api: Api) -> None:
    response = await post_raw(api.client, "databases/list", b"{}", "text/" + "x" * 1000)
    assert_error(response, 415, UNSUPPORTED.format("text/" + "x" * 72 + "..."))


# --- token --------------------------------------------------------------------------------


async def test_token_missing_everywhere_is_401(api: Api) -> None:
    assert_error(await post_json(api.client, "databases/list", {}), 401, MISSING_TOKEN)


async def test_token_unknown_is_401(api: Api) -> None:
    response = await post_json(api.client, "databases/list", {"token": "tly_nope"})
    assert_error(response, 401, UNKNOWN_TOKEN)


async def test_token_body_not_a_non_empty_string_is_401(api: Api) -> None:
    for token in ["", "   ", 5, None, ["t"], {"a": 1}, True]:
        response = await post_json(api.client, "databases/list", {"token": token})
        assert_error(response, 401, "Invalid token: the token parameter must be a non-empty string")


async def test_token_body_beats_invalid_bearer(api: Api) -> None:
    headers = {"Authorization": "Bearer tly_wrong"}
    assert_ok(await post_json(api.client, "databases/list", {"token": api.token}, headers=headers))


async def test_token_invalid_body_is_401_despite_valid_bearer(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    response = await post_json(api.client, "databases/list", {"token": "tly_wrong"}, headers=headers)
    assert_error(response, 401, UNKNOWN_TOKEN)


async def test_token_empty_body_token_is_401_despite_valid_bearer(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    response = await post_json(api.client, "databases/list", {"token": ""}, headers=headers)
    assert_error(response, 401, "Invalid token: the token parameter must be a non-empty string")


async def test_token_xml_body_token_is_used(api: Api) -> None:
    headers = {"Authorization": "Bearer tly_wrong"}
    assert_ok(await post_xml(api.client, "databases/list", {"token": api.token}, headers=headers))


async def test_token_bearer_alone_is_used(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    assert_ok(await post_json(api.client, "databases/list", {}, headers=headers))


async def test_token_bearer_scheme_is_case_insensitive(api: Api) -> None:
    headers = {"Authorization": f"bearer   {api.token} "}
    assert_ok(await post_json(api.client, "databases/list", {}, headers=headers))


async def test_token_bearer_beats_invalid_query(api: Api) -> None:
    headers = {"Authorization": f"Bearer {api.token}"}
    assert_ok(await post_json(api.client, "databases/list", {}, headers=headers, params={"token": "tly_wrong"}))


async def test_token_invalid_bearer_is_401_despite_valid_query(api: Api) -> None:
    headers = {"Authorization": "Bearer tly_wrong"}
    response = await post_json(api.client, "databases/list", {}, headers=headers, params={"token": api.token})
    assert_error(response, 401, UNKNOWN_TOKEN)


async def test_token_malformed_authorization_is_401_despite_valid_query(api: Api) -> None:
    for authorization in ["Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "Token abc", ""]:
        headers = {"Authorization": authorization}
        response = await post_json(api.client, "databases/list", {}, headers=headers, params={"token": api.token})
        assert_error(response, 401, "Invalid token: use the header 'Authorization: Bearer <token>'")


async def test_token_query_alone_is_used(api: Api) -> None:
    assert_ok(await post_json(api.client, "databases/list", {}, params={"token": api.token}))


async def test_token_query_invalid_is_401(api: Api) -> None:
    response = await post_json(api.client, "databases/list", {}, params={"token": "tly_wrong"})
    assert_error(response, 401, UNKNOWN_TOKEN)


async def test_token_is_checked_before_parameters(api: Api) -> None:
    response = await post_json(api.client, "databases/get", {"token": "tly_wrong", "id": "abc"})
    assert_error(response, 401, UNKNOWN_TOKEN)


# --- format -------------------------------------------------------------------------------


async def test_format_default_is_json(api: Api) -> None:
    response = await api.raw("databases/list")
    assert response.headers["content-type"] == "application/json"
    assert assert_listing(response) == ([], 0, 0)


async def test_format_body_xml_gives_xml(api: Api) -> None:
    response = await api.raw("databases/list", {"format": "XML"})
    assert is_xml(response)
    assert assert_listing(response) == ([], 0, 0)
    assert response.text.endswith(
        "<data></data>\n<error>0</error>\n<error_text>Successful operation</error_text>\n"
        "<next_from_id>0</next_from_id>\n<total_count>0</total_count>\n</xml>"
    )


async def test_format_query_xml_gives_xml(api: Api) -> None:
    response = await api.raw("databases/list", params={"format": "xml"})
    assert is_xml(response)
    assert_ok(response)


async def test_format_body_beats_query(api: Api) -> None:
    response = await api.raw("databases/list", {"format": "json"}, params={"format": "xml"})
    assert response.headers["content-type"] == "application/json"
    response = await api.raw("databases/list", {"format": "xml"}, params={"format": "json"})
    assert is_xml(response)


async def test_format_body_beats_invalid_query(api: Api) -> None:
    response = await api.raw("databases/list", {"format": "xml"}, params={"format": "yaml"})
    assert is_xml(response)
    assert_ok(response)


async def test_format_query_beats_accept(api: Api) -> None:
    response = await api.raw("databases/list", params={"format": "json"}, headers={"Accept": "application/xml"})
    assert response.headers["content-type"] == "application/json"


async def test_format_xml_body_carries_format(api: Api) -> None:
    response = await post_xml(api.client, "databases/list", {"token": api.token, "format": "xml"})
    assert is_xml(response)
    assert_ok(response)


async def test_format_body_invalid_is_400(api: Api) -> None:
    for value in ["yaml", "", "html", "jsonx"]:
        response = await api.raw("databases/list", {"format": value})
        assert_error(response, 400, f"Invalid parameter: format must be 'json' or 'xml', got {value!r} (body)")


async def test_format_body_not_a_string_is_400(api: Api) -> None:
    response = await api.raw("databases/list", {"format": ["xml"]})
    assert_error(response, 400, "Invalid parameter: format must be 'json' or 'xml', got ['xml'] (body)")


async def test_format_query_invalid_is_400_in_accepted_format(api: Api) -> None:
    response = await api.raw("databases/list", params={"format": "yaml"}, headers={"Accept": "application/xml"})
    assert is_xml(response)
    assert_error(response, 400, "Invalid parameter: format must be 'json' or 'xml', got 'yaml' (query)")


async def test_format_accept_xml_gives_xml(api: Api) -> None:
    for accept in ["application/xml", "text/xml", "application/xml;q=0.9, */*;q=0.1"]:
        response = await api.raw("databases/list", headers={"Accept": accept})
        assert is_xml(response), accept
        assert response.text.startswith(
            '<?xml version="1.0" encoding="UTF-8"?>\n<xml>\n<data></data>\n<error>0</error>\n'
        )
        assert_ok(response)


async def test_format_accept_other_gives_json(api: Api) -> None:
    for accept in ["application/json", "*/*", "text/html", "application/xml;q=0"]:
        response = await api.raw("databases/list", headers={"Accept": accept})
        assert response.headers["content-type"] == "application/json", accept
        assert_ok(response)


async def test_format_error_before_body_uses_query_format(api: Api) -> None:
    response = await post_raw(api.client, "databases/list", b"{}", "text/plain", params={"format": "xml"})
    assert is_xml(response)
    assert_error(response, 415, UNSUPPORTED.format("text/plain"))


async def test_format_error_before_body_uses_accept(api: Api) -> None:
    response = await post_raw(api.client, "databases/list", b"x", None, headers={"Accept": "text/xml"})
    assert is_xml(response)
    assert_error(response, 415, UNSUPPORTED.format("none"))


async def test_format_error_before_body_ignores_invalid_query_format(api: Api) -> None:
    response = await post_raw(api.client, "databases/list", b"{}", "text/plain", params={"format": "yaml"})
    assert response.headers["content-type"] == "application/json"
    assert_error(response, 415, UNSUPPORTED.format("text/plain"))


async def test_format_malformed_body_uses_query_not_body_format(api: Api) -> None:
    body = f'{{"token": "{api.token}", "format": "json", '
    response = await post_raw(api.client, "databases/list", body, params={"format": "xml"})
    assert is_xml(response)
    assert envelope(response)["error"] == 400


async def test_format_malformed_xml_uses_accept(api: Api) -> None:
    body = to_xml_body({"token": api.token, "format": "json"}).removesuffix("</xml>")
    response = await post_raw(api.client, "databases/list", body, "application/xml", headers={"Accept": "text/xml"})
    assert is_xml(response)
    assert envelope(response)["error"] == 400


async def test_format_error_on_401_uses_body_format(api: Api) -> None:
    response = await post_json(api.client, "databases/list", {"token": "tly_wrong", "format": "xml"})
    assert is_xml(response)
    assert_error(response, 401, UNKNOWN_TOKEN)


async def test_unknown_method_with_control_character_stays_well_formed_xml(api: Api) -> None:
    response = await api.client.post(f"{API}/a%00b%1Fc", params={"format": "xml"})
    assert is_xml(response)
    assert_error(response, 404, "Unknown method: a\ufffdb\ufffdc")
    response = await api.client.post(f"{API}/a%00b")
    assert_error(response, 404, "Unknown method: a\x00b")
