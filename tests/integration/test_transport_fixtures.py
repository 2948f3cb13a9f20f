"""The fixtures themselves: coturn answers, the dead port is dead, hostile servers send what they claim."""

from __future__ import annotations

import socket
import struct
from collections.abc import Callable

from servers import BAD_FINGERPRINT, GARBAGE, HostileServer, binding_success

from rtcdiag.coturn import RunningCoturn, binding_request


def _udp_roundtrip(host: str, port: int, payload: bytes,
                   timeout: float = 1.0) -> tuple[bytes, tuple[str, int]]:
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_DGRAM) as sock:
        sock.settimeout(timeout)
        sock.sendto(payload, (host, port))
        data, source = sock.recvfrom(4096)
        return data, (source[0], source[1])


def test_coturn_answers_binding_over_udp(coturn: RunningCoturn) -> None:
    request, txid = binding_request()
    data, source = _udp_roundtrip(coturn.host, coturn.port, request)
    assert data[:2] == b"\x01\x01"
    assert data[8:20] == txid
    assert source == (coturn.host, coturn.port)
    assert coturn.alive()
    assert coturn.ca_cert is not None and coturn.ca_cert.exists()
    assert "alice" in coturn.users


def test_dead_port_refuses_udp_and_tcp(dead_port: int) -> None:
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("127.0.0.1", dead_port))
        udp.settimeout(1.0)
        udp.send(b"x" * 20)
        try:
            udp.recv(100)
            raise AssertionError("dead port answered over UDP")
        except ConnectionRefusedError:
            pass
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as tcp:
        tcp.settimeout(1.0)
        assert tcp.connect_ex(("127.0.0.1", dead_port)) != 0


def test_hostile_garbage_udp(hostile: Callable[..., HostileServer]) -> None:
    server = hostile("garbage")
    request, _ = binding_request()
    data, _ = _udp_roundtrip(server.host, server.port, request)
    assert data == GARBAGE
    assert server.requests == 1


def test_hostile_bad_fingerprint_differs_from_good_only_in_crc(hostile: Callable[..., HostileServer]) -> None:
    server = hostile(BAD_FINGERPRINT)
    request, txid = binding_request()
    data, _ = _udp_roundtrip(server.host, server.port, request)
    assert data[8:20] == txid
    # Rebuild the good answer for the same client address: all bytes equal except the CRC.
    good = binding_success(txid, _mapped(data, txid))
    assert data[:-4] == good[:-4]
    assert struct.unpack("!I", data[-4:])[0] == (struct.unpack("!I", good[-4:])[0] + 1) & 0xFFFFFFFF


def _mapped(data: bytes, txid: bytes) -> tuple[str, int]:
    # first attribute is XOR-MAPPED-ADDRESS (IPv4) in our hand-built replies
    assert struct.unpack("!H", data[20:22])[0] == 0x0020
    port = struct.unpack("!H", data[26:28])[0] ^ 0x2112
    raw = bytes(a ^ b for a, b in zip(data[28:32], struct.pack("!I", 0x2112A442), strict=True))
    return socket.inet_ntoa(raw), port
