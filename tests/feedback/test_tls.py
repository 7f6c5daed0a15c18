"""HTTPS deliveries: connected to the judged address, verified against the URL's host name.

A self-signed certificate for ``tally-receiver.test`` (made with the openssl command), a
receiver on 127.0.0.1 serving it, and a resolver that answers that name with 127.0.0.1.
"""

from __future__ import annotations

import shutil
import ssl
import subprocess
from collections.abc import Iterator
from pathlib import Path

import pytest

from tally.feedback import sender
from tests.feedback.receiver import Receiver
from tests.feedback.support import refresh_with, wait_feedback
from tests.helpers import Api

NAME = "tally-receiver.test"

pytestmark = pytest.mark.skipif(shutil.which("openssl") is None, reason="needs the openssl command")


@pytest.fixture(scope="module")
def certificate(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    directory = tmp_path_factory.mktemp("tls")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:prime256v1", "-nodes",
         "-keyout", str(key), "-out", str(cert), "-days", "2", "-subj", f"/CN={NAME}",
         "-addext", f"subjectAltName=DNS:{NAME}"],
        check=True, capture_output=True,
    )  # fmt: skip
    return cert, key


@pytest.fixture
def tls_receiver(certificate: tuple[Path, Path], fake_dns: dict[str, list[str]]) -> Iterator[Receiver]:
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(*certificate)
    fake_dns[NAME] = ["127.0.0.1"]
    with Receiver(tls=context) as receiver:
        yield receiver


async def test_https_to_the_checked_address_verifies_the_url_host(
    api: Api, tls_receiver: Receiver, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Tally trusts this certificate here (in production: the public CAs).
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    monkeypatch.setattr(sender, "_tls_context", lambda: trusting)
    url = tls_receiver.url(host=NAME)
    task_id = await refresh_with(api, {"type": "JSON", "url": url})

    data = await wait_feedback(api, task_id)

    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("delivered", 1)
    [request] = tls_receiver.requests
    assert request.headers["host"] == f"{NAME}:{tls_receiver.port}"


async def test_an_untrusted_certificate_fails_every_attempt(api: Api, tls_receiver: Receiver) -> None:
    task_id = await refresh_with(api, {"type": "JSON", "url": tls_receiver.url(host=NAME)})

    data = await wait_feedback(api, task_id)

    entry = data["feedback"][0]
    assert (entry["status"], entry["attempts"]) == ("failed", 4)
    assert "CERTIFICATE_VERIFY_FAILED" in entry["last_error"]
    assert entry["last_error"].endswith("; no retries left")
    assert tls_receiver.requests == []


async def test_a_certificate_for_another_name_fails(
    api: Api, tls_receiver: Receiver, certificate: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch
) -> None:
    # Trusted, but not for 127.0.0.1: the name checked is the URL's, not the address's.
    trusting = ssl.create_default_context(cafile=str(certificate[0]))
    monkeypatch.setattr(sender, "_tls_context", lambda: trusting)
    task_id = await refresh_with(api, {"type": "JSON", "url": tls_receiver.url()})

    data = await wait_feedback(api, task_id)

    assert data["feedback"][0]["status"] == "failed"
    assert "CERTIFICATE_VERIFY_FAILED" in data["feedback"][0]["last_error"]
    assert tls_receiver.requests == []
