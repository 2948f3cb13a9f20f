"""What a ``rtcdiag load`` run recorded: one ``LoadStep`` per step of the ramp with its ``StepVerdict``
(``step_verdict`` tells this machine's limits apart from the server's), and the whole ``LoadResult``."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum

from rtcdiag.probes.turn_load_plan import LoadOptions

LATE_S = 0.05  # a packet that left this much after its slot was late (the pacer fell behind)
TOOL_LATE_SHARE = 0.1  # more late packets than this: the pacer sent in bursts
TOOL_CPU_PCT = 95.0  # this process (one thread) this busy: saturated


class StepVerdict(StrEnum):
    CLEAN = "clean"
    LOSS = "loss"  # the server (or the path) lost packets beyond the threshold
    RTT = "rtt"  # the round trip went over the threshold
    REFUSED = "refused"  # an Allocate or ChannelBind was answered with an error
    TIMEOUT = "timeout"  # an Allocate went unanswered, or the connection failed
    TOOL_LIMIT = "tool-limit"  # this machine could not keep up: not the server's limit
    STOPPED = "stopped"  # the run's time bound ended it first


@dataclass
class AllocationFailure:
    """The first allocation of a step that did not succeed."""

    step: str  # "allocate", "allocate (authenticated)", "channel-bind", "connect"
    held: int  # allocations held (successful) when it failed
    code: int | None = None
    reason: str | None = None
    error: str | None = None  # a timeout or transport failure, or why an answer could not be used
    unusable: bool = False  # the server answered, with something this run cannot use (not a timeout)
    local: bool = False  # this machine could not go on (no local echo peer for the relay): not the server


@dataclass
class LoadStep:
    index: int
    streams: int
    rate_pps: float
    size: int
    new_allocations: int = 0
    allocation_s: float = 0.0
    allocations_per_s: float | None = None
    planned: int = 0  # packets the schedule called for
    sent: int = 0
    echoed: int = 0
    tool_drops: int = 0  # this machine's own: receive buffers full (SO_RXQ_OVFL), send buffers full
    lost: int = 0  # sent - echoed - tool drops (never below 0): the server's or the path's
    loss_pct: float | None = None
    late_packets: int = 0  # left more than LATE_S after their slot
    rtt_p50_ms: float | None = None
    rtt_p95_ms: float | None = None
    rtt_max_ms: float | None = None
    relayed_mbps: float = 0.0  # payload through the relay, both directions, as measured (echoes)
    server_cpu_pct: float | None = None
    tool_cpu_pct: float | None = None
    duration_s: float = 0.0
    verdict: StepVerdict = StepVerdict.CLEAN
    failure: AllocationFailure | None = None
    note: str = ""


@dataclass
class LoadResult:
    target: str
    server: str  # ip:port
    transport: str
    credential_kind: str  # "long-term", "rest", "none"
    username: str | None  # as shown (REST: the first stream's name)
    thresholds: str  # "loss > 1%, RTT p95 > 100 ms"
    planned_steps: int = 0
    max_loss_pct: float = 1.0
    max_rtt_ms: float = 100.0
    server_process: str | None = None  # "turnserver (pid 1234)" when it runs on this machine
    steps: list[LoadStep] = field(default_factory=list)
    allocations_made: int = 0
    released: int = 0
    release_failed: int = 0
    allocation_rate: float | None = None  # successful allocations per second, all steps
    connect_error: str | None = None
    stopped: str | None = None  # why the ramp stopped before its last step without a verdict
    duration_s: float = 0.0

    @property
    def knee(self) -> LoadStep | None:
        """The last clean step (the most load held within the thresholds)."""
        clean = [s for s in self.steps if s.verdict is StepVerdict.CLEAN]
        return clean[-1] if clean else None

    @property
    def last(self) -> LoadStep | None:
        return self.steps[-1] if self.steps else None


def step_verdict(step: LoadStep, options: LoadOptions) -> StepVerdict:
    """Tool first: a step where this machine dropped packets itself, could not send what was planned or ran
    out of CPU decides nothing about the server. A pacer that fell behind sent bursts: harmless while the
    step is clean (the round trips are timed from the real send times), but then loss or a long round trip
    cannot be told from the bursts this machine made, so that is inconclusive too; unless more packets were
    lost than were late (a burst can cost at most its own packets)."""
    if not step.sent:
        step.note = step.note or "nothing was sent"
        return StepVerdict.TOOL_LIMIT
    threshold = options.max_loss_pct / 100.0
    tool_share = step.tool_drops / step.sent
    late_share = step.late_packets / max(step.planned, 1)
    mine: list[str] = []
    if tool_share > threshold / 2:
        mine.append(f"{step.tool_drops} packet(s) dropped by this machine's own sockets")
    if step.sent < 0.9 * step.planned:
        mine.append(f"sent {step.sent} of {step.planned} planned")
    if step.tool_cpu_pct is not None and step.tool_cpu_pct >= TOOL_CPU_PCT:
        mine.append(f"rtcdiag used {step.tool_cpu_pct:g}% of a CPU")
    late = f"{100 * late_share:.0f}% of packets left over {LATE_S * 1000:g} ms late (the pacer fell behind)"
    over = None
    if step.loss_pct is not None and step.loss_pct > options.max_loss_pct:
        over = StepVerdict.LOSS
    elif step.rtt_p95_ms is not None and step.rtt_p95_ms > options.max_rtt_ms:
        over = StepVerdict.RTT
    if over is not None and late_share > TOOL_LATE_SHARE:
        if over is StepVerdict.LOSS and step.lost > step.late_packets:
            # A burst can cost at most its own packets (a token bucket or queue drops what exceeds it; the
            # time it stood still wasted no more than those): more lost than were late is beyond the bursts.
            step.note = (f"{late}, but {step.lost} packets were lost, more than the {step.late_packets} "
                         "late ones its bursts could explain")
            return over
        mine.append(f"{late}: its bursts may explain the {over.value}")
    if mine:
        step.note = "; ".join(mine)
        return StepVerdict.TOOL_LIMIT
    if late_share > TOOL_LATE_SHARE:
        step.note = late
    return over or StepVerdict.CLEAN
