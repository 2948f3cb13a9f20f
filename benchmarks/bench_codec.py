"""Codec throughput: encode + parse of the same messages with rtcdiag.protocol and with aioice.stun.

Both sides do the same work per round: build the message from typed values and serialize it (with
MESSAGE-INTEGRITY and FINGERPRINT where the message has them), then parse the bytes, check FINGERPRINT
(aioice's parser always does) and read the attributes a client uses (relayed/mapped address, lifetime,
software) as typed values: aioice decodes all of them eagerly inside ``parse_message``, ours decodes each on
``get``. Addresses are the codecs' own typed inputs (aioice: ``(str, int)``, ours: ``Address``, built once).
The wire bytes of both codecs are checked to be identical before timing. Measurements are interleaved
(ours, aioice, ours, ...), in CPU time, and the best of each is kept, so load from other processes hits
both sides.
Target (issue 2): ours >= 3x aioice. Run: ``python benchmarks/bench_codec.py``.
"""

from __future__ import annotations

import statistics
import sys
import time
from collections.abc import Callable

from aioice import stun as aio

from rtcdiag.protocol import (
    Address,
    AttrType,
    Message,
    MessageClass,
    Method,
    verify_fingerprint,
)

TXID = bytes(range(12))
KEY = bytes(range(16))
MAPPED = ("198.51.100.7", 50123)
RELAYED = ("203.0.113.9", 49152)
SOFTWARE = "Coturn-4.6.1 'Gorst'"
ROUNDS = 10_000
REPEATS = 15


def ours_binding() -> int:
    data = Message(Method.BINDING, MessageClass.REQUEST, TXID).encode()
    Message.decode(data)
    return len(data)


def aioice_binding() -> int:
    data = bytes(aio.Message(aio.Method.BINDING, aio.Class.REQUEST, TXID))
    aio.parse_message(data)
    return len(data)


_OUR_MAPPED = Address.of(*MAPPED)
_OUR_RELAYED = Address.of(*RELAYED)


def ours_allocate() -> int:
    msg = Message(Method.ALLOCATE, MessageClass.SUCCESS, TXID)
    msg.add(AttrType.XOR_RELAYED_ADDRESS, _OUR_RELAYED)
    msg.add(AttrType.XOR_MAPPED_ADDRESS, _OUR_MAPPED)
    msg.add(AttrType.LIFETIME, 600)
    msg.add(AttrType.SOFTWARE, SOFTWARE)
    data = msg.encode(integrity_key=KEY, fingerprint=True)
    parsed = Message.decode(data)
    if verify_fingerprint(data) is not True:
        raise AssertionError("FINGERPRINT")
    parsed.get(AttrType.XOR_RELAYED_ADDRESS)
    parsed.get(AttrType.XOR_MAPPED_ADDRESS)
    parsed.get(AttrType.LIFETIME)
    parsed.get(AttrType.SOFTWARE)
    return len(data)


def aioice_allocate() -> int:
    msg = aio.Message(aio.Method.ALLOCATE, aio.Class.RESPONSE, TXID)
    msg.attributes["XOR-RELAYED-ADDRESS"] = RELAYED
    msg.attributes["XOR-MAPPED-ADDRESS"] = MAPPED
    msg.attributes["LIFETIME"] = 600
    msg.attributes["SOFTWARE"] = SOFTWARE
    msg.add_message_integrity(KEY)  # adds MESSAGE-INTEGRITY and FINGERPRINT
    data = bytes(msg)
    parsed = aio.parse_message(data)  # checks FINGERPRINT itself
    parsed.attributes["XOR-RELAYED-ADDRESS"]
    parsed.attributes["XOR-MAPPED-ADDRESS"]
    parsed.attributes["LIFETIME"]
    parsed.attributes["SOFTWARE"]
    return len(data)


def rates(ours: Callable[[], int], theirs: Callable[[], int]) -> tuple[float, float]:
    """Best-of-REPEATS rounds per second of CPU time for each side, measured interleaved so load spikes hit
    both. CPU time (time.thread_time), not wall time: on a machine shared with other work, the time this
    process waits for a CPU is not the codec's (wall time made the ratio swing from 1.7x to 3.5x)."""
    best = [0.0, 0.0]
    for _ in range(REPEATS):
        for index, func in enumerate((ours, theirs)):
            start = time.thread_time()
            for _ in range(ROUNDS):
                func()
            best[index] = max(best[index], ROUNDS / (time.thread_time() - start))
    return best[0], best[1]


def check_same_bytes() -> None:
    """Both codecs must produce identical wire bytes for the Allocate success, or the race is unfair."""
    msg = aio.Message(aio.Method.ALLOCATE, aio.Class.RESPONSE, TXID)
    msg.attributes.update({"XOR-RELAYED-ADDRESS": RELAYED, "XOR-MAPPED-ADDRESS": MAPPED, "LIFETIME": 600})
    msg.attributes["SOFTWARE"] = SOFTWARE
    msg.add_message_integrity(KEY)
    ours = Message(Method.ALLOCATE, MessageClass.SUCCESS, TXID)
    ours.add(AttrType.XOR_RELAYED_ADDRESS, _OUR_RELAYED).add(AttrType.XOR_MAPPED_ADDRESS, _OUR_MAPPED)
    ours.add(AttrType.LIFETIME, 600).add(AttrType.SOFTWARE, SOFTWARE)
    if bytes(msg) != ours.encode(integrity_key=KEY, fingerprint=True):
        sys.exit("wire bytes differ between codecs; benchmark is not comparing like with like")


def main() -> None:
    check_same_bytes()
    cases = [
        ("Binding request", ours_binding, aioice_binding),
        ("Allocate success +MI +FP", ours_allocate, aioice_allocate),
    ]
    print(f"{'message (encode + parse)':<28}{'rtcdiag msg/s':>15}{'aioice msg/s':>15}{'ratio':>8}")
    ratios = []
    for name, ours, theirs in cases:
        our_rate, their_rate = rates(ours, theirs)
        ratios.append(our_rate / their_rate)
        print(f"{name:<28}{our_rate:>15,.0f}{their_rate:>15,.0f}{ratios[-1]:>7.2f}x")
    geo = statistics.geometric_mean(ratios)
    print(f"geometric mean ratio {geo:.2f}x (target >= 3x): {'met' if min(ratios) >= 3 else 'NOT met'}")


if __name__ == "__main__":
    main()
