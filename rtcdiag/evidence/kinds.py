"""What a UDP datagram or a TCP frame of a WebRTC flow is, by its first byte (RFC 7983, RFC 9443 for DTLS
1.3; RFC 5761 for RTP and RTCP on one port) or, on TCP, TLS (RFC 8446 §5.1)."""

from __future__ import annotations

from enum import StrEnum


class Kind(StrEnum):
    STUN = "stun"
    CHANNEL_DATA = "channel-data"
    DTLS = "dtls"
    RTP = "rtp"
    RTCP = "rtcp"
    TLS = "tls"
    OTHER = "other"
