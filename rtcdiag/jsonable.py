"""Convert probe results (dataclasses, enums, addresses, bytes) into plain JSON-able data."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Mapping
from pathlib import Path
from typing import Any

JSONValue = Any


def to_jsonable(obj: object) -> JSONValue:
    """Recursively turn ``obj`` into dicts, lists, str, int, float, bool and None.

    Dataclass fields declared with ``metadata={"secret": True}`` are dropped; bytes become hex.
    """
    if isinstance(obj, enum.Enum):  # first: str/int enums are also str/int
        return to_jsonable(obj.value)
    if obj is None or isinstance(obj, bool | int | float | str):
        return obj
    if dataclasses.is_dataclass(obj) and not isinstance(obj, type):
        out: dict[str, JSONValue] = {}
        for field in dataclasses.fields(obj):
            if field.metadata.get("secret"):
                continue
            out[field.name] = to_jsonable(getattr(obj, field.name))
        return out
    if isinstance(obj, Mapping):
        return {str(k): to_jsonable(v) for k, v in obj.items()}
    if isinstance(obj, bytes | bytearray | memoryview):
        return bytes(obj).hex()
    if isinstance(obj, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network | Path):
        return str(obj)
    if isinstance(obj, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in obj]
    return str(obj)
