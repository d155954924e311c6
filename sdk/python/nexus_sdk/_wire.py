"""proto3 JSON for the generated message dataclasses, driven by their FIELDS tables."""
from __future__ import annotations

import sys
from dataclasses import dataclass
from typing import Any, TypeVar

T = TypeVar("T")


@dataclass(frozen=True)
class FieldSpec:
    """One field of a message as the generator read it from the proto file."""

    name: str
    """The dataclass attribute."""
    json_name: str
    """proto3 JSON's lowerCamelCase name, which the Gateway writes."""
    proto_name: str
    """The proto field name, which proto3 JSON parsers also accept."""
    number: int
    kind: str
    """`scalar`, `message`, `struct` or `map`."""
    type_name: str
    """The scalar type (`string`, `uint32`, ...) or the message class name."""
    repeated: bool = False
    optional: bool = False


class WireError(ValueError):
    """A JSON value that does not fit the message: names the field, never shows the value."""


_INTEGERS = {"uint32", "int32", "uint64", "int64"}


def encode(message: Any) -> dict[str, Any]:
    """A message as proto3 JSON: lowerCamelCase names, default values left out (as proto3 does)."""
    out: dict[str, Any] = {}
    for spec in type(message).FIELDS:
        value = getattr(message, spec.name)
        if spec.repeated:
            if value:
                out[spec.json_name] = [_encode_one(spec, v) for v in value]
        elif spec.kind == "map":
            if value:
                out[spec.json_name] = {str(k): v for k, v in value.items()}
        elif value is None:
            continue
        elif spec.optional or spec.kind in ("message", "struct") or value != _zero(spec):
            out[spec.json_name] = _encode_one(spec, value)
    return out


def decode(cls: type[T], data: Any, where: str = "") -> T:
    """Builds `cls` from proto3 JSON; unknown fields are ignored (a newer Gateway may add some)."""
    path = where or cls.__name__
    if not isinstance(data, dict):
        raise WireError(f"{path} is not a JSON object")
    values: dict[str, Any] = {}
    for spec in cls.FIELDS:  # type: ignore[attr-defined]
        raw = data.get(spec.json_name, data.get(spec.proto_name))
        if raw is None:
            continue
        at = f"{path}.{spec.proto_name}"
        if spec.repeated:
            if not isinstance(raw, list):
                raise WireError(f"{at} is not a list")
            values[spec.name] = [_decode_one(spec, v, f"{at}[{i}]") for i, v in enumerate(raw)]
        elif spec.kind == "map":
            if not isinstance(raw, dict):
                raise WireError(f"{at} is not an object")
            values[spec.name] = {str(k): _scalar(spec.type_name, v, f"{at}[{k!r}]") for k, v in raw.items()}
        else:
            values[spec.name] = _decode_one(spec, raw, at)
    return cls(**values)


def _zero(spec: FieldSpec) -> Any:
    return {"string": "", "bool": False, "double": 0.0, "float": 0.0}.get(spec.type_name, 0)


def _encode_one(spec: FieldSpec, value: Any) -> Any:
    if spec.kind == "message":
        return encode(value)
    if spec.kind == "scalar" and spec.type_name in ("int64", "uint64"):
        return str(value)  # proto3 JSON writes 64-bit integers as strings
    return value


def _decode_one(spec: FieldSpec, raw: Any, at: str) -> Any:
    if spec.kind == "message":
        return decode(getattr(sys.modules[__package__ + ".messages"], spec.type_name), raw, at)
    if spec.kind == "struct":
        if not isinstance(raw, dict):
            raise WireError(f"{at} is not an object")
        return raw
    return _scalar(spec.type_name, raw, at)


def _scalar(type_name: str, raw: Any, at: str) -> Any:
    if type_name == "string":
        if isinstance(raw, str):
            return raw
    elif type_name == "bool":
        if isinstance(raw, bool):
            return raw
    elif type_name in _INTEGERS:
        # proto3 JSON parsers accept integers as numbers or as decimal strings.
        if isinstance(raw, int) and not isinstance(raw, bool):
            return raw
        if isinstance(raw, str) and raw.lstrip("-").isdigit():
            return int(raw)
    elif isinstance(raw, (int, float)) and not isinstance(raw, bool):
        return float(raw)
    raise WireError(f"{at} is not a {type_name}")
