"""Every strategy, with credentials from the real Gateway, sent to a local API that checks them independently:
the IdP's userinfo for OAuth tokens, its own HMAC over the raw body, a SigV4 verifier written for the tests."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import base64
import dataclasses
import hashlib
import hmac
import json
import os
import unittest
import urllib.request

import sigv4_verifier
from live import Live, live, userinfo_status
from nexus_sdk import apply_credential
from stand_in import Seen, StandIn, Verdict


class Strategies(unittest.TestCase):
    stack: Live
    api: StandIn

    @classmethod
    def setUpClass(cls) -> None:
        cls.stack = live()
        cls.api = StandIn().__enter__()

    @classmethod
    def tearDownClass(cls) -> None:
        cls.api.__exit__()

    def send(self, connection: str, method: str, path: str, **options: object) -> tuple[int, Seen]:
        """Sends through an authenticated session on the connection; the status and what the API received."""
        before = len(self.api.seen)
        session = self.stack.client().authenticated_session(connection_id=self.stack.connections[connection])
        answer = session.request(method, self.api.url + path, **options)  # type: ignore[arg-type]
        self.assertEqual(len(self.api.seen), before + 1, "exactly one request reached the API")
        return answer.status_code, self.api.seen[-1]

    def test_oauth2_sends_a_bearer_token_the_provider_accepts(self) -> None:
        self.api.check = lambda seen: Verdict(userinfo_status(self.stack.idp_issuer, seen.headers.get("authorization", "")))
        status, seen = self.send("oauth", "GET", "/me")
        self.assertEqual(status, 200)
        self.assertRegex(seen.headers["authorization"], r"^Bearer \S+$")

    def test_header_puts_the_prefix_and_the_field_in_the_named_header(self) -> None:
        expected = f"Token {self.stack.secrets['header']}"
        self.api.check = lambda seen: Verdict(200 if seen.headers.get("x-acme-key") == expected else 401)
        status, seen = self.send("header", "POST", "/items", json={"name": "Ada"})
        self.assertEqual(status, 200)
        self.assertEqual((json.loads(seen.body), seen.headers["content-type"]), ({"name": "Ada"}, "application/json"))

    def test_query_param_adds_the_parameter_and_keeps_the_query_byte_for_byte(self) -> None:
        expected = f"/search?q=a%20b&sort=-date&empty=&key={self.stack.secrets['query']}"
        self.api.check = lambda seen: Verdict(200 if seen.target == expected else 401)
        status, seen = self.send("query", "GET", "/search?q=a%20b&sort=-date&empty=")
        self.assertEqual(status, 200, seen.target)

    def test_basic_auth_is_utf8_safe(self) -> None:
        def check(seen: Seen) -> Verdict:
            scheme, _, encoded = seen.headers.get("authorization", "").partition(" ")
            user, _, password = base64.b64decode(encoded).decode("utf-8").partition(":")
            return Verdict(200 if scheme == "Basic" and (user, password) == (self.stack.secrets["user"], self.stack.secrets["password"]) else 401)

        self.api.check = check
        self.assertEqual(self.send("basic", "GET", "/basic")[0], 200)

    def test_hmac_payload_sha256_hex_over_the_body_received(self) -> None:
        body = json.dumps({"amount": 12.5, "note": "naïve café ✓"}, ensure_ascii=False)
        secret = self.stack.secrets["hmac256"].encode()
        self.api.check = lambda seen: Verdict(200 if seen.headers.get("x-signature") == hmac.new(secret, seen.body, hashlib.sha256).hexdigest() else 401)
        status, seen = self.send("hmac256", "POST", "/hooks", data=body, headers={"Content-Type": "application/json"})
        self.assertEqual(status, 200)
        self.assertEqual(seen.body.decode("utf-8"), body)
        self.assertRegex(seen.headers["x-signature"], r"^[0-9a-f]{64}$")

    def test_hmac_payload_sha1_base64_over_binary_bytes(self) -> None:
        body = os.urandom(4096)
        secret = self.stack.secrets["hmac1"].encode()
        expected = lambda seen: base64.b64encode(hmac.new(secret, seen.body, hashlib.sha1).digest()).decode()  # noqa: E731
        self.api.check = lambda seen: Verdict(200 if seen.headers.get("x-hub-signature") == expected(seen) else 401)
        status, seen = self.send("hmac1", "PUT", "/upload", data=body)
        self.assertEqual(status, 200)
        self.assertEqual(seen.body, body)

    def test_aws_sigv4_is_accepted_by_an_independent_verifier_and_covers_the_body(self) -> None:
        secrets = self.stack.secrets
        secret_for = lambda access_key: secrets["awsSecret"] if access_key == secrets["awsAccess"] else None  # noqa: E731
        verdicts: list[sigv4_verifier.Verdict] = []

        def check(seen: Seen) -> Verdict:
            verdicts.append(sigv4_verifier.verify(seen, secret_for))
            ok = verdicts[-1].ok and seen.headers.get("x-amz-security-token") == secrets["awsSession"]
            return Verdict(200 if ok else 403, {"problem": verdicts[-1].problem})

        self.api.check = check
        body = json.dumps({"TableName": "orders", "Key": {"id": "ü-42"}})
        status, seen = self.send("aws", "POST", "/prod/orders/my%20file.json?b=2&a=x%2Fy&a=1", data=body,
                                 headers={"Content-Type": "application/json", "X-Custom": "  spaced   value "})
        self.assertEqual(status, 200, verdicts[-1].problem)
        self.assertEqual((verdicts[-1].region, verdicts[-1].service), ("eu-west-1", "execute-api"))
        self.assertIn("x-amz-security-token", verdicts[-1].signed_headers)
        self.assertIn("x-custom", verdicts[-1].signed_headers)
        self.assertEqual(seen.body.decode("utf-8"), body)
        # The verifier is not vacuous: the same signature over other bytes, or another hash, fails.
        self.assertFalse(sigv4_verifier.verify(dataclasses.replace(seen, body=body.replace("42", "43").encode()), secret_for).ok)
        self.assertFalse(sigv4_verifier.verify(dataclasses.replace(seen, target=seen.target.replace("b=2", "b=3")), secret_for).ok)

    def test_apply_credential_on_a_urllib_request_sent_with_urlopen(self) -> None:
        credential = self.stack.client().get_token(self.stack.connections["hmac256"])
        secret = self.stack.secrets["hmac256"].encode()
        self.api.check = lambda seen: Verdict(200 if seen.headers.get("x-signature") == hmac.new(secret, seen.body, hashlib.sha256).hexdigest() else 401)
        request = urllib.request.Request(self.api.url + "/raw", data=b'{"x":1}', method="POST", headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(apply_credential(request, credential), timeout=10) as answer:
            self.assertEqual(answer.status, 200)
