"""NexusError from Connect error answers: code, reason from the ErrorInfo detail, retryable (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import json
import unittest

from fake_gateway import connect_error, error_info
from nexus_sdk.errors import NexusError, from_connect_response, is_retryable


def answer(status: int, body: object) -> NexusError:
    return from_connect_response(status, json.dumps(body).encode())


class FromConnect(unittest.TestCase):
    def test_the_reason_and_metadata_come_from_the_error_info_detail(self) -> None:
        e = answer(404, connect_error("not_found", "connection_not_found: no connection x", "connection_not_found", {"field": "connection_id"}))
        self.assertEqual((e.code, e.reason, e.retryable, e.http_status), ("not_found", "connection_not_found", False, 404))
        self.assertEqual(e.metadata, {"field": "connection_id"})
        self.assertEqual(str(e), "connection_not_found: no connection x")

    def test_the_message_text_is_never_parsed_for_a_reason(self) -> None:
        e = answer(400, {"code": "failed_precondition", "message": "attention_required: the user must reconnect"})
        self.assertEqual(e.reason, "failed_precondition")
        other = answer(400, {"code": "failed_precondition", "message": "x", "details": [{"type": "google.rpc.RetryInfo", "value": "AA"}]})
        self.assertEqual(other.reason, "failed_precondition")

    def test_padded_unpadded_and_url_safe_base64_all_decode(self) -> None:
        value = error_info("provider_unavailable", {"retry_after_seconds": "3"})
        for encoded in (value, value + "=" * (-len(value) % 4), value.replace("+", "-").replace("/", "_")):
            e = answer(503, {"code": "unavailable", "message": "m", "details": [{"type": "google.rpc.ErrorInfo", "value": encoded}]})
            self.assertEqual((e.reason, e.metadata), ("provider_unavailable", {"retry_after_seconds": "3"}))

    def test_a_broken_detail_falls_back_to_the_code(self) -> None:
        e = answer(500, {"code": "internal", "message": "m", "details": [{"type": "google.rpc.ErrorInfo", "value": "!!!"}, "junk"]})
        self.assertEqual(e.reason, "internal")

    def test_an_answer_that_is_not_connect_json_maps_the_http_status(self) -> None:
        for status, code in ((502, "unavailable"), (503, "unavailable"), (429, "unavailable"), (401, "unauthenticated"), (404, "unimplemented"), (418, "unknown")):
            e = from_connect_response(status, b"<html>Bad Gateway</html>")
            self.assertEqual((e.code, e.reason, e.http_status), (code, code, status))
        self.assertTrue(from_connect_response(502, b"").retryable)


class Retryable(unittest.TestCase):
    def test_only_unavailable_and_hinted_resource_exhausted(self) -> None:
        self.assertTrue(is_retryable("unavailable", "provider_unavailable", {}))
        self.assertTrue(is_retryable("resource_exhausted", "resource_exhausted", {"retry_after_seconds": "2"}))
        self.assertFalse(is_retryable("resource_exhausted", "resource_exhausted", {}))
        self.assertFalse(is_retryable("resource_exhausted", "payload_too_large", {"retry_after_seconds": "2"}))
        self.assertFalse(is_retryable("resource_exhausted", "header_too_large", {}))
        for code in ("not_found", "invalid_argument", "failed_precondition", "unauthenticated", "permission_denied", "internal", "deadline_exceeded"):
            self.assertFalse(is_retryable(code, code, {}), code)

    def test_repr_names_code_reason_and_retryable(self) -> None:
        e = NexusError("unavailable: down", code="unavailable", reason="unavailable")
        self.assertEqual(repr(e), "NexusError(code='unavailable', reason='unavailable', retryable=True, message='unavailable: down')")
