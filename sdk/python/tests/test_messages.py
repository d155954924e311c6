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
        # A second, simpler reading of the proto files than the generator's: the files the service imports,
        # message names and field numbers.
        files, queue = set[str](), ["proto/nexus/gateway/v1/gateway_service.proto"]
        while queue:
            path = queue.pop()
            files.add(path)
            text = (REPO / path).read_text(encoding="utf-8")
            queue += [f"proto/{i}" for i in re.findall(r'^import "(nexus/[^"]+)";', text, re.M) if f"proto/{i}" not in files]
            for message, body in re.findall(r"^message (\w+) \{(?:\}|(.*?)^\})", text, re.S | re.M):
                cls = getattr(messages, message)
                fields = {f.proto_name: f.number for f in cls.FIELDS}
                found = dict((n, int(num)) for n, num in re.findall(r"^\s+(?:optional |repeated )?(?:map<[^>]+>|[\w.]+) (\w+) = (\d+)", body, re.M))
                self.assertEqual(fields, found, message)
            self.assertIn(text.count("rpc "), (0, len(messages.GATEWAY_METHODS)))
        self.assertEqual(files, set(load_generator().SOURCES), "the generator must read every file the service imports")

    def test_field_options_single_and_multi_line_are_read_and_checked(self) -> None:
        generator = load_generator()
        rules = "package p;\nenum Rule {\n  RULE_UNSPECIFIED = 0;\n  RULE_ID = 1;\n}\nextend google.protobuf.FieldOptions {\n  Rule rule = 50100;\n}\n"
        proto = generator.parse([("r.proto", rules), ("x.proto", (
            "message A {\n  reserved 3;\n  reserved \"old\";\n"
            "  // An id.\n  string id = 1 [\n    (google.api.field_behavior) = REQUIRED,\n    (p.rule) = RULE_ID\n  ];\n"
            "  repeated string tags = 2 [(p.rule) = RULE_ID];\n  string plain = 4;\n}\n"))])
        got = [(f.name, f.number, f.label, f.required, f.input_rule, f.doc) for f in proto.messages["A"].fields]
        self.assertEqual(got, [("id", 1, "", True, "RULE_ID", ["An id."]), ("tags", 2, "repeated", False, "RULE_ID", []), ("plain", 4, "", False, "", [])])
        self.assertIn("Required. Input rule `RULE_ID`.", generator.render(proto))
        for bad in (
            "message A {\n  string id = 1 [(p.rule) = RULE_NONE];\n}\n",  # not a value of the enum
            "message A {\n  string id = 1 [(q.other) = RULE_ID];\n}\n",  # an extension nobody declared
            "message A {\n  string id = 1 [deprecated = true];\n}\n",  # an option it does not understand
            "message A {\n  string id = 1 [\n    // why\n    (p.rule) = RULE_ID\n  ];\n}\n",  # a comment inside the options
            "message A {\n  string id = 1 [\n    (p.rule) = RULE_ID\n",  # the file ends inside them
            "message A {\n  reserved 1;\n  string id = 1;\n}\n",  # a reserved number
        ):
            with self.subTest(bad), self.assertRaises(ValueError):
                generator.parse([("r.proto", rules), ("x.proto", bad)])

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
