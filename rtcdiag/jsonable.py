"""Convert probe results (dataclasses, enums, addresses, bytes) into plain JSON-able data."""

from __future__ import annotations

import dataclasses
import enum
import ipaddress
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from rtcdiag.redact import echo

JSONValue = Any

_PLAIN = (bool, int, float, type(None))  # returned as they are (exact types: never an enum)
# dataclass -> (field name, holds outside text) for its fields not marked secret or in-process only (a typed
# value the JSON already carries in its documented form, e.g. a datetime beside its ISO text); None: not a
# dataclass
_FIELDS: dict[type, tuple[tuple[str, bool], ...] | None] = {}
IN_PROCESS: dict[str, bool] = {"in_process": True}  # field(metadata=IN_PROCESS): never in the JSON


def _fields(cls: type) -> tuple[tuple[str, bool], ...] | None:
    try:
        return _FIELDS[cls]
    except KeyError:
        names = (tuple((f.name, bool(f.metadata.get("echo"))) for f in dataclasses.fields(cls)
                       if not f.metadata.get("secret") and not f.metadata.get("in_process"))
                 if dataclasses.is_dataclass(cls) else None)
        _FIELDS[cls] = names
        return names


def to_jsonable(obj: object, text: Callable[[str], str] | None = None) -> JSONValue:
    """Recursively turn ``obj`` into dicts, lists, str, int, float, bool and None.

    Dataclass fields declared with ``metadata={"secret": True}`` are dropped; bytes become hex. The strings of
    a field declared with ``metadata=rtcdiag.redact.ECHO`` (outside text) are marked with
    :func:`rtcdiag.redact.echo`. ``text``, if given, is applied to every string of the result, dictionary
    keys included (e.g. :func:`rtcdiag.redact.unmark`), in the same walk; it is called once per distinct
    string. Enum values are rtcdiag's own words: never passed to ``text``.
    """
    if text is None:
        return _convert(obj, _identity)
    seen: dict[str, str] = {}

    def once(value: str) -> str:
        try:
            return seen[value]
        except KeyError:
            result = seen[value] = text(value)
            return result

    return _convert(obj, once)


class Deferred:
    """``to_jsonable(raw, text)`` made when first asked for (:meth:`value`): the raw results of a run are
    large and only the JSON report prints them."""

    __slots__ = ("_done", "_raw", "_text", "_value")

    def __init__(self, raw: object, text: Callable[[str], str] | None) -> None:
        self._raw, self._text = raw, text
        self._done = False
        self._value: JSONValue = None

    def value(self) -> JSONValue:
        if not self._done:
            self._value = to_jsonable(self._raw, self._text)
            self._done, self._raw, self._text = True, None, None
        return self._value


def _identity(value: str) -> str:
    return value


def _echoing(text: Callable[[str], str]) -> Callable[[str], str]:
    """``text`` applied to strings marked as outside text (a field declared ``metadata=ECHO``)."""
    return lambda value: text(echo(value))


def _convert(obj: object, text: Callable[[str], str]) -> JSONValue:
    kind = type(obj)
    if kind is str:
        return text(obj)  # type: ignore[arg-type]
    if kind in _PLAIN:
        return obj
    if kind is dict:
        return {text(k) if type(k) is str else text(str(k)): _convert(v, text)
                for k, v in obj.items()}  # type: ignore[attr-defined]
    if kind is list or kind is tuple:
        return [_convert(v, text) for v in obj]  # type: ignore[attr-defined]
    if isinstance(obj, enum.Enum):  # before str/int: str/int enums are also str/int; never masked
        return _convert(obj.value, _identity)
    if isinstance(obj, str):
        return text(obj)
    if isinstance(obj, bool | int | float):
        return obj
    names = _fields(kind)
    if names is not None:
        return {name: _convert(getattr(obj, name), _echoing(text) if outside else text)
                for name, outside in names}
    if isinstance(obj, Mapping):
        return {text(str(k)): _convert(v, text) for k, v in obj.items()}
    if isinstance(obj, bytes | bytearray | memoryview):
        return text(bytes(obj).hex())
    if isinstance(obj, ipaddress.IPv4Address | ipaddress.IPv6Address | ipaddress.IPv4Network
                  | ipaddress.IPv6Network | Path):
        return text(str(obj))
    if isinstance(obj, list | tuple | set | frozenset):
        return [_convert(v, text) for v in obj]
    return text(str(obj))
