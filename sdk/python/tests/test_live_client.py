"""Every call of NexusClient against the real Gateway and Broker, and the errors they answer."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import socket
import unittest

from live import UUID, Live, live, userinfo_status
from nexus_sdk import NexusClient, NexusError, RetryPolicy

MISSING = "00000000-0000-4000-8000-000000000000"


def nexus_error(test: unittest.TestCase, run, reason: str, code: str) -> NexusError:  # type: ignore[no-untyped-def]
    with test.assertRaises(NexusError) as caught:
        run()
    test.assertEqual((caught.exception.reason, caught.exception.code), (reason, code), caught.exception.message)
    return caught.exception


class Connections(unittest.TestCase):
    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_request_capture_check_and_wait_for_a_static_connection(self) -> None:
        nexus = self.stack.client()
        started = nexus.request_connection("py-alice", "crm", return_url="https://app.example.com/back")
        self.assertRegex(started.connection_id, UUID)
        self.assertIn("/auth/capture?state=", started.auth_url)
        self.assertGreater(started.expires_at, 0)
        self.assertEqual(nexus.check_connection(started.connection_id).status, "pending")
        schema = nexus.get_capture_schema(started.state)
        self.assertEqual(schema.provider_name, "crm")
        assert schema.schema is not None
        self.assertEqual(schema.schema["required"], ["api_key"])
        captured = nexus.capture_credential(started.state, {"api_key": "sk_py_alice"})
        self.assertEqual((captured.connection_id, captured.status), (started.connection_id, "active"))
        self.assertEqual(nexus.wait_for_active(started.connection_id, interval=0.05, timeout=30).status, "active")
        credential = nexus.get_token(started.connection_id)
        self.assertEqual((credential.strategy.type, credential.credentials["api_key"]), ("header", "sk_py_alice"))
        # The state works once.
        nexus_error(self, lambda: nexus.capture_credential(started.state, {"api_key": "again"}), "state_replayed", "failed_precondition")

    def test_wait_for_active_gives_up_with_deadline_exceeded_while_pending(self) -> None:
        nexus = self.stack.client()
        started = nexus.request_connection("py-bob", provider_id=self._provider_id("crm"), return_url="https://app.example.com/back")
        e = nexus_error(self, lambda: nexus.wait_for_active(started.connection_id, interval=0.05, timeout=0.3), "deadline_exceeded", "deadline_exceeded")
        self.assertEqual(e.metadata, {"status": "pending"})

    def _provider_id(self, name: str) -> str:
        return next(p.id for p in self.stack.client().list_providers() if p.name == name)

    def test_list_providers_shows_public_metadata(self) -> None:
        providers = {p.name: p for p in self.stack.client().list_providers()}
        self.assertLessEqual({"idp", "crm", "acme-aws", "sandbox", "sandbox-api"}, set(providers))
        self.assertEqual(providers["acme-aws"].auth_type, "aws_sigv4")
        self.assertEqual(providers["idp"].scopes, ["openid", "email"])


class Credentials(unittest.TestCase):
    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_get_token_by_either_name_and_resolve_token_with_its_connection_id(self) -> None:
        nexus = self.stack.client()
        header = self.stack.connections["header"]
        credential = nexus.get_token(header)
        self.assertEqual(credential.credentials["api_key"], self.stack.secrets["header"])
        self.assertIsNone(credential.expires_at)
        self.assertEqual(nexus.get_token_by_connection_id(header), credential)
        resolved = nexus.resolve_token(self.stack.workspace, "acme-header")
        self.assertEqual(resolved.connection_id, header)
        self.assertEqual(resolved.credentials, credential.credentials)

    def test_an_oauth_credential_works_at_the_provider_and_refresh_gives_a_new_one(self) -> None:
        nexus = self.stack.client()
        oauth = self.stack.connections["oauth"]
        before = nexus.get_token(oauth)
        self.assertEqual(before.strategy.type, "oauth2")
        self.assertIsNotNone(before.expires_at)
        self.assertEqual(userinfo_status(self.stack.idp_issuer, f"Bearer {before.credentials['access_token']}"), 200)
        after = nexus.refresh(oauth)
        self.assertNotEqual(after.credentials["access_token"], before.credentials["access_token"])
        self.assertEqual(userinfo_status(self.stack.idp_issuer, f"Bearer {after.credentials['access_token']}"), 200)
        self.assertNotIn("refresh_token", after.credentials)

    def test_the_public_session_metadata(self) -> None:
        metadata = self.stack.client().get_authorization_server_metadata()
        self.assertEqual(metadata.grant_types_supported, ["urn:ietf:params:oauth:grant-type:token-exchange"])
        self.assertTrue(metadata.token_endpoint.endswith("/v1/token-exchange"))
        self.assertIsInstance(self.stack.client().get_jwks(), list)


class Errors(unittest.TestCase):
    """NexusError's code and reason, from the Gateway's own answers."""

    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_not_found_permission_denied_unauthenticated_and_failed_precondition(self) -> None:
        nexus = self.stack.client()
        e = nexus_error(self, lambda: nexus.get_token(MISSING), "connection_not_found", "not_found")
        self.assertEqual((e.retryable, e.http_status, e.field, e.retry_after), (False, 404, "connection_id", None))
        other = self.stack.client(self.stack.other_agent_key)
        nexus_error(self, lambda: other.get_token(self.stack.connections["header"]), "agent_not_authorized", "permission_denied")
        nexus_error(self, lambda: other.resolve_token(self.stack.workspace, "acme-header"), "connection_not_found", "not_found")
        nexus_error(self, lambda: self.stack.client("nxa_not-a-key").check_connection(MISSING), "agent_key_invalid", "unauthenticated")
        nexus_error(self, lambda: nexus.refresh(self.stack.connections["header"]), "not_refreshable", "failed_precondition")
        nexus_error(self, lambda: nexus.request_connection("w", "no-such-provider", return_url="https://app.example.com/"), "provider_not_found", "not_found")
        nexus_error(self, lambda: nexus.request_connection("w", "crm", return_url="https://evil.example/"), "return_url_rejected", "invalid_argument")
        bad = nexus_error(self, lambda: nexus.request_connection("w", return_url="https://app.example.com/"), "invalid_argument", "invalid_argument")
        self.assertEqual(bad.field, "provider_name")

    def test_input_that_breaks_its_rule_names_the_field_from_the_bad_request_detail(self) -> None:
        nexus = self.stack.client(retry=RetryPolicy(attempts=1))
        e = nexus_error(self, lambda: nexus.get_token("not-a-uuid"), "invalid_argument", "invalid_argument")
        self.assertEqual((e.field, e.http_status, e.retryable, e.retry_after), ("connection_id", 400, False, None))
        self.assertEqual(len(e.field_violations), 1)
        self.assertIn("UUID", e.field_violations[0].description)
        # A nested field is named by its path, and a rule with a reason of its own keeps it.
        spec = nexus_error(self, lambda: nexus.create_session(self.stack.connections["header"], "not-an-agent-id"), "invalid_argument", "invalid_argument")
        self.assertEqual(spec.field, "spec.agent_id")
        state = nexus_error(self, lambda: nexus.get_capture_schema("a" * 1100 + ".b.c"), "state_invalid", "invalid_argument")
        self.assertEqual(state.field, "state")

    def test_an_unreachable_gateway_is_retried_then_unavailable(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]
        sleeps: list[float] = []
        down = NexusClient(f"http://127.0.0.1:{port}", self.stack.agent_key, retry=RetryPolicy(attempts=3, base_delay=0.01), sleep=sleeps.append)
        e = nexus_error(self, lambda: down.get_token(self.stack.connections["header"]), "unavailable", "unavailable")
        self.assertTrue(e.retryable)
        self.assertEqual(len(sleeps), 2)
        self.assertNotIn(self.stack.agent_key, str(e))
