"""A scripted stand-in for the Gateway's Connect endpoint, for the retry and error tests: each call gets the
next (status, body) of `answers`, and every request is recorded."""
from __future__ import annotations

import base64
import json
from typing import Any, Optional

from stand_in import StandIn, Verdict


def error_info(reason: str, metadata: Optional[dict[str, str]] = None, domain: str = "nexus.dev") -> str:
    """A google.rpc.ErrorInfo as Connect puts it in `details[].value`: protobuf bytes, base64 without padding."""
    raw = _field(1, reason.encode()) + _field(2, domain.encode())
    for key, value in (metadata or {}).items():
        raw += _field(3, _field(1, key.encode()) + _field(2, value.encode()))
    return _base64(raw)


def bad_request(*violations: tuple[str, str]) -> str:
    """A google.rpc.BadRequest of (field, description) violations, as Connect sends it."""
    return _base64(b"".join(_field(1, _string(1, f) + _string(2, d)) for f, d in violations))


def retry_info(seconds: int, nanos: int = 0) -> str:
    """A google.rpc.RetryInfo whose retry_delay is a Duration of `seconds` and `nanos`, as Connect sends it."""
    duration = (_key(1, 0) + _varint(seconds) if seconds else b"") + (_key(2, 0) + _varint(nanos) if nanos else b"")
    return _base64(_field(1, duration))


def _string(number: int, value: str) -> bytes:
    return _field(number, value.encode()) if value else b""  # proto3 leaves a field at its default out


def _field(number: int, data: bytes) -> bytes:
    return _key(number, 2) + _varint(len(data)) + data


def _key(number: int, wire: int) -> bytes:
    return _varint(number << 3 | wire)


def _varint(n: int) -> bytes:
    n &= (1 << 64) - 1  # negative int64 and int32 values go on the wire as their 64-bit two's complement
    out = b""
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def _base64(raw: bytes) -> str:
    return base64.b64encode(raw).decode().rstrip("=")


def connect_error(code: str, message: str, reason: Optional[str] = None, metadata: Optional[dict[str, str]] = None, *,
                  field: Optional[tuple[str, str]] = None, retry_after: Optional[int] = None) -> dict[str, Any]:
    """Connect's error JSON, with the details the Gateway sends: ErrorInfo for `reason`, BadRequest for `field`
    (path, description), RetryInfo for `retry_after` seconds."""
    body: dict[str, Any] = {"code": code, "message": message}
    details = [{"type": "google.rpc.ErrorInfo", "value": error_info(reason, metadata)}] if reason is not None else []
    details += [{"type": "google.rpc.BadRequest", "value": bad_request(field)}] if field is not None else []
    details += [{"type": "google.rpc.RetryInfo", "value": retry_info(retry_after)}] if retry_after is not None else []
    if details:
        body["details"] = details
    return body


class FakeGateway(StandIn):
    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.check = lambda seen: Verdict(*self.answers.pop(0)) if self.answers else Verdict(500, {"code": "internal", "message": "no more answers"})

    def bodies(self) -> list[Any]:
        return [json.loads(s.body) for s in self.seen]
