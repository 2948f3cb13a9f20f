"""The ``connect`` step of the TURN check: TCP connect / TLS handshake, or over UDP whether the server
answered at all."""

from __future__ import annotations

from rtcdiag.probes.record import Outcome
from rtcdiag.probes.turn_result import TransportResult
from rtcdiag.triage import ids
from rtcdiag.triage.certificate import expiring_soon
from rtcdiag.triage.failures import failure_id
from rtcdiag.triage.turn_exchanges import describe_exchange, rtt_s
from rtcdiag.triage.turn_leg import Leg


def stun_only(t: TransportResult) -> bool:
    """The first Allocate got no STUN answer while a Binding request sent alongside it was answered."""
    probe = t.binding_probe
    return probe is not None and probe.outcome in (Outcome.SUCCESS, Outcome.ERROR_RESPONSE)


def judge_connect(leg: Leg) -> None:
    t = leg.t
    if t.transport in ("tcp", "tls"):
        if t.connect_ms is None:  # the connection (or TLS handshake) itself failed
            text = t.connect_error or "connection failed"
            evidence = [text]
            if t.certificate_problem:  # what an unverified look at the refused certificate showed
                text = f"{text}; {t.certificate_problem}"
                evidence.append(f"the certificate, looked at unverified: {t.certificate_problem}")
            leg.add("connect", failure_id(t.failure_kind), text, evidence)
            leg.outcome("connect", text, t.duration_ms / 1000.0)
            leg.stop(f"no connection: {text}")
            return
        what = "TLS handshake done" if t.transport == "tls" else "TCP connection accepted"
        if t.tls_verification_off:
            what += " (certificate not verified: --insecure)"
        if t.certificate_problem is not None:  # what --insecure let through, a browser will not
            leg.add("connect", ids.TLS_CERT_IGNORED, t.certificate_problem, [t.certificate_problem])
        soon = expiring_soon(t.certificate)  # the rule of the ports check, on this connection's certificate
        if soon is not None and t.certificate is not None:
            cert = t.certificate
            leg.add("connect", ids.TLS_EXPIRING_SOON, f"{soon['days']} days left",
                    [f"certificate: subject {cert.subject or '-'}; issuer {cert.issuer or '-'}; valid "
                     f"{cert.not_before} .. {cert.not_after}"], **soon)
        leg.outcome("connect", f"{what} in {t.connect_ms:.1f} ms", t.connect_ms / 1000.0)
        return
    first = next(iter(t.steps), None)
    if first is None or first.outcome == Outcome.TRANSPORT_ERROR:
        text = (first.error if first is not None else None) or t.connect_error or "no answer"
        kind = (first.error_kind if first is not None else None) or t.failure_kind
        leg.add("connect", failure_id(kind), text, [text])
        leg.outcome("connect", text, leg.elapsed_left_s())
        leg.stop(f"no TURN over UDP: {text}")
        return
    if first.outcome == Outcome.TIMEOUT and stun_only(t):
        leg.outcome("connect", "the server answered a Binding request over UDP (not the Allocate)",
                    rtt_s([t.binding_probe] if t.binding_probe else []))
        return
    if first.outcome == Outcome.TIMEOUT:
        tries = f"no reply to {first.attempts} UDP request(s)"
        if leg.udp_blocked:
            leg.add("connect", ids.UDP_BLOCKED, f"{tries} while TURN over TCP/TLS to {leg.result.host} "
                    f"answered", [describe_exchange(first)])
        else:
            leg.add("connect", ids.SERVER_UNREACHABLE, tries, [describe_exchange(first)])
        leg.outcome("connect", tries, leg.elapsed_left_s())
        leg.stop(f"no answer over UDP from {t.server}")
        return
    rtt = f" in {first.rtt_ms:.1f} ms" if first.rtt_ms is not None else ""
    leg.outcome("connect", f"the server answered over UDP{rtt}", (first.rtt_ms or 0.0) / 1000.0)
