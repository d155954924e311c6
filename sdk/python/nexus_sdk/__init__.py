"""The Nexus SDK for Python agents: a client of the Nexus Gateway, with every credential strategy applied
for you. Standard library only.

    from nexus_sdk import NexusClient

    nexus = NexusClient("http://localhost:8090", "nxa_...")
    api = nexus.authenticated_session(workspace_id="alice", provider_name="github")
    repos = api.get("https://api.github.com/user/repos")

Logs go to `logging.getLogger("nexus_sdk")` (silent until your application configures logging), never to
stdout, and never hold a secret. The optional adapters `nexus_sdk.requests_auth` and `nexus_sdk.httpx_auth`
work when `requests` or `httpx` is installed.
"""
import logging

from ._version import __version__
from .apply import apply_credential
from .client import NexusClient
from .credential import Credential, ExchangedCredential, Strategy
from .errors import FieldViolation, NexusError
from .http import Response
from .retry import RetryPolicy
from .session import AuthenticatedSession
from .sigv4 import sign_aws_v4
from .strategies import apply_credential_parts, apply_credential_to_url, credential_headers, hmac_signature
from .token_cache import ConnectionKey, SessionKey, TokenCache, TokenKey, WorkspaceKey

# A library never configures logging; this keeps Python from printing "no handlers" warnings to stderr.
logging.getLogger("nexus_sdk").addHandler(logging.NullHandler())

__all__ = [
    "AuthenticatedSession", "ConnectionKey", "Credential", "ExchangedCredential", "FieldViolation", "NexusClient",
    "NexusError", "Response", "RetryPolicy", "SessionKey", "Strategy", "TokenCache", "TokenKey", "WorkspaceKey", "__version__",
    "apply_credential", "apply_credential_parts", "apply_credential_to_url", "credential_headers", "hmac_signature",
    "sign_aws_v4",
]
