"""A server that goes silent mid-session: the first request after a successful Allocate that got no
answer, with nothing answered after it."""

from __future__ import annotations

from dataclasses import dataclass

from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.turn_result import TransportResult
from rtcdiag.triage.turn_exchanges import DATA_METHOD_LABEL, describe_exchange

_ANSWERED = (Outcome.SUCCESS, Outcome.ERROR_RESPONSE)
_RELEASE = "refresh (release"


@dataclass(frozen=True)
class ServerStop:
    """The first request after a successful Allocate that got no answer, with nothing answered after it."""

    step: str  # the check step it belongs to (data-..., refresh)
    what: str  # the request's own step name, e.g. "channel-bind"
    how: str  # "got no reply to 7 request(s)", "failed (connection reset by peer ...)"
    after_s: float | None  # seconds from the Allocate success to that request
    evidence: list[str]
    last_answer_s: float | None = None  # seconds from the Allocate success to its last answer or echo


def _answered(ex: Exchange) -> bool:
    return ex.outcome in _ANSWERED or ex.unverified_count > 0


def _session_order(t: TransportResult) -> tuple[Exchange | None, list[tuple[Exchange, str]]]:
    """The Allocate success and every request after it, in the order the probe sent them (the data paths
    run between the Allocate and the Refresh), each with the check step it belongs to."""
    index = next((i for i in range(len(t.steps) - 1, -1, -1) if t.steps[i].step.startswith("allocate")
                  and t.steps[i].outcome == Outcome.SUCCESS), None)
    if index is None:
        return None, []
    later = [(ex, "data-" + dp.method) for dp in t.data_paths for ex in dp.steps]
    later += [(ex, "refresh") for ex in t.steps[index + 1:] if ex.step.startswith("refresh")]
    return t.steps[index], later


def server_stop(t: TransportResult) -> ServerStop | None:
    """Did the server stop answering mid-session? Only after a successful allocation (the same server
    answered the same client moments before), and only when nothing was answered after the silence."""
    if not t.allocated:
        return None
    done, later = _session_order(t)
    if done is None:
        return None
    alloc_end = done.started_ms + (done.rtt_ms or 0.0)
    first = next((i for i, (ex, _) in enumerate(later) if ex.outcome in (Outcome.TIMEOUT,
                                                                        Outcome.TRANSPORT_ERROR)), None)
    # The release is bounded (RELEASE_TIMEOUT_S): cut off before any answer, it leaves no exchange behind.
    released_silently = t.released is False and not any(ex.step.startswith(_RELEASE) for ex, _ in later)
    if first is None:
        if not released_silently or not t.refreshed:
            return None
        return ServerStop("refresh", "release (Refresh LIFETIME=0)", "got no answer in time", None,
                          [f"allocation: {describe_exchange(done)}",
                           *(describe_exchange(ex) for ex, _ in later),
                           "release (Refresh LIFETIME=0): no answer in time, after every earlier request "
                           "had been answered"])
    if any(_answered(ex) for ex, _ in later[first + 1:]):
        return None  # one lost request, not a silent server
    ex, step = later[first]
    how = f"got no reply to {ex.attempts} request(s)" if ex.outcome == Outcome.TIMEOUT else \
        f"failed ({ex.error or ex.outcome})"
    after = max(0.0, (ex.started_ms - alloc_end) / 1000.0)
    # Its last sign of life: the last answer before the silence, or the last echo through its relay.
    signs = [e.started_ms + (e.rtt_ms or 0.0) for e, _ in later[:first] if _answered(e)]
    signs += [dp.last_echo_ms for dp in t.data_paths if dp.last_echo_ms is not None]
    last = max((s for s in signs if s <= ex.started_ms), default=None)
    last_s = None if last is None else max(0.0, (last - alloc_end) / 1000.0)
    evidence = [f"allocation: {describe_exchange(done)}",
                *(describe_exchange(e) for e, _ in later[:first]),
                *(f"{DATA_METHOD_LABEL[dp.method]}: {dp.packets_received}/{dp.packets_sent} packet(s) "
                  f"echoed, then stopped: {dp.stopped}" for dp in t.data_paths if dp.stopped),
                f"first unanswered, {after:.2f} s after the allocation: {describe_exchange(ex)}",
                *(describe_exchange(e) for e, _ in later[first + 1:])]
    if last_s is not None:
        evidence.insert(1, f"last answer or echo from the server: {last_s:.2f} s after the allocation")
    if released_silently:
        evidence.append("release (Refresh LIFETIME=0): no answer in time")
    return ServerStop(step, ex.step, how, after, evidence, last_s)
