"""The optional adapters, where `requests` or `httpx` is installed (skipped where it is not), against the
real Gateway; and, where they are missing, that importing an adapter says what to install."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import asyncio
import hashlib
import hmac
import importlib
import importlib.util
import unittest

import sigv4_verifier
from live import Live, live, userinfo_status
from stand_in import Seen, StandIn, Verdict

HAVE_REQUESTS = importlib.util.find_spec("requests") is not None
HAVE_HTTPX = importlib.util.find_spec("httpx") is not None


class AdapterChecks:
    """What each adapter must do; `send(auth_kwargs, method, url, **options)` sends with the adapter."""

    stack: Live

    def send(self, target: dict[str, str], method: str, url: str, **options: object) -> tuple[int, int]:
        raise NotImplementedError

    def test_hmac_over_the_exact_body(self) -> None:
        t: unittest.TestCase = self  # type: ignore[assignment]
        secret = self.stack.secrets["hmac256"].encode()
        with StandIn() as api:
            api.check = lambda seen: Verdict(200 if seen.headers.get("x-signature") == hmac.new(secret, seen.body, hashlib.sha256).hexdigest() else 401)
            status, _ = self.send({"connection_id": self.stack.connections["hmac256"]}, "POST", api.url + "/hook", content=b'{"a":"\xc3\xbc"}')
            t.assertEqual(status, 200)
            t.assertEqual(api.seen[0].body, b'{"a":"\xc3\xbc"}')

    def test_aws_sigv4_passes_the_independent_verifier(self) -> None:
        t: unittest.TestCase = self  # type: ignore[assignment]
        s = self.stack.secrets
        with StandIn() as api:
            api.check = lambda seen: Verdict(200 if sigv4_verifier.verify(seen, lambda k: s["awsSecret"] if k == s["awsAccess"] else None).ok else 403)
            status, _ = self.send({"workspace_id": self.stack.workspace, "provider_name": "acme-aws"}, "PUT", api.url + "/prod/x%20y?b=1&a=2", content=b"data")
            t.assertEqual(status, 200)

    def test_a_provider_401_costs_one_refresh_and_one_retry(self) -> None:
        t: unittest.TestCase = self  # type: ignore[assignment]
        tokens: list[str] = []

        def check(seen: Seen) -> Verdict:
            tokens.append(seen.headers.get("authorization", ""))
            return Verdict(401 if len(tokens) == 1 else userinfo_status(self.stack.idp_issuer, tokens[-1]))

        with StandIn() as api:
            api.check = check
            status, attempts = self.send({"connection_id": self.stack.connections["oauth"]}, "GET", api.url + "/me")
            t.assertEqual((status, attempts, len(api.seen)), (200, 2, 2))
            t.assertNotEqual(tokens[0], tokens[1])


@unittest.skipUnless(HAVE_REQUESTS, "requests is not installed")
class RequestsAuth(AdapterChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def send(self, target: dict[str, str], method: str, url: str, **options: object) -> tuple[int, int]:
        import requests

        from nexus_sdk.requests_auth import NexusAuth

        auth = NexusAuth(self.stack.client(), **target)  # type: ignore[arg-type]
        answer = requests.request(method, url, data=options.get("content"), auth=auth, timeout=10)
        return answer.status_code, len(answer.history) + 1

    def test_a_redirect_to_another_origin_leaves_the_credential_behind(self) -> None:
        import requests

        from nexus_sdk.requests_auth import NexusAuth

        auth = NexusAuth(self.stack.client(), connection_id=self.stack.connections["header"])
        with StandIn() as home, StandIn() as elsewhere:
            home.check = lambda seen: Verdict(302, headers={"Location": elsewhere.url + "/landing"})
            self.assertEqual(requests.get(home.url + "/start", auth=auth, timeout=10).status_code, 200)
            self.assertTrue(home.seen[0].headers.get("x-acme-key"))
            self.assertIsNone(elsewhere.seen[0].headers.get("x-acme-key"))


    def test_a_redirect_outside_a_sessions_allowed_hosts_is_refused(self) -> None:
        import requests

        from nexus_sdk import NexusError
        from nexus_sdk.requests_auth import NexusAuth

        session = self.stack.client().create_session(self.stack.connections["crm"], self.stack.sub_agent_id, ttl_seconds=120, allowed_hosts=["127.0.0.1"])
        auth = NexusAuth(self.stack.client(self.stack.sub_agent_key), session_token=session.session_token)
        with StandIn() as home, StandIn() as elsewhere:
            home.check = lambda seen: Verdict(302, headers={"Location": elsewhere.url.replace("127.0.0.1", "localhost") + "/landing"})
            with self.assertRaises(NexusError) as caught:
                requests.get(home.url + "/start", auth=auth, timeout=10)
            self.assertEqual(caught.exception.reason, "host_not_allowed")
            self.assertEqual(home.seen[0].headers.get("x-api-key"), self.stack.secrets["crm"])
            self.assertEqual(elsewhere.seen, [])
        self.stack.client().revoke_session(session.session_id)


@unittest.skipUnless(HAVE_HTTPX, "httpx is not installed")
class HttpxAuth(AdapterChecks, unittest.TestCase):
    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def send(self, target: dict[str, str], method: str, url: str, **options: object) -> tuple[int, int]:
        import httpx

        from nexus_sdk.httpx_auth import NexusAuth

        with httpx.Client(auth=NexusAuth(self.stack.client(), **target), timeout=10) as client:  # type: ignore[arg-type]
            answer = client.request(method, url, content=options.get("content"))  # type: ignore[arg-type]
        return answer.status_code, len(answer.history) + 1

    def test_async_client(self) -> None:
        import httpx

        from nexus_sdk.httpx_auth import NexusAuth

        async def call(url: str) -> int:
            auth = NexusAuth(self.stack.client(), connection_id=self.stack.connections["header"])
            async with httpx.AsyncClient(auth=auth, timeout=10) as client:
                return (await client.post(url, content=b"x")).status_code

        expected = f"Token {self.stack.secrets['header']}"
        with StandIn() as api:
            api.check = lambda seen: Verdict(200 if seen.headers.get("x-acme-key") == expected else 401)
            self.assertEqual(asyncio.run(call(api.url + "/items")), 200)


class WithoutThem(unittest.TestCase):
    def test_importing_a_missing_adapter_names_what_to_install(self) -> None:
        missing = [(name, module) for name, module, have in (("requests", "nexus_sdk.requests_auth", HAVE_REQUESTS), ("httpx", "nexus_sdk.httpx_auth", HAVE_HTTPX)) if not have]
        if not missing:
            self.skipTest("requests and httpx are both installed")
        for name, module in missing:
            with self.subTest(name), self.assertRaises(ImportError) as caught:
                importlib.import_module(module)
            self.assertIn(f"pip install {name}", str(caught.exception))
        import nexus_sdk  # the SDK itself never needs them

        self.assertTrue(callable(nexus_sdk.NexusClient))
