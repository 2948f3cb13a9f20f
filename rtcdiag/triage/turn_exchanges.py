"""The TURN check's step names and the reading of its recorded exchanges (which is final, how long it
took, what it answered), shared by the rules of every step."""

from __future__ import annotations

from collections.abc import Iterable

from rtcdiag.addresses import AddressScope
from rtcdiag.probes.record import Exchange, Outcome
from rtcdiag.probes.turn_result import (
    METHOD_CHANNEL,
    METHOD_INDICATION,
    RelayFamily,
    TransportResult,
    TurnCheckResult,
)
from rtcdiag.redact import echo
from rtcdiag.triage.finding import Subject

CHECK = "turn"


DATA_METHOD_LABEL = {METHOD_INDICATION: "Send/Data indications", METHOD_CHANNEL: "ChannelBind + ChannelData"}

# One JUnit testcase per server x transport x step.
CHECK_STEPS = ("connect", "challenge", "allocate", "relay-address", "data-" + METHOD_INDICATION,
               "data-" + METHOD_CHANNEL, "refresh")

# Steps of one relay family: an IPv6 relay's carry this suffix (``udp/allocate-ipv6``); IPv4 keeps the
# plain names (``udp/allocate``), so the default run (IPv4, what a browser asks for) is named as always.
FAMILY_STEPS = ("allocate", "relay-address", "data-" + METHOD_INDICATION, "data-" + METHOD_CHANNEL)
FAMILY_SUFFIX = {RelayFamily.IPV4: "", RelayFamily.IPV6: "-ipv6"}
TCP_RELAY_STEP = "tcp-relay"  # RFC 6062, only with --tcp-relay


def reason_text(reason: str | None) -> str:
    """`` <the server's reason phrase>`` (marked: outside text), or "" when it sent none."""
    return f" {echo(reason)}" if reason else ""


UNAUTH_STEP = "allocate (unauthenticated)"
AUTH_STEP = "allocate (authenticated)"
RETRY_SUFFIX = " (retry with new nonce)"


def describe_exchange(ex: Exchange) -> str:
    """One evidence line: step, request, what came back and how fast."""
    answer = ex.response or ex.error or ex.outcome
    rtt = f" in {ex.rtt_ms:.1f} ms" if ex.rtt_ms is not None else ""
    tries = f" after {ex.attempts} attempt(s)" if ex.outcome == Outcome.TIMEOUT and ex.attempts else ""
    rejected = f" ({rejected_count(ex)} reply(ies) rejected: {'; '.join(ex.rejected[:2])})" \
        if ex.rejected else ""
    return f"{ex.step}: {ex.request} -> {answer}{rtt}{tries}{rejected}"


def rejected_count(ex: Exchange) -> int:
    return max(ex.rejected_count, len(ex.rejected))


def final_exchanges(steps: Iterable[Exchange]) -> list[Exchange]:
    """The last exchange of each request: a 438 retried with the new nonce is judged on the retry."""
    last: dict[str, Exchange] = {}
    for ex in steps:
        base = ex.step.removesuffix(RETRY_SUFFIX)
        last.pop(base, None)  # keep the order of the final exchanges
        last[base] = ex
    return list(last.values())


def exchanges_of(t: TransportResult, prefix: str) -> list[Exchange]:
    return [ex for ex in t.steps if ex.step.startswith(prefix)]


def rtt_s(exchanges: Iterable[Exchange]) -> float:
    return sum(ex.rtt_ms or 0.0 for ex in exchanges) / 1000.0


def answer_text(ex: Exchange) -> str:
    """``401 Unauthorized`` from ``Allocate error response 401 Unauthorized``."""
    if ex.response and " response " in ex.response:
        return ex.response.split(" response ", 1)[1]
    return ex.response or (str(ex.error_code) if ex.error_code is not None else ex.outcome)


def retried_note(exchanges: Iterable[Exchange]) -> str:
    return " after a 438 Stale Nonce retry" if any(ex.step.endswith(RETRY_SUFFIX) for ex in exchanges) else ""


def transport_port(result: TurnCheckResult, t: TransportResult) -> int | None:
    """The port this transport was checked on (TLS: the TLS port), before any ALTERNATE-SERVER redirect."""
    if t.port is not None:
        return t.port
    if t.alternate_server is None:
        _, _, port = t.server.rpartition(":")
        if port.isdigit():
            return int(port)
    return result.port if t.transport != "tls" else None


def subject(result: TurnCheckResult, t: TransportResult | None = None) -> Subject:
    """The subject of a transport's steps (or of the whole server when ``t`` is None)."""
    if t is None:
        return Subject(server=result.target, host=result.host, port=result.port)
    return Subject(server=result.target, host=result.host, port=transport_port(result, t),
                   transport=t.transport)


def stream_answered(t: TransportResult) -> bool:
    """TCP/TLS got a real STUN/TURN response (not a bare accept)."""
    return t.transport in ("tcp", "tls") and (t.challenge_answered or t.open_relay or any(
        ex.outcome in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE) for ex in t.steps))


def unverified_detail(ex: Exchange) -> str:
    times = f" ({ex.unverified_count} times)" if ex.unverified_count > 1 else ""
    return f"{ex.request} ({ex.step}) was answered only by a {ex.unverified_response}{times} without a " \
           "valid MESSAGE-INTEGRITY: discarded as if never received (RFC 8489 §9.2.5)"


def parse_scope(value: str | None) -> AddressScope | None:
    try:
        return AddressScope(value) if value is not None else None
    except ValueError:
        return None
