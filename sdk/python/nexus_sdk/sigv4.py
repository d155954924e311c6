"""AWS Signature Version 4, written from AWS's specification with hashlib and hmac."""
from __future__ import annotations

import hashlib
import hmac
import time
from dataclasses import dataclass
from typing import Callable, Iterable, Mapping, Optional, Union
from urllib.parse import quote, unquote, urlsplit

from .credential import Credential, StrategyReader

EMPTY_SHA256 = hashlib.sha256(b"").hexdigest()
# Headers that proxies and HTTP stacks add, drop or rewrite on the way: signing them would break the signature.
_UNSIGNED = frozenset({"authorization", "connection", "content-length", "expect", "user-agent", "x-amzn-trace-id"})
_REPLACED = frozenset({"authorization", "host", "x-amz-date", "x-amz-content-sha256", "x-amz-security-token"})


@dataclass(frozen=True)
class SigV4Signature:
    """The steps of one signature, for tests and debugging (no secret: the key is never kept)."""

    canonical_request: str
    string_to_sign: str
    signed_headers: str
    signature: str
    authorization: str


def uri_encode(text: str) -> str:
    """RFC 3986 encoding as SigV4 wants it: all but `A-Z a-z 0-9 - _ . ~` as %XX of the UTF-8 bytes, uppercase hex."""
    return quote(text, safe="")


def canonical_uri(path: str, service: str) -> str:
    """The canonical URI of a path as sent on the wire (already percent-encoded once).

    S3 signs the path as it is (each segment encoded once). Every other service normalizes it (no `.` or `..`
    segments, no empty ones) and encodes each segment again, the "double encoding" of the specification.
    """
    if service == "s3":
        return "/".join(uri_encode(unquote(segment)) for segment in (path or "/").split("/"))
    segments: list[str] = []
    for segment in (path or "/").split("/"):
        if segment == "..":
            if segments:
                segments.pop()
        elif segment not in ("", "."):
            segments.append(segment)
    trailing = "/" if path.endswith(("/", "/.", "/..")) and segments else ""
    return "/" + "/".join(uri_encode(segment) for segment in segments) + trailing


def canonical_query(query: str) -> str:
    """Parameters decoded, encoded strictly again, and sorted by name, then value."""
    pairs = []
    for part in query.split("&"):
        if part == "":
            continue
        name, _, value = part.partition("=")
        pairs.append((uri_encode(unquote(name)), uri_encode(unquote(value))))
    return "&".join(f"{name}={value}" for name, value in sorted(pairs))


def signing_key(secret_key: str, date: str, region: str, service: str) -> bytes:
    """The documented chain of four HMAC-SHA256s, from `AWS4` + the secret key down to `aws4_request`."""
    key = ("AWS4" + secret_key).encode("utf-8")
    for part in (date, region, service, "aws4_request"):
        key = hmac.new(key, part.encode("utf-8"), hashlib.sha256).digest()
    return key


Headers = Union[Mapping[str, str], Iterable[tuple[str, str]]]
"""A mapping, or (name, value) pairs where a name may repeat."""


def sign(method: str, path: str, query: str, headers: Headers, payload_hash: str, *,
         access_key: str, secret_key: str, region: str, service: str, amz_date: str) -> SigV4Signature:
    """Signs a request given by its parts. Every header given is signed except those HTTP stacks rewrite
    (authorization, connection, content-length, expect, user-agent, x-amzn-trace-id); `headers` must
    already hold `host` and `x-amz-date` (and whatever else the service wants signed)."""
    canonical: dict[str, list[str]] = {}
    pairs = headers.items() if isinstance(headers, Mapping) else headers
    for name, value in pairs:
        lower = name.lower().strip()
        if lower not in _UNSIGNED:
            canonical.setdefault(lower, []).append(" ".join(str(value).split()))
    names = sorted(canonical)
    signed_headers = ";".join(names)
    header_block = "".join(f"{n}:{','.join(canonical[n])}\n" for n in names)
    canonical_request = "\n".join([method.upper(), canonical_uri(path, service), canonical_query(query), header_block, signed_headers, payload_hash])
    scope = f"{amz_date[:8]}/{region}/{service}/aws4_request"
    string_to_sign = "\n".join(["AWS4-HMAC-SHA256", amz_date, scope, hashlib.sha256(canonical_request.encode("utf-8")).hexdigest()])
    signature = hmac.new(signing_key(secret_key, amz_date[:8], region, service), string_to_sign.encode("utf-8"), hashlib.sha256).hexdigest()
    authorization = f"AWS4-HMAC-SHA256 Credential={access_key}/{scope}, SignedHeaders={signed_headers}, Signature={signature}"
    return SigV4Signature(canonical_request, string_to_sign, signed_headers, signature, authorization)


def sign_aws_v4(method: str, url: str, headers: Mapping[str, str], body: Optional[bytes], credential: Credential,
                now: Callable[[], float] = time.time) -> dict[str, str]:
    """The headers to send with a request signed by an `aws_sigv4` credential: the caller's, plus `Host`,
    `X-Amz-Date`, `X-Amz-Content-Sha256` (the SHA-256 of the exact body, signed, so the signature covers the
    body), `X-Amz-Security-Token` when the credential has a `session_token`, and `Authorization`.

    Config: `service` (required), `region` (default `us-east-1`); credential fields `access_key`, `secret_key`
    and optionally `session_token`.
    """
    s = StrategyReader(credential)
    service = s.required_config("service")
    region = s.config("region", "us-east-1")
    access_key = s.field("access_key")
    secret_key = s.field("secret_key")
    session_token = credential.credentials.get("session_token")
    parts = urlsplit(url)
    given_host = next((v for k, v in headers.items() if k.lower() == "host"), None)
    out = {k: v for k, v in headers.items() if k.lower() not in _REPLACED}
    out["Host"] = given_host or parts.netloc.rpartition("@")[2]
    out["X-Amz-Date"] = time.strftime("%Y%m%dT%H%M%SZ", time.gmtime(now()))
    out["X-Amz-Content-Sha256"] = hashlib.sha256(body or b"").hexdigest()
    if isinstance(session_token, str) and session_token != "":
        out["X-Amz-Security-Token"] = session_token
    signed = sign(method, parts.path, parts.query, out, out["X-Amz-Content-Sha256"], access_key=access_key,
                  secret_key=secret_key, region=region, service=service, amz_date=out["X-Amz-Date"])
    out["Authorization"] = signed.authorization
    return out
