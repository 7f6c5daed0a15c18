"""The SSRF guard: with the default policy nothing but global addresses is reached.

Only loopback is ever connected to (or would be, were the guard broken): a listening
socket there checks that no connection came. Other non-global addresses are checked on the
guard's decision function alone, so that no test can reach outside this machine even by
mistake.
"""

from __future__ import annotations

import asyncio
import re
import socket
from collections.abc import Iterator
from ipaddress import ip_address, ip_network

import pytest
from sqlalchemy.ext.asyncio import AsyncEngine

from tally.config import Settings
from tally.feedback.guard import TargetRefused, judge, resolve_target
from tests.feedback.receiver import Sentinel
from tests.feedback.support import refresh_with, running_worker, wait_feedback
from tests.helpers import Api


def ipv6_works() -> bool:
    try:
        with socket.create_server(("::1", 0), family=socket.AF_INET6):
            return True
    except OSError:
        return False


@pytest.fixture
def sentinel() -> Iterator[Sentinel]:
    sentinel = Sentinel("127.0.0.1")
    yield sentinel
    sentinel.close()


async def test_loopback_in_every_spelling_is_refused_without_a_connection(
    idle_api: Api, engine: AsyncEngine, default_settings: Settings, sentinel: Sentinel, fake_dns: dict[str, list[str]]
) -> None:
    fake_dns["rebound.test"] = ["127.0.0.1"]
    port = sentinel.port
    # localhost may resolve to ::1 first on some machines: either is a loopback address.
    urls = {
        f"http://127.0.0.1:{port}/hook": r"refused: 127\.0\.0\.1 is a loopback address",
        f"http://127.0.0.2:{port}/hook": r"refused: 127\.0\.0\.2 is a loopback address",
        f"http://localhost:{port}/hook": r"refused: localhost is not a public address",
        f"http://LocalHost:{port}/hook": r"refused: localhost is not a public address",
        f"http://[::ffff:127.0.0.1]:{port}/hook": r"refused: 127\.0\.0\.1 is a loopback address",
        f"http://0.0.0.0:{port}/hook": r"refused: 0\.0\.0\.0 is an unspecified address",
        f"http://127.1:{port}/hook": r"refused: 127\.1 is not a public address",
        f"http://2130706433:{port}/hook": r"refused: 2130706433 is not a public address",
        f"https://rebound.test:{port}/hook": r"refused: rebound\.test is not a public address",
        f"http://user:pw@127.0.0.1:{port}/hook": r"refused: 127\.0\.0\.1 is a loopback address",
    }
    task_id = await refresh_with(idle_api, *({"type": "JSON", "url": url} for url in urls))

    async with running_worker(engine, default_settings):
        data = await wait_feedback(idle_api, task_id)

    assert [entry["url"] for entry in data["feedback"]] == list(urls)
    for entry in data["feedback"]:
        assert re.fullmatch(urls[entry["url"]], entry["last_error"]), entry
    assert {(entry["status"], entry["attempts"]) for entry in data["feedback"]} == {("failed", 0)}
    await asyncio.sleep(0.2)
    assert sentinel.connections() == 0


@pytest.mark.skipif(not ipv6_works(), reason="no IPv6 loopback here")
async def test_ipv6_loopback_is_refused_without_a_connection(
    idle_api: Api, engine: AsyncEngine, default_settings: Settings
) -> None:
    sentinel6 = Sentinel("::1")
    try:
        urls = [f"http://[::1]:{sentinel6.port}/hook", f"http://[0:0:0:0:0:0:0:1]:{sentinel6.port}/"]
        task_id = await refresh_with(idle_api, *({"type": "XML", "url": url} for url in urls))

        async with running_worker(engine, default_settings):
            data = await wait_feedback(idle_api, task_id)

        assert [(e["status"], e["attempts"], e["last_error"]) for e in data["feedback"]] == [
            ("failed", 0, "refused: ::1 is a loopback address")
        ] * 2
        await asyncio.sleep(0.2)
        assert sentinel6.connections() == 0
    finally:
        sentinel6.close()


@pytest.mark.skipif(not ipv6_works(), reason="no IPv6 loopback here")
async def test_allowed_networks_let_only_themselves_through(api: Api) -> None:
    # These tests' settings allow 127.0.0.0/8: ::1 is still refused.
    sentinel6 = Sentinel("::1")
    try:
        task_id = await refresh_with(api, {"type": "JSON", "url": f"http://[::1]:{sentinel6.port}/"})
        data = await wait_feedback(api, task_id)
        assert data["feedback"][0]["last_error"] == "refused: ::1 is a loopback address"
        assert sentinel6.connections() == 0
    finally:
        sentinel6.close()


async def test_an_invalid_host_name_fails_without_a_lookup(
    idle_api: Api, engine: AsyncEngine, default_settings: Settings
) -> None:
    url = f"http://{'a' * 64}.test/hook"  # a DNS label of 64 characters cannot exist
    task_id = await refresh_with(idle_api, {"type": "JSON", "url": url})
    async with running_worker(engine, default_settings):
        data = await wait_feedback(idle_api, task_id)
    assert (data["feedback"][0]["status"], data["feedback"][0]["attempts"]) == ("failed", 0)
    assert data["feedback"][0]["last_error"] == f"cannot resolve '{'a' * 64}.test': not a valid host name"


# The decision function alone: none of these addresses is ever connected to. None: refused,
# for a reason whose wording depends on the Python version (its ipaddress tables).
REFUSED: dict[str, str | None] = {
    "10.0.0.1": "a private address",
    "172.16.5.4": "a private address",
    "192.168.1.1": "a private address",
    "169.254.169.254": "a link-local address",
    "100.64.0.1": "a shared (CGNAT) address",
    "100.127.255.254": "a shared (CGNAT) address",
    "127.0.0.1": "a loopback address",
    "0.0.0.0": "an unspecified address",
    "224.0.0.1": "a multicast address",
    "255.255.255.255": None,
    "240.0.0.1": None,
    "198.18.0.1": None,
    "192.0.2.1": None,
    "192.0.0.8": "an IETF protocol assignment address",
    "::1": "a loopback address",
    "::": "an unspecified address",
    "fd00::1": "a private address",
    "fc00::1": "a private address",
    "fe80::1": "a link-local address",
    "fec0::1": "a site-local address",
    "ff02::1": "a multicast address",
    "2001:db8::1": None,
    "64:ff9b::a00:1": None,
}
#: address: (the address judged, what kind it is)
MAPPED = {
    "::ffff:10.0.0.1": ("10.0.0.1", "a private address"),
    "::ffff:169.254.169.254": ("169.254.169.254", "a link-local address"),
    "::ffff:127.0.0.1": ("127.0.0.1", "a loopback address"),
    "::ffff:100.64.0.1": ("100.64.0.1", "a shared (CGNAT) address"),
    "2002:a00:1::": ("2002:a00:1::", "a 6to4 address of 10.0.0.1, a private address"),
    "2002:a9fe:a9fe::1": ("2002:a9fe:a9fe::1", "a 6to4 address of 169.254.169.254, a link-local address"),
}
GLOBAL = ["8.8.8.8", "93.184.216.34", "1.1.1.1", "2606:4700:4700::1111", "2a00:1450:4001::1", "::ffff:8.8.8.8"]


@pytest.mark.parametrize("address", list(REFUSED))
def test_non_global_addresses_are_refused(address: str) -> None:
    judged = judge(ip_address(address))
    assert judged is not None
    assert judged[0] == ip_address(address)
    if REFUSED[address] is not None:
        assert judged[1] == REFUSED[address]


@pytest.mark.parametrize("address", list(MAPPED))
def test_ipv4_carried_in_ipv6_is_judged_as_ipv4(address: str) -> None:
    judged_address, kind = MAPPED[address]
    assert judge(ip_address(address)) == (ip_address(judged_address), kind)


@pytest.mark.parametrize("address", GLOBAL)
def test_global_addresses_are_let_through(address: str) -> None:
    assert judge(ip_address(address)) is None


def test_allowed_networks_are_let_through() -> None:
    allowed = (ip_network("10.0.0.0/8"), ip_network("fd00::/8"))
    assert judge(ip_address("10.1.2.3"), allowed) is None
    assert judge(ip_address("::ffff:10.1.2.3"), allowed) is None
    assert judge(ip_address("fd00::1"), allowed) is None
    assert judge(ip_address("192.168.0.1"), allowed) == (ip_address("192.168.0.1"), "a private address")
    assert judge(ip_address("169.254.169.254"), allowed) == (ip_address("169.254.169.254"), "a link-local address")


def test_an_allowed_ipv4_network_does_not_allow_its_6to4_form() -> None:
    # 6to4 reaches the IPv4 network through a relay, not the way the operator allowed.
    loopback = (ip_network("127.0.0.0/8"),)
    assert judge(ip_address("2002:7f00:1::"), loopback) == (
        ip_address("2002:7f00:1::"),
        "a 6to4 address of 127.0.0.1, a loopback address",
    )
    assert judge(ip_address("2002:7f00:1::"), (ip_network("2002:7f00::/24"),)) is None


async def test_every_address_a_name_resolves_to_is_judged(fake_dns: dict[str, list[str]]) -> None:
    # resolve_target only resolves and judges: it never connects.
    fake_dns["mixed.test"] = ["8.8.8.8", "10.0.0.1"]
    fake_dns["metadata.test"] = ["169.254.169.254"]
    fake_dns["public.test"] = ["93.184.216.34", "2606:4700:4700::1111"]
    with pytest.raises(TargetRefused, match=r"^refused: mixed\.test is not a public address$"):
        await resolve_target("mixed.test", 80)
    with pytest.raises(TargetRefused, match=r"^refused: metadata\.test is not a public address$"):
        await resolve_target("metadata.test", 80)
    target = await resolve_target("public.test", 443)
    assert (target.host, str(target.address), target.port) == ("public.test", "93.184.216.34", 443)
    allowed = await resolve_target("mixed.test", 80, (ip_network("10.0.0.0/8"),))
    assert str(allowed.address) == "8.8.8.8"
