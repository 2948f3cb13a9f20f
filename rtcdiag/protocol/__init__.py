"""STUN/TURN protocol core: bytes and RFCs only (no click, no rich, no printing).

Public API (import from the submodules or from here)::

    from rtcdiag.protocol import Message, Method, MessageClass, AttrType, Address, StunParseError

    req = Message(Method.BINDING, MessageClass.REQUEST)          # random 12-byte transaction id
    req.add(AttrType.SOFTWARE, "rtcdiag")                          # typed value, packed via the table
    req.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(17))
    data = req.encode(integrity_key=key, fingerprint=True)         # MI (or -SHA256) and FINGERPRINT last

    msg = Message.decode(data)          # StunParseError is the ONLY exception for bad bytes
    msg.method, msg.msg_class, msg.transaction_id, msg.legacy   # legacy: RFC 3489 (no cookie, 16-byte id)
    msg.attributes                      # ordered list[RawAttribute(type, value)], duplicates/unknown kept
    msg.get(AttrType.XOR_MAPPED_ADDRESS)                 # -> Address | None (lazy typed decode, first one)
    msg.get_as(AttrType.XOR_MAPPED_ADDRESS, Address)     # same, typed for mypy
    msg.get_all(AttrType.XOR_PEER_ADDRESS); msg.error_code  # -> int | None; msg.error -> ErrorCode | None
    is_stun(data)                                        # cheap demux check

    verify_message_integrity(raw, key) -> bool | None   # None: absent; covers SHA1 and SHA256 variants
    verify_fingerprint(raw) -> bool | None
    long_term_key(user, realm, password, PasswordAlgorithm.MD5) ; userhash(user, realm)
    rest_credentials(secret, user, ttl_s) -> (username, password) ; parse_rest_expiry(username)
    rest_login(secret, user, ttl_s) -> (username, password, minted)  # "expiry:user" kept as given
    ChannelData(0x4000, b"..").encode(pad=True) ; ChannelData.decode(data) ; is_channeldata(data)
    describe(msg) -> list[AttributeView] (secrets "<redacted>")   # in rtcdiag.protocol.describe
    summary(msg) -> "Allocate error response 401 Unauthorized"

Modules: constants (IANA numbers), errors, attributes (typed values + codec table), message, integrity,
credentials, channeldata, describe; framing (demultiplexing, stream frames) and transaction (RFC 8489 §6.2
timers and reply matching, talking to a sender) belong to the transaction layer. No sockets here: the
senders (UDP, TCP, TLS) are in rtcdiag.net.
"""

from rtcdiag.protocol.attributes import (
    Address,
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
)
from rtcdiag.protocol.channeldata import ChannelData, is_channeldata
from rtcdiag.protocol.constants import (
    ERROR_REASONS,
    MAGIC_COOKIE,
    AddressFamily,
    AttrType,
    MessageClass,
    Method,
    PasswordAlgorithm,
    TransportProtocol,
    attr_name,
    method_name,
)
from rtcdiag.protocol.credentials import (
    challenge_problem,
    long_term_key,
    opaque_string,
    parse_rest_expiry,
    rest_credentials,
    rest_login,
    rest_password,
    rest_username_expiry,
    saslprep,
    short_term_key,
    userhash,
)
from rtcdiag.protocol.errors import CredentialError, MessageTooLargeError, StunParseError
from rtcdiag.protocol.integrity import verify_fingerprint, verify_message_integrity
from rtcdiag.protocol.message import Message, RawAttribute, is_stun

__all__ = [
    "ERROR_REASONS",
    "MAGIC_COOKIE",
    "Address",
    "AddressErrorCode",
    "AddressFamily",
    "AttrType",
    "AttrValue",
    "ChangeRequest",
    "ChannelData",
    "CredentialError",
    "ErrorCode",
    "EvenPort",
    "Icmp",
    "Message",
    "MessageClass",
    "MessageTooLargeError",
    "Method",
    "PasswordAlgorithm",
    "PasswordAlgorithmEntry",
    "PasswordAlgorithms",
    "RawAttribute",
    "RequestedAddressFamily",
    "RequestedTransport",
    "ResponsePort",
    "StunParseError",
    "TransactionTransmitCounter",
    "TransportProtocol",
    "UnknownAttributes",
    "attr_name",
    "challenge_problem",
    "is_channeldata",
    "is_stun",
    "long_term_key",
    "method_name",
    "opaque_string",
    "parse_rest_expiry",
    "rest_credentials",
    "rest_login",
    "rest_password",
    "rest_username_expiry",
    "saslprep",
    "short_term_key",
    "userhash",
    "verify_fingerprint",
    "verify_message_integrity",
]
