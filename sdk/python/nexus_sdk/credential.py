"""The credential an agent receives, and checked access to its strategy."""
from __future__ import annotations

from dataclasses import dataclass, field
from types import MappingProxyType
from typing import Any, Mapping, Optional

from . import messages
from ._wire import WireError, decode
from .errors import credential_invalid, invalid_argument

Strategy = messages.Strategy
"""How to apply a credential: `type` (`oauth2`, `header`, `query_param`, `basic_auth`, `hmac_payload`,
`aws_sigv4`) and its string `config`."""


@dataclass(frozen=True)
class Credential:
    """What to send (`credentials`) and how (`strategy`). Its repr never shows the secret values.

    Pass it to `apply_credential`; you rarely need to look inside.
    """

    strategy: Strategy
    credentials: Mapping[str, str] = field(repr=False)
    expires_at: Optional[int] = None
    """When it stops working, in unix seconds; None when it does not expire."""
    connection_id: Optional[str] = None
    """The connection it came from, when the call said (resolve_token)."""

    @staticmethod
    def from_message(message: Optional[messages.Credential], connection_id: str = "") -> "Credential":
        """From the Gateway's message. A payload without a strategy gets an empty type, which every strategy
        function refuses: a payload the SDK cannot interpret never becomes an unsigned request."""
        strategy = message.strategy if message is not None and message.strategy is not None else Strategy()
        return Credential(
            strategy=Strategy(type=strategy.type, config=dict(strategy.config)),
            credentials=MappingProxyType(dict(message.credentials) if message is not None else {}),
            expires_at=message.expires_at if message is not None else None,
            connection_id=connection_id or None,
        )

    @staticmethod
    def from_json(payload: Mapping[str, Any]) -> "Credential":
        """From the credential payload as the REST routes return it (`GET /v1/token/{id}`): snake_case or camelCase."""
        try:
            return Credential.from_message(decode(messages.Credential, dict(payload)))
        except WireError as error:
            raise invalid_argument(f"not a credential payload: {error}") from None


@dataclass(frozen=True)
class ExchangedCredential:
    """What an RFC 8693 exchange of a session token returns, with the credential ready for `apply_credential`."""

    access_token: str = field(repr=False)
    """The provider credential's main secret (for OAuth 2.0 the access token)."""
    issued_token_type: str
    token_type: str
    """`Bearer`, or `N_A` for static credentials."""
    expires_in: int
    """Seconds until it expires; never past the session's own expiry."""
    scopes: tuple[str, ...]
    credential: Credential
    """Its `strategy.config["allowed_hosts"]` holds the session's hosts, if any."""
    allowed_hosts: tuple[str, ...]
    """Hosts the credential may be sent to; empty: any."""


class StrategyReader:
    """Typed, checked access to a credential's strategy settings and secret fields. Every problem is a
    NexusError with reason `credential_invalid` naming what is wrong, never showing a secret value."""

    def __init__(self, credential: Credential) -> None:
        strategy = getattr(credential, "strategy", None)
        kind = getattr(strategy, "type", "")
        self.type: str = kind if isinstance(kind, str) else ""
        self._config: Mapping[str, Any] = getattr(strategy, "config", None) or {}
        self._fields: Mapping[str, Any] = getattr(credential, "credentials", None) or {}

    def config(self, name: str, fallback: str) -> str:
        """A config value, or `fallback` when absent or empty."""
        value = self._config_value(name)
        return fallback if value is None or value == "" else value

    def required_config(self, name: str) -> str:
        """A config value the strategy cannot work without."""
        value = self._config_value(name)
        if value is None or value == "":
            raise credential_invalid(f'config "{name}" is required for the {self.type} strategy')
        return value

    def field(self, name: str) -> str:
        """A secret field of `credentials`: present, a string and not empty."""
        if name not in self._fields:
            raise credential_invalid(f'credential field "{name}" is missing ({self.type} strategy)')
        value = self._fields[name]
        if not isinstance(value, str):
            raise credential_invalid(f'credential field "{name}" is not a string ({self.type} strategy)')
        if value == "":
            raise credential_invalid(f'credential field "{name}" is empty ({self.type} strategy)')
        return value

    def _config_value(self, name: str) -> Optional[str]:
        value = self._config.get(name)
        if value is not None and not isinstance(value, str):
            raise credential_invalid(f'config "{name}" of the {self.type} strategy must be a string, got {type(value).__name__}')
        return value
