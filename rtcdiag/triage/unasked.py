"""Ports and transports tried without being asked for: reported, never what fails a run.

``turn-check HOST:PORT`` also tries TLS on 5349, ``ports HOST:PORT`` also the well-known ports: what the user
named decides the exit code, what rtcdiag tried on its own is information. An unasked endpoint where nothing
listens (refused, no answer, no route) is a note: its findings become info and its steps are skipped with
the reason ("not asked for: nothing listens on 5349 over TLS; -t tls checks it"). One that answered and has
a problem (a certificate that does not verify, a 401) is worth a look but no more: its errors become
warnings.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass

from rtcdiag.triage import ids
from rtcdiag.triage.finding import Severity
from rtcdiag.triage.judgement import Judgement, StepState

# Nothing is there to talk to: a port the user did not name being closed is not a problem of theirs.
# (PORT-TLS443-MISSING: TLS 443 closed, or another service there.)
NOTHING_THERE = frozenset({ids.SERVER_REFUSED, ids.SERVER_UNREACHABLE, ids.NO_ROUTE, ids.UDP_BLOCKED,
                           ids.PORT_TLS443_MISSING})


@dataclass(frozen=True)
class Endpoint:
    """One host, port and transport rtcdiag tried on its own (``transport`` None: every transport)."""

    host: str
    port: int
    transport: str | None = None


def _matches(endpoint: Endpoint, host: str, port: int | None, transport: str | None) -> bool:
    return host == endpoint.host and port == endpoint.port and \
        (endpoint.transport is None or transport == endpoint.transport)


def soften(judgement: Judgement, unasked: Collection[Endpoint], how_to_ask: str) -> list[str]:
    """Findings and steps about ``unasked`` endpoints made information (see the module); returns the note
    that names the endpoints where nothing answered (none when there are none), ending with ``how_to_ask``
    (e.g. "-t tls checks it")."""
    quiet: list[str] = []
    for endpoint in unasked:
        mine = [f for f in judgement.findings
                if _matches(endpoint, f.subject.host, f.subject.port, f.subject.transport)]
        if not mine:
            continue
        absent = next((f for f in mine if f.id in NOTHING_THERE), None)
        if absent is None:
            for finding in mine:
                if finding.severity is Severity.ERROR:
                    finding.severity = Severity.WARNING
            continue
        for finding in mine:
            finding.severity = Severity.INFO
        transport = (endpoint.transport or absent.subject.transport or "").upper()
        where = f"{transport} {endpoint.port}".strip()
        reason = f"not asked for; nothing answers on {endpoint.host} {where} ({absent.title.lower()})"
        for step in judgement.steps:
            s = step.subject
            if _matches(endpoint, s.host, s.port, s.transport):
                step.state, step.detail = StepState.SKIPPED, reason
        quiet.append(where)
    if not quiet:
        return []
    hosts = list(dict.fromkeys(e.host for e in unasked))
    return [f"Tried without being asked for, nothing answers (decides nothing): {', '.join(quiet)} on "
            f"{', '.join(hosts)}; {how_to_ask}."]
