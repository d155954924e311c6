"""Sessions and RFC 8693 exchange against the real Gateway: an orchestrator delegates to a sub-agent, which
delegates on; the clearance holds; revocation ends every exchange down the chain."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import time
import unittest

from live import UUID, Live, live, userinfo_status
from nexus_sdk import NexusError
from stand_in import StandIn, Verdict
from test_live_session import CountingSend


def refused(test: unittest.TestCase, run, reason: str) -> NexusError:  # type: ignore[no-untyped-def]
    with test.assertRaises(NexusError) as caught:
        run()
    test.assertEqual(caught.exception.reason, reason, caught.exception.message)
    return caught.exception


class Delegation(unittest.TestCase):
    stack: Live

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()

    def test_create_get_exchange_use_delegate_and_revoke(self) -> None:
        orchestrator = self.stack.client()
        sub_send = CountingSend()
        sub = self.stack.client(self.stack.sub_agent_key, send=sub_send)
        other = self.stack.client(self.stack.other_agent_key)
        crm = self.stack.connections["crm"]
        root = orchestrator.create_session(crm, self.stack.sub_agent_id, ttl_seconds=900, allowed_hosts=["127.0.0.1"])
        self.assertRegex(root.session_id, UUID)
        self.assertEqual(root.session_token.count("."), 2)
        self.assertNotIn(root.session_token, repr(root))
        self.assertEqual((root.allowed_hosts, root.parent_session_id), (["127.0.0.1"], ""))
        self.assertLessEqual(root.expires_at, time.time() + 901)

        for viewer in (orchestrator, sub):
            info = viewer.get_session(root.session_id)
            self.assertEqual((info.status, info.agent_id, info.connection_id, info.workspace_id),
                             ("active", self.stack.sub_agent_id, crm, self.stack.workspace))

        exchanged = sub.exchange(root.session_token, resource="crm")
        self.assertEqual((exchanged.token_type, exchanged.credential.strategy.type), ("N_A", "header"))
        self.assertEqual(exchanged.credential.credentials["api_key"], self.stack.secrets["crm"])
        self.assertEqual(exchanged.allowed_hosts, ("127.0.0.1",))
        self.assertLessEqual(exchanged.expires_in, 900)
        self.assertNotIn(self.stack.secrets["crm"], repr(exchanged))

        with StandIn() as api:
            api.check = lambda seen: Verdict(200 if seen.headers.get("x-api-key") == self.stack.secrets["crm"] else 401)
            session = sub.authenticated_session(session_token=root.session_token, resource="crm")
            self.assertEqual(session.get(api.url + "/contacts").status_code, 200)
            self.assertEqual(session.get(api.url + "/contacts").status_code, 200)
            # localhost is the same machine, but not a host the session allows: nothing is sent there.
            refused(self, lambda: session.get(api.url.replace("127.0.0.1", "localhost") + "/contacts"), "host_not_allowed")
            self.assertEqual(len(api.seen), 2)
        self.assertEqual(sub_send.calls, {"GetSession": 1, "ExchangeToken": 2}, "the explicit exchange, then one for the session's cache")

        # The session is the sub-agent's alone, for its own provider.
        refused(self, lambda: orchestrator.exchange(root.session_token), "invalid_grant")
        refused(self, lambda: sub.exchange(root.session_token, resource="acme-header"), "invalid_target")
        refused(self, lambda: sub.exchange("not-a-session-token"), "invalid_grant")

        # The sub-agent delegates a narrower child to a third agent; a wider one is refused.
        refused(self, lambda: sub.create_session(crm, self.stack.other_agent_id, allowed_hosts=["api.elsewhere.example"]), "invalid_scope")
        child = sub.create_session(crm, self.stack.other_agent_id, ttl_seconds=300, allowed_hosts=["127.0.0.1"])
        self.assertEqual(child.parent_session_id, root.session_id)
        self.assertEqual(other.exchange(child.session_token).credential.credentials["api_key"], self.stack.secrets["crm"])

        revoked = orchestrator.revoke_session(root.session_id)
        self.assertEqual(revoked.status, "revoked")
        self.assertEqual(other.get_session(child.session_id).status, "revoked")
        refused(self, lambda: sub.exchange(root.session_token), "invalid_grant")
        refused(self, lambda: other.exchange(child.session_token), "invalid_grant")
        self.assertGreaterEqual(len(orchestrator.get_jwks()), 1)

    def test_an_oauth_session_holds_its_scopes_and_a_401_costs_one_new_exchange(self) -> None:
        orchestrator = self.stack.client()
        send = CountingSend()
        sub = self.stack.client(self.stack.sub_agent_key, send=send)
        root = orchestrator.create_session(self.stack.connections["oauth"], self.stack.sub_agent_id, scopes=["openid"], ttl_seconds=600)
        self.assertEqual(root.scopes, ["openid"])
        refused(self, lambda: sub.exchange(root.session_token, scopes=["email"]), "invalid_scope")
        exchanged = sub.exchange(root.session_token, scopes=["openid"])
        self.assertEqual((exchanged.token_type, exchanged.credential.strategy.type), ("Bearer", "oauth2"))
        self.assertEqual(userinfo_status(self.stack.idp_issuer, f"Bearer {exchanged.access_token}"), 200)
        with StandIn() as api:
            api.check = lambda seen: Verdict(401 if len(api.seen) == 1 else 200)
            answer = sub.authenticated_session(session_token=root.session_token).get(api.url + "/me")
            self.assertEqual(answer.status_code, 200)
            self.assertEqual(len(api.seen), 2)
        # The refused one, the explicit one, the session's first, and the one the 401 forced.
        self.assertEqual(send.calls, {"ExchangeToken": 4})
        orchestrator.revoke_session(root.session_id)
