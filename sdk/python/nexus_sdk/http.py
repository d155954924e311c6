"""One HTTP exchange over urllib, with no redirects followed: the SDK decides where a credential may go."""
from __future__ import annotations

import json as jsonlib
import urllib.error
import urllib.request
from dataclasses import dataclass, field
from email.message import Message
from typing import Any, Callable, Mapping, Optional


@dataclass(frozen=True)
class Response:
    """An HTTP answer, fully read. Shaped like a `requests.Response` where it can be."""

    status_code: int
    headers: Message = field(repr=False)
    """Case-insensitive: `headers.get("content-type")`."""
    content: bytes = field(repr=False)
    url: str = field(repr=False)

    @property
    def ok(self) -> bool:
        """Whether the status is below 400."""
        return self.status_code < 400

    @property
    def text(self) -> str:
        """The body decoded with the charset the answer names (UTF-8 by default)."""
        charset = self.headers.get_content_charset() or "utf-8"
        return self.content.decode(charset, errors="replace")

    def json(self) -> Any:
        """The body parsed as JSON."""
        return jsonlib.loads(self.content.decode("utf-8"))


Send = Callable[[str, str, Mapping[str, str], Optional[bytes], Optional[float]], Response]
"""Sends one request (method, url, headers, body, timeout in seconds) and returns the answer, whatever its
status; raises OSError (urllib.error.URLError, TimeoutError) when no answer came. Redirects are answers too."""


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    # urllib would carry every header, Authorization and X-API-Key included, to wherever a server redirects.
    def redirect_request(self, req: Any, fp: Any, code: Any, msg: Any, headers: Any, newurl: Any) -> None:
        return None


_opener = urllib.request.build_opener(_NoRedirects)


def urllib_send(method: str, url: str, headers: Mapping[str, str], body: Optional[bytes], timeout: Optional[float]) -> Response:
    """The default `Send`: urllib, redirects returned rather than followed, 4xx and 5xx returned rather than raised."""
    request = urllib.request.Request(url, data=body, headers=dict(headers), method=method)
    try:
        with _opener.open(request, timeout=timeout) as answer:
            return Response(answer.status, answer.headers, answer.read(), url)
    except urllib.error.HTTPError as error:
        with error:
            content = error.read()
        return Response(error.code, error.headers, content, url)


def message_of(headers: Mapping[str, str]) -> Message:
    """A case-insensitive header collection, like the one urllib gives, for fakes and tests."""
    m = Message()
    for name, value in headers.items():
        m[name] = value
    return m
