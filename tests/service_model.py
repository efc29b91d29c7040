"""Check raw JSON bodies against botocore's sesv2 service model (output shapes).

botocore's parser is lenient: it drops unknown keys and accepts many near-misses, so a body can
parse fine with boto3 yet differ from what the service sends. Walking the model's output shape
over the raw body catches those differences; the result is a list of problems (empty if clean).
"""

from __future__ import annotations

from typing import Any

import botocore.session
from botocore.model import ListShape, MapShape, Shape, StringShape, StructureShape

_SERVICE_MODEL = botocore.session.get_session().get_service_model("sesv2")


def output_shape(operation: str) -> Shape:
    """Return the output shape of an sesv2 operation (e.g. ``GetMessageInsights``)."""
    shape = _SERVICE_MODEL.operation_model(operation).output_shape
    if shape is None:
        raise ValueError(f"{operation} has no output shape")
    return shape


def validate_output(operation: str, body: Any) -> list[str]:
    """Check a decoded JSON ``body`` against the output shape of ``operation``."""
    problems: list[str] = []
    _check(output_shape(operation), body, operation, problems)
    return problems


def _is_number(value: Any) -> bool:
    """Whether a JSON value is a number (bool is not)."""
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check(shape: Shape, value: Any, path: str, problems: list[str]) -> None:
    """Append to ``problems`` every way ``value`` departs from ``shape``, recursing into members."""
    kind = shape.type_name
    if isinstance(shape, StructureShape):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected an object ({shape.name}), got {type(value).__name__}")
            return
        for name in value:
            if name not in shape.members:
                problems.append(f"{path}: unknown member {name!r} (not in {shape.name})")
        for name in shape.required_members:
            if name not in value:
                problems.append(f"{path}: required member {name!r} missing")
        for name, member in shape.members.items():
            if name in value:
                _check(member, value[name], f"{path}.{name}", problems)
    elif isinstance(shape, ListShape):
        if not isinstance(value, list):
            problems.append(f"{path}: expected a list ({shape.name}), got {type(value).__name__}")
            return
        for index, item in enumerate(value):
            _check(shape.member, item, f"{path}[{index}]", problems)
    elif isinstance(shape, MapShape):
        if not isinstance(value, dict):
            problems.append(f"{path}: expected a map ({shape.name}), got {type(value).__name__}")
            return
        for key, item in value.items():
            _check(shape.key, key, f"{path}<key {key!r}>", problems)
            _check(shape.value, item, f"{path}[{key!r}]", problems)
    elif isinstance(shape, StringShape):
        if not isinstance(value, str):
            problems.append(f"{path}: expected a string ({shape.name}), got {type(value).__name__}")
        elif shape.enum and value not in shape.enum:
            problems.append(f"{path}: {value!r} is not one of {shape.enum} ({shape.name})")
    elif kind == "timestamp":
        if shape.serialization.get("timestampFormat", "unixTimestamp") != "unixTimestamp":
            if not isinstance(value, str):
                problems.append(f"{path}: expected a formatted timestamp string, got {value!r}")
        elif not _is_number(value):
            problems.append(f"{path}: expected epoch seconds (a number), got {value!r}")
    elif kind in ("integer", "long"):
        if not isinstance(value, int) or isinstance(value, bool):
            problems.append(f"{path}: expected an integer ({shape.name}), got {value!r}")
    elif kind in ("float", "double"):
        if not _is_number(value):
            problems.append(f"{path}: expected a number ({shape.name}), got {value!r}")
    elif kind == "boolean":
        if not isinstance(value, bool):
            problems.append(f"{path}: expected a boolean ({shape.name}), got {value!r}")
    elif kind == "blob":
        if not isinstance(value, str):
            problems.append(f"{path}: expected a base64 string ({shape.name}), got {value!r}")
    else:
        problems.append(f"{path}: shape type {kind!r} is not handled by this validator")
