"""A `requests` AuthBase that applies a Nexus credential: `requests.get(url, auth=NexusAuth(client, ...))`.

Importable only where `requests` is installed; the SDK itself never needs it.
"""
from __future__ import annotations

from typing import Any, Optional, Sequence
from urllib.parse import urljoin, urlsplit

try:
    from requests.auth import AuthBase  # type: ignore[import-untyped, unused-ignore]
    from requests.models import PreparedRequest, Response  # type: ignore[import-untyped, unused-ignore]
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("nexus_sdk.requests_auth needs the requests package (pip install requests); "
                      "without it, use NexusClient.authenticated_session") from error

from .allowed_hosts import allowed_hosts_of, host_allowed, host_not_allowed
from .client import NexusClient
from .credential import Credential
from .errors import NexusError
from .strategies import apply_credential_parts
from .token_cache import TokenCache, key_for


class NexusAuth(AuthBase):  # type: ignore[misc]
    """Applies the credential of a connection, a workspace's connection to a provider, or a session this
    agent holds to every request, by its strategy (signing strategies included). On a provider 401 it forces
    ONE refresh and resends ONCE. When requests follows a redirect to another origin, the credential's
    headers are taken off first; a redirect outside the session's `allowed_hosts` is `host_not_allowed`."""

    def __init__(self, client: NexusClient, *, connection_id: Optional[str] = None, workspace_id: Optional[str] = None,
                 provider_name: Optional[str] = None, session_token: Optional[str] = None, scopes: Sequence[str] = (),
                 resource: str = "", cache: Optional[TokenCache] = None) -> None:
        self.cache = cache or client.cache
        self.key = key_for(connection_id, workspace_id, provider_name, session_token, scopes, resource)

    def __call__(self, request: PreparedRequest) -> PreparedRequest:
        original = (request.url, dict(request.headers), _body(request.body))
        _sign(request, original, self.cache.get(self.key))
        request.register_hook("response", self._on_response)
        return request

    def _on_response(self, response: Response, **kwargs: Any) -> Response:
        request: Any = response.request
        original = getattr(request, "_nexus_original", None)
        credential: Optional[Credential] = getattr(request, "_nexus_credential", None)
        if original is None or credential is None:
            return response
        if response.is_redirect:
            following = urljoin(response.url, response.headers["location"])
            hosts = allowed_hosts_of(credential)
            if hosts and not host_allowed(urlsplit(following).hostname or "", hosts):
                response.close()
                raise host_not_allowed(urlsplit(following).hostname or "", hosts)
            if _origin(following) != _origin(request.url):
                # requests carries every header to the next hop; the credential stays behind.
                for name in request._nexus_added:
                    request.headers.pop(name, None)
            return response
        if response.status_code != 401 or getattr(request, "_nexus_retried", False):
            return response
        try:
            refreshed = self.cache.force_refresh(self.key)
        except NexusError as error:
            if error.reason == "not_refreshable":
                return response
            raise
        response.content  # noqa: B018 - read it all, so the connection can be reused
        response.close()
        again: Any = request.copy()
        _sign(again, original, refreshed)
        again._nexus_retried = True
        retried = response.connection.send(again, **kwargs)
        retried.history.append(response)
        retried.request = again
        return retried  # type: ignore[no-any-return, unused-ignore]


def _sign(request: Any, original: tuple[str, dict[str, str], Optional[bytes]], credential: Credential) -> None:
    url, headers, body = original
    signed_url, signed = apply_credential_parts(request.method or "GET", url, headers, body, credential)
    request.url = signed_url
    request.headers.clear()
    request.headers.update(signed)
    request._nexus_original = original
    request._nexus_credential = credential
    request._nexus_added = [k for k, v in signed.items() if headers.get(k) != v]


def _body(body: Any) -> Optional[bytes]:
    if body is None or isinstance(body, bytes):
        return body
    if isinstance(body, str):
        return body.encode("utf-8")
    return None  # a stream: fine for header strategies; the signing ones refuse it as credential_invalid


def _origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme.lower(), parts.netloc.lower()
