"""An `httpx.Auth` that applies a Nexus credential: `httpx.Client(auth=NexusAuth(client, ...))`.

Importable only where `httpx` is installed; the SDK itself never needs it.
"""
from __future__ import annotations

from typing import Any, AsyncGenerator, Generator, Optional, Sequence

try:
    import httpx
except ImportError as error:  # pragma: no cover - depends on the environment
    raise ImportError("nexus_sdk.httpx_auth needs the httpx package (pip install httpx); "
                      "without it, use NexusClient.authenticated_session") from error

from .client import NexusClient
from .credential import Credential
from .errors import NexusError
from .strategies import apply_credential_parts
from .token_cache import TokenCache, key_for


class NexusAuth(httpx.Auth):
    """Applies the credential of a connection, a workspace's connection to a provider, or a session this
    agent holds to every request, by its strategy (signing strategies included, over the exact body). On a
    provider 401 it forces ONE refresh and resends ONCE. Works with Client and AsyncClient (the Gateway call
    behind a cache miss runs in a worker thread there). Keep httpx's default `follow_redirects=False`: httpx
    would carry a credential header such as X-API-Key along a redirect to another host."""

    requires_request_body = True

    def __init__(self, client: NexusClient, *, connection_id: Optional[str] = None, workspace_id: Optional[str] = None,
                 provider_name: Optional[str] = None, session_token: Optional[str] = None, scopes: Sequence[str] = (),
                 resource: str = "", cache: Optional[TokenCache] = None) -> None:
        self.cache = cache or client.cache
        self.key = key_for(connection_id, workspace_id, provider_name, session_token, scopes, resource)

    def sync_auth_flow(self, request: httpx.Request) -> Generator[httpx.Request, httpx.Response, None]:
        response = yield _signed(request, self.cache.get(self.key))
        if response.status_code == 401:
            refreshed = _refreshed(lambda: self.cache.force_refresh(self.key))
            if refreshed is not None:
                response.read()
                yield _signed(request, refreshed)

    async def async_auth_flow(self, request: httpx.Request) -> AsyncGenerator[httpx.Request, httpx.Response]:
        import anyio.to_thread  # httpx depends on anyio

        response = yield _signed(request, await anyio.to_thread.run_sync(self.cache.get, self.key))
        if response.status_code == 401:
            refreshed = await anyio.to_thread.run_sync(lambda: _refreshed(lambda: self.cache.force_refresh(self.key)))
            if refreshed is not None:
                await response.aread()
                yield _signed(request, refreshed)


def _refreshed(run: Any) -> Optional[Credential]:
    """The refreshed credential, or None for a static key that cannot be refreshed (the 401 stands)."""
    try:
        return run()  # type: ignore[no-any-return]
    except NexusError as error:
        if error.reason == "not_refreshable":
            return None
        raise


def _signed(request: httpx.Request, credential: Credential) -> httpx.Request:
    body = request.content
    url, headers = apply_credential_parts(request.method, str(request.url), dict(request.headers), body, credential)
    return httpx.Request(request.method, url, headers=headers, content=body, extensions=request.extensions)
