"""Every credential strategy of the API, applied to the parts of an HTTP request."""
from __future__ import annotations

import base64
import hashlib
import hmac
import re
import time
from typing import Callable, Mapping, Optional
from urllib.parse import quote, unquote, urlsplit, urlunsplit

from .allowed_hosts import check_host_allowed
from .credential import Credential, StrategyReader
from .errors import credential_invalid, unsupported_strategy
from .sigv4 import sign_aws_v4

_HEADER_NAME = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_UNSAFE_VALUE = re.compile(r"[\r\n\0]")
_HASHES = {"sha256": hashlib.sha256, "sha1": hashlib.sha1}


def credential_headers(credential: Credential) -> dict[str, str]:
    """The headers that carry a credential, where only headers can (gRPC metadata, WebSocket handshakes):
    `oauth2` (`Authorization: Bearer`), `header` (`header_name`: `value_prefix` + the `credential_field`
    value) and `basic_auth`. `query_param` belongs in a URL (`apply_credential_to_url`), and `hmac_payload`
    and `aws_sigv4` sign a whole request (`apply_credential`): asking for them here is `unsupported_strategy`."""
    s = StrategyReader(credential)
    if s.type == "oauth2":
        return _checked("Authorization", f"Bearer {s.field('access_token')}")
    if s.type == "header":
        name = _header_name(s.required_config("header_name"))
        return _checked(name, s.config("value_prefix", "") + s.field(s.config("credential_field", "api_key")))
    if s.type == "basic_auth":
        user = s.field(s.config("username_field", "username"))
        password = s.field(s.config("password_field", "password"))
        if ":" in user:
            raise credential_invalid("the basic_auth user name contains a colon, which basic auth cannot carry")
        return _checked("Authorization", "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8")).decode("ascii"))
    if s.type == "query_param":
        raise unsupported_strategy("query_param credentials travel in the URL, not in headers: use apply_credential_to_url or apply_credential")
    if s.type in ("hmac_payload", "aws_sigv4"):
        raise unsupported_strategy(f"{s.type} signs a whole HTTP request, so it cannot be sent as headers alone: use apply_credential")
    raise _unknown(s.type)


def apply_credential_to_url(url: str, credential: Credential) -> str:
    """Puts a `query_param` credential into a URL: parameter `param_name` set to the `credential_field` value.
    The rest of the query is kept byte for byte (only an earlier parameter of that name is replaced)."""
    s = StrategyReader(credential)
    if s.type == "":
        raise _unknown(s.type)
    if s.type != "query_param":
        raise unsupported_strategy(f"the {s.type} strategy is not carried in a URL: use credential_headers or apply_credential")
    check_host_allowed(url, credential)
    name = s.required_config("param_name")
    value = s.field(s.config("credential_field", "api_key"))
    parts = urlsplit(url)
    kept = [pair for pair in parts.query.split("&") if pair != "" and unquote(pair.split("=", 1)[0].replace("+", " ")) != name]
    kept.append(f"{quote(name, safe='')}={quote(value, safe='')}")
    return urlunsplit((parts.scheme, parts.netloc, parts.path, "&".join(kept), parts.fragment))


def hmac_signature(secret: str, message: bytes, algo: str, encoding: str) -> str:
    """HMAC of `message` keyed with the UTF-8 bytes of `secret`: `algo` `sha256` or `sha1`, `encoding` `hex`
    (lowercase) or `base64` (standard, padded). Anything else is `credential_invalid`, never a guess."""
    digest = _HASHES.get(algo)
    if digest is None:
        raise credential_invalid(f'config "algo" must be "sha256" or "sha1", got "{algo}"')
    if encoding not in ("hex", "base64"):
        raise credential_invalid(f'config "encoding" must be "hex" or "base64", got "{encoding}"')
    mac = hmac.new(secret.encode("utf-8"), message, digest)
    return mac.hexdigest() if encoding == "hex" else base64.b64encode(mac.digest()).decode("ascii")


def apply_credential_parts(method: str, url: str, headers: Mapping[str, str], body: Optional[bytes], credential: Credential,
                           *, now: Callable[[], float] = time.time) -> tuple[str, dict[str, str]]:
    """The URL and the complete headers to send for a request carrying `credential` as its strategy says.

    `body` must be the exact bytes that will be sent: `hmac_payload` and `aws_sigv4` sign them. An unknown
    strategy is `unsupported_strategy`, a malformed credential `credential_invalid`, and a URL outside the
    credential's `allowed_hosts` `host_not_allowed`: the request is never sent unsigned.
    """
    check_host_allowed(url, credential)
    s = StrategyReader(credential)
    if s.type in ("oauth2", "header", "basic_auth"):
        return url, _merged(headers, credential_headers(credential))
    if s.type == "query_param":
        return apply_credential_to_url(url, credential), dict(headers)
    if s.type == "hmac_payload":
        name = _header_name(s.required_config("header_name"))
        secret = s.field(s.config("secret_field", "api_secret"))
        signature = hmac_signature(secret, body or b"", s.config("algo", "sha256"), s.config("encoding", "hex"))
        return url, _merged(headers, {name: signature})
    if s.type == "aws_sigv4":
        return url, sign_aws_v4(method, url, headers, body, credential, now)
    raise _unknown(s.type)


def _merged(headers: Mapping[str, str], extra: Mapping[str, str]) -> dict[str, str]:
    """`headers` with `extra` set, replacing any header of the same name in another case."""
    names = {name.lower() for name in extra}
    out = {k: v for k, v in headers.items() if k.lower() not in names}
    out.update(extra)
    return out


def _header_name(name: str) -> str:
    if not _HEADER_NAME.match(name):
        raise credential_invalid('config "header_name" is not a valid HTTP header name')
    return name


def _checked(name: str, value: str) -> dict[str, str]:
    if _UNSAFE_VALUE.search(value):
        raise credential_invalid(f'the value for header "{name}" contains a line break or NUL')
    return {name: value}


def _unknown(kind: str) -> Exception:
    if kind == "":
        return credential_invalid("the credential has no strategy type")
    return unsupported_strategy(f'unknown strategy type "{kind}"; refusing to send the request unsigned')
