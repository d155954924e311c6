"""Gateway calls over Connect JSON, and their retries, against a scripted local Gateway (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import socket
import unittest

from fake_gateway import FakeGateway, connect_error
from nexus_sdk import NexusClient, NexusError, RetryPolicy
from nexus_sdk.retry import backoff_delay

CREDENTIAL = {"credential": {"strategy": {"type": "oauth2", "config": {}}, "credentials": {"access_token": "at"}, "expiresAt": 1900000000}}


class Recorder:
    def __init__(self) -> None:
        self.sleeps: list[float] = []

    def __call__(self, seconds: float) -> None:
        self.sleeps.append(seconds)


def client(url: str, sleep: Recorder, random: float = 0.5, **options: object) -> NexusClient:
    return NexusClient(url, "nxa_test", sleep=sleep, random=lambda: random, **options)  # type: ignore[arg-type]


class TheProtocol(unittest.TestCase):
    def test_a_call_is_a_connect_json_post_with_the_agent_key_and_a_deadline(self) -> None:
        with FakeGateway([(200, CREDENTIAL)]) as gateway:
            credential = client(gateway.url + "/", Recorder(), timeout=7.5).get_token("c-1")
        self.assertEqual(credential.credentials["access_token"], "at")
        self.assertEqual(credential.expires_at, 1900000000)
        seen = gateway.seen[0]
        self.assertEqual((seen.method, seen.target), ("POST", "/nexus.gateway.v1.GatewayService/GetToken"))
        self.assertEqual(seen.headers["content-type"], "application/json")
        self.assertEqual(seen.headers["connect-protocol-version"], "1")
        self.assertEqual(seen.headers["authorization"], "Bearer nxa_test")
        self.assertEqual(seen.headers["connect-timeout-ms"], "7500")
        self.assertEqual(gateway.bodies(), [{"connectionId": "c-1"}])

    def test_request_fields_are_camel_case_and_defaults_left_out(self) -> None:
        answer = {"authUrl": "https://idp/a", "connectionId": "c", "state": "s", "providerId": "p", "scopes": ["a"], "expiresAt": 5}
        with FakeGateway([(200, answer)]) as gateway:
            started = client(gateway.url, Recorder()).request_connection("alice", "github", return_url="https://app/back", scopes=["repo"])
        self.assertEqual(gateway.bodies(), [{"userId": "alice", "providerName": "github", "scopes": ["repo"], "returnUrl": "https://app/back"}])
        self.assertEqual((started.auth_url, started.connection_id, started.scopes, started.expires_at), ("https://idp/a", "c", ["a"], 5))

    def test_an_answer_that_does_not_fit_the_api_is_invalid_response(self) -> None:
        with FakeGateway([(200, {"credential": {"credentials": {"access_token": 5}}})]) as gateway:
            with self.assertRaises(NexusError) as caught:
                client(gateway.url, Recorder()).get_token("c")
        self.assertEqual((caught.exception.code, caught.exception.reason), ("internal", "invalid_response"))
        self.assertIn("GetTokenResponse.credential.credentials['access_token']", caught.exception.message)
        self.assertNotIn("5", caught.exception.message.split("(")[1].replace("GetTokenResponse", ""))


class Retries(unittest.TestCase):
    def test_unavailable_is_retried_with_backoff_and_full_jitter_then_succeeds(self) -> None:
        sleep = Recorder()
        down = connect_error("unavailable", "provider_unavailable: try later", "provider_unavailable")
        with FakeGateway([(503, down), (503, down), (200, CREDENTIAL)]) as gateway:
            client(gateway.url, sleep, random=0.5, retry=RetryPolicy(attempts=3, base_delay=0.2, max_delay=5)).get_token("c")
        self.assertEqual(len(gateway.seen), 3)
        self.assertEqual(sleep.sleeps, [0.1, 0.2])  # half of 0.2 * 2**0, half of 0.2 * 2**1

    def test_after_the_last_attempt_the_error_is_raised(self) -> None:
        sleep = Recorder()
        down = connect_error("unavailable", "unavailable: the Broker is not reachable", "unavailable")
        with FakeGateway([(503, down)] * 5) as gateway:
            with self.assertRaises(NexusError) as caught:
                client(gateway.url, sleep, retry=RetryPolicy(attempts=2)).check_connection("c")
        self.assertEqual(len(gateway.seen), 2)
        self.assertEqual(len(sleep.sleeps), 1)
        self.assertTrue(caught.exception.retryable)

    def test_non_retryable_errors_are_raised_at_once(self) -> None:
        cases = [
            (404, connect_error("not_found", "connection_not_found: no", "connection_not_found")),
            (400, connect_error("invalid_argument", "invalid_argument: x", "invalid_argument")),
            (413, connect_error("resource_exhausted", "payload_too_large: 1 MiB", "payload_too_large")),
            (429, connect_error("resource_exhausted", "resource_exhausted: limit")),
            # A hint in ErrorInfo metadata is not a RetryInfo detail: the SDK reads retry hints from RetryInfo alone.
            (429, connect_error("resource_exhausted", "resource_exhausted: limit", "resource_exhausted", {"retry_after_seconds": "3"})),
            (401, connect_error("unauthenticated", "agent_key_invalid: no", "agent_key_invalid")),
        ]
        for status, body in cases:
            with self.subTest(body["message"]):
                sleep = Recorder()
                with FakeGateway([(status, body), (200, CREDENTIAL)]) as gateway:
                    with self.assertRaises(NexusError) as caught:
                        client(gateway.url, sleep).get_token("c")
                self.assertEqual(len(gateway.seen), 1)
                self.assertEqual(sleep.sleeps, [])
                self.assertFalse(caught.exception.retryable)

    def test_a_retry_hint_lengthens_the_wait_within_max_delay(self) -> None:
        sleep = Recorder()
        limited = connect_error("resource_exhausted", "resource_exhausted: slow down", "resource_exhausted", retry_after=3)
        with FakeGateway([(429, limited), (429, limited), (200, CREDENTIAL)]) as gateway:
            client(gateway.url, sleep, retry=RetryPolicy(attempts=3, base_delay=0.1, max_delay=4)).get_token("c")
        self.assertEqual(sleep.sleeps, [3.0, 3.0])
        with FakeGateway([(429, limited), (200, CREDENTIAL)]) as gateway:
            capped = Recorder()
            client(gateway.url, capped, retry=RetryPolicy(attempts=2, base_delay=0.1, max_delay=1)).get_token("c")
        self.assertEqual(capped.sleeps, [1.0])

    def test_an_unreachable_gateway_is_unavailable_and_retried(self) -> None:
        with socket.socket() as s:
            s.bind(("127.0.0.1", 0))
            port = s.getsockname()[1]  # closed again when the block ends: nothing listens there
        sleep = Recorder()
        with self.assertRaises(NexusError) as caught:
            client(f"http://127.0.0.1:{port}", sleep, retry=RetryPolicy(attempts=3)).get_token("c")
        self.assertEqual((caught.exception.code, caught.exception.reason, caught.exception.retryable), ("unavailable", "unavailable", True))
        self.assertEqual(len(sleep.sleeps), 2)

    def test_backoff_ceilings_double_up_to_the_maximum(self) -> None:
        self.assertEqual([backoff_delay(n, 0.2, 1.0, lambda: 0.999999) for n in range(5)],
                         [0.2 * 0.999999, 0.4 * 0.999999, 0.8 * 0.999999, 0.999999, 0.999999])
        self.assertEqual(backoff_delay(3, 0.2, 1.0, lambda: 0.0), 0.0)
        with self.assertRaises(ValueError):
            RetryPolicy(attempts=0)


class Arguments(unittest.TestCase):
    def test_a_bad_base_url_or_key_is_refused_at_once(self) -> None:
        for url, key in (("localhost:8090", "k"), ("ftp://x", "k"), ("http://x", ""), ("http://x", "a\nb")):
            with self.subTest(url=url, key=key), self.assertRaises(NexusError) as caught:
                NexusClient(url, key)
            self.assertEqual(caught.exception.reason, "invalid_argument")
            self.assertNotIn("a\nb", caught.exception.message)
