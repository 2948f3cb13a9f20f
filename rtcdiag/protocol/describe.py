"""Readable views of a decoded message: one :class:`AttributeView` per attribute, and a one-line summary."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.protocol.attributes import (
    AddressErrorCode,
    AttrValue,
    ChangeRequest,
    ErrorCode,
    EvenPort,
    Icmp,
    PasswordAlgorithmEntry,
    PasswordAlgorithms,
    RequestedAddressFamily,
    RequestedTransport,
    ResponsePort,
    TransactionTransmitCounter,
    UnknownAttributes,
    unpack_value,
)
from rtcdiag.protocol.constants import (
    ERROR_REASONS,
    AttrType,
    MessageClass,
    PasswordAlgorithm,
    TransportProtocol,
    attr_name,
    method_name,
)
from rtcdiag.protocol.errors import StunParseError
from rtcdiag.protocol.message import Message
from rtcdiag.redact import echo

REDACTED = "<redacted>"
# HMACs and secrets: never shown, not even as hex.
SECRET_TYPES = frozenset(
    {
        AttrType.MESSAGE_INTEGRITY,
        AttrType.MESSAGE_INTEGRITY_SHA256,
        AttrType.USERHASH,
        AttrType.ACCESS_TOKEN,
        AttrType.PASSWORD,
        AttrType.MOBILITY_TICKET,
    }
)
_HEX_INTS = frozenset(
    {AttrType.FINGERPRINT, AttrType.ICE_CONTROLLED, AttrType.ICE_CONTROLLING, AttrType.CHANNEL_NUMBER}
)
_CLASS_TEXT = {
    MessageClass.REQUEST: "request",
    MessageClass.INDICATION: "indication",
    MessageClass.SUCCESS: "success response",
    MessageClass.ERROR: "error response",
}
_MAX_HEX = 64  # bytes of raw value shown as hex; longer values are cut with "..."
_MAX_LISTED = 16  # entries of a list-valued attribute named in its text


def _listed(names: list[str], total: int) -> str:
    """"a, b, c", or "a, b, ... (40 in all)" when only the first were named (a value can list 16000)."""
    text = ", ".join(names) or "(none)"
    return f"{text}, ... ({total} in all)" if total > len(names) else text


@dataclass
class AttributeView:
    """One attribute as shown to a user: type code, name, decoded value and the raw bytes (hex).

    Secret-bearing values (MESSAGE-INTEGRITY HMACs, USERHASH, ACCESS-TOKEN) are shown as ``<redacted>``.
    """

    type: int
    name: str
    value: str
    raw_hex: str = ""


def _hex(raw: bytes) -> str:
    return raw[:_MAX_HEX].hex() + ("..." if len(raw) > _MAX_HEX else "")


def _algorithm(entry: PasswordAlgorithmEntry) -> str:
    try:
        return PasswordAlgorithm(entry.algorithm).name
    except ValueError:
        return f"algorithm {entry.algorithm}"


def _family(family: int) -> str:
    return {1: "IPv4", 2: "IPv6"}.get(family, f"family {family}")


def _reason(code: int, reason: str) -> str:
    """The sender's reason phrase, marked as outside text; the RFC's own when it sent none."""
    return echo(reason) if reason else ERROR_REASONS.get(code, "")


def value_text(attr_type: int, value: AttrValue) -> str:
    """Readable text for one decoded attribute value; the sender's own text in it is marked
    (:func:`rtcdiag.redact.echo`) so that a report masks secrets there and only there."""
    match value:
        case bool():
            return "(set)"
        case int() if attr_type in _HEX_INTS:
            return f"0x{value:0{8 if attr_type == AttrType.FINGERPRINT else 4}x}"
        case int():
            return str(value)
        case str():
            return echo(repr(value))  # the sender's text (SOFTWARE, REALM, NONCE, USERNAME, ...)
        case bytes() if attr_type in (AttrType.DATA, AttrType.PADDING):
            return f"{len(value)} bytes"
        case bytes():
            return _hex(value) or "(empty)"
        case ErrorCode():
            return f"{value.code} {_reason(value.code, value.reason)}".rstrip()
        case AddressErrorCode():
            return f"{_family(value.family)}: {value.code} {_reason(value.code, value.reason)}".rstrip()
        case ChangeRequest():
            pairs = (("change IP", value.change_ip), ("change port", value.change_port))
            flags = [n for n, on in pairs if on]
            return ", ".join(flags) or "no change"
        case UnknownAttributes():
            return _listed([attr_name(t) for t in value.types[:_MAX_LISTED]], len(value.types))
        case PasswordAlgorithmEntry():
            return _algorithm(value)
        case PasswordAlgorithms():
            return _listed([_algorithm(e) for e in value.entries[:_MAX_LISTED]], len(value.entries))
        case EvenPort():
            return "reserve next port" if value.reserve else "even port"
        case RequestedTransport():
            try:
                return TransportProtocol(value.protocol).name
            except ValueError:
                return f"protocol {value.protocol}"
        case RequestedAddressFamily():
            return _family(value.family)
        case ResponsePort():
            return f"{value.port} ({value.length}-byte form)"
        case Icmp():
            return f"type {value.icmp_type} code {value.icmp_code} data 0x{value.error_data:08x}"
        case TransactionTransmitCounter():
            return f"request #{value.request}, response #{value.response}"
        case _:
            return str(value)  # Address and anything else with a readable __str__


def describe(msg: Message, limit: int | None = None) -> list[AttributeView]:
    """Every attribute (or the first ``limit``) in wire order with its decoded value and raw hex; secrets
    shown as ``<redacted>``.

    Never raises for a decoded message: a malformed value is shown as "malformed: ..." with its raw hex.
    """
    views: list[AttributeView] = []
    key = msg.xor_key
    attributes = msg.attributes if limit is None else msg.attributes[:limit]
    for attr_type, raw in attributes:
        name = attr_name(attr_type)
        if attr_type in SECRET_TYPES:
            views.append(AttributeView(attr_type, name, REDACTED, REDACTED))
            continue
        try:
            text = value_text(attr_type, unpack_value(attr_type, raw, key))
        except StunParseError as exc:
            text = f"malformed: {exc}"
        views.append(AttributeView(attr_type, name, text, _hex(raw)))
    return views


def summary(msg: Message) -> str:
    """One line: "Binding request", "Allocate error response 401 Unauthorized", "Binding success response
    (RFC 3489)"."""
    text = f"{method_name(msg.method)} {_CLASS_TEXT[msg.msg_class]}"
    if msg.msg_class == MessageClass.ERROR:
        try:
            error = msg.error
        except StunParseError:
            text += " (malformed ERROR-CODE)"
        else:
            if error is not None:
                text += " " + value_text(AttrType.ERROR_CODE, error)
    if msg.legacy:
        text += " (RFC 3489)"
    return text
