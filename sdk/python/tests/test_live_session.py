"""authenticated_session against the real Gateway: one refresh and one retry on a provider 401, one Gateway
call for a hundred concurrent requests, and where redirects may take a credential."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import json
import threading
import unittest

from live import Live, live, userinfo_status
from nexus_sdk import NexusClient, TokenCache
from nexus_sdk.http import urllib_send
from stand_in import Seen, StandIn, Verdict


class CountingSend:
    """The default send, counting the Gateway calls it carries by method."""

    def __init__(self) -> None:
        self.calls: dict[str, int] = {}
        self._lock = threading.Lock()

    def __call__(self, method, url, headers, body, timeout):  # type: ignore[no-untyped-def]
        name = url.rsplit("/", 1)[-1]
        if "/nexus.gateway.v1.GatewayService/" in url:
            with self._lock:
                self.calls[name] = self.calls.get(name, 0) + 1
        return urllib_send(method, url, headers, body, timeout)


class ProviderUnauthorized(unittest.TestCase):
    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_a_401_forces_one_refresh_and_one_retry_with_the_same_body(self) -> None:
        seen_tokens: list[str] = []

        def check(seen: Seen) -> Verdict:
            seen_tokens.append(seen.headers.get("authorization", ""))
            if len(seen_tokens) == 1:
                return Verdict(401)  # as if the provider had revoked the token early
            fresh = seen_tokens[-1] != seen_tokens[0]
            return Verdict(200 if fresh and userinfo_status(self.stack.idp_issuer, seen_tokens[-1]) == 200 else 401, {"ok": True})

        send = CountingSend()
        with StandIn() as api:
            api.check = check
            session = self.stack.client(send=send).authenticated_session(workspace_id=self.stack.workspace, provider_name="idp")
            answer = session.post(api.url + "/orders", json={"n": 1})
            self.assertEqual(answer.status_code, 200)
            self.assertEqual(answer.json(), {"ok": True})
            self.assertEqual([json.loads(s.body) for s in api.seen], [{"n": 1}, {"n": 1}])
        self.assertEqual(send.calls, {"ResolveToken": 1, "RefreshToken": 1})

    def test_a_second_401_is_returned_and_not_retried_again(self) -> None:
        send = CountingSend()
        with StandIn() as api:
            api.check = lambda seen: Verdict(401, {"error": "no"})
            session = self.stack.client(send=send).authenticated_session(connection_id=self.stack.connections["oauth"])
            answer = session.get(api.url + "/me")
            self.assertEqual((answer.status_code, answer.json()), (401, {"error": "no"}))
            self.assertEqual(len(api.seen), 2)
        self.assertEqual(send.calls, {"GetToken": 1, "RefreshToken": 1})

    def test_a_static_key_that_gets_a_401_cannot_be_refreshed_so_the_401_comes_back(self) -> None:
        send = CountingSend()
        with StandIn() as api:
            api.check = lambda seen: Verdict(401)
            answer = self.stack.client(send=send).authenticated_session(connection_id=self.stack.connections["header"]).get(api.url + "/x")
            self.assertEqual(answer.status_code, 401)
            self.assertEqual(len(api.seen), 1)
        self.assertEqual(send.calls, {"GetToken": 1, "RefreshToken": 1})


class Cache(unittest.TestCase):
    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_a_hundred_concurrent_requests_cost_one_gateway_call(self) -> None:
        send = CountingSend()
        client = self.stack.client(send=send)
        before = self.stack.gateway_token_calls()
        expected = f"Token {self.stack.secrets['header']}"
        statuses: list[int] = []
        with StandIn() as api:
            api.check = lambda seen: Verdict(200 if seen.headers.get("x-acme-key") == expected else 401)
            session = client.authenticated_session(connection_id=self.stack.connections["header"], cache=TokenCache(client))
            start = threading.Barrier(100)

            def call() -> None:
                start.wait()
                statuses.append(session.get(api.url + "/items").status_code)

            threads = [threading.Thread(target=call) for _ in range(100)]
            for t in threads:
                t.start()
            for t in threads:
                t.join()
            self.assertEqual(len(api.seen), 100)
        self.assertEqual(statuses, [200] * 100)
        self.assertEqual(send.calls, {"GetToken": 1})
        self.assertEqual(self.stack.gateway_token_calls() - before, 1)

    def test_sessions_of_one_client_share_its_cache(self) -> None:
        send = CountingSend()
        client = self.stack.client(send=send)
        with StandIn() as api:
            for _ in range(3):
                client.authenticated_session(connection_id=self.stack.connections["basic"]).get(api.url + "/")
            self.assertEqual(len(api.seen), 3)
        self.assertEqual(send.calls, {"GetToken": 1})


class Redirects(unittest.TestCase):
    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_the_credential_follows_a_redirect_on_its_origin_but_not_to_another(self) -> None:
        client: NexusClient = self.stack.client()
        session = client.authenticated_session(connection_id=self.stack.connections["header"])
        with StandIn() as home, StandIn() as elsewhere:
            home.check = lambda seen: (Verdict(302, headers={"Location": "/final"}) if seen.target == "/start"
                                       else Verdict(303, headers={"Location": elsewhere.url + "/landing"}) if seen.target == "/away"
                                       else Verdict(200))
            self.assertEqual(session.get(home.url + "/start").status_code, 200)
            self.assertEqual([s.target for s in home.seen], ["/start", "/final"])
            self.assertTrue(all(s.headers.get("x-acme-key") for s in home.seen))
            answer = session.post(home.url + "/away", data=b"payload", headers={"Authorization": "Bearer caller-own"})
            self.assertEqual(answer.status_code, 200)
            landed = elsewhere.seen[-1]
            self.assertEqual((landed.method, landed.target, landed.body), ("GET", "/landing", b""))
            self.assertIsNone(landed.headers.get("x-acme-key"))
            self.assertIsNone(landed.headers.get("authorization"))
