"""Typed attribute values and the table that packs/unpacks them (one row per attribute type).

Every value class is a frozen dataclass. Address attributes all use :class:`Address`; the XOR variants are
XOR'ed with the magic cookie and transaction id transparently (RFC 8489 §14.2). Types without a row in
:data:`CODECS` stay raw ``bytes``.

``pack(value, xor_key)`` / ``unpack(raw, xor_key)``: ``xor_key`` is the 16 bytes after the length field of
the header (magic cookie + 12-byte transaction id, or a legacy RFC 3489 16-byte id).
Unpack raises only :class:`StunParseError`; pack raises ``ValueError``/``TypeError`` for wrong values.
"""

from __future__ import annotations

import struct
from collections.abc import Callable
from dataclasses import dataclass
from ipaddress import IPv4Address, IPv6Address, ip_address
from typing import Any

from rtcdiag.protocol.constants import AddressFamily, AttrType, attr_name
from rtcdiag.protocol.errors import StunParseError

_U16 = struct.Struct("!H")
_U32 = struct.Struct("!I")
_U64 = struct.Struct("!Q")
_ADDR_HEAD = struct.Struct("!BBH")  # reserved, family, port (RFC 8489 §14.1)


@dataclass(frozen=True, slots=True)
class Address:
    """A transport address: every (XOR-)address attribute decodes to this."""

    ip: IPv4Address | IPv6Address
    port: int

    @classmethod
    def of(cls, ip: str, port: int) -> Address:
        """``Address.of("192.0.2.1", 3478)`` (raises ``ValueError`` for a bad IP)."""
        return cls(ip_address(ip), port)

    @property
    def family(self) -> AddressFamily:
        return AddressFamily.IPV4 if self.ip.version == 4 else AddressFamily.IPV6

    def __str__(self) -> str:
        return f"{self.ip}:{self.port}" if self.ip.version == 4 else f"[{self.ip}]:{self.port}"


@dataclass(frozen=True, slots=True)
class ErrorCode:
    """ERROR-CODE (RFC 8489 §14.8): code 300-699 and a reason phrase."""

    code: int
    reason: str = ""

    def __str__(self) -> str:
        return f"{self.code} {self.reason}".rstrip()


@dataclass(frozen=True, slots=True)
class AddressErrorCode:
    """ADDRESS-ERROR-CODE (RFC 8656 §18.12): an error for one address family of a dual allocation."""

    family: int
    code: int
    reason: str = ""


@dataclass(frozen=True, slots=True)
class ChangeRequest:
    """CHANGE-REQUEST (RFC 5780 §7.2): ask the server to answer from its other IP and/or port."""

    change_ip: bool = False
    change_port: bool = False


@dataclass(frozen=True, slots=True)
class UnknownAttributes:
    """UNKNOWN-ATTRIBUTES (RFC 8489 §14.13): the comprehension-required types the server did not know."""

    types: tuple[int, ...]


@dataclass(frozen=True, slots=True)
class PasswordAlgorithmEntry:
    """PASSWORD-ALGORITHM (RFC 8489 §14.12), also one entry of PASSWORD-ALGORITHMS."""

    algorithm: int
    parameters: bytes = b""


@dataclass(frozen=True, slots=True)
class PasswordAlgorithms:
    """PASSWORD-ALGORITHMS (RFC 8489 §14.11): the algorithms the server supports, in its order."""

    entries: tuple[PasswordAlgorithmEntry, ...]


@dataclass(frozen=True, slots=True)
class EvenPort:
    """EVEN-PORT (RFC 8656 §18.6): want an even relay port; ``reserve`` also reserves the next one."""

    reserve: bool = False


@dataclass(frozen=True, slots=True)
class RequestedTransport:
    """REQUESTED-TRANSPORT (RFC 8656 §18.11): 17 = UDP, 6 = TCP (RFC 6062)."""

    protocol: int


@dataclass(frozen=True, slots=True)
class RequestedAddressFamily:
    """REQUESTED-ADDRESS-FAMILY and ADDITIONAL-ADDRESS-FAMILY (RFC 8656 §18.8, §18.9): 1 IPv4, 2 IPv6."""

    family: int


@dataclass(frozen=True, slots=True)
class ResponsePort:
    """RESPONSE-PORT (RFC 5780 §7.5). ``length`` is the attribute length on the wire: 4 (RFC/coturn: port +
    2 reserved bytes) or 2 (stuntman: port only, then STUN padding). Both decode; both encode."""

    port: int
    length: int = 4


@dataclass(frozen=True, slots=True)
class Icmp:
    """ICMP (RFC 8656 §18.13): an ICMP error the relay received for this peer."""

    icmp_type: int
    icmp_code: int
    error_data: int = 0


@dataclass(frozen=True, slots=True)
class TransactionTransmitCounter:
    """TRANSACTION_TRANSMIT_COUNTER (RFC 7982 §3.1): which retransmission a request/response was."""

    request: int
    response: int


# A decoded attribute value: one of the classes above, text, an integer, raw bytes or True (flag).
AttrValue = (
    Address
    | ErrorCode
    | AddressErrorCode
    | ChangeRequest
    | UnknownAttributes
    | PasswordAlgorithmEntry
    | PasswordAlgorithms
    | EvenPort
    | RequestedTransport
    | RequestedAddressFamily
    | ResponsePort
    | Icmp
    | TransactionTransmitCounter
    | str
    | int
    | bytes
    | bool
)

Packer = Callable[[Any, bytes], bytes]
Unpacker = Callable[[bytes, bytes], Any]


@dataclass(frozen=True, slots=True)
class AttrCodec:
    """One row of the codec table."""

    name: str
    value_type: type | tuple[type, ...]
    pack: Packer
    unpack: Unpacker
    xor: bool = False  # needs the cookie + transaction id


def _need(raw: bytes, ok: bool, what: str) -> None:
    if not ok:
        raise StunParseError(f"{what}: bad value length {len(raw)}")


# --- addresses (RFC 8489 §14.1, §14.2) ---

_new_object = object.__new__
# slot descriptors of the frozen dataclass: setting through them skips the frozen __setattr__ check
_set_ip: Callable[[object, object], None] = vars(Address)["ip"].__set__
_set_port: Callable[[object, object], None] = vars(Address)["port"].__set__


def _address(ip: IPv4Address | IPv6Address, port: int) -> Address:
    """Build an Address without the frozen-dataclass ``__setattr__`` detour (hot decode path)."""
    obj: Address = _new_object(Address)
    _set_ip(obj, ip)
    _set_port(obj, port)
    return obj


# The IP objects of addresses seen (immutable, so shared): a client sees the same mapped and relayed
# addresses again and again, and building one costs more than the rest of an address's decode. Bounded.
_IPS: dict[int, IPv4Address | IPv6Address] = {}
_IPS_MAX = 4096
_V6_TAG = 1 << 128  # keys of IPv6 addresses (IPv4 keys are below 2**32)
_U32_AT: Callable[[bytes, int], tuple[int]] = _U32.unpack_from
_U128: Callable[[bytes, int], tuple[int, int]] = struct.Struct("!QQ").unpack_from


def _ipv4(number: int) -> IPv4Address:
    ip = _IPS.get(number)
    if ip is None:
        if len(_IPS) >= _IPS_MAX:
            _IPS.clear()
        ip = _IPS[number] = IPv4Address(number)
    return ip  # type: ignore[return-value]


def _ipv6(number: int) -> IPv6Address:
    ip = _IPS.get(number | _V6_TAG)
    if ip is None:
        if len(_IPS) >= _IPS_MAX:
            _IPS.clear()
        ip = _IPS[number | _V6_TAG] = IPv6Address(number)
    return ip  # type: ignore[return-value]


def _u128(raw: bytes, offset: int) -> int:
    high, low = _U128(raw, offset)
    return high << 64 | low


def _pack_address(value: Address, xor_key: bytes) -> bytes:
    ip = value.ip
    if isinstance(ip, IPv4Address):
        return _ADDR_HEAD.pack(0, 1, value.port) + int(ip).to_bytes(4, "big")
    return _ADDR_HEAD.pack(0, 2, value.port) + int(ip).to_bytes(16, "big")


def _unpack_address(raw: bytes, xor_key: bytes) -> Address:
    size = len(raw)
    if size == 8 and raw[1] == 1:
        return _address(_ipv4(_U32_AT(raw, 4)[0]), raw[2] << 8 | raw[3])
    if size == 20 and raw[1] == 2:
        return _address(_ipv6(_u128(raw, 4)), raw[2] << 8 | raw[3])
    raise StunParseError(f"address: bad family {raw[1] if size > 1 else None} or length {size}")


def _pack_xor_address(value: Address, xor_key: bytes) -> bytes:
    # X-Port = port ^ top 16 bits of the cookie; X-Address = address ^ (cookie [+ txid]) (RFC 8489 §14.2)
    ip = value.ip
    port = value.port ^ (xor_key[0] << 8 | xor_key[1])
    if isinstance(ip, IPv4Address):
        return _ADDR_HEAD.pack(0, 1, port) + (int(ip) ^ _U32_AT(xor_key, 0)[0]).to_bytes(4, "big")
    return _ADDR_HEAD.pack(0, 2, port) + (int(ip) ^ _u128(xor_key, 0)).to_bytes(16, "big")


def _unpack_xor_address(raw: bytes, xor_key: bytes) -> Address:
    size = len(raw)
    port = (raw[2] << 8 | raw[3]) ^ (xor_key[0] << 8 | xor_key[1]) if size >= 4 else 0
    if size == 8 and raw[1] == 1:
        return _address(_ipv4(_U32_AT(raw, 4)[0] ^ _U32_AT(xor_key, 0)[0]), port)
    if size == 20 and raw[1] == 2:
        return _address(_ipv6(_u128(raw, 4) ^ _u128(xor_key, 0)), port)
    raise StunParseError(f"address: bad family {raw[1] if size > 1 else None} or length {size}")


# --- scalars ---


def _pack_bytes(value: bytes, xor_key: bytes) -> bytes:
    return bytes(value)


def _unpack_bytes(raw: bytes, xor_key: bytes) -> bytes:
    return raw


def _pack_text(value: str, xor_key: bytes) -> bytes:
    return value.encode("utf-8")


def _unpack_text(raw: bytes, xor_key: bytes) -> str:
    try:
        return raw.decode("utf-8")
    except UnicodeDecodeError as exc:
        raise StunParseError(f"text attribute is not UTF-8: {exc.reason}") from None


def _pack_u32(value: int, xor_key: bytes) -> bytes:
    return _U32.pack(value)


def _unpack_u32(raw: bytes, xor_key: bytes) -> int:
    _need(raw, len(raw) == 4, "32-bit attribute")
    return int.from_bytes(raw, "big")


def _pack_u64(value: int, xor_key: bytes) -> bytes:
    return _U64.pack(value)


def _unpack_u64(raw: bytes, xor_key: bytes) -> int:
    _need(raw, len(raw) == 8, "64-bit attribute")
    return int.from_bytes(raw, "big")


def _pack_u16_rffu(value: int, xor_key: bytes) -> bytes:
    return _U16.pack(value) + b"\x00\x00"


def _unpack_u16_rffu(raw: bytes, xor_key: bytes) -> int:
    # CHANNEL-NUMBER: 16-bit number + 16 bits RFFU (RFC 8656 §18.1)
    _need(raw, len(raw) == 4, "CHANNEL-NUMBER")
    return int(_U16.unpack_from(raw)[0])


def _pack_flag(value: bool, xor_key: bytes) -> bytes:
    return b""


def _unpack_flag(raw: bytes, xor_key: bytes) -> bool:
    _need(raw, not raw, "flag attribute")
    return True


def _fixed_bytes(*sizes: int) -> Unpacker:
    def unpack(raw: bytes, xor_key: bytes) -> bytes:
        _need(raw, len(raw) in sizes, "fixed-size attribute")
        return raw

    return unpack


# --- structured values ---


def _pack_error(value: ErrorCode, xor_key: bytes) -> bytes:
    # 21 bits reserved, class (hundreds, 3 bits), number (0-99) (RFC 8489 §14.8)
    if not 300 <= value.code <= 699:
        raise ValueError(f"error code {value.code} outside 300-699")
    return struct.pack("!HBB", 0, value.code // 100, value.code % 100) + value.reason.encode("utf-8")


def _unpack_error(raw: bytes, xor_key: bytes) -> ErrorCode:
    _need(raw, len(raw) >= 4, "ERROR-CODE")
    if raw[3] > 99:
        raise StunParseError(f"ERROR-CODE: number {raw[3]} > 99")
    return ErrorCode((raw[2] & 0x07) * 100 + raw[3], _reason(raw[4:], xor_key))


def _pack_address_error(value: AddressErrorCode, xor_key: bytes) -> bytes:
    # family (8), reserved (13), class (3), number (8) (RFC 8656 §18.12)
    return struct.pack("!BBBB", value.family, 0, value.code // 100, value.code % 100) + value.reason.encode()


def _unpack_address_error(raw: bytes, xor_key: bytes) -> AddressErrorCode:
    _need(raw, len(raw) >= 4, "ADDRESS-ERROR-CODE")
    if raw[3] > 99:
        raise StunParseError(f"ADDRESS-ERROR-CODE: number {raw[3]} > 99")
    return AddressErrorCode(raw[0], (raw[2] & 0x07) * 100 + raw[3], _reason(raw[4:], xor_key))


def _reason(raw: bytes, xor_key: bytes) -> str:
    """The reason phrase without trailing NULs and white space: coturn pads it with NULs inside the value
    (``Stale nonce\\x00``); RFC 8489 §14.8 pads outside the value, so they are never part of the phrase."""
    return _unpack_text(raw, xor_key).rstrip("\x00 \t\r\n")


_CHANGE_IP = 0x04  # RFC 5780 §7.2
_CHANGE_PORT = 0x02


def _pack_change(value: ChangeRequest, xor_key: bytes) -> bytes:
    return _U32.pack((_CHANGE_IP if value.change_ip else 0) | (_CHANGE_PORT if value.change_port else 0))


def _unpack_change(raw: bytes, xor_key: bytes) -> ChangeRequest:
    flags = _unpack_u32(raw, xor_key)
    return ChangeRequest(bool(flags & _CHANGE_IP), bool(flags & _CHANGE_PORT))


def _pack_unknown(value: UnknownAttributes, xor_key: bytes) -> bytes:
    return b"".join(_U16.pack(t) for t in value.types)


def _unpack_unknown(raw: bytes, xor_key: bytes) -> UnknownAttributes:
    _need(raw, len(raw) % 2 == 0, "UNKNOWN-ATTRIBUTES")
    return UnknownAttributes(tuple(t for (t,) in _U16.iter_unpack(raw)))


def _pack_pw_entry(value: PasswordAlgorithmEntry) -> bytes:
    params = value.parameters
    return struct.pack("!HH", value.algorithm, len(params)) + params + b"\x00" * (-len(params) % 4)


def _unpack_pw_entries(raw: bytes) -> tuple[PasswordAlgorithmEntry, ...]:
    # algorithm (16), parameters length (16), parameters padded to 4 (RFC 8489 §14.11)
    entries: list[PasswordAlgorithmEntry] = []
    pos = 0
    while pos < len(raw):
        _need(raw, pos + 4 <= len(raw), "PASSWORD-ALGORITHMS")
        algorithm, length = struct.unpack_from("!HH", raw, pos)
        end = pos + 4 + length
        _need(raw, end <= len(raw), "PASSWORD-ALGORITHMS")
        entries.append(PasswordAlgorithmEntry(algorithm, raw[pos + 4 : end]))
        pos = end + (-length % 4)
    _need(raw, pos == len(raw), "PASSWORD-ALGORITHMS")
    return tuple(entries)


def _unpack_pw_algorithm(raw: bytes, xor_key: bytes) -> PasswordAlgorithmEntry:
    entries = _unpack_pw_entries(raw)
    _need(raw, len(entries) == 1, "PASSWORD-ALGORITHM")
    return entries[0]


def _pack_even_port(value: EvenPort, xor_key: bytes) -> bytes:
    return b"\x80" if value.reserve else b"\x00"  # R bit is the top bit of one byte (RFC 8656 §18.6)


def _unpack_even_port(raw: bytes, xor_key: bytes) -> EvenPort:
    _need(raw, len(raw) == 1, "EVEN-PORT")
    return EvenPort(bool(raw[0] & 0x80))


def _pack_transport(value: RequestedTransport, xor_key: bytes) -> bytes:
    return bytes((value.protocol, 0, 0, 0))  # protocol + 24 bits RFFU (RFC 8656 §18.11)


def _unpack_transport(raw: bytes, xor_key: bytes) -> RequestedTransport:
    _need(raw, len(raw) == 4, "REQUESTED-TRANSPORT")
    return RequestedTransport(raw[0])


def _pack_family(value: RequestedAddressFamily, xor_key: bytes) -> bytes:
    return bytes((value.family, 0, 0, 0))  # family + 24 bits reserved (RFC 8656 §18.8)


def _unpack_family(raw: bytes, xor_key: bytes) -> RequestedAddressFamily:
    _need(raw, len(raw) == 4, "address family attribute")
    return RequestedAddressFamily(raw[0])


def _pack_response_port(value: ResponsePort, xor_key: bytes) -> bytes:
    if value.length not in (2, 4):
        raise ValueError("RESPONSE-PORT length must be 2 or 4")
    return _U16.pack(value.port) + b"\x00" * (value.length - 2)


def _unpack_response_port(raw: bytes, xor_key: bytes) -> ResponsePort:
    _need(raw, len(raw) in (2, 4), "RESPONSE-PORT")
    return ResponsePort(_U16.unpack_from(raw)[0], len(raw))


def _pack_icmp(value: Icmp, xor_key: bytes) -> bytes:
    # reserved (16), ICMP type (8), ICMP code (8), error data (32) (RFC 8656 §18.13)
    return struct.pack("!HBBI", 0, value.icmp_type, value.icmp_code, value.error_data)


def _unpack_icmp(raw: bytes, xor_key: bytes) -> Icmp:
    _need(raw, len(raw) == 8, "ICMP")
    _, icmp_type, icmp_code, data = struct.unpack("!HBBI", raw)
    return Icmp(icmp_type, icmp_code, data)


def _pack_counter(value: TransactionTransmitCounter, xor_key: bytes) -> bytes:
    return struct.pack("!HBB", 0, value.request, value.response)  # RFC 7982 §3.1


def _unpack_counter(raw: bytes, xor_key: bytes) -> TransactionTransmitCounter:
    _need(raw, len(raw) == 4, "TRANSACTION_TRANSMIT_COUNTER")
    return TransactionTransmitCounter(raw[2], raw[3])


def _row(name: str, value_type: type | tuple[type, ...], pack: Packer, unpack: Unpacker) -> AttrCodec:
    return AttrCodec(name, value_type, pack, unpack, xor=pack is _pack_xor_address)


_ADDR = (Address, _pack_address, _unpack_address)
_XADDR = (Address, _pack_xor_address, _unpack_xor_address)
_TEXT = (str, _pack_text, _unpack_text)
_U32ROW = (int, _pack_u32, _unpack_u32)
_U64ROW = (int, _pack_u64, _unpack_u64)
_BYTES = (bytes, _pack_bytes, _unpack_bytes)
_FLAG = (bool, _pack_flag, _unpack_flag)

A = AttrType
# The table: attribute type -> (name, value type, pack, unpack).
CODECS: dict[int, AttrCodec] = {
    t: _row(attr_name(t), *spec)
    for t, spec in (
        (A.MAPPED_ADDRESS, _ADDR),
        (A.RESPONSE_ADDRESS, _ADDR),
        (A.CHANGE_REQUEST, (ChangeRequest, _pack_change, _unpack_change)),
        (A.SOURCE_ADDRESS, _ADDR),
        (A.CHANGED_ADDRESS, _ADDR),
        (A.USERNAME, _TEXT),
        (A.PASSWORD, _BYTES),
        (A.MESSAGE_INTEGRITY, (bytes, _pack_bytes, _fixed_bytes(20))),
        (A.ERROR_CODE, (ErrorCode, _pack_error, _unpack_error)),
        (A.UNKNOWN_ATTRIBUTES, (UnknownAttributes, _pack_unknown, _unpack_unknown)),
        (A.REFLECTED_FROM, _ADDR),
        (A.CHANNEL_NUMBER, (int, _pack_u16_rffu, _unpack_u16_rffu)),
        (A.LIFETIME, _U32ROW),
        (A.BANDWIDTH, _U32ROW),
        (A.XOR_PEER_ADDRESS, _XADDR),
        (A.DATA, _BYTES),
        (A.REALM, _TEXT),
        (A.NONCE, _TEXT),
        (A.XOR_RELAYED_ADDRESS, _XADDR),
        (A.REQUESTED_ADDRESS_FAMILY, (RequestedAddressFamily, _pack_family, _unpack_family)),
        (A.EVEN_PORT, (EvenPort, _pack_even_port, _unpack_even_port)),
        (A.REQUESTED_TRANSPORT, (RequestedTransport, _pack_transport, _unpack_transport)),
        (A.DONT_FRAGMENT, _FLAG),
        (A.ACCESS_TOKEN, _BYTES),
        (A.MESSAGE_INTEGRITY_SHA256, (bytes, _pack_bytes, _fixed_bytes(16, 20, 24, 28, 32))),
        (
            A.PASSWORD_ALGORITHM,
            (PasswordAlgorithmEntry, lambda v, k: _pack_pw_entry(v), _unpack_pw_algorithm),
        ),
        (A.USERHASH, (bytes, _pack_bytes, _fixed_bytes(32))),
        (A.XOR_MAPPED_ADDRESS, _XADDR),
        (A.TIMER_VAL, _U32ROW),
        (A.RESERVATION_TOKEN, (bytes, _pack_bytes, _fixed_bytes(8))),
        (A.PRIORITY, _U32ROW),
        (A.USE_CANDIDATE, _FLAG),
        (A.PADDING, _BYTES),
        (A.RESPONSE_PORT, (ResponsePort, _pack_response_port, _unpack_response_port)),
        (A.CONNECTION_ID, _U32ROW),
        (A.ADDITIONAL_ADDRESS_FAMILY, (RequestedAddressFamily, _pack_family, _unpack_family)),
        (A.ADDRESS_ERROR_CODE, (AddressErrorCode, _pack_address_error, _unpack_address_error)),
        (
            A.PASSWORD_ALGORITHMS,
            (
                PasswordAlgorithms,
                lambda v, k: b"".join(_pack_pw_entry(e) for e in v.entries),
                lambda r, k: PasswordAlgorithms(_unpack_pw_entries(r)),
            ),
        ),
        (A.ALTERNATE_DOMAIN, _TEXT),
        (A.ICMP, (Icmp, _pack_icmp, _unpack_icmp)),
        (A.SOFTWARE, _TEXT),
        (A.ALTERNATE_SERVER, _ADDR),
        (A.TRANSACTION_TRANSMIT_COUNTER, (TransactionTransmitCounter, _pack_counter, _unpack_counter)),
        (A.CACHE_TIMEOUT, _U32ROW),
        (A.FINGERPRINT, _U32ROW),
        (A.ICE_CONTROLLED, _U64ROW),
        (A.ICE_CONTROLLING, _U64ROW),
        (A.RESPONSE_ORIGIN, _ADDR),
        (A.OTHER_ADDRESS, _ADDR),
        (A.ECN_CHECK, _U32ROW),
        (A.THIRD_PARTY_AUTHORIZATION, _TEXT),
        (A.MOBILITY_TICKET, _BYTES),
    )
}
del A


def pack_value(attr_type: int, value: AttrValue, xor_key: bytes) -> bytes:
    """Encode a typed value for ``attr_type`` (unknown types: ``value`` must be bytes)."""
    codec = CODECS.get(attr_type)
    if codec is None:
        if not isinstance(value, bytes | bytearray):
            raise TypeError(f"attribute 0x{attr_type:04X} has no codec; pass raw bytes")
        return bytes(value)
    if not isinstance(value, codec.value_type) or (codec.value_type is int and isinstance(value, bool)):
        raise TypeError(f"{codec.name} takes {codec.value_type}, not {type(value).__name__}")
    return codec.pack(value, xor_key)


def unpack_value(attr_type: int, raw: bytes, xor_key: bytes) -> AttrValue:
    """Decode ``raw`` for ``attr_type``; unknown types come back as the raw bytes."""
    codec = CODECS.get(attr_type)
    if codec is None:
        return raw
    try:
        value: AttrValue = codec.unpack(raw, xor_key)
    except StunParseError as exc:
        raise StunParseError(f"{codec.name}: {exc}") from None
    except (ValueError, IndexError, struct.error) as exc:  # defensive: never leak another type
        raise StunParseError(f"{codec.name}: {exc}") from None
    return value
