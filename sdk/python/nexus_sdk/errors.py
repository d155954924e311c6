"""NexusError, and how a Connect error answer becomes one."""
from __future__ import annotations

import base64
import binascii
import json
from typing import Any, Mapping, Optional

_ERROR_INFO = "google.rpc.ErrorInfo"

# Deterministic refusals share Connect's resource_exhausted code with rate limits; sending them again cannot help.
_NEVER_RETRYABLE = frozenset({"payload_too_large", "header_too_large"})

# What an HTTP status means when the body is not a Connect error (a proxy's answer, say): the Connect spec's table.
_HTTP_CODES = {400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented",
               429: "unavailable", 502: "unavailable", 503: "unavailable", 504: "unavailable"}


class NexusError(Exception):
    """The one error type of the SDK.

    Act on `reason` (stable and machine-readable: `attention_required`,
    `connection_not_found`, `invalid_grant`, ...), never on the message text.
    `code` is the Connect code name (`not_found`, `unavailable`, ...), and
    `retryable` says whether sending the same call again may succeed.
    `metadata` holds the google.rpc.ErrorInfo metadata (`field`,
    `retry_after_seconds`, ...). Messages never contain a secret.
    """

    def __init__(self, message: str, *, code: str, reason: str, retryable: Optional[bool] = None,
                 metadata: Optional[Mapping[str, str]] = None, http_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.retryable = is_retryable(code, reason, self.metadata) if retryable is None else retryable
        self.http_status = http_status

    def __repr__(self) -> str:
        return f"NexusError(code={self.code!r}, reason={self.reason!r}, retryable={self.retryable!r}, message={self.message!r})"


def is_retryable(code: str, reason: str, metadata: Mapping[str, str]) -> bool:
    """`unavailable`, or `resource_exhausted` that says when to come back; never a body or header that is too large."""
    if reason in _NEVER_RETRYABLE:
        return False
    return code == "unavailable" or (code == "resource_exhausted" and "retry_after_seconds" in metadata)


def from_connect_response(status: int, body: bytes) -> NexusError:
    """The NexusError of a Connect error answer: code from the body, reason and metadata from its ErrorInfo detail.

    When no ErrorInfo detail names a reason, the reason is the code. The
    message text is kept for people to read, and never parsed.
    """
    try:
        parsed: Any = json.loads(body.decode("utf-8"))
    except (UnicodeDecodeError, ValueError):
        parsed = None
    if not isinstance(parsed, dict) or not isinstance(parsed.get("code"), str):
        code = _HTTP_CODES.get(status, "unknown")
        return NexusError(f"{code}: the Gateway answered HTTP {status} without a Connect error", code=code, reason=code, http_status=status)
    code = parsed["code"]
    message = parsed.get("message") if isinstance(parsed.get("message"), str) else ""
    reason, metadata = "", dict[str, str]()
    details = parsed.get("details")
    for detail in details if isinstance(details, list) else []:
        info = _error_info(detail)
        if info is not None and info[0] != "":
            reason, metadata = info
            break
    return NexusError(message or code, code=code, reason=reason or code, metadata=metadata, http_status=status)


def _error_info(detail: Any) -> Optional[tuple[str, dict[str, str]]]:
    """(reason, metadata) of a google.rpc.ErrorInfo detail, decoded from its protobuf bytes; None for other details."""
    if not isinstance(detail, dict) or detail.get("type") != _ERROR_INFO or not isinstance(detail.get("value"), str):
        return None
    value: str = detail["value"]
    try:
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if ("-" in value or "_" in value) else None)
        return _parse_error_info(raw)
    except (binascii.Error, ValueError):
        return None


def _parse_error_info(raw: bytes) -> tuple[str, dict[str, str]]:
    """ErrorInfo is `string reason = 1; string domain = 2; map<string, string> metadata = 3;`."""
    reason = ""
    metadata: dict[str, str] = {}
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            reason = value.decode("utf-8")
        elif number == 3 and isinstance(value, bytes):
            entry = {n: v.decode("utf-8") for n, v in _fields(value) if isinstance(v, bytes)}
            metadata[entry.get(1, "")] = entry.get(2, "")
    return reason, metadata


def _fields(raw: bytes) -> list[tuple[int, Any]]:
    """The (field number, value) pairs of a protobuf message: bytes for length-delimited fields, ints otherwise."""
    out: list[tuple[int, Any]] = []
    pos = 0
    while pos < len(raw):
        key, pos = _varint(raw, pos)
        number, wire = key >> 3, key & 7
        value: Any
        if wire == 0:
            value, pos = _varint(raw, pos)
        elif wire == 2:
            size, pos = _varint(raw, pos)
            if pos + size > len(raw):
                raise ValueError("truncated field")
            value, pos = raw[pos:pos + size], pos + size
        elif wire in (1, 5):
            width = 8 if wire == 1 else 4
            value, pos = int.from_bytes(raw[pos:pos + width], "little"), pos + width
        else:
            raise ValueError(f"unsupported wire type {wire}")
        out.append((number, value))
    return out


def _varint(raw: bytes, pos: int) -> tuple[int, int]:
    result, shift = 0, 0
    while True:
        if pos >= len(raw) or shift > 63:
            raise ValueError("bad varint")
        byte = raw[pos]
        pos += 1
        result |= (byte & 0x7F) << shift
        if byte < 0x80:
            return result, pos
        shift += 7


def credential_invalid(message: str) -> NexusError:
    """A malformed credential payload: the request is refused rather than sent unsigned or half-signed."""
    return NexusError(f"credential_invalid: {message}", code="invalid_argument", reason="credential_invalid")


def unsupported_strategy(message: str) -> NexusError:
    """A strategy this SDK cannot apply where it was asked to."""
    return NexusError(f"unsupported_strategy: {message}", code="unimplemented", reason="unsupported_strategy")


def invalid_argument(message: str) -> NexusError:
    """A call the SDK refuses before sending it."""
    return NexusError(f"invalid_argument: {message}", code="invalid_argument", reason="invalid_argument")
