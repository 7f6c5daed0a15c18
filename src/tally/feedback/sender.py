"""One delivery attempt: POST the body to a checked address, never following redirects.

The connection goes to the address the guard judged, with the URL's host name kept for
the Host header, SNI and certificate verification (httpcore's ``sni_hostname``).

Each attempt is logged as one line with the URL's scheme, host and path: its query string
may hold the receiver's credentials (``?token=…``), so httpx's own request lines, which
show the whole URL, are dropped while a delivery is made.
"""

from __future__ import annotations

import asyncio
import contextlib
import contextvars
import functools
import logging
import ssl
from dataclasses import dataclass
from urllib.parse import SplitResult, urlsplit, urlunsplit

import certifi
import httpx

from tally.feedback.guard import IPNetwork, TargetRefused, resolve_target

#: Bytes of a receiver's answer that are read (the rest is ignored).
RESPONSE_CAP = 4096

log = logging.getLogger(__name__)
_delivering = contextvars.ContextVar("delivering", default=False)


def _not_during_a_delivery(_record: logging.LogRecord) -> bool:
    return not _delivering.get()


# httpx logs in the task that sends, so the context variable tells a delivery's lines apart.
logging.getLogger("httpx").addFilter(_not_during_a_delivery)


@functools.cache
def _tls_context() -> ssl.SSLContext:
    """httpx's default verifying context (certifi's CA bundle), built once: loading the bundle
    costs ~30 ms of CPU, which a client per attempt would otherwise pay every time."""
    return ssl.create_default_context(cafile=certifi.where())


@dataclass(frozen=True)
class Answer:
    """What the receiver said; ``status`` 0 when no HTTP answer came."""

    status: int
    retry_after: str | None = None
    error: str = ""

    @property
    def is_success(self) -> bool:
        return 200 <= self.status < 300


async def post(
    url: str,
    body: bytes,
    headers: dict[str, str],
    *,
    time_limit: float,
    allowed: tuple[IPNetwork, ...],
) -> Answer:
    """POST once; TargetRefused before connecting if the target is refused.

    Success is a 2xx status line within ``time_limit`` seconds of the start; at most
    RESPONSE_CAP bytes of the body are read, in what is left of that time.
    """
    parts = urlsplit(url)
    shown = _without_query(parts)
    delivering = _delivering.set(True)
    try:
        answer = await _post(parts, body, headers, time_limit=time_limit, allowed=allowed)
    except TargetRefused as refused:
        log.info("feedback POST %s: %s", shown, refused)
        raise
    finally:
        _delivering.reset(delivering)
    log.info("feedback POST %s: %s", shown, f"HTTP {answer.status}" if answer.status else answer.error)
    return answer


def _without_query(parts: SplitResult) -> str:
    """``scheme://host[:port]/path``: no user, password, query or fragment."""
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}{parts.path or '/'}"


async def _post(
    parts: SplitResult,
    body: bytes,
    headers: dict[str, str],
    *,
    time_limit: float,
    allowed: tuple[IPNetwork, ...],
) -> Answer:
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise TargetRefused("refused: not an absolute http(s) URL")
    port = parts.port or (443 if parts.scheme == "https" else 80)
    target = await resolve_target(parts.hostname, port, allowed)
    literal = f"[{target.address}]" if target.address.version == 6 else str(target.address)
    netloc = f"{literal}:{port}"
    checked_url = urlunsplit((parts.scheme, netloc, parts.path or "/", parts.query, ""))
    host_header = parts.netloc.rpartition("@")[2]
    request_headers = {**headers, "host": host_header, "user-agent": "Tally-Feedback/1"}
    deadline = asyncio.get_running_loop().time() + time_limit
    try:
        async with httpx.AsyncClient(
            timeout=time_limit, follow_redirects=False, trust_env=False, verify=_tls_context()
        ) as client:
            request = client.build_request(
                "POST", checked_url, content=body, headers=request_headers, extensions={"sni_hostname": target.host}
            )
            async with asyncio.timeout_at(deadline):
                response = await client.send(request, stream=True)
            # The answer is its status line: the body is only drained, a little and within
            # the same time limit, and whatever happens to it changes nothing.
            try:
                async with asyncio.timeout_at(deadline):
                    await _drain(response)
            except (TimeoutError, httpx.HTTPError):
                pass
            finally:
                with contextlib.suppress(httpx.HTTPError):
                    await response.aclose()
    except (TimeoutError, httpx.TimeoutException):
        return Answer(0, error=f"no answer within {time_limit:g}s")
    except httpx.TransportError as exc:
        return Answer(0, error=f"connection failed: {type(exc).__name__}: {exc}".rstrip(": "))
    error = "" if response.is_success else f"HTTP {response.status_code}"
    if response.is_redirect:
        error += f" (redirect to {response.headers.get('location', '?')!r} not followed)"
    return Answer(response.status_code, response.headers.get("retry-after"), error)


async def _drain(response: httpx.Response) -> None:
    """Read at most RESPONSE_CAP bytes of the answer's body, then stop."""
    read = 0
    async for chunk in response.aiter_raw():
        read += len(chunk)
        if read >= RESPONSE_CAP:
            return
