"""What a ``rtcdiag load`` run is asked to do (``LoadOptions``) and its bounds: ``plan_problems`` names what
cannot run, before any traffic."""

from __future__ import annotations

import math
from dataclasses import dataclass

from rtcdiag.targets import TRANSPORTS

MAX_STREAMS = 5000
MAX_RATE_PPS = 1000.0
MIN_SIZE = 28  # the packet header (rtcdiag.probes.turn_load_sockets)
MAX_SIZE = 1400
MAX_DURATION_S = 600.0
MAX_STEPS = 100
STREAMS_PER_PEER = 32  # streams one echo peer socket serves (its receive buffer is theirs)


@dataclass
class LoadOptions:
    transport: str = "udp"
    steps: tuple[tuple[int, float], ...] = ((10, 50.0),)  # (streams, packets/s per stream) per step
    size: int = 200
    step_s: float = 2.0
    max_duration_s: float = 60.0
    max_loss_pct: float = 1.0
    max_rtt_ms: float = 100.0
    timeout_s: float = 5.0
    username: str | None = None
    password: str | None = None
    secret: str | None = None
    ttl_s: int = 86400
    realm: str | None = None
    ca_file: str | None = None
    insecure: bool = False
    server_name: str | None = None  # for TLS
    now: float | None = None


def plan_problems(options: LoadOptions) -> list[str]:
    """Why these options cannot run (one line each, naming the option); checked before any traffic."""
    out: list[str] = []
    if not options.steps or len(options.steps) > MAX_STEPS:
        out.append(f"--streams/--rate: give 1..{MAX_STEPS} steps")
    for streams, rate in options.steps:
        if not 1 <= streams <= MAX_STREAMS:
            out.append(f"--streams: {streams} is not within 1..{MAX_STREAMS}")
            break
        if not 0 < rate <= MAX_RATE_PPS:
            out.append(f"--rate: {rate:g} is not within 0..{MAX_RATE_PPS:g} packets per second")
            break
    if not MIN_SIZE <= options.size <= MAX_SIZE:
        out.append(f"--size: {options.size} is not within {MIN_SIZE}..{MAX_SIZE} bytes")
    if not 0.2 <= options.step_s <= 60:
        out.append(f"--step-seconds: {options.step_s:g} is not within 0.2..60")
    if not 1 <= options.max_duration_s <= MAX_DURATION_S:
        out.append(f"--max-duration: {options.max_duration_s:g} is not within 1..{MAX_DURATION_S:g}")
    if options.transport not in TRANSPORTS:
        out.append(f"--transport: {options.transport!r} is not udp, tcp or tls")
    return out


def descriptors_needed(options: LoadOptions) -> int:
    streams = max((s for s, _ in options.steps), default=0)
    return streams + math.ceil(streams / STREAMS_PER_PEER) + 64
