"""A scripted stand-in for the Gateway's Connect endpoint, for the retry and error tests: each call gets the
next (status, body) of `answers`, and every request is recorded."""
from __future__ import annotations

import base64
import json
from typing import Any, Optional

from stand_in import StandIn, Verdict


def error_info(reason: str, metadata: Optional[dict[str, str]] = None, domain: str = "nexus.dev") -> str:
    """A google.rpc.ErrorInfo as Connect puts it in `details[].value`: protobuf bytes, base64 without padding."""

    def field(number: int, data: bytes) -> bytes:
        return bytes([number << 3 | 2]) + _varint(len(data)) + data

    raw = field(1, reason.encode()) + field(2, domain.encode())
    for key, value in (metadata or {}).items():
        raw += field(3, field(1, key.encode()) + field(2, value.encode()))
    return base64.b64encode(raw).decode().rstrip("=")


def _varint(n: int) -> bytes:
    out = b""
    while n > 0x7F:
        out += bytes([n & 0x7F | 0x80])
        n >>= 7
    return out + bytes([n])


def connect_error(code: str, message: str, reason: Optional[str] = None, metadata: Optional[dict[str, str]] = None) -> dict[str, Any]:
    body: dict[str, Any] = {"code": code, "message": message}
    if reason is not None:
        body["details"] = [{"type": "google.rpc.ErrorInfo", "value": error_info(reason, metadata)}]
    return body


class FakeGateway(StandIn):
    def __init__(self, answers: list[tuple[int, Any]]) -> None:
        super().__init__()
        self.answers = list(answers)
        self.check = lambda seen: Verdict(*self.answers.pop(0)) if self.answers else Verdict(500, {"code": "internal", "message": "no more answers"})

    def bodies(self) -> list[Any]:
        return [json.loads(s.body) for s in self.seen]
