#!/usr/bin/env python3
"""Generates nexus_sdk/messages.py from the Gateway's protobuf files.

    python3 sdk/python/tools/generate_messages.py          # rewrite the module
    python3 sdk/python/tools/generate_messages.py --check  # exit 1 when it is stale

Parses the subset of proto3 the Gateway's files use (messages with scalar,
message, map and repeated fields, `optional`, `reserved`, one service, the
field options `google.api.field_behavior` and `nexus.common.v1.input_rule`,
the enum and extension that declare the latter) and writes one frozen
dataclass per message, with the proto comments as docstrings (plus a line
naming a field's input rule) and a FIELDS table that nexus_sdk._wire reads to
speak proto3 JSON. Anything outside that subset stops the generator rather
than being guessed at.
"""
from __future__ import annotations

import keyword
import re
import sys
from dataclasses import dataclass, field
from pathlib import Path

HERE = Path(__file__).resolve().parent
SDK = HERE.parent
REPO = SDK.parent.parent
SOURCES = (
    "proto/nexus/common/v1/credential.proto",
    "proto/nexus/common/v1/input_rules.proto",
    "proto/nexus/common/v1/token.proto",
    "proto/nexus/common/v1/capture.proto",
    "proto/nexus/common/v1/session.proto",
    "proto/nexus/gateway/v1/gateway_service.proto",
)
TARGET = SDK / "nexus_sdk" / "messages.py"

SCALARS = {"string": "str", "bool": "bool", "uint32": "int", "int32": "int", "uint64": "int", "int64": "int", "double": "float", "float": "float"}
STRUCT = "google.protobuf.Struct"
# Kept out of repr() so that printing a message, or a traceback showing one, never shows a secret.
SECRET_FIELDS = {"credentials", "session_token", "subject_token", "access_token", "state", "client_assertion", "actor_token"}
FIELD_BEHAVIOR = "google.api.field_behavior"
# The field options the generator understands; any other option stops it.
FIELD_BEHAVIORS = {"REQUIRED", "OPTIONAL", "OUTPUT_ONLY", "INPUT_ONLY", "IMMUTABLE"}

FIELD_RE = re.compile(
    r"^(?:(optional|repeated)\s+)?(map<\s*(\w+)\s*,\s*([\w.]+)\s*>|[\w.]+)\s+(\w+)\s*=\s*(\d+)\s*(?:\[(.*)\])?\s*;$"
)
OPTION_RE = re.compile(r"^\(([\w.]+)\)\s*=\s*(\w+)$")
RESERVED_RE = re.compile(r'^reserved\s+((?:\d+(?:\s+to\s+\d+)?|"\w+")(?:\s*,\s*(?:\d+(?:\s+to\s+\d+)?|"\w+"))*)\s*;$')
ENUM_VALUE_RE = re.compile(r"^(\w+)\s*=\s*(\d+)\s*;$")
RPC_RE = re.compile(r"^rpc\s+(\w+)\s*\(\s*([\w.]+)\s*\)\s*returns\s*\(\s*([\w.]+)\s*\)")


@dataclass
class ProtoField:
    name: str
    number: int
    type_name: str
    label: str  # "", "optional", "repeated" or "map"
    map_value: str = ""
    doc: list[str] = field(default_factory=list)
    required: bool = False
    """`(google.api.field_behavior) = REQUIRED`."""
    input_rule: str = ""
    """The value of an input-rule option (`INPUT_RULE_UUID`), checked against its enum."""


@dataclass
class ProtoMessage:
    name: str
    doc: list[str]
    fields: list[ProtoField] = field(default_factory=list)
    reserved: set[int | str] = field(default_factory=set)


@dataclass
class Proto:
    messages: dict[str, ProtoMessage] = field(default_factory=dict)
    service: str = ""
    methods: list[tuple[str, str, str]] = field(default_factory=list)
    enums: dict[str, dict[str, int]] = field(default_factory=dict)
    """Top-level enums by fully qualified name: their values."""
    extensions: dict[str, str] = field(default_factory=dict)
    """Field options a file declares (`extend google.protobuf.FieldOptions`), fully qualified: their enum's name."""


def parse(texts: list[tuple[str, str]]) -> Proto:
    """Parses the files' messages, enums, field-option extensions and service; raises ValueError on anything unexpected.

    A field's options may span lines (`[` on the field's line, `];` on a later one); comments inside them are not
    allowed. Extensions and enums must come before the fields that use them (list their file first in SOURCES).
    """
    proto = Proto()
    for path, text in texts:
        package = ""
        comments: list[str] = []
        message: ProtoMessage | None = None
        enum: dict[str, int] | None = None
        in_extend = in_service = False
        depth = 0
        pending, pending_at = "", ""
        for number, raw in enumerate(text.splitlines(), 1):
            line = raw.strip()
            where = f"{path}:{number}"
            if pending:
                if line.startswith("//") or line == "":
                    raise ValueError(f"{where}: a comment or blank line inside a field's options")
                pending += " " + line
                if not line.endswith(";"):
                    continue
                line, where, pending = pending, pending_at, ""
            elif line.startswith("//"):
                comments.append(line[2:].strip())
                continue
            elif line == "":
                comments = []
                continue
            if m := re.match(r"^package\s+([\w.]+);$", line):
                package = m.group(1)
            elif m := re.match(r"^message\s+(\w+)\s*\{\s*(\})?$", line):
                if message is not None or enum is not None or in_extend or in_service:
                    raise ValueError(f"{where}: nested messages are not supported")
                if m.group(1) in proto.messages:
                    raise ValueError(f"{where}: a second message {m.group(1)} (the SDK has one namespace)")
                current = ProtoMessage(m.group(1), comments)
                proto.messages[current.name] = current
                message = None if m.group(2) else current
            elif m := re.match(r"^enum\s+(\w+)\s*\{$", line):
                if message is not None or enum is not None or in_extend or in_service:
                    raise ValueError(f"{where}: nested enums are not supported")
                enum = proto.enums.setdefault(f"{package}.{m.group(1)}", {})
            elif enum is not None:
                if line == "}":
                    enum = None
                elif m := ENUM_VALUE_RE.match(line):
                    enum[m.group(1)] = int(m.group(2))
                else:
                    raise ValueError(f"{where}: cannot parse {line!r}")
            elif re.match(r"^extend\s+google\.protobuf\.FieldOptions\s*\{$", line):
                in_extend = True
            elif in_extend:
                if line == "}":
                    in_extend = False
                elif (m := FIELD_RE.match(line)) and m.group(1) is None and m.group(3) is None and m.group(7) is None:
                    type_name = m.group(2) if "." in m.group(2) else f"{package}.{m.group(2)}"
                    if type_name not in proto.enums:
                        raise ValueError(f"{where}: only enum-valued field options are supported")
                    proto.extensions[f"{package}.{m.group(5)}"] = type_name
                else:
                    raise ValueError(f"{where}: cannot parse {line!r}")
            elif m := re.match(r"^service\s+(\w+)\s*\{$", line):
                proto.service = f"{package}.{m.group(1)}"
                in_service = True
                depth = 1
            elif in_service:
                if m := RPC_RE.match(line):
                    proto.methods.append((m.group(1), m.group(2), m.group(3)))
                depth += line.count("{") - line.count("}")
                in_service = depth > 0
            elif message is not None:
                if line == "}":
                    message = None
                elif "[" in line and not line.endswith(";"):
                    pending, pending_at = line, where
                    continue  # the field's comments stay for it
                elif m := RESERVED_RE.match(line):
                    message.reserved |= reserved(m.group(1))
                elif m := FIELD_RE.match(line):
                    message.fields.append(parse_field(m, comments, proto, message, where))
                else:
                    raise ValueError(f"{where}: cannot parse {line!r}")
            elif not re.match(r"^(syntax|import|option)\b", line):
                raise ValueError(f"{where}: cannot parse {line!r}")
            comments = []
        if pending or message is not None or enum is not None or in_extend or in_service:
            raise ValueError(f"{path}: ends inside a block")
    return proto


def reserved(spec: str) -> set[int | str]:
    """The numbers and names of a `reserved` statement (`5`, `9 to 11`, `"old_name"`)."""
    out: set[int | str] = set()
    for item in (part.strip() for part in spec.split(",")):
        if item.startswith('"'):
            out.add(item.strip('"'))
        else:
            low, _, high = item.partition(" to ")
            out.update(range(int(low), int(high or low) + 1))
    return out


def parse_field(m: re.Match[str], comments: list[str], proto: Proto, message: ProtoMessage, where: str) -> ProtoField:
    """One field of `message`, its options checked: field_behavior, and input rules declared by an extension."""
    label, type_name, key, value, name, tag, options = m.groups()
    if int(tag) in message.reserved or name in message.reserved:
        raise ValueError(f"{where}: field {name} = {tag} is reserved")
    if key is not None:
        if key != "string" or value not in SCALARS:
            raise ValueError(f"{where}: only map<string, scalar> is supported")
        out = ProtoField(name, int(tag), key, "map", value, comments)
    else:
        out = ProtoField(name, int(tag), type_name, label or "", "", comments)
    for option in [] if options is None else [o.strip() for o in options.split(",")]:
        om = OPTION_RE.match(option)
        if om is None:
            raise ValueError(f"{where}: cannot parse the field option {option!r}")
        option_name, option_value = om.groups()
        if option_name == FIELD_BEHAVIOR and option_value in FIELD_BEHAVIORS:
            out.required = out.required or option_value == "REQUIRED"
        elif option_name in proto.extensions and option_value in proto.enums[proto.extensions[option_name]]:
            if out.input_rule:
                raise ValueError(f"{where}: two input rules")
            out.input_rule = option_value
        else:
            raise ValueError(f"{where}: unknown field option ({option_name}) = {option_value}")
    return out


def json_name(name: str) -> str:
    """proto3's default json_name: lowerCamelCase of the field name."""
    head, *rest = name.split("_")
    return head + "".join(part[:1].upper() + part[1:] for part in rest)


def python_name(name: str) -> str:
    return f"{name}_" if keyword.iskeyword(name) else name


def kind_of(f: ProtoField, proto: Proto) -> tuple[str, str, str]:
    """(kind, type name for FIELDS, the annotation) of a field."""
    short = f.type_name.rsplit(".", 1)[-1]
    if f.label == "map":
        return "map", f.map_value, f"dict[str, {SCALARS[f.map_value]}]"
    if f.type_name in SCALARS:
        kind, type_name, annotation = "scalar", f.type_name, SCALARS[f.type_name]
    elif f.type_name == STRUCT:
        kind, type_name, annotation = "struct", "Struct", "dict[str, Any]"
    elif short in proto.messages and (f.type_name == short or f.type_name.startswith("nexus.")):
        kind, type_name, annotation = "message", short, short
    else:
        raise ValueError(f"field {f.name}: type {f.type_name} is not supported")
    if f.label == "repeated":
        return kind, type_name, f"list[{annotation}]"
    if kind in ("message", "struct") or f.label == "optional":
        return kind, type_name, f"Optional[{annotation}]"
    return kind, type_name, annotation


def docstring(lines: list[str], indent: str) -> str:
    text = "\n".join(lines).strip().replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    if text == "":
        return ""
    body = "\n".join(f"{indent}{line}" if line else "" for line in text.split("\n")).lstrip()
    return f'{indent}"""{body}"""\n' if "\n" not in text else f'{indent}"""{body}\n{indent}"""\n'


def rule_note(f: ProtoField) -> list[str]:
    """The line that says what the Gateway checks of a request field (docs/api.md describes each rule)."""
    said = (["Required."] if f.required else []) + ([f"Input rule `{f.input_rule}`."] if f.input_rule else [])
    return [" ".join(said)] if said else []


def render(proto: Proto) -> str:
    out = [
        "# Generated by tools/generate_messages.py from",
        *(f"# {path}" for path in SOURCES),
        "# DO NOT EDIT: change the proto files and run `python3 sdk/python/tools/generate_messages.py`.",
        '"""The messages of the Gateway\'s API (`nexus.gateway.v1.GatewayService`), one dataclass each.',
        "",
        "Field names are the proto field names; nexus_sdk._wire turns them into proto3 JSON",
        "(lowerCamelCase) and back. Secret fields are left out of repr().",
        '"""',
        "from __future__ import annotations",
        "",
        "from dataclasses import dataclass, field",
        "from typing import Any, ClassVar, Optional",
        "",
        "from ._wire import FieldSpec",
    ]
    for message in proto.messages.values():
        out += ["", "", "@dataclass(frozen=True)", f"class {message.name}:"]
        doc = docstring(message.doc, "    ")
        out += [doc.rstrip("\n")] if doc else []
        specs = []
        for f in message.fields:
            kind, type_name, annotation = kind_of(f, proto)
            hidden = ", repr=False" if f.name in SECRET_FIELDS else ""
            if f.label in ("repeated", "map"):
                factory = "dict" if f.label == "map" else "list"
                default = f"field(default_factory={factory}{hidden})"
            elif annotation.startswith("Optional["):
                default = f"field(default=None{hidden})" if hidden else "None"
            else:
                zero = {"str": '""', "int": "0", "bool": "False", "float": "0.0"}[annotation]
                default = f"field(default={zero}{hidden})" if hidden else zero
            out.append(f"    {python_name(f.name)}: {annotation} = {default}")
            field_doc = docstring(f.doc + rule_note(f), "    ")
            out += [field_doc.rstrip("\n")] if field_doc else []
            flags = (", repeated=True" if f.label == "repeated" else "") + (", optional=True" if f.label == "optional" else "")
            specs.append(
                f'        FieldSpec("{python_name(f.name)}", "{json_name(f.name)}", "{f.name}", {f.number}, "{kind}", "{type_name}"{flags}),'
            )
        out.append("")
        out.append("    FIELDS: ClassVar[tuple[FieldSpec, ...]] = (" + ("" if specs else ")"))
        if specs:
            out += specs
            out.append("    )")
    out += [
        "",
        "",
        f'GATEWAY_SERVICE = "{proto.service}"',
        '"""The fully qualified name of the Gateway\'s service: the first part of every Connect path."""',
        "",
        "GATEWAY_METHODS: dict[str, tuple[type, type]] = {",
    ]
    for name, request, response in proto.methods:
        out.append(f'    "{name}": ({request.rsplit(".", 1)[-1]}, {response.rsplit(".", 1)[-1]}),')
    out += ["}", '"""Every method of the service: its request and response message."""', ""]
    return "\n".join(out)


def generate(repo: Path = REPO) -> str:
    """The module's text, from the proto files under `repo`."""
    return render(parse([(p, (repo / p).read_text(encoding="utf-8")) for p in SOURCES]))


def main(argv: list[str]) -> int:
    text = generate()
    if "--check" in argv:
        if TARGET.read_text(encoding="utf-8") != text:
            print(f"{TARGET} is stale: run python3 sdk/python/tools/generate_messages.py", file=sys.stderr)
            return 1
        return 0
    TARGET.write_text(text, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
