"""/docs shows every method with its body and its answer in JSON and in XML."""

from __future__ import annotations

from tally.app import METHODS
from tests.helpers import Api


async def test_openapi_lists_every_method_with_json_and_xml_examples(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    for method in METHODS:
        operation = schema["paths"][f"/api/v1.1/{method.path}"]["post"]
        body = operation["requestBody"]["content"]
        assert set(body) == {"application/json", "application/xml"}, method.path
        assert body["application/xml"]["example"].startswith('<?xml version="1.0" encoding="UTF-8"?>\n<xml>')
        assert "token" in body["application/json"]["schema"]["properties"]
        answer = operation["responses"]["200"]["content"]
        assert answer["application/json"]["example"]["error"] == 0
        assert "<error_text>Successful operation</error_text>" in answer["application/xml"]["example"]


async def test_openapi_references_resolve(api: Api) -> None:
    schema = (await api.client.get("/openapi.json")).json()
    text = str(schema)
    for reference in {part.split("'")[0] for part in text.split("#/components/schemas/")[1:]}:
        assert reference in schema["components"]["schemas"], reference


async def test_docs_page_is_served(api: Api) -> None:
    response = await api.client.get("/docs")
    assert response.status_code == 200
    assert "swagger" in response.text.lower()


def test_every_error_status_is_declared_in_json_and_xml() -> None:
    """The statuses a method can answer are in its operation, each in both formats;
    403 (a read-only token) and 409 only on methods that write."""
    from tally.app import METHODS, create_app
    from tally.config import Settings

    schema = create_app(Settings(), embedded_worker=False).openapi()
    for method in METHODS:
        responses = schema["paths"][f"/api/v1.1/{method.path}"]["post"]["responses"]
        expected = {"200", "400", "401", "404", "408", "413", "415", "429", "500", "503"}
        if method.writes:
            expected |= {"403", "409"}
        assert set(responses) == expected, method.path
        for status in expected - {"200"}:
            content = responses[status]["content"]
            assert content["application/json"]["example"]["error"] == int(status)
            assert f"<error>{status}</error>" in content["application/xml"]["example"]
