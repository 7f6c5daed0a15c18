"""The SSRF guard: a feedback URL may only reach global addresses.

The host is resolved once, every address it resolves to is judged, and the delivery then
connects to the address that was judged (never a second lookup, which a DNS rebinding
could answer differently). IPv4-mapped IPv6 addresses are judged as the IPv4 they carry.
Networks in ``TALLY_FEEDBACK_ALLOWED_NETWORKS`` are let through (operators only: never an
API field).

A refusal tells the user, through tasks/status, that a name is not public, never what it
resolves to: that would map the operator's internal names for anyone who can start a
refresh. The addresses go to the log at DEBUG.
"""

from __future__ import annotations

import asyncio
import ipaddress
import logging
import socket
from collections.abc import Sequence
from dataclasses import dataclass

log = logging.getLogger(__name__)

IPAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
IPNetwork = ipaddress.IPv4Network | ipaddress.IPv6Network

CGNAT = ipaddress.ip_network("100.64.0.0/10")
#: Not global, although Python 3.11's ``is_global`` lets them through.
NOT_GLOBAL: tuple[tuple[IPNetwork, str], ...] = (
    (ipaddress.ip_network("192.0.0.0/24"), "an IETF protocol assignment address"),
    (ipaddress.ip_network("fec0::/10"), "a site-local address"),
)


class TargetRefused(Exception):
    """The feedback URL points where Tally does not send: the text says why."""


@dataclass(frozen=True)
class Target:
    """A checked destination: connect to ``address``, present ``host`` (Host header, TLS)."""

    host: str
    address: IPAddress
    port: int


def judge(address: IPAddress, allowed: Sequence[IPNetwork] = ()) -> tuple[IPAddress, str] | None:
    """None if ``address`` may be reached, else the address judged and what kind it is."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped
    kind = _refused_kind(address, allowed)
    return None if kind is None else (address, kind)


def _refused_kind(address: IPAddress, allowed: Sequence[IPNetwork]) -> str | None:
    if any(address.version == network.version and address in network for network in allowed):
        return None
    if isinstance(address, ipaddress.IPv6Address) and address.sixtofour is not None:
        # 6to4 (2002::/16) carries an IPv4 address, which must be global: an allowed IPv4
        # network is not allowed in 6to4 form, which reaches it through a relay instead.
        inner = _refused_kind(address.sixtofour, ())
        if inner is not None:
            return f"a 6to4 address of {address.sixtofour}, {inner}"
    checks = [
        (address.is_unspecified, "an unspecified address"),
        (address.is_loopback, "a loopback address"),
        (address.is_link_local, "a link-local address"),
        (address.is_multicast, "a multicast address"),
        (isinstance(address, ipaddress.IPv4Address) and address in CGNAT, "a shared (CGNAT) address"),
        (address.is_private, "a private address"),
        (address.is_reserved, "a reserved address"),
        *((address in network, kind) for network, kind in NOT_GLOBAL if network.version == address.version),
        (not address.is_global, "not a global address"),
    ]
    for refused, kind in checks:
        if refused:
            return kind
    return None


async def resolve_target(host: str, port: int, allowed: Sequence[IPNetwork] = ()) -> Target:
    """Resolve ``host`` once and judge every address; raises TargetRefused."""
    try:
        literal: IPAddress | None = ipaddress.ip_address(host.strip("[]"))
    except ValueError:
        literal = None
    if literal is not None:
        addresses: list[IPAddress] = [literal]
    else:
        try:
            host.encode("idna")
        except UnicodeError:
            raise TargetRefused(f"cannot resolve {host!r}: not a valid host name") from None
        try:
            infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
        except OSError as exc:
            raise TargetRefused(f"cannot resolve {host!r}: {exc.strerror or exc}") from None
        addresses = list(dict.fromkeys(ipaddress.ip_address(info[4][0]) for info in infos))
        if not addresses:
            raise TargetRefused(f"{host!r} resolves to no address")
    for address in addresses:
        judged = judge(address, allowed)
        if judged is not None:
            judged_address, kind = judged
            if literal is None:
                log.debug("feedback target %s refused: it resolves to %s, %s", host, judged_address, kind)
                raise TargetRefused(f"refused: {host} is not a public address")
            # The user wrote the address: telling what kind it is reveals nothing.
            raise TargetRefused(f"refused: {judged_address} is {kind}")
    return Target(host=host, address=addresses[0], port=port)
