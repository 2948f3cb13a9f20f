"""Judge the TLS connections of a capture (``turns:``, TURN over TLS): a certificate the client refused, a
handshake the client ended, a server alert or silence. One finding per server and outcome, every
connection in its evidence. Pure, no I/O; the facts are :class:`rtcdiag.evidence.tls.TlsConnection`.
"""

from __future__ import annotations

from typing import Any

from rtcdiag.evidence.capture import CaptureSummary
from rtcdiag.evidence.dtls import CERTIFICATE_ALERTS, ENCRYPTED_ALERT_SIZE
from rtcdiag.evidence.tls import TlsConnection, TlsOutcome, TlsVersion
from rtcdiag.triage import ids
from rtcdiag.triage.capture_findings import CaptureFindings, host_of, when

TURNS_PORTS = (5349, 443)  # turns: default port (RFC 8656 §3.1, RFC 7350) and the firewall-friendly one
TURN_PORTS = (3478, *TURNS_PORTS)


def turn_hosts(s: CaptureSummary) -> set[str]:
    """Hosts that served TURN (answered a TURN client's requests) in this capture."""
    return {host_of(f.a if f.allocate_forward is False else f.b) for f in s.flows
            if f.allocate_forward is not None}


def _what(connection: TlsConnection, hosts: set[str]) -> str:
    if connection.server_port in TURN_PORTS or host_of(connection.server) in hosts:
        return "TURN server"
    return "TLS server"


def _sizes(sizes: list[int]) -> str:
    shown = ", ".join(str(n) for n in sizes[:4])
    if sizes and all(n == ENCRYPTED_ALERT_SIZE for n in sizes[:4]):
        shown += " bytes: the size of an encrypted alert, which TLS 1.3 does not let a capture read"
    else:
        shown += " bytes"
    return shown


def judge_tls(s: CaptureSummary, out: CaptureFindings) -> int:
    """Findings for the TLS connections that did not complete their handshake; returns how many."""
    hosts = turn_hosts(s)
    made = 0
    for c in s.tls:
        what = _what(c, hosts)
        server, host = c.server, host_of(c.server)
        label = f"tcp {c.client} <-> {c.server}"
        version = c.version.value if c.version is not TlsVersion.UNKNOWN else "version unknown"
        hello = c.client_side.first_number
        common: dict[str, Any] = {"server": server, "what": what, "version": version, "client": c.client}
        if c.outcome is TlsOutcome.CLIENT_ALERT:
            alert = c.first_alert(True)
            assert alert is not None
            certificate = c.server_side.sent("Certificate")
            evidence = [f"{label}: ClientHello packet {hello}, server's Certificate packet "
                        f"{certificate or '-'}, then the client's {alert.text} at packet {alert.number} "
                        f"({when(s, alert.time)})"]
            if alert.description in CERTIFICATE_ALERTS:
                out.add(ids.CAPTURE_TLS_CERTIFICATE_REFUSED, "turn", label, host, evidence,
                        merge=(server, alert.description), alert=alert.text, count=1, packet=alert.number,
                        when=when(s, alert.time), **common)
            else:
                out.add(ids.CAPTURE_TLS_HANDSHAKE_FAILED, "turn", label, host, evidence,
                        merge=(server, "client", alert.description), count=1, who="the client",
                        how=f"sent a {alert.text} alert at packet {alert.number}", when=when(s, alert.time),
                        **common)
        elif c.outcome is TlsOutcome.SERVER_ALERT:
            alert = c.first_alert(False)
            assert alert is not None
            out.add(ids.CAPTURE_TLS_HANDSHAKE_FAILED, "turn", label, host,
                    [f"{label}: ClientHello packet {hello}, then the server's {alert.text} at packet "
                     f"{alert.number}"], merge=(server, "server", alert.description), count=1,
                    who="the server", how=f"answered with a {alert.text} alert at packet {alert.number}",
                    when=when(s, alert.time), **common)
        elif c.outcome is TlsOutcome.CLIENT_ENDED:
            side = c.client_side
            closer = "the client" if side.closed_number and (
                not c.server_side.closed_number or side.closed_number <= c.server_side.closed_number) \
                else "the server"
            if side.encrypted.count:
                said = (f"{side.encrypted.count} encrypted record(s) ({_sizes(side.encrypted_sizes)}) at "
                        f"packet {side.encrypted.numbers[0]}, never answered")
            else:
                said = "nothing more"
            closed = min((n for n in (side.closed_number, c.server_side.closed_number) if n), default=0)
            out.add(ids.CAPTURE_TLS_CLIENT_ENDED, "turn", label, host,
                    [f"{label}: ClientHello packet {hello}, server's flight from packet "
                     f"{c.server_side.first_number}, then the client sent {said}; closed by {closer}"
                     + (f" at packet {closed}" if closed else "")],
                    merge=(server,), count=1, said=said, closer=closer,
                    when=when(s, side.encrypted.first_time if side.encrypted.count
                              else c.server_side.first_time), **common)
        elif c.outcome is TlsOutcome.SERVER_CLOSED:
            out.add(ids.CAPTURE_TLS_HANDSHAKE_FAILED, "turn", label, host,
                    [f"{label}: ClientHello packet {hello}, the server closed at packet "
                     f"{c.server_side.closed_number} without an alert"],
                    merge=(server, "server", "closed"), count=1, who="the server",
                    how=f"closed the connection at packet {c.server_side.closed_number} without a readable "
                        "alert",
                    when=when(s, c.server_side.closed_time), **common)
        elif c.outcome is TlsOutcome.NO_SERVER_HELLO:
            waited = s.last_time - c.client_side.first_time
            end = (f"the server closed at packet {c.server_side.closed_number}" if c.server_side.closed_number
                   else f"no TLS record from the server in the {waited:.0f} s after it")
            offered = ", ".join(v.value for v in c.offered) or "versions unknown"
            out.add(ids.CAPTURE_TLS_NO_SERVERHELLO, "turn", label, host,
                    [f"{label}: ClientHello packet {hello} ({when(s, c.client_side.first_time)}, offering "
                     f"{offered}); {end}"], offered=offered,
                    merge=(server,), count=1, packet=hello, end=end, when=when(s, c.client_side.first_time),
                    **common)
        else:
            continue
        made += 1
    return made
