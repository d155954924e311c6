"""A per-key credential cache: evicts before expiry, and runs one fetch per key however many threads ask."""
from __future__ import annotations

import dataclasses
import logging
import threading
import time
from dataclasses import dataclass, field
from typing import Callable, Optional, Protocol, Sequence, Union

from .credential import Credential, ExchangedCredential
from .errors import NexusError, invalid_argument

log = logging.getLogger("nexus_sdk")

# Past this many entries, storing one first drops those gone stale (session keys come and go with their sessions).
_SWEEP_ABOVE = 256


@dataclass(frozen=True)
class ConnectionKey:
    """A connection, by id."""

    connection_id: str


@dataclass(frozen=True)
class WorkspaceKey:
    """A workspace's newest active connection to a provider (resolve_token)."""

    workspace_id: str
    provider_name: str


@dataclass(frozen=True)
class SessionKey:
    """A session token this agent holds, exchanged (RFC 8693) for `scopes` (all of its clearance when empty)."""

    session_token: str = field(repr=False)
    scopes: tuple[str, ...] = ()
    resource: str = ""

    def __post_init__(self) -> None:
        object.__setattr__(self, "session_token", self.session_token.strip())
        object.__setattr__(self, "scopes", tuple(sorted(set(self.scopes))))


TokenKey = Union[ConnectionKey, WorkspaceKey, SessionKey]


def key_for(connection_id: Optional[str] = None, workspace_id: Optional[str] = None, provider_name: Optional[str] = None,
            session_token: Optional[str] = None, scopes: Sequence[str] = (), resource: str = "") -> TokenKey:
    """The key of exactly one target: `connection_id`, or `workspace_id` and `provider_name`, or `session_token`."""
    if connection_id is not None and workspace_id is None and provider_name is None and session_token is None:
        return ConnectionKey(connection_id)
    if workspace_id is not None and provider_name is not None and connection_id is None and session_token is None:
        return WorkspaceKey(workspace_id, provider_name)
    if session_token is not None and connection_id is None and workspace_id is None and provider_name is None:
        return SessionKey(session_token, tuple(scopes), resource)
    raise invalid_argument("give connection_id, or workspace_id and provider_name, or session_token")


class CredentialSource(Protocol):
    """What the cache needs from a NexusClient."""

    def get_token(self, connection_id: str) -> Credential: ...
    def resolve_token(self, workspace_id: str, provider_name: str) -> Credential: ...
    def refresh(self, connection_id: str) -> Credential: ...
    def exchange(self, session_token: str, *, scopes: Sequence[str] = (), resource: str = "") -> ExchangedCredential: ...


class _Flight:
    """One fetch under way, which every thread asking for its key waits for."""

    def __init__(self) -> None:
        self.done = threading.Event()
        self.credential: Optional[Credential] = None
        self.error: Optional[BaseException] = None

    def wait(self) -> Credential:
        self.done.wait()
        if self.error is not None:
            raise _copy(self.error)
        assert self.credential is not None
        return self.credential


class TokenCache:
    """Caches credentials per key so agents do not call the Gateway for every request. Thread-safe.

    A credential is served until `evict_before_expiry` seconds before its `expires_at`, never past it (one
    that arrives already inside that margin is handed to its callers but not kept); one without `expires_at`
    (a static key) is kept until `invalidate`. Concurrent misses of a key share ONE Gateway call.
    """

    def __init__(self, client: CredentialSource, *, evict_before_expiry: float = 60.0, clock: Callable[[], float] = time.time) -> None:
        self._client = client
        self._margin = evict_before_expiry
        self._clock = clock
        self._lock = threading.Lock()
        self._entries: dict[TokenKey, tuple[Credential, Optional[float]]] = {}
        self._fetching: dict[TokenKey, _Flight] = {}
        self._refreshing: dict[TokenKey, _Flight] = {}
        # Which connection a workspace key resolved to, kept even when its credential is not (short-lived tokens).
        self._connections: dict[TokenKey, str] = {}

    def get(self, key: TokenKey) -> Credential:
        """The cached credential while fresh, else the result of the one fetch all concurrent callers share."""
        with self._lock:
            entry = self._entries.get(key)
            if entry is not None and (entry[1] is None or self._clock() < entry[1]):
                return entry[0]
            # A refresh under way answers sooner, with a newer credential, than a fetch started now.
            flight = self._refreshing.get(key) or self._fetching.get(key)
            lead = flight is None
            if flight is None:
                flight = self._fetching[key] = _Flight()
        if lead:
            self._fly(key, flight, self._fetching, lambda: self._fetch(key))
        return flight.wait()

    def invalidate(self, key: TokenKey) -> None:
        """Forgets the key's credential; the next get fetches."""
        with self._lock:
            self._entries.pop(key, None)
            self._fetching.pop(key, None)
            self._refreshing.pop(key, None)
            self._connections.pop(key, None)

    def force_refresh(self, key: TokenKey) -> Credential:
        """Asks Nexus for a new credential now (after a provider 401): RefreshToken for a connection; for a
        workspace, a refresh of the connection its credential came from; a new exchange for a session (its
        holder may not refresh the connection, and the Broker keeps it fresh). Concurrent calls share one."""
        with self._lock:
            self._entries.pop(key, None)
            self._fetching.pop(key, None)
            known = self._connections.get(key)
            flight = self._refreshing.get(key)
            lead = flight is None
            if flight is None:
                flight = self._refreshing[key] = _Flight()
        if lead:
            self._fly(key, flight, self._refreshing, lambda: self._refresh(key, known))
        return flight.wait()

    def _fetch(self, key: TokenKey) -> Credential:
        if isinstance(key, ConnectionKey):
            return self._client.get_token(key.connection_id)
        if isinstance(key, WorkspaceKey):
            return self._client.resolve_token(key.workspace_id, key.provider_name)
        return self._client.exchange(key.session_token, scopes=key.scopes, resource=key.resource).credential

    def _refresh(self, key: TokenKey, known: Optional[str]) -> Credential:
        if isinstance(key, SessionKey):
            return self._fetch(key)
        if isinstance(key, ConnectionKey):
            return self._client.refresh(key.connection_id)
        connection_id = known or self._client.resolve_token(key.workspace_id, key.provider_name).connection_id
        if connection_id is None:
            return self._client.resolve_token(key.workspace_id, key.provider_name)
        return dataclasses.replace(self._client.refresh(connection_id), connection_id=connection_id)

    def _fly(self, key: TokenKey, flight: _Flight, flights: dict[TokenKey, _Flight], run: Callable[[], Credential]) -> None:
        try:
            flight.credential = run()
        except BaseException as error:  # every waiter must wake up, whatever happened
            flight.error = error
        with self._lock:
            # An invalidate() during the fetch removed the flight: its answer must not come back as fresh.
            if flights.get(key) is flight:
                del flights[key]
                if flight.credential is not None:
                    self._keep(key, flight.credential)
        flight.done.set()

    def _keep(self, key: TokenKey, credential: Credential) -> None:
        if isinstance(key, WorkspaceKey) and credential.connection_id is not None:
            self._connections[key] = credential.connection_id
        stale_at = None if credential.expires_at is None else credential.expires_at - self._margin
        now = self._clock()
        if stale_at is not None and stale_at <= now:
            self._entries.pop(key, None)
            log.debug("a credential arrived inside the eviction margin; not caching it")
            return
        if len(self._entries) >= _SWEEP_ABOVE:
            for stale in [k for k, (_, at) in self._entries.items() if at is not None and at <= now]:
                del self._entries[stale]
        self._entries[key] = (credential, stale_at)


def _copy(error: BaseException) -> BaseException:
    """A NexusError of its own for each waiting thread, so their tracebacks do not pile onto one object."""
    if isinstance(error, NexusError):
        return NexusError(error.message, code=error.code, reason=error.reason, retryable=error.retryable,
                          metadata=error.metadata, field_violations=error.field_violations,
                          retry_after=error.retry_after, http_status=error.http_status)
    return error

