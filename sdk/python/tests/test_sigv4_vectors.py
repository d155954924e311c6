"""nexus_sdk.sigv4 against AWS's published Signature Version 4 test suite (aws-sig-v4-test-suite), and
against botocore's signer where botocore is installed."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import hashlib
import unittest

from nexus_sdk import Credential, Strategy
from nexus_sdk.sigv4 import canonical_uri, sign, sign_aws_v4

ACCESS_KEY = "AKIDEXAMPLE"
SECRET_KEY = "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY"
DATE = "20150830T123600Z"
EMPTY = "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855"
BASE = [("Host", "example.amazonaws.com"), ("X-Amz-Date", DATE)]
UNRESERVED = "-._~0123456789ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz"
STS_TOKEN = ("AQoDYXdzEPT//////////wEXAMPLEtc764bNrC9SAPBSM22wDOk4x4HIZ8j4FZTwdQWLWsKWHGBuFqwAeMicRXmxfpSPfIeoIYRqTflfKD8YUuwthAx7"
             "mSEI/qkPpKPi/kMcGdQrmGdeehM4IC1NtBmUpp2wUE8phUZampKsburEDy0KPkyQDYwT7WZ0wq5VSXDvp75YU9HFvlRd8Tx6q6fE8YQcHNVXAkiY9q6d+"
             "xo0rKwT38xVqr7ZD0u0iPPkUL64lIZbqBAz+scqKmlzm8FDrypNC9Yjc8fPOLn9FX9KSYvKTr4rvx3iSIlTJabIQwj2ICCR/oLxBA==")

# (name, method, path as in the suite's request, query, extra headers, body, published signature)
SUITE = [
    ("get-vanilla", "GET", "/", "", [], b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("post-vanilla", "POST", "/", "", [], b"", "5da7c1a2acd57cee7505fc6676e4e544621c30862966e37dddb68e92efbe5d6b"),
    ("get-vanilla-query-order-key-case", "GET", "/", "Param2=value2&Param1=value1", [], b"", "b97d918cfa904a5beff61c982a1b6f458b799221646efd99d3219ec94cdf2500"),
    ("get-vanilla-query-order-value", "GET", "/", "Param1=value2&Param1=value1", [], b"", "5772eed61e12b33fae39ee5e7012498b51d56abc0abb7c60486157bd471c4694"),
    ("get-vanilla-query-order-encoded", "GET", "/", "Param-3=Value3&Param=Value2&%E1%88%B4=Value1", [], b"", "371d3713e185cc334048618a97f809c9ffe339c62934c032af5a0e595648fcac"),
    ("get-vanilla-query-unreserved", "GET", "/", f"{UNRESERVED}={UNRESERVED}", [], b"", "9c3e54bfcdf0b19771a7f523ee5669cdf59bc7cc0884027167c21bb143a40197"),
    ("get-vanilla-utf8-query", "GET", "/", "%E1%88%B4=bar", [], b"", "2cdec8eed098649ff3a119c94853b13c643bcf08f8b0a1d91e12c9027818dd04"),
    ("get-vanilla-empty-query-key", "GET", "/", "Param1=value1", [], b"", "a67d582fa61cc504c4bae71f336f98b97f1ea3c7a6bfe1b6e45aec72011b9aeb"),
    ("post-vanilla-query", "POST", "/", "Param1=value1", [], b"", "28038455d6de14eafc1f9222cf5aa6f1a96197d7deb8263271d420d138af7f11"),
    ("post-x-www-form-urlencoded", "POST", "/", "", [("Content-Type", "application/x-www-form-urlencoded")], b"Param1=value1", "ff11897932ad3f4e8b18135d722051e5ac45fc38421b1da7b9d196a0fe09473a"),
    ("get-unreserved", "GET", f"/{UNRESERVED}", "", [], b"", "07ef7494c76fa4850883e2b006601f940f8a34d404d0cfa977f52a65bbf5f24f"),
    ("get-utf8", "GET", "/\u1234", "", [], b"", "8318018e0b0f223aa2bbf98705b62bb787dc9c0e678f255a891fd03141be5d85"),
    ("get-space", "GET", "/example space/", "", [], b"", "652487583200325589f1fba4c7e578f72c47cb61beeca81406b39ddec1366741"),
    ("get-relative", "GET", "/example/..", "", [], b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-relative-relative", "GET", "/example1/example2/../..", "", [], b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-slash", "GET", "//", "", [], b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-slash-dot-slash", "GET", "/./", "", [], b"", "5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31"),
    ("get-slash-pointless-dot", "GET", "/./example", "", [], b"", "ef75d96142cf21edca26f06005da7988e4f8dc83a165a80865db7089db637ec5"),
    ("get-slashes", "GET", "//example//", "", [], b"", "9a624bd73a37c9a373b5312afbebe7a714a789de108f0bdfe846570885f57e84"),
    ("get-header-key-duplicate", "GET", "/", "", [("My-Header1", "value2"), ("My-Header1", "value2"), ("My-Header1", "value1")], b"", "c9d5ea9f3f72853aea855b47ea873832890dbdd183b4468f858259531a5138ea"),
    ("get-header-value-order", "GET", "/", "", [("My-Header1", v) for v in ("value4", "value1", "value3", "value2")], b"", "08c7e5a9acfcfeb3ab6b2185e75ce8b1deb5e634ec47601a50643f830c755c01"),
    ("get-header-value-trim", "GET", "/", "", [("My-Header1", " value1"), ("My-Header2", ' "a   b   c"')], b"", "acc3ed3afb60bb290fc8d2dd0098b9911fcaa05412b367055dee359757a9c736"),
    ("post-header-key-sort", "POST", "/", "", [("My-Header1", "value1")], b"", "c5410059b04c1ee005303aed430f6e6645f61f4dc9e1461ec8f8916fdf18852c"),
    ("post-header-value-case", "POST", "/", "", [("My-Header1", "VALUE1")], b"", "cdbc9802e29d2942e5e10b5bccfdd67c5f22c7c4e8ae67b53629efa58b974b7d"),
    ("post-sts-header-before", "POST", "/", "", [("X-Amz-Security-Token", STS_TOKEN)], b"", "85d96828115b5dc0cfc3bd16ad9e210dd772bbebba041836c64533a82be05ead"),
]


def suite_sign(method: str, path: str, query: str, headers: list[tuple[str, str]], body: bytes):  # type: ignore[no-untyped-def]
    return sign(method, path, query, BASE + headers, hashlib.sha256(body).hexdigest(), access_key=ACCESS_KEY,
                secret_key=SECRET_KEY, region="us-east-1", service="service", amz_date=DATE)


class SuiteVectors(unittest.TestCase):
    def test_every_published_vector(self) -> None:
        for name, method, path, query, headers, body, expected in SUITE:
            with self.subTest(name):
                self.assertEqual(suite_sign(method, path, query, headers, body).signature, expected)

    def test_the_intermediate_steps_of_get_vanilla_and_post_x_www_form_urlencoded(self) -> None:
        vanilla = suite_sign("GET", "/", "", [], b"")
        self.assertEqual(vanilla.canonical_request, f"GET\n/\n\nhost:example.amazonaws.com\nx-amz-date:{DATE}\n\nhost;x-amz-date\n{EMPTY}")
        self.assertEqual(vanilla.string_to_sign.split("\n")[-1], "bb579772317eb040ac9ed261061d46c1f17a8133879d6129b6e1c25292927e63")
        self.assertEqual(vanilla.authorization, "AWS4-HMAC-SHA256 Credential=AKIDEXAMPLE/20150830/us-east-1/service/aws4_request, "
                         "SignedHeaders=host;x-amz-date, Signature=5fa00fa31553b73ebf1942676e86291e8372ff2a2260956d9b8aae1d763fbf31")
        form = suite_sign("POST", "/", "", [("Content-Type", "application/x-www-form-urlencoded")], b"Param1=value1")
        self.assertTrue(form.canonical_request.endswith("content-type;host;x-amz-date\n9095672bbd1f56dfc5b65f3e153adc8731a4a654192329106275f4c7b24d0b6e"))
        self.assertEqual(form.string_to_sign.split("\n")[-1], "42a5e5bb34198acb3e84da4f085bb7927f2bc277ca766e6d19c73c2154021281")

    def test_headers_that_http_stacks_rewrite_are_not_signed(self) -> None:
        extra = [("User-Agent", "x"), ("Content-Length", "0"), ("Authorization", "old"), ("Connection", "close")]
        self.assertEqual(suite_sign("GET", "/", "", extra, b"").signature, SUITE[0][6])

    def test_s3_signs_the_path_encoded_once_and_others_twice(self) -> None:
        self.assertEqual(canonical_uri("/my%20file.json", "execute-api"), "/my%2520file.json")
        self.assertEqual(canonical_uri("/my%20file.json", "s3"), "/my%20file.json")
        self.assertEqual(canonical_uri("/a//b/./c/../d/", "s3"), "/a//b/./c/../d/")


class SignAwsV4(unittest.TestCase):
    """sign_aws_v4: a whole request signed from a credential, the body's hash signed with it."""

    credential = Credential(Strategy(type="aws_sigv4", config={"service": "service", "region": "us-east-1"}),
                            {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY})

    def test_the_body_hash_is_a_signed_header_and_the_session_token_goes_along(self) -> None:
        when = 1440938160.0  # 2015-08-30T12:36:00Z, the suite's time
        headers = sign_aws_v4("POST", "https://example.amazonaws.com/?b=2&a=1", {"Content-Type": "application/json"}, b'{"x":1}', self.credential, lambda: when)
        self.assertEqual(headers["X-Amz-Date"], DATE)
        self.assertEqual(headers["Host"], "example.amazonaws.com")
        self.assertEqual(headers["X-Amz-Content-Sha256"], hashlib.sha256(b'{"x":1}').hexdigest())
        self.assertIn("SignedHeaders=content-type;host;x-amz-content-sha256;x-amz-date,", headers["Authorization"])
        self.assertNotIn("X-Amz-Security-Token", headers)
        with_token = Credential(self.credential.strategy, {**self.credential.credentials, "session_token": STS_TOKEN})
        signed = sign_aws_v4("POST", "https://example.amazonaws.com/", {}, b"", with_token, lambda: when)
        self.assertEqual(signed["X-Amz-Security-Token"], STS_TOKEN)
        self.assertIn("x-amz-security-token", signed["Authorization"])

    def test_the_region_defaults_to_us_east_1_and_the_service_is_required(self) -> None:
        no_region = Credential(Strategy(type="aws_sigv4", config={"service": "s3"}), self.credential.credentials)
        self.assertIn("/us-east-1/s3/aws4_request", sign_aws_v4("GET", "https://b.s3.amazonaws.com/k", {}, None, no_region)["Authorization"])
        from nexus_sdk import NexusError
        with self.assertRaises(NexusError) as caught:
            sign_aws_v4("GET", "https://x/", {}, None, Credential(Strategy(type="aws_sigv4", config={}), self.credential.credentials))
        self.assertEqual(caught.exception.reason, "credential_invalid")
        self.assertIn('"service"', caught.exception.message)


class AgainstBotocore(unittest.TestCase):
    """The same requests signed by botocore, AWS's own Python signer, where it is installed."""

    def test_botocore_computes_the_same_signature(self) -> None:
        try:
            from botocore.auth import SigV4Auth
            from botocore.awsrequest import AWSRequest
            from botocore.credentials import Credentials
        except ImportError:
            self.skipTest("botocore is not installed")
        when = 1767225600.0
        cases = [
            ("GET", "https://api.example.com/prod/items", {}, b""),
            ("POST", "https://api.example.com/prod/my%20file.json?b=2&a=x%2Fy&a=1&empty=", {"Content-Type": "application/json", "X-Custom": "  spaced   value "}, b'{"k":"\xc3\xbc"}'),
            ("PUT", "https://api.example.com/a/b%2Fc/~d?%E1%88%B4=v&Z=1", {"X-Amz-Target": "Service.Op"}, bytes(range(256))),
        ]
        for session_token in (None, "tok/en+=="):
            fields = {"access_key": ACCESS_KEY, "secret_key": SECRET_KEY, **({"session_token": session_token} if session_token else {})}
            credential = Credential(Strategy(type="aws_sigv4", config={"service": "execute-api", "region": "eu-west-1"}), fields)
            for method, url, headers, body in cases:
                with self.subTest(method=method, url=url, token=bool(session_token)):
                    ours = sign_aws_v4(method, url, headers, body, credential, lambda: when)
                    request = AWSRequest(method=method, url=url, data=body, headers={k: v for k, v in ours.items() if k != "Authorization"})
                    request.context["timestamp"] = ours["X-Amz-Date"]
                    signer = SigV4Auth(Credentials(ACCESS_KEY, SECRET_KEY, session_token), "execute-api", "eu-west-1")
                    canonical = signer.canonical_request(request)
                    string_to_sign = signer.string_to_sign(request, canonical)
                    theirs = signer.signature(string_to_sign, request)
                    self.assertTrue(ours["Authorization"].endswith(f"Signature={theirs}"), canonical)
