"""NexusError from Connect error answers: code, reason from ErrorInfo, fields from BadRequest, retry hints from
RetryInfo, retryable (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import base64
import json
import unittest

from fake_gateway import bad_request, connect_error, error_info, retry_info
from nexus_sdk import FieldViolation
from nexus_sdk.errors import NexusError, from_connect_response, is_retryable


def answer(status: int, body: object) -> NexusError:
    return from_connect_response(status, json.dumps(body).encode())


def details(*pairs: tuple[str, str]) -> dict[str, object]:
    return {"code": "invalid_argument", "message": "m", "details": [{"type": t, "value": v} for t, v in pairs]}


class FromConnect(unittest.TestCase):
    def test_the_reason_and_metadata_come_from_the_error_info_detail(self) -> None:
        e = answer(404, connect_error("not_found", "connection_not_found: no connection x", "connection_not_found", {"status": "gone"}))
        self.assertEqual((e.code, e.reason, e.retryable, e.http_status), ("not_found", "connection_not_found", False, 404))
        self.assertEqual(e.metadata, {"status": "gone"})
        self.assertEqual((e.field, e.field_violations, e.retry_after), (None, (), None))
        self.assertEqual(str(e), "connection_not_found: no connection x")

    def test_the_field_at_fault_comes_from_the_bad_request_detail(self) -> None:
        e = answer(400, connect_error("invalid_argument", "invalid_argument: connection_id: must be a UUID", "invalid_argument",
                                      field=("connection_id", "must be a UUID")))
        self.assertEqual((e.reason, e.field, e.metadata, e.retryable), ("invalid_argument", "connection_id", {}, False))
        self.assertEqual(e.field_violations, (FieldViolation("connection_id", "must be a UUID"),))

    def test_bad_request_bytes_with_several_violations_decode_in_order(self) -> None:
        # BadRequest{field_violations: [{field: "spec.scopes", description: "too many"}, {field: "spec.agent_id"}]}, by hand:
        # field 1 (0x0a) holds each FieldViolation; in it field 1 (0x0a) is the path and field 2 (0x12) the description.
        first = b"\x0a\x0bspec.scopes" + b"\x12\x08too many"
        second = b"\x0a\x0dspec.agent_id"
        raw = b"\x0a" + bytes([len(first)]) + first + b"\x0a" + bytes([len(second)]) + second
        self.assertEqual(base64.b64encode(raw).decode().rstrip("="), bad_request(("spec.scopes", "too many"), ("spec.agent_id", "")))
        e = answer(400, details(("google.rpc.BadRequest", base64.b64encode(raw).decode())))
        self.assertEqual([(v.field, v.description) for v in e.field_violations], [("spec.scopes", "too many"), ("spec.agent_id", "")])
        self.assertEqual(e.field, "spec.scopes")

    def test_the_retry_hint_comes_from_the_retry_info_detail_in_seconds(self) -> None:
        # RetryInfo{retry_delay: Duration{seconds: 120, nanos: 500000000}}, by hand: field 1 (0x0a), length 8;
        # seconds is field 1 varint (0x08 0x78), nanos field 2 varint (0x10, then 500000000 as 5 varint bytes).
        raw = bytes([0x0A, 0x08, 0x08, 0x78, 0x10, 0x80, 0xCA, 0xB5, 0xEE, 0x01])
        self.assertEqual(base64.b64encode(raw).decode().rstrip("="), retry_info(120, 500_000_000))
        e = answer(503, {"code": "unavailable", "message": "m", "details": [
            {"type": "google.rpc.ErrorInfo", "value": error_info("refresh_backoff")},
            {"type": "google.rpc.RetryInfo", "value": base64.b64encode(raw).decode()},
        ]})
        self.assertEqual((e.reason, e.retry_after, e.retryable), ("refresh_backoff", 120.5, True))
        self.assertEqual(answer(429, details(("google.rpc.RetryInfo", retry_info(3)))).retry_after, 3.0)
        # An empty retry_delay is zero seconds (both fields at their default); a RetryInfo without one says nothing.
        self.assertEqual(answer(429, details(("google.rpc.RetryInfo", "CgA"))).retry_after, 0.0)
        self.assertIsNone(answer(429, details(("google.rpc.RetryInfo", ""))).retry_after)
        # A negative delay (int64 two's complement on the wire) is no reason to wait less than nothing.
        self.assertEqual(answer(429, details(("google.rpc.RetryInfo", retry_info(-5)))).retry_after, 0.0)

    def test_the_message_text_is_never_parsed(self) -> None:
        e = answer(400, {"code": "failed_precondition", "message": "attention_required: the user must reconnect"})
        self.assertEqual(e.reason, "failed_precondition")
        text = answer(400, {"code": "invalid_argument", "message": "invalid_argument: connection_id: must be a UUID; retry after 3 s"})
        self.assertEqual((text.field, text.retry_after), (None, None))
        other = answer(400, {"code": "failed_precondition", "message": "x", "details": [{"type": "google.rpc.RetryInfo", "value": "AA"}]})
        self.assertEqual((other.reason, other.retry_after), ("failed_precondition", None))

    def test_error_info_metadata_is_not_a_field_or_retry_hint(self) -> None:
        e = answer(429, connect_error("resource_exhausted", "m", "resource_exhausted", {"field": "x", "retry_after_seconds": "3"}))
        self.assertEqual((e.field, e.retry_after, e.retryable), (None, None, False))

    def test_padded_unpadded_and_url_safe_base64_all_decode(self) -> None:
        value = error_info("provider_unavailable", {"status": "down"})
        hint = retry_info(28799)  # "CgQI/+AB": both characters that differ in URL-safe base64
        self.assertEqual(hint, "CgQI/+AB")
        for encode in (lambda v: v, lambda v: v + "=" * (-len(v) % 4), lambda v: v.replace("+", "-").replace("/", "_")):
            e = answer(503, {"code": "unavailable", "message": "m", "details": [
                {"type": "google.rpc.ErrorInfo", "value": encode(value)}, {"type": "google.rpc.RetryInfo", "value": encode(hint)}]})
            self.assertEqual((e.reason, e.metadata, e.retry_after), ("provider_unavailable", {"status": "down"}, 28799.0))

    def test_a_broken_detail_is_skipped_and_the_rest_still_read(self) -> None:
        e = answer(500, {"code": "internal", "message": "m", "details": [{"type": "google.rpc.ErrorInfo", "value": "!!!"}, "junk"]})
        self.assertEqual(e.reason, "internal")
        truncated = bad_request(("connection_id", "must be a UUID"))[:-4]
        mixed = answer(400, details(("google.rpc.BadRequest", truncated), ("google.rpc.ErrorInfo", error_info("invalid_argument")),
                                    ("google.rpc.BadRequest", bad_request(("state", "too long")))))
        self.assertEqual((mixed.reason, mixed.field), ("invalid_argument", "state"))

    def test_an_answer_that_is_not_connect_json_maps_the_http_status(self) -> None:
        for status, code in ((502, "unavailable"), (503, "unavailable"), (429, "unavailable"), (401, "unauthenticated"), (404, "unimplemented"), (418, "unknown")):
            e = from_connect_response(status, b"<html>Bad Gateway</html>")
            self.assertEqual((e.code, e.reason, e.http_status), (code, code, status))
        self.assertTrue(from_connect_response(502, b"").retryable)


class Retryable(unittest.TestCase):
    def test_only_unavailable_and_hinted_resource_exhausted(self) -> None:
        self.assertTrue(is_retryable("unavailable", "provider_unavailable", None))
        self.assertTrue(is_retryable("resource_exhausted", "resource_exhausted", 2.0))
        self.assertTrue(is_retryable("resource_exhausted", "resource_exhausted", 0.0))
        self.assertFalse(is_retryable("resource_exhausted", "resource_exhausted", None))
        self.assertFalse(is_retryable("resource_exhausted", "payload_too_large", 2.0))
        self.assertFalse(is_retryable("resource_exhausted", "header_too_large", None))
        for code in ("not_found", "invalid_argument", "failed_precondition", "unauthenticated", "permission_denied", "internal", "deadline_exceeded"):
            self.assertFalse(is_retryable(code, code, None), code)

    def test_repr_names_code_reason_and_retryable(self) -> None:
        e = NexusError("unavailable: down", code="unavailable", reason="unavailable")
        self.assertEqual(repr(e), "NexusError(code='unavailable', reason='unavailable', retryable=True, message='unavailable: down')")
