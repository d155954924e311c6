"""NexusError, and how a Connect error answer becomes one."""
from __future__ import annotations

import base64
import binascii
import json
from dataclasses import dataclass
from typing import Any, Mapping, Optional, Sequence

_ERROR_INFO = "google.rpc.ErrorInfo"
_BAD_REQUEST = "google.rpc.BadRequest"
_RETRY_INFO = "google.rpc.RetryInfo"

# Deterministic refusals share Connect's resource_exhausted code with rate limits; sending them again cannot help.
_NEVER_RETRYABLE = frozenset({"payload_too_large", "header_too_large"})

# What an HTTP status means when the body is not a Connect error (a proxy's answer, say): the Connect spec's table.
_HTTP_CODES = {400: "internal", 401: "unauthenticated", 403: "permission_denied", 404: "unimplemented",
               429: "unavailable", 502: "unavailable", 503: "unavailable", 504: "unavailable"}


@dataclass(frozen=True)
class FieldViolation:
    """An input field at fault, from a google.rpc.BadRequest detail."""

    field: str
    """Its path in the request: `connection_id`, `spec.scopes`, `credentials.api_key`."""
    description: str
    """What is wrong with it, for people."""


class NexusError(Exception):
    """The one error type of the SDK, read from the error's details, never from its message text.

    Act on `reason` (stable and machine-readable: `attention_required`,
    `connection_not_found`, `invalid_grant`, ...). `code` is the Connect code
    name (`not_found`, `unavailable`, ...); `field` names the input at fault
    and `field_violations` lists every one (google.rpc.BadRequest);
    `retryable` says whether sending the same call again may succeed, and
    `retry_after` how many seconds to wait first when the Gateway said
    (google.rpc.RetryInfo). `metadata` holds the google.rpc.ErrorInfo
    metadata: more context, never the field or the retry hint. Messages
    never contain a secret.
    """

    def __init__(self, message: str, *, code: str, reason: str, retryable: Optional[bool] = None,
                 metadata: Optional[Mapping[str, str]] = None, field_violations: Sequence[FieldViolation] = (),
                 retry_after: Optional[float] = None, http_status: Optional[int] = None) -> None:
        super().__init__(message)
        self.message = message
        self.code = code
        self.reason = reason
        self.metadata: dict[str, str] = dict(metadata or {})
        self.field_violations: tuple[FieldViolation, ...] = tuple(field_violations)
        self.retry_after = retry_after
        self.retryable = is_retryable(code, reason, retry_after) if retryable is None else retryable
        self.http_status = http_status

    @property
    def field(self) -> Optional[str]:
        """The first input field at fault, when the error names one."""
        return self.field_violations[0].field if self.field_violations else None

    def __repr__(self) -> str:
        return f"NexusError(code={self.code!r}, reason={self.reason!r}, retryable={self.retryable!r}, message={self.message!r})"


def is_retryable(code: str, reason: str, retry_after: Optional[float]) -> bool:
    """`unavailable`, or `resource_exhausted` that says when to come back; never a body or header that is too large."""
    if reason in _NEVER_RETRYABLE:
        return False
    return code == "unavailable" or (code == "resource_exhausted" and retry_after is not None)


def from_connect_response(status: int, body: bytes) -> NexusError:
    """The NexusError of a Connect error answer: the code from the body, everything else from its details.

    The reason and metadata come from the first google.rpc.ErrorInfo that
    names a reason (the code when none does), the fields at fault from every
    google.rpc.BadRequest, the retry hint from the first google.rpc.RetryInfo.
    A detail that does not decode is skipped. The message text is kept for
    people to read, and never parsed.
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
    violations: list[FieldViolation] = []
    retry_after: Optional[float] = None
    details = parsed.get("details")
    for detail in details if isinstance(details, list) else []:
        kind, raw = _detail(detail)
        try:
            if kind == _ERROR_INFO and reason == "":
                reason, metadata = _parse_error_info(raw)
            elif kind == _BAD_REQUEST:
                violations += _parse_bad_request(raw)
            elif kind == _RETRY_INFO and retry_after is None:
                retry_after = _parse_retry_info(raw)
        except (UnicodeDecodeError, ValueError):
            continue
    return NexusError(message or code, code=code, reason=reason or code, metadata=metadata if reason else {},
                      field_violations=violations, retry_after=retry_after, http_status=status)


def _detail(detail: Any) -> tuple[str, bytes]:
    """(type, protobuf bytes) of a Connect error detail; ("", b"") when it is not one."""
    if not isinstance(detail, dict) or not isinstance(detail.get("type"), str) or not isinstance(detail.get("value"), str):
        return "", b""
    value: str = detail["value"]
    try:
        # Connect sends standard base64 without padding; padded and URL-safe forms are accepted too.
        raw = base64.b64decode(value + "=" * (-len(value) % 4), altchars=b"-_" if ("-" in value or "_" in value) else None, validate=True)
    except (binascii.Error, ValueError):
        return "", b""
    return detail["type"], raw


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


def _parse_bad_request(raw: bytes) -> list[FieldViolation]:
    """BadRequest is `repeated FieldViolation field_violations = 1;`, each `string field = 1; string description = 2;`."""
    out = []
    for number, value in _fields(raw):
        if number == 1 and isinstance(value, bytes):
            parts = {n: v.decode("utf-8") for n, v in _fields(value) if n in (1, 2) and isinstance(v, bytes)}
            out.append(FieldViolation(parts.get(1, ""), parts.get(2, "")))
    return out


def _parse_retry_info(raw: bytes) -> Optional[float]:
    """RetryInfo is `google.protobuf.Duration retry_delay = 1;`, a Duration `int64 seconds = 1; int32 nanos = 2;`.

    Seconds, never negative; None when the detail holds no delay.
    """
    delay = next((v for n, v in _fields(raw) if n == 1 and isinstance(v, bytes)), None)
    if delay is None:
        return None
    parts = {n: _signed(v) for n, v in _fields(delay) if n in (1, 2) and isinstance(v, int)}
    return max(0.0, parts.get(1, 0) + parts.get(2, 0) / 1e9)


def _signed(value: int) -> int:
    """A varint read as int64/int32: negative numbers are sent as their 64-bit two's complement."""
    return value - (1 << 64) if value >= 1 << 63 else value


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
            if pos + width > len(raw):
                raise ValueError("truncated field")
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
