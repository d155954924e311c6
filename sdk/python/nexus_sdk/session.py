"""AuthenticatedSession: calls a provider's API with a Nexus credential applied by its strategy."""
from __future__ import annotations

import json as jsonlib
import logging
import time
from typing import Any, Callable, Mapping, Optional, Sequence, Union
from urllib.parse import urlencode, urljoin, urlsplit, urlunsplit

from .allowed_hosts import allowed_hosts_of, host_allowed, host_not_allowed
from .credential import Credential
from .errors import NexusError
from .http import Response, Send, urllib_send
from .strategies import apply_credential_parts
from .token_cache import TokenCache, TokenKey

log = logging.getLogger("nexus_sdk")

Params = Union[Mapping[str, Any], Sequence[tuple[str, Any]]]
_REDIRECTS = frozenset({301, 302, 303, 307, 308})
_BODY_HEADERS = ("content-type", "content-length", "content-encoding", "content-language", "content-location")


class AuthenticatedSession:
    """Sends requests to a third-party API with the credential of a connection, a workspace's connection to
    a provider, or a session this agent holds, applied by its strategy (every strategy, signing included).

    The credential comes from a TokenCache, so a burst of requests costs one Gateway call. When the provider
    answers 401, the session forces ONE refresh (for a session key: one new exchange) and retries ONCE with
    the same body bytes; a second 401 is returned, and so is the first when the credential is a static key
    that cannot be refreshed. Redirects are followed here, at most 20: the credential is applied afresh on
    the request's own origin and on hosts its `allowed_hosts` names, never elsewhere, and a redirect outside
    `allowed_hosts` is refused with `host_not_allowed` before it is followed.
    """

    def __init__(self, cache: TokenCache, key: TokenKey, *, send: Send = urllib_send, timeout: Optional[float] = 30.0,
                 clock: Callable[[], float] = time.time, max_redirects: int = 20) -> None:
        self.cache = cache
        self.key = key
        self._send = send
        self._timeout = timeout
        self._clock = clock
        self._max_redirects = max_redirects

    def request(self, method: str, url: str, *, params: Optional[Params] = None, headers: Optional[Mapping[str, str]] = None,
                data: Union[bytes, str, Params, None] = None, json: Any = None, timeout: Optional[float] = None) -> Response:
        """Sends one request. `data` is bytes, str (sent as UTF-8) or form fields; `json` a value sent as JSON;
        `params` query parameters added to the URL. Returns the answer whatever its status."""
        method = method.upper()
        target = _with_params(url, params) if params else url
        sent_headers = dict(headers or {})
        body = _body(data, json, sent_headers)
        wait = self._timeout if timeout is None else timeout
        first = self._send_following(method, target, sent_headers, body, self.cache.get(self.key), wait)
        if first.status_code != 401:
            return first
        try:
            refreshed = self.cache.force_refresh(self.key)
        except NexusError as error:
            # A static key cannot be refreshed: the provider's 401 is the truthful answer.
            if error.reason == "not_refreshable":
                return first
            raise
        log.info("the provider answered 401 at %s; retrying once with a refreshed credential", _redacted(target))
        return self._send_following(method, target, sent_headers, body, refreshed, wait)

    def get(self, url: str, **kwargs: Any) -> Response:
        """`request("GET", url, ...)`."""
        return self.request("GET", url, **kwargs)

    def post(self, url: str, **kwargs: Any) -> Response:
        """`request("POST", url, ...)`."""
        return self.request("POST", url, **kwargs)

    def put(self, url: str, **kwargs: Any) -> Response:
        """`request("PUT", url, ...)`."""
        return self.request("PUT", url, **kwargs)

    def patch(self, url: str, **kwargs: Any) -> Response:
        """`request("PATCH", url, ...)`."""
        return self.request("PATCH", url, **kwargs)

    def delete(self, url: str, **kwargs: Any) -> Response:
        """`request("DELETE", url, ...)`."""
        return self.request("DELETE", url, **kwargs)

    def __enter__(self) -> "AuthenticatedSession":
        return self

    def __exit__(self, *exc: object) -> None:
        return None

    def _send_following(self, method: str, url: str, headers: dict[str, str], body: Optional[bytes],
                        credential: Credential, timeout: Optional[float]) -> Response:
        hosts = allowed_hosts_of(credential)
        home = _origin(url)
        for _ in range(self._max_redirects + 1):
            if _origin(url) == home or (hosts and host_allowed(urlsplit(url).hostname or "", hosts)):
                sent_url, sent_headers = apply_credential_parts(method, url, headers, body, credential, now=self._clock)
            else:
                sent_url, sent_headers = url, headers
            answer = self._send(method, sent_url, sent_headers, body, timeout)
            location = answer.headers.get("location")
            if answer.status_code not in _REDIRECTS or not location:
                return answer
            following = urljoin(url, location)
            if hosts and not host_allowed(urlsplit(following).hostname or "", hosts):
                raise host_not_allowed(urlsplit(following).hostname or "", hosts)
            # As browsers do: 303 turns anything but GET and HEAD into a GET, and 301/302 turn a POST into one.
            if (answer.status_code == 303 and method not in ("GET", "HEAD")) or (answer.status_code in (301, 302) and method == "POST"):
                method, body = "GET", None
                headers = {k: v for k, v in headers.items() if k.lower() not in _BODY_HEADERS}
            if _origin(following) != _origin(url):
                headers = {k: v for k, v in headers.items() if k.lower() != "authorization"}
            url = following
        raise NexusError(f"too_many_redirects: more than {self._max_redirects} redirects from {_redacted(url)}",
                         code="failed_precondition", reason="too_many_redirects", retryable=False)


def _body(data: Union[bytes, str, Params, None], json: Any, headers: dict[str, str]) -> Optional[bytes]:
    """The exact bytes to send, read once so the retry after a 401 sends (and signs) the same; sets a content type."""
    named = {k.lower() for k in headers}
    if json is not None:
        if "content-type" not in named:
            headers["Content-Type"] = "application/json"
        return jsonlib.dumps(json, separators=(",", ":")).encode("utf-8")
    if data is None:
        return None
    if isinstance(data, (bytes, bytearray, memoryview)):
        body, kind = bytes(data), "application/octet-stream"
    elif isinstance(data, str):
        body, kind = data.encode("utf-8"), "text/plain; charset=utf-8"
    else:
        body, kind = urlencode(list(data.items()) if isinstance(data, Mapping) else list(data)).encode("ascii"), "application/x-www-form-urlencoded"
    if "content-type" not in named:
        # urllib would otherwise label every body as a form.
        headers["Content-Type"] = kind
    return body


def _with_params(url: str, params: Params) -> str:
    parts = urlsplit(url)
    extra = urlencode(list(params.items()) if isinstance(params, Mapping) else list(params))
    return urlunsplit((parts.scheme, parts.netloc, parts.path, f"{parts.query}&{extra}" if parts.query else extra, parts.fragment))


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.rpartition("@")[2].lower()


def _redacted(url: str) -> str:
    """The URL without its query, which may hold a query_param credential."""
    parts = urlsplit(url)
    return urlunsplit((parts.scheme, parts.netloc.rpartition("@")[2], parts.path, "", ""))
