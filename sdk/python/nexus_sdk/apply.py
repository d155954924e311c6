"""apply_credential: a credential applied to the request object of urllib, requests or httpx."""
from __future__ import annotations

import time
import urllib.request
from typing import Any, Callable, TypeVar

from .credential import Credential, StrategyReader
from .errors import credential_invalid, invalid_argument
from .strategies import apply_credential_parts

R = TypeVar("R")


def apply_credential(request: R, credential: Credential, *, now: Callable[[], float] = time.time) -> R:
    """Returns a copy of `request` carrying `credential` as its strategy says (the original is left as it was).

    `request` is a `urllib.request.Request`, a `requests.PreparedRequest` or an `httpx.Request`; the copy is
    of the same kind. Every strategy works: `oauth2`, `header`, `basic_auth` (headers), `query_param` (the
    URL, the rest of its query kept), `hmac_payload` (an HMAC of the exact body bytes) and `aws_sigv4`
    (covering the body). The signing strategies need the body as bytes (or str, sent as UTF-8), not a stream.
    """
    if isinstance(request, urllib.request.Request):
        body = _bytes(request.data, credential)
        headers = dict(request.header_items())
        url, signed = apply_credential_parts(request.get_method(), request.full_url, headers, body, credential, now=now)
        data = request.data if body is None else body
        return urllib.request.Request(url, data=data, headers=signed, method=request.get_method())  # type: ignore[return-value]
    if hasattr(request, "prepare_url") and hasattr(request, "copy"):  # requests.PreparedRequest
        copy: Any = request.copy()
        body = _bytes(copy.body, credential)
        url, signed = apply_credential_parts(copy.method or "GET", copy.url, dict(copy.headers), body, credential, now=now)
        copy.headers.clear()
        copy.headers.update(signed)
        copy.url = url
        if body is not None:
            copy.body = body
        return copy  # type: ignore[no-any-return]
    if hasattr(request, "stream") and hasattr(request, "extensions"):  # httpx.Request
        source: Any = request
        body = bytes(source.read())
        url, signed = apply_credential_parts(source.method, str(source.url), dict(source.headers), body, credential, now=now)
        return type(source)(source.method, url, headers=signed, content=body, extensions=source.extensions)  # type: ignore[no-any-return]
    raise invalid_argument(f"apply_credential takes a urllib.request.Request, requests.PreparedRequest or httpx.Request, not {type(request).__name__}")


def _bytes(body: Any, credential: Credential) -> Any:
    """The body as bytes; None for none, or for a stream that a strategy which does not sign may leave alone."""
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, (bytearray, memoryview)):
        return bytes(body)
    if isinstance(body, str):
        return body.encode("utf-8")
    if StrategyReader(credential).type in ("hmac_payload", "aws_sigv4"):
        raise credential_invalid(f"the request body is a {type(body).__name__}; give bytes, so the exact bytes sent can be signed")
    return None
