"""Constants against the IANA "STUN Parameters" registry (iana.org/assignments/stun-parameters, 2024-12-20).

The registry rows below were transcribed from the registry text, not from our enums; each test checks both
directions (every registry row we claim is in our enum with the same value, and nothing extra in our enum).
"""

from __future__ import annotations

from rtcdiag.protocol import ERROR_REASONS, MAGIC_COOKIE, AttrType, Method, PasswordAlgorithm, attr_name
from rtcdiag.protocol.constants import CHANNEL_MAX, CHANNEL_MIN, FINGERPRINT_XOR, method_name

# STUN Methods registry: value -> name
IANA_METHODS = {
    0x001: "Binding",
    0x002: "SharedSecret",  # "Reserved; was SharedSecret prior to RFC 5389"
    0x003: "Allocate",
    0x004: "Refresh",
    0x006: "Send",
    0x007: "Data",
    0x008: "CreatePermission",
    0x009: "ChannelBind",
    0x00A: "Connect",
    0x00B: "ConnectionBind",
    0x00C: "ConnectionAttempt",
    0x080: "GOOG-PING",
}

# STUN Attributes registry: value -> name (reserved legacy names kept as they were, "was X")
IANA_ATTRIBUTES = {
    0x0001: "MAPPED-ADDRESS",
    0x0002: "RESPONSE-ADDRESS",
    0x0003: "CHANGE-REQUEST",
    0x0004: "SOURCE-ADDRESS",
    0x0005: "CHANGED-ADDRESS",
    0x0006: "USERNAME",
    0x0007: "PASSWORD",
    0x0008: "MESSAGE-INTEGRITY",
    0x0009: "ERROR-CODE",
    0x000A: "UNKNOWN-ATTRIBUTES",
    0x000B: "REFLECTED-FROM",
    0x000C: "CHANNEL-NUMBER",
    0x000D: "LIFETIME",
    0x0010: "BANDWIDTH",
    0x0012: "XOR-PEER-ADDRESS",
    0x0013: "DATA",
    0x0014: "REALM",
    0x0015: "NONCE",
    0x0016: "XOR-RELAYED-ADDRESS",
    0x0017: "REQUESTED-ADDRESS-FAMILY",
    0x0018: "EVEN-PORT",
    0x0019: "REQUESTED-TRANSPORT",
    0x001A: "DONT-FRAGMENT",
    0x001B: "ACCESS-TOKEN",
    0x001C: "MESSAGE-INTEGRITY-SHA256",
    0x001D: "PASSWORD-ALGORITHM",
    0x001E: "USERHASH",
    0x0020: "XOR-MAPPED-ADDRESS",
    0x0021: "TIMER-VAL",
    0x0022: "RESERVATION-TOKEN",
    0x0024: "PRIORITY",
    0x0025: "USE-CANDIDATE",
    0x0026: "PADDING",
    0x0027: "RESPONSE-PORT",
    0x002A: "CONNECTION-ID",
    0x8000: "ADDITIONAL-ADDRESS-FAMILY",
    0x8001: "ADDRESS-ERROR-CODE",
    0x8002: "PASSWORD-ALGORITHMS",
    0x8003: "ALTERNATE-DOMAIN",
    0x8004: "ICMP",
    0x8022: "SOFTWARE",
    0x8023: "ALTERNATE-SERVER",
    0x8025: "TRANSACTION_TRANSMIT_COUNTER",
    0x8027: "CACHE-TIMEOUT",
    0x8028: "FINGERPRINT",
    0x8029: "ICE-CONTROLLED",
    0x802A: "ICE-CONTROLLING",
    0x802B: "RESPONSE-ORIGIN",
    0x802C: "OTHER-ADDRESS",
    0x802D: "ECN-CHECK",
    0x802E: "THIRD-PARTY-AUTHORIZATION",
    0x8030: "MOBILITY-TICKET",
}

# STUN Error Codes registry: code -> reason phrase
IANA_ERROR_CODES = {
    300: "Try Alternate",
    400: "Bad Request",
    401: "Unauthenticated",
    403: "Forbidden",
    405: "Mobility Forbidden",
    420: "Unknown Attribute",
    437: "Allocation Mismatch",
    438: "Stale Nonce",
    440: "Address Family not Supported",
    441: "Wrong Credentials",
    442: "Unsupported Transport Protocol",
    443: "Peer Address Family Mismatch",
    446: "Connection Already Exists",
    447: "Connection Timeout or Failure",
    486: "Allocation Quota Reached",
    487: "Role Conflict",
    500: "Server Error",
    508: "Insufficient Capacity",
}


def test_methods_match_registry() -> None:
    assert {int(m): method_name(m) for m in Method} == IANA_METHODS


def test_attributes_match_registry() -> None:
    assert {int(a): attr_name(a) for a in AttrType} == IANA_ATTRIBUTES


def test_error_codes_match_registry() -> None:
    assert ERROR_REASONS == IANA_ERROR_CODES


def test_password_algorithms_registry() -> None:
    # STUN Password Algorithms registry: 0x0001 MD5, 0x0002 SHA-256
    assert {int(p): p.name for p in PasswordAlgorithm} == {1: "MD5", 2: "SHA256"}


def test_fixed_numbers() -> None:
    assert MAGIC_COOKIE == 0x2112A442  # RFC 8489 §5
    assert FINGERPRINT_XOR == 0x5354554E  # RFC 8489 §14.7
    assert (CHANNEL_MIN, CHANNEL_MAX) == (0x4000, 0x4FFF)  # TURN Channel Numbers registry / RFC 8656 §12


def test_unknown_codes_get_readable_names() -> None:
    assert attr_name(0xC057) == "0xC057"
    assert method_name(0x05A) == "Method 0x05a"
