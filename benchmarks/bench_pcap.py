"""``rtcdiag analyze CAPTURE`` against ``tshark -r FILE -Y stun -T fields -e stun.type`` on the same file, in
the same run (issue 13: at least tshark's speed on 1,000,000 packets, peak RSS <= 150 MB).

The capture is made here (pcap, Ethernet, IPv4/UDP): 1,000 TURN clients talking to a server on port 3478 (so
that tshark dissects STUN and ChannelData by port, as for a real server capture) — per client an Allocate
with its 401 challenge, CreatePermission, ChannelBind, ICE checks with their USERNAME through the channel (so
every client's call is paired into an ICE session), Binding keepalives and a stream of ChannelData,
interleaved like a busy server's capture. Three clients in four relay audio-like RTP (160-byte payloads); one
in four a data channel over DTLS 1.3 (RFC 9147 unified-header records, 120 bytes: Chromium's shape), read
record by record. Each tool runs as a child process; its wall time and peak RSS (``wait4`` rusage) are its
own.
Run: ``python benchmarks/bench_pcap.py [PACKETS]``.
"""

from __future__ import annotations

import os
import struct
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from rtcdiag.protocol import Address, AttrType, ChannelData, Message, MessageClass, Method, RequestedTransport

SERVER = bytes([10, 0, 0, 1])
SERVER_PORT = 3478


def _frame(src: bytes, sport: int, dst: bytes, dport: int, payload: bytes) -> bytes:
    udp = struct.pack("!HHHH", sport, dport, 8 + len(payload), 0) + payload
    ip = struct.pack("!BBHHHBBH4s4s", 0x45, 0, 20 + len(udp), 0, 0, 64, 17, 0, src, dst) + udp
    return b"\x02\x00\x00\x00\x00\x01\x02\x00\x00\x00\x00\x02\x08\x00" + ip


def _client_packets(i: int) -> list[tuple[bool, bytes]]:
    """(from client, payload) of one client's session start; media follows separately."""
    out: list[tuple[bool, bytes]] = []
    alloc = Message(Method.ALLOCATE, MessageClass.REQUEST)
    alloc.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(17))
    out.append((True, alloc.encode()))
    out.append((False, bytes.fromhex("0113") + _error_body(alloc.transaction_id)))
    auth = Message(Method.ALLOCATE, MessageClass.REQUEST)
    auth.add(AttrType.REQUESTED_TRANSPORT, RequestedTransport(17))
    auth.add(AttrType.USERNAME, f"user{i}")
    out.append((True, auth.encode(integrity_key=b"k" * 16, fingerprint=True)))
    ok = Message(Method.ALLOCATE, MessageClass.SUCCESS, auth.transaction_id)
    ok.add(AttrType.XOR_RELAYED_ADDRESS, Address.of("10.0.0.1", 50000 + i % 10000))
    ok.add(AttrType.LIFETIME, 600)
    out.append((False, ok.encode()))
    peer = Address.of("10.1.0.1", 40000 + i % 20000)
    for method in (Method.CREATE_PERMISSION, Method.CHANNEL_BIND):
        req = Message(method, MessageClass.REQUEST).add(AttrType.XOR_PEER_ADDRESS, peer)
        if method == Method.CHANNEL_BIND:
            req.add(AttrType.CHANNEL_NUMBER, 0x4000)
        out.append((True, req.encode(integrity_key=b"k" * 16)))
        out.append((False, Message(method, MessageClass.SUCCESS, req.transaction_id).encode()))
    for forward in (True, False):  # an ICE check each way through the channel, answered (RFC 8445 §7.2.2)
        check = Message(Method.BINDING, MessageClass.REQUEST).add(AttrType.PRIORITY, 1853824767)
        check.add(AttrType.USERNAME, f"r{i}:l{i}" if forward else f"l{i}:r{i}")
        ok = Message(Method.BINDING, MessageClass.SUCCESS, check.transaction_id)
        out.append((forward, ChannelData(0x4000, check.encode(integrity_key=b"p" * 22)).encode()))
        out.append((not forward, ChannelData(0x4000, ok.encode(integrity_key=b"p" * 22)).encode()))
    return out


def _error_body(txid: bytes) -> bytes:
    """The rest of a 401 error response after its type: length, cookie, id, ERROR-CODE 401."""
    attr = struct.pack("!HHHBB", 0x0009, 16, 0, 4, 1) + b"Unauthorized"
    return struct.pack("!H", len(attr)) + b"\x21\x12\xa4\x42" + txid + attr


def make_capture(path: Path, packets: int, clients: int = 1000) -> int:
    media = ChannelData(0x4000, b"\x80\x6f" + bytes(158)).encode()  # an RTP packet through the relay
    # a DTLS 1.3 record of the application epoch (0 0 1 C=0 S=1 L=1 EE=3), as Chromium sends its SCTP
    data = ChannelData(0x4000, b"\x2f\x00\x07" + struct.pack("!H", 120) + bytes(120)).encode()
    written = 0
    t = 1_700_000_000.0
    with path.open("wb") as out:
        out.write(struct.pack("<IHHiIII", 0xA1B2C3D4, 2, 4, 0, 0, 262144, 1))
        starts = [_client_packets(i) for i in range(clients)]
        step = 0
        while written < packets:
            for i in range(clients):
                if written >= packets:
                    break
                src = bytes([192, 168, (i >> 8) & 0xFF, i & 0xFF])
                sport = 10000 + i
                if step < len(starts[i]):
                    from_client, payload = starts[i][step]
                elif step % 50 == 0:  # a keepalive Binding every 50 packets (left unanswered)
                    req = Message(Method.BINDING, MessageClass.REQUEST)
                    from_client, payload = True, req.encode()
                else:
                    from_client, payload = step % 2 == 0, data if i % 4 == 0 else media
                frame = (_frame(src, sport, SERVER, SERVER_PORT, payload) if from_client
                         else _frame(SERVER, SERVER_PORT, src, sport, payload))
                t += 0.00002
                sec = int(t)
                out.write(struct.pack("<IIII", sec, int((t - sec) * 1e6), len(frame), len(frame)) + frame)
                written += 1
            step += 1
    return written


def run(argv: list[str]) -> tuple[float, float]:
    """Wall seconds and peak RSS (MB) of one child process."""
    started = time.perf_counter()
    proc = subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    _, status, usage = os.wait4(proc.pid, 0)
    seconds = time.perf_counter() - started
    proc.returncode = os.waitstatus_to_exitcode(status)
    return seconds, usage.ru_maxrss / 1024


def main() -> None:
    packets = int(sys.argv[1]) if len(sys.argv) > 1 else 1_000_000
    with tempfile.TemporaryDirectory(prefix="rtcdiag-bench-pcap-") as tmp:
        path = Path(tmp) / "big.pcap"
        made = make_capture(path, packets)
        size = path.stat().st_size / 1e6
        print(f"capture: {made} packets, {size:.0f} MB (pcap)")
        ours = run([sys.executable, "-m", "rtcdiag", "analyze", "--json", str(path)])
        tshark = run(["tshark", "-r", str(path), "-Y", "stun", "-T", "fields", "-e", "stun.type"])
        print(f"rtcdiag analyze: {ours[0]:.2f} s, peak RSS {ours[1]:.0f} MB")
        print(f"tshark -Y stun:  {tshark[0]:.2f} s, peak RSS {tshark[1]:.0f} MB")
        print(f"ratio rtcdiag/tshark: {ours[0] / tshark[0]:.2f} (target <= 1.0), RSS target <= 150 MB")


if __name__ == "__main__":
    main()
