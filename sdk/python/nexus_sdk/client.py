"""NexusClient: the Gateway's API for agents, over the Connect protocol with JSON."""
from __future__ import annotations

import random as _random
import threading
import time
from typing import Any, Callable, Mapping, Optional, Sequence, TypeVar
from urllib.parse import urlsplit

from . import messages as m
from ._version import __version__
from ._connect import ConnectCaller
from .allowed_hosts import allowed_hosts_of
from .credential import Credential, ExchangedCredential
from .errors import NexusError, invalid_argument
from .http import Send, urllib_send
from .retry import RetryPolicy, call_with_retry
from .session import AuthenticatedSession
from .token_cache import TokenCache, key_for
from .wait import wait_for_active

T = TypeVar("T")
TOKEN_EXCHANGE_GRANT = "urn:ietf:params:oauth:grant-type:token-exchange"
JWT_TOKEN_TYPE = "urn:ietf:params:oauth:token-type:jwt"


class NexusClient:
    """A client of the Nexus Gateway for one agent. Thread-safe; every method raises NexusError.

    `api_key` is a registered agent's key (`nxa_...`, from `POST /agents` on the Broker; `make run` prints
    its development agent's), sent as `Authorization: Bearer`. Calls that fail with a retryable error
    (`unavailable`, or `resource_exhausted` with a retry hint) are retried per `retry`, with exponential
    backoff and full jitter; nothing else is. `timeout` bounds each attempt, and travels to the Gateway as
    the call's deadline. `send`, `sleep`, `random`, `clock` and `monotonic` are there for tests.
    """

    def __init__(self, base_url: str, api_key: str, *, timeout: Optional[float] = 30.0, retry: RetryPolicy = RetryPolicy(),
                 evict_before_expiry: float = 60.0, send: Send = urllib_send, sleep: Callable[[float], None] = time.sleep,
                 random: Callable[[], float] = _random.random, clock: Callable[[], float] = time.time,
                 monotonic: Callable[[], float] = time.monotonic) -> None:
        parts = urlsplit(base_url) if isinstance(base_url, str) else None
        if parts is None or parts.scheme not in ("http", "https") or not parts.netloc:
            raise invalid_argument(f"base_url must be an absolute http(s) URL, got {base_url!r}")
        if not isinstance(api_key, str) or api_key.strip() == "" or any(c in api_key for c in "\r\n\0"):
            raise invalid_argument("api_key must be the agent's key (nxa_...): a non-empty string on one line")
        self.base_url = base_url.rstrip("/")
        self._caller = ConnectCaller(self.base_url, api_key.strip(), send, timeout, f"nexus-sdk-python/{__version__}")
        self._retry = retry
        self._send = send
        self._sleep = sleep
        self._random = random
        self._clock = clock
        self._monotonic = monotonic
        self.cache = TokenCache(self, evict_before_expiry=evict_before_expiry, clock=clock)
        """The client's token cache: authenticated sessions share it unless given their own."""

    def __repr__(self) -> str:
        return f"NexusClient(base_url={self.base_url!r})"

    def _call(self, method: str, request: Any, response_type: type[T]) -> T:
        return call_with_retry(lambda: self._caller.call(method, request, response_type), self._retry,
                               what=method, sleep=self._sleep, random=self._random)

    # Connections

    def request_connection(self, user_id: str, provider_name: str = "", *, return_url: str, scopes: Sequence[str] = (),
                           provider_id: str = "") -> m.RequestConnectionResponse:
        """Starts a connection for workspace `user_id` to a provider (by name or alias, or `provider_id`).
        Send the user to `auth_url`; keep `connection_id`, never tokens."""
        request = m.RequestConnectionRequest(user_id=user_id, provider_name=provider_name, provider_id=provider_id,
                                             scopes=list(scopes), return_url=return_url)
        return self._call("RequestConnection", request, m.RequestConnectionResponse)

    def check_connection(self, connection_id: str) -> m.CheckConnectionResponse:
        """The connection's `status` (`pending`, `active`, `failed`, `attention_required`, `revoked`) and `reason`."""
        return self._call("CheckConnection", m.CheckConnectionRequest(connection_id=connection_id), m.CheckConnectionResponse)

    def wait_for_active(self, connection_id: str, *, interval: float = 1.0, max_interval: float = 10.0,
                        timeout: Optional[float] = None, cancel: Optional[threading.Event] = None) -> m.CheckConnectionResponse:
        """Polls until the connection is active: pauses start near `interval` seconds and grow by half up to
        `max_interval`, with jitter. Raises NexusError `connection_failed`, `attention_required` or
        `connection_revoked` at once, `deadline_exceeded` after `timeout`, `canceled` when `cancel` is set."""
        return wait_for_active(lambda: self.check_connection(connection_id), interval=interval, max_interval=max_interval,
                               timeout=timeout, cancel=cancel, monotonic=self._monotonic, sleep=self._sleep, random=self._random)

    # Credentials

    def get_token(self, connection_id: str) -> Credential:
        """The credential of an active connection."""
        response = self._call("GetToken", m.GetTokenRequest(connection_id=connection_id), m.GetTokenResponse)
        return Credential.from_message(response.credential)

    get_token_by_connection_id = get_token
    """The same as get_token (the name earlier Nexus SDKs used)."""

    def resolve_token(self, workspace_id: str, provider_name: str) -> Credential:
        """The credential of the workspace's newest active connection to the provider (that this agent may
        use), with `connection_id` telling which connection it is."""
        response = self._call("ResolveToken", m.ResolveTokenRequest(workspace_id=workspace_id, provider_name=provider_name), m.ResolveTokenResponse)
        return Credential.from_message(response.credential, response.connection_id)

    def refresh(self, connection_id: str) -> Credential:
        """Forces a refresh of an OAuth connection (after a provider 401 to a token that should be valid)."""
        response = self._call("RefreshToken", m.RefreshTokenRequest(connection_id=connection_id), m.RefreshTokenResponse)
        return Credential.from_message(response.credential)

    def authenticated_session(self, *, connection_id: Optional[str] = None, workspace_id: Optional[str] = None,
                              provider_name: Optional[str] = None, session_token: Optional[str] = None,
                              scopes: Sequence[str] = (), resource: str = "", cache: Optional[TokenCache] = None,
                              send: Optional[Send] = None, timeout: Optional[float] = 30.0) -> AuthenticatedSession:
        """A session whose `request`/`get`/`post` call a provider's API with this credential applied: give
        `connection_id`, or `workspace_id` and `provider_name`, or a `session_token` this agent holds
        (exchanged for `scopes`, or the whole clearance, and checked against `resource`)."""
        key = key_for(connection_id, workspace_id, provider_name, session_token, scopes, resource)
        return AuthenticatedSession(cache or self.cache, key, send=send or self._send, timeout=timeout, clock=self._clock)

    # Sessions

    def create_session(self, connection_id: str, agent_id: str, *, scopes: Sequence[str] = (), ttl_seconds: int = 0,
                       allowed_hosts: Sequence[str] = (), parent_session_id: str = "") -> m.IssuedSession:
        """Lets registered agent `agent_id` act on the connection within a fixed clearance: as its owner (a root
        session) or as the holder of a session for it (a child that must fit inside). The token is shown once."""
        spec = m.SessionSpec(connection_id=connection_id, agent_id=agent_id, scopes=list(scopes), ttl_seconds=ttl_seconds,
                             allowed_hosts=list(allowed_hosts), parent_session_id=parent_session_id)
        return _present(self._call("CreateSession", m.CreateSessionRequest(spec=spec), m.CreateSessionResponse).session)

    def get_session(self, session_id: str) -> m.SessionInfo:
        """A session as it is now (never its token)."""
        return _present(self._call("GetSession", m.GetSessionRequest(session_id=session_id), m.GetSessionResponse).session)

    def revoke_session(self, session_id: str) -> m.SessionInfo:
        """Revokes a session and every session delegated from it."""
        return _present(self._call("RevokeSession", m.RevokeSessionRequest(session_id=session_id), m.RevokeSessionResponse).session)

    def exchange(self, session_token: str, *, scopes: Sequence[str] = (), resource: str = "") -> ExchangedCredential:
        """RFC 8693 token exchange: a session token this agent holds for the provider credential, within the
        session's clearance (fewer `scopes` if given). Refusals carry the OAuth reason: `invalid_grant`,
        `invalid_scope`, `invalid_target`, `invalid_request`."""
        if not isinstance(session_token, str) or session_token.strip() == "":
            raise invalid_argument("session_token is required: the session token this agent was given")
        exchange = m.TokenExchange(grant_type=TOKEN_EXCHANGE_GRANT, subject_token=session_token.strip(),
                                   subject_token_type=JWT_TOKEN_TYPE, scope=" ".join(scopes), resource=resource)
        result = _present(self._call("ExchangeToken", m.ExchangeTokenRequest(exchange=exchange), m.ExchangeTokenResponse).result)
        credential = Credential.from_message(result.credential)
        return ExchangedCredential(access_token=result.access_token, issued_token_type=result.issued_token_type,
                                   token_type=result.token_type, expires_in=result.expires_in,
                                   scopes=tuple(s for s in result.scope.split(" ") if s), credential=credential,
                                   allowed_hosts=allowed_hosts_of(credential))

    # Public calls (no agent key needed; the client sends it anyway)

    def list_providers(self) -> list[m.ProviderInfo]:
        """The providers agents can connect to: public metadata only."""
        return self._call("ListProviders", m.ListProvidersRequest(), m.ListProvidersResponse).providers

    def get_capture_schema(self, state: str) -> m.GetCaptureSchemaResponse:
        """The JSON Schema of the fields a static provider needs, for the `state` of a started connection."""
        return self._call("GetCaptureSchema", m.GetCaptureSchemaRequest(state=state), m.GetCaptureSchemaResponse)

    def capture_credential(self, state: str, credentials: Mapping[str, str]) -> m.CaptureCredentialResponse:
        """Stores a static credential the user entered for a pending connection; the state works once."""
        return self._call("CaptureCredential", m.CaptureCredentialRequest(state=state, credentials=dict(credentials)), m.CaptureCredentialResponse)

    def get_jwks(self) -> list[dict[str, Any]]:
        """The public keys (JWKs) that sign session tokens, current first."""
        jwks = self._call("GetJwks", m.GetJwksRequest(), m.GetJwksResponse).jwks
        return list(jwks.keys) if jwks is not None else []

    def get_authorization_server_metadata(self) -> m.AuthorizationServerMetadata:
        """The Gateway's RFC 8414 metadata as the issuer of session tokens."""
        return _present(self._call("GetAuthorizationServerMetadata", m.GetAuthorizationServerMetadataRequest(),
                                   m.GetAuthorizationServerMetadataResponse).metadata)


def _present(value: Optional[T]) -> T:
    if value is None:
        raise NexusError("invalid_response: the Gateway's answer lacks its main field", code="internal", reason="invalid_response")
    return value
