"""A compressed request body is refused with 415 before it is read (wire/limits.py).

The probe of issue 12 found gzip answered 400 "not UTF-8" and deflate over plain JSON
answered 200: the header was ignored. Now any encoding but ``identity`` is refused.
"""

from __future__ import annotations

import gzip
import json
import zlib

import pytest

from tests.helpers import Api


@pytest.mark.parametrize("encoding", ["gzip", "deflate", "br", "GZIP", "gzip, identity", "x-unknown"])
async def test_a_compressed_body_gets_415_naming_the_encoding(api: Api, encoding: str) -> None:
    plain = json.dumps({"token": api.token}).encode()
    body = gzip.compress(plain) if "gzip" in encoding.lower() else plain
    response = await api.client.post(
        "/api/v1.1/databases/list",
        content=body,
        headers={"Content-Type": "application/json", "Content-Encoding": encoding},
    )
    assert response.status_code == 415
    assert response.headers["connection"] == "close"
    envelope = response.json()
    assert envelope["error"] == 415
    assert envelope["error_text"] == f"Content-Encoding {encoding!r} is not supported: send the body uncompressed"


async def test_deflate_over_plain_json_is_refused_and_xml_asks_get_xml(api: Api) -> None:
    response = await api.client.post(
        "/api/v1.1/databases/list?format=xml",
        content=zlib.compress(json.dumps({"token": api.token}).encode()),
        headers={"Content-Type": "application/json", "Content-Encoding": "deflate"},
    )
    assert response.status_code == 415 and response.text.startswith("<?xml")
    assert "<error>415</error>" in response.text


async def test_identity_is_no_encoding(api: Api) -> None:
    response = await api.client.post(
        "/api/v1.1/databases/list",
        json={"token": api.token},
        headers={"Content-Encoding": "identity"},
    )
    assert response.status_code == 200 and response.json()["error"] == 0
