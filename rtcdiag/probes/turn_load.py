"""``rtcdiag load``: many TURN allocations at once, each streaming paced ChannelData through its relay to a
local echo peer, in steps, until allocations are refused, packets are lost or the round trip grows. I/O only:
the result records every step; ``rtcdiag.triage.load`` judges it.

Per stream (RFC 8656): its own client socket (UDP) or connection (TCP/TLS) -> Allocate (401 challenge, then
long-term or REST credentials, rtcdiag.probes.turn_session) -> ChannelBind to an echo peer (§12) -> packets
of ``size`` bytes at ``rate`` per second as ChannelData, as browsers send media. The echo peers are local UDP
sockets that send each tagged packet back to the relay it came from (and only to relay addresses of this
run); a peer writes into the packet how long it held it, so the round trip measured from kernel timestamps
leaves out this process's own delay.

Measuring the tool apart from the server: the pacer records how late each packet left its schedule, the
client and peer sockets count their own receive-buffer drops (SO_RXQ_OVFL) and full send buffers, and this
process's CPU is sampled per step. A step where this machine could not keep up is the tool's limit
(``StepVerdict.TOOL_LIMIT``), never the server's.

Bounded by design: at most ``MAX_STREAMS`` allocations, ``MAX_DURATION_S`` seconds of steps, packets sent
only to the target (ChannelData, requests) and from the local peers to relay addresses the server named
(never to a special-purpose address, rtcdiag.addresses.redirect_refusal). Every allocation is released
(Refresh LIFETIME=0, RFC 8656 §8) in a ``finally``: at the end, after an error, on Ctrl-C and SIGTERM.
"""

from __future__ import annotations

import asyncio

from rtcdiag.net import TransportError
from rtcdiag.probes.local_process import process_listening
from rtcdiag.probes.turn_load_plan import (
    MAX_DURATION_S,
    MAX_RATE_PPS,
    MAX_SIZE,
    MAX_STEPS,
    MAX_STREAMS,
    MIN_SIZE,
    LoadOptions,
    descriptors_needed,
    plan_problems,
)
from rtcdiag.probes.turn_load_result import (
    AllocationFailure,
    LoadResult,
    LoadStep,
    StepVerdict,
    step_verdict,
)
from rtcdiag.probes.turn_load_run import LoadRun
from rtcdiag.redact import ephemeral_secrets

# The public face of ``rtcdiag load``: options and plan checks (turn_load_plan), the result and its verdicts
# (turn_load_result), one run (turn_load_run) over its sockets (turn_load_sockets).
__all__ = ["MAX_DURATION_S", "MAX_RATE_PPS", "MAX_SIZE", "MAX_STEPS", "MAX_STREAMS", "MIN_SIZE",
           "AllocationFailure", "LoadOptions", "LoadResult", "LoadStep", "StepVerdict", "descriptors_needed",
           "plan_problems", "run_load", "step_verdict"]


async def run_load(server: tuple[str, int], target: str, options: LoadOptions) -> LoadResult:
    """Ramp through ``options.steps`` against ``server`` (an IP address and port)."""
    with ephemeral_secrets():  # per-stream REST passwords and keys: forgotten after the run (never output)
        return await _run(LoadRun(server, target, options))


async def _run(run: LoadRun) -> LoadResult:
    options = run.options
    result = run.result
    loop = run.loop
    deadline = run.t0 + options.max_duration_s
    server = run.server
    run.process = await loop.run_in_executor(None, process_listening, server[0], server[1], options.transport)
    if run.process is not None:
        result.server_process = f"{run.process.name} (pid {run.process.pid})"
    try:
        for index, (streams, rate) in enumerate(options.steps):
            step = LoadStep(index + 1, streams, rate, options.size)
            left = deadline - loop.time()
            if left < options.step_s:
                result.stopped = (f"--max-duration {options.max_duration_s:g} s reached before step "
                                  f"{index + 1} ({streams} streams)")
                break
            result.steps.append(step)
            try:
                failure = await asyncio.wait_for(run.grow(streams, step), left)
            except TimeoutError:
                step.verdict = StepVerdict.STOPPED
                step.note = "allocations did not finish within --max-duration"
                result.stopped = step.note
                break
            except TransportError as err:  # an echo peer could not be opened: this machine
                step.verdict = StepVerdict.TOOL_LIMIT
                step.note = f"local echo peer: {err}"
                break
            if failure is not None:
                step.failure = failure
                refused = failure.code is not None or failure.unusable
                if failure.local:
                    step.verdict, step.note = StepVerdict.TOOL_LIMIT, failure.error or "this machine"
                else:
                    step.verdict = StepVerdict.REFUSED if refused else StepVerdict.TIMEOUT
                if index == 0 and not run.streams and failure.step == "connect":
                    result.connect_error = failure.error
                break
            try:
                await run.stream(step, options.step_s)
            except TransportError as err:  # a connection to the server failed while streaming
                step.verdict = StepVerdict.TIMEOUT
                step.note = f"a connection failed while streaming: {err}"
                break
            step.verdict = step_verdict(step, options)
            if step.verdict is not StepVerdict.CLEAN:
                break
    finally:
        await run.release()
        elapsed = [s for s in result.steps if s.allocation_s > 0]
        total_s = sum(s.allocation_s for s in elapsed)
        if result.allocations_made and total_s > 0:
            result.allocation_rate = round(result.allocations_made / total_s, 1)
        result.duration_s = round(loop.time() - run.t0, 3)
    return result
