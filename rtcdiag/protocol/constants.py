"""STUN/TURN numbers from the IANA "STUN Parameters" registry.

Sources: RFC 8489 §18 (STUN), RFC 8656 §17 (TURN), RFC 6062 §6 (TURN-TCP), RFC 6156 (TURN IPv6),
RFC 5780 §9 (NAT behaviour discovery), RFC 7635 (OAuth), RFC 8016 (mobility), RFC 8445 §16 (ICE),
RFC 3489 §11.2 (classic STUN, now reserved), RFC 7982 (transmit counter), RFC 6679 (ECN).
"""

from __future__ import annotations

from enum import IntEnum

MAGIC_COOKIE = 0x2112A442  # RFC 8489 §5
MAGIC_COOKIE_BYTES = MAGIC_COOKIE.to_bytes(4, "big")
HEADER_LENGTH = 20  # RFC 8489 §5
FINGERPRINT_XOR = 0x5354554E  # RFC 8489 §14.7 ("STUN")
DEFAULT_PORT = 3478  # RFC 8489 §8 / RFC 7064
DEFAULT_TLS_PORT = 5349


class Method(IntEnum):
    """STUN methods (12 bits)."""

    BINDING = 0x001  # RFC 8489
    SHARED_SECRET = 0x002  # RFC 3489 (reserved)
    ALLOCATE = 0x003  # RFC 8656
    REFRESH = 0x004
    SEND = 0x006
    DATA = 0x007
    CREATE_PERMISSION = 0x008
    CHANNEL_BIND = 0x009
    CONNECT = 0x00A  # RFC 6062
    CONNECTION_BIND = 0x00B
    CONNECTION_ATTEMPT = 0x00C
    GOOG_PING = 0x080  # Google (IANA-registered)


class MessageClass(IntEnum):
    """The two class bits C1 C0 (RFC 8489 §5)."""

    REQUEST = 0b00
    INDICATION = 0b01
    SUCCESS = 0b10
    ERROR = 0b11


class AttrType(IntEnum):
    """STUN attribute types. 0x0000-0x7FFF comprehension-required, 0x8000-0xFFFF optional (RFC 8489 §14)."""

    MAPPED_ADDRESS = 0x0001  # RFC 8489
    RESPONSE_ADDRESS = 0x0002  # RFC 3489 (reserved)
    CHANGE_REQUEST = 0x0003  # RFC 5780
    SOURCE_ADDRESS = 0x0004  # RFC 3489 (reserved)
    CHANGED_ADDRESS = 0x0005  # RFC 3489 (reserved)
    USERNAME = 0x0006  # RFC 8489
    PASSWORD = 0x0007  # RFC 3489 (reserved)
    MESSAGE_INTEGRITY = 0x0008  # RFC 8489
    ERROR_CODE = 0x0009  # RFC 8489
    UNKNOWN_ATTRIBUTES = 0x000A  # RFC 8489
    REFLECTED_FROM = 0x000B  # RFC 3489 (reserved)
    CHANNEL_NUMBER = 0x000C  # RFC 8656
    LIFETIME = 0x000D  # RFC 8656
    BANDWIDTH = 0x0010  # draft TURN (reserved)
    XOR_PEER_ADDRESS = 0x0012  # RFC 8656
    DATA = 0x0013  # RFC 8656
    REALM = 0x0014  # RFC 8489
    NONCE = 0x0015  # RFC 8489
    XOR_RELAYED_ADDRESS = 0x0016  # RFC 8656
    REQUESTED_ADDRESS_FAMILY = 0x0017  # RFC 8656 (was RFC 6156)
    EVEN_PORT = 0x0018  # RFC 8656
    REQUESTED_TRANSPORT = 0x0019  # RFC 8656
    DONT_FRAGMENT = 0x001A  # RFC 8656
    ACCESS_TOKEN = 0x001B  # RFC 7635
    MESSAGE_INTEGRITY_SHA256 = 0x001C  # RFC 8489
    PASSWORD_ALGORITHM = 0x001D  # RFC 8489
    USERHASH = 0x001E  # RFC 8489
    XOR_MAPPED_ADDRESS = 0x0020  # RFC 8489
    TIMER_VAL = 0x0021  # draft TURN (reserved)
    RESERVATION_TOKEN = 0x0022  # RFC 8656
    PRIORITY = 0x0024  # RFC 8445
    USE_CANDIDATE = 0x0025  # RFC 8445
    PADDING = 0x0026  # RFC 5780
    RESPONSE_PORT = 0x0027  # RFC 5780
    CONNECTION_ID = 0x002A  # RFC 6062
    ADDITIONAL_ADDRESS_FAMILY = 0x8000  # RFC 8656
    ADDRESS_ERROR_CODE = 0x8001  # RFC 8656
    PASSWORD_ALGORITHMS = 0x8002  # RFC 8489
    ALTERNATE_DOMAIN = 0x8003  # RFC 8489
    ICMP = 0x8004  # RFC 8656
    SOFTWARE = 0x8022  # RFC 8489
    ALTERNATE_SERVER = 0x8023  # RFC 8489
    TRANSACTION_TRANSMIT_COUNTER = 0x8025  # RFC 7982
    CACHE_TIMEOUT = 0x8027  # RFC 5780
    FINGERPRINT = 0x8028  # RFC 8489
    ICE_CONTROLLED = 0x8029  # RFC 8445
    ICE_CONTROLLING = 0x802A  # RFC 8445
    RESPONSE_ORIGIN = 0x802B  # RFC 5780
    OTHER_ADDRESS = 0x802C  # RFC 5780
    ECN_CHECK = 0x802D  # RFC 6679
    THIRD_PARTY_AUTHORIZATION = 0x802E  # RFC 7635
    MOBILITY_TICKET = 0x8030  # RFC 8016


class PasswordAlgorithm(IntEnum):
    """PASSWORD-ALGORITHM values (RFC 8489 §18.5)."""

    MD5 = 0x0001
    SHA256 = 0x0002


class AddressFamily(IntEnum):
    """Family byte of address attributes (RFC 8489 §14.1) and REQUESTED-ADDRESS-FAMILY (RFC 8656 §18.8)."""

    IPV4 = 0x01
    IPV6 = 0x02


class TransportProtocol(IntEnum):
    """REQUESTED-TRANSPORT protocol numbers (RFC 8656 §18.11; TCP for RFC 6062)."""

    TCP = 6
    UDP = 17


# Standard reason phrases (IANA STUN Error Codes registry; RFC 8489 §14.8, RFC 8656 §18.14, RFC 6062 §6.3,
# RFC 8445 §7.3.1.1, RFC 8016 §5). Servers may send other text; this is what the RFCs name each code.
ERROR_REASONS: dict[int, str] = {
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

CHANNEL_MIN = 0x4000  # RFC 8656 §12
CHANNEL_MAX = 0x4FFF


def method_name(method: int) -> str:
    """"Allocate", "CreatePermission", or "Method 0x0ab" for unregistered methods."""
    try:
        return _METHOD_NAMES[Method(method)]
    except ValueError:
        return f"Method 0x{method:03x}"


def attr_name(attr_type: int) -> str:
    """"XOR-MAPPED-ADDRESS", or "0xC057" for a type this codec does not know."""
    try:
        member = AttrType(attr_type)
    except ValueError:
        return f"0x{attr_type:04X}"
    if member is AttrType.TRANSACTION_TRANSMIT_COUNTER:
        return "TRANSACTION_TRANSMIT_COUNTER"  # the registry spells this one with underscores (RFC 7982)
    return member.name.replace("_", "-")


_METHOD_NAMES: dict[Method, str] = {
    Method.BINDING: "Binding",
    Method.SHARED_SECRET: "SharedSecret",
    Method.ALLOCATE: "Allocate",
    Method.REFRESH: "Refresh",
    Method.SEND: "Send",
    Method.DATA: "Data",
    Method.CREATE_PERMISSION: "CreatePermission",
    Method.CHANNEL_BIND: "ChannelBind",
    Method.CONNECT: "Connect",
    Method.CONNECTION_BIND: "ConnectionBind",
    Method.CONNECTION_ATTEMPT: "ConnectionAttempt",
    Method.GOOG_PING: "GOOG-PING",
}
