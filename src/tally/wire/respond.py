"""Envelope responses: the only place a result or an error becomes HTTP."""

from __future__ import annotations

from typing import Any

from starlette.responses import Response

from tally.errors import TallyError
from tally.wire.codec import Format, encode, error_envelope, success_envelope


def success_response(data: Any, fmt: Format) -> Response:
    return Response(encode(success_envelope(data), fmt), 200, media_type=fmt.media_type)


def error_response(error: TallyError, fmt: Format) -> Response:
    response = Response(encode(error_envelope(error), fmt), error.code, media_type=fmt.media_type)
    response.headers.update(error.headers)
    return response
