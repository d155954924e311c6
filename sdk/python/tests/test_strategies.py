"""Every strategy applied to a request, and every way a credential can be refused (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import base64
import hashlib
import hmac
import unittest
import urllib.request

from nexus_sdk import (Credential, NexusError, Strategy, apply_credential, apply_credential_parts, apply_credential_to_url,
                       credential_headers, hmac_signature)


def cred(kind: str, config: dict[str, str], fields: dict[str, str]) -> Credential:
    return Credential(Strategy(type=kind, config=config), fields)


def refused(test: unittest.TestCase, run, reason: str) -> NexusError:  # type: ignore[no-untyped-def]
    with test.assertRaises(NexusError) as caught:
        run()
    test.assertEqual(caught.exception.reason, reason, caught.exception.message)
    return caught.exception


class Headers(unittest.TestCase):
    def test_oauth2_header_and_basic_auth(self) -> None:
        self.assertEqual(credential_headers(cred("oauth2", {}, {"access_token": "at", "token_type": "Bearer"})), {"Authorization": "Bearer at"})
        header = cred("header", {"header_name": "X-Acme-Key", "value_prefix": "Token ", "credential_field": "key"}, {"key": "k1"})
        self.assertEqual(credential_headers(header), {"X-Acme-Key": "Token k1"})
        self.assertEqual(credential_headers(cred("header", {"header_name": "X-API-Key"}, {"api_key": "k2"})), {"X-API-Key": "k2"})
        basic = cred("basic_auth", {"username_field": "login", "password_field": "pass"}, {"login": "zoë", "pass": "pä:ss"})
        value = credential_headers(basic)["Authorization"]
        self.assertEqual(base64.b64decode(value.removeprefix("Basic ")).decode("utf-8"), "zoë:pä:ss")
        self.assertEqual(credential_headers(cred("basic_auth", {}, {"username": "u", "password": "p"})), {"Authorization": "Basic dTpw"})

    def test_strategies_that_are_not_headers_are_refused_by_name(self) -> None:
        e = refused(self, lambda: credential_headers(cred("query_param", {"param_name": "k"}, {"api_key": "x"})), "unsupported_strategy")
        self.assertIn("apply_credential_to_url", e.message)
        for kind in ("hmac_payload", "aws_sigv4"):
            refused(self, lambda: credential_headers(cred(kind, {}, {})), "unsupported_strategy")


class Url(unittest.TestCase):
    def test_query_param_keeps_the_rest_of_the_query_byte_for_byte(self) -> None:
        c = cred("query_param", {"param_name": "key", "credential_field": "api_key"}, {"api_key": "s e/c+r"})
        self.assertEqual(apply_credential_to_url("https://api.example/s?q=a%20b&sort=-date&empty=&key=old#f", c),
                         "https://api.example/s?q=a%20b&sort=-date&empty=&key=s%20e%2Fc%2Br#f")
        self.assertEqual(apply_credential_to_url("wss://stream.example/feed", c), "wss://stream.example/feed?key=s%20e%2Fc%2Br")
        refused(self, lambda: apply_credential_to_url("https://x/", cred("oauth2", {}, {"access_token": "a"})), "unsupported_strategy")


class Signing(unittest.TestCase):
    def test_hmac_of_the_exact_body_in_both_algorithms_and_encodings(self) -> None:
        body = "naïve café ✓".encode("utf-8")
        self.assertEqual(hmac_signature("s", body, "sha256", "hex"), hmac.new(b"s", body, hashlib.sha256).hexdigest())
        self.assertEqual(hmac_signature("s", body, "sha1", "base64"), base64.b64encode(hmac.new(b"s", body, hashlib.sha1).digest()).decode())
        c = cred("hmac_payload", {"header_name": "X-Signature"}, {"api_secret": "s"})
        _, headers = apply_credential_parts("POST", "https://x/hook", {"Content-Type": "application/json", "x-signature": "stale"}, body, c)
        self.assertEqual(headers, {"Content-Type": "application/json", "X-Signature": hmac.new(b"s", body, hashlib.sha256).hexdigest()})
        _, empty = apply_credential_parts("GET", "https://x/", {}, None, c)
        self.assertEqual(empty["X-Signature"], hmac.new(b"s", b"", hashlib.sha256).hexdigest())

    def test_aws_sigv4_through_apply_credential_parts(self) -> None:
        c = cred("aws_sigv4", {"service": "execute-api", "region": "eu-west-1"}, {"access_key": "AKIA1", "secret_key": "sk"})
        url, headers = apply_credential_parts("POST", "https://api.example/prod?x=1", {"Content-Type": "text/plain"}, b"hi", c, now=lambda: 1767225600)
        self.assertEqual(url, "https://api.example/prod?x=1")
        self.assertEqual(headers["X-Amz-Date"], "20260101T000000Z")
        self.assertTrue(headers["Authorization"].startswith("AWS4-HMAC-SHA256 Credential=AKIA1/20260101/eu-west-1/execute-api/aws4_request, "))


class ApplyCredential(unittest.TestCase):
    def test_a_urllib_request_is_copied_and_the_original_left_alone(self) -> None:
        original = urllib.request.Request("https://api.example/v1/orders?page=2", data=b'{"n":1}', method="POST",
                                          headers={"Content-Type": "application/json"})
        c = cred("hmac_payload", {"header_name": "X-Signature", "secret_field": "s", "algo": "sha1", "encoding": "hex"}, {"s": "k"})
        signed = apply_credential(original, c)
        self.assertIsNot(signed, original)
        self.assertEqual(signed.get_method(), "POST")
        self.assertEqual(signed.data, b'{"n":1}')
        self.assertEqual(signed.get_header("X-signature"), hmac.new(b"k", b'{"n":1}', hashlib.sha1).hexdigest())
        self.assertEqual(signed.get_header("Content-type"), "application/json")
        self.assertIsNone(original.get_header("X-signature"))
        q = apply_credential(original, cred("query_param", {"param_name": "key"}, {"api_key": "v"}))
        self.assertEqual(q.full_url, "https://api.example/v1/orders?page=2&key=v")
        self.assertEqual(original.full_url, "https://api.example/v1/orders?page=2")

    def test_a_stream_body_cannot_be_signed_but_can_carry_a_header_credential(self) -> None:
        stream = urllib.request.Request("https://x/", data=iter([b"a"]), method="PUT")  # type: ignore[arg-type]
        refused(self, lambda: apply_credential(stream, cred("hmac_payload", {"header_name": "X-S"}, {"api_secret": "k"})), "credential_invalid")
        self.assertEqual(apply_credential(stream, cred("oauth2", {}, {"access_token": "t"})).get_header("Authorization"), "Bearer t")

    def test_other_objects_are_refused(self) -> None:
        refused(self, lambda: apply_credential("https://x/", cred("oauth2", {}, {"access_token": "t"})), "invalid_argument")


class Refusals(unittest.TestCase):
    """Nothing is ever sent unsigned: an unknown or malformed credential is an error naming what is wrong."""

    def test_unknown_and_missing_types(self) -> None:
        e = refused(self, lambda: apply_credential_parts("GET", "https://x/", {}, None, cred("magic", {}, {"api_key": "k"})), "unsupported_strategy")
        self.assertIn('"magic"', e.message)
        self.assertEqual(e.code, "unimplemented")
        e = refused(self, lambda: apply_credential_parts("GET", "https://x/", {}, None, cred("", {}, {})), "credential_invalid")
        self.assertEqual(e.code, "invalid_argument")

    def test_each_malformed_credential_names_its_problem_and_never_its_secret(self) -> None:
        cases = [
            (cred("oauth2", {}, {}), "access_token"),
            (cred("header", {"header_name": "X-K", "credential_field": "api_key"}, {"api_key": ""}), "empty"),
            (cred("header", {"credential_field": "api_key"}, {"api_key": "k"}), "header_name"),
            (cred("header", {"header_name": "Bad Name"}, {"api_key": "k"}), "valid HTTP header name"),
            (cred("header", {"header_name": "X-K"}, {"api_key": "sec\r\nret"}), "line break"),
            (cred("query_param", {"credential_field": "api_key"}, {"api_key": "k"}), "param_name"),
            (cred("hmac_payload", {"secret_field": "s"}, {"s": "x"}), "header_name"),
            (cred("hmac_payload", {"header_name": "X-S", "algo": "md5"}, {"api_secret": "x"}), "algo"),
            (cred("hmac_payload", {"header_name": "X-S", "encoding": "base32"}, {"api_secret": "x"}), "encoding"),
            (cred("aws_sigv4", {"region": "us-east-1"}, {"access_key": "a", "secret_key": "b"}), "service"),
            (cred("aws_sigv4", {"service": "s3"}, {"access_key": "a"}), "secret_key"),
            (cred("header", {"header_name": 42}, {"api_key": "k"}), "must be a string"),  # type: ignore[dict-item]
            (cred("basic_auth", {}, {"username": "a:b", "password": "p"}), "colon"),
            (cred("basic_auth", {}, {"username": "u", "password": 7}), "not a string"),  # type: ignore[dict-item]
        ]
        for credential, naming in cases:
            with self.subTest(naming):
                e = refused(self, lambda: apply_credential_parts("POST", "https://x/", {}, b"b", credential), "credential_invalid")
                self.assertIn(naming, e.message)
                self.assertNotIn("sec\r\nret", e.message)

    def test_a_host_outside_allowed_hosts_is_refused_before_anything_is_built(self) -> None:
        c = cred("oauth2", {"allowed_hosts": "api.crm.example, *.files.example"}, {"access_token": "t"})
        self.assertEqual(apply_credential_parts("GET", "https://API.crm.example./x", {}, None, c)[1]["Authorization"], "Bearer t")
        self.assertEqual(apply_credential_parts("GET", "https://a.b.files.example/x", {}, None, c)[1]["Authorization"], "Bearer t")
        for url in ("https://files.example/x", "https://evil.example/x", "https://api.crm.example.evil/x", "https://a..files.example/"):
            with self.subTest(url):
                e = refused(self, lambda: apply_credential_parts("GET", url, {}, None, c), "host_not_allowed")
                self.assertEqual(e.code, "permission_denied")
        refused(self, lambda: apply_credential_to_url("https://evil.example/", cred("query_param", {"param_name": "k", "allowed_hosts": "a.example"}, {"api_key": "v"})), "host_not_allowed")


class CredentialRepr(unittest.TestCase):
    def test_repr_never_shows_a_secret(self) -> None:
        c = Credential.from_json({"strategy": {"type": "oauth2"}, "credentials": {"access_token": "SECRET-AT"}, "expires_at": 5})
        self.assertEqual(c.expires_at, 5)
        self.assertEqual(c.credentials["access_token"], "SECRET-AT")
        self.assertNotIn("SECRET-AT", repr(c))
        self.assertEqual(Credential.from_json({"strategy": {"type": "header"}, "credentials": {}, "expiresAt": "7"}).expires_at, 7)
        refused(self, lambda: Credential.from_json({"credentials": "nope"}), "invalid_argument")
