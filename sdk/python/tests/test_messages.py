"""The message dataclasses cannot drift from proto/: regenerating them must change nothing (unit tests)."""
from __future__ import annotations

import checkout  # noqa: F401  (first: makes nexus_sdk importable from the repository root)
import dataclasses
import importlib.util
import re
import sys
import unittest
from pathlib import Path

from nexus_sdk import NexusClient, messages
from nexus_sdk._wire import WireError, decode, encode

SDK = Path(__file__).resolve().parent.parent
REPO = SDK.parent.parent

# The client method of every RPC; a new RPC in the proto fails this test until the client has it.
CLIENT_METHODS = {
    "RequestConnection": "request_connection", "CheckConnection": "check_connection", "GetToken": "get_token",
    "RefreshToken": "refresh", "ResolveToken": "resolve_token", "ListProviders": "list_providers",
    "GetCaptureSchema": "get_capture_schema", "CaptureCredential": "capture_credential", "CreateSession": "create_session",
    "GetSession": "get_session", "RevokeSession": "revoke_session", "ExchangeToken": "exchange", "GetJwks": "get_jwks",
    "GetAuthorizationServerMetadata": "get_authorization_server_metadata",
}


def load_generator():  # type: ignore[no-untyped-def]
    spec = importlib.util.spec_from_file_location("generate_messages", SDK / "tools" / "generate_messages.py")
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[spec.name] = module  # dataclasses look their module up while the class is built
    spec.loader.exec_module(module)
    return module


class AgainstProto(unittest.TestCase):
    def setUp(self) -> None:
        if not (REPO / "proto" / "nexus" / "gateway" / "v1" / "gateway_service.proto").is_file():
            self.skipTest("proto/ is not here (an installed copy of the tests)")

    def test_messages_py_is_what_the_proto_files_generate(self) -> None:
        generated = load_generator().generate(REPO)
        current = (SDK / "nexus_sdk" / "messages.py").read_text(encoding="utf-8")
        self.assertEqual(current, generated, "nexus_sdk/messages.py is stale: run python3 sdk/python/tools/generate_messages.py")

    def test_every_message_and_field_of_the_proto_files_is_a_dataclass_field(self) -> None:
        # A second, simpler reading of the proto files than the generator's: message names and field numbers.
        for name in ("common/v1/credential.proto", "common/v1/session.proto", "gateway/v1/gateway_service.proto"):
            text = (REPO / "proto" / "nexus" / name).read_text(encoding="utf-8")
            for message, body in re.findall(r"^message (\w+) \{(?:\}|(.*?)^\})", text, re.S | re.M):
                cls = getattr(messages, message)
                fields = {f.proto_name: f.number for f in cls.FIELDS}
                found = dict((n, int(num)) for n, num in re.findall(r"^\s+(?:optional |repeated )?(?:map<[^>]+>|[\w.]+) (\w+) = (\d+)", body, re.M))
                self.assertEqual(fields, found, message)
            self.assertIn(text.count("rpc "), (0, len(messages.GATEWAY_METHODS)))

    def test_the_generator_refuses_what_it_does_not_understand(self) -> None:
        generator = load_generator()
        with self.assertRaises(ValueError):
            generator.parse([("x.proto", "message A {\n  oneof x {\n  }\n}\n")])
        with self.assertRaises(ValueError):
            generator.render(generator.parse([("x.proto", "message A {\n  bytes b = 1;\n}\n")]))


class Shape(unittest.TestCase):
    def test_dataclass_fields_and_fields_tables_agree(self) -> None:
        for name, cls in vars(messages).items():
            if dataclasses.is_dataclass(cls) and isinstance(cls, type) and cls.__module__ == messages.__name__:
                with self.subTest(name):
                    self.assertEqual([f.name for f in dataclasses.fields(cls)], [spec.name for spec in cls.FIELDS])
                    for spec in cls.FIELDS:
                        camel = re.sub(r"_([a-z0-9])", lambda m: m.group(1).upper(), spec.proto_name)
                        self.assertEqual(spec.json_name, camel)

    def test_every_rpc_has_a_client_method(self) -> None:
        self.assertEqual(set(messages.GATEWAY_METHODS), set(CLIENT_METHODS))
        for rpc, method in CLIENT_METHODS.items():
            self.assertTrue(callable(getattr(NexusClient, method, None)), f"{rpc}: NexusClient.{method}")
        self.assertIs(NexusClient.get_token_by_connection_id, NexusClient.get_token)

    def test_secret_fields_stay_out_of_repr(self) -> None:
        issued = messages.IssuedSession(session_id="s1", session_token="SESSION-TOKEN")
        self.assertIn("s1", repr(issued))
        self.assertNotIn("SESSION-TOKEN", repr(issued))
        self.assertNotIn("STATE", repr(messages.RequestConnectionResponse(state="STATE")))
        self.assertNotIn("AT", repr(messages.TokenExchangeResult(access_token="AT")))


class Json(unittest.TestCase):
    def test_encode_writes_camel_case_and_leaves_defaults_out(self) -> None:
        spec = messages.SessionSpec(connection_id="c", agent_id="a", scopes=["x"], ttl_seconds=0, allowed_hosts=[])
        self.assertEqual(encode(messages.CreateSessionRequest(spec=spec)), {"spec": {"connectionId": "c", "agentId": "a", "scopes": ["x"]}})
        # An optional field that is set is written even when it holds the zero value.
        self.assertEqual(encode(messages.Credential(expires_at=0)), {"expiresAt": 0})
        self.assertEqual(encode(messages.Credential()), {})

    def test_decode_takes_either_name_ignores_unknown_fields_and_names_a_misfit(self) -> None:
        got = decode(messages.ResolveTokenResponse, {"connection_id": "c", "credential": {"strategy": {"type": "header", "config": {"header_name": "X"}}, "expiresAt": "9"}, "newField": 1})
        self.assertEqual(got.connection_id, "c")
        assert got.credential is not None and got.credential.strategy is not None
        self.assertEqual((got.credential.strategy.config, got.credential.expires_at), ({"header_name": "X"}, 9))
        for bad, where in (({"connectionId": 5}, "connection_id"), ({"credential": []}, "credential"), ({"credential": {"credentials": {"k": None}}}, "credentials")):
            with self.subTest(where), self.assertRaises(WireError) as caught:
                decode(messages.ResolveTokenResponse, bad)
            self.assertIn(where, str(caught.exception))
