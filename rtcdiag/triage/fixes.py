"""Fixes a person can paste: the lines (commands, turnserver.conf lines) a finding's fix needs, with the real
host, port and transport of its subject, shell-quoted.

The catalogue says what to do in words; :func:`add_snippet` gives the findings that are about one endpoint the
lines to run or write for *that* endpoint (the port that was probed, not the default 3478). Config lines are
never followed by a comment on the same line: coturn reads a ``#`` after an option as part of its value.
"""

from __future__ import annotations

import shlex

from rtcdiag.addresses import format_hostport
from rtcdiag.targets import TRANSPORTS
from rtcdiag.triage import ids
from rtcdiag.triage.finding import Finding

# Nothing (or something else) answers on an endpoint: what listens there, and the listener coturn needs.
_LISTENER = frozenset({ids.SERVER_REFUSED, ids.SERVER_UNREACHABLE, ids.MALFORMED_REPLY, ids.PORT_NOT_STUN})
_TLS = frozenset({ids.TLS_HANDSHAKE, ids.TLS_HOSTNAME, ids.TLS_UNTRUSTED, ids.TLS_EXPIRED,
                  ids.TLS_EXPIRING_SOON})


def listener_lines(transport: str, port: int) -> list[str]:
    """What listens on ``port`` over ``transport`` (run on the server), and the coturn line for it."""
    socket = "u" if transport == "udp" else "t"
    option = "tls-listening-port" if transport == "tls" else "listening-port"
    return ["# on the server: what listens there?", f"ss -ln{socket}p {shlex.quote(f'sport = :{port}')}",
            "# turnserver.conf", f"{option}={port}"]


def certificate_lines(host: str, port: int, name: str) -> list[str]:
    """The certificate the server presents on ``host:port`` for ``name`` (SNI): its names and dates."""
    connect = shlex.quote(format_hostport(host, port))
    return [f"openssl s_client -connect {connect} -servername {shlex.quote(name)} </dev/null 2>/dev/null "
            "| openssl x509 -noout -subject -ext subjectAltName -dates"]


def add_snippet(finding: Finding) -> None:
    """Give ``finding`` the lines its fix needs for its own endpoint, when it is about one and has none."""
    if finding.snippet:
        return
    s = finding.subject
    if s.port is None or s.transport not in TRANSPORTS or not s.host:
        return
    if finding.id in _LISTENER:
        finding.snippet = listener_lines(s.transport, s.port)
    elif finding.id == ids.PORT_TLS443_MISSING:
        from rtcdiag.triage.fallback import turns_url

        finding.snippet = ["# turnserver.conf", "tls-listening-port=443", "# the iceServers URL",
                           turns_url(s.host)]
    elif finding.id in _TLS and s.transport == "tls":
        finding.snippet = certificate_lines(s.host, s.port, s.host)
